//! HTTP to registries: one hyper client per trust mode (verified TLS, unverified TLS for
//! insecure registries), endpoint discovery (`GET /v2/`: which scheme answers, which auth
//! challenge), the auth flow and token cache, redirects, and registry error bodies.
//!
//! The auth flow, as Docker's: every registry is pinged once; a `401` names the scheme.
//! With `Bearer`, a token for the request's scopes is fetched from the realm (with the
//! user's basic credentials, or by OAuth refresh with an identity token) and cached per
//! (registry, scopes, credentials) until it expires; with `Basic`, the credentials go with
//! every request. A `401` on a request replaces the challenge (the server may ask for a
//! wider scope) and the request is retried once with a fresh token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, USER_AGENT, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use sha2::Digest as _;

use crate::auth::{self, Challenge, Credentials, Scheme};
use crate::endpoint::{self, Insecure};
use crate::Error;

/// A request or response body.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;
type Hyper = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Body>;

/// What we call ourselves.
const AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));
/// Manifests and error bodies larger than this are refused (Docker's manifest limit).
pub(crate) const SMALL_BODY_LIMIT: usize = 4 << 20;
const MAX_REDIRECTS: usize = 10;

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed()
}

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

/// A request body that can be sent again after a `401`, or a stream that cannot.
pub(crate) enum ReqBody {
    Empty,
    Bytes(Bytes),
    Stream(Body, u64),
}

impl ReqBody {
    fn take(&mut self) -> (Body, Option<u64>) {
        match std::mem::replace(self, ReqBody::Empty) {
            ReqBody::Empty => (empty(), None),
            ReqBody::Bytes(b) => {
                let len = b.len() as u64;
                *self = ReqBody::Bytes(b.clone());
                (full(b), Some(len))
            }
            ReqBody::Stream(s, len) => (s, Some(len)),
        }
    }
    fn retryable(&self) -> bool {
        !matches!(self, ReqBody::Stream(..))
    }
}

/// Accept every certificate: for registries the user declared insecure only.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn hyper_client(tls: rustls::ClientConfig) -> Hyper {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(30)));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(8)
        .build(https)
}

/// The two hyper clients (connection pools) every request goes through.
pub(crate) struct Transport {
    verified: Hyper,
    unverified: Hyper,
}

impl Transport {
    pub fn new() -> Result<Transport, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!("loading system certificates: {e}");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::warn!("no usable system root certificates ({ignored} ignored); HTTPS registries will fail verification");
        }
        let verified = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let unverified = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth();
        Ok(Transport {
            verified: hyper_client(verified),
            unverified: hyper_client(unverified),
        })
    }

    /// Send one request, as is.
    async fn send(&self, req: Request<Body>, insecure: bool) -> Result<Response<Incoming>, String> {
        let c = if insecure { &self.unverified } else { &self.verified };
        c.request(req).await.map_err(|e| describe(&e))
    }
}

/// An error and its causes on one line (hyper's own message alone says little).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        src = s.source();
    }
    parts.join(": ")
}

fn method_name(m: &Method) -> String {
    // Go prints methods in title case in its errors: `Get "https://...": ...`.
    let s = m.as_str();
    let mut out = s[..1].to_string();
    out.push_str(&s[1..].to_ascii_lowercase());
    out
}

/// A registry: where it answered, whether TLS is verified, and its last auth challenge.
pub(crate) struct Endpoint {
    /// `host[:port]` as dialed.
    pub authority: String,
    /// `https://host[:port]` or `http://...`.
    pub base: String,
    /// Certificates are not verified (insecure registry over HTTPS).
    pub insecure: bool,
    challenge: Mutex<Option<Challenge>>,
}

