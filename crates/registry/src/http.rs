//! The HTTP face of the registry: one dispatcher over `/v2/...` (repository names hold slashes,
//! so paths are matched by [`crate::names::route`], not by the router), the `/token` endpoint,
//! authentication, and the one place where an [`Error`] becomes a response.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use berth_reference::{Algorithm, Digest};
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use serde_json::json;
use sha2::Digest as _;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::auth::{self, Claims, Htpasswd, Scope, TokenSigner};
use crate::error::Error;
use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::names::{self, parse_digest, ManifestRef, RepoName, Route};
use crate::proxy::Upstream;
use crate::registry::{BodyStream, Manifest, Registry};
use crate::wire::{self, RangeAnswer};

/// How requests are authenticated.
#[derive(Debug)]
pub enum AuthMode {
    /// Everyone may do everything.
    None,
    /// HTTP basic auth against an htpasswd file.
    Basic {
        /// The realm in challenges.
        realm: String,
        /// The users.
        users: Htpasswd,
    },
    /// Bearer tokens from `/token`.
    Token {
        /// The token endpoint's URL; `None` derives `<scheme>://<Host>/token` per request.
        realm: Option<String>,
        /// The service (token audience).
        service: String,
        /// Who may get tokens.
        users: Htpasswd,
        /// Signs and checks tokens.
        signer: TokenSigner,
        /// Token lifetime in seconds.
        ttl_secs: u64,
    },
}

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The registry.
    pub registry: Arc<Registry>,
    /// Authentication.
    pub auth: AuthMode,
    /// Whether the server speaks TLS (for derived realms).
    pub tls: bool,
    /// The remote of a pull-through cache; pushes and deletes are refused when set.
    pub upstream: Option<Arc<Upstream>>,
    /// Credentials already verified (sha256 of `user:password`); bcrypt is slow on purpose,
    /// and a push makes dozens of requests.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl AppState {
    /// Shared state for the router.
    pub fn new(registry: Arc<Registry>, auth: AuthMode, tls: bool) -> AppState {
        AppState { registry, auth, tls, upstream: None, verified: Mutex::new(HashSet::new()) }
    }

    /// Make this a pull-through cache of `upstream`.
    pub fn with_upstream(mut self, upstream: Arc<Upstream>) -> AppState {
        self.upstream = Some(upstream);
        self
    }
}

/// The router: `/v2/...` and, in token mode, `/token`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

const API_VERSION: &str = "Docker-Distribution-API-Version";

async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if path == "/token" {
        return token_endpoint(&st, req).await;
    }
    let Some(route) = names::route(&path) else {
        return error_response(&Error::Unsupported(format!("no endpoint {path}")), 404);
    };
    let mut resp = match handle(&st, route, req).await {
        Ok(r) => r,
        Err(e) => {
            if e.status() >= 500 {
                tracing::warn!(%method, %path, error = %e, "request failed");
            }
            error_response(&e, e.status())
        }
    };
    resp.headers_mut().insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    resp
}

/// Render an error in the spec's JSON shape.
pub fn error_response(e: &Error, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = Response::builder().status(status);
    match e {
        Error::RangeInvalid { offset } => {
            return b
                .header("Range", range_value(*offset))
                .header(header::CONTENT_LENGTH, "0")
                .body(Body::empty())
                .unwrap_or_default();
        }
        Error::BlobRangeInvalid { size } => {
            return b
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .header(header::CONTENT_LENGTH, "0")
                .body(Body::empty())
                .unwrap_or_default();
        }
        Error::Unauthorized { challenge } => {
            b = b.header(header::WWW_AUTHENTICATE, challenge.as_str());
        }
        _ => {}
    }
    let entries: Vec<_> = e
        .entries()
        .into_iter()
        .map(|x| json!({ "code": x.code, "message": x.message, "detail": x.detail }))
        .collect();
    let body = serde_json::to_vec(&json!({ "errors": entries })).unwrap_or_default();
    b.header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap_or_default()
}

/// `0-<last byte>` as uploads report their progress (`0-0` when empty, as the CNCF registry).
fn range_value(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn body_stream(body: Body) -> BodyStream {
    Box::pin(TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other))
}

