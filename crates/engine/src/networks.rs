//! Networks on the engine: the records, the network API (create, list, inspect, remove,
//! connect, disconnect, prune), and the daemon-wide pieces every container shares (bridge
//! devices, the firewall table, the embedded DNS servers).
//!
//! Invariants:
//! - The firewall is always rendered in full from [`NetState`] and applied atomically, so
//!   re-applying is harmless and nothing can dangle: a change is "edit state, re-render".
//! - Device names and the firewall table carry a hash of the data root, so daemons sharing a
//!   host never touch each other's devices or rules.
//! - Network create and remove hold `NetState::ops`; container setup only reads networks.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};

use berth_api::models as m;
use berth_errdefs::{Error, HasKind, Kind, Result};
use berth_network::firewall::{self, BridgeRules, PortForward, Ruleset};
use berth_network::files::ResolvConf;
use berth_network::ipam::{self, Allocator, Pool, Subnet};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::sandbox::Sandbox;
use crate::service::Filters;
use crate::{containers, Config, Engine};

fn kinded<E: HasKind>(e: E) -> Error {
    Error::from_kind(&e)
}

/// Network records, by id.
pub(crate) const NETWORKS: berth_metadata::Table = berth_metadata::Table::new("networks");

/// The predefined networks, which cannot be created or removed.
pub(crate) const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

/// What is stored about a network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NetRecord {
    pub id: String,
    pub name: String,
    /// `bridge`, `macvlan`, `host` or `null`.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    #[serde(default)]
    pub options: HashMap<String, String>,
    /// Address plans, IPv4 first.
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// Whether the subnets were given by the user (only then may containers ask for a static
    /// address, as in Docker).
    #[serde(default)]
    pub user_subnets: bool,
    /// The bridge device (bridge) or the parent interface (macvlan).
    #[serde(default)]
    pub device: String,
}

impl NetRecord {
    pub(crate) fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// Has addresses and devices (as opposed to `host` and `none`).
    pub(crate) fn has_endpoints(&self) -> bool {
        self.driver == "bridge" || self.driver == "macvlan"
    }

    /// The embedded DNS server runs for user-defined bridge networks.
    pub(crate) fn has_dns(&self) -> bool {
        self.is_bridge() && self.name != "bridge"
    }

    pub(crate) fn gateway_v4(&self) -> Option<IpAddr> {
        self.subnets.iter().map(|s| s.gateway).find(IpAddr::is_ipv4)
    }

    fn mtu(&self, default: Option<u32>) -> Option<u32> {
        self.options.get("com.docker.network.driver.mtu").and_then(|m| m.parse().ok()).or(default)
    }

    fn masquerade(&self) -> bool {
        self.options.get("com.docker.network.bridge.enable_ip_masquerade").map(|v| v != "false").unwrap_or(true)
    }
}

/// The engine's networking state.
pub(crate) struct Networking {
    pub(crate) st: Arc<NetState>,
}

/// Shared by the engine and the DNS servers.
pub(crate) struct NetState {
    pub(crate) cfg: crate::NetworkConfig,
    /// First 6 hex digits of the data root's hash: in every device and table name.
    pub(crate) hash6: String,
    pub(crate) netns_dir: PathBuf,
    pub(crate) table: String,
    pub(crate) store: berth_metadata::Store,
    pub(crate) nets: RwLock<BTreeMap<String, NetRecord>>,
    pub(crate) sandboxes: RwLock<HashMap<String, Sandbox>>,
    /// Address allocators by network id, one per subnet.
    pub(crate) allocs: Mutex<HashMap<String, Vec<Allocator>>>,
    /// Held host ports by container id.
    pub(crate) reservations: Mutex<HashMap<String, Vec<berth_network::ports::Reservation>>>,
    pub(crate) dns: Mutex<HashMap<String, berth_dns::DnsServer>>,
    fw: Box<dyn firewall::Backend>,
    fw_lock: tokio::sync::Mutex<()>,
    /// Network create/remove/connect/disconnect, one at a time.
    pub(crate) ops: tokio::sync::Mutex<()>,
    pub(crate) host_resolv: ResolvConf,
    pub(crate) links: berth_netlink::Links,
    /// Host veth ends deleted in the background after exits, a few at a time (a thousand
    /// containers may exit at once).
    pub(crate) link_deletes: tokio::sync::Semaphore,
    /// Network namespaces made ahead of need (see `sandbox::NetnsPool`).
    pub(crate) netns_pool: crate::sandbox::NetnsPool,
}

/// Serialises subnet choice across every berthd on the host: a subnet is picked by looking at
/// the host's routes, and two daemons looking at once would pick the same one.
struct HostLock(std::fs::File);

impl HostLock {
    fn take() -> Result<HostLock> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/run/berth-ipam.lock")
            .map_err(|e| Error::internal(format!("open /run/berth-ipam.lock: {e}")))?;
        // SAFETY: flock on an fd we own; released when the file is closed.
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) };
        Ok(HostLock(f))
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&self.0), libc::LOCK_UN) };
    }
}

