//! IP address management: the pools new networks are carved from, a network's validated
//! address plan ([`Subnet`]), and the addresses handed out on it ([`Allocator`]).
//!
//! Words: a *pool* is a large block split into equal *subnets* (one per network); a network's
//! *range* (`--ip-range`) is the part of its subnet that dynamic addresses come from. The
//! network address, the gateway and (IPv4) the broadcast address are never handed out.
//!
//! Messages follow Docker 28: the daemon's for malformed input (`invalid subnet 10.1.0.5/16:
//! it should be 10.1.0.0/16`), the CLI's for a gateway or range outside the subnet (`no
//! matching subnet for gateway 10.1.0.1`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use berth_errdefs::{HasKind, Kind};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What can go wrong planning or handing out addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not `address/prefix`.
    #[error("invalid {what} {value}: invalid CIDR block notation")]
    BadCidr {
        /// `subnet` or `ip-range`.
        what: &'static str,
        /// As given.
        value: String,
    },
    /// Host bits set, e.g. `10.1.0.5/16`.
    #[error("invalid {what} {value}: it should be {masked}")]
    NotMasked {
        /// `subnet` or `ip-range`.
        what: &'static str,
        /// As given.
        value: IpNet,
        /// What was probably meant.
        masked: IpNet,
    },
    /// An IPv6 gateway or range on an IPv4 subnet, or the other way round.
    #[error("invalid {what} {value}: parent subnet is an {family} block")]
    WrongFamily {
        /// `gateway` or `ip-range`.
        what: &'static str,
        /// As given.
        value: String,
        /// `IPv4` or `IPv6`: the subnet's family.
        family: &'static str,
    },
    /// The ip-range contains the whole subnet and more.
    #[error("invalid ip-range {range}: CIDR block is bigger than its parent subnet {subnet}")]
    RangeTooBig {
        /// The range.
        range: IpNet,
        /// The subnet.
        subnet: IpNet,
    },
    /// The ip-range does not start inside the subnet.
    #[error("no matching subnet for range {0}")]
    RangeOutside(IpNet),
    /// The gateway is not an address.
    #[error("invalid gateway {0}: invalid address")]
    BadGateway(String),
    /// The gateway is not inside the subnet.
    #[error("no matching subnet for gateway {0}")]
    GatewayOutside(IpAddr),
    /// The gateway is the subnet's network or broadcast address.
    #[error("failed to allocate gateway ({0}): Address already in use")]
    GatewayReserved(IpAddr),
    /// A static address (`--ip`) outside the subnet, or outside its ip-range.
    #[error("no configured subnet or ip-range contain the IP address {0}")]
    OutOfRange(IpAddr),
    /// A static address that is taken (by a container, the gateway, or as the network or
    /// broadcast address). Docker's exact message.
    #[error("Address already in use")]
    InUse(IpAddr),
    /// Every address of the range is handed out.
    #[error("no available {family} addresses on this network's address pool {subnet}")]
    Exhausted {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The network's subnet.
        subnet: IpNet,
    },
    /// Every subnet of every pool overlaps something.
    #[error("all predefined address pools have been fully subnetted")]
    PoolsExhausted,
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::InUse(_) => Kind::Conflict,
            Error::Exhausted { .. } | Error::PoolsExhausted => Kind::Unavailable,
            _ => Kind::InvalidArgument,
        }
    }
}

/// A block that network subnets are carved from: `base` split into subnets of prefix `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// The whole block.
    pub base: IpNet,
    /// Prefix length of each subnet carved from it.
    pub size: u8,
}

const DEFAULT_POOLS: [(Ipv4Net, u8); 6] = [
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 17, 0, 0), 16), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 18, 0, 0), 15), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 20, 0, 0), 14), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 24, 0, 0), 14), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 28, 0, 0), 14), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16), 20),
];

/// Docker's default local pools: 172.17.0.0/16 .. 172.31.0.0/16 as /16s, then 192.168.0.0/16
/// as /20s. IPv4 only (see [`ula_pool`] for IPv6).
pub fn default_pools() -> Vec<Pool> {
    DEFAULT_POOLS.iter().map(|&(base, size)| Pool { base: IpNet::V4(base), size }).collect()
}