fn query(req: &Request) -> Vec<(String, String)> {
    wire::parse_query(req.uri().query())
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn pagination(q: &[(String, String)]) -> Result<(Option<usize>, Option<String>), Error> {
    let n = match param(q, "n") {
        Some(s) => Some(s.parse::<usize>().map_err(|_| Error::ParamInvalid(format!("n={s:?}")))?),
        None => None,
    };
    Ok((n, param(q, "last").map(str::to_string)))
}

fn builder(status: StatusCode) -> axum::http::response::Builder {
    Response::builder().status(status)
}

fn empty(b: axum::http::response::Builder) -> Response {
    b.header(header::CONTENT_LENGTH, "0").body(Body::empty()).unwrap_or_default()
}

fn json_response(b: axum::http::response::Builder, content_type: &str, v: &serde_json::Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    b.header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap_or_default()
}

/// The scope a request needs: pull to read, pull+push to write, delete to delete.
fn needed_scope(route: &Route, method: &Method) -> Option<Scope> {
    match route {
        Route::Base => None,
        Route::Catalog => Some(Scope::catalog()),
        r => {
            let name = r.repository()?;
            let actions: &[&str] = match *method {
                Method::GET | Method::HEAD => &["pull"],
                Method::DELETE => &["delete"],
                _ => &["pull", "push"],
            };
            Some(Scope::repository(name, actions))
        }
    }
}

impl AppState {
    fn realm(&self, configured: &Option<String>, headers: &HeaderMap) -> String {
        if let Some(r) = configured {
            return r.clone();
        }
        let host = header_str(headers, header::HOST).unwrap_or("localhost");
        format!("{}://{host}/token", if self.tls { "https" } else { "http" })
    }

    async fn check_password(&self, users: &Htpasswd, user: &str, password: &str) -> bool {
        let key: [u8; 32] = sha2::Sha256::digest(format!("{user}:{password}").as_bytes()).into();
        if self.verified.lock().map(|s| s.contains(&key)).unwrap_or(false) {
            return true;
        }
        let (users, u, p) = (users.clone(), user.to_string(), password.to_string());
        let ok = tokio::task::spawn_blocking(move || users.verify(&u, &p)).await.unwrap_or(false);
        if ok {
            if let Ok(mut s) = self.verified.lock() {
                if s.len() > 10_000 {
                    s.clear();
                }
                s.insert(key);
            }
        }
        ok
    }

    /// Authenticate the request and check it may use `scope`. Returns the token's claims in
    /// token mode (for finer checks such as cross-repository mounts).
    async fn authorize(&self, scope: Option<&Scope>, headers: &HeaderMap) -> Result<Option<Claims>, Error> {
        let authz = header_str(headers, header::AUTHORIZATION);
        match &self.auth {
            AuthMode::None => Ok(None),
            AuthMode::Basic { realm, users } => {
                if let Some((u, p)) = authz.and_then(auth::parse_basic) {
                    if self.check_password(users, &u, &p).await {
                        return Ok(None);
                    }
                }
                Err(Error::Unauthorized { challenge: auth::basic_challenge(realm) })
            }
            AuthMode::Token { realm, service, signer, .. } => {
                let realm = self.realm(realm, headers);
                let challenge = |insufficient| Error::Unauthorized {
                    challenge: auth::bearer_challenge(&realm, service, scope, insufficient),
                };
                let Some(token) = authz.and_then(auth::parse_bearer) else {
                    return Err(challenge(false));
                };
                let claims = signer.verify(token, service, auth::now()).map_err(|_| challenge(false))?;
                if let Some(s) = scope {
                    if !auth::grants(&claims.access, s) {
                        return Err(challenge(true));
                    }
                }
                Ok(Some(claims))
            }
        }
    }
}

/// `GET /token?service=&scope=` (basic credentials optional) and `POST /token` with an OAuth2
/// password grant form. Answers `{"token","access_token","expires_in","issued_at"}`.
async fn token_endpoint(st: &AppState, req: Request) -> Response {
    let AuthMode::Token { service, users, signer, ttl_secs, .. } = &st.auth else {
        return error_response(&Error::Unsupported("no token endpoint".into()), 404);
    };
    let unauthorized = || {
        error_response(&Error::Unauthorized { challenge: auth::basic_challenge(service) }, 401)
    };
    let mut q = query(&req);
    let mut creds = header_str(req.headers(), header::AUTHORIZATION).and_then(auth::parse_basic);
    if req.method() == Method::POST {
        let Ok(body) = http_body_util::Limited::new(req.into_body(), 64 << 10).collect().await else {
            return error_response(&Error::ParamInvalid("token request body".into()), 400);
        };
        let form = wire::parse_query(Some(&String::from_utf8_lossy(&body.to_bytes())));
        match param(&form, "grant_type") {
            Some("password") => {
                let (u, p) = (param(&form, "username"), param(&form, "password"));
                if let (Some(u), Some(p)) = (u, p) {
                    creds = Some((u.to_string(), p.to_string()));
                }
            }
            other => {
                return error_response(&Error::ParamInvalid(format!("unsupported grant_type {other:?}")), 400);
            }
        }
        q.extend(form);
    } else if req.method() != Method::GET {
        return error_response(&Error::Unsupported("use GET or POST".into()), 405);
    }
    let user = match creds {
        Some((u, p)) => {
            if !st.check_password(users, &u, &p).await {
                return unauthorized();
            }
            Some(u)
        }
        None => None,
    };
    // `scope` may repeat, and one value may hold several space-separated scopes.
    let requested: Vec<Scope> = q
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter_map(Scope::parse).collect::<Vec<_>>())
        .collect();
    let now = auth::now();
    let claims = Claims {
        sub: user.clone().unwrap_or_default(),
        aud: service.clone(),
        iat: now,
        exp: now + ttl_secs,
        access: auth::grant(user.as_deref(), &requested),
    };
    let token = signer.issue(&claims);
    let issued_at = chrono::DateTime::from_timestamp(now as i64, 0).unwrap_or_default().to_rfc3339();
    json_response(
        builder(StatusCode::OK),
        "application/json",
        &json!({ "token": token, "access_token": token, "expires_in": ttl_secs, "issued_at": issued_at }),
    )
}

