//! The registry client: `docker pull`, `docker push` and `docker login` against Docker
//! registry v2 / OCI distribution servers.
//!
//! Words:
//! - a *registry* is a server (`registry-1.docker.io`, `127.0.0.1:5000`); a *repository* is
//!   a path in it (`library/busybox`); a reference names both plus a tag or digest.
//! - a *manifest* lists an image's config and layer *blobs* by digest; an *index* (manifest
//!   list) lists one manifest per platform. All are fetched by digest and verified.
//! - an *endpoint* is how we reach a registry: HTTPS with verified certificates, or for
//!   insecure registries HTTPS without verification, then plain HTTP (see `endpoint`).
//!
//! Entry points: [`Client::pull`], [`Client::push`], [`Client::login`]; progress goes to a
//! [`Progress`] channel as Docker's JSON messages, which the API server streams as is.
//!
//! Architecture invariant: this crate knows registries and the image store's contract
//! (content store, `apply_blob`, `create_image`), nothing of containers or of the Engine
//! API's HTTP side; the only wire type it shares with the server is
//! [`berth_api::JsonMessage`].
#![deny(missing_docs)]

mod auth;
mod endpoint;
mod progress;
mod pull;
mod push;
mod transport;
mod wire;

use std::sync::Arc;

use berth_errdefs::{HasKind, Kind};

pub use auth::{parse_registry_auth, Credentials};
pub use progress::Progress;
pub use pull::PullResult;
pub use push::{PushResult, PushedTag};
pub use transport::{ErrorCode, RegistryError};

use auth::Access;
use transport::{Session, Shared};

/// Errors of the registry client. Messages follow Docker's where a client sees them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `X-Registry-Auth` header could not be decoded.
    #[error("invalid X-Registry-Auth header: {0}")]
    BadAuthHeader(String),
    /// A malformed reference or digest.
    #[error(transparent)]
    Reference(#[from] berth_reference::Error),
    /// The registry (or its token server) could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// The credentials were refused, or none were given where some are needed.
    #[error("{0}")]
    Unauthorized(String),
    /// The registry refused a request.
    #[error("{0}")]
    Registry(RegistryError),
    /// The image, tag or repository does not exist there (or may not be read): Docker's
    /// `manifest for busybox:nope not found: ...` and `pull access denied for ...`.
    #[error("{0}")]
    NotFound(String),
    /// Pushing was refused (`denied: requested access to the resource is denied`).
    #[error("{0}")]
    Denied(String),
    /// Content did not match its digest or size.
    #[error("{0}")]
    Verification(String),
    /// A manifest of a media type we do not read.
    #[error("{0}")]
    Unsupported(String),
    /// A `platform` argument that names no platform.
    #[error("{0}")]
    InvalidPlatform(String),
    /// An index without a manifest for the wanted platform.
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoMatchingPlatform(String),
    /// `docker push` of a name no local image has.
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchLocalImage(String),
    /// A layer of the image has no compressed blob in the content store.
    #[error("no compressed blob is kept for layer {0}")]
    MissingBlob(String),
    /// The registry answered something that breaks the protocol.
    #[error("{0}")]
    Protocol(String),
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    /// TLS could not be set up.
    #[error("tls setup: {0}")]
    Tls(String),
    /// A background task failed to finish.
    #[error("{0}")]
    Task(String),
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::BadAuthHeader(_) | Error::Verification(_) | Error::InvalidPlatform(_) => Kind::InvalidArgument,
            Error::Reference(e) => e.kind(),
            Error::Unreachable(_) => Kind::Unavailable,
            Error::Unauthorized(_) | Error::Denied(_) => Kind::PermissionDenied,
            Error::Registry(e) => match e.status {
                401 | 403 => Kind::PermissionDenied,
                404 => Kind::NotFound,
                429 | 500..=599 => Kind::Unavailable,
                _ => Kind::Internal,
            },
            Error::NotFound(_) | Error::NoMatchingPlatform(_) | Error::NoSuchLocalImage(_) => Kind::NotFound,
            Error::Unsupported(_) => Kind::NotImplemented,
            Error::Image(e) => e.kind(),
            Error::Protocol(_) | Error::MissingBlob(_) | Error::Tls(_) | Error::Task(_) => Kind::Internal,
        }
    }
}

