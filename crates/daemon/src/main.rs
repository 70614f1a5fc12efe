//! `berthd`: configuration, wiring, and the listeners. Everything else lives in the crates.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Deserialize;

mod listen;

/// The Berth daemon: a Docker-compatible container engine.
#[derive(Parser, Debug)]
#[command(name = "berthd", version, about)]
struct Args {
    /// Root directory of persistent state.
    #[arg(long = "data-root", short = 'g')]
    data_root: Option<PathBuf>,
    /// Root directory of runtime state (sockets).
    #[arg(long = "exec-root")]
    exec_root: Option<PathBuf>,
    /// Daemon socket(s) to listen on (unix:///path, tcp://host:port with TLS).
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// Serve TCP over TLS (server certificate only; implied by --tlsverify).
    #[arg(long = "tls", num_args = 0..=1, default_missing_value = "true")]
    tls: Option<bool>,
    /// Serve TCP over TLS and require client certificates signed by --tlscacert.
    #[arg(long = "tlsverify", num_args = 0..=1, default_missing_value = "true")]
    tlsverify: Option<bool>,
    /// Trust certs signed only by this CA (default ~/.docker/ca.pem).
    #[arg(long = "tlscacert")]
    tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default ~/.docker/cert.pem).
    #[arg(long = "tlscert")]
    tlscert: Option<PathBuf>,
    /// Path to TLS key file (default ~/.docker/key.pem).
    #[arg(long = "tlskey")]
    tlskey: Option<PathBuf>,
    /// Serve -H tcp:// without TLS: gives root on this host to anyone who can reach the port.
    #[arg(long = "insecure-tcp")]
    insecure_tcp: bool,
    /// Group for the unix sockets (default `docker` if it exists, else root).
    #[arg(short = 'G', long = "group")]
    group: Option<String>,
    /// User/group for user namespaces: `default` (dockremap), USER[:GROUP] or UID[:GID].
    #[arg(long = "userns-remap")]
    userns_remap: Option<String>,
    /// Path to a seccomp profile replacing the default one, or `unconfined`.
    #[arg(long = "seccomp-profile")]
    seccomp_profile: Option<PathBuf>,
    /// Daemon configuration file (dockerd's daemon.json keys where they apply).
    #[arg(long = "config-file")]
    config_file: Option<PathBuf>,
    /// Log level: debug, info, warn, error, fatal.
    #[arg(long = "log-level", short = 'l')]
    log_level: Option<String>,
    /// Default OCI runtime for containers (`berth`, or a name from `runtimes`).
    #[arg(long = "default-runtime")]
    default_runtime: Option<String>,
    /// Register an OCI runtime: NAME=PATH (repeatable).
    #[arg(long = "add-runtime")]
    add_runtime: Vec<String>,
    /// The berth-shim binary (default: next to berthd).
    #[arg(long = "shim", env = "BERTH_SHIM")]
    shim: Option<PathBuf>,
    /// Manage NAT and filtering rules (nftables); `--iptables=false` leaves the host's alone.
    #[arg(long = "iptables", num_args = 0..=1, default_missing_value = "true")]
    iptables: Option<bool>,
    /// The default bridge's address and prefix, e.g. 172.30.0.1/16.
    #[arg(long = "bip")]
    bip: Option<String>,
    /// The default bridge's device name.
    #[arg(long = "bridge", short = 'b')]
    bridge: Option<String>,
    /// MTU of bridges and container interfaces.
    #[arg(long = "mtu")]
    mtu: Option<u32>,
    /// An address pool for new networks: base=CIDR,size=PREFIXLEN (repeatable).
    #[arg(long = "default-address-pool")]
    default_address_pool: Vec<String>,
    /// A registry reached over plain HTTP or unverified TLS: host[:port] or CIDR (repeatable).
    #[arg(long = "insecure-registry")]
    insecure_registry: Vec<String>,
    /// Layers downloaded at once per pull (default 3).
    #[arg(long = "max-concurrent-downloads")]
    max_concurrent_downloads: Option<usize>,
    /// Layers uploaded at once per push (default 5).
    #[arg(long = "max-concurrent-uploads")]
    max_concurrent_uploads: Option<usize>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "kebab-case")]
struct FileConfig {
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    hosts: Vec<String>,
    log_level: Option<String>,
    default_runtime: Option<String>,
    runtimes: BTreeMap<String, RuntimeEntry>,
    log_opts: HashMap<String, String>,
    log_driver: Option<String>,
    iptables: Option<bool>,
    bip: Option<String>,
    bridge: Option<String>,
    mtu: Option<u32>,
    default_address_pools: Vec<berth_network::ipam::Pool>,
    insecure_registries: Vec<String>,
    max_concurrent_downloads: Option<usize>,
    max_concurrent_uploads: Option<usize>,
    tls: Option<bool>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
    group: Option<String>,
    userns_remap: Option<String>,
    seccomp_profile: Option<PathBuf>,
}