async fn handle(st: &AppState, route: Route, req: Request) -> Result<Response, Error> {
    let method = req.method().clone();
    let repo = match route.repository() {
        Some(n) => Some(RepoName::parse(n)?),
        None => None,
    };
    let scope = needed_scope(&route, &method);
    let claims = st.authorize(scope.as_ref(), req.headers()).await?;
    let reg = &st.registry;
    let not_allowed = || Err(Error::Unsupported(format!("{method} is not allowed here")));
    if let (Some(up), Some(repo)) = (&st.upstream, &repo) {
        let read = method == Method::GET || method == Method::HEAD;
        match &route {
            Route::Manifest(_, reference) if read => {
                let r = ManifestRef::parse(reference)?;
                return proxy_manifest(reg, up, repo, &r, &method, req.headers()).await;
            }
            Route::Blob(_, digest) if read => {
                let d = parse_digest(digest)?;
                return proxy_blob(&st.registry, up, repo, &d, &method, req.headers()).await;
            }
            Route::Tags(_) if method == Method::GET => {
                match up.tags(repo.as_str(), req.uri().query()).await {
                    Ok(Some((body, link))) => {
                        let mut b = builder(StatusCode::OK)
                            .header(header::CONTENT_TYPE, "application/json")
                            .header(header::CONTENT_LENGTH, body.len());
                        if let Some(l) = link {
                            b = b.header(header::LINK, l);
                        }
                        return Ok(b.body(Body::from(body)).unwrap_or_default());
                    }
                    Ok(None) => return Err(Error::NameUnknown { name: repo.to_string() }),
                    // The remote is unreachable: answer from the cache below.
                    Err(e) => tracing::warn!(error = %e, "upstream tags"),
                }
            }
            Route::Referrers(..) if read => {}
            _ => return Err(Error::Unsupported("this registry is a read-only pull-through cache".into())),
        }
    }
    match (route, repo) {
        (Route::Base, _) => match method {
            Method::GET | Method::HEAD => Ok(json_response(builder(StatusCode::OK), "application/json", &json!({}))),
            _ => not_allowed(),
        },
        (Route::Catalog, _) => {
            if method != Method::GET {
                return not_allowed();
            }
            let (n, last) = pagination(&query(&req))?;
            let all = reg.catalog().await?;
            let (page, more) = wire::paginate(&all, n, last.as_deref());
            let mut b = builder(StatusCode::OK);
            if let (true, Some(n), Some(l)) = (more, n, page.last()) {
                b = b.header(header::LINK, wire::next_link("/v2/_catalog", n, l));
            }
            Ok(json_response(b, "application/json", &json!({ "repositories": page })))
        }
        (Route::Tags(_), Some(repo)) => {
            if method != Method::GET {
                return not_allowed();
            }
            let (n, last) = pagination(&query(&req))?;
            let all = reg.tags(&repo).await?;
            let (page, more) = wire::paginate(&all, n, last.as_deref());
            let mut b = builder(StatusCode::OK);
            if let (true, Some(n), Some(l)) = (more, n, page.last()) {
                b = b.header(header::LINK, wire::next_link(&format!("/v2/{repo}/tags/list"), n, l));
            }
            Ok(json_response(b, "application/json", &json!({ "name": repo.as_str(), "tags": page })))
        }
        (Route::Manifest(_, reference), Some(repo)) => {
            let r = ManifestRef::parse(&reference)?;
            match method {
                Method::GET | Method::HEAD => get_manifest(reg, &repo, &r, &method, req.headers()).await,
                Method::PUT => put_manifest(reg, &repo, &r, req).await,
                Method::DELETE => {
                    reg.delete_manifest(&repo, &r).await?;
                    Ok(empty(builder(StatusCode::ACCEPTED)))
                }
                _ => not_allowed(),
            }
        }
        (Route::Blob(_, digest), Some(repo)) => {
            let d = parse_digest(&digest)?;
            match method {
                Method::GET | Method::HEAD => get_blob(reg, &repo, &d, &method, req.headers()).await,
                Method::DELETE => {
                    reg.delete_blob(&repo, &d).await?;
                    Ok(empty(builder(StatusCode::ACCEPTED)))
                }
                _ => not_allowed(),
            }
        }
        (Route::UploadStart(_), Some(repo)) => {
            if method != Method::POST {
                return not_allowed();
            }
            start_upload(st, reg, &repo, claims.as_ref(), req).await
        }
        (Route::Upload(_, id), Some(repo)) => upload(reg, &repo, &id, req).await,
        (Route::Referrers(_, digest), Some(repo)) => {
            if method != Method::GET {
                return not_allowed();
            }
            let d = parse_digest(&digest)?;
            let q = query(&req);
            let filter = param(&q, "artifactType").filter(|s| !s.is_empty());
            let list = reg.referrers(&repo, &d, filter).await?;
            let mut b = builder(StatusCode::OK);
            if filter.is_some() {
                b = b.header("OCI-Filters-Applied", "artifactType");
            }
            let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list });
            Ok(json_response(b, OCI_INDEX, &index))
        }
        _ => Err(Error::Unsupported("no endpoint".into())),
    }
}

