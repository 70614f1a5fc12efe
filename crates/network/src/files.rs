//! The files a container's resolver reads, written as Docker 28 writes them: `/etc/hosts`
//! ([`hosts`], with `--add-host` entries from [`parse_extra_host`]) and `/etc/resolv.conf`
//! ([`ResolvConf`], [`container_resolv`]).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use berth_errdefs::{HasKind, Kind};
use serde::{Deserialize, Serialize};

/// What can go wrong with these files' inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not `name:ip` / `name=ip`.
    #[error("bad format for add-host: {0:?}")]
    BadExtraHost(String),
    /// The address part is not an address.
    #[error("invalid IP address in add-host: {0:?}")]
    BadExtraHostIp(String),
    /// `host-gateway` asked for, but the daemon knows no host gateway address.
    #[error("unable to derive the IP value for host-gateway")]
    NoHostGateway,
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        Kind::InvalidArgument
    }
}

/// The special `--add-host` value replaced by the daemon's host gateway address.
pub const HOST_GATEWAY: &str = "host-gateway";

/// A container's `/etc/hosts`, in Docker's order: the localhost and IPv6 lines, the extra
/// hosts (`IP\tname`), then one line per container address naming the container
/// (`IP\thostname`, or `IP\thostname.domainname hostname` when there is a domain or the
/// hostname has dots). No address lines without a hostname.
pub fn hosts(hostname: &str, domainname: &str, addrs: &[IpAddr], extra: &[(String, IpAddr)]) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::\tip6-localnet\n\
         ff00::\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for (name, ip) in extra {
        let _ = writeln!(out, "{ip}\t{name}");
    }
    if !hostname.is_empty() {
        let mut names = hostname.to_string();
        if !domainname.is_empty() {
            names = format!("{hostname}.{domainname}");
        }
        if let Some((short, _)) = names.split_once('.') {
            names = format!("{names} {short}");
        }
        for ip in addrs {
            let _ = writeln!(out, "{ip}\t{names}");
        }
    }
    out
}

/// Parse an `--add-host` value (`HostConfig.ExtraHosts` entry): `name:ip`, `name=ip`, IPv6 with
/// or without brackets (`name:::1`, `name:[::1]`, `name=::1`), or `name:host-gateway`, which
/// becomes `host_gateway` (an error when the daemon has none).
pub fn parse_extra_host(s: &str, host_gateway: Option<IpAddr>) -> Result<(String, IpAddr), Error> {
    let (name, value) = match s.split_once('=') {
        Some(kv) => kv,
        None => s.split_once(':').ok_or_else(|| Error::BadExtraHost(s.to_string()))?,
    };
    if name.is_empty() {
        return Err(Error::BadExtraHost(s.to_string()));
    }
    if value == HOST_GATEWAY {
        return host_gateway.map(|ip| (name.to_string(), ip)).ok_or(Error::NoHostGateway);
    }
    let inner = match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        Some(v) if value.len() > 2 => v,
        _ => value,
    };
    let ip: IpAddr = inner.parse().map_err(|_| Error::BadExtraHostIp(inner.to_string()))?;
    Ok((name.to_string(), ip))
}

/// The parts of a `resolv.conf` that matter to a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvConf {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<IpAddr>,
    /// The `search` list (the last `search` or `domain` line wins, as in glibc).
    pub search: Vec<String>,
    /// Every `options` entry, in order.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Read a `resolv.conf`. Comments (`#`, `;`), unknown keywords and nameservers that are not
    /// plain addresses (e.g. with a `%zone`) are skipped.
    pub fn parse(text: &str) -> ResolvConf {
        let mut rc = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(|w| w.parse().ok()) {
                        rc.nameservers.push(ip);
                    }
                }
                Some("search") | Some("domain") => rc.search = words.map(String::from).collect(),
                Some("options") => rc.options.extend(words.map(String::from)),
                _ => {}
            }
        }
        rc
    }

    /// The file: `nameserver` lines, then `search`, then `options` (lines only when not empty).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for ns in &self.nameservers {
            let _ = writeln!(out, "nameserver {ns}");
        }
        if !self.search.is_empty() {
            let _ = writeln!(out, "search {}", self.search.join(" "));
        }
        if !self.options.is_empty() {
            let _ = writeln!(out, "options {}", self.options.join(" "));
        }
        out
    }
}

