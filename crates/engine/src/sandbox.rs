//! A container's network sandbox: its pinned namespace, one endpoint per network, published
//! ports, and the `/etc/hosts` and `/etc/resolv.conf` written for it.
//!
//! Invariants:
//! - A sandbox exists (in memory and in the store) exactly while its container runs; it is
//!   made before the container's process starts and torn down when it exits, so addresses
//!   and host ports are free again for the next start (as in Docker).
//! - Setup either completes or undoes everything it made (links, namespace, addresses,
//!   ports) before returning its error.
//! - The firewall is re-applied only when published ports change: a container without ports
//!   costs no `nft` run.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use berth_api::models as m;
use berth_errdefs::{Error, HasKind, Kind, Result};
use berth_network::files;
use berth_network::ipam;
use berth_network::ports::{self, Binding};
use berth_runtime::spec::NetworkNamespace;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::containers::{Container, Record};
use crate::networks::{NetRecord, NetState};
use crate::Engine;

fn kinded<E: HasKind>(e: E) -> Error {
    Error::from_kind(&e)
}

/// Sandboxes of running containers, by container id.
pub(crate) const SANDBOXES: berth_metadata::Table = berth_metadata::Table::new("sandboxes");

/// A running container's network state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Sandbox {
    pub container_id: String,
    /// The container's name, without the slash.
    pub name: String,
    /// The pinned namespace, when we made one.
    pub netns: Option<PathBuf>,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<Published>,
    /// Where the embedded DNS forwards this container's other queries.
    pub upstreams: Vec<IpAddr>,
}

/// One interface of a container on one network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub network_id: String,
    pub endpoint_id: String,
    /// `eth0`, `eth1`, ... inside the container.
    pub ifname: String,
    /// The host end of the veth pair (bridge networks).
    pub host_if: Option<String>,
    pub mac: Option<[u8; 6]>,
    pub addrs: Vec<IpNet>,
    pub gateways: Vec<IpAddr>,
    pub aliases: Vec<String>,
    /// Names the embedded DNS answers for this endpoint.
    pub dns_names: Vec<String>,
}

/// A published port.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Published {
    pub binding: Binding,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub device: String,
}

/// The network the container's NetworkMode names, as a key of its `networks` map.
pub(crate) fn primary_network(hc: &m::HostConfig) -> String {
    match hc.network_mode.as_deref().unwrap_or("") {
        "" | "default" => "bridge".into(),
        other => other.into(),
    }
}

