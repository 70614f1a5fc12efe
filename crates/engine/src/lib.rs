//! The engine: composes images, runtime, cgroups and the metadata store into the services the
//! API server calls ([`service`]).
//!
//! - [`Engine`] is opened once by berthd with a [`Config`]; it recovers every container from
//!   the metadata store and reconnects to their monitors.
//! - Containers, exec, logs, events and system information each live in their own module;
//!   the `service` traits are implemented in `backend.rs`, which only delegates.
#![deny(missing_docs)]

mod archive;
mod backend;
mod build;
mod commit;
mod containers;
mod events;
mod exec;
mod export;
mod health;
mod images;
mod lifecycle;
mod logs;
mod monitor_client;
mod networks;
mod resources;
mod sandbox;
mod security;
pub mod service;
mod specgen;
mod system;
mod top;
mod transfer;
mod userns;
mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use berth_errdefs::{Error, Result};

pub use userns::{userns_mappings, UsernsError, DEFAULT_REMAP_USER};

use crate::containers::Container;
use crate::events::Events;
use crate::exec::Exec;

/// How berthd runs: roots, binaries and defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent state (`--data-root`).
    pub data_root: PathBuf,
    /// Runtime state, sockets (`--exec-root`).
    pub exec_root: PathBuf,
    /// The `berth-shim` binary.
    pub shim: PathBuf,
    /// External OCI runtimes by name (`runtimes` in daemon.json, plus `runc` when found).
    pub runtimes: BTreeMap<String, PathBuf>,
    /// The runtime used when a container names none: `berth` (in-process) or a key of
    /// `runtimes`.
    pub default_runtime: String,
    /// Default `json-file` options (`log-opts` in daemon.json): `max-size`, `max-file`.
    pub log_opts: HashMap<String, String>,
    /// The daemon's version string.
    pub version: String,
    /// Networking: the default bridge, address pools, firewall switch.
    pub network: NetworkConfig,
    /// Registries reached over plain HTTP or unverified TLS: `host[:port]` or CIDR
    /// (`--insecure-registry`, `insecure-registries`).
    pub insecure_registries: Vec<String>,
    /// Layers downloaded at once per pull (`--max-concurrent-downloads`, default 3).
    pub max_concurrent_downloads: usize,
    /// Layers uploaded at once per push (`--max-concurrent-uploads`, default 5).
    pub max_concurrent_uploads: usize,
    /// `--userns-remap`: `default`, `user`, `user:group` or `uid:gid`; None: no remapping.
    pub userns_remap: Option<String>,
    /// `--seccomp-profile`: a profile file replacing the default one, or `unconfined`.
    pub seccomp_profile: Option<PathBuf>,
}

/// How berthd sets up networks (`--bip`, `--bridge`, `--iptables`, `default-address-pools`).
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Manage NAT and filtering rules (`--iptables`, default true).
    pub firewall: bool,
    /// The default bridge's device name (`--bridge`); None: `berth0` for the default data root,
    /// otherwise a name derived from the data root.
    pub bridge: Option<String>,
    /// The default bridge's address and prefix (`--bip`, e.g. `172.30.0.1/16`).
    pub bip: Option<String>,
    /// Pools new networks' subnets are carved from; empty: Docker's defaults.
    pub pools: Vec<berth_network::ipam::Pool>,
    /// MTU of bridges and container interfaces (`--mtu`); None: the kernel's default.
    pub mtu: Option<u32>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig { firewall: true, bridge: None, bip: None, pools: Vec::new(), mtu: None }
    }
}

/// The name of the in-process runtime.
pub const BUILTIN_RUNTIME: &str = "berth";

/// The engine. Cheap to share (`Arc`), safe to call from many tasks at once.
pub struct Engine {
    cfg: Config,
    store: berth_metadata::Store,
    images: images::Images,
    /// The registry client (pull, push, login).
    registry: berth_distribution::Client,
    events: Events,
    containers: RwLock<HashMap<String, Arc<Container>>>,
    names: Mutex<HashMap<String, String>>,
    execs: Mutex<HashMap<String, Arc<Exec>>>,
    cgroups: Option<berth_cgroups::Layout>,
    /// The cgroup directory every container of this daemon lives under, derived from the
    /// data root so that several daemons never share one.
    cgroup_parent: String,
    host: system::HostFacts,
    net: networks::Networking,
    #[allow(dead_code)] // read once volumes are wired in
    volumes: volumes::Volumes,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("cfg", &self.cfg).finish()
    }
}

fn short_hash(s: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

impl Engine {
    /// Open the engine on its roots: create directories, open the store, load images and
    /// containers, reconnect to running containers' monitors and apply restart policies.
    pub async fn open(cfg: Config) -> Result<Arc<Engine>> {
        for d in [&cfg.data_root, &cfg.exec_root] {
            std::fs::create_dir_all(d).map_err(|e| Error::internal(format!("create {}: {e}", d.display())))?;
        }
        std::fs::create_dir_all(cfg.data_root.join("containers"))?;
        std::fs::create_dir_all(cfg.exec_root.join("s"))?;
        build::sweep_tmp(&cfg.data_root);
        let store = berth_metadata::Store::open(&cfg.data_root.join("metadata.db"))
            .map_err(|e| Error::from_kind(&e))?;
        let images = images::Images::open(&cfg.data_root.join("image"), store.clone())?;
        let registry = berth_distribution::Client::new(berth_distribution::Options {
            insecure_registries: cfg.insecure_registries.clone(),
            max_concurrent_downloads: cfg.max_concurrent_downloads,
            max_concurrent_uploads: cfg.max_concurrent_uploads,
        })
        .map_err(|e| Error::from_kind(&e))?;
        let cgroups = berth_cgroups::probe().ok();
        let cgroup_parent = format!("berth-{}", short_hash(&cfg.data_root.display().to_string()));
        let host = system::HostFacts::probe();
        let net = networks::Networking::open(&cfg, store.clone()).await?;
        let volumes = volumes::Volumes::open(&cfg, store.clone())?;
        let engine = Arc::new(Engine {
            cfg,
            store,
            images,
            registry,
            events: Events::new(),
            containers: RwLock::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            cgroups,
            cgroup_parent,
            host,
            net,
            volumes,
        });
        engine.clone().recover().await?;
        engine.reconcile_networks().await;
        Ok(engine)
    }

    /// Stop serving. Containers keep running under their monitors; the daemon's parent cgroup
    /// is removed when no container is left in it.
    pub fn shutdown(&self) {
        use berth_cgroups::Manager;
        self.net.st.close_netns_pool();
        let idle = self.all().iter().all(|c| !c.record().state.running());
        if idle {
            self.net.shutdown();
        }
        if let (true, Some(layout)) = (idle, self.cgroups.as_ref()) {
            if let Ok(cg) = berth_cgroups::Cgroup::new(layout, &self.cgroup_parent) {
                let _ = cg.destroy();
            }
        }
    }

    fn get(&self, key: &str) -> Result<Arc<Container>> {
        let map = self.containers.read().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(key) {
            return Ok(c.clone());
        }
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let id = containers::resolve_key(key, &names, &map)?;
        map.get(&id).cloned().ok_or_else(|| Error::not_found(format!("No such container: {key}")))
    }

    fn all(&self) -> Vec<Arc<Container>> {
        self.containers.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}
