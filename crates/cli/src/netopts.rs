//! Networking flags of `run`/`create` (and `network connect`), following docker CLI 28:
//! `--network` (plain or `name=...,alias=...` syntax, `opts.NetworkOpt`), `parseNetworkOpts`
//! merging `--network-alias`/`--ip`/`--ip6`/`--mac-address`/`--link` into the first network's
//! endpoint, and the flag validators (`--dns`, `--dns-search`, `--add-host`, `--link`,
//! `--mac-address`). Pure; error texts are docker's.

use std::collections::HashMap;
use std::net::IpAddr;

use berth_api::models::{EndpointIpamConfig, EndpointSettings};

use crate::format::humanize::go_quote;

/// One `--network` value (`opts.NetworkAttachmentOpts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// Network name or id (`default`, `bridge`, `host`, `none`, `container:x`, or a user network).
    pub target: String,
    /// `alias=`
    pub aliases: Vec<String>,
    /// `driver-opt=k=v`
    pub driver_opts: HashMap<String, String>,
    /// From `--link`, on user-defined networks.
    pub links: Vec<String>,
    /// `ip=`
    pub ipv4_address: String,
    /// `ip6=`
    pub ipv6_address: String,
    /// `link-local-ip=`
    pub link_local_ips: Vec<String>,
    /// `mac-address=`
    pub mac_address: String,
    /// `gw-priority=`
    pub gw_priority: i64,
}

/// Does `value` use the `key=value[,key=value]` syntax? (docker: the unanchored regexp
/// `\w+=\w+(,\w+=\w+)*`, i.e. a word character on both sides of some `=`.)
fn is_long_syntax(value: &str) -> bool {
    let b = value.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    (1..b.len().saturating_sub(1)).any(|i| b[i] == b'=' && word(b[i - 1]) && word(b[i + 1]))
}

/// One CSV record as Go's `encoding/csv` reads it: `,`-separated fields, `"..."` quoting with
/// `""` for a quote.
pub fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("parse error on line 1, column {}: extraneous or missing \" in quoted-field", i + 1)),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                }
            }
            match chars.get(i) {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {
                    fields.push(field);
                    i += 1;
                }
                Some(_) => return Err(format!("parse error on line 1, column {}: extraneous or missing \" in quoted-field", i + 1)),
            }
        } else {
            while let Some(c) = chars.get(i) {
                if *c == ',' {
                    break;
                }
                if *c == '"' {
                    return Err(format!("parse error on line 1, column {}: bare \" in non-quoted-field", i + 1));
                }
                field.push(*c);
                i += 1;
            }
            let more = chars.get(i) == Some(&',');
            fields.push(field);
            if !more {
                return Ok(fields);
            }
            i += 1;
        }
    }
}

/// `NetworkOpt.Set`: parse one `--network` value.
pub fn parse_network_flag(value: &str) -> Result<NetworkAttachment, String> {
    if !is_long_syntax(value) {
        return Ok(NetworkAttachment { target: value.to_string(), ..Default::default() });
    }
    let mut n = NetworkAttachment::default();
    for field in split_csv(value)? {
        // docker lowercases the whole field, values included.
        let lower = field.to_lowercase();
        let (key, val) = match lower.split_once('=') {
            Some((k, v)) if !k.is_empty() => (k.trim().to_string(), v.trim().to_string()),
            _ => return Err(format!("invalid field {field}")),
        };
        match key.as_str() {
            "name" => n.target = val,
            "alias" => n.aliases.push(val),
            "ip" => n.ipv4_address = val,
            "ip6" => n.ipv6_address = val,
            "mac-address" => n.mac_address = val,
            "link-local-ip" => n.link_local_ips.push(val),
            "driver-opt" => match val.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    n.driver_opts.insert(k.trim().to_string(), v.trim().to_string());
                }
                _ => return Err("invalid key value pair format in driver options".into()),
            },
            "gw-priority" => {
                n.gw_priority = parse_go_int(&val).map_err(|e| format!("invalid gw-priority ({val}): {e}"))?;
            }
            _ => return Err(format!("invalid field key {key}")),
        }
    }
    if n.target.is_empty() {
        return Err("network name/id is not specified".into());
    }
    Ok(n)
}

