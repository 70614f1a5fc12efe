//! Published ports: what the API's `HostConfig.PortBindings`, `HostConfig.PublishAllPorts`
//! and `Config.ExposedPorts` mean ([`expand`]), and holding a host port while it is published
//! ([`reserve`]).
//!
//! A held port is a bound socket (TCP: bound but not listening, so connections are refused
//! rather than queued; UDP and SCTP: bound), without `SO_REUSEADDR`: another process that
//! already uses the port makes the publish fail with Docker's message, and nobody can take the
//! port while it is published. The traffic itself is forwarded by the firewall's DNAT rules.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::str::FromStr;

use berth_api::models::PortBinding;
use berth_errdefs::{HasKind, Kind};
use serde::{Deserialize, Serialize};

/// What can go wrong with published ports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed port key (`80/tcp`) or host port (`8080`, `8000-8010`).
    #[error("invalid port specification: {0:?}")]
    InvalidSpec(String),
    /// A protocol other than tcp, udp and sctp.
    #[error("invalid proto: {0}")]
    InvalidProto(String),
    /// A host IP that is not an address.
    #[error("invalid IP address: {0}")]
    InvalidHostIp(String),
    /// The host port (or every port of the range) is in use. Docker's exact message.
    #[error("Bind for {0} failed: port is already allocated")]
    Allocated(String),
    /// Binding failed for another reason, e.g. the host IP is not an address of this host.
    #[error("cannot bind {proto} {addr}: {source}")]
    Bind {
        /// The protocol.
        proto: Proto,
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::InvalidSpec(_) | Error::InvalidProto(_) | Error::InvalidHostIp(_) => Kind::InvalidArgument,
            Error::Allocated(_) => Kind::Conflict,
            Error::Bind { source, .. } => match source.raw_os_error() {
                Some(libc::EADDRNOTAVAIL) => Kind::InvalidArgument,
                Some(libc::EACCES) | Some(libc::EPERM) => Kind::PermissionDenied,
                Some(libc::EPROTONOSUPPORT) | Some(libc::ESOCKTNOSUPPORT) | Some(libc::EAFNOSUPPORT) => {
                    Kind::NotImplemented
                }
                _ => Kind::Internal,
            },
        }
    }
}

/// A transport protocol a port is published for. Serialized lowercase, as in `80/tcp`.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Proto {
    /// `tcp`, `udp` or `sctp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Proto {
    type Err = Error;
    /// `tcp`, `udp`, `sctp` in any case.
    fn from_str(s: &str) -> Result<Proto, Error> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            _ => Err(Error::InvalidProto(s.to_string())),
        }
    }
}

/// One published port, resolved.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Binding {
    /// The protocol.
    pub proto: Proto,
    /// The port inside the container.
    pub container_port: u16,
    /// The host address it is published on; `None`: every address.
    pub host_ip: Option<IpAddr>,
    /// The host port; 0: any free one.
    pub host_port: u16,
    /// Last port of a host port range (`8000-8010`: any free one of them); equal to
    /// `host_port` for a single port, 0 when `host_port` is 0.
    pub host_port_end: u16,
}

/// Parse a port key as the API spells it: `80/tcp`, `53/udp`, `80` (tcp).
pub fn parse_key(key: &str) -> Result<(u16, Proto), Error> {
    let (port, proto) = match key.split_once('/') {
        Some((port, "")) => (port, Proto::Tcp),
        Some((port, proto)) => (port, proto.parse()?),
        None => (key, Proto::Tcp),
    };
    match parse_port(port) {
        Some(p) if p != 0 => Ok((p, proto)),
        _ => Err(Error::InvalidSpec(key.to_string())),
    }
}

/// A decimal port number, digits only.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `HostPort`: "" or "0" (any), "8080", "8000-8010" (any free one of them); a trailing
/// `/proto` is ignored as Docker does.
fn parse_host_port(s: &str) -> Result<(u16, u16), Error> {
    let bad = || Error::InvalidSpec(s.to_string());
    let spec = s.split_once('/').map_or(s, |(p, _)| p);
    if spec.is_empty() {
        return Ok((0, 0));
    }
    match spec.split_once('-') {
        None => {
            let p = parse_port(spec).ok_or_else(bad)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let (a, b) = (parse_port(a).ok_or_else(bad)?, parse_port(b).ok_or_else(bad)?);
            if a > b || (a == 0 && b != 0) {
                return Err(bad());
            }
            Ok((a, b))
        }
    }
}

