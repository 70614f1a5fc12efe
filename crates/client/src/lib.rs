//! A connected Docker Engine API client for talking to berthd.
//!
//! Everything the `berth` CLI says to the daemon goes through this crate:
//!
//! * [`Host`] parses the daemon address (`unix:///path` or `tcp://host:port`), chosen by
//!   [`Host::resolve`] from the `-H/--host` flag, then `DOCKER_HOST`, then [`DEFAULT_HOST`].
//! * [`Client::connect`] builds a [`bollard::Docker`] for that host and negotiates the API
//!   version: it starts from [`berth_api::API_VERSION`] (berthd rejects newer versions in the
//!   path, so we never send bollard's own default) and downgrades to what the server reports.
//! * [`Client::hijack`] performs the `Connection: Upgrade` / `Upgrade: tcp` requests (container
//!   attach, exec start) itself and hands back the raw byte stream. bollard decodes hijacked
//!   streams by guessing the framing from the first byte; docker decides from the container's
//!   `Tty` setting, so the caller gets raw bytes and demultiplexes them when it knows it must.
//!
//! * The image transfer calls ([`Client::pull`], [`Client::push`], [`Client::login`],
//!   [`Client::save`], [`Client::load`], [`Client::commit`], [`Client::export`]) send what the
//!   docker CLI sends (moby's client package) over [`Client::send`], a plain HTTP/1.1 request
//!   whose bodies stream both ways; credentials travel as Docker's [`AuthConfig`], base64url
//!   in `X-Registry-Auth`. Progress comes back as a [`JsonStream`] of JSON messages, which
//!   the CLI renders.
//!
//! Errors carry a [`berth_errdefs::Kind`] derived from the HTTP status, so the CLI can tell a
//! missing image (404) from any other failure without parsing messages.
#![deny(missing_docs)]

mod auth;
mod hijack;
mod host;
mod jsonstream;
mod request;
mod tls;
mod transfer;

use berth_errdefs::{HasKind, Kind};
use bollard::{ClientVersion, Docker};

pub use auth::{AuthConfig, AuthenticateOk, AUTH_HEADER};
pub use hijack::{Hijacked, WaitExit};
pub use host::{Host, DEFAULT_HOST};
pub use jsonstream::JsonStream;
pub use request::{Body, BodyStream, Request, Response};
pub use tls::{TlsConfig, TlsFlags, TlsOptions};
pub use transfer::{CommitOptions, LoadResponse};

/// Seconds bollard waits for response headers. Long-running calls (wait, attach, logs -f) must
/// not time out on the client side, as the docker CLI has no such limit either.
const REQUEST_TIMEOUT_SECS: u64 = 10 * 365 * 24 * 3600;

/// Failures of connecting to or talking with the daemon.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host address could not be understood.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The address as given.
        host: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The daemon could not be reached at all.
    #[error("cannot connect to the berth daemon at {host}: {reason}")]
    Connect {
        /// The address we tried.
        host: String,
        /// What the transport said.
        reason: String,
    },
    /// The daemon answered with an error status; `message` is its `{"message": ...}` text.
    #[error("{message}")]
    Daemon {
        /// The HTTP status code.
        status: u16,
        /// The daemon's message, verbatim.
        message: String,
    },
    /// The daemon's answer could not be understood.
    #[error("unexpected response from daemon: {0}")]
    Protocol(String),
    /// Reading or writing the connection failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other error from bollard.
    #[error("{0}")]
    Api(bollard::errors::Error),
    /// The TLS material could not be loaded.
    #[error("{0}")]
    Tls(String),
    /// The daemon was reached but the connection failed (a TLS handshake refused, say).
    #[error("error during connect: {reason}")]
    ConnectFailed {
        /// The address we tried.
        host: String,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// The HTTP status of a daemon error response, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Daemon { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<bollard::errors::Error> for Error {
    fn from(e: bollard::errors::Error) -> Self {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError { status_code, message } => {
                Error::Daemon { status: status_code, message }
            }
            B::DockerContainerWaitError { error, code } => {
                Error::Daemon { status: 200, message: format!("container exited with code {code}: {error}") }
            }
            B::DockerStreamError { error } => Error::Daemon { status: 200, message: error },
            other => Error::Api(other),
        }
    }
}