impl Endpoint {
    /// The auth challenge the registry answered with last (none: it needs no auth).
    pub fn challenge_now(&self) -> Option<Challenge> {
        self.challenge()
    }
    fn challenge(&self) -> Option<Challenge> {
        self.challenge.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn set_challenge(&self, resp: &Response<Incoming>) -> bool {
        let challenges: Vec<Challenge> = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(auth::parse_www_authenticate)
            .collect();
        // Prefer bearer (a registry offering both wants tokens), then basic.
        let pick = challenges
            .iter()
            .find(|c| c.scheme == Scheme::Bearer && c.param("realm").is_some())
            .or_else(|| challenges.iter().find(|c| c.scheme == Scheme::Basic))
            .cloned();
        let found = pick.is_some();
        if found {
            *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = pick;
        }
        found
    }
}

#[derive(Clone)]
struct CachedToken {
    token: String,
    expires: Instant,
}

/// State shared by every clone of a [`crate::Client`].
pub(crate) struct Shared {
    pub transport: Transport,
    pub insecure: Vec<Insecure>,
    /// Per registry: its endpoint once a ping succeeded (a failed ping is not remembered).
    endpoints: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<Endpoint>>>>>,
    tokens: Mutex<HashMap<(String, String, String), CachedToken>>,
    /// Held while fetching a token, so concurrent requests of one operation fetch it once.
    token_fetch: tokio::sync::Mutex<()>,
    /// Blob digest -> repositories on a registry it is known to be in: (registry, digest) -> paths.
    sources: Mutex<HashMap<(String, String), Vec<String>>>,
}

impl Shared {
    pub fn new(insecure: Vec<Insecure>) -> Result<Shared, Error> {
        Ok(Shared {
            transport: Transport::new()?,
            insecure,
            endpoints: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            token_fetch: tokio::sync::Mutex::new(()),
            sources: Mutex::new(HashMap::new()),
        })
    }

    /// Remember that `digest` is in `repo` on `registry` (a cross-repo mount source).
    pub fn add_source(&self, registry: &str, digest: &str, repo: &str) {
        let mut m = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let v = m.entry((registry.to_string(), digest.to_string())).or_default();
        if !v.iter().any(|r| r == repo) {
            v.push(repo.to_string());
            if v.len() > 8 {
                v.remove(0);
            }
        }
    }

    /// Repositories on `registry` known to hold `digest`, most recent last.
    pub fn sources_of(&self, registry: &str, digest: &str) -> Vec<String> {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(registry.to_string(), digest.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// The endpoint of a registry, pinging it the first time (HTTPS, then plain HTTP when the
    /// registry is insecure).
    pub async fn endpoint(&self, authority: &str) -> Result<Arc<Endpoint>, Error> {
        let cell = self
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(authority.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.ping(authority)).await.cloned()
    }

    async fn ping(&self, authority: &str) -> Result<Arc<Endpoint>, Error> {
        let insecure = self.is_insecure(authority).await;
        let schemes: &[&str] = if insecure { &["https", "http"] } else { &["https"] };
        let mut last = String::new();
        for scheme in schemes {
            let base = endpoint::base_url(scheme, authority);
            let url = format!("{base}/v2/");
            let req = match build(Method::GET, &url, &[], empty(), None) {
                Ok(r) => r,
                Err(e) => return Err(e),
            };
            match self.transport.send(req, insecure).await {
                Ok(resp) => {
                    let ep = Endpoint {
                        authority: authority.to_string(),
                        base,
                        insecure,
                        challenge: Mutex::new(None),
                    };
                    if resp.status() == StatusCode::UNAUTHORIZED {
                        ep.set_challenge(&resp);
                    }
                    drain(resp).await;
                    return Ok(Arc::new(ep));
                }
                Err(e) => {
                    tracing::debug!("ping {url}: {e}");
                    last = format!("Get \"{url}\": {e}");
                }
            }
        }
        Err(Error::Unreachable(last))
    }

    /// Send one request without auth handling, mapping transport failures.
    pub async fn send_raw(&self, req: Request<Body>, insecure: bool, url: &str) -> Result<Response<Incoming>, Error> {
        let method = req.method().clone();
        self.transport
            .send(req, insecure)
            .await
            .map_err(|e| Error::Unreachable(format!("{} \"{url}\": {e}", method_name(&method))))
    }

    /// Forget a registry's endpoint (after a transport failure, so the next operation pings
    /// again and may pick another scheme).
    pub fn forget(&self, authority: &str) {
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner()).remove(authority);
    }

    async fn is_insecure(&self, authority: &str) -> bool {
        let host = endpoint::host_part(authority);
        let mut addrs: Vec<IpAddr> = Vec::new();
        let needs_dns = host.parse::<IpAddr>().is_err()
            && host != "localhost"
            && self.insecure.iter().any(|e| matches!(e, Insecure::Net(_)));
        if needs_dns {
            if let Ok(it) = tokio::net::lookup_host((host, 0)).await {
                addrs.extend(it.map(|sa| sa.ip()));
            }
        }
        endpoint::is_insecure(authority, &addrs, &self.insecure)
    }

    fn cached_token(&self, key: &(String, String, String)) -> Option<String> {
        let m = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        m.get(key).filter(|t| t.expires > Instant::now()).map(|t| t.token.clone())
    }

    fn store_token(&self, key: (String, String, String), token: String, ttl: Duration) {
        // Renew a little early so a token does not expire in flight.
        let ttl = ttl.saturating_sub(Duration::from_secs(10)).max(Duration::from_secs(1));
        let mut m = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, t| t.expires > Instant::now());
        m.insert(key, CachedToken { token, expires: Instant::now() + ttl });
    }