/// An IPv6 pool as Docker 27+ makes one when none is configured: a unique-local /48
/// (`fdXX:XXXX:XXXX::/48`, 40 bits from sha256 of `seed`, e.g. the daemon's data root) split
/// into /64s.
pub fn ula_pool(seed: &[u8]) -> Pool {
    let digest = Sha256::digest(seed);
    let mut octets = [0u8; 16];
    octets[0] = 0xfd;
    octets[1..6].copy_from_slice(&digest[..5]);
    Pool { base: IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(octets), 48)), size: 64 }
}

/// Do two networks share any address? Networks of different families never do.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    let (a0, a1) = bounds(a);
    let (b0, b1) = bounds(b);
    is_v6(a) == is_v6(b) && a0 <= b1 && b0 <= a1
}

/// The first subnet carved from `pools` (of the asked family, in order) that overlaps nothing
/// in `in_use` (existing networks, host routes and addresses). A /0 in `in_use` (a default
/// route) is ignored, as Docker does.
pub fn next_subnet(pools: &[Pool], in_use: &[IpNet], v6: bool) -> Result<IpNet, Error> {
    let used: Vec<(u128, u128)> = in_use.iter().filter(|n| is_v6(n) == v6 && n.prefix_len() > 0).map(bounds).collect();
    for pool in pools.iter().filter(|p| is_v6(&p.base) == v6) {
        let base = pool.base.trunc();
        let max = base.max_prefix_len();
        if pool.size < base.prefix_len() || pool.size > max {
            continue;
        }
        let host_mask = low_mask(u32::from(max - pool.size));
        let (start, end) = bounds(&base);
        let mut cand = start;
        loop {
            let cand_end = cand | host_mask;
            let conflict = used.iter().filter(|&&(u0, u1)| u0 <= cand_end && cand <= u1).map(|&(_, u1)| u1).max();
            let Some(last) = conflict else {
                return IpNet::new(from_u128(cand, v6), pool.size).map_err(|_| Error::PoolsExhausted);
            };
            // The next block boundary after everything that overlapped.
            match last.checked_add(1).and_then(|n| n.checked_add(host_mask)).map(|n| n & !host_mask) {
                Some(next) if next <= end && next > cand => cand = next,
                _ => break,
            }
        }
    }
    Err(Error::PoolsExhausted)
}

/// One network's address plan, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The network's subnet (host bits clear).
    pub subnet: IpNet,
    /// The gateway: the bridge's address.
    pub gateway: IpAddr,
    /// Where dynamic addresses come from (`--ip-range`), inside `subnet`.
    pub range: Option<IpNet>,
}

impl Subnet {
    /// Validate `--subnet`, `--gateway` and `--ip-range` as Docker does. Empty strings count as
    /// absent. Without a gateway the first host address of the subnet is the gateway.
    pub fn parse(subnet: &str, gateway: Option<&str>, ip_range: Option<&str>) -> Result<Subnet, Error> {
        let net: IpNet = subnet.parse().map_err(|_| Error::BadCidr { what: "subnet", value: subnet.to_string() })?;
        if net != net.trunc() {
            return Err(Error::NotMasked { what: "subnet", value: net, masked: net.trunc() });
        }
        let family = family(&net);
        let range = match ip_range.filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => {
                let range: IpNet = r.parse().map_err(|_| Error::BadCidr { what: "ip-range", value: r.to_string() })?;
                if is_v6(&range) != is_v6(&net) {
                    return Err(Error::WrongFamily { what: "ip-range", value: r.to_string(), family });
                }
                if range != range.trunc() {
                    return Err(Error::NotMasked { what: "ip-range", value: range, masked: range.trunc() });
                }
                if !net.contains(&range.network()) {
                    return Err(Error::RangeOutside(range));
                }
                if range.prefix_len() < net.prefix_len() {
                    return Err(Error::RangeTooBig { range, subnet: net });
                }
                Some(range)
            }
        };
        let gateway = match gateway.filter(|g| !g.is_empty()) {
            None => first_host(&net),
            Some(g) => {
                let ip: IpAddr = g.parse().map_err(|_| Error::BadGateway(g.to_string()))?;
                if ip.is_ipv6() != is_v6(&net) {
                    return Err(Error::WrongFamily { what: "gateway", value: g.to_string(), family });
                }
                if !net.contains(&ip) {
                    return Err(Error::GatewayOutside(ip));
                }
                let (lo, hi) = assignable(&net);
                let v = to_u128(ip);
                if v < lo || v > hi {
                    return Err(Error::GatewayReserved(ip));
                }
                ip
            }
        };
        Ok(Subnet { subnet: net, gateway, range })
    }

    /// A plan for a subnet chosen by [`next_subnet`]: host bits cleared, gateway = first host.
    pub fn from_net(subnet: IpNet) -> Subnet {
        let subnet = subnet.trunc();
        Subnet { subnet, gateway: first_host(&subnet), range: None }
    }

    /// The gateway with the subnet's prefix length (`172.18.0.1/16`): the bridge's address.
    pub fn gateway_cidr(&self) -> IpNet {
        IpNet::new(self.gateway, self.subnet.prefix_len()).unwrap_or(self.subnet)
    }
}