/// `HostIp`: "" (every address) or an address, IPv6 with or without brackets.
fn parse_host_ip(s: &str) -> Result<Option<IpAddr>, Error> {
    if s.is_empty() {
        return Ok(None);
    }
    let inner = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(s);
    inner.parse().map(Some).map_err(|_| Error::InvalidHostIp(s.to_string()))
}

/// `HostConfig.PortBindings` plus `PublishAllPorts` over `Config.ExposedPorts` -> the ports to
/// publish, sorted by container port and protocol (bindings of one key keep their order).
/// With `publish_all`, every exposed or bound key without an explicit binding gets a random
/// host port. Keys with no bindings and no `publish_all` publish nothing. Bad keys, host ports
/// or host IPs are [`Kind::InvalidArgument`].
pub fn expand(
    bindings: &HashMap<String, Option<Vec<PortBinding>>>,
    publish_all: bool,
    exposed: &[String],
) -> Result<Vec<Binding>, Error> {
    // Raw keys in order, so that "80" and "80/tcp" (the same port) merge the same way every time.
    let mut raw: Vec<(&String, &Option<Vec<PortBinding>>)> = bindings.iter().collect();
    raw.sort_by_key(|(k, _)| k.as_str());
    let mut keys: Vec<((u16, Proto), Vec<&PortBinding>)> = Vec::new();
    for (key, list) in raw {
        let k = parse_key(key)?;
        let list = list.as_deref().unwrap_or(&[]);
        match keys.iter_mut().find(|(have, _)| *have == k) {
            Some(entry) => entry.1.extend(list),
            None => keys.push((k, list.iter().collect())),
        }
    }
    for key in exposed {
        let k = parse_key(key)?;
        if !keys.iter().any(|(have, _)| *have == k) {
            keys.push((k, Vec::new()));
        }
    }
    keys.sort_by_key(|(k, _)| *k);
    let mut out = Vec::new();
    for ((container_port, proto), list) in keys {
        if list.is_empty() {
            if publish_all {
                out.push(Binding { proto, container_port, host_ip: None, host_port: 0, host_port_end: 0 });
            }
            continue;
        }
        for pb in list {
            let host_ip = parse_host_ip(pb.host_ip.as_deref().unwrap_or(""))?;
            let (host_port, host_port_end) = parse_host_port(pb.host_port.as_deref().unwrap_or(""))?;
            out.push(Binding { proto, container_port, host_ip, host_port, host_port_end });
        }
    }
    Ok(out)
}

/// A held host port: the bound socket. Dropping it releases the port.
#[derive(Debug)]
pub struct Reservation {
    fd: OwnedFd,
    proto: Proto,
    addr: SocketAddr,
}