/// Checks of an endpoint's settings against its network, as Docker makes them.
pub(crate) fn validate_endpoint(net: &NetRecord, s: &m::EndpointSettings) -> Result<()> {
    let ipam = s.ipam_config.clone().unwrap_or_default();
    let wants_ip = ipam.ipv4_address.as_deref().is_some_and(|a| !a.is_empty()) || ipam.ipv6_address.as_deref().is_some_and(|a| !a.is_empty());
    if wants_ip && net.name == "bridge" {
        return Err(Error::invalid("user specified IP address is supported on user defined networks only"));
    }
    if wants_ip && !net.user_subnets {
        return Err(Error::invalid("user specified IP address is supported only when connecting to networks with user configured subnets"));
    }
    for (a, v6) in [(ipam.ipv4_address.as_deref(), false), (ipam.ipv6_address.as_deref(), true)] {
        let Some(a) = a.filter(|a| !a.is_empty()) else { continue };
        let ip: IpAddr = a.parse().map_err(|_| Error::invalid(format!("invalid IP address: {a}")))?;
        if ip.is_ipv6() != v6 {
            return Err(Error::invalid(format!("invalid IPv{} address: {a}", if v6 { 6 } else { 4 })));
        }
        if !net.subnets.iter().any(|s| s.subnet.contains(&ip)) {
            return Err(Error::invalid(format!("no configured subnet contains IP address {a}")));
        }
    }
    let aliases = s.aliases.clone().unwrap_or_default();
    if !aliases.is_empty() && !net.has_dns() {
        return Err(Error::invalid("network-scoped alias is supported only for containers in user defined networks"));
    }
    if let Some(mac) = s.mac_address.as_deref().filter(|m| !m.is_empty()) {
        parse_mac(mac)?;
    }
    Ok(())
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || Error::invalid(format!("invalid MAC address: {s}"));
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut out = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        out[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// What setup made so far, undone on failure.
#[derive(Default)]
struct Undo {
    links: Vec<String>,
    addrs: Vec<(String, IpAddr)>,
    netns: Option<PathBuf>,
}

impl NetState {
    fn release_addr(&self, net: &str, ip: IpAddr) {
        if let Some(list) = self.allocs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(net) {
            for a in list.iter_mut() {
                a.release(ip);
            }
        }
    }

    async fn undo(&self, u: Undo) {
        for l in &u.links {
            let _ = self.links.delete(l).await;
        }
        for (net, ip) in u.addrs {
            self.release_addr(&net, ip);
        }
        if let Some(p) = u.netns {
            let _ = berth_netlink::netns::remove(&p);
        }
    }

    /// Addresses for an endpoint: the asked-for ones reserved, the others allocated.
    fn addresses(&self, net: &NetRecord, s: &m::EndpointSettings, undo: &mut Undo) -> Result<Vec<IpNet>> {
        let ipam = s.ipam_config.clone().unwrap_or_default();
        let mut allocs = self.allocs.lock().unwrap_or_else(|p| p.into_inner());
        let list = allocs.get_mut(&net.id).ok_or_else(|| Error::internal(format!("no address allocator for network {}", net.name)))?;
        let mut out = Vec::new();
        for (sub, al) in net.subnets.iter().zip(list.iter_mut()) {
            let v6 = sub.subnet.addr().is_ipv6();
            let want = if v6 { ipam.ipv6_address.as_deref() } else { ipam.ipv4_address.as_deref() }.filter(|a| !a.is_empty());
            let ip = match want.and_then(|a| a.parse::<IpAddr>().ok()).filter(|ip| sub.subnet.contains(ip)) {
                Some(ip) => {
                    al.reserve(ip).map_err(kinded)?;
                    ip
                }
                None => al.allocate().map_err(kinded)?,
            };
            undo.addrs.push((net.id.clone(), ip));
            out.push(IpNet::new(ip, sub.subnet.prefix_len()).map_err(|e| Error::internal(e.to_string()))?);
        }
        Ok(out)
    }
}

impl Engine {
    /// The container's networks in the order their interfaces are made: the one its
    /// NetworkMode names first, then the others by name.
    fn ordered_networks(&self, rec: &Record) -> Vec<(NetRecord, m::EndpointSettings)> {
        let primary = primary_network(&rec.host_config);
        let mut out = Vec::new();
        let mut rest = Vec::new();
        for (k, s) in &rec.networks {
            let Ok(n) = self.net.st.resolve(k) else { continue };
            if *k == primary || n.name == primary || n.id == primary {
                out.push((n, s.clone()));
            } else {
                rest.push((n, s.clone()));
            }
        }
        out.extend(rest);
        out
    }

    /// At create: the networks a container asks for, checked, keyed by network name.
    pub(crate) fn desired_networks(&self, hc: &m::HostConfig, nc: Option<&m::NetworkingConfig>) -> Result<BTreeMap<String, m::EndpointSettings>> {
        let mode = hc.network_mode.clone().unwrap_or_default();
        let ports = hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty()) || hc.publish_all_ports.unwrap_or(false);
        if let Some(target) = mode.strip_prefix("container:") {
            self.get(target)?;
            if ports {
                return Err(Error::invalid("conflicting options: port publishing and the container type network mode"));
            }
            return Ok(BTreeMap::new());
        }
        let primary = primary_network(hc);
        let net = self.net.st.resolve(&primary).map_err(|e| if e.kind() == Kind::NotFound { Error::not_found(format!("network {primary} not found")) } else { e })?;
        let given = nc.and_then(|n| n.endpoints_config.clone()).unwrap_or_default();
        let mut out = BTreeMap::new();
        let mut primary_settings = m::EndpointSettings::default();
        for (k, s) in given {
            let n = if k == "default" { net.clone() } else { self.net.st.resolve(&k)? };
            if (n.driver == "host" || n.driver == "null") && n.id != net.id {
                return Err(Error::invalid(format!("container cannot be connected to network {} and {}", net.name, n.name)));
            }
            if n.id == net.id || (k == "default" && net.name == "bridge") {
                primary_settings = s;
            } else {
                validate_endpoint(&n, &s)?;
                out.insert(n.name.clone(), s);
            }
        }
        if (net.driver == "host" || net.driver == "null") && !out.is_empty() {
            return Err(Error::invalid(format!("container cannot be connected to network {} and other networks", net.name)));
        }
        validate_endpoint(&net, &primary_settings)?;
        out.insert(net.name.clone(), primary_settings);
        Ok(out)
    }

    /// Before the container's process starts: its namespace, interfaces, ports and files.
    pub(crate) async fn setup_sandbox(self: &Arc<Self>, rec: &Record) -> Result<NetworkNamespace> {
        let cdir = crate::containers::container_dir(&self.cfg.data_root, &rec.id);
        let hc = &rec.host_config;
        let cfg = &rec.config;
        let mode = hc.network_mode.clone().unwrap_or_default();
        let st = self.net.st.clone();
        if self.net.st.sandboxes.read().unwrap_or_else(|p| p.into_inner()).contains_key(&rec.id) {
            self.teardown_sandbox(&rec.id).await;
        }
        let host_gw = st.resolve("bridge").ok().and_then(|b| b.gateway_v4());
        let mut extra = Vec::new();
        for h in hc.extra_hosts.clone().unwrap_or_default() {
            extra.push(files::parse_extra_host(&h, host_gw).map_err(kinded)?);
        }
        let dns: Vec<IpAddr> = hc.dns.clone().unwrap_or_default().iter().map(|d| d.parse().map_err(|_| Error::invalid(format!("{d} is not an ip address")))).collect::<Result<_>>()?;
        let search = hc.dns_search.clone().unwrap_or_default();
        let options = hc.dns_options.clone().unwrap_or_default();
        let hostname = cfg.hostname.clone().unwrap_or_default();
        let domain = cfg.domainname.clone().unwrap_or_default();
        let write = |hosts: String, resolv: String| -> Result<()> {
            std::fs::write(cdir.join("hosts"), hosts).map_err(|e| Error::internal(format!("write hosts: {e}")))?;
            std::fs::write(cdir.join("resolv.conf"), resolv).map_err(|e| Error::internal(format!("write resolv.conf: {e}")))?;
            Ok(())
        };
        if mode == "host" {
            let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            for (n, ip) in &extra {
                hosts.push_str(&format!("{ip}\t{n}\n"));
            }
            let (rc, _) = files::container_resolv(&st.host_resolv, &dns, &search, &options, None);
            write(hosts, if dns.is_empty() && search.is_empty() && options.is_empty() { std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default() } else { rc.render() })?;
            return Ok(NetworkNamespace::Host);
        }
        if let Some(target) = mode.strip_prefix("container:") {
            let t = self.get(target)?;
            let trec = t.record();
            if !trec.state.running() || trec.state.pid <= 0 {
                return Err(Error::conflict(format!("cannot join network namespace of a non running container: container {} is {}", trec.id, trec.state.status)));
            }
            let tdir = crate::containers::container_dir(&self.cfg.data_root, &trec.id);
            let hosts = std::fs::read_to_string(tdir.join("hosts")).unwrap_or_default();
            let resolv = std::fs::read_to_string(tdir.join("resolv.conf")).unwrap_or_default();
            write(hosts, resolv)?;
            let path = match st.sandboxes.read().unwrap_or_else(|p| p.into_inner()).get(&trec.id).and_then(|sb| sb.netns.clone()) {
                Some(p) => p,
                None => PathBuf::from(format!("/proc/{}/ns/net", trec.state.pid)),
            };
            return Ok(NetworkNamespace::Joined(path));
        }
        let nets = self.ordered_networks(rec);
        let attach: Vec<(NetRecord, m::EndpointSettings)> = nets.into_iter().filter(|(n, _)| n.has_endpoints()).collect();
        if attach.is_empty() {
            // `none`: a namespace of its own with loopback only, made by the runtime.
            let (rc, _) = files::container_resolv(&st.host_resolv, &dns, &search, &options, None);
            write(files::hosts(&hostname, &domain, &[], &extra), rc.render())?;
            return Ok(NetworkNamespace::New);
        }
        let mut undo = Undo::default();
        let res = self.build_sandbox(rec, &attach, &mut undo).await;
        let sb = match res {
            Ok(sb) => sb,
            Err(e) => {
                st.reservations.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.id);
                st.undo(undo).await;
                return Err(e);
            }
        };
        let primary_addr: Vec<IpAddr> = sb.endpoints.first().map(|e| e.addrs.iter().map(IpNet::addr).collect()).unwrap_or_default();
        let embedded = attach.first().filter(|(n, _)| n.has_dns()).and_then(|(n, _)| n.gateway_v4());
        let (rc, upstreams) = files::container_resolv(&st.host_resolv, &dns, &search, &options, embedded);
        let mut sb = sb;
        sb.upstreams = upstreams;
        let has_ports = !sb.ports.is_empty();
        if let Err(e) = write(files::hosts(&hostname, &domain, &primary_addr, &extra), rc.render()) {
            st.reservations.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.id);
            st.undo(undo).await;
            return Err(e);
        }
        if let Err(e) = st.store.write(|tx| tx.put(SANDBOXES, &rec.id, &sb)) {
            st.reservations.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.id);
            st.undo(undo).await;
            return Err(kinded(e));
        }
        for ep in &sb.endpoints {
            if let Some(net) = st.by_id(&ep.network_id) {
                self.emit_network("connect", &net, Some(&rec.id));
            }
        }
        let path = sb.netns.clone().ok_or_else(|| Error::internal("sandbox without a network namespace"))?;
        st.sandboxes.write().unwrap_or_else(|p| p.into_inner()).insert(rec.id.clone(), sb);
        if has_ports {
            if let Err(e) = st.apply_firewall().await {
                self.teardown_sandbox(&rec.id).await;
                return Err(e);
            }
        }
        Ok(NetworkNamespace::Owned(path))
    }

    async fn build_sandbox(&self, rec: &Record, attach: &[(NetRecord, m::EndpointSettings)], undo: &mut Undo) -> Result<Sandbox> {
        let path = self.net.st.take_netns(&rec.id).await?;
        let path = path.as_path();
        undo.netns = Some(path.to_path_buf());
        let inside = berth_netlink::Links::in_netns(path).map_err(kinded)?;
        let name = rec.name.trim_start_matches('/').to_string();
        let mut endpoints = Vec::new();
        let mut routed = false;
        for (i, (net, s)) in attach.iter().enumerate() {
            let ep = self.make_endpoint(&inside, path, rec, &name, net, s, i, !routed, undo).await?;
            routed |= !ep.gateways.is_empty();
            endpoints.push(ep);
        }
        let ports = self.publish(rec, attach, &endpoints)?;
        Ok(Sandbox { container_id: rec.id.clone(), name, netns: Some(path.to_path_buf()), endpoints, ports, upstreams: Vec::new() })
    }

    #[allow(clippy::too_many_arguments)]
    async fn make_endpoint(
        &self,
        inside: &berth_netlink::Links,
        path: &std::path::Path,
        rec: &Record,
        name: &str,
        net: &NetRecord,
        s: &m::EndpointSettings,
        index: usize,
        route: bool,
        undo: &mut Undo,
    ) -> Result<Endpoint> {
        let st = &self.net.st;
        let addrs = st.addresses(net, s, undo)?;
        let suffix = crate::containers::new_id()[..7].to_string();
        let tmp = format!("p{}{suffix}", st.hash6);
        let ifname = format!("eth{index}");
        let mtu = net.options.get("com.docker.network.driver.mtu").and_then(|m| m.parse().ok()).or(st.cfg.mtu);
        let mut host_if = None;
        if net.is_bridge() {
            let master = match st.links.index(&net.device).await.map_err(kinded)? {
                Some(i) => i,
                None => {
                    st.ensure_device(net).await?;
                    st.links.index(&net.device).await.map_err(kinded)?.ok_or_else(|| Error::internal(format!("bridge {} is missing", net.device)))?
                }
            };
            let hn = format!("v{}{suffix}", st.hash6);
            st.links.add_veth(&hn, &tmp, master, mtu, path).await.map_err(kinded)?;
            undo.links.push(hn.clone());
            // Hairpin: a container reaching its own published port through the host gets its
            // answer back out of the port it came in on (bridged when br_netfilter is loaded).
            let _ = std::fs::write(format!("/sys/class/net/{hn}/brport/hairpin_mode"), "1");
            host_if = Some(hn);
        } else {
            st.links.add_macvlan(&net.device, &tmp, path).await.map_err(kinded)?;
        }
        let mac = match s.mac_address.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => Some(parse_mac(m)?),
            None => addrs.iter().find_map(|a| match a.addr() {
                IpAddr::V4(v4) if net.is_bridge() => Some(ipam::mac_for(v4)),
                _ => None,
            }),
        };
        inside.configure(&tmp, &ifname, mac, mtu, &addrs).await.map_err(kinded)?;
        let mut gateways = Vec::new();
        if route && !net.internal {
            for sub in &net.subnets {
                inside.add_default_route(sub.gateway).await.map_err(kinded)?;
                gateways.push(sub.gateway);
            }
        }
        let aliases = s.aliases.clone().unwrap_or_default();
        let mut dns_names = Vec::new();
        if net.has_dns() {
            dns_names.push(name.to_string());
            dns_names.push(rec.id[..12].to_string());
            for a in &aliases {
                if !dns_names.contains(a) {
                    dns_names.push(a.clone());
                }
            }
        }
        Ok(Endpoint {
            network_id: net.id.clone(),
            endpoint_id: crate::containers::new_id(),
            ifname,
            host_if,
            mac,
            addrs,
            gateways: if net.internal { net.subnets.iter().map(|s| s.gateway).collect() } else { gateways },
            aliases,
            dns_names,
        })
    }

    /// Hold the host ports the container publishes, on its first bridge endpoint.
    fn publish(&self, rec: &Record, attach: &[(NetRecord, m::EndpointSettings)], endpoints: &[Endpoint]) -> Result<Vec<Published>> {
        let hc = &rec.host_config;
        let empty = std::collections::HashMap::new();
        let exposed = rec.config.exposed_ports.clone().unwrap_or_default();
        let bindings = ports::expand(hc.port_bindings.as_ref().unwrap_or(&empty), hc.publish_all_ports.unwrap_or(false), &exposed).map_err(kinded)?;
        if bindings.is_empty() {
            return Ok(Vec::new());
        }
        let target = attach.iter().zip(endpoints).find(|((n, _), _)| n.is_bridge() && !n.internal);
        let Some(((net, _), ep)) = target else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        let mut held = Vec::new();
        for b in bindings {
            let Some(cip) = ep.addrs.iter().map(IpNet::addr).find(|a| a.is_ipv4() == b.host_ip.is_none_or(|h| h.is_ipv4())) else { continue };
            let (r, port) = ports::reserve(&b).map_err(kinded)?;
            held.push(r);
            out.push(Published { binding: b, host_port: port, container_ip: cip, device: net.device.clone() });
        }
        self.net.st.reservations.lock().unwrap_or_else(|p| p.into_inner()).insert(rec.id.clone(), held);
        Ok(out)
    }

    /// After the container's process exited (or when it is removed): give back everything
    /// its sandbox holds.
    pub(crate) async fn teardown_sandbox(&self, id: &str) {
        let st = self.net.st.clone();
        let Some(sb) = st.sandboxes.write().unwrap_or_else(|p| p.into_inner()).remove(id) else { return };
        st.reservations.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        for ep in &sb.endpoints {
            if let Some(net) = st.by_id(&ep.network_id) {
                self.emit_network("disconnect", &net, Some(id));
            }
            for a in &ep.addrs {
                st.release_addr(&ep.network_id, a.addr());
            }
        }
        if let Some(p) = &sb.netns {
            if let Err(e) = berth_netlink::netns::remove(p) {
                tracing::warn!(netns = %p.display(), error = %e, "cannot remove network namespace");
            }
        }
        // The kernel deletes a veth pair when the namespace of one end dies, but only later;
        // deleting it here takes ~25 ms of RCU grace periods, so it happens off the exit path.
        let host_ifs: Vec<String> = sb.endpoints.iter().filter_map(|e| e.host_if.clone()).collect();
        if !host_ifs.is_empty() {
            let st = st.clone();
            tokio::spawn(async move {
                let _turn = st.link_deletes.acquire().await;
                for h in host_ifs {
                    if let Err(e) = st.links.delete(&h).await {
                        tracing::debug!(link = %h, error = %e, "veth already gone");
                    }
                }
            });
        }
        let _ = st.store.write(|tx| tx.delete(SANDBOXES, id));
        if !sb.ports.is_empty() {
            if let Err(e) = st.apply_firewall().await {
                tracing::warn!(error = %e, "cannot apply firewall rules");
            }
        }
    }

    /// Connect a running container to one more network.
    pub(crate) async fn attach_live(&self, c: &Arc<Container>, net: &NetRecord, s: &m::EndpointSettings) -> Result<()> {
        if !net.has_endpoints() {
            return Err(Error::invalid(format!("cannot connect a running container to network {}", net.name)));
        }
        let st = self.net.st.clone();
        let rec = c.record();
        let (path, index) = {
            let sbs = st.sandboxes.read().unwrap_or_else(|p| p.into_inner());
            let sb = sbs.get(&rec.id).ok_or_else(|| Error::conflict(format!("container {} has no network namespace of its own", rec.id)))?;
            let used: Vec<usize> = sb.endpoints.iter().filter_map(|e| e.ifname.strip_prefix("eth")?.parse().ok()).collect();
            let index = (0..).find(|i| !used.contains(i)).unwrap_or(0);
            (sb.netns.clone().ok_or_else(|| Error::conflict("container has no network namespace of its own"))?, index)
        };
        let inside = berth_netlink::Links::in_netns(&path).map_err(kinded)?;
        let mut undo = Undo::default();
        let route = !st.sandboxes.read().unwrap_or_else(|p| p.into_inner()).get(&rec.id).is_some_and(|sb| sb.endpoints.iter().any(|e| !e.gateways.is_empty() && st.by_id(&e.network_id).is_some_and(|n| !n.internal)));
        let name = rec.name.trim_start_matches('/').to_string();
        let ep = match self.make_endpoint(&inside, &path, &rec, &name, net, s, index, route, &mut undo).await {
            Ok(ep) => ep,
            Err(e) => {
                undo.netns = None;
                st.undo(undo).await;
                return Err(e);
            }
        };
        let sb = {
            let mut sbs = st.sandboxes.write().unwrap_or_else(|p| p.into_inner());
            let Some(sb) = sbs.get_mut(&rec.id) else { return Err(Error::conflict("container stopped while connecting")) };
            sb.endpoints.push(ep);
            sb.clone()
        };
        st.store.write(|tx| tx.put(SANDBOXES, &rec.id, &sb)).map_err(kinded)?;
        Ok(())
    }

    /// Disconnect a running container from one network.
    pub(crate) async fn detach_live(&self, c: &Arc<Container>, net: &NetRecord) -> Result<()> {
        let st = self.net.st.clone();
        let (ep, path, sb, ports_changed) = {
            let mut sbs = st.sandboxes.write().unwrap_or_else(|p| p.into_inner());
            let Some(sb) = sbs.get_mut(&c.id) else { return Ok(()) };
            let Some(pos) = sb.endpoints.iter().position(|e| e.network_id == net.id) else { return Ok(()) };
            let ep = sb.endpoints.remove(pos);
            let before = sb.ports.len();
            sb.ports.retain(|p| p.device != net.device || !ep.addrs.iter().any(|a| a.addr() == p.container_ip));
            (ep, sb.netns.clone(), sb.clone(), before != sb.ports.len())
        };
        if let Some(h) = &ep.host_if {
            st.links.delete(h).await.map_err(kinded)?;
        } else if let Some(p) = &path {
            let inside = berth_netlink::Links::in_netns(p).map_err(kinded)?;
            inside.delete(&ep.ifname).await.map_err(kinded)?;
        }
        for a in &ep.addrs {
            st.release_addr(&net.id, a.addr());
        }
        st.store.write(|tx| tx.put(SANDBOXES, &c.id, &sb)).map_err(kinded)?;
        if ports_changed {
            st.apply_firewall().await?;
        }
        Ok(())
    }

    /// `NetworkSettings` of inspect, from what the container asked for and what it got.
    pub(crate) fn network_settings(&self, rec: &Record) -> m::NetworkSettings {
        let networks = self.endpoint_settings(rec);
        let sbs = self.net.st.sandboxes.read().unwrap_or_else(|p| p.into_inner());
        let sb = sbs.get(&rec.id);
        let mut ports: m::PortMap = std::collections::HashMap::new();
        for e in rec.config.exposed_ports.clone().unwrap_or_default() {
            let key = if e.contains('/') { e } else { format!("{e}/tcp") };
            ports.insert(key, None);
        }
        if let Some(sb) = sb {
            for p in &sb.ports {
                let key = format!("{}/{}", p.binding.container_port, p.binding.proto.as_str());
                let entry = ports.entry(key).or_insert(None).get_or_insert_with(Vec::new);
                entry.push(m::PortBinding {
                    host_ip: Some(p.binding.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into())),
                    host_port: Some(p.host_port.to_string()),
                });
            }
        }
        m::NetworkSettings {
            sandbox_id: Some(sb.and_then(|s| s.netns.as_ref()).map(|_| sandbox_id(&rec.id)).unwrap_or_default()),
            sandbox_key: Some(sb.and_then(|s| s.netns.as_ref()).map(|p| p.display().to_string()).unwrap_or_default()),
            ports: Some(ports),
            networks: Some(networks),
        }
    }

    /// Each network the container is on, by name: what it asked for and what it got (inspect's
    /// and `ps`'s `Networks`).
    pub(crate) fn endpoint_settings(&self, rec: &Record) -> std::collections::HashMap<String, m::EndpointSettings> {
        let st = &self.net.st;
        let sbs = st.sandboxes.read().unwrap_or_else(|p| p.into_inner());
        let sb = sbs.get(&rec.id);
        let nets = st.nets.read().unwrap_or_else(|p| p.into_inner());
        let mut networks = std::collections::HashMap::new();
        for (key, want) in &rec.networks {
            // Borrowed: only the network's id and name are needed.
            let net = crate::networks::find(&nets, key).ok();
            let mut s = want.clone();
            s.network_id = Some(net.map(|n| n.id.clone()).unwrap_or_default());
            let ep = sb.and_then(|sb| sb.endpoints.iter().find(|e| Some(&e.network_id) == net.map(|n| &n.id)));
            let v4 = ep.and_then(|e| e.addrs.iter().find(|a| a.addr().is_ipv4()));
            let v6 = ep.and_then(|e| e.addrs.iter().find(|a| a.addr().is_ipv6()));
            s.endpoint_id = Some(ep.map(|e| e.endpoint_id.clone()).unwrap_or_default());
            s.ip_address = Some(v4.map(|a| a.addr().to_string()).unwrap_or_default());
            s.ip_prefix_len = Some(v4.map(|a| a.prefix_len() as i64).unwrap_or(0));
            s.global_ipv6_address = Some(v6.map(|a| a.addr().to_string()).unwrap_or_default());
            s.global_ipv6_prefix_len = Some(v6.map(|a| a.prefix_len() as i64).unwrap_or(0));
            s.gateway = Some(ep.and_then(|e| e.gateways.iter().find(|g| g.is_ipv4())).map(|g| g.to_string()).unwrap_or_default());
            s.ipv6_gateway = Some(ep.and_then(|e| e.gateways.iter().find(|g| g.is_ipv6())).map(|g| g.to_string()).unwrap_or_default());
            s.mac_address = Some(ep.and_then(|e| e.mac).map(ipam::format_mac).or(want.mac_address.clone()).unwrap_or_default());
            s.dns_names = ep.filter(|e| !e.dns_names.is_empty()).map(|e| e.dns_names.clone());
            if s.aliases.as_ref().is_some_and(|a| a.is_empty()) {
                s.aliases = None;
            }
            networks.insert(net.map(|n| n.name.clone()).unwrap_or_else(|| key.clone()), s);
        }
        networks
    }

    /// `Ports` of `GET /containers/json`.
    pub(crate) fn port_summaries(&self, rec: &Record) -> Vec<m::PortSummary> {
        let sbs = self.net.st.sandboxes.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut published = std::collections::HashSet::new();
        if let Some(sb) = sbs.get(&rec.id) {
            for p in &sb.ports {
                published.insert((p.binding.container_port, p.binding.proto));
                out.push(m::PortSummary {
                    ip: Some(p.binding.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into())),
                    private_port: p.binding.container_port,
                    public_port: Some(p.host_port),
                    typ: serde_json::from_value(serde_json::Value::String(p.binding.proto.as_str().into())).ok(),
                });
            }
        }
        for e in rec.config.exposed_ports.clone().unwrap_or_default() {
            let Ok((port, proto)) = ports::parse_key(&e) else { continue };
            if published.contains(&(port, proto)) {
                continue;
            }
            out.push(m::PortSummary { ip: None, private_port: port, public_port: None, typ: serde_json::from_value(serde_json::Value::String(proto.as_str().into())).ok() });
        }
        out
    }
}