/// The addresses handed out on one [`Subnet`]: in memory, rebuilt from the endpoints at start
/// ([`Allocator::reserve`] each). The gateway is reserved from the start; the network address
/// and the IPv4 broadcast address are never handed out. [`Allocator::allocate`] returns the
/// lowest free address of the range (or subnet): fast with a /16 full of containers.
#[derive(Debug, Clone)]
pub struct Allocator {
    subnet: IpNet,
    range: Option<IpNet>,
    /// First and last assignable addresses of the subnet.
    lo: u128,
    hi: u128,
    /// Where [`Allocator::allocate`] looks: the subnet's assignable part within the range.
    rlo: u128,
    rhi: u128,
    gateway: Option<u128>,
    taken: BTreeSet<u128>,
    /// Every address in `rlo..hint` is taken.
    hint: u128,
}

impl Allocator {
    /// An allocator with only the gateway taken.
    pub fn new(s: &Subnet) -> Self {
        let subnet = s.subnet.trunc();
        let (lo, hi) = assignable(&subnet);
        let (rlo, rhi) = match s.range {
            Some(r) => {
                let (r0, r1) = bounds(&r);
                (r0.max(lo), r1.min(hi))
            }
            None => (lo, hi),
        };
        let mut taken = BTreeSet::new();
        let gw = to_u128(s.gateway);
        let gateway = (s.gateway.is_ipv6() == is_v6(&subnet) && lo <= gw && gw <= hi).then_some(gw);
        if let Some(g) = gateway {
            taken.insert(g);
        }
        Allocator { subnet, range: s.range, lo, hi, rlo, rhi, gateway, taken, hint: rlo }
    }

    /// Take a specific address (`--ip`, or an endpoint's address when rebuilding). Outside the
    /// subnet or its range: [`Error::OutOfRange`]; the network, broadcast or gateway address or
    /// an address already taken: [`Error::InUse`].
    pub fn reserve(&mut self, ip: IpAddr) -> Result<(), Error> {
        if ip.is_ipv6() != is_v6(&self.subnet)
            || !self.subnet.contains(&ip)
            || self.range.is_some_and(|r| !r.contains(&ip))
        {
            return Err(Error::OutOfRange(ip));
        }
        let v = to_u128(ip);
        if v < self.lo || v > self.hi || !self.taken.insert(v) {
            return Err(Error::InUse(ip));
        }
        Ok(())
    }

    /// The lowest free address of the range.
    pub fn allocate(&mut self) -> Result<IpAddr, Error> {
        let v6 = is_v6(&self.subnet);
        let exhausted = || Error::Exhausted { family: family(&self.subnet), subnet: self.subnet };
        let mut cand = self.hint.max(self.rlo);
        if cand > self.rhi {
            return Err(exhausted());
        }
        for &t in self.taken.range(cand..=self.rhi) {
            if t != cand {
                break;
            }
            cand = match cand.checked_add(1) {
                Some(c) if c <= self.rhi => c,
                _ => return Err(exhausted()),
            };
        }
        if self.taken.contains(&cand) {
            return Err(exhausted());
        }
        self.taken.insert(cand);
        self.hint = cand.saturating_add(1);
        Ok(from_u128(cand, v6))
    }

