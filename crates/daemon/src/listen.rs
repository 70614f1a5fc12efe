//! The API's listeners, as dockerd has them: unix sockets (mode 0660, owned by root and the
//! daemon's group) and TCP. TCP is served over TLS (`--tls`: server certificate only;
//! `--tlsverify`: clients must present a certificate signed by `--tlscacert`); plain TCP gives
//! root on this host to anyone who can reach the port, so it is refused unless `--insecure-tcp`
//! says so explicitly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// dockerd's port for `tcp://host` without one: 2376 with TLS, 2375 without.
const TLS_PORT: u16 = 2376;
const PLAIN_PORT: u16 = 2375;

/// How long a client may take over its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `-H` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// `unix:///path`.
    Unix(PathBuf),
    /// `tcp://host:port` (an empty host means every interface).
    Tcp(String),
}

/// Parse `unix:///path` or `tcp://[host][:port]`; `tls` picks the default port.
pub fn parse_host(host: &str, tls: bool) -> Result<Addr> {
    if let Some(p) = host.strip_prefix("unix://") {
        if p.is_empty() {
            bail!("invalid host {host:?}: empty socket path");
        }
        return Ok(Addr::Unix(PathBuf::from(p)));
    }
    let Some(rest) = host.strip_prefix("tcp://") else {
        bail!("invalid host {host:?}: expected unix:///path or tcp://host:port");
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        bail!("invalid host {host:?}: a tcp address has no path");
    }
    let default_port = if tls { TLS_PORT } else { PLAIN_PORT };
    // `[::1]:2376`, `host:2376`, `:2376`, `host`, `[::1]`.
    // The last `:` separates a port unless it is inside an IPv6 address.
    let is_host_part = |h: &str| !h.ends_with(':') && (!h.starts_with('[') || h.ends_with(']'));
    let (h, port) = match rest.rsplit_once(':') {
        Some((h, p)) if is_host_part(h) => {
            let port: u16 = p.parse().with_context(|| format!("invalid host {host:?}: invalid port {p:?}"))?;
            (h, port)
        }
        _ => (rest, default_port),
    };
    let h = if h.is_empty() { "0.0.0.0" } else { h };
    Ok(Addr::Tcp(format!("{h}:{port}")))
}

/// `--tls*` as given (flags over daemon.json).
#[derive(Debug, Clone, Default)]
pub struct TlsFlags {
    /// `--tls`: serve TCP over TLS.
    pub tls: bool,
    /// `--tlsverify`: TLS and require client certificates signed by the CA (implies `tls`).
    pub verify: bool,
    /// `--tlscacert`.
    pub ca: Option<PathBuf>,
    /// `--tlscert`.
    pub cert: Option<PathBuf>,
    /// `--tlskey`.
    pub key: Option<PathBuf>,
}

impl TlsFlags {
    /// Whether TCP listeners use TLS.
    pub fn enabled(&self) -> bool {
        self.tls || self.verify
    }
}

