//! Wiring: a [`Server`] built from a [`Config`], serving HTTP or HTTPS on a listener.

use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_errdefs::{HasKind, Kind};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::auth::{AuthError, Htpasswd, TokenSigner};
use crate::config::Config;
use crate::http::{self, AppState, AuthMode};
use crate::registry::{Registry, RegistryOptions};
use crate::storage::FsStorage;

/// Why a server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file named by the configuration cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// The htpasswd file is malformed.
    #[error("{path}: {source}")]
    Htpasswd {
        /// The file.
        path: String,
        /// The error.
        source: AuthError,
    },
    /// The certificate or key cannot be used.
    #[error("tls: {0}")]
    Tls(String),
    /// The pull-through cache's remote cannot be set up.
    #[error("proxy: {0}")]
    Proxy(#[from] crate::proxy::ProxyError),
}

impl HasKind for SetupError {
    fn kind(&self) -> Kind {
        match self {
            SetupError::Read { .. } => Kind::NotFound,
            SetupError::Htpasswd { .. } | SetupError::Tls(_) | SetupError::Proxy(_) => Kind::InvalidArgument,
        }
    }
}

/// A configured registry server, ready to serve on a listener.
pub struct Server {
    registry: Arc<Registry>,
    router: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    purge: Option<(Duration, Duration)>,
}

fn load_htpasswd(path: &Path) -> Result<Htpasswd, SetupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SetupError::Read { path: path.display().to_string(), source: e })?;
    Htpasswd::parse(&text).map_err(|e| SetupError::Htpasswd { path: path.display().to_string(), source: e })
}

/// A rustls server configuration from PEM files (HTTP/1.1 only).
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, SetupError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| SetupError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(SetupError::Tls(format!("{}: no certificate", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| SetupError::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| SetupError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

impl Server {
    /// Build a server over the filesystem storage at `config.root_dir()`.
    pub fn new(config: &Config) -> Result<Server, SetupError> {
        let storage = Arc::new(FsStorage::new(config.root_dir()));
        let registry = Arc::new(Registry::new(
            storage,
            RegistryOptions {
                delete_enabled: config.storage.delete_enabled,
                max_manifest_bytes: config.storage.max_manifest_bytes,
            },
        ));
        let auth = if let Some(h) = &config.auth.htpasswd {
            AuthMode::Basic { realm: h.realm.clone(), users: load_htpasswd(&h.path)? }
        } else if let Some(t) = &config.auth.token {
            AuthMode::Token {
                realm: t.realm.clone(),
                service: t.service.clone(),
                users: load_htpasswd(&t.htpasswd)?,
                signer: match &t.secret {
                    Some(s) => TokenSigner::new(s.as_bytes().to_vec()),
                    None => TokenSigner::random(),
                },
                ttl_secs: t.ttl_secs,
            }
        } else {
            AuthMode::None
        };
        let tls = match &config.tls {
            Some(t) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&t.cert, &t.key)?))),
            None => None,
        };
        let mut state = AppState::new(registry.clone(), auth, tls.is_some());
        if let Some(p) = &config.proxy {
            state = state.with_upstream(Arc::new(crate::proxy::Upstream::new(p)?));
        }
        let state = Arc::new(state);
        let purge = (config.gc.upload_purge_interval_secs > 0).then(|| {
            (
                Duration::from_secs(config.gc.upload_purge_interval_secs),
                Duration::from_secs(config.gc.upload_max_age_secs),
            )
        });
        Ok(Server { registry, router: http::router(state), tls, purge })
    }

    /// The registry served.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Serve connections from `listener` until `shutdown` completes (connections in flight
    /// are not waited for).
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> io::Result<()> {
        let purger = self.purge.map(|(every, max_age)| {
            let reg = self.registry.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    match reg.purge_uploads(max_age).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(purged = n, "purged abandoned uploads"),
                        Err(e) => tracing::warn!(error = %e, "purging uploads"),
                    }
                }
            })
        });
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                res = listener.accept() => {
                    let (stream, _peer) = match res {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of descriptors and the like: back off instead of spinning.
                            tracing::warn!(error = %e, "accept");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let router = self.router.clone();
                    let tls = self.tls.clone();
                    tokio::spawn(async move {
                        match tls {
                            Some(acceptor) => match acceptor.accept(stream).await {
                                Ok(s) => serve_connection(s, router).await,
                                Err(e) => tracing::debug!(error = %e, "tls handshake"),
                            },
                            None => serve_connection(stream, router).await,
                        }
                    });
                }
            }
        }
        if let Some(p) = purger {
            p.abort();
        }
        Ok(())
    }
}

async fn serve_connection<S>(io: S, router: axum::Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let router = router.clone();
        async move { router.oneshot(req.map(axum::body::Body::new)).await }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc).await {
        tracing::debug!(error = %e, "connection");
    }
}
