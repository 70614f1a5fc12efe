//! `berth network ...`: docker CLI 28's network commands (cli/command/network): create, ls,
//! inspect, rm, prune, connect, disconnect. The requests carry what the docker CLI sends.

use std::collections::HashMap;
use std::net::IpAddr;

use berth_api::models::{
    ConfigReference, EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, Network, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};
use berth_client::Client;
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptions, PruneNetworksOptions};
use clap::{ArgAction, Args};
use serde_json::Value as Json;

use super::container::confirm;
use super::{filters, out};
use crate::error::{collect, status_of, ApiResult, StatusError};
use crate::format::natsort::natural_cmp;
use crate::format::{gojson, networks, ListFormat, Template};
use crate::netopts::{validate_label, validate_link};
use crate::opts::kv_map;

/// Go's `strconv.ParseBool`, for `--ipv4[=bool]` / `--ipv6[=bool]`.
fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing \"{s}\": invalid syntax")),
    }
}

/// `network create` flags.
#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Enable manual container attachment
    #[arg(long = "attachable")]
    pub attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    pub aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from", value_name = "string", default_value = "", hide_default_value = true)]
    pub config_from: String,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    pub config_only: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long = "driver", value_name = "string", default_value = "bridge")]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway", value_name = "strings", value_delimiter = ',')]
    pub gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long = "ingress")]
    pub ingress: bool,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings", value_delimiter = ',')]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", value_name = "string", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    pub ipam_opt: Vec<String>,
    /// Enable or disable IPv4 address assignment (default true)
    #[arg(long = "ipv4", value_name = "bool", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    pub ipv4: Option<bool>,
    /// Enable or disable IPv6 address assignment
    #[arg(long = "ipv6", value_name = "bool", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    pub ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Control the network's scope
    #[arg(long = "scope", value_name = "string", default_value = "", hide_default_value = true)]
    pub scope: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet", value_name = "strings", value_delimiter = ',')]
    pub subnet: Vec<String>,
    /// NETWORK
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

/// docker's `MapOpts` values (`k=v`, a bare `k` maps to ""), in order.
fn map_pairs(items: &[String]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// A parsed CIDR as Go's `net.ParseCIDR` reads it: the address as written and the network.
struct Cidr {
    ip: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.split_once('/')?;
        let ip: IpAddr = addr.parse().ok()?;
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { ip, prefix })
    }

    /// Go's `IPNet.Contains` (a v4-mapped v6 address counts as v4).
    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        let net = match self.ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let prefix = if self.ip.is_ipv6() { self.prefix.saturating_sub(96) } else { self.prefix };
                let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix as u32) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix as u32) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// docker's `subnetMatches`: is `data` (an address or a CIDR's address) inside `subnet`?
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let s = Cidr::parse(subnet).ok_or_else(|| format!("invalid subnet: invalid CIDR address: {subnet}"))?;
    let ip = if data.contains('/') {
        Cidr::parse(data).ok_or_else(|| format!("invalid CIDR address: {data}"))?.ip
    } else {
        match data.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return Ok(false),
        }
    };
    Ok(s.contains(ip))
}