/// Map an HTTP status to an error kind, as moby's client does.
pub fn kind_of_status(status: u16) -> Kind {
    match status {
        304 => Kind::NotModified,
        400 => Kind::InvalidArgument,
        401 | 403 => Kind::PermissionDenied,
        404 => Kind::NotFound,
        409 => Kind::Conflict,
        501 => Kind::NotImplemented,
        503 => Kind::Unavailable,
        _ => Kind::Internal,
    }
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::InvalidHost { .. } | Error::Tls(_) => Kind::InvalidArgument,
            Error::Connect { .. } | Error::ConnectFailed { .. } | Error::Io(_) => Kind::Unavailable,
            Error::Daemon { status, .. } => kind_of_status(*status),
            Error::Protocol(_) | Error::Api(_) => Kind::Internal,
        }
    }
}

/// A connection to berthd: a negotiated [`bollard::Docker`] plus the raw host for hijacking.
#[derive(Debug, Clone)]
pub struct Client {
    docker: Docker,
    host: Host,
}

impl Client {
    /// Connect to `host` (or `DOCKER_HOST`, or [`DEFAULT_HOST`]) and negotiate the API version.
    pub async fn connect(host: Option<&str>) -> Result<Client, Error> {
        Client::connect_tls(host, None).await
    }

    /// [`Client::connect`], over TLS when `tls` is given and the host is `tcp://`.
    pub async fn connect_tls(host: Option<&str>, tls: Option<&TlsOptions>) -> Result<Client, Error> {
        let mut host = Host::resolve(host)?;
        if let Some(t) = tls {
            host = host.with_tls(t.load()?);
        }
        let client = Client::new(host)?;
        client.negotiate().await
    }

    /// Build a client for `host` without contacting the daemon; the API version is
    /// [`berth_api::API_VERSION`] until [`Client::negotiate`] is called.
    pub fn new(host: Host) -> Result<Client, Error> {
        let version = max_client_version();
        let docker = match &host {
            Host::Unix(path) => {
                let addr = format!("unix://{}", path.display());
                Docker::connect_with_unix(&addr, REQUEST_TIMEOUT_SECS, &version)
            }
            Host::Tcp(addr) => {
                Docker::connect_with_http(&format!("tcp://{addr}"), REQUEST_TIMEOUT_SECS, &version)
            }
            Host::Tls(addr, config) => Docker::connect_with_custom_transport(
                tls_transport(addr.clone(), config.clone()),
                Some(format!("https://{addr}")),
                REQUEST_TIMEOUT_SECS,
                &version,
            ),
        }
        .map_err(|e| connect_error(&host, e))?;
        Ok(Client { docker, host })
    }

    /// Ask the daemon for its API version and downgrade ours if it is older.
    pub async fn negotiate(self) -> Result<Client, Error> {
        let host = self.host.clone();
        let docker = self.docker.negotiate_version().await.map_err(|e| connect_error(&host, e))?;
        Ok(Client { docker, host })
    }

    /// The bollard client, for every ordinary (non-hijacked) call.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The host this client talks to.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The negotiated API version, e.g. `"1.47"`.
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// Send `POST /v{version}{path}?{query}` with an optional JSON body, asking the daemon to
    /// upgrade the connection to a raw stream (`Upgrade: tcp`). On `101`/`200` the connection
    /// is handed back; any other status becomes [`Error::Daemon`].
    pub async fn hijack(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Hijacked, Error> {
        hijack::hijack(&self.host, &self.api_version(), path, query, body).await
    }

    /// `GET` a path and return its JSON as is. For the few answers whose shape changed across
    /// API versions (`/system/df`), where bollard's typed model fits only the newest one.
    pub async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<serde_json::Value, Error> {
        hijack::get_json(&self.host, &self.api_version(), path, query).await
    }

    /// `GET` a streaming endpoint such as `/containers/{id}/logs` and receive its body bytes
    /// as they arrive (transfer encoding removed, framing untouched), so the caller can
    /// demultiplex them exactly as docker does: by the container's `Tty` setting.
    pub async fn get_stream(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<tokio::sync::mpsc::Receiver<Result<Vec<u8>, Error>>, Error> {
        hijack::get_stream(&self.host, &self.api_version(), path, query).await
    }

    /// Start waiting for container `id` to reach `condition` (`not-running`, `next-exit`,
    /// `removed`), on a connection of its own. Must be called within a tokio runtime.
    pub fn wait(&self, id: &str, condition: &str) -> Waiter {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (host, version, id, condition) =
            (self.host.clone(), self.api_version(), id.to_string(), condition.to_string());
        let task = tokio::spawn(async move { hijack::wait(&host, &version, &id, &condition, tx).await });
        Waiter { registered: Some(rx), task }
    }
}

/// A pending `POST /containers/{id}/wait`, sent by [`Client::wait`].
#[derive(Debug)]
pub struct Waiter {
    registered: Option<tokio::sync::oneshot::Receiver<()>>,
    task: tokio::task::JoinHandle<Result<WaitExit, Error>>,
}

impl Waiter {
    /// Wait until the daemon has answered with the response head (it has registered the
    /// waiter), or `limit` passed, whichever is first. Call before starting the container so
    /// that a `next-exit` wait cannot miss a quick exit.
    pub async fn registered(&mut self, limit: std::time::Duration) {
        if let Some(rx) = self.registered.take() {
            let _ = tokio::time::timeout(limit, rx).await;
        }
    }

    /// The container's exit, once the wait completes.
    pub async fn exit(self) -> Result<WaitExit, Error> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(Error::Protocol(format!("wait task failed: {e}"))),
        }
    }
}

