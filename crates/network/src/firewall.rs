//! One daemon's NAT and filter rules, rendered in full from the desired state and applied
//! atomically.
//!
//! The daemon owns one table name (`berth-<hash6>`). Every change (a network created or
//! removed, ports published or unpublished, daemon start) hands the whole [`Ruleset`] to a
//! [`Backend`] ([`backend_for_host`] picks one), which replaces everything under that name:
//! - [`Nft`] renders with [`render`]: a script that deletes and redefines tables
//!   `ip <table>` and `ip6 <table>` in one nft transaction, so rules never dangle, never
//!   duplicate, and a failed apply leaves the previous rules in place.
//! - [`Iptables`] (hosts without `nft`) renders with [`render_iptables`]: `iptables-restore
//!   --noflush` input declaring (so flushing) and filling chains of our own
//!   (`BERTH-<suffix>-PRE`, ...), plus the jumps from the built-in chains, each kept exactly
//!   once; see [`iptables`] for the chain layout.
//!
//! What the rules do, per family (only that family's subnets and forwards):
//! - `nat prerouting` (priority dstnat) and `nat output` (priority -100) jump to `ports` for
//!   packets to a local address (`fib daddr type local`); `ports` DNATs each published port to
//!   its container. So a port answers on every host address, 127.0.0.1 included.
//! - `nat postrouting` (priority srcnat), per bridge: masquerade loopback-sourced packets
//!   leaving through the bridge (127.0.0.1:port published, IPv4 only; the bridge also needs
//!   `route_localnet=1`), masquerade DNATed packets from the bridge's own subnet going back
//!   into it (hairpin), and masquerade the subnet leaving through any other interface (unless
//!   the network is internal or has masquerading off).
//! - `filter forward` (priority filter - 1, policy accept, so it adds drops and never
//!   overrides another table's verdict): established/related first; an internal bridge is
//!   closed both ways; DNATed (published-port) traffic is let through; traffic from one of our
//!   bridges to another of our bridges is dropped (network isolation).

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_errdefs::{HasKind, Kind};
use ipnet::IpNet;

use crate::ports::Proto;

pub mod iptables;

pub use self::iptables::{render_iptables, Iptables};

/// What can go wrong applying rules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `nft` binary.
    #[error("nft not found in PATH, /usr/sbin or /sbin: install nftables or run berthd with --iptables=false")]
    NotFound,
    /// No `iptables` / `iptables-restore` binary.
    #[error("iptables and iptables-restore not found in PATH, /usr/sbin or /sbin: install iptables or run berthd with --iptables=false")]
    IptablesNotFound,
    /// Neither backend's tools exist on this host.
    #[error("neither nft nor iptables-restore found in PATH, /usr/sbin or /sbin: install nftables (or iptables) or run berthd with --iptables=false")]
    NoBackend,
    /// IPv6 rules are wanted but the host has no `ip6tables` / `ip6tables-restore`.
    #[error("ip6tables-restore not found: cannot apply the rules of IPv6 networks and ports (install ip6tables or remove the IPv6 subnets)")]
    Ip6tablesNotFound,
    /// The command could not be started or fed.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The command line.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// A command (`nft -f -`, `iptables-restore`, ...) failed, e.g. rejected the rules.
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        /// What ran, e.g. `nft -f -`.
        program: String,
        /// Its exit status.
        status: String,
        /// What it said.
        stderr: String,
    },
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::NotFound | Error::IptablesNotFound | Error::NoBackend | Error::Ip6tablesNotFound => {
                Kind::Unavailable
            }
            Error::Spawn { .. } | Error::Failed { .. } => Kind::Internal,
        }
    }
}

/// Everything the daemon wants in its tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Every bridge network of the daemon.
    pub bridges: Vec<BridgeRules>,
    /// Every published port of every running container.
    pub forwards: Vec<PortForward>,
}