/// Docker's backoff step between download retries.
const RETRY_STEP: std::time::Duration = std::time::Duration::from_secs(5);

/// How the client reaches registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Registries allowed over plain HTTP and unverified TLS: `host[:port]` or a CIDR
    /// (`--insecure-registry`). `localhost`, `127.0.0.0/8` and `::1` always are.
    pub insecure_registries: Vec<String>,
    /// Layers downloaded at once per pull (`--max-concurrent-downloads`, 3).
    pub max_concurrent_downloads: usize,
    /// Layers uploaded at once per push (`--max-concurrent-uploads`, 5).
    pub max_concurrent_uploads: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            insecure_registries: Vec::new(),
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
        }
    }
}

/// The registry client. Cheap to clone: clones share connections, tokens and what was
/// learnt about registries.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    opts: Arc<Options>,
    /// The backoff step between transfer retries (Docker's 5 s for downloads; the n-th
    /// retry waits n steps).
    retry_step: std::time::Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("opts", &self.opts).finish()
    }
}

impl Client {
    /// A client with these options (system TLS roots, no connection yet).
    pub fn new(opts: Options) -> Result<Client, Error> {
        let insecure = opts.insecure_registries.iter().map(|s| endpoint::Insecure::parse(s)).collect();
        Ok(Client {
            shared: Arc::new(Shared::new(insecure)?),
            opts: Arc::new(opts),
            retry_step: RETRY_STEP,
        })
    }

    /// The same client with another backoff step between transfer retries (the n-th retry
    /// of a download or an upload waits n steps; default 5 s, as Docker). Tests use
    /// milliseconds.
    pub fn with_retry_backoff(mut self, step: std::time::Duration) -> Client {
        self.retry_step = step;
        self
    }

    /// A session on the repository of `r` with `access`, plus `extra` scopes (mount sources).
    async fn session(&self, r: &berth_reference::Reference, creds: Option<&Credentials>, access: Access, extra: &[String]) -> Result<Session, Error> {
        let authority = endpoint::registry_host(r.domain());
        let ep = self.shared.endpoint(authority).await?;
        let mut scopes = vec![auth::repository_scope(r.path(), access)];
        for path in extra {
            let s = auth::repository_scope(path, Access::Pull);
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        Ok(Session {
            shared: self.shared.clone(),
            ep,
            creds: creds.cloned(),
            scopes: std::sync::Mutex::new(scopes),
            path: r.path().to_string(),
        })
    }

    /// `POST /auth`: check credentials against a registry (`server` as the user typed it:
    /// `localhost:5000`, `https://index.docker.io/v1/`, empty for Docker Hub). Returns the
    /// identity (refresh) token the registry handed out, if any, for the CLI to store instead
    /// of the password.
    pub async fn login(&self, server: &str, creds: &Credentials) -> Result<Option<String>, Error> {
        let authority = endpoint::normalize_server(server);
        // Always ping afresh: the registry's auth may have changed since we last looked.
        self.shared.forget(&authority);
        let ep = self.shared.endpoint(&authority).await?;
        let url = format!("{}/v2/", ep.base);
        let Some(ch) = ep.challenge_now() else {
            return Ok(None);
        };
        let (header, identity) = match ch.scheme {
            auth::Scheme::Bearer => {
                let t = self.shared.fetch_token(&ep, &ch, Some(creds), &[], true).await?;
                (Some(format!("Bearer {}", t.token)), t.refresh_token)
            }
            auth::Scheme::Basic => (creds.basic_header(), None),
            auth::Scheme::Other(s) => {
                return Err(Error::Unsupported(format!("unsupported authentication scheme {s} at {url}")))
            }
        };
        let mut h = Vec::new();
        if let Some(a) = header {
            h.push((hyper::header::AUTHORIZATION, a));
        }
        let req = transport::build(hyper::Method::GET, &url, &h, transport::empty(), None)?;
        let resp = self.shared.send_raw(req, ep.insecure, &url).await?;
        let status = resp.status();
        transport::drain(resp).await;
        if status.is_success() {
            return Ok(identity);
        }
        Err(Error::Unauthorized(format!(
            "login attempt to {url} failed with status: {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )))
    }
}
