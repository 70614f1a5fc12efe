//! Credentials and the registry auth protocol's pure parts: the `X-Registry-Auth` header,
//! `WWW-Authenticate` challenges, token scopes and token responses.
//!
//! The flow itself (anonymous first, then the challenge's scheme) lives in
//! [`crate::transport`]; everything here is parsing and formatting, tested by tables.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use crate::Error;

/// What a user logged in with, as Docker's `AuthConfig` carries it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (empty when only a token is given).
    pub username: String,
    /// The password or personal access token.
    pub password: String,
    /// An OAuth refresh token a previous login returned (`IdentityToken`); used instead of the
    /// password when set.
    pub identity_token: Option<String>,
    /// A bearer token to send to the registry as is (`RegistryToken`).
    pub registry_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, not even in debug logs.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &if self.password.is_empty() { "" } else { "<redacted>" })
            .field("identity_token", &self.identity_token.as_ref().map(|_| "<redacted>"))
            .field("registry_token", &self.registry_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// Credentials of a user name and password.
    pub fn basic(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
            ..Credentials::default()
        }
    }

    /// The `Authorization: Basic` value of the user name and password, if there is a user.
    pub(crate) fn basic_header(&self) -> Option<String> {
        if self.username.is_empty() {
            return None;
        }
        let raw = format!("{}:{}", self.username, self.password);
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

/// Docker's `AuthConfig` as the CLI encodes it into `X-Registry-Auth`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthConfig {
    username: String,
    password: String,
    auth: String,
    identitytoken: String,
    registrytoken: String,
}

/// Decode an `X-Registry-Auth` header (base64url of Docker's `AuthConfig` JSON) into
/// credentials. An empty header, or one that carries no credential at all (the CLI sends
/// `{}` when the user never logged in), is `None`. Padding is optional and the standard
/// base64 alphabet is accepted too, as some SDKs send it.
pub fn parse_registry_auth(header: &str) -> Result<Option<Credentials>, Error> {
    let header = header.trim();
    if header.is_empty() {
        return Ok(None);
    }
    let trimmed = header.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|e| Error::BadAuthHeader(e.to_string()))?;
    let cfg: AuthConfig =
        serde_json::from_slice(&bytes).map_err(|e| Error::BadAuthHeader(e.to_string()))?;
    let (mut username, mut password) = (cfg.username, cfg.password);
    if username.is_empty() && password.is_empty() && !cfg.auth.is_empty() {
        // `auth` is base64("user:password"), as in ~/.docker/config.json.
        let raw = base64::engine::general_purpose::STANDARD
            .decode(cfg.auth.trim())
            .map_err(|e| Error::BadAuthHeader(format!("auth field: {e}")))?;
        let raw = String::from_utf8(raw)
            .map_err(|_| Error::BadAuthHeader("auth field is not utf-8".to_string()))?;
        let (u, p) = raw
            .split_once(':')
            .ok_or_else(|| Error::BadAuthHeader("auth field has no ':'".to_string()))?;
        username = u.to_string();
        password = p.to_string();
    }
    let nonempty = |s: String| if s.is_empty() { None } else { Some(s) };
    let creds = Credentials {
        username,
        password,
        identity_token: nonempty(cfg.identitytoken),
        registry_token: nonempty(cfg.registrytoken),
    };
    if creds == Credentials::default() {
        return Ok(None);
    }
    Ok(Some(creds))
}

/// The scheme of a `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Send the user name and password with every request.
    Basic,
    /// Fetch a token from `realm` and send it as a bearer token.
    Bearer,
    /// Anything else (we cannot answer it).
    Other(String),
}

/// One `WWW-Authenticate` challenge: a scheme and its parameters (names lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub scheme: Scheme,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// A parameter by (lowercase) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parse a `WWW-Authenticate` header value into its challenges (RFC 7235:
/// `Bearer realm="https://auth.example/token",service="registry",scope="..."`; several
/// challenges may share one header, separated by commas). Unparseable input yields what was
/// understood before it.
pub(crate) fn parse_www_authenticate(value: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let s = value.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize, f: &dyn Fn(u8) -> bool| {
        while *i < s.len() && f(s[*i]) {
            *i += 1;
        }
    };
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&b);
    loop {
        skip(&mut i, &|b| b == b' ' || b == b'\t' || b == b',');
        if i >= s.len() {
            break;
        }
        // A token: either a new scheme or a parameter name of the current challenge.
        let start = i;
        skip(&mut i, &is_token);
        if i == start {
            break;
        }
        let word = &value[start..i];
        let mut j = i;
        skip(&mut j, &|b| b == b' ' || b == b'\t');
        let is_param = j < s.len() && s[j] == b'=' && !out.is_empty() && {
            // `token68` values (`Basic abc==`) end in '='; a parameter has a value after it.
            let mut k = j;
            skip(&mut k, &|b| b == b'=');
            k - j == 1
        };
        if !is_param {
            let scheme = match word.to_ascii_lowercase().as_str() {
                "basic" => Scheme::Basic,
                "bearer" => Scheme::Bearer,
                _ => Scheme::Other(word.to_string()),
            };
            out.push(Challenge {
                scheme,
                params: BTreeMap::new(),
            });
            continue;
        }
        i = j + 1;
        skip(&mut i, &|b| b == b' ' || b == b'\t');
        let mut val = String::new();
        if i < s.len() && s[i] == b'"' {
            i += 1;
            let mut closed = false;
            let mut chars = value[i..].char_indices();
            while let Some((off, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        i += off + 1;
                        closed = true;
                        break;
                    }
                    c => val.push(c),
                }
            }
            if !closed {
                i = s.len();
            }
        } else {
            let vs = i;
            skip(&mut i, &|b| b != b',' && b != b' ' && b != b'\t');
            val.push_str(&value[vs..i]);
        }
        if let Some(ch) = out.last_mut() {
            ch.params.insert(word.to_ascii_lowercase(), val);
        }
    }
    out
}

