//! docker's port notation (go-connections `nat`, as vendored by docker CLI 28): `-p/--publish`
//! specs, `--expose` ranges, and `host:port` joining. Pure; error texts are docker's.

use std::collections::HashMap;
use std::net::IpAddr;

use berth_api::models::PortBinding;

use crate::format::humanize::go_quote;

/// `HostConfig.PortBindings` before wrapping: container port -> host bindings.
pub type PortBindings = HashMap<String, Vec<PortBinding>>;

/// One container port (`80/tcp`) and one host binding for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// `PORT/PROTO`, the key of `ExposedPorts` and `PortBindings`.
    pub port: String,
    /// Host address, empty for all.
    pub host_ip: String,
    /// Host port, a range (`8000-8010`) or empty for "pick one".
    pub host_port: String,
}

/// Go's `strconv.ParseUint(s, 10, 16)`, with its error text.
pub fn parse_u16(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {}: invalid syntax", go_quote(s)));
    }
    s.parse::<u16>()
        .map_err(|_| format!("strconv.ParseUint: parsing {}: value out of range", go_quote(s)))
}

/// `nat.ParsePortRange`: `80` or `8000-9000` (anything after a second `-` is ignored, as Go does).
pub fn parse_port_range(ports: &str) -> Result<(u16, u16), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".into());
    }
    if !ports.contains('-') {
        let p = parse_u16(ports)?;
        return Ok((p, p));
    }
    let mut parts = ports.split('-');
    let start = parse_u16(parts.next().unwrap_or(""))?;
    let end = parse_u16(parts.next().unwrap_or(""))?;
    if end < start {
        return Err(format!("invalid range specified for port: {ports}"));
    }
    Ok((start, end))
}

/// `nat.SplitProtoPort`: `80/udp` -> (`udp`, `80`); no protocol means `tcp`.
pub fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    if parts.len() == 1 {
        return ("tcp".into(), raw.to_string());
    }
    if parts[1].is_empty() {
        return ("tcp".into(), parts[0].to_string());
    }
    (parts[1].to_string(), parts[0].to_string())
}

/// `nat.NewPort` for a single port or a range.
fn new_port(proto: &str, start: u16, end: u16) -> String {
    if start == end {
        format!("{start}/{proto}")
    } else {
        format!("{start}-{end}/{proto}")
    }
}

/// Split `ip:host:container` at the last two colons (IPv6 host addresses keep theirs).
fn split_parts(raw: &str) -> (String, String, String) {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1].to_string();
    match n {
        1 => (String::new(), String::new(), container),
        2 => (String::new(), parts[0].to_string(), container),
        3 => (parts[0].to_string(), parts[1].to_string(), container),
        _ => (parts[..n - 2].join(":"), parts[n - 2].to_string(), container),
    }
}

/// `nat.ParsePortSpec`: one `-p` value into its mappings (a container range gives several).
pub fn parse_port_spec(raw: &str) -> Result<Vec<PortMapping>, String> {
    let (mut ip, host_port, container) = split_parts(raw);
    let (proto, container_port) = split_proto_port(&container);
    if ip.starts_with('[') {
        match ip.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(inner) if !inner.contains(['[', ']']) => ip = inner.to_string(),
            _ => return Err(format!("invalid IP address {ip}: address {ip}: missing ']' in address")),
        }
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container_port.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) =
        parse_port_range(&container_port).map_err(|_| format!("invalid containerPort: {container_port}"))?;
    let (mut host_start, mut host_end) = (0u16, 0u16);
    if !host_port.is_empty() {
        (host_start, host_end) = parse_port_range(&host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
    }
    if !host_port.is_empty() && (end - start) != (host_end - host_start) && end != start {
        // A host range with a single container port is the range to pick the host port from.
        return Err(format!("invalid ranges specified for container and host Ports: {container_port} and {host_port}"));
    }
    let proto_l = proto.to_lowercase();
    if !matches!(proto_l.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let mut hp = String::new();
        if !host_port.is_empty() {
            hp = (host_start as u32 + i as u32).to_string();
            if start == end && host_start != host_end {
                hp = format!("{hp}-{host_end}");
            }
        }
        out.push(PortMapping { port: new_port(&proto_l, start + i, start + i), host_ip: ip.clone(), host_port: hp });
    }
    Ok(out)
}