fn etag_matches(headers: &HeaderMap, digest: &Digest) -> bool {
    let d = digest.to_string();
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').map(str::trim).any(|t| t == d || t.trim_matches('"') == d || t == "*")
    })
}

async fn get_manifest(
    reg: &Registry,
    repo: &RepoName,
    r: &ManifestRef,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    serve_manifest(reg.get_manifest(repo, r).await?, method, headers)
}

/// The Accept header a cache forwards: the client's, or every manifest type.
fn forwarded_accept(headers: &HeaderMap) -> String {
    let values: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect();
    if values.is_empty() {
        [OCI_INDEX, OCI_MANIFEST, crate::manifest::DOCKER_MANIFEST_LIST, crate::manifest::DOCKER_MANIFEST].join(", ")
    } else {
        values.join(", ")
    }
}

/// A manifest through the cache: by digest from the cache when there; by tag from the remote
/// (the tag may have moved), falling back to the cache when the remote cannot be reached.
async fn proxy_manifest(
    reg: &Registry,
    up: &Upstream,
    repo: &RepoName,
    r: &ManifestRef,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    if let ManifestRef::Digest(_) = r {
        if let Ok(m) = reg.get_manifest(repo, r).await {
            return serve_manifest(m, method, headers);
        }
    }
    match up.manifest(repo.as_str(), &r.to_string(), &forwarded_accept(headers)).await {
        Ok(Some((media_type, body))) => {
            let m = reg.cache_manifest(repo, r, &media_type, body).await?;
            serve_manifest(m, method, headers)
        }
        Ok(None) => Err(Error::ManifestUnknown { detail: r.to_string() }),
        Err(e) => {
            tracing::warn!(error = %e, "upstream manifest");
            match reg.get_manifest(repo, r).await {
                Ok(m) => serve_manifest(m, method, headers),
                Err(_) => Err(Error::Upstream(e.to_string())),
            }
        }
    }
}