impl Networking {
    /// Load networks and sandboxes, make the predefined networks (once), and make sure every
    /// bridge device exists with its addresses.
    pub(crate) async fn open(cfg: &Config, store: berth_metadata::Store) -> Result<Networking> {
        let hash = crate::short_hash(&cfg.data_root.display().to_string());
        let hash6 = hash[..6].to_string();
        let fw: Box<dyn firewall::Backend> = if cfg.network.firewall {
            firewall::backend_for_host().map_err(kinded)?
        } else {
            Box::new(firewall::Disabled)
        };
        let links = berth_netlink::Links::host().map_err(kinded)?;
        let host_resolv = ResolvConf::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        let st = Arc::new(NetState {
            cfg: cfg.network.clone(),
            hash6: hash6.clone(),
            netns_dir: cfg.exec_root.join("netns"),
            table: format!("berth-{hash6}"),
            store,
            nets: RwLock::new(BTreeMap::new()),
            sandboxes: RwLock::new(HashMap::new()),
            allocs: Mutex::new(HashMap::new()),
            reservations: Mutex::new(HashMap::new()),
            dns: Mutex::new(HashMap::new()),
            fw,
            fw_lock: tokio::sync::Mutex::new(()),
            ops: tokio::sync::Mutex::new(()),
            host_resolv,
            links,
            link_deletes: tokio::sync::Semaphore::new(16),
            netns_pool: crate::sandbox::NetnsPool::default(),
        });
        let recs: Vec<(String, NetRecord)> = st.store.list(NETWORKS).map_err(kinded)?;
        for (id, rec) in recs {
            st.nets.write().unwrap_or_else(|p| p.into_inner()).insert(id, rec);
        }
        let default_bridge = cfg.network.bridge.clone().unwrap_or_else(|| {
            if cfg.data_root == std::path::Path::new("/var/lib/berth") {
                "berth0".to_string()
            } else {
                format!("b{hash6}-0")
            }
        });
        for name in PREDEFINED {
            if st.by_name(name).is_some() {
                continue;
            }
            let rec = match name {
                "bridge" => {
                    let _lock = HostLock::take()?;
                    let subnet = match &cfg.network.bip {
                        Some(bip) => {
                            let net: IpNet = bip.parse().map_err(|_| Error::invalid(format!("invalid --bip {bip:?}: expected an address with a prefix, e.g. 172.30.0.1/16")))?;
                            Subnet::parse(&net.trunc().to_string(), Some(&net.addr().to_string()), None).map_err(kinded)?
                        }
                        None => {
                            let used = st.links.used_subnets().await.map_err(kinded)?;
                            let net = ipam::next_subnet(&st.pools(), &used, false).map_err(kinded)?;
                            Subnet::from_net(net)
                        }
                    };
                    let rec = NetRecord {
                        id: containers::new_id(),
                        name: name.into(),
                        driver: "bridge".into(),
                        created: containers::now_rfc3339(),
                        internal: false,
                        attachable: false,
                        enable_ipv6: false,
                        labels: HashMap::new(),
                        options: HashMap::from([
                            ("com.docker.network.bridge.default_bridge".to_string(), "true".to_string()),
                            ("com.docker.network.bridge.enable_icc".into(), "true".into()),
                            ("com.docker.network.bridge.enable_ip_masquerade".into(), "true".into()),
                            ("com.docker.network.bridge.host_binding_ipv4".into(), "0.0.0.0".into()),
                            ("com.docker.network.bridge.name".into(), default_bridge.clone()),
                            ("com.docker.network.driver.mtu".into(), cfg.network.mtu.unwrap_or(1500).to_string()),
                        ]),
                        subnets: vec![subnet],
                        user_subnets: cfg.network.bip.is_some(),
                        device: default_bridge.clone(),
                    };
                    st.ensure_device(&rec).await?;
                    rec
                }
                other => NetRecord {
                    id: containers::new_id(),
                    name: other.into(),
                    driver: if other == "none" { "null".into() } else { "host".into() },
                    created: containers::now_rfc3339(),
                    internal: false,
                    attachable: false,
                    enable_ipv6: false,
                    labels: HashMap::new(),
                    options: HashMap::new(),
                    subnets: Vec::new(),
                    user_subnets: false,
                    device: String::new(),
                },
            };
            st.store.write(|tx| tx.put(NETWORKS, &rec.id, &rec)).map_err(kinded)?;
            st.nets.write().unwrap_or_else(|p| p.into_inner()).insert(rec.id.clone(), rec);
        }
        // Devices go away with a reboot (or an operator): bring back what the records say.
        let bridges: Vec<NetRecord> = st.all().into_iter().filter(NetRecord::is_bridge).collect();
        for rec in &bridges {
            if let Err(e) = st.ensure_device(rec).await {
                tracing::warn!(network = %rec.name, error = %e, "cannot restore bridge device");
            }
        }
        for rec in st.all() {
            let allocs = rec.subnets.iter().map(Allocator::new).collect();
            st.allocs.lock().unwrap_or_else(|p| p.into_inner()).insert(rec.id.clone(), allocs);
        }
        let sbs: Vec<(String, Sandbox)> = st.store.list(crate::sandbox::SANDBOXES).map_err(kinded)?;
        for (id, sb) in sbs {
            st.claim_addresses(&sb);
            st.sandboxes.write().unwrap_or_else(|p| p.into_inner()).insert(id, sb);
        }
        st.sweep_netns_pool();
        st.refill_netns_pool();
        Ok(Networking { st })
    }
}