impl Reservation {
    /// The address and port held.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// The protocol.
    pub fn proto(&self) -> Proto {
        self.proto
    }
    /// The port held.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl AsRawFd for Reservation {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// Hold the host port of `b` on its host IP (or 0.0.0.0). Host port 0: a port the kernel
/// chooses from its ephemeral range; a range: the first free port of it. Returns the
/// reservation and the port held. A port in use: [`Error::Allocated`] with Docker's message
/// `Bind for 0.0.0.0:8080 failed: port is already allocated` ([`Kind::Conflict`]).
pub fn reserve(b: &Binding) -> Result<(Reservation, u16), Error> {
    let ip = b.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if b.host_port == 0 {
        let r = bind(b.proto, SocketAddr::new(ip, 0))?;
        let port = r.port();
        return Ok((r, port));
    }
    let end = b.host_port_end.max(b.host_port);
    for port in b.host_port..=end {
        match bind(b.proto, SocketAddr::new(ip, port)) {
            Ok(r) => return Ok((r, port)),
            Err(Error::Bind { source, .. }) if source.raw_os_error() == Some(libc::EADDRINUSE) => continue,
            Err(e) => return Err(e),
        }
    }
    let spec = if end == b.host_port { b.host_port.to_string() } else { format!("{}-{end}", b.host_port) };
    let host = match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    Err(Error::Allocated(format!("{host}:{spec}")))
}

/// A socket of `proto` bound to `addr`, close-on-exec, without SO_REUSEADDR (IPv6: V6ONLY, so
/// `[::]` does not also take the IPv4 port).
fn bind(proto: Proto, addr: SocketAddr) -> Result<Reservation, Error> {
    let err = |source: io::Error| Error::Bind { proto, addr, source };
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let (ty, protocol) = match proto {
        Proto::Tcp => (libc::SOCK_STREAM, libc::IPPROTO_TCP),
        Proto::Udp => (libc::SOCK_DGRAM, libc::IPPROTO_UDP),
        Proto::Sctp => (libc::SOCK_STREAM, libc::IPPROTO_SCTP),
    };
    // SAFETY: plain socket(2); the result is checked and owned right away.
    let raw = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, protocol) };
    if raw < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if addr.is_ipv6() {
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to a live c_int and its size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(err(io::Error::last_os_error()));
        }
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a sockaddr of `len` bytes for the socket's family.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), (&storage as *const libc::sockaddr_storage).cast(), len) };
    if rc < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    let bound = local_addr(&fd).map_err(err)?;
    Ok(Reservation { fd, proto, addr: bound })
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn local_addr(fd: &OwnedFd) -> io::Result<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `storage`.
    let rc =
        unsafe { libc::getsockname(fd.as_raw_fd(), (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in.
            let sin: libc::sockaddr_in = unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            Ok(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            Ok(SocketAddr::V6(std::net::SocketAddrV6::new(
                sin6.sin6_addr.s6_addr.into(),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        f => Err(io::Error::other(format!("unexpected address family {f}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(ip: &str, port: &str) -> PortBinding {
        PortBinding { host_ip: Some(ip.to_string()), host_port: Some(port.to_string()) }
    }

    fn b(proto: Proto, cport: u16, ip: Option<&str>, hp: u16, end: u16) -> Binding {
        Binding {
            proto,
            container_port: cport,
            host_ip: ip.map(|s| s.parse().unwrap()),
            host_port: hp,
            host_port_end: end,
        }
    }

    #[test]
    fn parse_key_table() {
        type Case = (&'static str, Result<(u16, Proto), &'static str>);
        let cases: &[Case] = &[
            ("80/tcp", Ok((80, Proto::Tcp))),
            ("53/udp", Ok((53, Proto::Udp))),
            ("9/sctp", Ok((9, Proto::Sctp))),
            ("80", Ok((80, Proto::Tcp))),
            ("80/", Ok((80, Proto::Tcp))),
            ("80/TCP", Ok((80, Proto::Tcp))),
            ("65535/udp", Ok((65535, Proto::Udp))),
            ("0/tcp", Err("invalid port specification: \"0/tcp\"")),
            ("65536/tcp", Err("invalid port specification: \"65536/tcp\"")),
            ("http/tcp", Err("invalid port specification: \"http/tcp\"")),
            ("8000-8001/tcp", Err("invalid port specification: \"8000-8001/tcp\"")),
            ("", Err("invalid port specification: \"\"")),
            ("+80", Err("invalid port specification: \"+80\"")),
            ("80/icmp", Err("invalid proto: icmp")),
        ];
        for (key, want) in cases {
            let got = parse_key(key).map_err(|e| {
                assert_eq!(e.kind(), Kind::InvalidArgument);
                e.to_string()
            });
            assert_eq!(got, want.map_err(str::to_string), "{key}");
        }
    }

    #[test]
    fn expand_table() {
        type Case = (
            Vec<(&'static str, Option<Vec<PortBinding>>)>,
            bool,
            Vec<&'static str>,
            Result<Vec<Binding>, &'static str>,
        );
        use Proto::*;
        let cases: Vec<Case> = vec![
            (vec![], false, vec!["80/tcp"], Ok(vec![])),
            (vec![], true, vec!["80/tcp", "53/udp", "80"], Ok(vec![b(Udp, 53, None, 0, 0), b(Tcp, 80, None, 0, 0)])),
            (vec![("80/tcp", Some(vec![pb("", "8080")]))], false, vec![], Ok(vec![b(Tcp, 80, None, 8080, 8080)])),
            (vec![("80/tcp", Some(vec![pb("", "")]))], false, vec![], Ok(vec![b(Tcp, 80, None, 0, 0)])),
            (vec![("80/tcp", Some(vec![pb("", "0")]))], false, vec![], Ok(vec![b(Tcp, 80, None, 0, 0)])),
            (
                vec![("80", Some(vec![pb("127.0.0.1", "8000-8010")]))],
                false,
                vec![],
                Ok(vec![b(Tcp, 80, Some("127.0.0.1"), 8000, 8010)]),
            ),
            (
                vec![("80/tcp", Some(vec![pb("[::1]", "8080"), pb("0.0.0.0", "8081")]))],
                false,
                vec![],
                Ok(vec![b(Tcp, 80, Some("::1"), 8080, 8080), b(Tcp, 80, Some("0.0.0.0"), 8081, 8081)]),
            ),
            (
                vec![("80/tcp", Some(vec![PortBinding { host_ip: None, host_port: None }]))],
                false,
                vec![],
                Ok(vec![b(Tcp, 80, None, 0, 0)]),
            ),
            (vec![("80/tcp", Some(vec![pb("", "8080/tcp")]))], false, vec![], Ok(vec![b(Tcp, 80, None, 8080, 8080)])),
            // "80" and "80/tcp" are one port: both bindings, in key order.
            (
                vec![("80/tcp", Some(vec![pb("", "8081")])), ("80", Some(vec![pb("", "8080")]))],
                false,
                vec![],
                Ok(vec![b(Tcp, 80, None, 8080, 8080), b(Tcp, 80, None, 8081, 8081)]),
            ),
            // Publish all: explicit bindings kept, the rest random; empty lists count as none.
            (
                vec![("80/tcp", Some(vec![pb("", "8080")])), ("443/tcp", Some(vec![])), ("22/tcp", None)],
                true,
                vec!["80/tcp", "53/udp", "9000"],
                Ok(vec![
                    b(Tcp, 22, None, 0, 0),
                    b(Udp, 53, None, 0, 0),
                    b(Tcp, 80, None, 8080, 8080),
                    b(Tcp, 443, None, 0, 0),
                    b(Tcp, 9000, None, 0, 0),
                ]),
            ),
            (vec![("443/tcp", Some(vec![])), ("22/tcp", None)], false, vec![], Ok(vec![])),
            (vec![("http", Some(vec![pb("", "80")]))], false, vec![], Err("invalid port specification: \"http\"")),
            (vec![("80/tcp", Some(vec![pb("", "abc")]))], false, vec![], Err("invalid port specification: \"abc\"")),
            (
                vec![("80/tcp", Some(vec![pb("", "70000")]))],
                false,
                vec![],
                Err("invalid port specification: \"70000\""),
            ),
            (
                vec![("80/tcp", Some(vec![pb("", "8010-8000")]))],
                false,
                vec![],
                Err("invalid port specification: \"8010-8000\""),
            ),
            (
                vec![("80/tcp", Some(vec![pb("", "-8000")]))],
                false,
                vec![],
                Err("invalid port specification: \"-8000\""),
            ),
            (
                vec![("80/tcp", Some(vec![pb("localhost", "8000")]))],
                false,
                vec![],
                Err("invalid IP address: localhost"),
            ),
            (vec![], true, vec!["x/tcp"], Err("invalid port specification: \"x/tcp\"")),
        ];
        for (bindings, all, exposed, want) in cases {
            let map: HashMap<String, Option<Vec<PortBinding>>> =
                bindings.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let exposed: Vec<String> = exposed.into_iter().map(String::from).collect();
            let got = expand(&map, all, &exposed).map_err(|e| {
                assert_eq!(e.kind(), Kind::InvalidArgument);
                e.to_string()
            });
            assert_eq!(got, want.map_err(str::to_string), "{map:?} {all} {exposed:?}");
        }
    }

    #[test]
    fn binding_serde() {
        let j = serde_json::to_string(&b(Proto::Udp, 53, Some("127.0.0.1"), 5353, 5353)).unwrap();
        assert_eq!(
            j,
            r#"{"proto":"udp","container_port":53,"host_ip":"127.0.0.1","host_port":5353,"host_port_end":5353}"#
        );
        assert_eq!(serde_json::from_str::<Binding>(&j).unwrap(), b(Proto::Udp, 53, Some("127.0.0.1"), 5353, 5353));
    }

    #[test]
    fn reserve_holds_the_port_until_dropped() {
        let lo = Some("127.0.0.1");
        // Port 0: the kernel picks one.
        let (r, port) = reserve(&b(Proto::Tcp, 80, lo, 0, 0)).unwrap();
        assert_ne!(port, 0);
        assert_eq!(r.local_addr(), SocketAddr::new("127.0.0.1".parse().unwrap(), port));
        // Taken: Docker's message, kind Conflict.
        let e = reserve(&b(Proto::Tcp, 80, lo, port, port)).unwrap_err();
        assert_eq!(e.to_string(), format!("Bind for 127.0.0.1:{port} failed: port is already allocated"));
        assert_eq!(e.kind(), Kind::Conflict);
        // Not listening: a connection is refused, not queued.
        let refused = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        // The same port over UDP is a different port.
        let (u, uport) = reserve(&b(Proto::Udp, 80, lo, port, port)).unwrap();
        assert_eq!(uport, port);
        assert!(std::net::UdpSocket::bind(("127.0.0.1", port)).is_err());
        drop(u);
        // Dropping releases.
        drop(r);
        let (_r2, again) = reserve(&b(Proto::Tcp, 80, lo, port, port)).unwrap();
        assert_eq!(again, port);
    }

    #[test]
    fn reserve_a_range_takes_the_first_free_port() {
        let lo = Some("127.0.0.1");
        // Find three consecutive free ports.
        let (base, held) = loop {
            let (r, p) = reserve(&b(Proto::Tcp, 80, lo, 0, 0)).unwrap();
            if p > 65000 {
                continue;
            }
            if let (Ok(a), Ok(c)) =
                (reserve(&b(Proto::Tcp, 80, lo, p + 1, p + 1)), reserve(&b(Proto::Tcp, 80, lo, p + 2, p + 2)))
            {
                drop(c);
                break (p, vec![r, a.0]);
            }
        };
        let (r, got) = reserve(&b(Proto::Tcp, 80, lo, base, base + 2)).unwrap();
        assert_eq!(got, base + 2);
        let e = reserve(&b(Proto::Tcp, 80, lo, base, base + 2)).unwrap_err();
        assert_eq!(e.to_string(), format!("Bind for 127.0.0.1:{base}-{} failed: port is already allocated", base + 2));
        drop(r);
        drop(held);
    }

    #[test]
    fn reserve_taken_by_another_process_style_socket() {
        // A listener from someone else (std sets SO_REUSEADDR; we do not, so we still conflict).
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let e = reserve(&b(Proto::Tcp, 80, Some("127.0.0.1"), port, port)).unwrap_err();
        assert_eq!(e.kind(), Kind::Conflict);
        // An address that is not ours.
        let e = reserve(&b(Proto::Tcp, 80, Some("192.0.2.77"), port, port)).unwrap_err();
        assert_eq!(e.kind(), Kind::InvalidArgument, "{e}");
    }

    #[test]
    fn reserve_sctp_when_the_kernel_has_it() {
        match reserve(&b(Proto::Sctp, 80, Some("127.0.0.1"), 0, 0)) {
            Ok((r, port)) => {
                assert_eq!(r.proto(), Proto::Sctp);
                let e = reserve(&b(Proto::Sctp, 80, Some("127.0.0.1"), port, port)).unwrap_err();
                assert_eq!(e.kind(), Kind::Conflict);
            }
            Err(e) => {
                assert_eq!(e.kind(), Kind::NotImplemented, "{e}");
                eprintln!("skipping: no SCTP here: {e}");
            }
        }
    }

    #[test]
    fn reserve_v6_loopback() {
        match reserve(&b(Proto::Tcp, 80, Some("::1"), 0, 0)) {
            Ok((r, port)) => {
                let e = reserve(&b(Proto::Tcp, 80, Some("::1"), port, port)).unwrap_err();
                assert_eq!(e.to_string(), format!("Bind for [::1]:{port} failed: port is already allocated"));
                drop(r);
            }
            Err(e) => eprintln!("skipping: no IPv6 loopback here: {e}"),
        }
    }
}