/// Pinned network namespaces (lo up) made ahead of need, so that a start takes one instead of
/// creating it on its critical path (about 1.3 ms here); a blocking task makes the next.
/// Their pins are `netns/pool-<hex>` and keep that name once a sandbox owns them.
///
/// Invariant: a pin is either in `ready`, owned by a sandbox, or being made by the one filler;
/// after `close` none is added (the filler removes what it made).
#[derive(Default)]
pub(crate) struct NetnsPool {
    ready: std::sync::Mutex<Vec<PathBuf>>,
    filling: std::sync::atomic::AtomicBool,
    closed: std::sync::atomic::AtomicBool,
}

/// How many namespaces the pool keeps made.
const NETNS_POOL_SIZE: usize = 2;
const NETNS_POOL_PREFIX: &str = "pool-";

impl NetState {
    /// A pinned empty network namespace for the sandbox of container `id`.
    async fn take_netns(self: &Arc<Self>, id: &str) -> Result<PathBuf> {
        let pooled = self.netns_pool.ready.lock().unwrap_or_else(|p| p.into_inner()).pop();
        self.refill_netns_pool();
        if let Some(p) = pooled {
            return Ok(p);
        }
        let path = self.netns_dir.join(&id[..12]);
        let made = path.clone();
        tokio::task::spawn_blocking(move || berth_netlink::netns::create(&made))
            .await
            .map_err(|e| Error::internal(format!("create network namespace: {e}")))?
            .map_err(kinded)?;
        Ok(path)
    }

