//! docker's container formatter context (`ps --format` fields) and default tables.

use std::collections::HashMap;

use berth_api::models::{ContainerSummary, PortBinding, PortSummary};
use serde_json::{json, Value as Json};

use super::humanize::{ellipsis, go_quote, go_time_string, human_size_precision, since, truncate_id};
use super::natsort::natural_cmp;
use crate::nat::{join_host_port, parse_u16};
use super::template::{header_context, labels_json, LABELS_KEY};

/// `docker ps` default table.
pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
/// `docker ps -s` default table.
pub const DEFAULT_TABLE_SIZE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}";

/// Column titles, as docker's `ContainerContext` names them.
pub fn headers() -> Json {
    header_context(&[
        ("ID", "CONTAINER ID"),
        ("Names", "NAMES"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Labels", "LABELS"),
        ("Label", "LABEL"),
        ("Mounts", "MOUNTS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Networks", "NETWORKS"),
        ("Platform", "PLATFORM"),
    ])
}

/// The formatter context of one container.
pub fn context(c: &ContainerSummary, trunc: bool, now: i64) -> Json {
    let id = c.id.clone().unwrap_or_default();
    let labels = c.labels.clone().unwrap_or_default();
    let mut label_list: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    label_list.sort();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .flatten()
        .map(|m| {
            let name = m.name.clone().filter(|n| !n.is_empty()).or_else(|| m.source.clone()).unwrap_or_default();
            if trunc {
                ellipsis(&name, 15)
            } else {
                name
            }
        })
        .collect();
    let local_volumes = c
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.driver.as_deref() == Some("local"))
        .count();
    let mut networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let created = c.created.unwrap_or(0);
    json!({
        "ID": if trunc { truncate_id(&id) } else { id },
        "Names": names(c.names.as_deref().unwrap_or(&[]), trunc),
        "Image": image(c.image.as_deref().unwrap_or(""), c.image_id.as_deref().unwrap_or(""), trunc),
        "Command": command(c.command.as_deref().unwrap_or(""), trunc),
        "CreatedAt": go_time_string(created),
        "RunningFor": since(created, now),
        "Ports": displayable_ports(c.ports.as_deref().unwrap_or(&[])),
        "State": c.state.map(|s| s.to_string()).unwrap_or_default(),
        "Status": c.status.clone().unwrap_or_default(),
        "Size": size(c.size_rw.unwrap_or(0), c.size_root_fs.unwrap_or(0)),
        "Labels": label_list.join(","),
        "Mounts": mounts.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Networks": networks.join(","),
        "Platform": "",
        LABELS_KEY: labels_json(&labels),
    })
}

/// Names without the leading `/`; truncated output keeps the first name that is not a link.
pub fn names(names: &[String], trunc: bool) -> String {
    let stripped: Vec<&str> = names.iter().map(|n| n.strip_prefix('/').unwrap_or(n)).collect();
    if trunc {
        if let Some(n) = stripped.iter().find(|n| !n.contains('/')) {
            return n.to_string();
        }
    }
    stripped.join(",")
}

/// docker's IMAGE column: an id when the container was created from one, else the reference
/// without any digest.
pub fn image(image: &str, image_id: &str, trunc: bool) -> String {
    if image.is_empty() {
        return "<no image>".into();
    }
    if !trunc {
        return image.to_string();
    }
    if !image_id.is_empty() && truncate_id(image_id) == truncate_id(image) {
        return truncate_id(image);
    }
    match image.split_once('@') {
        Some((name, _)) => name.to_string(),
        None => image.to_string(),
    }
}

/// The quoted command, cut to 20 characters unless `--no-trunc`.
pub fn command(cmd: &str, trunc: bool) -> String {
    if trunc {
        go_quote(&ellipsis(cmd, 20))
    } else {
        go_quote(cmd)
    }
}

/// `SIZE`: writable layer, and the virtual size when known.
pub fn size(rw: i64, root_fs: i64) -> String {
    let srw = human_size_precision(rw as f64, 3);
    if root_fs > 0 {
        format!("{srw} (virtual {})", human_size_precision(root_fs as f64, 3))
    } else {
        srw
    }
}