/// `base=10.10.0.0/16,size=24` as dockerd's `--default-address-pool`.
fn parse_pool(s: &str) -> Result<berth_network::ipam::Pool> {
    let (mut base, mut size) = (None, None);
    for kv in s.split(',') {
        match kv.split_once('=') {
            Some(("base", v)) => base = Some(v.parse().with_context(|| format!("--default-address-pool {s:?}: invalid base {v:?}"))?),
            Some(("size", v)) => size = Some(v.parse().with_context(|| format!("--default-address-pool {s:?}: invalid size {v:?}"))?),
            _ => bail!("--default-address-pool {s:?}: expected base=CIDR,size=N"),
        }
    }
    match (base, size) {
        (Some(base), Some(size)) => Ok(berth_network::ipam::Pool { base, size }),
        _ => bail!("--default-address-pool {s:?}: expected base=CIDR,size=N"),
    }
}

#[derive(Deserialize, Debug)]
struct RuntimeEntry {
    path: PathBuf,
}

fn raise_nofile() {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: get/setrlimit on valid structs; raising the soft limit to the hard one only.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

async fn run(args: Args) -> Result<()> {
    let file: FileConfig = match &args.config_file {
        Some(p) => {
            let b = std::fs::read(p).with_context(|| format!("read config file {}", p.display()))?;
            serde_json::from_slice(&b).with_context(|| format!("parse config file {}", p.display()))?
        }
        None => FileConfig::default(),
    };
    let level = args.log_level.clone().or(file.log_level.clone()).unwrap_or_else(|| "info".into());
    let level = if level == "fatal" { "error".to_string() } else { level };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(format!("{level},hyper=warn")).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Some(d) = &file.log_driver {
        if !matches!(d.as_str(), "json-file" | "local" | "none") {
            bail!("log driver {d} is not supported");
        }
    }
    let data_root = args.data_root.or(file.data_root).unwrap_or_else(|| "/var/lib/berth".into());
    let exec_root = args.exec_root.or(file.exec_root).unwrap_or_else(|| "/run/berth".into());
    let mut hosts = if args.hosts.is_empty() { file.hosts.clone() } else { args.hosts.clone() };
    if hosts.is_empty() {
        hosts.push("unix:///run/berth/berth.sock".into());
    }
    let tls = listen::TlsFlags {
        tls: args.tls.or(file.tls).unwrap_or(false),
        verify: args.tlsverify.or(file.tlsverify).unwrap_or(false),
        ca: args.tlscacert.or(file.tlscacert),
        cert: args.tlscert.or(file.tlscert),
        key: args.tlskey.or(file.tlskey),
    };
    // Every address is checked (and the TLS material loaded) before anything starts.
    let addrs = hosts.iter().map(|h| listen::parse_host(h, tls.enabled())).collect::<Result<Vec<_>>>()?;
    let has_tcp = addrs.iter().any(|a| matches!(a, listen::Addr::Tcp(_)));
    let tls_acceptor = if has_tcp && tls.enabled() {
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(listen::server_config(&tls)?)))
    } else {
        None
    };
    for a in &addrs {
        if let listen::Addr::Tcp(addr) = a {
            if tls_acceptor.is_none() && !args.insecure_tcp {
                bail!("{}", listen::insecure_refusal(addr));
            }
        }
    }
    let socket_gid = listen::socket_group(args.group.as_deref().or(file.group.as_deref()))?;
    let userns_remap = args.userns_remap.or(file.userns_remap).filter(|r| !r.is_empty());
    if let Some(r) = &userns_remap {
        berth_engine::userns_mappings(r).map_err(|e| anyhow::anyhow!("--userns-remap {r}: {e}"))?;
    }
    let seccomp_profile = args.seccomp_profile.or(file.seccomp_profile);
    let shim = match args.shim {
        Some(s) => s,
        None => std::env::current_exe()?.with_file_name("berth-shim"),
    };
    if !shim.is_file() {
        bail!("berth-shim not found at {} (use --shim)", shim.display());
    }
    let mut runtimes: BTreeMap<String, PathBuf> = file.runtimes.into_iter().map(|(k, v)| (k, v.path)).collect();
    for r in &args.add_runtime {
        let (name, path) = r.split_once('=').with_context(|| format!("--add-runtime {r:?}: expected NAME=PATH"))?;
        runtimes.insert(name.to_string(), PathBuf::from(path));
    }
    if !runtimes.contains_key("runc") {
        if let Some(p) = which("runc") {
            runtimes.insert("runc".into(), p);
        }
    }
    let default_runtime = args.default_runtime.or(file.default_runtime).unwrap_or_else(|| berth_engine::BUILTIN_RUNTIME.into());
    if default_runtime != berth_engine::BUILTIN_RUNTIME && !runtimes.contains_key(&default_runtime) {
        bail!("default runtime {default_runtime} is not registered");
    }
    raise_nofile();
    let mut pools = file.default_address_pools;
    for p in &args.default_address_pool {
        pools.push(parse_pool(p)?);
    }
    let network = berth_engine::NetworkConfig {
        firewall: args.iptables.or(file.iptables).unwrap_or(true),
        bridge: args.bridge.or(file.bridge),
        bip: args.bip.or(file.bip),
        pools,
        mtu: args.mtu.or(file.mtu),
    };
    let concurrency = |flag: Option<usize>, file: Option<usize>, default: usize, what: &str| match flag.or(file) {
        Some(0) => bail!("invalid max concurrent {what}: 0"),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let max_concurrent_downloads = concurrency(args.max_concurrent_downloads, file.max_concurrent_downloads, 3, "downloads")?;
    let max_concurrent_uploads = concurrency(args.max_concurrent_uploads, file.max_concurrent_uploads, 5, "uploads")?;
    let insecure_registries = if args.insecure_registry.is_empty() { file.insecure_registries } else { args.insecure_registry };
    let cfg = berth_engine::Config {
        data_root: data_root.clone(),
        exec_root,
        shim,
        runtimes,
        default_runtime,
        log_opts: file.log_opts,
        version: env!("CARGO_PKG_VERSION").to_string(),
        network,
        insecure_registries,
        max_concurrent_downloads,
        max_concurrent_uploads,
        userns_remap,
        seccomp_profile,
    };
    let engine = berth_engine::Engine::open(cfg).await.map_err(|e| anyhow::anyhow!("open engine: {e}"))?;
    let backend: Arc<dyn berth_engine::service::Backend> = Arc::new(engine.clone());
    let server = berth_server::Server::new(backend, berth_server::ServerInfo::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut sockets = Vec::new();
    for addr in addrs {
        let router = server.router();
        let mut rx = stop_rx.clone();
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        match addr {
            listen::Addr::Unix(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
                }
                let _ = std::fs::remove_file(&path);
                let listener =
                    tokio::net::UnixListener::bind(&path).with_context(|| format!("listen on {}", path.display()))?;
                listen::secure_socket(&path, socket_gid)?;
                tracing::info!("API listen on {}", path.display());
                sockets.push(path);
                tasks.push(tokio::spawn(berth_server::serve_unix(listener, router, stop)));
            }
            listen::Addr::Tcp(a) => {
                let tcp = tokio::net::TcpListener::bind(&a).await.with_context(|| format!("listen on tcp://{a}"))?;
                tracing::info!("API listen on {}", tcp.local_addr().map(|l| l.to_string()).unwrap_or(a));
                match &tls_acceptor {
                    Some(acceptor) => {
                        let l = listen::TlsListener::new(tcp, acceptor.clone())?;
                        tasks.push(tokio::spawn(berth_server::serve(l, router, stop)));
                    }
                    None => {
                        tracing::warn!("API served over plain TCP without TLS (--insecure-tcp): anyone who can reach it gets root on this host");
                        tasks.push(tokio::spawn(berth_server::serve(tcp, router, stop)));
                    }
                }
            }
        }
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down; containers keep running");
    let _ = stop_tx.send(true);
    engine.shutdown();
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berthd: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_json_remote_and_security_keys() {
        let file: FileConfig = serde_json::from_str(
            r#"{"hosts": ["tcp://0.0.0.0:2376"], "tls": true, "tlsverify": true, "tlscacert": "/c/ca.pem",
                "tlscert": "/c/cert.pem", "tlskey": "/c/key.pem", "group": "staff",
                "userns-remap": "default", "seccomp-profile": "/etc/berth/seccomp.json"}"#,
        )
        .unwrap();
        assert_eq!(file.hosts, ["tcp://0.0.0.0:2376"]);
        assert_eq!((file.tls, file.tlsverify), (Some(true), Some(true)));
        assert_eq!(file.tlscacert.as_deref(), Some(Path::new("/c/ca.pem")));
        assert_eq!(file.tlscert.as_deref(), Some(Path::new("/c/cert.pem")));
        assert_eq!(file.tlskey.as_deref(), Some(Path::new("/c/key.pem")));
        assert_eq!(file.group.as_deref(), Some("staff"));
        assert_eq!(file.userns_remap.as_deref(), Some("default"));
        assert_eq!(file.seccomp_profile.as_deref(), Some(Path::new("/etc/berth/seccomp.json")));
    }

    #[test]
    fn tls_flags_parse_like_dockerd() {
        let a = Args::try_parse_from(["berthd", "-H", "tcp://127.0.0.1:2376", "--tlsverify", "--tlscacert", "ca", "-G", "g"]).unwrap();
        assert_eq!((a.tls, a.tlsverify, a.group.as_deref()), (None, Some(true), Some("g")));
        let a = Args::try_parse_from(["berthd", "--tls=false", "--insecure-tcp"]).unwrap();
        assert_eq!((a.tls, a.insecure_tcp), (Some(false), true));
    }
}