/// `nat.ParsePortSpecs`: all `-p` values into `ExposedPorts` keys (first-seen order) and
/// `PortBindings`.
pub fn parse_port_specs(specs: &[String]) -> Result<(Vec<String>, PortBindings), String> {
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: HashMap<String, Vec<PortBinding>> = HashMap::new();
    for raw in specs {
        for m in parse_port_spec(raw)? {
            if !exposed.contains(&m.port) {
                exposed.push(m.port.clone());
            }
            bindings
                .entry(m.port)
                .or_default()
                .push(PortBinding { host_ip: Some(m.host_ip), host_port: Some(m.host_port) });
        }
    }
    Ok((exposed, bindings))
}

/// docker's `convertToStandardNotation`: the long `-p` syntax
/// (`published=8080,target=80,protocol=udp`) into `8080:80/udp`; short specs unchanged.
pub fn convert_to_standard_notation(ports: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for publish in ports {
        if !publish.contains('=') {
            out.push(publish.clone());
            continue;
        }
        let mut params: HashMap<&str, &str> = HashMap::from([("protocol", "tcp")]);
        for param in publish.split(',') {
            match param.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    params.insert(k, v);
                }
                _ => {
                    return Err(format!("invalid publish opts format (should be name=value but got '{param}')"));
                }
            }
        }
        let get = |k: &str| params.get(k).copied().unwrap_or("");
        out.push(format!("{}:{}/{}", get("published"), get("target"), get("protocol")));
    }
    Ok(out)
}

/// One `--expose` value (`80`, `80/udp`, `8000-8010/tcp`) into its ports.
pub fn parse_expose(e: &str) -> Result<Vec<String>, String> {
    if e.contains(':') {
        return Err(format!("invalid port format for --expose: {e}"));
    }
    let (proto, port) = split_proto_port(e);
    let (start, end) =
        parse_port_range(&port).map_err(|err| format!("invalid range format for --expose: {e}, error: {err}"))?;
    Ok((start..=end).map(|p| new_port(&proto, p, p)).collect())
}