/// docker's `DisplayablePorts`: consecutive ports grouped into ranges, host mappings last.
pub fn displayable_ports(ports: &[PortSummary]) -> String {
    let mut ports: Vec<&PortSummary> = ports.iter().collect();
    let typ = |p: &PortSummary| p.typ.map(|t| t.to_string()).unwrap_or_default();
    ports.sort_by(|a, b| {
        a.private_port
            .cmp(&b.private_port)
            .then_with(|| a.ip.cmp(&b.ip))
            .then_with(|| a.public_port.cmp(&b.public_port))
            .then_with(|| typ(a).cmp(&typ(b)))
    });
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in ports {
        let current = p.private_port;
        let mut key = typ(p);
        if let Some(ip) = p.ip.as_deref().filter(|ip| !ip.is_empty()) {
            let public = p.public_port.unwrap_or(0);
            if public != current {
                let host = join_host_port(ip, &public.to_string());
                host_mappings.push(format!("{host}->{}/{}", p.private_port, typ(p)));
                continue;
            }
            key = format!("{ip}/{}", typ(p));
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, current, current)),
            Some(g) => {
                if current == g.2.wrapping_add(1) {
                    g.2 = current;
                } else {
                    result.push(form_group(&g.0, g.1, g.2));
                    g.1 = current;
                    g.2 = current;
                }
            }
        }
    }
    for (key, first, last) in &groups {
        result.push(form_group(key, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

/// `docker port CONTAINER [PRIVATE_PORT[/PROTO]]` from the inspected `NetworkSettings.Ports`:
/// every mapping as `80/tcp -> 0.0.0.0:8080`, or for one port its host addresses; natural
/// order. Errors are docker's.
pub fn port_lines(
    ports: &HashMap<String, Option<Vec<PortBinding>>>,
    want: Option<&str>,
    container: &str,
) -> Result<Vec<String>, String> {
    let host = |b: &PortBinding| {
        join_host_port(b.host_ip.as_deref().unwrap_or(""), b.host_port.as_deref().unwrap_or(""))
    };
    let mut out: Vec<String> = Vec::new();
    match want {
        Some(spec) => {
            let (port, proto) = match spec.split_once('/') {
                Some((p, "")) => (p, "tcp"),
                Some((p, proto)) => (p, proto),
                None => (spec, "tcp"),
            };
            parse_u16(port).map_err(|e| format!("Error: invalid port ({port}): {e}"))?;
            let frontends = ports.get(&format!("{port}/{proto}")).and_then(|f| f.as_ref()).filter(|f| !f.is_empty());
            let Some(frontends) = frontends else {
                return Err(format!("Error: No public port '{spec}' published for {container}"));
            };
            out.extend(frontends.iter().map(host));
        }
        None => {
            for (from, frontends) in ports {
                for f in frontends.iter().flatten() {
                    out.push(format!("{from} -> {}", host(f)));
                }
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(out)
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, typ) = match key.rsplit_once('/') {
        Some((ip, t)) => (ip, t),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{typ}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::models::PortSummaryTypeEnum;

    fn port(ip: Option<&str>, private: u16, public: Option<u16>) -> PortSummary {
        PortSummary { ip: ip.map(str::to_string), private_port: private, public_port: public, typ: Some(PortSummaryTypeEnum::TCP) }
    }

    #[test]
    fn commands_are_quoted_and_truncated() {
        let cases = [
            ("sh -c 'echo hi'", true, "\"sh -c 'echo hi'\""),
            ("sh -c 'while true; do sleep 1; done'", true, "\"sh -c 'while true; …\""),
            ("sh -c 'while true; do sleep 1; done'", false, "\"sh -c 'while true; do sleep 1; done'\""),
            ("", true, "\"\""),
        ];
        for (cmd, trunc, want) in cases {
            assert_eq!(command(cmd, trunc), want, "{cmd}");
        }
    }

    #[test]
    fn names_and_images() {
        assert_eq!(names(&["/web".into(), "/other/link".into()], true), "web");
        assert_eq!(names(&["/web".into(), "/other/link".into()], false), "web,other/link");
        assert_eq!(image("busybox@sha256:abc", "sha256:0123", true), "busybox");
        assert_eq!(image("sha256:0123456789abcdef", "sha256:0123456789abcdef", true), "0123456789ab");
        assert_eq!(image("busybox:1.36", "sha256:99", true), "busybox:1.36");
        assert_eq!(image("", "", true), "<no image>");
    }

    #[test]
    fn ports_group_like_docker() {
        let ports = vec![port(None, 81, None), port(None, 80, None), port(Some("0.0.0.0"), 443, Some(8443)), port(None, 90, None)];
        assert_eq!(displayable_ports(&ports), "80-81/tcp, 90/tcp, 0.0.0.0:8443->443/tcp");
        let same = vec![port(Some("0.0.0.0"), 80, Some(80))];
        assert_eq!(displayable_ports(&same), "0.0.0.0:80->80/tcp");
        assert_eq!(displayable_ports(&[]), "");
    }

    fn typed(ip: Option<&str>, private: u16, public: Option<u16>, t: PortSummaryTypeEnum) -> PortSummary {
        PortSummary { typ: Some(t), ..port(ip, private, public) }
    }

    #[test]
    fn ports_render_like_docker_28() {
        use PortSummaryTypeEnum::{TCP, UDP};
        let cases: Vec<(Vec<PortSummary>, &str)> = vec![
            (
                vec![port(Some("0.0.0.0"), 80, Some(8080)), port(Some("::"), 80, Some(8080))],
                "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp",
            ),
            (
                vec![
                    port(Some("0.0.0.0"), 81, Some(81)),
                    port(Some("0.0.0.0"), 80, Some(80)),
                    port(Some("::"), 80, Some(80)),
                    port(Some("::"), 81, Some(81)),
                ],
                "0.0.0.0:80-81->80-81/tcp, [::]:80-81->80-81/tcp",
            ),
            (
                vec![typed(None, 53, None, UDP), typed(None, 53, None, TCP), typed(None, 54, None, UDP)],
                "53/tcp, 53-54/udp",
            ),
            (
                vec![port(None, 80, None), port(None, 81, None), port(None, 83, None), port(None, 84, None)],
                "80-81/tcp, 83-84/tcp",
            ),
            (
                vec![port(Some("127.0.0.1"), 80, Some(32768)), port(None, 443, None)],
                "443/tcp, 127.0.0.1:32768->80/tcp",
            ),
        ];
        for (ports, want) in cases {
            assert_eq!(displayable_ports(&ports), want);
        }
    }

    #[test]
    fn port_command_lines() {
        let b = |ip: &str, port: &str| PortBinding { host_ip: Some(ip.into()), host_port: Some(port.into()) };
        let ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::from([
            ("80/tcp".to_string(), Some(vec![b("0.0.0.0", "8080"), b("::", "8080")])),
            ("443/tcp".to_string(), Some(vec![b("127.0.0.1", "8443")])),
            ("53/udp".to_string(), Some(vec![b("0.0.0.0", "5353")])),
            ("9000/tcp".to_string(), None),
        ]);
        assert_eq!(
            port_lines(&ports, None, "web").unwrap(),
            vec![
                "53/udp -> 0.0.0.0:5353",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
                "443/tcp -> 127.0.0.1:8443",
            ]
        );
        assert_eq!(port_lines(&ports, Some("80"), "web").unwrap(), vec!["0.0.0.0:8080", "[::]:8080"]);
        assert_eq!(port_lines(&ports, Some("53/udp"), "web").unwrap(), vec!["0.0.0.0:5353"]);
        assert_eq!(port_lines(&ports, Some("53"), "web").unwrap_err(), "Error: No public port '53' published for web");
        assert_eq!(port_lines(&ports, Some("9000/tcp"), "web").unwrap_err(), "Error: No public port '9000/tcp' published for web");
        assert_eq!(
            port_lines(&ports, Some("http"), "web").unwrap_err(),
            "Error: invalid port (http): strconv.ParseUint: parsing \"http\": invalid syntax"
        );
        assert!(port_lines(&HashMap::new(), None, "web").unwrap().is_empty());
    }

    #[test]
    fn sizes() {
        assert_eq!(size(0, 0), "0B");
        assert_eq!(size(12_345, 4_261_234), "12.3kB (virtual 4.26MB)");
    }

    #[test]
    fn context_has_docker_fields() {
        let c = ContainerSummary {
            id: Some("0123456789abcdef0123".into()),
            names: Some(vec!["/web".into()]),
            image: Some("busybox".into()),
            command: Some("sleep 100".into()),
            created: Some(1000),
            status: Some("Up 3 seconds".into()),
            labels: Some([("a".to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        let ctx = context(&c, true, 1003);
        assert_eq!(ctx["ID"], "0123456789ab");
        assert_eq!(ctx["Names"], "web");
        assert_eq!(ctx["Command"], "\"sleep 100\"");
        assert_eq!(ctx["RunningFor"], "3 seconds ago");
        assert_eq!(ctx["Status"], "Up 3 seconds");
        assert_eq!(ctx["Labels"], "a=1");
        let t = super::super::Template::parse("{{.Label \"a\"}}").unwrap();
        assert_eq!(t.render(&ctx).unwrap(), "1");
    }
}