impl Networking {
    /// berthd stops with no container running: the namespace directory's own mount (made
    /// private when the first namespace was pinned) goes too, so the exec root can be removed.
    pub(crate) fn shutdown(&self) {
        let dir = &self.st.netns_dir;
        if dir.exists() && self.st.sandboxes.read().unwrap_or_else(|p| p.into_inner()).is_empty() {
            if let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) {
                // SAFETY: umount2 on a path we own; failure (not a mount) is harmless.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

/// A network by id, name or unique id prefix, in that order.
pub(crate) fn find<'a>(nets: &'a BTreeMap<String, NetRecord>, key: &str) -> Result<&'a NetRecord> {
    if let Some(n) = nets.get(key).or_else(|| nets.values().find(|n| n.name == key)) {
        return Ok(n);
    }
    let found: Vec<&NetRecord> = if key.is_empty() { Vec::new() } else { nets.values().filter(|n| n.id.starts_with(key)).collect() };
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::not_found(format!("network {key} not found"))),
        _ => Err(Error::invalid(format!("network {key} is ambiguous ({} matches found based on ID prefix)", found.len()))),
    }
}

impl NetState {
    pub(crate) fn pools(&self) -> Vec<Pool> {
        if self.cfg.pools.is_empty() {
            ipam::default_pools()
        } else {
            self.cfg.pools.clone()
        }
    }