/// One bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    /// The bridge device, e.g. `berth0`.
    pub device: String,
    /// Its subnets (IPv4 and IPv6).
    pub subnets: Vec<IpNet>,
    /// `--internal`: no traffic in from or out to anything but the bridge itself.
    pub internal: bool,
    /// Masquerade the subnets leaving through other interfaces
    /// (`com.docker.network.bridge.enable_ip_masquerade`).
    pub masquerade: bool,
}

/// One published port, resolved to a host port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortForward {
    /// The protocol.
    pub proto: Proto,
    /// Only packets to this host address; `None` (or an unspecified address): any local one.
    pub host_ip: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The container's address on `device`'s network.
    pub container_ip: IpAddr,
    /// The port inside the container.
    pub container_port: u16,
    /// The bridge the container is reached through (no forwards into internal bridges).
    pub device: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn table(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
    fn matches(self, ip: &IpAddr) -> bool {
        ip.is_ipv6() == (self == Family::V6)
    }
}

impl PortForward {
    /// How this forward renders in family `fam`: None when it has no place there (its
    /// container or its host address is of the other family), else the host address it is
    /// limited to (None: every local address) and the DNAT target `ip:port` / `[ip]:port`.
    fn in_family(&self, fam: Family) -> Option<(Option<IpAddr>, String)> {
        if !fam.matches(&self.container_ip) {
            return None;
        }
        let daddr = match self.host_ip {
            Some(ip) if ip.is_unspecified() => None,
            Some(ip) if fam.matches(&ip) => Some(ip),
            Some(_) => return None,
            None => None,
        };
        let to = match self.container_ip {
            IpAddr::V4(ip) => format!("{ip}:{}", self.container_port),
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.container_port),
        };
        Some((daddr, to))
    }
}

/// A complete nft script that atomically replaces tables `ip <table>` and `ip6 <table>` with
/// the rules for `rs`: `add table` (so the delete never fails), `delete table`, then the full
/// definition. Deterministic: bridges are ordered by device and forwards sorted, so the same
/// state always renders the same text, whatever order the caller listed it in.
pub fn render(table: &str, rs: &Ruleset) -> String {
    let (bridges, forwards) = normalize(rs);
    let mut out = String::new();
    let _ = writeln!(out, "# generated by berthd: the whole of tables ip {table} and ip6 {table}");
    for fam in [Family::V4, Family::V6] {
        render_table(&mut out, table, fam, &bridges, &forwards);
    }
    out
}

/// The state in canonical order, whatever order the caller listed it in: bridges sorted and
/// deduplicated by device; forwards into internal bridges dropped, the rest sorted and
/// deduplicated.
fn normalize(rs: &Ruleset) -> (Vec<&BridgeRules>, Vec<&PortForward>) {
    let mut bridges: Vec<&BridgeRules> = rs.bridges.iter().collect();
    bridges.sort_by(|a, b| a.device.cmp(&b.device));
    bridges.dedup_by(|a, b| a.device == b.device);
    let internal = |dev: &str| bridges.iter().any(|b| b.device == dev && b.internal);
    let mut forwards: Vec<&PortForward> = rs.forwards.iter().filter(|f| !internal(&f.device)).collect();
    forwards.sort_by(|a, b| {
        (a.host_port, a.proto, a.host_ip, a.container_ip, a.container_port, &a.device).cmp(&(
            b.host_port,
            b.proto,
            b.host_ip,
            b.container_ip,
            b.container_port,
            &b.device,
        ))
    });
    forwards.dedup();
    (bridges, forwards)
}