/// Go's `strconv.Atoi` error causes.
fn parse_go_int(s: &str) -> Result<i64, &'static str> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    s.parse::<i64>().map_err(|_| "value out of range")
}

/// `container.NetworkMode.IsUserDefined` (Linux).
pub fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// The legacy single-network flags, applied to the first `--network` (or `default`).
#[derive(Debug, Clone, Default)]
pub struct LegacyEndpointFlags {
    /// `--network-alias`
    pub aliases: Vec<String>,
    /// `--link`
    pub links: Vec<String>,
    /// `--ip`
    pub ipv4_address: String,
    /// `--ip6`
    pub ipv6_address: String,
    /// `--mac-address`
    pub mac_address: String,
    /// `--link-local-ip`
    pub link_local_ips: Vec<String>,
}

fn apply_legacy(n: &mut NetworkAttachment, l: &LegacyEndpointFlags) -> Result<(), String> {
    if !n.aliases.is_empty() && !l.aliases.is_empty() {
        return Err("conflicting options: cannot specify both --network-alias and per-network alias".into());
    }
    if !n.links.is_empty() && !l.links.is_empty() {
        return Err("conflicting options: cannot specify both --link and per-network links".into());
    }
    if !n.ipv4_address.is_empty() && !l.ipv4_address.is_empty() {
        return Err("conflicting options: cannot specify both --ip and per-network IPv4 address".into());
    }
    if !n.ipv6_address.is_empty() && !l.ipv6_address.is_empty() {
        return Err("conflicting options: cannot specify both --ip6 and per-network IPv6 address".into());
    }
    if !n.mac_address.is_empty() && !l.mac_address.is_empty() {
        return Err("conflicting options: cannot specify both --mac-address and per-network MAC address".into());
    }
    if !n.link_local_ips.is_empty() && !l.link_local_ips.is_empty() {
        return Err("conflicting options: cannot specify both --link-local-ip and per-network link-local IP addresses".into());
    }
    if !l.aliases.is_empty() {
        n.aliases = l.aliases.clone();
    }
    // On a user-defined network `--link` is an endpoint alias; on the default bridge it is a
    // legacy link (HostConfig.Links only).
    if is_user_defined(&n.target) && !l.links.is_empty() {
        n.links = l.links.clone();
    }
    if !l.ipv4_address.is_empty() {
        n.ipv4_address = l.ipv4_address.clone();
    }
    if !l.ipv6_address.is_empty() {
        n.ipv6_address = l.ipv6_address.clone();
    }
    if !l.mac_address.is_empty() {
        n.mac_address = l.mac_address.clone();
    }
    if !l.link_local_ips.is_empty() {
        n.link_local_ips = l.link_local_ips.clone();
    }
    Ok(())
}

/// `parseNetworkAttachmentOpt`: one attachment into its endpoint settings.
fn endpoint_settings(n: &NetworkAttachment) -> Result<EndpointSettings, String> {
    if n.target.trim().is_empty() {
        return Err("no name set for network".into());
    }
    if !is_user_defined(&n.target) {
        if !n.aliases.is_empty() {
            return Err("network-scoped aliases are only supported for user-defined networks".into());
        }
        if !n.links.is_empty() {
            return Err("links are only supported for user-defined networks".into());
        }
    }
    let mut ep = EndpointSettings {
        gw_priority: (n.gw_priority != 0).then_some(n.gw_priority),
        aliases: (!n.aliases.is_empty()).then(|| n.aliases.clone()),
        driver_opts: (!n.driver_opts.is_empty()).then(|| n.driver_opts.clone()),
        links: (!n.links.is_empty()).then(|| n.links.clone()),
        ..Default::default()
    };
    if !n.ipv4_address.is_empty() || !n.ipv6_address.is_empty() || !n.link_local_ips.is_empty() {
        ep.ipam_config = Some(EndpointIpamConfig {
            ipv4_address: (!n.ipv4_address.is_empty()).then(|| n.ipv4_address.clone()),
            ipv6_address: (!n.ipv6_address.is_empty()).then(|| n.ipv6_address.clone()),
            link_local_ips: (!n.link_local_ips.is_empty()).then(|| n.link_local_ips.clone()),
        });
    }
    if !n.mac_address.is_empty() {
        if validate_mac(&n.mac_address).is_err() {
            return Err(format!("{} is not a valid mac address", n.mac_address));
        }
        ep.mac_address = Some(n.mac_address.clone());
    }
    Ok(ep)
}