    pub(crate) fn all(&self) -> Vec<NetRecord> {
        self.nets.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<NetRecord> {
        self.nets.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    fn by_name(&self, name: &str) -> Option<NetRecord> {
        self.nets.read().unwrap_or_else(|p| p.into_inner()).values().find(|n| n.name == name).cloned()
    }

    /// A network by full id, name, or unique id prefix (Docker's order).
    pub(crate) fn resolve(&self, key: &str) -> Result<NetRecord> {
        find(&self.nets.read().unwrap_or_else(|p| p.into_inner()), key).cloned()
    }

    /// Create the bridge device of `rec` if missing, with its gateway addresses.
    pub(crate) async fn ensure_device(&self, rec: &NetRecord) -> Result<()> {
        if !rec.is_bridge() {
            return Ok(());
        }
        let idx = self.links.ensure_bridge(&rec.device, rec.mtu(self.cfg.mtu)).await.map_err(kinded)?;
        let addrs: Vec<IpNet> = rec.subnets.iter().map(Subnet::gateway_cidr).collect();
        self.links.add_addrs(idx, &addrs).await.map_err(kinded)?;
        if self.cfg.firewall {
            let _ = berth_netlink::set_sysctl("net.ipv4.ip_forward", "1");
            let _ = berth_netlink::set_sysctl(&format!("net.ipv4.conf.{}.route_localnet", rec.device), "1");
            if rec.enable_ipv6 {
                let _ = berth_netlink::set_sysctl("net.ipv6.conf.all.forwarding", "1");
            }
        }
        Ok(())
    }

    /// Mark the addresses a loaded sandbox holds as taken.
    pub(crate) fn claim_addresses(&self, sb: &Sandbox) {
        let mut allocs = self.allocs.lock().unwrap_or_else(|p| p.into_inner());
        for ep in &sb.endpoints {
            if let Some(list) = allocs.get_mut(&ep.network_id) {
                for a in &ep.addrs {
                    for al in list.iter_mut() {
                        let _ = al.reserve(a.addr());
                    }
                }
            }
        }
    }

    /// Render the whole firewall from the current state and apply it.
    pub(crate) async fn apply_firewall(self: &Arc<Self>) -> Result<()> {
        let _g = self.fw_lock.lock().await;
        let ruleset = self.ruleset();
        let st = self.clone();
        tokio::task::spawn_blocking(move || st.fw.apply(&st.table, &ruleset))
            .await
            .map_err(|e| Error::internal(format!("apply firewall: {e}")))?
            .map_err(kinded)
    }

    fn ruleset(&self) -> Ruleset {
        let nets = self.all();
        let bridges = nets
            .iter()
            .filter(|n| n.is_bridge())
            .map(|n| BridgeRules {
                device: n.device.clone(),
                subnets: n.subnets.iter().map(|s| s.subnet).collect(),
                internal: n.internal,
                masquerade: n.masquerade(),
            })
            .collect();
        let sbs = self.sandboxes.read().unwrap_or_else(|p| p.into_inner());
        let mut forwards = Vec::new();
        let mut ids: Vec<&String> = sbs.keys().collect();
        ids.sort();
        for id in ids {
            for p in &sbs[id].ports {
                forwards.push(PortForward {
                    proto: p.binding.proto,
                    host_ip: p.binding.host_ip,
                    host_port: p.host_port,
                    container_ip: p.container_ip,
                    container_port: p.binding.container_port,
                    device: p.device.clone(),
                });
            }
        }
        Ruleset { bridges, forwards }
    }

    /// Start the embedded DNS server of a user-defined bridge network.
    pub(crate) async fn start_dns(self: &Arc<Self>, rec: &NetRecord) {
        let Some(gw) = rec.gateway_v4().filter(|_| rec.has_dns()) else { return };
        if self.dns.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&rec.id) {
            return;
        }
        let lookup: Arc<dyn berth_dns::Lookup> = Arc::new(DnsView(Arc::downgrade(self)));
        match berth_dns::DnsServer::start(SocketAddr::new(gw, 53), lookup).await {
            Ok(srv) => {
                self.dns.lock().unwrap_or_else(|p| p.into_inner()).insert(rec.id.clone(), srv);
            }
            Err(e) => tracing::warn!(network = %rec.name, error = %e, "cannot start the embedded DNS server"),
        }
    }
}

/// The DNS servers' view of the state: names of containers on the network a query came to.
struct DnsView(Weak<NetState>);

impl DnsView {
    fn network_of(st: &NetState, server: IpAddr) -> Option<NetRecord> {
        st.nets.read().unwrap_or_else(|p| p.into_inner()).values().find(|n| n.has_dns() && n.subnets.iter().any(|s| s.gateway == server)).cloned()
    }
}

impl berth_dns::Lookup for DnsView {
    fn lookup(&self, server: IpAddr, _client: IpAddr, name: &str) -> Option<Vec<IpAddr>> {
        let st = self.0.upgrade()?;
        let net = Self::network_of(&st, server)?;
        let name = name.strip_suffix(&format!(".{}", net.name.to_ascii_lowercase())).unwrap_or(name);
        let sbs = st.sandboxes.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for sb in sbs.values() {
            for ep in sb.endpoints.iter().filter(|e| e.network_id == net.id) {
                if ep.dns_names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    out.extend(ep.addrs.iter().map(IpNet::addr));
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn reverse(&self, server: IpAddr, _client: IpAddr, ip: IpAddr) -> Option<String> {
        let st = self.0.upgrade()?;
        let net = Self::network_of(&st, server)?;
        let sbs = st.sandboxes.read().unwrap_or_else(|p| p.into_inner());
        sbs.values().flat_map(|sb| sb.endpoints.iter().map(move |e| (sb, e))).find_map(|(sb, ep)| {
            (ep.network_id == net.id && ep.addrs.iter().any(|a| a.addr() == ip)).then(|| format!("{}.{}", sb.name, net.name))
        })
    }

    fn upstreams(&self, client: IpAddr) -> Vec<SocketAddr> {
        let Some(st) = self.0.upgrade() else { return Vec::new() };
        let sbs = st.sandboxes.read().unwrap_or_else(|p| p.into_inner());
        let own = sbs.values().find(|sb| sb.endpoints.iter().any(|e| e.addrs.iter().any(|a| a.addr() == client))).map(|sb| sb.upstreams.clone());
        let servers = own.unwrap_or_else(|| st.host_resolv.nameservers.clone());
        servers.into_iter().map(|ip| SocketAddr::new(ip, 53)).collect()
    }
}

fn valid_network_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric()) && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl Engine {
    /// After containers are recovered: drop sandboxes whose container is gone or not running,
    /// hold the published ports again, apply the firewall and start the DNS servers.
    pub(crate) async fn reconcile_networks(self: &Arc<Self>) {
        let st = self.net.st.clone();
        let stale: Vec<String> = {
            let sbs = st.sandboxes.read().unwrap_or_else(|p| p.into_inner());
            sbs.keys()
                .filter(|id| self.get(id).map(|c| !c.record().state.running()).unwrap_or(true))
                .cloned()
                .collect()
        };
        for id in stale {
            self.teardown_sandbox(&id).await;
        }
        let live: Vec<Sandbox> = st.sandboxes.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for sb in live {
            let mut held = Vec::new();
            for p in &sb.ports {
                let mut b = p.binding.clone();
                b.host_port = p.host_port;
                b.host_port_end = p.host_port;
                match berth_network::ports::reserve(&b) {
                    Ok((r, _)) => held.push(r),
                    Err(e) => tracing::warn!(container = %sb.container_id, error = %e, "cannot hold published port again"),
                }
            }
            st.reservations.lock().unwrap_or_else(|p| p.into_inner()).insert(sb.container_id.clone(), held);
        }
        if let Err(e) = st.apply_firewall().await {
            tracing::warn!(error = %e, "cannot apply firewall rules");
        }
        for rec in st.all() {
            st.start_dns(&rec).await;
        }
    }

    fn network_inspect_of(&self, rec: &NetRecord, with_containers: bool) -> m::NetworkInspect {
        let config: Vec<m::IpamConfig> = rec
            .subnets
            .iter()
            .map(|s| m::IpamConfig {
                subnet: Some(s.subnet.to_string()),
                ip_range: s.range.map(|r| r.to_string()),
                gateway: Some(s.gateway.to_string()),
                auxiliary_addresses: None,
            })
            .collect();
        let mut containers_map = HashMap::new();
        if with_containers {
            let sbs = self.net.st.sandboxes.read().unwrap_or_else(|p| p.into_inner());
            for sb in sbs.values() {
                for ep in sb.endpoints.iter().filter(|e| e.network_id == rec.id) {
                    let v4 = ep.addrs.iter().find(|a| a.addr().is_ipv4()).map(|a| a.to_string()).unwrap_or_default();
                    let v6 = ep.addrs.iter().find(|a| a.addr().is_ipv6()).map(|a| a.to_string()).unwrap_or_default();
                    containers_map.insert(
                        sb.container_id.clone(),
                        m::EndpointResource {
                            name: Some(sb.name.clone()),
                            endpoint_id: Some(ep.endpoint_id.clone()),
                            mac_address: Some(ep.mac.map(ipam::format_mac).unwrap_or_default()),
                            ipv4_address: Some(v4),
                            ipv6_address: Some(v6),
                        },
                    );
                }
            }
        }
        m::NetworkInspect {
            name: Some(rec.name.clone()),
            id: Some(rec.id.clone()),
            created: serde_json::from_value(serde_json::Value::String(rec.created.clone())).ok(),
            scope: Some("local".into()),
            driver: Some(rec.driver.clone()),
            enable_ipv4: Some(rec.driver != "host" && rec.driver != "null"),
            enable_ipv6: Some(rec.enable_ipv6),
            ipam: Some(m::Ipam { driver: Some("default".into()), config: Some(config), options: None }),
            internal: Some(rec.internal),
            attachable: Some(rec.attachable),
            ingress: Some(false),
            config_from: Some(m::ConfigReference { network: Some(String::new()) }),
            config_only: Some(false),
            options: Some(rec.options.clone()),
            labels: Some(rec.labels.clone()),
            containers: Some(containers_map),
            ..Default::default()
        }
    }

    /// `GET /networks`.
    pub(crate) fn list_networks(&self, filters: Filters) -> Result<Vec<m::NetworkInspect>> {
        for k in filters.keys() {
            if !["driver", "id", "label", "name", "scope", "type", "dangling"].contains(&k.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{k}'")));
            }
        }
        let used = self.networks_in_use();
        let mut out = Vec::new();
        for rec in self.net.st.all() {
            if !network_matches(&rec, &filters, used.contains_key(&rec.id))? {
                continue;
            }
            out.push(self.network_inspect_of(&rec, false));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Network ids some container (running or not) is configured for, with one of them.
    fn networks_in_use(&self) -> HashMap<String, String> {
        let mut used = HashMap::new();
        for c in self.all() {
            let rec = c.record();
            for key in rec.networks.keys() {
                if let Ok(n) = self.net.st.resolve(key) {
                    used.insert(n.id, rec.id.clone());
                }
            }
        }
        used
    }

    /// `GET /networks/{id}`.
    pub(crate) fn inspect_network(&self, id: &str, _verbose: bool) -> Result<m::NetworkInspect> {
        let rec = self.net.st.resolve(id)?;
        Ok(self.network_inspect_of(&rec, true))
    }

    /// `POST /networks/create`.
    pub(crate) async fn create_network(self: &Arc<Self>, req: m::NetworkCreateRequest) -> Result<m::NetworkCreateResponse> {
        let st = self.net.st.clone();
        let name = req.name.trim().to_string();
        if name.is_empty() {
            return Err(Error::invalid("network name cannot be empty"));
        }
        if !valid_network_name(&name) {
            return Err(Error::invalid(format!("invalid network name \"{name}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
        }
        let driver = req.driver.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| "bridge".into());
        match driver.as_str() {
            "bridge" | "macvlan" => {}
            "host" | "null" | "none" => {
                return Err(Error::new(Kind::PermissionDenied, format!("only one instance of \"{driver}\" network is allowed")));
            }
            other => return Err(Error::not_found(format!("plugin \"{other}\" not found"))),
        }
        if req.scope.as_deref().is_some_and(|s| !s.is_empty() && s != "local") {
            return Err(Error::invalid(format!("scope {:?} is not supported", req.scope.as_deref().unwrap_or(""))));
        }
        let ipam_req = req.ipam.clone().unwrap_or_default();
        if let Some(d) = ipam_req.driver.as_deref().filter(|d| !d.is_empty() && *d != "default") {
            return Err(Error::not_found(format!("plugin \"{d}\" not found")));
        }
        let options = req.options.clone().unwrap_or_default();
        let enable_ipv6 = req.enable_ipv6.unwrap_or(false);
        if PREDEFINED.contains(&name.as_str()) {
            return Err(Error::new(Kind::PermissionDenied, format!("operation is not permitted on predefined {name} network")));
        }
        let _ops = st.ops.lock().await;
        if st.by_name(&name).is_some() {
            return Err(Error::conflict(format!("network with name {name} already exists")));
        }
        let id = containers::new_id();
        let mut subnets = Vec::new();
        for c in ipam_req.config.clone().unwrap_or_default() {
            let Some(sub) = c.subnet.as_deref().filter(|s| !s.is_empty()) else {
                if c.gateway.is_some() || c.ip_range.is_some() {
                    return Err(Error::invalid("invalid pool request: a gateway or ip range needs a subnet"));
                }
                continue;
            };
            let s = Subnet::parse(sub, c.gateway.as_deref().filter(|g| !g.is_empty()), c.ip_range.as_deref().filter(|r| !r.is_empty())).map_err(kinded)?;
            if s.subnet.addr().is_ipv6() && !enable_ipv6 {
                return Err(Error::invalid(format!("IPv6 subnet {} given but IPv6 is not enabled (--ipv6)", s.subnet)));
            }
            subnets.push(s);
        }
        let user_subnets = !subnets.is_empty();
        for s in &subnets {
            for other in st.all() {
                if other.subnets.iter().any(|o| ipam::overlaps(&o.subnet, &s.subnet)) {
                    return Err(Error::new(Kind::PermissionDenied, format!("invalid pool request: Pool overlaps with other one on this address space ({} of network {})", s.subnet, other.name)));
                }
            }
        }
        let _lock = HostLock::take()?;
        if !subnets.iter().any(|s| s.subnet.addr().is_ipv4()) {
            let mut used = st.links.used_subnets().await.map_err(kinded)?;
            used.extend(st.all().iter().flat_map(|n| n.subnets.iter().map(|s| s.subnet)));
            let net = ipam::next_subnet(&st.pools(), &used, false).map_err(kinded)?;
            subnets.insert(0, Subnet::from_net(net));
        }
        if enable_ipv6 && !subnets.iter().any(|s| s.subnet.addr().is_ipv6()) {
            // A unique local /64 derived from the network id.
            let b = hex_bytes(&id);
            let addr = std::net::Ipv6Addr::new(0xfd00 | b[0] as u16, (b[1] as u16) << 8 | b[2] as u16, (b[3] as u16) << 8 | b[4] as u16, 0, 0, 0, 0, 0);
            let net = IpNet::new(IpAddr::V6(addr), 64).map_err(|e| Error::internal(e.to_string()))?;
            subnets.push(Subnet::from_net(net));
        }
        subnets.sort_by_key(|s| s.subnet.addr().is_ipv6());
        let device = match driver.as_str() {
            "bridge" => options.get("com.docker.network.bridge.name").cloned().unwrap_or_else(|| format!("b{}-{}", st.hash6, &id[..6])),
            _ => {
                let parent = options.get("parent").cloned().filter(|p| !p.is_empty()).ok_or_else(|| Error::invalid("macvlan networks need a parent interface: -o parent=IFACE"))?;
                if let Some(mode) = options.get("macvlan_mode").filter(|m| m.as_str() != "bridge") {
                    return Err(Error::not_implemented(format!("macvlan mode {mode:?} is not supported; only bridge")));
                }
                if st.links.index(&parent).await.map_err(kinded)?.is_none() {
                    return Err(Error::not_found(format!("invalid subinterface vlan name {parent}, example formatting is eth0.10 (parent interface {parent} not found)")));
                }
                parent
            }
        };
        if device.len() > 15 {
            return Err(Error::invalid(format!("bridge name {device:?} is longer than 15 characters")));
        }
        let rec = NetRecord {
            id: id.clone(),
            name: name.clone(),
            driver: driver.clone(),
            created: containers::now_rfc3339(),
            internal: req.internal.unwrap_or(false),
            attachable: req.attachable.unwrap_or(false),
            enable_ipv6,
            labels: req.labels.clone().unwrap_or_default(),
            options,
            subnets,
            user_subnets,
            device,
        };
        if let Err(e) = st.ensure_device(&rec).await {
            if rec.is_bridge() {
                let _ = st.links.delete(&rec.device).await;
            }
            return Err(e);
        }
        drop(_lock);
        if let Err(e) = st.store.write(|tx| tx.put(NETWORKS, &rec.id, &rec)) {
            if rec.is_bridge() {
                let _ = st.links.delete(&rec.device).await;
            }
            return Err(kinded(e));
        }
        st.nets.write().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), rec.clone());
        st.allocs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), rec.subnets.iter().map(Allocator::new).collect());
        if rec.is_bridge() {
            if let Err(e) = st.apply_firewall().await {
                tracing::warn!(error = %e, "cannot apply firewall rules");
            }
            st.start_dns(&rec).await;
        }
        self.emit_network("create", &rec, None);
        Ok(m::NetworkCreateResponse { id, warning: String::new() })
    }

    pub(crate) fn emit_network(&self, action: &str, rec: &NetRecord, container: Option<&str>) {
        let mut a = HashMap::from([("name".to_string(), rec.name.clone()), ("type".to_string(), rec.driver.clone())]);
        if let Some(c) = container {
            a.insert("container".into(), c.to_string());
        }
        self.events.emit(m::EventMessageTypeEnum::NETWORK, action, &rec.id, a);
    }

    /// `DELETE /networks/{id}`.
    pub(crate) async fn remove_network(self: &Arc<Self>, key: &str) -> Result<()> {
        let st = self.net.st.clone();
        let _ops = st.ops.lock().await;
        let rec = st.resolve(key)?;
        self.remove_network_locked(&rec).await
    }

    async fn remove_network_locked(self: &Arc<Self>, rec: &NetRecord) -> Result<()> {
        let st = &self.net.st;
        if PREDEFINED.contains(&rec.name.as_str()) {
            return Err(Error::new(Kind::PermissionDenied, format!("{} is a pre-defined network and cannot be removed", rec.name)));
        }
        let active = st.sandboxes.read().unwrap_or_else(|p| p.into_inner()).values().any(|sb| sb.endpoints.iter().any(|e| e.network_id == rec.id));
        if active {
            return Err(Error::new(Kind::PermissionDenied, format!("error while removing network: network {} id {} has active endpoints", rec.name, rec.id)));
        }
        st.dns.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.id);
        st.store.write(|tx| tx.delete(NETWORKS, &rec.id)).map_err(kinded)?;
        st.nets.write().unwrap_or_else(|p| p.into_inner()).remove(&rec.id);
        st.allocs.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.id);
        if rec.is_bridge() {
            if let Err(e) = st.links.delete(&rec.device).await {
                tracing::warn!(device = %rec.device, error = %e, "cannot delete bridge");
            }
            if let Err(e) = st.apply_firewall().await {
                tracing::warn!(error = %e, "cannot apply firewall rules");
            }
        }
        self.emit_network("destroy", rec, None);
        Ok(())
    }