fn render_table(out: &mut String, table: &str, fam: Family, bridges: &[&BridgeRules], forwards: &[&PortForward]) {
    let t = fam.table();
    let _ = writeln!(out, "add table {t} {table}");
    let _ = writeln!(out, "delete table {t} {table}");
    let _ = writeln!(out, "table {t} {table} {{");

    for (name, hook, prio) in [("prerouting", "prerouting", "dstnat"), ("output", "output", "-100")] {
        let _ = writeln!(out, "\tchain {name} {{");
        let _ = writeln!(out, "\t\ttype nat hook {hook} priority {prio}; policy accept;");
        let _ = writeln!(out, "\t\tfib daddr type local jump ports");
        let _ = writeln!(out, "\t}}\n");
    }

    let _ = writeln!(out, "\tchain ports {{");
    for f in forwards {
        let Some((daddr, to)) = f.in_family(fam) else { continue };
        let daddr = daddr.map(|ip| format!("{t} daddr {ip} ")).unwrap_or_default();
        let p = f.proto.as_str();
        let _ = writeln!(out, "\t\tmeta l4proto {p} {daddr}{p} dport {} dnat to {to}", f.host_port);
    }
    let _ = writeln!(out, "\t}}\n");

    let _ = writeln!(out, "\tchain postrouting {{");
    let _ = writeln!(out, "\t\ttype nat hook postrouting priority srcnat; policy accept;");
    for b in bridges.iter().filter(|b| !b.internal) {
        let dev = quote(&b.device);
        if fam == Family::V4 {
            let _ = writeln!(out, "\t\toifname {dev} ip saddr 127.0.0.0/8 masquerade");
        }
        for net in b.subnets.iter().filter(|n| fam.matches(&n.addr())) {
            let net = net.trunc();
            let _ = writeln!(out, "\t\toifname {dev} {t} saddr {net} ct status dnat masquerade");
            if b.masquerade {
                let _ = writeln!(out, "\t\toifname != {dev} {t} saddr {net} masquerade");
            }
        }
    }
    let _ = writeln!(out, "\t}}\n");

    let _ = writeln!(out, "\tchain forward {{");
    let _ = writeln!(out, "\t\ttype filter hook forward priority filter - 1; policy accept;");
    let _ = writeln!(out, "\t\tct state established,related accept");
    for b in bridges.iter().filter(|b| b.internal) {
        let dev = quote(&b.device);
        let _ = writeln!(out, "\t\tiifname {dev} oifname != {dev} drop");
        let _ = writeln!(out, "\t\toifname {dev} iifname != {dev} drop");
    }
    if bridges.len() > 1 {
        let _ = writeln!(out, "\t\tct status dnat accept");
        for b in bridges {
            let others: Vec<String> =
                bridges.iter().filter(|o| o.device != b.device).map(|o| quote(&o.device)).collect();
            let _ = writeln!(out, "\t\tiifname {} oifname {{ {} }} drop", quote(&b.device), others.join(", "));
        }
    }
    let _ = writeln!(out, "\t}}");
    let _ = writeln!(out, "}}");
}

/// An interface name as an nft string (names never hold quotes; drop any rather than break
/// the script).
fn quote(dev: &str) -> String {
    let clean: String = dev.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect();
    format!("\"{clean}\"")
}

/// A script deleting tables `ip <table>` and `ip6 <table>`, fine if they do not exist.
pub fn render_delete(table: &str) -> String {
    let mut out = String::new();
    for t in ["ip", "ip6"] {
        let _ = writeln!(out, "add table {t} {table}");
        let _ = writeln!(out, "delete table {t} {table}");
    }
    out
}

/// Something that makes a table's rules match a [`Ruleset`]: the seam between the engine
/// (which knows the desired state) and the host's firewall tool.
pub trait Backend: Send + Sync {
    /// Replace everything this daemon has under the name `table` with the rules for `rs`, as
    /// atomically as the tool allows. [`Nft`]: one transaction, so a failure changes nothing.
    /// [`Iptables`]: one restore per family, each iptables table committed whole, so a
    /// failure leaves the failing table's previous rules but may follow an earlier table's
    /// or family's commit; applying again converges either way.
    fn apply(&self, table: &str, rs: &Ruleset) -> Result<(), Error>;
    /// Remove everything under the name `table`; fine if nothing is there.
    fn remove(&self, table: &str) -> Result<(), Error>;
}