/// A blob through the cache: from the cache when there, else streamed from the remote to the
/// client while it is written (verified) into the cache. The download goes on if the client
/// leaves, so the next pull finds the blob cached.
async fn proxy_blob(
    reg: &Arc<Registry>,
    up: &Upstream,
    repo: &RepoName,
    d: &Digest,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    match reg.stat_blob(repo, d).await {
        Ok(_) => return get_blob(reg, repo, d, method, headers).await,
        Err(Error::BlobUnknown { .. }) => {}
        Err(e) => return Err(e),
    }
    let head = *method == Method::HEAD;
    let fetched = up.blob(repo.as_str(), &d.to_string(), head).await.map_err(|e| Error::Upstream(e.to_string()))?;
    let Some((size, body)) = fetched else {
        return Err(Error::BlobUnknown { digest: d.to_string() });
    };
    let mut b = builder(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("Docker-Content-Digest", d.to_string());
    if let Some(n) = size {
        b = b.header(header::CONTENT_LENGTH, n);
    }
    if head {
        return Ok(b.body(Body::empty()).unwrap_or_default());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(16);
    let failed = tx.clone();
    let upstream: BodyStream = Box::pin(TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other));
    let tee: BodyStream = Box::pin(futures_util::StreamExt::then(upstream, move |chunk| {
        let tx = tx.clone();
        async move {
            let copy = match &chunk {
                Ok(b) => Ok(b.clone()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            // A client that went away does not stop the download.
            let _ = tx.send(copy).await;
            chunk
        }
    }));
    let (reg, repo2, d2) = (reg.clone(), repo.clone(), d.clone());
    tokio::spawn(async move {
        match reg.put_blob(&repo2, &d2, tee).await {
            Ok(n) => tracing::debug!(digest = %d2, bytes = n, "cached blob"),
            Err(e) => {
                tracing::warn!(digest = %d2, error = %e, "caching blob");
                let _ = failed.send(Err(std::io::Error::other(e.to_string()))).await;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(b.body(Body::from_stream(stream)).unwrap_or_default())
}

fn serve_manifest(m: Manifest, method: &Method, headers: &HeaderMap) -> Result<Response, Error> {
    // OCI types are only served to clients that ask for them (as the CNCF registry does);
    // Docker types are served regardless, there being nothing to convert them to.
    if matches!(m.media_type.as_str(), OCI_MANIFEST | OCI_INDEX) {
        let accept = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok());
        if !wire::accepts(accept, &m.media_type) {
            return Err(Error::ManifestUnknown {
                detail: format!("the manifest is {}, which the Accept header does not allow", m.media_type),
            });
        }
    }
    let etag = format!("\"{}\"", m.digest);
    if etag_matches(headers, &m.digest) {
        return Ok(empty(
            builder(StatusCode::NOT_MODIFIED)
                .header("Docker-Content-Digest", m.digest.to_string())
                .header(header::ETAG, etag),
        ));
    }
    let b = builder(StatusCode::OK)
        .header(header::CONTENT_TYPE, m.media_type.as_str())
        .header(header::CONTENT_LENGTH, m.body.len())
        .header("Docker-Content-Digest", m.digest.to_string())
        .header(header::ETAG, etag);
    let body = if *method == Method::HEAD { Body::empty() } else { Body::from(m.body) };
    Ok(b.body(body).unwrap_or_default())
}

async fn put_manifest(reg: &Registry, repo: &RepoName, r: &ManifestRef, req: Request) -> Result<Response, Error> {
    let limit = reg.options().max_manifest_bytes;
    let declared = header_str(req.headers(), header::CONTENT_LENGTH).and_then(|s| s.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::ManifestTooLarge { limit });
    }
    let content_type = header_str(req.headers(), header::CONTENT_TYPE).map(str::to_string);
    let q = query(&req);
    let extra_tags: Vec<String> = q.iter().filter(|(k, _)| k == "tag").map(|(_, v)| v.clone()).collect();
    let body = match http_body_util::Limited::new(req.into_body(), limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(Error::ManifestTooLarge { limit }),
        Err(e) => return Err(Error::ManifestInvalid(format!("reading the body: {e}"))),
    };
    let put = reg.put_manifest(repo, r, content_type.as_deref(), body, &extra_tags).await?;
    let mut b = builder(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{repo}/manifests/{}", put.digest))
        .header("Docker-Content-Digest", put.digest.to_string());
    if let Some(s) = &put.subject {
        b = b.header("OCI-Subject", s.to_string());
    }
    if !extra_tags.is_empty() {
        b = b.header("OCI-Tag", extra_tags.join(", "));
    }
    Ok(empty(b))
}

async fn get_blob(
    reg: &Registry,
    repo: &RepoName,
    d: &Digest,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let size = reg.stat_blob(repo, d).await?;
    let etag = format!("\"{d}\"");
    let common = |b: axum::http::response::Builder| {
        b.header("Docker-Content-Digest", d.to_string())
            .header(header::ETAG, etag.clone())
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CACHE_CONTROL, "max-age=31536000")
    };
    if etag_matches(headers, d) {
        return Ok(empty(common(builder(StatusCode::NOT_MODIFIED))));
    }
    if *method == Method::HEAD {
        return Ok(common(builder(StatusCode::OK))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size)
            .body(Body::empty())
            .unwrap_or_default());
    }
    let (status, start, len, content_range) = match wire::parse_range(header_str(headers, header::RANGE), size) {
        RangeAnswer::Full => (StatusCode::OK, 0, size, None),
        RangeAnswer::Partial(s, e) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1, Some(format!("bytes {s}-{e}/{size}"))),
        RangeAnswer::Unsatisfiable => return Err(Error::BlobRangeInvalid { size }),
    };
    let (_, reader) = reg.open_blob(repo, d, start).await?;
    let stream = ReaderStream::with_capacity(reader.take(len), 256 << 10);
    let mut b = common(builder(status))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len);
    if let Some(cr) = content_range {
        b = b.header(header::CONTENT_RANGE, cr);
    }
    Ok(b.body(Body::from_stream(stream)).unwrap_or_default())
}

fn upload_location(repo: &RepoName, id: &str) -> String {
    format!("/v2/{repo}/blobs/uploads/{id}")
}

fn upload_progress(status: StatusCode, repo: &RepoName, id: &str, offset: u64) -> Response {
    empty(
        builder(status)
            .header(header::LOCATION, upload_location(repo, id))
            .header("Range", range_value(offset))
            .header("Docker-Upload-UUID", id)
            .header("Blob-Upload-Session-ID", id),
    )
}

fn blob_created(repo: &RepoName, d: &Digest) -> Response {
    empty(
        builder(StatusCode::CREATED)
            .header(header::LOCATION, format!("/v2/{repo}/blobs/{d}"))
            .header("Docker-Content-Digest", d.to_string()),
    )
}

fn parse_algorithm(s: &str) -> Result<Algorithm, Error> {
    match s {
        "sha256" => Ok(Algorithm::Sha256),
        "sha384" => Ok(Algorithm::Sha384),
        "sha512" => Ok(Algorithm::Sha512),
        _ => Err(Error::DigestInvalid { detail: format!("unsupported digest algorithm {s:?}") }),
    }
}

async fn start_upload(
    st: &AppState,
    reg: &Registry,
    repo: &RepoName,
    claims: Option<&Claims>,
    req: Request,
) -> Result<Response, Error> {
    let q = query(&req);
    if let (Some(mount), Some(from)) = (param(&q, "mount"), param(&q, "from")) {
        // A mount that cannot happen (bad arguments, no access, no blob) falls back to an
        // ordinary upload, as the spec asks.
        if let (Ok(d), Ok(from)) = (Digest::parse(mount), RepoName::parse(from)) {
            let may_read = match (&st.auth, claims) {
                (AuthMode::Token { .. }, Some(c)) => auth::grants(&c.access, &Scope::repository(from.as_str(), &["pull"])),
                (AuthMode::Token { .. }, None) => false,
                _ => true,
            };
            if may_read && reg.mount_blob(repo, &d, &from).await?.is_some() {
                return Ok(blob_created(repo, &d));
            }
        }
    }
    if let Some(digest) = param(&q, "digest") {
        let d = parse_digest(digest)?;
        reg.put_blob(repo, &d, body_stream(req.into_body())).await?;
        return Ok(blob_created(repo, &d));
    }
    let alg = match param(&q, "digest-algorithm") {
        Some(a) => parse_algorithm(a)?,
        None => Algorithm::Sha256,
    };
    let id = reg.start_upload(repo, alg).await?;
    Ok(upload_progress(StatusCode::ACCEPTED, repo, &id, 0))
}

/// The `Content-Range` of a chunk, checked against its `Content-Length`.
fn chunk_range(headers: &HeaderMap, offset: impl FnOnce() -> u64) -> Result<Option<(u64, u64)>, Error> {
    let Some(cr) = header_str(headers, header::CONTENT_RANGE) else { return Ok(None) };
    let Some((start, end)) = wire::parse_content_range(cr) else {
        return Err(Error::RangeInvalid { offset: offset() });
    };
    if let Some(cl) = header_str(headers, header::CONTENT_LENGTH).and_then(|s| s.parse::<u64>().ok()) {
        if cl != end - start + 1 {
            return Err(Error::SizeInvalid(format!("Content-Range {cr} but Content-Length {cl}")));
        }
    }
    Ok(Some((start, end)))
}

async fn upload(reg: &Registry, repo: &RepoName, id: &str, req: Request) -> Result<Response, Error> {
    let method = req.method().clone();
    let with_location = |e: Error| -> Result<Response, Error> {
        match e {
            Error::RangeInvalid { offset } => Ok(upload_progress(StatusCode::RANGE_NOT_SATISFIABLE, repo, id, offset)),
            e => Err(e),
        }
    };
    match method {
        Method::GET | Method::HEAD => {
            let offset = reg.upload_offset(repo, id).await?;
            Ok(upload_progress(StatusCode::NO_CONTENT, repo, id, offset))
        }
        Method::PATCH => {
            let offset = reg.upload_offset(repo, id).await?;
            let range = match chunk_range(req.headers(), || offset) {
                Ok(r) => r,
                Err(e) => return with_location(e),
            };
            match reg.append_upload(repo, id, range, body_stream(req.into_body())).await {
                Ok(offset) => Ok(upload_progress(StatusCode::ACCEPTED, repo, id, offset)),
                Err(e) => with_location(e),
            }
        }
        Method::PUT => {
            let q = query(&req);
            let Some(digest) = param(&q, "digest") else {
                return Err(Error::DigestInvalid { detail: "the digest parameter is missing".into() });
            };
            let d = parse_digest(digest)?;
            let offset = reg.upload_offset(repo, id).await?;
            let range = match chunk_range(req.headers(), || offset) {
                Ok(r) => r,
                Err(e) => return with_location(e),
            };
            match reg.finish_upload(repo, id, &d, Some((range, body_stream(req.into_body())))).await {
                Ok(_) => Ok(blob_created(repo, &d)),
                Err(e) => with_location(e),
            }
        }
        Method::DELETE => {
            reg.cancel_upload(repo, id).await?;
            Ok(empty(builder(StatusCode::NO_CONTENT)))
        }
        _ => Err(Error::Unsupported(format!("{method} is not allowed here"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_by_method() {
        let r = Route::Manifest("a/b".into(), "latest".into());
        let s = |m: Method| needed_scope(&r, &m).map(|s| s.to_scope_string());
        assert_eq!(s(Method::GET).as_deref(), Some("repository:a/b:pull"));
        assert_eq!(s(Method::HEAD).as_deref(), Some("repository:a/b:pull"));
        assert_eq!(s(Method::PUT).as_deref(), Some("repository:a/b:pull,push"));
        assert_eq!(s(Method::DELETE).as_deref(), Some("repository:a/b:delete"));
        assert_eq!(needed_scope(&Route::Base, &Method::GET), None);
        assert_eq!(needed_scope(&Route::Catalog, &Method::GET), Some(Scope::catalog()));
    }

    #[test]
    fn progress_ranges() {
        assert_eq!(range_value(0), "0-0");
        assert_eq!(range_value(10), "0-9");
    }
}