    /// `POST /networks/prune`: user networks no container is connected to.
    pub(crate) async fn prune_networks(self: &Arc<Self>, filters: Filters) -> Result<m::NetworkPruneResponse> {
        for k in filters.keys() {
            if !["until", "label", "label!"].contains(&k.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{k}'")));
            }
        }
        let until = filters.get("until").and_then(|v| v.first()).map(|u| u.parse::<f64>().ok().unwrap_or_else(|| containers::parse_rfc3339(u)));
        let st = self.net.st.clone();
        let _ops = st.ops.lock().await;
        let used = self.networks_in_use();
        let mut deleted = Vec::new();
        for rec in st.all() {
            if PREDEFINED.contains(&rec.name.as_str()) || used.contains_key(&rec.id) {
                continue;
            }
            if let Some(u) = until {
                if containers::parse_rfc3339(&rec.created) >= u {
                    continue;
                }
            }
            if !labels_match(&rec.labels, &filters) {
                continue;
            }
            if self.remove_network_locked(&rec).await.is_ok() {
                deleted.push(rec.name.clone());
            }
        }
        Ok(m::NetworkPruneResponse { networks_deleted: Some(deleted) })
    }

    /// `POST /networks/{id}/connect`.
    pub(crate) async fn connect_network(self: &Arc<Self>, key: &str, req: m::NetworkConnectRequest) -> Result<()> {
        let st = self.net.st.clone();
        let net = st.resolve(key)?;
        let c = self.get(&req.container)?;
        let _op = c.op.lock().await;
        let _ops = st.ops.lock().await;
        let rec = c.record();
        let mode = rec.host_config.network_mode.clone().unwrap_or_default();
        if mode == "host" || net.driver == "host" {
            return Err(Error::new(Kind::PermissionDenied, "container cannot be disconnected from host network or connected to host network"));
        }
        if mode.starts_with("container:") || mode == "none" || net.driver == "null" {
            return Err(Error::new(Kind::PermissionDenied, "container sharing network namespace with another container or host cannot be connected to any other network"));
        }
        if rec.networks.keys().any(|k| st.resolve(k).map(|n| n.id == net.id).unwrap_or(false)) {
            return Err(Error::new(Kind::PermissionDenied, format!("endpoint with name {} already exists in network {}", rec.name.trim_start_matches('/'), net.name)));
        }
        let settings = req.endpoint_config.clone().unwrap_or_default();
        crate::sandbox::validate_endpoint(&net, &settings)?;
        if rec.state.running() {
            self.attach_live(&c, &net, &settings).await?;
        }
        c.update(|r| {
            r.networks.insert(net.name.clone(), settings.clone());
        });
        self.persist(&c)?;
        self.emit_network("connect", &net, Some(&c.id));
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub(crate) async fn disconnect_network(self: &Arc<Self>, key: &str, req: m::NetworkDisconnectRequest) -> Result<()> {
        let st = self.net.st.clone();
        let net = st.resolve(key)?;
        let c = match self.get(&req.container) {
            Ok(c) => c,
            Err(e) if req.force.unwrap_or(false) && e.kind() == Kind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let _op = c.op.lock().await;
        let _ops = st.ops.lock().await;
        let rec = c.record();
        if net.driver == "host" || rec.host_config.network_mode.as_deref() == Some("host") {
            return Err(Error::new(Kind::PermissionDenied, "container cannot be disconnected from host network or connected to host network"));
        }
        let Some(key) = rec.networks.keys().find(|k| st.resolve(k).map(|n| n.id == net.id).unwrap_or(false)).cloned() else {
            return Err(Error::new(Kind::PermissionDenied, format!("container {} is not connected to network {}", rec.id, net.name)));
        };
        if rec.state.running() {
            self.detach_live(&c, &net).await?;
        }
        c.update(|r| {
            r.networks.remove(&key);
        });
        self.persist(&c)?;
        self.emit_network("disconnect", &net, Some(&c.id));
        Ok(())
    }
}

fn hex_bytes(id: &str) -> Vec<u8> {
    (0..id.len() / 2).filter_map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).ok()).collect()
}

fn labels_match(labels: &HashMap<String, String>, filters: &Filters) -> bool {
    let has = |f: &str| crate::backend::label_matches(labels, f);
    filters.get("label").is_none_or(|fs| fs.iter().all(|f| has(f))) && filters.get("label!").is_none_or(|fs| fs.iter().all(|f| !has(f)))
}

fn network_matches(rec: &NetRecord, filters: &Filters, in_use: bool) -> Result<bool> {
    for (k, vals) in filters {
        if vals.is_empty() {
            continue;
        }
        let ok = match k.as_str() {
            "driver" => vals.contains(&rec.driver),
            "id" => vals.iter().any(|v| rec.id.starts_with(v.as_str())),
            "name" => vals.iter().any(|v| rec.name.contains(v.as_str())),
            "scope" => vals.iter().any(|v| v == "local"),
            "label" => labels_match(&rec.labels, &Filters::from([("label".to_string(), vals.clone())])),
            "type" => {
                let builtin = PREDEFINED.contains(&rec.name.as_str());
                let mut any = false;
                for v in vals {
                    match v.as_str() {
                        "builtin" => any |= builtin,
                        "custom" => any |= !builtin,
                        other => return Err(Error::invalid(format!("invalid filter: 'type'='{other}'"))),
                    }
                }
                any
            }
            "dangling" => {
                let want = match vals[0].as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => return Err(Error::invalid(format!("invalid filter 'dangling={other}'"))),
                };
                let dangling = !in_use && !PREDEFINED.contains(&rec.name.as_str());
                dangling == want
            }
            _ => true,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, driver: &str, labels: &[(&str, &str)]) -> NetRecord {
        NetRecord {
            id: format!("{name}0123456789"),
            name: name.into(),
            driver: driver.into(),
            created: String::new(),
            internal: false,
            attachable: false,
            enable_ipv6: false,
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            options: HashMap::new(),
            subnets: Vec::new(),
            user_subnets: false,
            device: String::new(),
        }
    }

    fn f(pairs: &[(&str, &[&str])]) -> Filters {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn network_filters_match_as_docker() {
        let web = net("web", "bridge", &[("env", "prod"), ("team", "")]);
        let host = net("host", "host", &[]);
        for (rec, filters, in_use, want) in [
            (&web, f(&[("driver", &["bridge"])]), false, true),
            (&web, f(&[("driver", &["macvlan"])]), false, false),
            (&web, f(&[("name", &["we"])]), false, true),
            (&web, f(&[("id", &["web01"])]), false, true),
            (&web, f(&[("id", &["x"])]), false, false),
            (&web, f(&[("label", &["env=prod"])]), false, true),
            (&web, f(&[("label", &["env=dev"])]), false, false),
            (&web, f(&[("label", &["team"])]), false, true),
            (&web, f(&[("type", &["custom"])]), false, true),
            (&host, f(&[("type", &["custom"])]), false, false),
            (&host, f(&[("type", &["builtin"])]), false, true),
            (&web, f(&[("dangling", &["true"])]), false, true),
            (&web, f(&[("dangling", &["true"])]), true, false),
            (&host, f(&[("dangling", &["true"])]), false, false),
            (&web, f(&[("scope", &["local"])]), false, true),
            (&web, f(&[("scope", &["swarm"])]), false, false),
        ] {
            assert_eq!(network_matches(rec, &filters, in_use).unwrap(), want, "{} {filters:?} in_use={in_use}", rec.name);
        }
        assert_eq!(network_matches(&web, &f(&[("type", &["odd"])]), false).unwrap_err().kind(), Kind::InvalidArgument);
        assert_eq!(network_matches(&web, &f(&[("dangling", &["maybe"])]), false).unwrap_err().kind(), Kind::InvalidArgument);
    }

    #[test]
    fn network_names_follow_dockers_rule() {
        for (name, ok) in [("web", true), ("my-net_1.2", true), ("9net", true), ("-net", false), ("a/b", false), ("a b", false), ("", false)] {
            assert_eq!(valid_network_name(name), ok, "{name:?}");
        }
    }

    #[test]
    fn prune_label_filters_include_and_exclude() {
        let labels: HashMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(labels_match(&labels, &f(&[("label", &["a"])])));
        assert!(labels_match(&labels, &f(&[("label", &["a=1"])])));
        assert!(!labels_match(&labels, &f(&[("label", &["a=2"])])));
        assert!(!labels_match(&labels, &f(&[("label!", &["a"])])));
        assert!(labels_match(&labels, &f(&[("label!", &["b"])])));
    }
}