/// The actions a token must grant on a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Access {
    /// Read manifests and blobs.
    Pull,
    /// Read and write.
    PullPush,
}

/// The token scope for `actions` on repository `path` (`repository:library/busybox:pull`).
pub(crate) fn repository_scope(path: &str, access: Access) -> String {
    let actions = match access {
        Access::Pull => "pull",
        Access::PullPush => "pull,push",
    };
    format!("repository:{path}:{actions}")
}

/// Percent-encode a query component (RFC 3986 unreserved characters pass).
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL of a token request: the realm plus `service`, one `scope` per scope, and for
/// logins `offline_token`/`client_id` (so the server returns a refresh token).
pub(crate) fn token_url(realm: &str, service: Option<&str>, scopes: &[String], account: Option<&str>, offline: bool) -> String {
    let mut q: Vec<String> = Vec::new();
    if let Some(svc) = service {
        q.push(format!("service={}", query_escape(svc)));
    }
    for sc in scopes {
        q.push(format!("scope={}", query_escape(sc)));
    }
    if let Some(a) = account {
        q.push(format!("account={}", query_escape(a)));
    }
    if offline {
        q.push("offline_token=true".to_string());
        q.push("client_id=docker".to_string());
    }
    if q.is_empty() {
        return realm.to_string();
    }
    let sep = if realm.contains('?') { '&' } else { '?' };
    format!("{realm}{sep}{}", q.join("&"))
}

/// The form body of an OAuth2 refresh-token request (Docker's identity tokens).
pub(crate) fn refresh_form(service: Option<&str>, scopes: &[String], refresh_token: &str) -> String {
    let mut q = vec![
        "grant_type=refresh_token".to_string(),
        format!("refresh_token={}", query_escape(refresh_token)),
        "client_id=docker".to_string(),
        "access_type=offline".to_string(),
    ];
    if let Some(svc) = service {
        q.push(format!("service={}", query_escape(svc)));
    }
    if !scopes.is_empty() {
        q.push(format!("scope={}", query_escape(&scopes.join(" "))));
    }
    q.join("&")
}

/// A token server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenResponse {
    pub token: String,
    pub expires_in: Duration,
    pub refresh_token: Option<String>,
}

