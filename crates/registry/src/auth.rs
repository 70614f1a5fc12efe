//! Authentication: htpasswd (bcrypt) basic auth, and bearer tokens from a built-in token
//! endpoint.
//!
//! *Basic mode*: every request carries `Authorization: Basic` credentials checked against the
//! htpasswd file; without them the answer is 401 with `WWW-Authenticate: Basic realm="..."`.
//! Every valid user may do everything.
//!
//! *Token mode* (what `docker login` and skopeo expect from Docker Hub-like registries): API
//! requests carry `Authorization: Bearer <token>`. Without a token granting the needed scope
//! the answer is 401 with `WWW-Authenticate: Bearer realm="<token URL>",service="<service>",
//! scope="repository:<name>:pull,push"`. The client then asks the realm
//! (`GET /token?service=...&scope=...`, with basic credentials) for a token. Tokens are
//! `base64url(claims) "." base64url(HMAC-SHA256(key, base64url(claims)))`; the claims name the
//! user, the expiry and the granted scopes. The key is configured or random per process start
//! (tokens then die with the process, and clients simply ask again).
//!
//! Every htpasswd user is granted every action asked for; anonymous token requests get a token
//! without any access (so `GET /v2/` works, anything else is denied).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use berth_errdefs::{HasKind, Kind};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Why an htpasswd file or a token is unusable.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// An htpasswd line is malformed or not bcrypt.
    #[error("htpasswd line {line}: {reason}")]
    Htpasswd {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A token is malformed, forged or expired.
    #[error("invalid token: {0}")]
    Token(&'static str),
}

impl HasKind for AuthError {
    fn kind(&self) -> Kind {
        match self {
            AuthError::Htpasswd { .. } => Kind::InvalidArgument,
            AuthError::Token(_) => Kind::PermissionDenied,
        }
    }
}

/// Users and their bcrypt hashes, from an Apache htpasswd file (`htpasswd -B`).
#[derive(Debug, Clone, Default)]
pub struct Htpasswd {
    users: HashMap<String, String>,
}

impl Htpasswd {
    /// Parse `user:$2y$...` lines; blank lines and `#` comments are skipped. Only bcrypt
    /// entries are accepted (as in the CNCF registry).
    pub fn parse(text: &str) -> Result<Htpasswd, AuthError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: &str| AuthError::Htpasswd { line: i + 1, reason: reason.to_string() };
            let (user, hash) = line.split_once(':').ok_or_else(|| err("expected user:hash"))?;
            if user.is_empty() {
                return Err(err("empty user name"));
            }
            if !["$2a$", "$2b$", "$2x$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
                return Err(err("only bcrypt entries are supported (htpasswd -B)"));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd { users })
    }

    /// Whether `password` is `user`'s.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        self.users.get(user).is_some_and(|h| bcrypt::verify(password, h).unwrap_or(false))
    }
}

/// Decode `Authorization: Basic <base64(user:password)>`.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(rest.trim()).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Extract `<token>` from `Authorization: Bearer <token>`.
pub fn parse_bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// One access scope: `repository:library/alpine:pull,push` or `registry:catalog:*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name, or `catalog`.
    pub name: String,
    /// `pull`, `push`, `delete` or `*`.
    pub actions: Vec<String>,
}