    /// Give an address back. Releasing the gateway or a free address does nothing.
    pub fn release(&mut self, ip: IpAddr) {
        if ip.is_ipv6() != is_v6(&self.subnet) {
            return;
        }
        let v = to_u128(ip);
        if Some(v) == self.gateway {
            return;
        }
        if self.taken.remove(&v) && v < self.hint {
            self.hint = v;
        }
    }

    /// Is `ip` taken (including the gateway)?
    pub fn is_taken(&self, ip: IpAddr) -> bool {
        ip.is_ipv6() == is_v6(&self.subnet) && self.taken.contains(&to_u128(ip))
    }
}

/// The MAC Docker gives a container with IPv4 address `ip`: `02:42:` then the address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// `02:42:ac:11:00:02`: lowercase hex, colon separated.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn is_v6(n: &IpNet) -> bool {
    matches!(n, IpNet::V6(_))
}

fn family(n: &IpNet) -> &'static str {
    if is_v6(n) {
        "IPv6"
    } else {
        "IPv4"
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    }
}

/// A mask of the `bits` low bits.
fn low_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// First and last address of a network.
fn bounds(n: &IpNet) -> (u128, u128) {
    (to_u128(n.network()), to_u128(n.broadcast()))
}

/// First and last address that may be given to an interface: all but the network address and
/// (IPv4) the broadcast address, except in /31, /32, /127 and /128 where every address is usable.
fn assignable(n: &IpNet) -> (u128, u128) {
    let (start, end) = bounds(n);
    if n.max_prefix_len() - n.prefix_len() <= 1 {
        return (start, end);
    }
    if is_v6(n) {
        (start + 1, end)
    } else {
        (start + 1, end - 1)
    }
}