/// docker's `parseNetworkOpts`: the `--network` values plus the legacy flags into
/// `NetworkingConfig.EndpointsConfig`. Without `--network` the endpoint is keyed `default`
/// (the daemon renames it to its default network); a single network without any endpoint
/// option sends no endpoint at all.
pub fn parse_network_opts(
    networks: &[NetworkAttachment],
    legacy: &LegacyEndpointFlags,
) -> Result<HashMap<String, EndpointSettings>, String> {
    let mut endpoints = HashMap::new();
    if networks.is_empty() {
        let mut n = NetworkAttachment { target: "default".into(), ..Default::default() };
        apply_legacy(&mut n, legacy)?;
        endpoints.insert("default".to_string(), endpoint_settings(&n)?);
    }
    let (mut user_defined, mut builtin) = (false, false);
    for (i, n) in networks.iter().enumerate() {
        if is_user_defined(&n.target) {
            user_defined = true;
        } else {
            builtin = true;
        }
        let mut n = n.clone();
        if i == 0 {
            apply_legacy(&mut n, legacy)?;
        }
        let ep = endpoint_settings(&n)?;
        if endpoints.contains_key(&n.target) {
            return Err(format!("network {} is specified multiple times", go_quote(&n.target)));
        }
        if i == 0 && networks.len() == 1 && ep == EndpointSettings::default() {
            continue;
        }
        endpoints.insert(n.target.clone(), ep);
    }
    if user_defined && builtin {
        return Err("conflicting options: cannot attach both user-defined and non-user-defined network-modes".into());
    }
    Ok(endpoints)
}

/// Go's `net.IP.String()` of a parsed address (v4-mapped v6 prints as v4).
pub fn go_ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// `opts.ValidateIPAddress` (`--dns`): the address in canonical form.
pub fn validate_ip_address(val: &str) -> Result<String, String> {
    match val.trim().parse::<IpAddr>() {
        Ok(ip) => Ok(go_ip_string(ip)),
        Err(_) => Err(format!("IP address is not correctly formatted: {val}")),
    }
}

/// `opts.ValidateExtraHost` (`--add-host`): `name:ip`, `name=ip`, `[v6]` brackets, or
/// `host-gateway`; sent to the daemon as `name:ip`.
pub fn validate_extra_host(val: &str) -> Result<String, String> {
    let (k, v) = match val.split_once('=').or_else(|| val.split_once(':')) {
        Some((k, v)) if !k.is_empty() && !k.contains(':') => (k, v),
        _ => return Err(format!("bad format for add-host: {}", go_quote(val))),
    };
    let mut v = v;
    if v != "host-gateway" {
        if v.len() > 2 && v.starts_with('[') && v.ends_with(']') {
            v = &v[1..v.len() - 1];
        }
        if validate_ip_address(v).is_err() {
            return Err(format!("invalid IP address in add-host: {}", go_quote(v)));
        }
    }
    Ok(format!("{k}:{v}"))
}