/// Where dockerd looks for `ca.pem`, `cert.pem` and `key.pem` when the flags name none:
/// `$DOCKER_CERT_PATH`, else the CLI config directory (`$DOCKER_CONFIG`, else `~/.docker`).
fn default_cert_dir() -> PathBuf {
    for var in ["DOCKER_CERT_PATH", "DOCKER_CONFIG"] {
        if let Some(d) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

fn load_certs(path: &Path) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("could not load TLS certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("could not load TLS certificates from {}: no certificate found", path.display());
    }
    Ok(certs)
}

/// The rustls configuration for the TCP listeners.
pub fn server_config(flags: &TlsFlags) -> Result<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    let dir = default_cert_dir();
    let cert = flags.cert.clone().unwrap_or_else(|| dir.join("cert.pem"));
    let key = flags.key.clone().unwrap_or_else(|| dir.join("key.pem"));
    let certs = load_certs(&cert)?;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| anyhow::anyhow!("could not load TLS key from {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = if flags.verify {
        let ca = flags.ca.clone().unwrap_or_else(|| dir.join("ca.pem"));
        let mut roots = rustls::RootCertStore::empty();
        for c in load_certs(&ca)? {
            roots.add(c).with_context(|| format!("invalid CA certificate in {}", ca.display()))?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .context("client certificate verifier")?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut cfg = builder.with_single_cert(certs, key).context("TLS certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The refusal for `-H tcp://...` without TLS or `--insecure-tcp`.
pub fn insecure_refusal(addr: &str) -> String {
    format!(
        "refusing to listen on tcp://{addr} without TLS: anyone who can reach it gets root on this host; \
         use --tlsverify with --tlscacert, --tlscert and --tlskey (or --tls for server-only TLS), \
         or pass --insecure-tcp to accept the risk"
    )
}

/// A TCP listener that hands out connections once their TLS handshake completed. Handshakes
/// run on tasks of their own, so a slow or hostile client cannot hold up the others.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Start accepting on `tcp`.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting an API connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send((s, peer)).await;
                        }
                        Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local, task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accepting task is gone only when we are dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The group that owns the API sockets: `--group` (a name or a numeric gid; an error if it
/// does not exist), else `docker` when that group exists, else root — as dockerd.
pub fn socket_group(explicit: Option<&str>) -> Result<libc::gid_t> {
    let group_file = std::fs::read_to_string("/etc/group").unwrap_or_default();
    match explicit.filter(|g| !g.is_empty()) {
        Some(g) => match lookup_group(&group_file, g) {
            Some(gid) => Ok(gid),
            None => match g.parse::<libc::gid_t>() {
                Ok(gid) => Ok(gid),
                Err(_) => bail!("can't create unix socket: group {g} not found"),
            },
        },
        None => Ok(lookup_group(&group_file, "docker").unwrap_or(0)),
    }
}

/// A group's gid by name in `/etc/group`'s text.
fn lookup_group(group_file: &str, name: &str) -> Option<libc::gid_t> {
    group_file.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// Make `path` (a fresh socket) mode 0660, owned by root and `gid`.
pub fn secure_socket(path: &Path, gid: libc::gid_t) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(path, Some(0), Some(gid)).with_context(|| format!("chown {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        let cases = [
            ("unix:///run/x.sock", false, Addr::Unix("/run/x.sock".into())),
            ("tcp://127.0.0.1:2376", true, Addr::Tcp("127.0.0.1:2376".into())),
            ("tcp://127.0.0.1", true, Addr::Tcp("127.0.0.1:2376".into())),
            ("tcp://127.0.0.1", false, Addr::Tcp("127.0.0.1:2375".into())),
            ("tcp://:9000", true, Addr::Tcp("0.0.0.0:9000".into())),
            ("tcp://[::1]:9000", true, Addr::Tcp("[::1]:9000".into())),
            ("tcp://[::1]", true, Addr::Tcp("[::1]:2376".into())),
            ("tcp://localhost:1/", false, Addr::Tcp("localhost:1".into())),
        ];
        for (input, tls, want) in cases {
            assert_eq!(parse_host(input, tls).unwrap(), want, "{input}");
        }
        for bad in ["", "unix://", "/x.sock", "ssh://h", "tcp://h:x", "tcp://h:1/p", "fd://"] {
            assert!(parse_host(bad, true).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn looks_up_groups() {
        let file = "root:x:0:\ndocker:x:105:alice\nstaff:x:50:\n";
        assert_eq!(lookup_group(file, "docker"), Some(105));
        assert_eq!(lookup_group(file, "root"), Some(0));
        assert_eq!(lookup_group(file, "dock"), None);
        assert_eq!(lookup_group("", "docker"), None);
    }

    #[test]
    fn insecure_refusal_names_the_flag() {
        let m = insecure_refusal("0.0.0.0:2375");
        assert!(m.contains("--insecure-tcp") && m.contains("--tlsverify"), "{m}");
    }
}