    /// Top the pool up on a blocking thread, unless a filler runs already or it is closed.
    pub(crate) fn refill_netns_pool(self: &Arc<Self>) {
        use std::sync::atomic::Ordering::SeqCst;
        let pool = &self.netns_pool;
        if pool.closed.load(SeqCst) || pool.filling.swap(true, SeqCst) {
            return;
        }
        let st = self.clone();
        tokio::task::spawn_blocking(move || {
            let pool = &st.netns_pool;
            while pool.ready.lock().unwrap_or_else(|p| p.into_inner()).len() < NETNS_POOL_SIZE {
                let path = st.netns_dir.join(format!("{NETNS_POOL_PREFIX}{}", &crate::containers::new_id()[..12]));
                if let Err(e) = berth_netlink::netns::create(&path) {
                    tracing::debug!(error = %e, "cannot make a network namespace ahead of need");
                    break;
                }
                let mut ready = pool.ready.lock().unwrap_or_else(|p| p.into_inner());
                if pool.closed.load(SeqCst) {
                    drop(ready);
                    let _ = berth_netlink::netns::remove(&path);
                    break;
                }
                ready.push(path);
            }
            pool.filling.store(false, SeqCst);
        });
    }

    /// berthd stops: the namespaces made ahead go.
    pub(crate) fn close_netns_pool(&self) {
        let pool = &self.netns_pool;
        let ready = {
            let mut ready = pool.ready.lock().unwrap_or_else(|p| p.into_inner());
            pool.closed.store(true, std::sync::atomic::Ordering::SeqCst);
            std::mem::take(&mut *ready)
        };
        for p in ready {
            let _ = berth_netlink::netns::remove(&p);
        }
    }