/// docker's `createIPAMConfig`: subnets, ranges, gateways and aux addresses grouped per
/// subnet (in the order the subnets were given), with docker's validation messages.
pub fn ipam_config(
    driver: &str,
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &[(String, String)],
    opts: HashMap<String, String>,
) -> Result<Ipam, String> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    let mut configs: Vec<IpamConfig> = Vec::new();
    for s in subnets {
        for k in configs.iter().filter_map(|c| c.subnet.as_deref()) {
            if subnet_matches(s, k)? || subnet_matches(k, s)? {
                return Err("multiple overlapping subnet configuration is not supported".into());
            }
        }
        configs.push(IpamConfig { subnet: Some(s.clone()), ..Default::default() });
    }
    let index = |configs: &[IpamConfig], s: &str| configs.iter().position(|c| c.subnet.as_deref() == Some(s));
    for r in ranges {
        let mut matched = false;
        for s in subnets {
            if Cidr::parse(r).is_none() {
                return Err(format!("invalid CIDR address: {r}"));
            }
            if !subnet_matches(s, r)? {
                continue;
            }
            let Some(i) = index(&configs, s) else { continue };
            if let Some(existing) = &configs[i].ip_range {
                return Err(format!("cannot configure multiple ranges ({r}, {existing}) on the same subnet ({s})"));
            }
            configs[i].ip_range = Some(r.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in gateways {
        let mut matched = false;
        for s in subnets {
            if !subnet_matches(s, g)? {
                continue;
            }
            let Some(i) = index(&configs, s) else { continue };
            if let Some(existing) = &configs[i].gateway {
                return Err(format!("cannot configure multiple gateways ({g}, {existing}) for the same subnet ({s})"));
            }
            configs[i].gateway = Some(g.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    for (key, addr) in aux {
        let mut matched = false;
        for s in subnets {
            if !subnet_matches(s, addr)? {
                continue;
            }
            let Some(i) = index(&configs, s) else { continue };
            configs[i].auxiliary_addresses.get_or_insert_with(HashMap::new).insert(key.clone(), addr.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {addr}"));
        }
    }
    Ok(Ipam { driver: Some(driver.to_string()), config: Some(configs), options: Some(opts) })
}

/// Everything wrong with the flags themselves (exit 125, before any request).
fn flag_errors(a: &CreateArgs) -> Result<(), String> {
    for l in &a.label {
        validate_label(l).map_err(|e| format!("invalid argument \"{l}\" for \"--label\" flag: {e}"))?;
    }
    Ok(())
}

/// The body of `POST /networks/create`, as docker's `runCreate` builds it (IPAM errors exit 1).
pub fn create_request(a: &CreateArgs) -> Result<NetworkCreateRequest, String> {
    let ipam = ipam_config(
        &a.ipam_driver,
        &a.subnet,
        &a.ip_range,
        &a.gateway,
        &map_pairs(&a.aux_address),
        map_pairs(&a.ipam_opt).into_iter().collect(),
    )?;
    Ok(NetworkCreateRequest {
        name: a.name.clone(),
        driver: Some(a.driver.clone()),
        scope: Some(a.scope.clone()),
        internal: Some(a.internal),
        attachable: Some(a.attachable),
        ingress: Some(a.ingress),
        config_only: Some(a.config_only),
        config_from: (!a.config_from.is_empty()).then(|| ConfigReference { network: Some(a.config_from.clone()) }),
        ipam: Some(ipam),
        enable_ipv4: a.ipv4,
        enable_ipv6: a.ipv6,
        options: Some(map_pairs(&a.opt).into_iter().collect()),
        labels: Some(kv_map(&a.label)),
    })
}

/// `docker network create`: print the new network's id.
pub async fn create(c: &Client, a: CreateArgs) -> anyhow::Result<()> {
    flag_errors(&a).map_err(|e| StatusError::with(125, format!("berth: {e}")))?;
    let req = create_request(&a).map_err(|e| StatusError::with(1, e))?;
    let resp = c.docker().create_network(req).await.api()?;
    out(&format!("{}\n", resp.id))
}

/// `network ls` flags.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    /// Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates
    #[arg(long = "format", value_name = "string", default_value = "", verbatim_doc_comment)]
    pub format: String,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `docker network ls`: sorted by name in natural order.
pub async fn ls(c: &Client, a: LsArgs) -> anyhow::Result<()> {
    let opts = ListNetworksOptions { filters: filters(&a.filter)? };
    let mut list: Vec<Network> = c.docker().list_networks(Some(opts)).await.api()?;
    list.sort_by(|x, y| natural_cmp(x.name.as_deref().unwrap_or(""), y.name.as_deref().unwrap_or("")));
    let lf = ListFormat::parse(networks::list_format(&a.format, a.quiet), "")?;
    let items: Vec<Json> = list.iter().map(|n| networks::context(n, !a.no_trunc)).collect();
    let mut buf = Vec::new();
    lf.write(&mut buf, &networks::headers(), &items)?;
    out(&String::from_utf8_lossy(&buf))
}

/// `network inspect` flags.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    /// Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates
    #[arg(short = 'f', long = "format", value_name = "string", default_value = "", verbatim_doc_comment)]
    pub format: String,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// NETWORK [NETWORK...]
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

/// Percent-encode one path segment (RFC 3986 unreserved characters pass).
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The daemon's JSON for one network, byte for byte.
async fn inspect_raw(c: &Client, name: &str, verbose: bool) -> anyhow::Result<Vec<u8>> {
    let name = name.trim();
    if name.is_empty() {
        anyhow::bail!("invalid network name or ID: value is empty");
    }
    let q: Vec<(&str, String)> = if verbose { vec![("verbose", "true".to_string())] } else { vec![] };
    let mut rx = c.get_stream(&format!("/networks/{}", path_segment(name)), &q).await.api()?;
    let mut raw = Vec::new();
    while let Some(chunk) = rx.recv().await {
        raw.extend_from_slice(&chunk.api()?);
    }
    Ok(raw)
}

/// Does `template` use the field `.name` (not a longer name starting with it)?
fn uses_field(template: &str, name: &str) -> bool {
    let pat = format!(".{name}");
    template
        .match_indices(&pat)
        .any(|(i, _)| !template[i + pat.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// The data a `--format` template sees: the daemon's JSON, as docker's typed struct shows it
/// where the template asks for it (docker executes templates on the typed struct first): Go's
/// field name `ID` for `Id`, and `Created` as Go prints a time.
pub fn template_data(raw: &[u8], template: &str) -> anyhow::Result<Json> {
    let mut v: Json = serde_json::from_slice(raw).map_err(|e| anyhow::anyhow!("unable to read inspect data: {e}"))?;
    if let Json::Object(m) = &mut v {
        if uses_field(template, "ID") && !m.contains_key("ID") {
            if let Some(id) = m.get("Id").cloned() {
                m.insert("ID".into(), id);
            }
        }
        if uses_field(template, "Created") {
            let go = m
                .get("Created")
                .and_then(Json::as_str)
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .filter(|t| t.offset().local_minus_utc() == 0)
                .map(|t| networks::go_utc_time_string(t.timestamp(), t.timestamp_subsec_nanos()));
            if let Some(go) = go {
                m.insert("Created".into(), Json::String(go));
            }
        }
    }
    Ok(v)
}

/// `docker network inspect`: the daemon's JSON re-indented, or one template rendering per
/// network; errors after the output, exit 1.
pub async fn inspect(c: &Client, a: InspectArgs) -> anyhow::Result<()> {
    let template = match a.format.as_str() {
        "" | "json" => None,
        f => Some(Template::parse(f).map_err(|e| StatusError::with(64, e.to_string()))?),
    };
    let mut raws: Vec<Vec<u8>> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for name in &a.names {
        match inspect_raw(c, name, a.verbose).await {
            Ok(raw) => raws.push(raw),
            Err(e) => errors.push(e.to_string()),
        }
    }
    match &template {
        None => {
            let buf = gojson::inspect_array(&raws, a.format == "json");
            out(&String::from_utf8_lossy(&buf))?;
        }
        Some(t) => {
            let mut s = String::new();
            for raw in &raws {
                match template_data(raw, &a.format).and_then(|v| Ok(t.render(&v)?)) {
                    Ok(r) => {
                        s.push_str(&r);
                        s.push('\n');
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            if s.is_empty() {
                s.push('\n');
            }
            out(&s)?;
        }
    }
    collect(errors)
}

/// `network rm` flags.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// NETWORK [NETWORK...]
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

const INGRESS_WARNING: &str = "WARNING! Before removing the routing-mesh network, make sure all the nodes \
in your swarm run the same docker engine version. Otherwise, removal may not be effective and functionality of \
newly create ingress networks will be impaired.";

/// `docker network rm`: each removed name on stdout, each failure on stderr, exit 1 if any.
/// As docker, each network is inspected first (an ingress network asks for confirmation).
pub async fn rm(c: &Client, a: RmArgs) -> anyhow::Result<()> {
    let mut failed = false;
    for name in &a.names {
        let trimmed = name.trim();
        let result = if trimmed.is_empty() {
            Err(anyhow::anyhow!("invalid network name or ID: value is empty"))
        } else {
            let id = path_segment(trimmed);
            let inspected = c.docker().inspect_network(&id, None::<InspectNetworkOptions>).await;
            if inspected.is_ok_and(|n| n.ingress == Some(true)) && !confirm(INGRESS_WARNING)? {
                continue;
            }
            c.docker().remove_network(&id).await.api()
        };
        match result {
            Ok(()) => out(&format!("{name}\n"))?,
            Err(e) if a.force && status_of(&e) == Some(404) => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(StatusError::with(1, "exit status 1"));
    }
    Ok(())
}

/// `network prune` flags.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// `docker network prune`.
pub async fn prune(c: &Client, a: PruneArgs) -> anyhow::Result<()> {
    let f = filters(&a.filter)?;
    if !a.force && !confirm("WARNING! This will remove all custom networks not used by at least one container.")? {
        return Ok(());
    }
    let r = c.docker().prune_networks(Some(PruneNetworksOptions { filters: f })).await.api()?;
    let deleted = r.networks_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        let mut s = String::from("Deleted Networks:\n");
        for id in deleted {
            s.push_str(&id);
            s.push('\n');
        }
        s.push('\n');
        out(&s)?;
    }
    Ok(())
}

/// `network connect` flags.
#[derive(Args, Debug, Default)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long = "alias", value_name = "strings", value_delimiter = ',')]
    pub alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings", value_delimiter = ',')]
    pub driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway. Accepts positive and negative values.
    #[arg(long = "gw-priority", value_name = "int", default_value_t = 0, allow_negative_numbers = true)]
    pub gw_priority: i64,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip", value_name = "string", default_value = "")]
    pub ip: String,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6", value_name = "string", default_value = "")]
    pub ip6: String,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_name = "strings", value_delimiter = ',')]
    pub link_local_ip: Vec<String>,
    /// NETWORK
    #[arg(value_name = "NETWORK")]
    pub network: String,
    /// CONTAINER
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// docker's `convertDriverOpt`.
fn driver_opts(items: &[String]) -> Result<HashMap<String, String>, String> {
    let mut m = HashMap::new();
    for o in items {
        match o.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                m.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => return Err("invalid key/value pair format in driver options".into()),
        }
    }
    Ok(m)
}

/// The body of `POST /networks/{id}/connect`, as docker's `runConnect` builds it.
pub fn connect_request(a: &ConnectArgs) -> Result<NetworkConnectRequest, String> {
    let opts = driver_opts(&a.driver_opt)?;
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(NetworkConnectRequest {
        container: a.container.trim().to_string(),
        endpoint_config: Some(EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: nonempty(&a.ip),
                ipv6_address: nonempty(&a.ip6),
                link_local_ips: (!a.link_local_ip.is_empty()).then(|| a.link_local_ip.clone()),
            }),
            links: (!a.link.is_empty()).then(|| a.link.clone()),
            aliases: Some(a.alias.clone()),
            driver_opts: Some(opts),
            gw_priority: Some(a.gw_priority),
            ..Default::default()
        }),
    })
}

fn check_ids(network: &str, container: &str) -> anyhow::Result<()> {
    if network.trim().is_empty() {
        return Err(StatusError::with(1, "invalid network name or ID: value is empty"));
    }
    if container.trim().is_empty() {
        return Err(StatusError::with(1, "invalid container name or ID: value is empty"));
    }
    Ok(())
}

/// `docker network connect`.
pub async fn connect(c: &Client, a: ConnectArgs) -> anyhow::Result<()> {
    for l in &a.link {
        validate_link(l)
            .map_err(|e| StatusError::with(125, format!("berth: invalid argument \"{l}\" for \"--link\" flag: {e}")))?;
    }
    let req = connect_request(&a).map_err(|e| StatusError::with(1, e))?;
    check_ids(&a.network, &a.container)?;
    c.docker().connect_network(&path_segment(a.network.trim()), req).await.api()
}

/// `network disconnect` flags.
#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// NETWORK
    #[arg(value_name = "NETWORK")]
    pub network: String,
    /// CONTAINER
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `docker network disconnect`.
pub async fn disconnect(c: &Client, a: DisconnectArgs) -> anyhow::Result<()> {
    check_ids(&a.network, &a.container)?;
    let req = NetworkDisconnectRequest { container: a.container.trim().to_string(), force: Some(a.force) };
    c.docker().disconnect_network(&path_segment(a.network.trim()), req).await.api()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct C {
        #[command(flatten)]
        a: CreateArgs,
    }

    fn create_args(args: &[&str]) -> CreateArgs {
        let mut v = vec!["create"];
        v.extend_from_slice(args);
        C::try_parse_from(v).unwrap().a
    }

    #[test]
    fn create_body_matches_docker() {
        let r = create_request(&create_args(&["front"])).unwrap();
        let j = serde_json::to_value(&r).unwrap();
        let want = serde_json::json!({
            "Name": "front", "Driver": "bridge", "Scope": "", "Internal": false, "Attachable": false,
            "Ingress": false, "ConfigOnly": false, "IPAM": {"Driver": "default", "Config": [], "Options": {}},
            "Options": {}, "Labels": {}
        });
        assert_eq!(j, want);

        let r = create_request(&create_args(&[
            "-d", "macvlan", "--subnet", "172.30.0.0/16,fd00:30::/64", "--gateway", "172.30.0.254",
            "--ip-range", "172.30.5.0/24", "--internal", "--ipv6", "--ipv4=false", "--label", "a=1", "--label", "b",
            "-o", "parent=eth0", "--opt", "com.x", "--attachable", "--aux-address", "host=172.30.0.2",
            "--ipam-opt", "k=v", "--config-from", "cfg", "--scope", "local", "back",
        ]))
        .unwrap();
        let j = serde_json::to_value(&r).unwrap();
        let want = serde_json::json!({
            "Name": "back", "Driver": "macvlan", "Scope": "local", "Internal": true, "Attachable": true,
            "Ingress": false, "ConfigOnly": false, "ConfigFrom": {"Network": "cfg"},
            "EnableIPv4": false, "EnableIPv6": true,
            "IPAM": {"Driver": "default", "Options": {"k": "v"}, "Config": [
                {"Subnet": "172.30.0.0/16", "IPRange": "172.30.5.0/24", "Gateway": "172.30.0.254",
                 "AuxiliaryAddresses": {"host": "172.30.0.2"}},
                {"Subnet": "fd00:30::/64"}
            ]},
            "Options": {"parent": "eth0", "com.x": ""}, "Labels": {"a": "1", "b": ""}
        });
        assert_eq!(j, want);
        assert_eq!(create_args(&["--ipv6=false", "x"]).ipv6, Some(false));
        assert_eq!(create_args(&["--ipv6=1", "x"]).ipv6, Some(true));
        assert_eq!(create_args(&["x"]).ipv6, None);
        assert!(C::try_parse_from(["create", "--ipv6=maybe", "x"]).is_err());
    }

    #[test]
    fn ipam_errors_are_dockers() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let none: &[&str] = &[];
        #[allow(clippy::type_complexity)]
        let cases: &[(&[&str], &[&str], &[&str], &[(&str, &str)], &str)] = &[
            (none, none, &["10.0.0.1"], &[], "every ip-range or gateway must have a corresponding subnet"),
            (&["10.0.0.0/8", "10.1.0.0/16"], none, none, &[], "multiple overlapping subnet configuration is not supported"),
            (&["10.0.0.0/8", "10.0.0/8"], none, none, &[], "invalid subnet: invalid CIDR address: 10.0.0/8"),
            (&["10.0.0.0/8"], none, &["11.0.0.1"], &[], "no matching subnet for gateway 11.0.0.1"),
            (&["10.0.0.0/8"], none, &["nope"], &[], "no matching subnet for gateway nope"),
            (&["10.0.0.0/8"], &["11.0.0.0/24"], none, &[], "no matching subnet for range 11.0.0.0/24"),
            (&["10.0.0.0/8"], &["10.0.0.0"], none, &[], "invalid CIDR address: 10.0.0.0"),
            (
                &["10.0.0.0/8", "11.0.0.0/8"],
                &["10.1.0.0/16", "10.2.0.0/16"],
                none,
                &[],
                "cannot configure multiple ranges (10.2.0.0/16, 10.1.0.0/16) on the same subnet (10.0.0.0/8)",
            ),
            (&["10.0.0.0/8", "11.0.0.0/8"], none, &["10.0.0.1", "10.0.0.2"], &[], "cannot configure multiple gateways (10.0.0.2, 10.0.0.1) for the same subnet (10.0.0.0/8)"),
            (&["10.0.0.0/8"], none, none, &[("h", "12.0.0.1")], "no matching subnet for aux-address 12.0.0.1"),
        ];
        for (subnets, ranges, gws, aux, want) in cases {
            let aux: Vec<(String, String)> = aux.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let got = ipam_config("default", &s(subnets), &s(ranges), &s(gws), &aux, HashMap::new()).unwrap_err();
            assert_eq!(got, *want, "{subnets:?} {ranges:?} {gws:?}");
        }
        let ok = ipam_config("default", &s(&["10.1.2.3/16"]), &[], &s(&["10.1.0.1"]), &[], HashMap::new()).unwrap();
        assert_eq!(ok.config.unwrap()[0].gateway.as_deref(), Some("10.1.0.1"));
        assert!(flag_errors(&create_args(&["--label", "=x", "n"])).unwrap_err().contains("empty name"));
    }

    #[derive(Parser)]
    struct K {
        #[command(flatten)]
        a: ConnectArgs,
    }

    #[test]
    fn connect_body_matches_docker() {
        let a = K::try_parse_from(["connect", "front", "web"]).unwrap().a;
        let j = serde_json::to_value(connect_request(&a).unwrap()).unwrap();
        let want = serde_json::json!({
            "Container": "web",
            "EndpointConfig": {"IPAMConfig": {}, "Aliases": [], "DriverOpts": {}, "GwPriority": 0}
        });
        assert_eq!(j, want);
        let a = K::try_parse_from([
            "connect", "--ip", "172.20.0.9", "--ip6", "fd00::9", "--alias", "a,b", "--alias", "c", "--link", "db:d",
            "--driver-opt", "k=v", "--gw-priority", "-1", "--link-local-ip", "169.254.1.1", "front", "web",
        ])
        .unwrap()
        .a;
        let j = serde_json::to_value(connect_request(&a).unwrap()).unwrap();
        let want = serde_json::json!({
            "Container": "web",
            "EndpointConfig": {
                "IPAMConfig": {"IPv4Address": "172.20.0.9", "IPv6Address": "fd00::9", "LinkLocalIPs": ["169.254.1.1"]},
                "Links": ["db:d"], "Aliases": ["a", "b", "c"], "DriverOpts": {"k": "v"}, "GwPriority": -1
            }
        });
        assert_eq!(j, want);
        let a = K::try_parse_from(["connect", "--driver-opt", "=v", "n", "c"]).unwrap().a;
        assert_eq!(connect_request(&a).unwrap_err(), "invalid key/value pair format in driver options");
    }

    #[test]
    fn template_data_adds_go_id_only_when_asked() {
        let raw = br#"{"Name":"front","Id":"abc"}"#;
        let v = template_data(raw, "{{.ID}} {{.Name}}").unwrap();
        assert_eq!(v["ID"], "abc");
        let v = template_data(raw, "{{.Id}} {{.IDx}}").unwrap();
        assert!(v.get("ID").is_none());
        let t = Template::parse("{{.ID}}/{{.Id}}").unwrap();
        assert_eq!(t.render(&template_data(raw, "{{.ID}}/{{.Id}}").unwrap()).unwrap(), "abc/abc");
        assert_eq!(path_segment("my net/x"), "my%20net%2Fx");
        let raw = br#"{"Created":"2024-05-01T10:00:00.12Z"}"#;
        assert_eq!(template_data(raw, "{{.Created}}").unwrap()["Created"], "2024-05-01 10:00:00.12 +0000 UTC");
        assert_eq!(template_data(raw, "{{.CreatedAt}}").unwrap()["Created"], "2024-05-01T10:00:00.12Z");
    }
}