    fn drop_token(&self, key: &(String, String, String)) {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Fetch a token from a bearer challenge's realm for `scopes`.
    pub async fn fetch_token(
        &self,
        ep: &Endpoint,
        ch: &Challenge,
        creds: Option<&Credentials>,
        scopes: &[String],
        offline: bool,
    ) -> Result<auth::TokenResponse, Error> {
        let realm = ch.param("realm").unwrap_or_default();
        let service = ch.param("service");
        let realm_insecure = ep.insecure && endpoint::url_authority(realm) == ep.authority;
        let identity = creds.and_then(|c| c.identity_token.as_deref());
        let (req, url) = if let Some(refresh) = identity {
            let body = auth::refresh_form(service, scopes, refresh);
            let h = [(CONTENT_TYPE, "application/x-www-form-urlencoded".to_string())];
            (build(Method::POST, realm, &h, full(body.clone()), Some(body.len() as u64))?, realm.to_string())
        } else {
            let account = creds.map(|c| c.username.as_str()).filter(|u| !u.is_empty());
            let url = auth::token_url(realm, service, scopes, account, offline);
            let mut h = Vec::new();
            if let Some(b) = creds.and_then(Credentials::basic_header) {
                h.push((AUTHORIZATION, b));
            }
            (build(Method::GET, &url, &h, empty(), None)?, url)
        };
        let method = req.method().clone();
        let resp = self
            .transport
            .send(req, realm_insecure)
            .await
            .map_err(|e| Error::Unreachable(format!("{} \"{url}\": {e}", method_name(&method))))?;
        let status = resp.status();
        let body = read_body(resp, SMALL_BODY_LIMIT).await.map_err(|e| Error::Unreachable(format!("{} \"{url}\": {e}", method_name(&method))))?;
        if !status.is_success() {
            return Err(token_error(status, &body));
        }
        auth::parse_token_response(&body)
            .ok_or_else(|| Error::Protocol(format!("token server {realm} answered without a token")))
    }
}

/// A token server's refusal as Docker words it.
fn token_error(status: StatusCode, body: &[u8]) -> Error {
    #[derive(Deserialize)]
    struct Details {
        #[serde(default)]
        details: String,
    }
    let reg = parse_errors(status, body);
    if !reg.errors.is_empty() {
        return Error::Registry(reg);
    }
    let details = serde_json::from_slice::<Details>(body).map(|d| d.details).unwrap_or_default();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let d = if details.is_empty() { "authentication required".to_string() } else { details };
        return Error::Unauthorized(format!("unauthorized: {d}"));
    }
    Error::Registry(reg)
}

/// Build a request with our user agent and the given headers.
pub(crate) fn build(method: Method, url: &str, headers: &[(HeaderName, String)], body: Body, len: Option<u64>) -> Result<Request<Body>, Error> {
    let mut b = Request::builder().method(method).uri(url).header(USER_AGENT, AGENT);
    for (k, v) in headers {
        let v = HeaderValue::from_str(v).map_err(|_| Error::Protocol(format!("bad header value for {k}")))?;
        b = b.header(k, v);
    }
    if let Some(n) = len {
        b = b.header(CONTENT_LENGTH, n);
    }
    b.body(body).map_err(|e| Error::Protocol(format!("bad request to {url}: {e}")))
}

/// Read a whole body, refusing more than `limit` bytes.
pub(crate) async fn read_body(resp: Response<Incoming>, limit: usize) -> Result<Bytes, String> {
    let limited = http_body_util::Limited::new(resp.into_body(), limit);
    limited.collect().await.map(|c| c.to_bytes()).map_err(|e| e.to_string())
}

/// Read and discard a body so the connection goes back to the pool.
pub(crate) async fn drain(resp: Response<Incoming>) {
    let _ = read_body(resp, SMALL_BODY_LIMIT).await;
}

/// One entry of a registry's error body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorCode {
    /// `MANIFEST_UNKNOWN`, `DENIED`, ...
    #[serde(default)]
    pub code: String,
    /// The server's message.
    #[serde(default)]
    pub message: String,
}