/// Parse a token server's JSON answer (`token` or `access_token`, `expires_in` seconds —
/// at least 60, the spec's default —, an optional `refresh_token`).
pub(crate) fn parse_token_response(body: &[u8]) -> Option<TokenResponse> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        token: String,
        #[serde(default)]
        access_token: String,
        #[serde(default)]
        expires_in: Option<i64>,
        #[serde(default)]
        refresh_token: Option<String>,
    }
    let raw: Raw = serde_json::from_slice(body).ok()?;
    let token = if raw.token.is_empty() {
        raw.access_token
    } else {
        raw.token
    };
    if token.is_empty() {
        return None;
    }
    let secs = raw.expires_in.unwrap_or(60).max(60) as u64;
    Some(TokenResponse {
        token,
        expires_in: Duration::from_secs(secs),
        refresh_token: raw.refresh_token.filter(|t| !t.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64url(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(s)
    }

    #[test]
    fn registry_auth_table() {
        let full = Credentials {
            username: "u".into(),
            password: "p".into(),
            identity_token: None,
            registry_token: None,
        };
        let cases: Vec<(String, Result<Option<Credentials>, ()>)> = vec![
            (String::new(), Ok(None)),
            (b64url("{}"), Ok(None)),
            ("e30".into(), Ok(None)), // "{}" without padding
            (b64url(r#"{"username":"u","password":"p","serveraddress":"localhost:5000"}"#), Ok(Some(full.clone()))),
            // standard alphabet, no padding
            (
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(r#"{"username":"u","password":"p"}"#),
                Ok(Some(full.clone())),
            ),
            // the `auth` field alone
            (b64url(&format!(r#"{{"auth":"{}"}}"#, base64::engine::general_purpose::STANDARD.encode("u:p"))), Ok(Some(full.clone()))),
            (
                b64url(r#"{"identitytoken":"tok"}"#),
                Ok(Some(Credentials { identity_token: Some("tok".into()), ..Credentials::default() })),
            ),
            (
                b64url(r#"{"registrytoken":"rt"}"#),
                Ok(Some(Credentials { registry_token: Some("rt".into()), ..Credentials::default() })),
            ),
            ("!!!".into(), Err(())),
            (b64url("not json"), Err(())),
            (b64url(r#"{"auth":"bm9jb2xvbg=="}"#), Err(())), // "nocolon"
        ];
        for (input, want) in cases {
            let got = parse_registry_auth(&input).map_err(|_| ());
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn bad_auth_header_is_invalid_argument() {
        use berth_errdefs::HasKind;
        let e = parse_registry_auth("!!!").unwrap_err();
        assert_eq!(e.kind(), berth_errdefs::Kind::InvalidArgument);
        assert!(e.to_string().starts_with("invalid X-Registry-Auth header: "), "{e}");
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = Credentials { identity_token: Some("tok".into()), ..Credentials::basic("u", "secret") };
        let s = format!("{c:?}");
        assert!(!s.contains("secret") && !s.contains("tok\""), "{s}");
        assert_eq!(Credentials::basic("u", "p").basic_header().as_deref(), Some("Basic dTpw"));
        assert_eq!(Credentials::default().basic_header(), None);
    }

    fn ch(scheme: Scheme, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme,
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn www_authenticate_table() {
        let cases: Vec<(&str, Vec<Challenge>)> = vec![
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
                vec![ch(Scheme::Bearer, &[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io"),
                    ("scope", "repository:library/busybox:pull"),
                ])],
            ),
            (r#"Basic realm="Registry Realm""#, vec![ch(Scheme::Basic, &[("realm", "Registry Realm")])]),
            ("basic", vec![ch(Scheme::Basic, &[])]),
            (
                r#"BEARER Realm = "http://127.0.0.1:1/t" , Service=svc"#,
                vec![ch(Scheme::Bearer, &[("realm", "http://127.0.0.1:1/t"), ("service", "svc")])],
            ),
            (
                r#"Bearer realm="a\"b",error="insufficient_scope""#,
                vec![ch(Scheme::Bearer, &[("realm", "a\"b"), ("error", "insufficient_scope")])],
            ),
            // two challenges in one header; scope values with commas stay whole when quoted
            (
                r#"Basic realm="r", Bearer realm="t",scope="repository:a:pull,push""#,
                vec![
                    ch(Scheme::Basic, &[("realm", "r")]),
                    ch(Scheme::Bearer, &[("realm", "t"), ("scope", "repository:a:pull,push")]),
                ],
            ),
            ("Negotiate abc==", vec![ch(Scheme::Other("Negotiate".into()), &[]), ch(Scheme::Other("abc".into()), &[])]),
            ("", vec![]),
            (r#"Bearer realm="unterminated"#, vec![ch(Scheme::Bearer, &[("realm", "unterminated")])]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_www_authenticate(input), want, "input {input:?}");
        }
    }

    #[test]
    fn scope_and_token_url_table() {
        assert_eq!(repository_scope("library/busybox", Access::Pull), "repository:library/busybox:pull");
        assert_eq!(repository_scope("a/b", Access::PullPush), "repository:a/b:pull,push");
        let scopes = ["repository:a/b:pull,push".to_string(), "repository:c:pull".to_string()];
        let cases = [
            (("https://auth/token", Some("reg"), &scopes[..], None, false),
             "https://auth/token?service=reg&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Ac%3Apull"),
            (("https://auth/token?x=1", None, &scopes[..1], Some("me"), false),
             "https://auth/token?x=1&scope=repository%3Aa%2Fb%3Apull%2Cpush&account=me"),
            (("https://auth/token", Some("reg"), &[][..], Some("u"), true),
             "https://auth/token?service=reg&account=u&offline_token=true&client_id=docker"),
            (("https://auth/token", None, &[][..], None, false), "https://auth/token"),
        ];
        for ((realm, svc, sc, acct, off), want) in cases {
            assert_eq!(token_url(realm, svc, sc, acct, off), want);
        }
        assert_eq!(
            refresh_form(Some("reg"), &scopes[1..], "r t"),
            "grant_type=refresh_token&refresh_token=r%20t&client_id=docker&access_type=offline&service=reg&scope=repository%3Ac%3Apull"
        );
    }

    #[test]
    fn token_response_table() {
        let cases: Vec<(&str, Option<TokenResponse>)> = vec![
            (r#"{"token":"t","expires_in":300}"#, Some(TokenResponse { token: "t".into(), expires_in: Duration::from_secs(300), refresh_token: None })),
            (r#"{"access_token":"a"}"#, Some(TokenResponse { token: "a".into(), expires_in: Duration::from_secs(60), refresh_token: None })),
            (r#"{"token":"t","access_token":"a","expires_in":5,"refresh_token":"r"}"#,
             Some(TokenResponse { token: "t".into(), expires_in: Duration::from_secs(60), refresh_token: Some("r".into()) })),
            (r#"{"token":""}"#, None),
            ("garbage", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_token_response(input.as_bytes()), want, "input {input}");
        }
    }
}