    /// At start: pool pins a previous berthd left that no sandbox owns are removed.
    pub(crate) fn sweep_netns_pool(&self) {
        let owned: std::collections::HashSet<PathBuf> =
            self.sandboxes.read().unwrap_or_else(|p| p.into_inner()).values().filter_map(|sb| sb.netns.clone()).collect();
        let Ok(entries) = std::fs::read_dir(&self.netns_dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            if e.file_name().to_string_lossy().starts_with(NETNS_POOL_PREFIX) && !owned.contains(&path) {
                let _ = berth_netlink::netns::remove(&path);
            }
        }
    }
}

fn sandbox_id(id: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(format!("sandbox:{id}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_or_fail_clearly() {
        assert_eq!(parse_mac("02:42:ac:11:00:02").unwrap(), [2, 0x42, 0xac, 0x11, 0, 2]);
        for bad in ["", "02:42", "zz:42:ac:11:00:02", "02:42:ac:11:00:02:03"] {
            assert_eq!(parse_mac(bad).unwrap_err().kind(), Kind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn the_primary_network_is_the_mode_with_default_meaning_bridge() {
        for (mode, want) in [(None, "bridge"), (Some("default"), "bridge"), (Some("bridge"), "bridge"), (Some("web"), "web"), (Some("none"), "none")] {
            let hc = m::HostConfig { network_mode: mode.map(String::from), ..Default::default() };
            assert_eq!(primary_network(&hc), want);
        }
    }
}