/// A registry's refusal: the status and its error body (`{"errors":[{code,message}]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    /// The HTTP status.
    pub status: u16,
    /// The errors of the body, if it had any.
    pub errors: Vec<ErrorCode>,
}

impl RegistryError {
    /// The first error code, if any.
    pub fn code(&self) -> Option<&str> {
        self.errors.first().map(|e| e.code.as_str())
    }
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // errcode's rendering: `manifest unknown: <message>`; several as `errors:\n...`.
        let one = |e: &ErrorCode| {
            let code = e.code.replace('_', " ").to_lowercase();
            if e.message.is_empty() {
                code
            } else {
                format!("{code}: {}", e.message)
            }
        };
        match self.errors.as_slice() {
            [] => {
                let s = StatusCode::from_u16(self.status).ok();
                match self.status {
                    401 => f.write_str("unauthorized: authentication required"),
                    _ => write!(
                        f,
                        "received unexpected HTTP status: {} {}",
                        self.status,
                        s.and_then(|s| s.canonical_reason()).unwrap_or("")
                    ),
                }
            }
            [e] => f.write_str(&one(e)),
            many => {
                f.write_str("errors:\n")?;
                for e in many {
                    writeln!(f, "{}", one(e))?;
                }
                Ok(())
            }
        }
    }
}

/// Parse an error body (anything unparseable gives no entries).
pub(crate) fn parse_errors(status: StatusCode, body: &[u8]) -> RegistryError {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<ErrorCode>,
    }
    let errors = serde_json::from_slice::<Body>(body).map(|b| b.errors).unwrap_or_default();
    RegistryError { status: status.as_u16(), errors }
}

/// Read a failed response into a [`RegistryError`].
pub(crate) async fn error_of(resp: Response<Incoming>) -> RegistryError {
    let status = resp.status();
    let body = read_body(resp, SMALL_BODY_LIMIT).await.unwrap_or_default();
    parse_errors(status, &body)
}

/// One repository on one registry, with the credentials and scopes of one operation.
pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub ep: Arc<Endpoint>,
    pub creds: Option<Credentials>,
    /// The scopes tokens are asked for; a challenge naming another scope adds it.
    pub scopes: Mutex<Vec<String>>,
    /// The repository path (`library/busybox`).
    pub path: String,
}