/// The backend for this host: [`Nft`] when an `nft` binary exists, else [`Iptables`] when
/// `iptables` and `iptables-restore` do (IPv6 through `ip6tables-restore` when present),
/// else [`Error::NoBackend`].
pub fn backend_for_host() -> Result<Box<dyn Backend>, Error> {
    if let Ok(nft) = Nft::new() {
        return Ok(Box::new(nft));
    }
    match Iptables::new() {
        Ok(ipt) => Ok(Box::new(ipt)),
        Err(_) => Err(Error::NoBackend),
    }
}

/// The nftables backend: renders with [`render`] / [`render_delete`] and runs `nft -f -`
/// with the script on stdin, optionally behind a command prefix (tests use
/// `ip netns exec NAME` to apply rules in a throwaway namespace).
#[derive(Debug, Clone)]
pub struct Nft {
    program: PathBuf,
    prefix: Vec<String>,
}

impl Nft {
    /// Find `nft` in `PATH`, then /usr/sbin and /sbin.
    pub fn new() -> Result<Nft, Error> {
        Ok(Nft { program: find_program("nft").ok_or(Error::NotFound)?, prefix: Vec::new() })
    }

    /// As [`Nft::new`], run as `prefix... nft -f -`, e.g.
    /// `Nft::with_prefix(["ip", "netns", "exec", "NAME"])`.
    pub fn with_prefix<I, S>(prefix: I) -> Result<Nft, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut nft = Nft::new()?;
        nft.prefix = prefix.into_iter().map(Into::into).collect();
        Ok(nft)
    }

    /// Use this `nft` binary.
    pub fn at(program: impl Into<PathBuf>) -> Nft {
        Nft { program: program.into(), prefix: Vec::new() }
    }

    /// The `nft` binary used.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Run any nft script in one transaction (`nft -f -`): all of it or nothing.
    pub fn apply_script(&self, script: &str) -> Result<(), Error> {
        run(&self.prefix, &self.program, &["-f", "-"], Some(script), "nft -f -").map(drop)
    }
}

impl Backend for Nft {
    fn apply(&self, table: &str, rs: &Ruleset) -> Result<(), Error> {
        self.apply_script(&render(table, rs))
    }

    fn remove(&self, table: &str) -> Result<(), Error> {
        self.apply_script(&render_delete(table))
    }
}

/// The backend for `--iptables=false`: applies nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disabled;

impl Backend for Disabled {
    fn apply(&self, _table: &str, _rs: &Ruleset) -> Result<(), Error> {
        Ok(())
    }

    fn remove(&self, _table: &str) -> Result<(), Error> {
        Ok(())
    }
}

/// `name` as an executable in `PATH`, then /usr/sbin, /sbin, /usr/local/sbin.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

