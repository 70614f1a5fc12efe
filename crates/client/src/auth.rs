//! Registry credentials as the Engine API carries them: Docker's `AuthConfig`, sent as the
//! body of `POST /auth` and, base64url-encoded, in the `X-Registry-Auth` header of pull and
//! push.

use base64::Engine;

/// The header that carries encoded credentials on pull and push.
pub const AUTH_HEADER: &str = "X-Registry-Auth";

/// Docker's `registry.AuthConfig`. Empty strings are absent on the wire (`omitempty`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// The user name.
    pub username: String,
    /// The password (or personal access token).
    pub password: String,
    /// `base64(username:password)`; the CLI never sends it, some clients do.
    pub auth: String,
    /// Deprecated; kept when present in the config file.
    pub email: String,
    /// The registry the credentials are for, e.g. `https://index.docker.io/v1/`.
    pub server_address: String,
    /// A refresh token from an earlier login, used instead of the password.
    pub identity_token: String,
    /// A bearer token to send to the registry as is.
    pub registry_token: String,
}

/// Docker's `registry.AuthenticateOKBody`: the answer of `POST /auth`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthenticateOk {
    /// `Login Succeeded`.
    pub status: String,
    /// A token to store instead of the password, if the registry issued one.
    pub identity_token: String,
}

impl AuthConfig {
    fn fields(&self) -> [(&'static str, &str); 7] {
        [
            ("username", &self.username),
            ("password", &self.password),
            ("auth", &self.auth),
            ("email", &self.email),
            ("serveraddress", &self.server_address),
            ("identitytoken", &self.identity_token),
            ("registrytoken", &self.registry_token),
        ]
    }

    /// The JSON document Go's `json.Marshal` writes for this value: fields in declaration
    /// order, empty ones left out, `<`, `>` and `&` escaped as `\u003c`, `\u003e`, `\u0026`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (name, value) in self.fields() {
            if value.is_empty() {
                continue;
            }
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&format!("\"{name}\":{}", go_json_string(value)));
        }
        out.push('}');
        out
    }

    /// The `X-Registry-Auth` value: the JSON document in base64url with padding
    /// (`EncodeAuthConfig`). No credentials at all encode as `e30=` (`{}`).
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(self.to_json())
    }

    /// Read an `X-Registry-Auth` value back (`DecodeAuthConfig`); padding is optional.
    pub fn decode(header: &str) -> Result<AuthConfig, crate::Error> {
        if header.is_empty() {
            return Ok(AuthConfig::default());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header.trim_end_matches('='))
            .map_err(|e| crate::Error::Protocol(format!("invalid X-Registry-Auth: {e}")))?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| crate::Error::Protocol(format!("invalid X-Registry-Auth: {e}")))?;
        Ok(AuthConfig::from_json(&v))
    }

    /// Read the fields of a JSON object; anything missing or not a string is empty.
    pub fn from_json(v: &serde_json::Value) -> AuthConfig {
        let get = |k: &str| v.get(k).and_then(|s| s.as_str()).unwrap_or_default().to_string();
        AuthConfig {
            username: get("username"),
            password: get("password"),
            auth: get("auth"),
            email: get("email"),
            server_address: get("serveraddress"),
            identity_token: get("identitytoken"),
            registry_token: get("registrytoken"),
        }
    }
}

impl AuthenticateOk {
    /// Read the daemon's answer (`{"Status": ..., "IdentityToken": ...}`).
    pub fn from_json(v: &serde_json::Value) -> AuthenticateOk {
        let get = |k: &str| v.get(k).and_then(|s| s.as_str()).unwrap_or_default().to_string();
        AuthenticateOk { status: get("Status"), identity_token: get("IdentityToken") }
    }
}

/// A JSON string literal as Go's encoder writes it (HTML-safe escaping).
fn go_json_string(s: &str) -> String {
    let plain = serde_json::Value::String(s.to_string()).to_string();
    let mut out = String::with_capacity(plain.len());
    for ch in plain.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_docker() {
        let user = |u: &str, p: &str, s: &str| AuthConfig {
            username: u.into(),
            password: p.into(),
            server_address: s.into(),
            ..AuthConfig::default()
        };
        let cases = [
            (AuthConfig::default(), "{}", "e30="),
            (
                user("u", "p", "localhost:5000"),
                r#"{"username":"u","password":"p","serveraddress":"localhost:5000"}"#,
                "eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAiLCJzZXJ2ZXJhZGRyZXNzIjoibG9jYWxob3N0OjUwMDAifQ==",
            ),
            (
                // base64url: '?' and '>' make the '_' and '-' characters of the alphabet.
                user("a?>", "<&\"\\", "https://index.docker.io/v1/"),
                r#"{"username":"a?\u003e","password":"\u003c\u0026\"\\","serveraddress":"https://index.docker.io/v1/"}"#,
                "eyJ1c2VybmFtZSI6ImE_XHUwMDNlIiwicGFzc3dvcmQiOiJcdTAwM2NcdTAwMjZcIlxcIiwic2VydmVyYWRkcmVzcyI6Imh0dHBzOi8vaW5kZXguZG9ja2VyLmlvL3YxLyJ9",
            ),
            (
                AuthConfig {
                    identity_token: "tok".into(),
                    registry_token: "rt".into(),
                    email: "e@x".into(),
                    auth: "dTpw".into(),
                    ..user("u", "", "r.example")
                },
                r#"{"username":"u","auth":"dTpw","email":"e@x","serveraddress":"r.example","identitytoken":"tok","registrytoken":"rt"}"#,
                "eyJ1c2VybmFtZSI6InUiLCJhdXRoIjoiZFRwdyIsImVtYWlsIjoiZUB4Iiwic2VydmVyYWRkcmVzcyI6InIuZXhhbXBsZSIsImlkZW50aXR5dG9rZW4iOiJ0b2siLCJyZWdpc3RyeXRva2VuIjoicnQifQ==",
            ),
        ];
        for (config, json, header) in cases {
            assert_eq!(config.to_json(), json);
            assert_eq!(config.encode(), header, "{json}");
            assert_eq!(AuthConfig::decode(header).unwrap(), config);
            assert_eq!(AuthConfig::decode(header.trim_end_matches('=')).unwrap(), config);
            let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(AuthConfig::from_json(&parsed), config);
        }
        assert_eq!(AuthConfig::decode("").unwrap(), AuthConfig::default());
        assert!(AuthConfig::decode("!!!").is_err());
        assert!(AuthConfig::decode("bm90IGpzb24=").is_err());
    }

    #[test]
    fn login_answers_read() {
        let v = serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""});
        assert_eq!(AuthenticateOk::from_json(&v), AuthenticateOk { status: "Login Succeeded".into(), identity_token: String::new() });
        let v = serde_json::json!({"Status": "Login Succeeded", "IdentityToken": "tok"});
        assert_eq!(AuthenticateOk::from_json(&v).identity_token, "tok");
    }
}
