//! The Docker Engine API over HTTP, served from the engine's [`Backend`].
//!
//! A thin layer: each handler parses a request, calls one backend method and encodes the
//! answer. The contract is moby's `api/swagger.yaml` and the behaviour of moby's routers.
//!
//! - [`Server::router`] builds the axum router. Paths may carry a version prefix (`/v1.47/...`);
//!   unversioned paths speak [`berth_api::API_VERSION`]. Versions outside
//!   [`berth_api::MIN_API_VERSION`]..=[`berth_api::API_VERSION`] are refused with a 400. Every
//!   answer carries `Api-Version`, `Docker-Experimental`, `Ostype` and `Server` headers.
//! - Errors are `{"message": "..."}` with the status [`status_for`] gives the error's kind.
//! - Streams (logs, attach, exec) are multiplexed with 8-byte frame headers unless the process
//!   has a TTY. Attach and attached exec hijack the connection (`101 Switching Protocols`).
//! - [`serve_unix`] serves a router on a unix socket, with HTTP upgrades enabled.
//!
//! Architecture invariant: this crate knows HTTP and the backend traits of
//! `berth_engine::service`, nothing else of the engine; the engine knows nothing of HTTP.
#![deny(missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::response::Response;
use axum::Router;
use berth_engine::service::Backend;
use tower::ServiceExt;

mod compat;
mod drain;
mod error;
mod params;
mod routes;
mod serve;
mod stream;
mod version;

#[cfg(test)]
mod tests;

pub use error::status_for;
pub use serve::{serve, serve_unix};

use version::ApiVersion;

/// What the server says about itself in headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Berth's version, shown in the `Server: Berth/<version> (<os>)` header.
    pub version: String,
    /// The `Docker-Experimental` header.
    pub experimental: bool,
    /// The `Ostype` header and the os in `Server`: `linux`.
    pub os_type: String,
}

impl Default for ServerInfo {
    fn default() -> Self {
        ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            experimental: false,
            os_type: "linux".to_owned(),
        }
    }
}

/// The API server: a backend and what to say about ourselves.
#[derive(Clone)]
pub struct Server {
    backend: Arc<dyn Backend>,
    info: ServerInfo,
}

impl Server {
    /// A server answering from `backend`.
    pub fn new(backend: Arc<dyn Backend>, info: ServerInfo) -> Self {
        Server { backend, info }
    }

    /// The complete router: version prefixes, common headers, request logs, every route.
    pub fn router(&self) -> Router {
        let api = routes::api(self.backend.clone());
        let headers = Arc::new(common_headers(&self.info));
        Router::new().fallback(move |req: Request| {
            let api = api.clone();
            let headers = headers.clone();
            async move { front(api, &headers, req).await }
        })
    }
}

/// The headers Docker puts on every answer.
fn common_headers(info: &ServerInfo) -> Vec<(&'static str, HeaderValue)> {
    let value = |s: String| {
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
    };
    vec![
        ("Api-Version", HeaderValue::from_static(berth_api::API_VERSION)),
        (
            "Docker-Experimental",
            HeaderValue::from_static(if info.experimental { "true" } else { "false" }),
        ),
        ("Ostype", value(info.os_type.clone())),
        ("Server", value(format!("Berth/{} ({})", info.version, info.os_type))),
    ]
}

/// Before routing: strip the version prefix (remembering the version), then route; after:
/// add the common headers and log the request.
async fn front(api: Router, headers: &[(&'static str, HeaderValue)], mut req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let mut version = ApiVersion::default();
    if let Some((v, rest)) = version::split_prefix(uri.path()) {
        version = ApiVersion(v.to_owned());
        if let Some(stripped) = strip_path(&uri, rest) {
            *req.uri_mut() = stripped;
        }
    }
    req.extensions_mut().insert(version);
    let mut resp = match api.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    for (name, value) in headers {
        resp.headers_mut().insert(*name, value.clone());
    }
    let status = resp.status().as_u16();
    tracing::debug!(%method, %uri, status, elapsed = ?started.elapsed(), "request");
    resp
}

/// `uri` with its path replaced by `path`, keeping the query.
fn strip_path(uri: &Uri, path: &str) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}
