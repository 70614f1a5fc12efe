//! What a new subnet must not overlap: route destinations and interface networks, from the
//! messages of a route and an address dump.

use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage};

/// The main routing table.
const RT_TABLE_MAIN: u32 = RouteHeader::RT_TABLE_MAIN as u32;

/// The destination of a route of the main table, unless it is a default route or link-local.
pub(crate) fn route_subnet(msg: &RouteMessage) -> Option<IpNet> {
    // Tables above 255 are only in the RTA_TABLE attribute; the header then says 252.
    let table = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table));
    let dst = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
        RouteAttribute::Destination(RouteAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    });
    keep(table, dst, msg.header.destination_prefix_length)
}

/// The network of an interface address (its IFA_ADDRESS, which carries the prefix), unless
/// link-local.
pub(crate) fn address_subnet(msg: &AddressMessage) -> Option<IpNet> {
    let addr = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    })?;
    keep(RT_TABLE_MAIN, Some(addr), msg.header.prefix_len)
}

/// The rule itself: main table only, a destination with a non-zero prefix, not in
/// fe80::/10; host bits cleared.
pub(crate) fn keep(table: u32, dst: Option<IpAddr>, prefix: u8) -> Option<IpNet> {
    if table != RT_TABLE_MAIN || prefix == 0 {
        return None;
    }
    let net = IpNet::new(dst?, prefix).ok()?.trunc();
    if let IpNet::V6(v6) = net {
        if v6.addr().segments()[0] & 0xffc0 == 0xfe80 {
            return None;
        }
    }
    Some(net)
}

/// Sorted, without duplicates.
pub(crate) fn normalize(mut nets: Vec<IpNet>) -> Vec<IpNet> {
    nets.sort();
    nets.dedup();
    nets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn which_destinations_count() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let cases: &[(u32, Option<IpAddr>, u8, Option<&str>)] = &[
            (254, ip("192.0.2.0"), 24, Some("192.0.2.0/24")),
            (254, ip("192.0.2.7"), 24, Some("192.0.2.0/24")), // host bits cleared
            (254, ip("10.1.2.3"), 32, Some("10.1.2.3/32")),
            (254, ip("fd00::"), 64, Some("fd00::/64")),
            (254, ip("fd00::1"), 64, Some("fd00::/64")),
            (254, None, 0, None),          // default route v4/v6: no RTA_DST
            (254, ip("0.0.0.0"), 0, None), // explicit default
            (254, ip("fe80::"), 64, None), // link-local
            (254, ip("fe80::1:2"), 64, None),
            (254, ip("febf::"), 64, None), // still fe80::/10
            (254, ip("fec0::"), 64, Some("fec0::/64")),
            (255, ip("127.0.0.0"), 8, None), // local table
            (1000, ip("10.0.0.0"), 8, None), // some policy table
            (254, ip("10.0.0.0"), 33, None), // nonsense prefix
        ];
        for (table, dst, prefix, want) in cases {
            assert_eq!(keep(*table, *dst, *prefix), want.map(net), "{table} {dst:?}/{prefix}");
        }
    }

    #[test]
    fn from_messages() {
        let mut r = RouteMessage::default();
        r.header.table = RouteHeader::RT_TABLE_MAIN;
        r.header.destination_prefix_length = 16;
        r.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet("172.18.0.0".parse().unwrap())));
        assert_eq!(route_subnet(&r), Some(net("172.18.0.0/16")));
        // A table id above 255 lives in the attribute and wins over the header.
        r.attributes.push(RouteAttribute::Table(300));
        assert_eq!(route_subnet(&r), None);

        let mut a = AddressMessage::default();
        a.header.prefix_len = 20;
        a.attributes.push(AddressAttribute::Address("192.168.17.5".parse().unwrap()));
        assert_eq!(address_subnet(&a), Some(net("192.168.16.0/20")));
        let mut ll = AddressMessage::default();
        ll.header.prefix_len = 64;
        ll.attributes.push(AddressAttribute::Address("fe80::1".parse().unwrap()));
        assert_eq!(address_subnet(&ll), None);
    }

    #[test]
    fn normalized() {
        let got = normalize(vec![
            net("10.0.0.0/8"),
            net("fd00::/64"),
            net("10.0.0.0/8"),
            net("1.2.3.0/24"),
        ]);
        assert_eq!(got, vec![net("1.2.3.0/24"), net("10.0.0.0/8"), net("fd00::/64")]);
    }
}