/// The newest version we speak: berth_api's, which berthd accepts in request paths.
fn max_client_version() -> ClientVersion {
    let (major, minor) = berth_api::parse_version(berth_api::API_VERSION).unwrap_or((1, 47));
    ClientVersion { major_version: major as usize, minor_version: minor as usize }
}

/// bollard's requests over a fresh TLS connection each (bollard keeps no idle connections
/// either), HTTP/1.1 with upgrades.
fn tls_transport(addr: String, config: TlsConfig) -> impl Fn(bollard::BollardRequest) -> TransportFuture + Send + Sync {
    move |mut req: bollard::BollardRequest| {
        let (addr, config) = (addr.clone(), config.clone());
        Box::pin(async move {
            let stream = tls::connect(&addr, &config).await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            // The connection's own error says why a request failed (a TLS alert such as a
            // missing client certificate arrives on the first read, after the handshake).
            let (failed_tx, failed_rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    let _ = failed_tx.send(e);
                }
            });
            let origin = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
            *req.uri_mut() = origin.parse().map_err(|e: hyper::http::uri::InvalidUri| {
                bollard::errors::Error::IOError { err: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()) }
            })?;
            if let Ok(v) = hyper::header::HeaderValue::from_str(&addr) {
                req.headers_mut().entry(hyper::header::HOST).or_insert(v);
            }
            match sender.send_request(req).await {
                Ok(r) => Ok(r),
                Err(e) => {
                    let cause = match tokio::time::timeout(std::time::Duration::from_secs(1), failed_rx).await {
                        Ok(Ok(conn_err)) => error_chain(&conn_err),
                        _ => error_chain(&e),
                    };
                    Err(bollard::errors::Error::IOError { err: std::io::Error::other(cause) })
                }
            }
        })
    }
}

/// An error and its sources, `: `-separated (hyper's own message alone hides the TLS alert).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s = format!("{s}: {m}");
        }
        cur = c.source();
    }
    s
}

/// What [`tls_transport`] answers a request with.
type TransportFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<hyper::Response<hyper::body::Incoming>, bollard::errors::Error>> + Send>,
>;

/// Whether an I/O error means nothing listens there (rather than a refused handshake).
pub(crate) fn is_unreachable(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(e.kind(), K::ConnectionRefused | K::NotFound | K::AddrNotAvailable | K::TimedOut | K::HostUnreachable | K::NetworkUnreachable)
}

/// Turn a transport-level bollard error into [`Error::Connect`]; daemon answers stay errors.
fn connect_error(host: &Host, e: bollard::errors::Error) -> Error {
    use bollard::errors::Error as B;
    match e {
        B::IOError { err } if matches!(host, Host::Tls(..)) && !is_unreachable(&err) => {
            Error::ConnectFailed { host: host.to_string(), reason: err.to_string() }
        }
        B::SocketNotFoundError(_) | B::HyperLegacyError { .. } | B::IOError { .. } => {
            Error::Connect { host: host.to_string(), reason: e.to_string() }
        }
        other => Error::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (404, Kind::NotFound),
            (409, Kind::Conflict),
            (400, Kind::InvalidArgument),
            (304, Kind::NotModified),
            (500, Kind::Internal),
            (501, Kind::NotImplemented),
        ];
        for (status, kind) in cases {
            let e = Error::Daemon { status, message: "x".into() };
            assert_eq!(e.kind(), kind, "status {status}");
        }
    }

    #[test]
    fn bollard_server_errors_keep_status_and_message() {
        let e: Error = bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "No such container: foo".into(),
        }
        .into();
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.to_string(), "No such container: foo");
    }

    #[test]
    fn client_version_is_berth_api_version() {
        assert_eq!(max_client_version().to_string(), berth_api::API_VERSION);
    }

    #[test]
    fn missing_socket_is_a_connect_error() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::Unix(dir.path().join("nope.sock"));
        let err = Client::new(host).unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        assert_eq!(err.kind(), Kind::Unavailable);
    }
}