/// Run `prefix... program args...`, feeding `stdin` (from another thread, so a chatty
/// command cannot block us on a full pipe), and return its stdout. `label` names the command
/// in errors; a non-zero exit is [`Error::Failed`] with its stderr (or stdout if silent).
fn run(prefix: &[String], program: &Path, args: &[&str], stdin: Option<&str>, label: &str) -> Result<String, Error> {
    let command_line = || {
        let mut parts = prefix.to_vec();
        parts.push(program.display().to_string());
        parts.extend(args.iter().map(|a| a.to_string()));
        parts.join(" ")
    };
    let spawn_err = |source: io::Error| Error::Spawn { program: command_line(), source };
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let mut pipe = child.stdin.take();
    let input = stdin.unwrap_or_default();
    let (written, output) = std::thread::scope(|s| {
        let writer = s.spawn(move || match pipe.as_mut() {
            Some(w) => w.write_all(input.as_bytes()),
            None => Ok(()),
        });
        let output = child.wait_with_output();
        (writer.join(), output)
    });
    let output = output.map_err(spawn_err)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
        return Err(Error::Failed {
            program: label.to_string(),
            status: output.status.to_string(),
            stderr: if stderr.is_empty() { stdout } else { stderr },
        });
    }
    match written {
        Ok(Ok(())) => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
        Ok(Err(e)) => Err(spawn_err(e)),
        Err(_) => Err(spawn_err(io::Error::other("stdin writer panicked"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn bridge(dev: &str, subnets: &[&str], internal: bool, masquerade: bool) -> BridgeRules {
        BridgeRules {
            device: dev.into(),
            subnets: subnets.iter().map(|s| s.parse().unwrap()).collect(),
            internal,
            masquerade,
        }
    }

    fn fwd(proto: Proto, host_ip: Option<&str>, host_port: u16, cip: &str, cport: u16, dev: &str) -> PortForward {
        PortForward {
            proto,
            host_ip: host_ip.map(|s| s.parse().unwrap()),
            host_port,
            container_ip: cip.parse().unwrap(),
            container_port: cport,
            device: dev.into(),
        }
    }

    #[test]
    fn render_empty() {
        expect![[r#"
            # generated by berthd: the whole of tables ip berth-abc123 and ip6 berth-abc123
            add table ip berth-abc123
            delete table ip berth-abc123
            table ip berth-abc123 {
            	chain prerouting {
            		type nat hook prerouting priority dstnat; policy accept;
            		fib daddr type local jump ports
            	}

            	chain output {
            		type nat hook output priority -100; policy accept;
            		fib daddr type local jump ports
            	}

            	chain ports {
            	}

            	chain postrouting {
            		type nat hook postrouting priority srcnat; policy accept;
            	}

            	chain forward {
            		type filter hook forward priority filter - 1; policy accept;
            		ct state established,related accept
            	}
            }
            add table ip6 berth-abc123
            delete table ip6 berth-abc123
            table ip6 berth-abc123 {
            	chain prerouting {
            		type nat hook prerouting priority dstnat; policy accept;
            		fib daddr type local jump ports
            	}

            	chain output {
            		type nat hook output priority -100; policy accept;
            		fib daddr type local jump ports
            	}

            	chain ports {
            	}

            	chain postrouting {
            		type nat hook postrouting priority srcnat; policy accept;
            	}

            	chain forward {
            		type filter hook forward priority filter - 1; policy accept;
            		ct state established,related accept
            	}
            }
        "#]]
        .assert_eq(&render("berth-abc123", &Ruleset::default()));
    }

    pub(crate) fn sample() -> Ruleset {
        Ruleset {
            bridges: vec![
                bridge("babc123-9f8e7d", &["172.18.0.0/16", "fd00:1::/64"], false, true),
                bridge("berth0", &["172.17.0.0/16"], false, true),
                bridge("babc123-internal", &["172.19.0.0/16"], true, true),
                bridge("babc123-nomasq", &["172.20.0.0/16"], false, false),
            ],
            forwards: vec![
                fwd(Proto::Udp, None, 5353, "172.17.0.2", 53, "berth0"),
                fwd(Proto::Tcp, None, 8080, "172.17.0.2", 80, "berth0"),
                fwd(Proto::Tcp, Some("127.0.0.1"), 8081, "172.18.0.2", 80, "babc123-9f8e7d"),
                fwd(Proto::Tcp, Some("0.0.0.0"), 8082, "172.18.0.3", 80, "babc123-9f8e7d"),
                fwd(Proto::Tcp, Some("::1"), 8083, "172.18.0.3", 80, "babc123-9f8e7d"),
                fwd(Proto::Tcp, None, 8084, "fd00:1::2", 80, "babc123-9f8e7d"),
                fwd(Proto::Sctp, Some("fd00::5"), 8085, "fd00:1::2", 80, "babc123-9f8e7d"),
                fwd(Proto::Tcp, None, 8086, "172.19.0.2", 80, "babc123-internal"),
            ],
        }
    }

    #[test]
    fn render_sample() {
        expect![[r#"
            # generated by berthd: the whole of tables ip t and ip6 t
            add table ip t
            delete table ip t
            table ip t {
            	chain prerouting {
            		type nat hook prerouting priority dstnat; policy accept;
            		fib daddr type local jump ports
            	}

            	chain output {
            		type nat hook output priority -100; policy accept;
            		fib daddr type local jump ports
            	}

            	chain ports {
            		meta l4proto udp udp dport 5353 dnat to 172.17.0.2:53
            		meta l4proto tcp tcp dport 8080 dnat to 172.17.0.2:80
            		meta l4proto tcp ip daddr 127.0.0.1 tcp dport 8081 dnat to 172.18.0.2:80
            		meta l4proto tcp tcp dport 8082 dnat to 172.18.0.3:80
            	}

            	chain postrouting {
            		type nat hook postrouting priority srcnat; policy accept;
            		oifname "babc123-9f8e7d" ip saddr 127.0.0.0/8 masquerade
            		oifname "babc123-9f8e7d" ip saddr 172.18.0.0/16 ct status dnat masquerade
            		oifname != "babc123-9f8e7d" ip saddr 172.18.0.0/16 masquerade
            		oifname "babc123-nomasq" ip saddr 127.0.0.0/8 masquerade
            		oifname "babc123-nomasq" ip saddr 172.20.0.0/16 ct status dnat masquerade
            		oifname "berth0" ip saddr 127.0.0.0/8 masquerade
            		oifname "berth0" ip saddr 172.17.0.0/16 ct status dnat masquerade
            		oifname != "berth0" ip saddr 172.17.0.0/16 masquerade
            	}

            	chain forward {
            		type filter hook forward priority filter - 1; policy accept;
            		ct state established,related accept
            		iifname "babc123-internal" oifname != "babc123-internal" drop
            		oifname "babc123-internal" iifname != "babc123-internal" drop
            		ct status dnat accept
            		iifname "babc123-9f8e7d" oifname { "babc123-internal", "babc123-nomasq", "berth0" } drop
            		iifname "babc123-internal" oifname { "babc123-9f8e7d", "babc123-nomasq", "berth0" } drop
            		iifname "babc123-nomasq" oifname { "babc123-9f8e7d", "babc123-internal", "berth0" } drop
            		iifname "berth0" oifname { "babc123-9f8e7d", "babc123-internal", "babc123-nomasq" } drop
            	}
            }
            add table ip6 t
            delete table ip6 t
            table ip6 t {
            	chain prerouting {
            		type nat hook prerouting priority dstnat; policy accept;
            		fib daddr type local jump ports
            	}

            	chain output {
            		type nat hook output priority -100; policy accept;
            		fib daddr type local jump ports
            	}

            	chain ports {
            		meta l4proto tcp tcp dport 8084 dnat to [fd00:1::2]:80
            		meta l4proto sctp ip6 daddr fd00::5 sctp dport 8085 dnat to [fd00:1::2]:80
            	}

            	chain postrouting {
            		type nat hook postrouting priority srcnat; policy accept;
            		oifname "babc123-9f8e7d" ip6 saddr fd00:1::/64 ct status dnat masquerade
            		oifname != "babc123-9f8e7d" ip6 saddr fd00:1::/64 masquerade
            	}

            	chain forward {
            		type filter hook forward priority filter - 1; policy accept;
            		ct state established,related accept
            		iifname "babc123-internal" oifname != "babc123-internal" drop
            		oifname "babc123-internal" iifname != "babc123-internal" drop
            		ct status dnat accept
            		iifname "babc123-9f8e7d" oifname { "babc123-internal", "babc123-nomasq", "berth0" } drop
            		iifname "babc123-internal" oifname { "babc123-9f8e7d", "babc123-nomasq", "berth0" } drop
            		iifname "babc123-nomasq" oifname { "babc123-9f8e7d", "babc123-internal", "berth0" } drop
            		iifname "berth0" oifname { "babc123-9f8e7d", "babc123-internal", "babc123-nomasq" } drop
            	}
            }
        "#]]
        .assert_eq(&render("t", &sample()));
    }

    #[test]
    fn render_is_deterministic_whatever_the_input_order() {
        let a = sample();
        let mut b = sample();
        b.bridges.reverse();
        b.forwards.reverse();
        b.forwards.push(b.forwards[0].clone());
        assert_eq!(render("t", &a), render("t", &b));
    }

    #[test]
    fn render_delete_both_families() {
        expect![[r#"
            add table ip berth-x
            delete table ip berth-x
            add table ip6 berth-x
            delete table ip6 berth-x
        "#]]
        .assert_eq(&render_delete("berth-x"));
    }

    #[test]
    fn quote_never_breaks_the_script() {
        assert_eq!(quote("berth0"), "\"berth0\"");
        assert_eq!(quote("a\"b\\c\n"), "\"abc\"");
    }

    #[test]
    fn nft_failure_carries_stderr() {
        // `sh -c` as the "prefix" stands in for nft: it reads the script and fails.
        let nft = Nft {
            program: PathBuf::from("ignored"),
            prefix: vec!["sh".into(), "-c".into(), "cat >/dev/null; echo 'Error: syntax error' >&2; exit 1".into()],
        };
        let e = nft.apply_script("add table ip x\n").unwrap_err();
        assert_eq!(e.to_string(), "nft -f - failed (exit status: 1): Error: syntax error");
        assert_eq!(e.kind(), Kind::Internal);
        assert_eq!(nft.apply("t", &sample()).unwrap_err().to_string(), e.to_string());
        assert_eq!(nft.remove("t").unwrap_err().to_string(), e.to_string());
        let ok =
            Nft { program: PathBuf::from("ignored"), prefix: vec!["sh".into(), "-c".into(), "cat >/dev/null".into()] };
        ok.apply_script(&"x".repeat(1 << 20)).unwrap();
        ok.apply("t", &sample()).unwrap();
        ok.remove("t").unwrap();
        let missing = Nft::at("/nonexistent/nft");
        assert_eq!(missing.apply_script("").unwrap_err().kind(), Kind::Internal);
        assert_eq!(missing.apply("t", &Ruleset::default()).unwrap_err().kind(), Kind::Internal);
    }

    #[test]
    fn nft_backend_feeds_the_render() {
        // The "nft" writes what it was fed to a file, so we see exactly what apply/remove send.
        let out = std::env::temp_dir().join(format!("berth-nft-fed-{}", std::process::id()));
        let nft = Nft {
            program: PathBuf::from("ignored"),
            prefix: vec!["sh".into(), "-c".into(), format!("cat >{}", out.display())],
        };
        nft.apply("t", &sample()).unwrap();
        let fed = std::fs::read_to_string(&out).unwrap();
        assert_eq!(fed, render("t", &sample()));
        nft.remove("t").unwrap();
        let fed = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        assert_eq!(fed, render_delete("t"));
    }

    #[test]
    fn disabled_does_nothing() {
        assert!(Disabled.apply("t", &sample()).is_ok());
        assert!(Disabled.remove("t").is_ok());
    }

    #[test]
    fn error_kinds_and_messages() {
        let cases: [(Error, Kind, &str); 4] = [
            (Error::NotFound, Kind::Unavailable, "nft not found"),
            (Error::IptablesNotFound, Kind::Unavailable, "iptables and iptables-restore not found"),
            (Error::NoBackend, Kind::Unavailable, "neither nft nor iptables-restore found"),
            (Error::Ip6tablesNotFound, Kind::Unavailable, "ip6tables-restore not found"),
        ];
        for (e, kind, start) in cases {
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.to_string().starts_with(start), "{e}");
        }
    }

    #[test]
    fn backend_for_host_finds_this_hosts_tool() {
        // Whatever this machine has; the choice itself: nft when present.
        let have_nft = find_program("nft").is_some();
        let have_ipt = find_program("iptables").is_some() && find_program("iptables-restore").is_some();
        match backend_for_host() {
            Ok(_) => assert!(have_nft || have_ipt),
            Err(e) => {
                assert!(!have_nft && !have_ipt);
                assert!(matches!(e, Error::NoBackend), "{e}");
            }
        }
    }
}