/// Google's resolvers: what a container gets when nothing else is usable (Docker's default).
pub const DEFAULT_NAMESERVERS: [IpAddr; 2] =
    [IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)), IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4))];

/// A container's `resolv.conf` and the servers its queries finally go to, by Docker's rules:
/// start from the host's file; `--dns`, `--dns-search` (`.` alone means none) and
/// `--dns-option` each replace their part when given.
/// - `embedded: None` (the default bridge, no embedded DNS): localhost nameservers are removed
///   (they are unreachable from the container); if none are left, [`DEFAULT_NAMESERVERS`].
///   The upstreams are those same servers.
/// - `embedded: Some(addr)` (user networks): the file names only `addr`, with `ndots:0` added
///   unless an ndots option is set; the servers it replaced become the embedded server's
///   upstreams (localhost ones included: the embedded server runs in the host's namespace),
///   [`DEFAULT_NAMESERVERS`] if there are none.
pub fn container_resolv(
    host: &ResolvConf,
    dns: &[IpAddr],
    search: &[String],
    options: &[String],
    embedded: Option<IpAddr>,
) -> (ResolvConf, Vec<IpAddr>) {
    let mut rc = host.clone();
    if !dns.is_empty() {
        rc.nameservers = dns.to_vec();
    }
    if !search.is_empty() {
        rc.search = search.iter().filter(|s| s.as_str() != ".").cloned().collect();
    }
    if !options.is_empty() {
        rc.options = options.to_vec();
    }
    match embedded {
        None => {
            rc.nameservers.retain(|ip| !ip.is_loopback());
            if rc.nameservers.is_empty() {
                rc.nameservers = DEFAULT_NAMESERVERS.to_vec();
            }
            let upstreams = rc.nameservers.clone();
            (rc, upstreams)
        }
        Some(addr) => {
            let mut upstreams = std::mem::replace(&mut rc.nameservers, vec![addr]);
            if upstreams.is_empty() {
                upstreams = DEFAULT_NAMESERVERS.to_vec();
            }
            if !rc.options.iter().any(|o| o == "ndots" || o.starts_with("ndots:")) {
                rc.options.push("ndots:0".into());
            }
            (rc, upstreams)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|s| ip(s)).collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hosts_plain() {
        expect![[r#"
            127.0.0.1	localhost
            ::1	localhost ip6-localhost ip6-loopback
            fe00::	ip6-localnet
            ff00::	ip6-mcastprefix
            ff02::1	ip6-allnodes
            ff02::2	ip6-allrouters
            172.17.0.2	3f2a9c1b7d4e
        "#]]
        .assert_eq(&hosts("3f2a9c1b7d4e", "", &ips(&["172.17.0.2"]), &[]));
    }

    #[test]
    fn hosts_domain_extra_and_two_addresses() {
        expect![[r#"
            127.0.0.1	localhost
            ::1	localhost ip6-localhost ip6-loopback
            fe00::	ip6-localnet
            ff00::	ip6-mcastprefix
            ff02::1	ip6-allnodes
            ff02::2	ip6-allrouters
            10.0.0.7	db
            ::1	local6
            172.18.0.2	web.example.com web
            fd00:1::2	web.example.com web
        "#]]
        .assert_eq(&hosts(
            "web",
            "example.com",
            &ips(&["172.18.0.2", "fd00:1::2"]),
            &[("db".into(), ip("10.0.0.7")), ("local6".into(), ip("::1"))],
        ));
    }

    #[test]
    fn hosts_table() {
        let cases = [("a.b.c", "", "172.17.0.2\ta.b.c a\n"), ("web", "", "172.17.0.2\tweb\n"), ("", "example.com", "")];
        for (host, domain, tail) in cases {
            let text = hosts(host, domain, &ips(&["172.17.0.2"]), &[]);
            let own = text.lines().skip(6).map(|l| format!("{l}\n")).collect::<String>();
            assert_eq!(own, tail, "{host} {domain}");
        }
    }

    #[test]
    fn parse_extra_host_table() {
        let gw = Some(ip("172.17.0.1"));
        type Case = (&'static str, Option<IpAddr>, Result<(&'static str, &'static str), &'static str>);
        let cases: &[Case] = &[
            ("db:10.0.0.7", None, Ok(("db", "10.0.0.7"))),
            ("db=10.0.0.7", None, Ok(("db", "10.0.0.7"))),
            ("v6:::1", None, Ok(("v6", "::1"))),
            ("v6:[::1]", None, Ok(("v6", "::1"))),
            ("v6=[fd00::2]", None, Ok(("v6", "fd00::2"))),
            ("v6=fd00::2", None, Ok(("v6", "fd00::2"))),
            ("host.docker.internal:host-gateway", gw, Ok(("host.docker.internal", "172.17.0.1"))),
            ("gw=host-gateway", gw, Ok(("gw", "172.17.0.1"))),
            ("gw:host-gateway", None, Err("unable to derive the IP value for host-gateway")),
            ("db", None, Err("bad format for add-host: \"db\"")),
            (":10.0.0.7", None, Err("bad format for add-host: \":10.0.0.7\"")),
            ("=10.0.0.7", None, Err("bad format for add-host: \"=10.0.0.7\"")),
            ("db:", None, Err("invalid IP address in add-host: \"\"")),
            ("db:banana", None, Err("invalid IP address in add-host: \"banana\"")),
            ("db:[10.0.0.7]", None, Ok(("db", "10.0.0.7"))),
            ("db:[]", None, Err("invalid IP address in add-host: \"[]\"")),
            ("db:10.0.0.7:80", None, Err("invalid IP address in add-host: \"10.0.0.7:80\"")),
        ];
        for (input, gw, want) in cases {
            let got = parse_extra_host(input, *gw).map_err(|e| {
                assert_eq!(e.kind(), Kind::InvalidArgument);
                e.to_string()
            });
            let want = want.map(|(n, a)| (n.to_string(), ip(a))).map_err(str::to_string);
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn resolv_parse_table() {
        let cases: &[(&str, ResolvConf)] = &[
            ("", ResolvConf::default()),
            (
                "# Generated by NetworkManager\nsearch corp.example example.com\nnameserver 10.0.0.53\nnameserver 127.0.0.53 # stub\n; comment\nnameserver fe80::1%eth0\noptions edns0 trust-ad\noptions ndots:2\nsortlist 10.0.0.0/8\n",
                ResolvConf {
                    nameservers: ips(&["10.0.0.53", "127.0.0.53"]),
                    search: strings(&["corp.example", "example.com"]),
                    options: strings(&["edns0", "trust-ad", "ndots:2"]),
                },
            ),
            (
                "domain a.example\nsearch b.example\n  nameserver\t2001:4860:4860::8888  \nnameserver\nnameserver banana\n",
                ResolvConf { nameservers: ips(&["2001:4860:4860::8888"]), search: strings(&["b.example"]), options: vec![] },
            ),
            ("search b.example\ndomain a.example\n", ResolvConf { search: strings(&["a.example"]), ..Default::default() }),
        ];
        for (text, want) in cases {
            assert_eq!(&ResolvConf::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn resolv_render_round_trip() {
        let rc = ResolvConf {
            nameservers: ips(&["10.0.0.53", "fd00::53"]),
            search: strings(&["a.example", "b.example"]),
            options: strings(&["ndots:0", "edns0"]),
        };
        expect![[r#"
            nameserver 10.0.0.53
            nameserver fd00::53
            search a.example b.example
            options ndots:0 edns0
        "#]]
        .assert_eq(&rc.render());
        assert_eq!(ResolvConf::parse(&rc.render()), rc);
        assert_eq!(ResolvConf::default().render(), "");
    }

    #[test]
    fn container_resolv_table() {
        let host = ResolvConf {
            nameservers: ips(&["127.0.0.53", "10.0.0.53", "::1"]),
            search: strings(&["corp.example"]),
            options: strings(&["edns0"]),
        };
        let only_local = ResolvConf { nameservers: ips(&["127.0.0.53"]), ..Default::default() };
        let gw = Some(ip("172.18.0.1"));
        struct Case {
            host: ResolvConf,
            dns: Vec<IpAddr>,
            search: Vec<String>,
            options: Vec<String>,
            embedded: Option<IpAddr>,
            file: ResolvConf,
            upstreams: Vec<IpAddr>,
        }
        let rc = |ns: &[&str], search: &[&str], options: &[&str]| ResolvConf {
            nameservers: ips(ns),
            search: strings(search),
            options: strings(options),
        };
        let cases = vec![
            // Default bridge: the host's file minus localhost servers.
            Case {
                host: host.clone(),
                dns: vec![],
                search: vec![],
                options: vec![],
                embedded: None,
                file: rc(&["10.0.0.53"], &["corp.example"], &["edns0"]),
                upstreams: ips(&["10.0.0.53"]),
            },
            // Nothing left: Google's.
            Case {
                host: only_local.clone(),
                dns: vec![],
                search: vec![],
                options: vec![],
                embedded: None,
                file: rc(&["8.8.8.8", "8.8.4.4"], &[], &[]),
                upstreams: ips(&["8.8.8.8", "8.8.4.4"]),
            },
            Case {
                host: ResolvConf::default(),
                dns: vec![],
                search: vec![],
                options: vec![],
                embedded: None,
                file: rc(&["8.8.8.8", "8.8.4.4"], &[], &[]),
                upstreams: ips(&["8.8.8.8", "8.8.4.4"]),
            },
            // Overrides replace their part; "." alone means no search list.
            Case {
                host: host.clone(),
                dns: ips(&["1.1.1.1", "127.0.0.1"]),
                search: strings(&["."]),
                options: strings(&["ndots:3"]),
                embedded: None,
                file: rc(&["1.1.1.1"], &[], &["ndots:3"]),
                upstreams: ips(&["1.1.1.1"]),
            },
            Case {
                host: host.clone(),
                dns: vec![],
                search: strings(&["x.example", "y.example"]),
                options: vec![],
                embedded: None,
                file: rc(&["10.0.0.53"], &["x.example", "y.example"], &["edns0"]),
                upstreams: ips(&["10.0.0.53"]),
            },
            // User network: only the embedded server; the real ones (localhost too) upstream.
            Case {
                host: host.clone(),
                dns: vec![],
                search: vec![],
                options: vec![],
                embedded: gw,
                file: rc(&["172.18.0.1"], &["corp.example"], &["edns0", "ndots:0"]),
                upstreams: ips(&["127.0.0.53", "10.0.0.53", "::1"]),
            },
            Case {
                host: host.clone(),
                dns: ips(&["9.9.9.9"]),
                search: vec![],
                options: strings(&["ndots:2", "timeout:1"]),
                embedded: gw,
                file: rc(&["172.18.0.1"], &["corp.example"], &["ndots:2", "timeout:1"]),
                upstreams: ips(&["9.9.9.9"]),
            },
            Case {
                host: ResolvConf::default(),
                dns: vec![],
                search: vec![],
                options: vec![],
                embedded: gw,
                file: rc(&["172.18.0.1"], &[], &["ndots:0"]),
                upstreams: ips(&["8.8.8.8", "8.8.4.4"]),
            },
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let (file, upstreams) = container_resolv(&c.host, &c.dns, &c.search, &c.options, c.embedded);
            assert_eq!(file, c.file, "case {i}");
            assert_eq!(upstreams, c.upstreams, "case {i}");
        }
    }
}