impl Scope {
    /// Parse `type:name:actions` (the name may itself hold colons, e.g. a registry host).
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let actions = actions.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect();
        Some(Scope { kind: kind.to_string(), name: name.to_string(), actions })
    }

    /// `repository:<name>:<actions>`.
    pub fn repository(name: &str, actions: &[&str]) -> Scope {
        Scope {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> Scope {
        Scope { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] }
    }

    /// The `type:name:a,b` form.
    pub fn to_scope_string(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// Whether the granted scopes cover every action of `needed`.
pub fn grants(granted: &[Scope], needed: &Scope) -> bool {
    needed.actions.iter().all(|a| {
        granted.iter().any(|g| {
            g.kind == needed.kind
                && g.name == needed.name
                && g.actions.iter().any(|x| x == a || x == "*")
        })
    })
}

/// What a token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user (empty for anonymous).
    pub sub: String,
    /// The service the token is for.
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Granted scopes.
    pub access: Vec<Scope>,
}

/// Issues and checks HMAC-signed tokens.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl TokenSigner {
    /// A signer with `key`.
    pub fn new(key: impl Into<Vec<u8>>) -> TokenSigner {
        TokenSigner { key: key.into() }
    }

    /// A signer with a random 32-byte key.
    pub fn random() -> TokenSigner {
        let mut k = [0u8; 32];
        // getrandom only fails without an OS entropy source; fall back to the clock then,
        // which still makes tokens of other processes useless.
        if getrandom::fill(&mut k).is_err() {
            let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            k[..16].copy_from_slice(&t.to_le_bytes());
        }
        TokenSigner::new(k.to_vec())
    }

    fn mac(&self, payload: &str) -> Vec<u8> {
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.key).expect("hmac accepts any key length");
        m.update(payload.as_bytes());
        m.finalize().into_bytes().to_vec()
    }

    /// Sign `claims`.
    pub fn issue(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&payload));
        format!("{payload}.{sig}")
    }

    /// Check a token's signature, expiry (against `now`) and audience.
    pub fn verify(&self, token: &str, service: &str, now: u64) -> Result<Claims, AuthError> {
        let (payload, sig) = token.split_once('.').ok_or(AuthError::Token("malformed"))?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| AuthError::Token("malformed"))?;
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.key).expect("hmac accepts any key length");
        m.update(payload.as_bytes());
        m.verify_slice(&sig).map_err(|_| AuthError::Token("bad signature"))?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| AuthError::Token("malformed"))?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| AuthError::Token("malformed"))?;
        if claims.exp <= now {
            return Err(AuthError::Token("expired"));
        }
        if claims.aud != service {
            return Err(AuthError::Token("wrong service"));
        }
        Ok(claims)
    }
}

/// The scopes a user gets from a token request: everything asked for, on repositories and the
/// catalog, for a known user; nothing for an anonymous one.
pub fn grant(user: Option<&str>, requested: &[Scope]) -> Vec<Scope> {
    if user.is_none() {
        return Vec::new();
    }
    requested
        .iter()
        .filter(|s| s.kind == "repository" || (s.kind == "registry" && s.name == "catalog"))
        .map(|s| Scope {
            kind: s.kind.clone(),
            name: s.name.clone(),
            actions: s
                .actions
                .iter()
                .filter(|a| matches!(a.as_str(), "pull" | "push" | "delete" | "*"))
                .cloned()
                .collect(),
        })
        .collect()
}

/// `Basic realm="<realm>"`.
pub fn basic_challenge(realm: &str) -> String {
    format!("Basic realm=\"{}\"", quote_escape(realm))
}

/// `Bearer realm="...",service="..."[,scope="..."][,error="insufficient_scope"]`.
pub fn bearer_challenge(realm: &str, service: &str, scope: Option<&Scope>, insufficient: bool) -> String {
    let mut s = format!("Bearer realm=\"{}\",service=\"{}\"", quote_escape(realm), quote_escape(service));
    if let Some(sc) = scope {
        s.push_str(&format!(",scope=\"{}\"", quote_escape(&sc.to_scope_string())));
    }
    if insufficient {
        s.push_str(",error=\"insufficient_scope\"");
    }
    s
}

/// Parse a `WWW-Authenticate` challenge: its scheme (lowercased) and `key=value` parameters
/// (values quoted or bare; `\\"` escapes inside quotes).
pub fn parse_challenge(h: &str) -> Option<(String, Vec<(String, String)>)> {
    let h = h.trim();
    let (scheme, rest) = match h.split_once(' ') {
        Some((s, r)) => (s, r),
        None => (h, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            return None;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return None,
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string();
        }
        params.push((key.trim().to_ascii_lowercase(), value));
    }
    Some((scheme.to_ascii_lowercase(), params))
}