impl Session {
    fn scopes(&self) -> Vec<String> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Add the scope a bearer challenge asks for (`insufficient_scope`), if it is new.
    fn widen_scope(&self) {
        let Some(ch) = self.ep.challenge() else { return };
        let Some(want) = ch.param("scope").filter(|_| ch.scheme == Scheme::Bearer) else { return };
        let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        for sc in want.split(' ').filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|have| have == sc) {
                scopes.push(sc.to_string());
            }
        }
    }

    fn token_key(&self) -> (String, String, String) {
        let who = match &self.creds {
            None => String::new(),
            Some(c) => {
                let mut h = sha2::Sha256::new();
                for part in [&c.username, &c.password] {
                    h.update(part.as_bytes());
                    h.update([0]);
                }
                h.update(c.identity_token.as_deref().unwrap_or_default().as_bytes());
                hex::encode(h.finalize())
            }
        };
        (self.ep.authority.clone(), self.scopes().join(" "), who)
    }

    /// The `Authorization` value for the current challenge.
    async fn authorization(&self) -> Result<Option<String>, Error> {
        let Some(ch) = self.ep.challenge() else {
            return Ok(None);
        };
        match ch.scheme {
            Scheme::Basic => Ok(self.creds.as_ref().and_then(Credentials::basic_header)),
            Scheme::Other(_) => Ok(None),
            Scheme::Bearer => {
                if let Some(t) = self.creds.as_ref().and_then(|c| c.registry_token.clone()) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let key = self.token_key();
                if let Some(t) = self.shared.cached_token(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let _one = self.shared.token_fetch.lock().await;
                if let Some(t) = self.shared.cached_token(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let t = self
                    .shared
                    .fetch_token(&self.ep, &ch, self.creds.as_ref(), &self.scopes(), false)
                    .await?;
                self.shared.store_token(key, t.token.clone(), t.expires_in);
                Ok(Some(format!("Bearer {}", t.token)))
            }
        }
    }

    /// `{base}/v2/{path}/{rest}`.
    pub fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.ep.base, self.path)
    }

    /// Send a request to this registry with auth; a `401` with a new challenge is answered
    /// once (when the body can be sent again). Redirects are followed for GET and HEAD,
    /// without our credentials once they leave the registry's host.
    pub async fn send(&self, method: Method, url: &str, headers: &[(HeaderName, String)], mut body: ReqBody) -> Result<Response<Incoming>, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut h = headers.to_vec();
            if let Some(a) = self.authorization().await? {
                h.push((AUTHORIZATION, a));
            }
            let retryable = body.retryable();
            let (b, len) = body.take();
            let req = build(method.clone(), url, &h, b, len)?;
            let resp = match self.shared.transport.send(req, self.ep.insecure).await {
                Ok(r) => r,
                Err(e) => {
                    // The registry may have moved (restarted on another scheme): ping again
                    // next time.
                    self.shared.forget(&self.ep.authority);
                    return Err(Error::Unreachable(format!("{} \"{url}\": {e}", method_name(&method))));
                }
            };
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 1 && retryable {
                let had = self.ep.challenge();
                if self.ep.set_challenge(&resp) {
                    // A token that was refused is useless; a basic challenge we already
                    // answered will not change its mind.
                    let now = self.ep.challenge();
                    let basic_again = matches!(had, Some(ref c) if c.scheme == Scheme::Basic)
                        && matches!(now, Some(ref c) if c.scheme == Scheme::Basic);
                    if !basic_again {
                        self.shared.drop_token(&self.token_key());
                        self.widen_scope();
                        drain(resp).await;
                        continue;
                    }
                }
            }
            if (method == Method::GET || method == Method::HEAD) && resp.status().is_redirection() {
                return self.follow(method, url, h, resp).await;
            }
            return Ok(resp);
        }
    }

    async fn follow(&self, method: Method, url: &str, mut headers: Vec<(HeaderName, String)>, mut resp: Response<Incoming>) -> Result<Response<Incoming>, Error> {
        let mut current = url.to_string();
        for _ in 0..MAX_REDIRECTS {
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let Some(loc) = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string) else {
                return Ok(resp);
            };
            drain(resp).await;
            let next = endpoint::resolve_location(&current, &loc);
            let same_host = endpoint::url_authority(&next) == self.ep.authority;
            if !same_host {
                headers.retain(|(k, _)| k != AUTHORIZATION);
            }
            let req = build(method.clone(), &next, &headers, empty(), None)?;
            resp = self
                .shared
                .transport
                .send(req, self.ep.insecure && same_host)
                .await
                .map_err(|e| Error::Unreachable(format!("{} \"{next}\": {e}", method_name(&method))))?;
            current = next;
        }
        Err(Error::Protocol(format!("stopped after {MAX_REDIRECTS} redirects from {url}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_error_rendering_table() {
        let e = |code: &str, msg: &str| ErrorCode { code: code.into(), message: msg.into() };
        let cases = [
            (RegistryError { status: 404, errors: vec![e("MANIFEST_UNKNOWN", "manifest unknown")] }, "manifest unknown: manifest unknown"),
            (RegistryError { status: 401, errors: vec![e("UNAUTHORIZED", "authentication required")] }, "unauthorized: authentication required"),
            (RegistryError { status: 403, errors: vec![e("DENIED", "")] }, "denied"),
            (RegistryError { status: 401, errors: vec![] }, "unauthorized: authentication required"),
            (RegistryError { status: 502, errors: vec![] }, "received unexpected HTTP status: 502 Bad Gateway"),
            (
                RegistryError { status: 400, errors: vec![e("BLOB_UNKNOWN", "a"), e("DIGEST_INVALID", "b")] },
                "errors:\nblob unknown: a\ndigest invalid: b\n",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
        assert_eq!(
            parse_errors(StatusCode::NOT_FOUND, br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"x"}}]}"#).code(),
            Some("NAME_UNKNOWN")
        );
        assert_eq!(parse_errors(StatusCode::NOT_FOUND, b"<html>").errors, vec![]);
    }

    #[test]
    fn method_names_as_go_prints_them() {
        assert_eq!(method_name(&Method::GET), "Get");
        assert_eq!(method_name(&Method::HEAD), "Head");
        assert_eq!(method_name(&Method::PATCH), "Patch");
    }
}