fn first_host(n: &IpNet) -> IpAddr {
    from_u128(assignable(n).0, is_v6(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_pools_as_docker() {
        let mut got = Vec::new();
        let mut used = Vec::new();
        while let Ok(n) = next_subnet(&default_pools(), &used, false) {
            got.push(n);
            used.push(n);
        }
        assert_eq!(got.len(), 15 + 16);
        assert_eq!(got[0], net("172.17.0.0/16"));
        assert_eq!(got[14], net("172.31.0.0/16"));
        assert_eq!(got[15], net("192.168.0.0/20"));
        assert_eq!(got[30], net("192.168.240.0/20"));
        assert_eq!(next_subnet(&default_pools(), &used, false), Err(Error::PoolsExhausted));
        assert_eq!(next_subnet(&default_pools(), &[], true), Err(Error::PoolsExhausted));
    }

    #[test]
    fn next_subnet_skips_what_is_used() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "172.17.0.0/16"),
            (&["0.0.0.0/0"], "172.17.0.0/16"),
            (&["172.17.0.0/16"], "172.18.0.0/16"),
            (&["172.17.5.9/24"], "172.18.0.0/16"),
            (&["172.16.0.0/12"], "192.168.0.0/20"),
            (&["172.17.0.0/16", "172.18.0.1/32", "172.19.255.255/32"], "172.20.0.0/16"),
            (&["172.16.0.0/12", "192.168.0.0/24", "192.168.17.0/24"], "192.168.32.0/20"),
            (&["fd00::/8"], "172.17.0.0/16"),
        ];
        for (used, want) in cases {
            let used: Vec<IpNet> = used.iter().map(|s| net(s)).collect();
            assert_eq!(next_subnet(&default_pools(), &used, false), Ok(net(want)), "used {used:?}");
        }
    }

    #[test]
    fn next_subnet_v6_and_huge_pools() {
        let pool = Pool { base: net("fd00::/8"), size: 64 };
        let used = [net("fd00::/16"), net("fd01::/64")];
        assert_eq!(next_subnet(&[pool], &used, true), Ok(net("fd01:0:0:1::/64")));
        let ula = ula_pool(b"/var/lib/berth");
        assert_eq!(ula.size, 64);
        assert_eq!(ula.base.prefix_len(), 48);
        assert!(net("fd00::/8").contains(&ula.base));
        assert_eq!(ula, ula_pool(b"/var/lib/berth"));
        assert_eq!(next_subnet(&[ula], &[], true), Ok(IpNet::new(ula.base.network(), 64).unwrap()));
        // A pool whose size is wrong is skipped.
        let bad = Pool { base: net("10.0.0.0/16"), size: 8 };
        assert_eq!(next_subnet(&[bad], &[], false), Err(Error::PoolsExhausted));
    }

    #[test]
    fn overlaps_table() {
        let cases = [
            ("10.0.0.0/8", "10.1.0.0/16", true),
            ("10.1.0.0/16", "10.0.0.0/8", true),
            ("10.1.0.0/16", "10.2.0.0/16", false),
            ("10.1.0.0/16", "10.1.255.255/32", true),
            ("10.0.0.0/8", "fd00::/8", false),
            ("fd00::/64", "fd00::1/128", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(overlaps(&net(a), &net(b)), want, "{a} {b}");
        }
    }

    #[test]
    fn subnet_parse_table() {
        type Case = (
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            Result<(&'static str, Option<&'static str>), &'static str>,
        );
        let cases: &[Case] = &[
            ("10.1.0.0/16", None, None, Ok(("10.1.0.1", None))),
            ("10.1.0.0/16", Some(""), Some(""), Ok(("10.1.0.1", None))),
            ("10.1.0.0/16", Some("10.1.255.254"), Some("10.1.2.0/24"), Ok(("10.1.255.254", Some("10.1.2.0/24")))),
            ("10.1.0.0/16", None, Some("10.1.0.0/16"), Ok(("10.1.0.1", Some("10.1.0.0/16")))),
            ("fd00:1::/64", None, None, Ok(("fd00:1::1", None))),
            ("fd00:1::/64", Some("fd00:1::fe"), Some("fd00:1::100/120"), Ok(("fd00:1::fe", Some("fd00:1::100/120")))),
            ("10.9.9.9/32", None, None, Ok(("10.9.9.9", None))),
            ("10.1.0.5/16", None, None, Err("invalid subnet 10.1.0.5/16: it should be 10.1.0.0/16")),
            ("10.1.0.0", None, None, Err("invalid subnet 10.1.0.0: invalid CIDR block notation")),
            ("10.1.0.0/33", None, None, Err("invalid subnet 10.1.0.0/33: invalid CIDR block notation")),
            ("banana", None, None, Err("invalid subnet banana: invalid CIDR block notation")),
            ("10.2.0.0/16", Some("10.1.0.1"), None, Err("no matching subnet for gateway 10.1.0.1")),
            ("10.2.0.0/16", Some("bogus"), None, Err("invalid gateway bogus: invalid address")),
            ("10.2.0.0/16", Some("fd00::1"), None, Err("invalid gateway fd00::1: parent subnet is an IPv4 block")),
            (
                "10.2.0.0/16",
                Some("10.2.0.0"),
                None,
                Err("failed to allocate gateway (10.2.0.0): Address already in use"),
            ),
            (
                "10.2.0.0/16",
                Some("10.2.255.255"),
                None,
                Err("failed to allocate gateway (10.2.255.255): Address already in use"),
            ),
            ("10.2.0.0/16", None, Some("10.3.0.0/24"), Err("no matching subnet for range 10.3.0.0/24")),
            (
                "10.2.0.0/24",
                None,
                Some("10.2.0.0/16"),
                Err("invalid ip-range 10.2.0.0/16: CIDR block is bigger than its parent subnet 10.2.0.0/24"),
            ),
            ("10.2.0.0/16", None, Some("10.2.0.7/24"), Err("invalid ip-range 10.2.0.7/24: it should be 10.2.0.0/24")),
            ("10.2.0.0/16", None, Some("10.2.0.0"), Err("invalid ip-range 10.2.0.0: invalid CIDR block notation")),
            (
                "fd00::/64",
                None,
                Some("10.2.0.0/24"),
                Err("invalid ip-range 10.2.0.0/24: parent subnet is an IPv6 block"),
            ),
        ];
        for (subnet, gw, range, want) in cases {
            let got = Subnet::parse(subnet, *gw, *range);
            match (want, got) {
                (Ok((g, r)), Ok(s)) => {
                    assert_eq!(s.subnet, net(subnet));
                    assert_eq!(s.gateway, ip(g), "{subnet}");
                    assert_eq!(s.range, r.map(net), "{subnet}");
                }
                (Err(msg), Err(e)) => {
                    assert_eq!(e.to_string(), *msg);
                    let kind = if msg.contains("already in use") && !msg.starts_with("failed") {
                        Kind::Conflict
                    } else {
                        Kind::InvalidArgument
                    };
                    assert_eq!(e.kind(), kind, "{msg}");
                }
                (want, got) => panic!("{subnet} {gw:?} {range:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn from_net_and_gateway_cidr() {
        let s = Subnet::from_net(net("172.18.3.4/16"));
        assert_eq!(s.subnet, net("172.18.0.0/16"));
        assert_eq!(s.gateway, ip("172.18.0.1"));
        assert_eq!(s.gateway_cidr(), net("172.18.0.1/16"));
        let s = Subnet::from_net(net("fd00:aa::/64"));
        assert_eq!(s.gateway_cidr(), net("fd00:aa::1/64"));
    }

    #[test]
    fn allocator_never_hands_out_network_gateway_broadcast() {
        let mut a = Allocator::new(&Subnet::parse("10.5.0.0/29", None, None).unwrap());
        let got: Vec<IpAddr> = std::iter::from_fn(|| a.allocate().ok()).collect();
        let want: Vec<IpAddr> = ["10.5.0.2", "10.5.0.3", "10.5.0.4", "10.5.0.5", "10.5.0.6"].map(ip).to_vec();
        assert_eq!(got, want);
        let e = a.allocate().unwrap_err();
        assert_eq!(e.to_string(), "no available IPv4 addresses on this network's address pool 10.5.0.0/29");
        assert_eq!(e.kind(), Kind::Unavailable);
    }

    #[test]
    fn allocator_gateway_elsewhere_and_release_lowest_first() {
        let mut a = Allocator::new(&Subnet::parse("10.5.0.0/24", Some("10.5.0.3"), None).unwrap());
        assert_eq!(a.allocate(), Ok(ip("10.5.0.1")));
        assert_eq!(a.allocate(), Ok(ip("10.5.0.2")));
        assert_eq!(a.allocate(), Ok(ip("10.5.0.4")));
        assert_eq!(a.allocate(), Ok(ip("10.5.0.5")));
        a.release(ip("10.5.0.2"));
        a.release(ip("10.5.0.3")); // the gateway stays taken
        a.release(ip("10.5.0.200")); // free already: nothing happens
        assert!(a.is_taken(ip("10.5.0.3")));
        assert_eq!(a.allocate(), Ok(ip("10.5.0.2")));
        assert_eq!(a.allocate(), Ok(ip("10.5.0.6")));
    }

    #[test]
    fn allocator_range() {
        let s = Subnet::parse("10.5.0.0/16", None, Some("10.5.1.0/30")).unwrap();
        let mut a = Allocator::new(&s);
        let got: Vec<IpAddr> = std::iter::from_fn(|| a.allocate().ok()).collect();
        // The range's own first and last addresses are ordinary hosts of the subnet.
        assert_eq!(got, ["10.5.1.0", "10.5.1.1", "10.5.1.2", "10.5.1.3"].map(ip).to_vec());
        // The gateway is outside the range and still reserved.
        assert!(a.is_taken(ip("10.5.0.1")));
    }

    #[test]
    fn allocator_reserve_table() {
        let s = Subnet::parse("10.5.0.0/24", None, Some("10.5.0.128/25")).unwrap();
        let mut a = Allocator::new(&s);
        a.reserve(ip("10.5.0.130")).unwrap();
        let cases = [
            ("10.5.0.130", Err((Kind::Conflict, "Address already in use"))),
            ("10.5.0.255", Err((Kind::Conflict, "Address already in use"))),
            (
                "10.5.0.1",
                Err((Kind::InvalidArgument, "no configured subnet or ip-range contain the IP address 10.5.0.1")),
            ),
            (
                "10.5.0.5",
                Err((Kind::InvalidArgument, "no configured subnet or ip-range contain the IP address 10.5.0.5")),
            ),
            (
                "10.6.0.130",
                Err((Kind::InvalidArgument, "no configured subnet or ip-range contain the IP address 10.6.0.130")),
            ),
            (
                "fd00::1",
                Err((Kind::InvalidArgument, "no configured subnet or ip-range contain the IP address fd00::1")),
            ),
            ("10.5.0.131", Ok(())),
            ("10.5.0.128", Ok(())),
        ];
        for (addr, want) in cases {
            let got = a.reserve(ip(addr)).map_err(|e| (e.kind(), e.to_string()));
            assert_eq!(got, want.map_err(|(k, m)| (k, m.to_string())), "{addr}");
        }
        assert_eq!(a.allocate(), Ok(ip("10.5.0.129")));
        assert_eq!(a.allocate(), Ok(ip("10.5.0.132")));
        let mut b = Allocator::new(&Subnet::parse("10.5.0.0/24", None, None).unwrap());
        for taken in ["10.5.0.0", "10.5.0.1", "10.5.0.255"] {
            assert_eq!(b.reserve(ip(taken)), Err(Error::InUse(ip(taken))), "{taken}");
        }
    }

    #[test]
    fn allocator_v6_has_no_broadcast() {
        let s = Subnet::parse("fd00:5::/126", None, None).unwrap();
        let mut a = Allocator::new(&s);
        let got: Vec<IpAddr> = std::iter::from_fn(|| a.allocate().ok()).collect();
        assert_eq!(got, ["fd00:5::2", "fd00:5::3"].map(ip).to_vec());
        assert_eq!(a.reserve(ip("fd00:5::")), Err(Error::InUse(ip("fd00:5::"))));
        let mut big = Allocator::new(&Subnet::parse("fd00:6::/64", None, None).unwrap());
        big.reserve(ip("fd00:6::ffff:ffff:ffff:ffff")).unwrap();
        assert_eq!(big.allocate(), Ok(ip("fd00:6::2")));
    }

    #[test]
    fn allocator_is_fast_on_a_full_slash16() {
        let s = Subnet::parse("10.7.0.0/16", None, None).unwrap();
        let mut a = Allocator::new(&s);
        let start = std::time::Instant::now();
        let mut all = Vec::new();
        while let Ok(addr) = a.allocate() {
            all.push(addr);
        }
        assert_eq!(all.len(), 65534 - 1);
        assert_eq!(all[0], ip("10.7.0.2"));
        assert_eq!(all.last(), Some(&ip("10.7.255.254")));
        // Free every other address from the top down, then allocate them back lowest first.
        for addr in all.iter().rev().step_by(2) {
            a.release(*addr);
        }
        let mut again = Vec::new();
        while let Ok(addr) = a.allocate() {
            again.push(addr);
        }
        let mut want: Vec<IpAddr> = all.iter().rev().step_by(2).copied().collect();
        want.sort();
        assert_eq!(again, want);
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "took {:?}", start.elapsed());
    }

    #[test]
    fn macs() {
        let cases = [("172.17.0.2", "02:42:ac:11:00:02"), ("10.255.0.16", "02:42:0a:ff:00:10")];
        for (addr, want) in cases {
            assert_eq!(format_mac(mac_for(addr.parse().unwrap())), want);
        }
    }

    #[test]
    fn serde_round_trip() {
        let s = Subnet::parse("10.1.0.0/16", Some("10.1.0.254"), Some("10.1.4.0/22")).unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, r#"{"subnet":"10.1.0.0/16","gateway":"10.1.0.254","range":"10.1.4.0/22"}"#);
        assert_eq!(serde_json::from_str::<Subnet>(&j).unwrap(), s);
        let p = serde_json::to_string(&default_pools()[0]).unwrap();
        assert_eq!(p, r#"{"base":"172.17.0.0/16","size":16}"#);
    }
}