fn quote_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htpasswd() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let h = Htpasswd::parse(&format!("# users\n\nalice:{hash}\n")).unwrap();
        assert!(h.verify("alice", "secret"));
        assert!(!h.verify("alice", "wrong"));
        assert!(!h.verify("bob", "secret"));
        let bad = [("alice", "expected user:hash"), (":$2y$xx", "empty user"), ("bob:{SHA}abc", "only bcrypt")];
        for (line, want) in bad {
            let e = Htpasswd::parse(line).unwrap_err().to_string();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(parse_basic("Basic YWxpY2U6czpw"), Some(("alice".into(), "s:p".into())));
        assert_eq!(parse_basic("basic  YWxpY2U6czpw "), Some(("alice".into(), "s:p".into())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_bearer("Bearer abc.def"), Some("abc.def"));
        assert_eq!(parse_bearer("Basic abc"), None);
    }

    #[test]
    fn scopes() {
        let cases = [
            ("repository:a/b:pull,push", Some(("repository", "a/b", vec!["pull", "push"]))),
            ("repository:host:5000/a:pull", Some(("repository", "host:5000/a", vec!["pull"]))),
            ("registry:catalog:*", Some(("registry", "catalog", vec!["*"]))),
            ("repository:a:", Some(("repository", "a", vec![]))),
            ("repository", None),
            ("repository:a", None),
            (":a:pull", None),
        ];
        for (s, want) in cases {
            let got = Scope::parse(s).map(|x| (x.kind, x.name, x.actions));
            let want = want.map(|(k, n, a)| (k.to_string(), n.to_string(), a.iter().map(|x| x.to_string()).collect::<Vec<_>>()));
            assert_eq!(got, want, "{s}");
        }
        let granted = vec![Scope::repository("a", &["pull"]), Scope::repository("b", &["*"])];
        assert!(grants(&granted, &Scope::repository("a", &["pull"])));
        assert!(!grants(&granted, &Scope::repository("a", &["pull", "push"])));
        assert!(grants(&granted, &Scope::repository("b", &["pull", "push", "delete"])));
        assert!(!grants(&granted, &Scope::catalog()));
        assert_eq!(grant(None, &[Scope::repository("a", &["pull"])]), vec![]);
        assert_eq!(
            grant(Some("u"), &[Scope::repository("a", &["pull", "admin"]), Scope { kind: "x".into(), name: "y".into(), actions: vec![] }]),
            vec![Scope::repository("a", &["pull"])]
        );
    }

    #[test]
    fn tokens() {
        let s = TokenSigner::new(b"k".to_vec());
        let claims = Claims { sub: "u".into(), aud: "svc".into(), iat: 100, exp: 200, access: vec![Scope::catalog()] };
        let t = s.issue(&claims);
        assert_eq!(s.verify(&t, "svc", 150).unwrap(), claims);
        assert!(s.verify(&t, "svc", 200).unwrap_err().to_string().contains("expired"));
        assert!(s.verify(&t, "other", 150).unwrap_err().to_string().contains("wrong service"));
        assert!(TokenSigner::new(b"x".to_vec()).verify(&t, "svc", 150).unwrap_err().to_string().contains("bad signature"));
        // Tampering with the claims breaks the signature.
        let (_, sig) = t.split_once('.').unwrap();
        let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode(br#"{"sub":"u","aud":"svc","iat":0,"exp":999,"access":[]}"#));
        assert!(s.verify(&forged, "svc", 150).is_err());
        assert!(s.verify("nodot", "svc", 150).is_err());
    }

    #[test]
    fn parses_challenges() {
        let p = |s: &str| parse_challenge(s);
        let kv = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert_eq!(
            p(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#),
            Some(("bearer".into(), kv(&[("realm", "https://auth.docker.io/token"), ("service", "registry.docker.io"), ("scope", "repository:library/alpine:pull")])))
        );
        assert_eq!(p(r#"Basic realm="a \"b\", c""#), Some(("basic".into(), kv(&[("realm", r#"a "b", c"#)]))));
        assert_eq!(p("Bearer realm=bare, service = x"), Some(("bearer".into(), kv(&[("realm", "bare"), ("service", "x")]))));
        assert_eq!(p("Negotiate"), Some(("negotiate".into(), vec![])));
        assert_eq!(p(r#"Bearer realm="unterminated"#), None);
        assert_eq!(p("Bearer realm"), None);
        let round = bearer_challenge("http://h/t", "s", Some(&Scope::repository("a", &["pull", "push"])), true);
        assert_eq!(
            p(&round),
            Some(("bearer".into(), kv(&[("realm", "http://h/t"), ("service", "s"), ("scope", "repository:a:pull,push"), ("error", "insufficient_scope")])))
        );
    }

    #[test]
    fn challenges() {
        assert_eq!(basic_challenge("r\"x"), "Basic realm=\"r\\\"x\"");
        assert_eq!(
            bearer_challenge("http://h/token", "svc", Some(&Scope::repository("a/b", &["pull", "push"])), true),
            "Bearer realm=\"http://h/token\",service=\"svc\",scope=\"repository:a/b:pull,push\",error=\"insufficient_scope\""
        );
    }
}