/// Go's `net.JoinHostPort`: brackets around hosts containing a colon.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(port: &str, ip: &str, hp: &str) -> PortMapping {
        PortMapping { port: port.into(), host_ip: ip.into(), host_port: hp.into() }
    }

    #[test]
    fn port_specs_parse_like_docker() {
        let cases: Vec<(&str, Vec<PortMapping>)> = vec![
            ("80", vec![m("80/tcp", "", "")]),
            ("80/udp", vec![m("80/udp", "", "")]),
            ("80/UDP", vec![m("80/udp", "", "")]),
            ("80/", vec![m("80/tcp", "", "")]),
            ("8080:80", vec![m("80/tcp", "", "8080")]),
            (":80", vec![m("80/tcp", "", "")]),
            ("127.0.0.1:8080:80/udp", vec![m("80/udp", "127.0.0.1", "8080")]),
            ("127.0.0.1::80", vec![m("80/tcp", "127.0.0.1", "")]),
            ("[::1]:8080:80", vec![m("80/tcp", "::1", "8080")]),
            ("::1:8080:80", vec![m("80/tcp", "::1", "8080")]),
            ("[::]::80/sctp", vec![m("80/sctp", "::", "")]),
            ("8000-8001:80-81", vec![m("80/tcp", "", "8000"), m("81/tcp", "", "8001")]),
            ("80-81", vec![m("80/tcp", "", ""), m("81/tcp", "", "")]),
            ("8000-8010:80", vec![m("80/tcp", "", "8000-8010")]),
            ("0.0.0.0:8000-8010:80/udp", vec![m("80/udp", "0.0.0.0", "8000-8010")]),
            ("65535:65535", vec![m("65535/tcp", "", "65535")]),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_port_spec(spec).unwrap(), want, "{spec}");
        }
    }

    #[test]
    fn bad_port_specs_fail_with_docker_messages() {
        let cases = [
            ("", "no port specified: <empty>"),
            ("8080:", "no port specified: 8080:<empty>"),
            ("x", "invalid containerPort: x"),
            ("80:x", "invalid containerPort: x"),
            ("x:80", "invalid hostPort: x"),
            ("+80", "invalid containerPort: +80"),
            ("70000", "invalid containerPort: 70000"),
            ("81-80", "invalid containerPort: 81-80"),
            ("1.2.3:80:80", "invalid IP address: 1.2.3"),
            ("localhost:80:80", "invalid IP address: localhost"),
            ("8000:80-81", "invalid ranges specified for container and host Ports: 80-81 and 8000"),
            ("8000-8002:80-81", "invalid ranges specified for container and host Ports: 80-81 and 8000-8002"),
            ("80/icmp", "invalid proto: icmp"),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_port_spec(spec).unwrap_err(), want, "{spec:?}");
        }
    }

    #[test]
    fn specs_merge_into_exposed_ports_and_bindings() {
        let specs: Vec<String> = ["8080:80", "127.0.0.1:8081:80", "53/udp"].iter().map(|s| s.to_string()).collect();
        let (exposed, bindings) = parse_port_specs(&specs).unwrap();
        assert_eq!(exposed, vec!["80/tcp", "53/udp"]);
        let b80 = &bindings["80/tcp"];
        assert_eq!(b80.len(), 2);
        assert_eq!((b80[0].host_ip.as_deref(), b80[0].host_port.as_deref()), (Some(""), Some("8080")));
        assert_eq!((b80[1].host_ip.as_deref(), b80[1].host_port.as_deref()), (Some("127.0.0.1"), Some("8081")));
        assert_eq!(bindings["53/udp"][0].host_port.as_deref(), Some(""));
    }

    #[test]
    fn long_publish_syntax_converts() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("8080:80", Ok("8080:80")),
            ("published=8080,target=80", Ok("8080:80/tcp")),
            ("target=53,published=5353,protocol=udp,mode=host", Ok("5353:53/udp")),
            ("target=80", Ok(":80/tcp")),
            ("target=80,bogus", Err("invalid publish opts format (should be name=value but got 'bogus')")),
            ("=1,target=80", Err("invalid publish opts format (should be name=value but got '=1')")),
        ];
        for (input, want) in cases {
            let got = convert_to_standard_notation(&[input.to_string()]);
            match want {
                Ok(w) => assert_eq!(got.unwrap(), vec![w.to_string()], "{input}"),
                Err(e) => assert_eq!(got.unwrap_err(), *e, "{input}"),
            }
        }
    }

    #[test]
    fn expose_values() {
        let ok: &[(&str, &[&str])] = &[
            ("80", &["80/tcp"]),
            ("53/udp", &["53/udp"]),
            ("80/TCP", &["80/TCP"]),
            ("8000-8002", &["8000/tcp", "8001/tcp", "8002/tcp"]),
            ("7-8/sctp", &["7/sctp", "8/sctp"]),
        ];
        for (e, want) in ok {
            assert_eq!(parse_expose(e).unwrap(), want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{e}");
        }
        let bad = [
            ("1:2", "invalid port format for --expose: 1:2"),
            ("x", "invalid range format for --expose: x, error: strconv.ParseUint: parsing \"x\": invalid syntax"),
            ("", "invalid range format for --expose: , error: empty string specified for ports"),
            ("9-8", "invalid range format for --expose: 9-8, error: invalid range specified for port: 9-8"),
            ("99999", "invalid range format for --expose: 99999, error: strconv.ParseUint: parsing \"99999\": value out of range"),
        ];
        for (e, want) in bad {
            assert_eq!(parse_expose(e).unwrap_err(), want, "{e:?}");
        }
    }

    #[test]
    fn proto_split_and_host_join() {
        let cases = [("80", ("tcp", "80")), ("80/udp", ("udp", "80")), ("80/", ("tcp", "80")), ("/udp", ("", "")), ("", ("", ""))];
        for (raw, (proto, port)) in cases {
            assert_eq!(split_proto_port(raw), (proto.to_string(), port.to_string()), "{raw}");
        }
        assert_eq!(join_host_port("0.0.0.0", "80"), "0.0.0.0:80");
        assert_eq!(join_host_port("::", "80"), "[::]:80");
        assert_eq!(join_host_port("", "80"), ":80");
    }
}