/// `opts.ValidateDNSSearch` (`--dns-search`): `.` or a domain; returns the domain without a
/// trailing dot. (docker's pattern, including its `(:?` quirk that lets a `:` precede labels.)
pub fn validate_dns_search(val: &str) -> Result<String, String> {
    let val = val.trim_matches(' ');
    if val == "." {
        return Ok(val.to_string());
    }
    let bad = || format!("{val} is not a valid domain");
    if !val.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let body = val.trim_end_matches([' ', '\t', '\n', '\r', '\u{c}']);
    let body = body.strip_suffix('.').unwrap_or(body);
    let b = body.as_bytes();
    let mut i = 0;
    // Leading `:?` of the pattern, then labels `:?L` separated by `:?\.`.
    if b.get(i) == Some(&b':') {
        i += 1;
    }
    loop {
        if b.get(i) == Some(&b':') {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
        let label = &b[start..i];
        if label.is_empty() || !label[0].is_ascii_alphanumeric() || !label[label.len() - 1].is_ascii_alphanumeric() {
            return Err(bad());
        }
        if i == b.len() {
            break;
        }
        if b[i] == b':' {
            i += 1;
        }
        if b.get(i) != Some(&b'.') {
            return Err(bad());
        }
        i += 1;
    }
    if body.len() >= 255 {
        return Err(bad());
    }
    Ok(body.to_string())
}

/// Go's `net.ParseMAC` (`--mac-address`): 6, 8 or 20 octets as `xx:xx..`, `xx-xx..` or
/// `xxxx.xxxx..`.
pub fn validate_mac(val: &str) -> Result<String, String> {
    let s = val.trim().as_bytes();
    let err = || format!("address {}: invalid MAC address", val.trim());
    let hex2 = |p: &[u8]| p.len() >= 2 && p[0].is_ascii_hexdigit() && p[1].is_ascii_hexdigit();
    if s.len() < 14 {
        return Err(err());
    }
    if s[2] == b':' || s[2] == b'-' {
        let sep = s[2];
        if !(s.len() + 1).is_multiple_of(3) {
            return Err(err());
        }
        let n = (s.len() + 1) / 3;
        if !matches!(n, 6 | 8 | 20) {
            return Err(err());
        }
        for g in 0..n {
            let x = g * 3;
            if !hex2(&s[x..]) || (x + 2 < s.len() && s[x + 2] != sep) {
                return Err(err());
            }
        }
    } else if s[4] == b'.' {
        if !(s.len() + 1).is_multiple_of(5) {
            return Err(err());
        }
        let n = 2 * (s.len() + 1) / 5;
        if !matches!(n, 6 | 8 | 20) {
            return Err(err());
        }
        for g in 0..n / 2 {
            let x = g * 5;
            if !hex2(&s[x..]) || !hex2(&s[x + 2..]) || (x + 4 < s.len() && s[x + 4] != b'.') {
                return Err(err());
            }
        }
    } else {
        return Err(err());
    }
    Ok(val.to_string())
}

/// `opts.ValidateLink` (`--link name[:alias]`).
pub fn validate_link(val: &str) -> Result<String, String> {
    if val.is_empty() {
        return Err("empty string specified for links".into());
    }
    if val.splitn(3, ':').count() > 2 {
        return Err(format!("bad format for links: {val}"));
    }
    Ok(val.to_string())
}

/// `opts.ValidateLabel` (`--label` of `network create`).
pub fn validate_label(value: &str) -> Result<String, String> {
    let key = value.split('=').next().unwrap_or("");
    let ws = [' ', '\t', '\n', '\u{b}', '\u{c}', '\r'];
    let key = key.trim_start_matches(ws);
    if key.is_empty() {
        return Err(format!("invalid label '{value}': empty name"));
    }
    if key.contains(ws) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(target: &str) -> NetworkAttachment {
        NetworkAttachment { target: target.into(), ..Default::default() }
    }

    #[test]
    fn network_flag_values() {
        let cases: Vec<(&str, NetworkAttachment)> = vec![
            ("bridge", att("bridge")),
            ("my-net", att("my-net")),
            ("container:web", att("container:web")),
            ("name=front,alias=web,alias=www", NetworkAttachment { aliases: vec!["web".into(), "www".into()], ..att("front") }),
            (
                "name=Front,ip=172.20.0.5,ip6=2001:DB8::5,mac-address=02:42:AC:14:00:05",
                NetworkAttachment {
                    ipv4_address: "172.20.0.5".into(),
                    ipv6_address: "2001:db8::5".into(),
                    mac_address: "02:42:ac:14:00:05".into(),
                    ..att("front")
                },
            ),
            (
                "name=n,driver-opt=com.x=Y,gw-priority=-3,link-local-ip=169.254.0.9",
                NetworkAttachment {
                    driver_opts: HashMap::from([("com.x".to_string(), "y".to_string())]),
                    gw_priority: -3,
                    link_local_ips: vec!["169.254.0.9".into()],
                    ..att("n")
                },
            ),
            ("\"name=a\",alias=b", NetworkAttachment { aliases: vec!["b".into()], ..att("a") }),
        ];
        for (value, want) in cases {
            assert_eq!(parse_network_flag(value).unwrap(), want, "{value}");
        }
        let bad = [
            ("alias=web", "network name/id is not specified"),
            ("name=a,bogus=1", "invalid field key bogus"),
            ("name=a,ip", "invalid field ip"),
            ("name=a,gw-priority=x", "invalid gw-priority (x): invalid syntax"),
            ("name=a,driver-opt=x", "invalid key value pair format in driver options"),
        ];
        for (value, want) in bad {
            assert_eq!(parse_network_flag(value).unwrap_err(), want, "{value}");
        }
    }

    #[test]
    fn csv_fields() {
        assert_eq!(split_csv("a,b,,c").unwrap(), vec!["a", "b", "", "c"]);
        assert_eq!(split_csv("\"a,b\",c").unwrap(), vec!["a,b", "c"]);
        assert_eq!(split_csv("\"a\"\"b\"").unwrap(), vec!["a\"b"]);
        assert!(split_csv("a\"b").is_err());
        assert!(split_csv("\"ab").is_err());
    }

    fn legacy() -> LegacyEndpointFlags {
        LegacyEndpointFlags::default()
    }

    #[test]
    fn endpoints_follow_parse_network_opts() {
        // No --network: one empty endpoint keyed "default".
        let eps = parse_network_opts(&[], &legacy()).unwrap();
        assert_eq!(eps, HashMap::from([("default".to_string(), EndpointSettings::default())]));
        // One plain network and no endpoint flags: nothing.
        assert!(parse_network_opts(&[att("front")], &legacy()).unwrap().is_empty());
        assert!(parse_network_opts(&[att("host")], &legacy()).unwrap().is_empty());
        // Legacy flags land on the first network.
        let l = LegacyEndpointFlags {
            aliases: vec!["web".into()],
            ipv4_address: "172.20.0.5".into(),
            ipv6_address: "2001:db8::5".into(),
            mac_address: "02:42:ac:14:00:05".into(),
            links: vec!["db:database".into()],
            ..legacy()
        };
        let eps = parse_network_opts(&[att("front"), att("back")], &l).unwrap();
        let front = &eps["front"];
        assert_eq!(front.aliases, Some(vec!["web".to_string()]));
        assert_eq!(front.links, Some(vec!["db:database".to_string()]));
        assert_eq!(front.mac_address.as_deref(), Some("02:42:ac:14:00:05"));
        let ipam = front.ipam_config.clone().unwrap();
        assert_eq!(ipam.ipv4_address.as_deref(), Some("172.20.0.5"));
        assert_eq!(ipam.ipv6_address.as_deref(), Some("2001:db8::5"));
        assert_eq!(ipam.link_local_ips, None);
        assert_eq!(eps["back"], EndpointSettings::default());
        // --ip on the default network is the daemon's to refuse; links there are legacy links.
        let l = LegacyEndpointFlags { ipv4_address: "172.17.0.9".into(), links: vec!["db".into()], ..legacy() };
        let eps = parse_network_opts(&[], &l).unwrap();
        assert_eq!(eps["default"].ipam_config.as_ref().unwrap().ipv4_address.as_deref(), Some("172.17.0.9"));
        assert_eq!(eps["default"].links, None);
    }

    #[test]
    fn endpoint_errors() {
        let alias = LegacyEndpointFlags { aliases: vec!["a".into()], ..legacy() };
        let cases: Vec<(Vec<NetworkAttachment>, LegacyEndpointFlags, &str)> = vec![
            (vec![], alias.clone(), "network-scoped aliases are only supported for user-defined networks"),
            (vec![att("bridge")], alias.clone(), "network-scoped aliases are only supported for user-defined networks"),
            (
                vec![NetworkAttachment { aliases: vec!["x".into()], ..att("n") }],
                alias.clone(),
                "conflicting options: cannot specify both --network-alias and per-network alias",
            ),
            (
                vec![NetworkAttachment { ipv4_address: "1.2.3.4".into(), ..att("n") }],
                LegacyEndpointFlags { ipv4_address: "1.2.3.5".into(), ..legacy() },
                "conflicting options: cannot specify both --ip and per-network IPv4 address",
            ),
            (vec![att("a"), att("a")], legacy(), "network \"a\" is specified multiple times"),
            (
                vec![att("a"), att("host")],
                legacy(),
                "conflicting options: cannot attach both user-defined and non-user-defined network-modes",
            ),
            (
                vec![att("n")],
                LegacyEndpointFlags { mac_address: "zz".into(), ..legacy() },
                "zz is not a valid mac address",
            ),
        ];
        for (nets, l, want) in cases {
            assert_eq!(parse_network_opts(&nets, &l).unwrap_err(), want, "{nets:?}");
        }
    }

    #[test]
    fn validators() {
        assert_eq!(validate_ip_address("8.8.8.8").unwrap(), "8.8.8.8");
        assert_eq!(validate_ip_address(" 2001:DB8:0:0::1 ").unwrap(), "2001:db8::1");
        assert_eq!(validate_ip_address("::ffff:1.2.3.4").unwrap(), "1.2.3.4");
        assert_eq!(validate_ip_address("x").unwrap_err(), "IP address is not correctly formatted: x");

        let hosts: &[(&str, Result<&str, &str>)] = &[
            ("db:10.0.0.2", Ok("db:10.0.0.2")),
            ("db=10.0.0.2", Ok("db:10.0.0.2")),
            ("v6:2001:db8::1", Ok("v6:2001:db8::1")),
            ("v6=[2001:db8::1]", Ok("v6:2001:db8::1")),
            ("gw:host-gateway", Ok("gw:host-gateway")),
            ("foo", Err("bad format for add-host: \"foo\"")),
            (":1.2.3.4", Err("bad format for add-host: \":1.2.3.4\"")),
            ("a:b=1.2.3.4", Err("bad format for add-host: \"a:b=1.2.3.4\"")),
            ("db:nope", Err("invalid IP address in add-host: \"nope\"")),
        ];
        for (v, want) in hosts {
            assert_eq!(validate_extra_host(v), want.map(str::to_string).map_err(str::to_string), "{v}");
        }

        let search: &[(&str, Result<&str, ()>)] = &[
            (".", Ok(".")),
            ("example.com", Ok("example.com")),
            ("example.com.", Ok("example.com")),
            (" a-b.c1 ", Ok("a-b.c1")),
            ("x", Ok("x")),
            ("123", Err(())),
            ("-a.com", Err(())),
            ("a..com", Err(())),
            ("a_b.com", Err(())),
        ];
        for (v, want) in search {
            assert_eq!(validate_dns_search(v).map_err(|_| ()), want.map(str::to_string), "{v:?}");
        }
        assert_eq!(validate_dns_search("a_b").unwrap_err(), "a_b is not a valid domain");

        for ok in ["02:42:ac:11:00:02", "02-42-AC-11-00-02", "0242.ac11.0002", "00:00:00:00:fe:80:00:00"] {
            assert!(validate_mac(ok).is_ok(), "{ok}");
        }
        for bad in ["02:42:ac:11:00", "02:42:ac:11:00:0g", "02:42-ac:11:00:02", "0242ac110002", ""] {
            assert!(validate_mac(bad).is_err(), "{bad}");
        }

        assert_eq!(validate_link("db").unwrap(), "db");
        assert_eq!(validate_link("db:alias").unwrap(), "db:alias");
        assert_eq!(validate_link("a:b:c").unwrap_err(), "bad format for links: a:b:c");
        assert_eq!(validate_link("").unwrap_err(), "empty string specified for links");

        assert_eq!(validate_label("a=b").unwrap(), "a=b");
        assert_eq!(validate_label("=b").unwrap_err(), "invalid label '=b': empty name");
        assert_eq!(validate_label("a b=c").unwrap_err(), "label 'a b' contains whitespaces");
        assert!(is_long_syntax("name=x") && is_long_syntax("a,b=c") && !is_long_syntax("foo") && !is_long_syntax("=x"));
    }
}
