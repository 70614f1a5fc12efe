//! The client side of pull-through caching: fetch manifests, blobs and tag lists from a remote
//! registry, answering its authentication challenges (basic, or bearer tokens from the realm
//! it names) and following redirects (blob downloads often redirect to a CDN; credentials are
//! not sent to another host).
//!
//! One connection per request keeps this small; a proxy's traffic is dominated by large blob
//! downloads, each of which is fetched once and then served from the cache.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use berth_errdefs::{HasKind, Kind};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::auth::parse_challenge;
use crate::config::ProxyConfig;
use crate::wire::query_escape;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const HEADER_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_REDIRECTS: usize = 5;

/// Why talking to the remote failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A URL (configured, or from a redirect or challenge) is unusable.
    #[error("bad url {0:?}")]
    Url(String),
    /// The connection or the exchange failed.
    #[error("{url}: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The remote answered with an unexpected status.
    #[error("{url}: status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The remote's token endpoint answered something unusable.
    #[error("token from {0}: no token in the answer")]
    Token(String),
    /// The CA file cannot be used.
    #[error("ca file {0}")]
    Ca(String),
}

impl HasKind for ProxyError {
    fn kind(&self) -> Kind {
        match self {
            ProxyError::Url(_) | ProxyError::Ca(_) => Kind::InvalidArgument,
            _ => Kind::Unavailable,
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A remote registry.
pub struct Upstream {
    base: String,
    creds: Option<(String, String)>,
    tls: tokio_rustls::TlsConnector,
    /// Bearer tokens by scope, with their expiry.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").field("base", &self.base).finish()
    }
}

fn transport(url: &str, e: impl std::fmt::Display) -> ProxyError {
    ProxyError::Transport { url: url.to_string(), message: e.to_string() }
}

/// Resolve a `Location` against the URL it came from.
fn resolve(from: &Uri, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let scheme = from.scheme_str().unwrap_or("https");
    let authority = from.authority().map(|a| a.as_str()).unwrap_or("");
    if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = from.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{scheme}://{authority}{dir}{location}")
    }
}

impl Upstream {
    /// A client for `cfg.remote_url`, trusting the system's CAs and `cfg.ca_file`.
    pub fn new(cfg: &ProxyConfig) -> Result<Upstream, ProxyError> {
        let base = cfg.remote_url.trim_end_matches('/').to_string();
        base.parse::<Uri>().map_err(|_| ProxyError::Url(base.clone()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(ca) = &cfg.ca_file {
            add_pem_roots(&mut roots, ca)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ProxyError::Ca(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let creds = match (&cfg.username, &cfg.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            _ => None,
        };
        Ok(Upstream {
            base,
            creds,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn basic(&self) -> Option<String> {
        self.creds.as_ref().map(|(u, p)| format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))))
    }

    /// One exchange on a fresh connection.
    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let uri: Uri = url.parse().map_err(|_| ProxyError::Url(url.to_string()))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(ProxyError::Url(url.to_string())),
        };
        let host = uri.host().ok_or_else(|| ProxyError::Url(url.to_string()))?.to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let bare_host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((bare_host.as_str(), port)))
            .await
            .map_err(|_| transport(url, "connect timed out"))?
            .map_err(|e| transport(url, e))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if https {
            let name = rustls_pki_types::ServerName::try_from(bare_host.clone()).map_err(|e| transport(url, e))?;
            Box::new(self.tls.connect(name, tcp).await.map_err(|e| transport(url, e))?)
        } else {
            Box::new(tcp)
        };
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| transport(url, e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(&host).to_string();
        let mut b = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, authority)
            .header(header::USER_AGENT, concat!("berth-registry/", env!("CARGO_PKG_VERSION")));
        if let Some(a) = accept {
            b = b.header(header::ACCEPT, a);
        }
        if let Some(a) = authorization {
            b = b.header(header::AUTHORIZATION, a);
        }
        let req = b.body(Empty::<Bytes>::new()).map_err(|e| transport(url, e))?;
        tokio::time::timeout(HEADER_TIMEOUT, sender.send_request(req))
            .await
            .map_err(|_| transport(url, "no answer"))?
            .map_err(|e| transport(url, e))
    }

    /// An exchange following redirects; `Authorization` goes only to the first host.
    async fn send(
        &self,
        method: &Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let first: Uri = url.parse().map_err(|_| ProxyError::Url(url.to_string()))?;
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let uri: Uri = url.parse().map_err(|_| ProxyError::Url(url.clone()))?;
            let same_host = uri.authority() == first.authority() && uri.scheme() == first.scheme();
            let resp = self.send_once(method, &url, accept, authorization.filter(|_| same_host)).await?;
            if resp.status().is_redirection() {
                if let Some(loc) = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()) {
                    url = resolve(&uri, loc);
                    continue;
                }
            }
            return Ok(resp);
        }
        Err(transport(&url, "too many redirects"))
    }

    async fn token(&self, params: &[(String, String)], scope: &str) -> Result<String, ProxyError> {
        if let Some((t, exp)) = self.tokens.lock().ok().and_then(|m| m.get(scope).cloned()) {
            if exp > Instant::now() {
                return Ok(t);
            }
        }
        let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let realm = get("realm").ok_or_else(|| ProxyError::Token("a challenge without realm".into()))?;
        let mut url = format!("{realm}{}", if realm.contains('?') { "&" } else { "?" });
        if let Some(s) = get("service") {
            url.push_str(&format!("service={}&", query_escape(s)));
        }
        url.push_str(&format!("scope={}", query_escape(get("scope").unwrap_or(scope))));
        let resp = self.send(&Method::GET, &url, None, self.basic().as_deref()).await?;
        if resp.status() != StatusCode::OK {
            return Err(ProxyError::Status { url, status: resp.status().as_u16() });
        }
        let body = resp.into_body().collect().await.map_err(|e| transport(&url, e))?.to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| ProxyError::Token(url.clone()))?;
        let token = v["token"].as_str().or_else(|| v["access_token"].as_str()).ok_or(ProxyError::Token(url))?;
        let ttl = v["expires_in"].as_u64().unwrap_or(60).max(10);
        let exp = Instant::now() + Duration::from_secs(ttl.saturating_sub(5));
        if let Ok(mut m) = self.tokens.lock() {
            m.insert(scope.to_string(), (token.to_string(), exp));
        }
        Ok(token.to_string())
    }

    /// `method path` on the remote with pull access to `repo`, authenticating on demand.
    async fn request(&self, method: &Method, path: &str, accept: Option<&str>, repo: &str) -> Result<Response<Incoming>, ProxyError> {
        let url = format!("{}{path}", self.base);
        let scope = format!("repository:{repo}:pull");
        let cached = self.tokens.lock().ok().and_then(|m| m.get(&scope).cloned());
        let mut authorization = cached.filter(|(_, exp)| *exp > Instant::now()).map(|(t, _)| format!("Bearer {t}"));
        for attempt in 0..2 {
            let resp = self.send(method, &url, accept, authorization.as_deref()).await?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(resp);
            }
            let challenge = resp.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
            authorization = match challenge.and_then(parse_challenge) {
                Some((scheme, params)) if scheme == "bearer" => {
                    if let Ok(mut m) = self.tokens.lock() {
                        m.remove(&scope);
                    }
                    Some(format!("Bearer {}", self.token(&params, &scope).await?))
                }
                Some((scheme, _)) if scheme == "basic" && self.creds.is_some() => self.basic(),
                _ => return Ok(resp),
            };
        }
        Err(transport(&url, "unauthorized"))
    }

    /// A manifest: `Ok(None)` when the remote has none under `reference`.
    pub async fn manifest(&self, repo: &str, reference: &str, accept: &str) -> Result<Option<(String, Bytes)>, ProxyError> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self.request(&Method::GET, &path, Some(accept), repo).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => return Err(ProxyError::Status { url: format!("{}{path}", self.base), status: s.as_u16() }),
        }
        let media_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(crate::manifest::bare_media_type)
            .unwrap_or_default();
        let body = http_body_util::Limited::new(resp.into_body(), 4 << 20)
            .collect()
            .await
            .map_err(|e| transport(&path, e))?
            .to_bytes();
        Ok(Some((media_type, body)))
    }

    /// A blob's size and body: `Ok(None)` when the remote does not have it.
    pub async fn blob(&self, repo: &str, digest: &str, head: bool) -> Result<Option<(Option<u64>, Incoming)>, ProxyError> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let method = if head { Method::HEAD } else { Method::GET };
        let resp = self.request(&method, &path, None, repo).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => return Err(ProxyError::Status { url: format!("{}{path}", self.base), status: s.as_u16() }),
        }
        let size = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse().ok());
        Ok(Some((size, resp.into_body())))
    }

    /// The remote's tag list for `repo` (`query` passed through): `Ok(None)` on 404.
    pub async fn tags(&self, repo: &str, query: Option<&str>) -> Result<Option<(Bytes, Option<String>)>, ProxyError> {
        let mut path = format!("/v2/{repo}/tags/list");
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            path.push('?');
            path.push_str(q);
        }
        let resp = self.request(&Method::GET, &path, None, repo).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => return Err(ProxyError::Status { url: format!("{}{path}", self.base), status: s.as_u16() }),
        }
        let link = resp.headers().get(header::LINK).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = http_body_util::Limited::new(resp.into_body(), 16 << 20)
            .collect()
            .await
            .map_err(|e| transport(&path, e))?
            .to_bytes();
        Ok(Some((body, link)))
    }
}

fn add_pem_roots(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), ProxyError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ProxyError::Ca(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ProxyError::Ca(format!("{}: no certificate", path.display())));
    }
    for c in certs {
        roots.add(c).map_err(|e| ProxyError::Ca(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations() {
        let from: Uri = "https://reg.example:5000/v2/a/blobs/sha256:x".parse().unwrap();
        let cases = [
            ("https://cdn.example/blob?sig=1", "https://cdn.example/blob?sig=1"),
            ("/other/path", "https://reg.example:5000/other/path"),
            ("sibling", "https://reg.example:5000/v2/a/blobs/sibling"),
        ];
        for (loc, want) in cases {
            assert_eq!(resolve(&from, loc), want, "{loc}");
        }
    }
}
