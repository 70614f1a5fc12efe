//! docker's network formatter context (`network ls --format` fields) and default table.

use std::collections::HashMap;

use berth_api::models::Network;
use serde_json::{json, Value as Json};

use super::humanize::truncate_id;
use super::template::{header_context, labels_json, LABELS_KEY};

/// `docker network ls` default table.
pub const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
/// `docker network ls --format raw`.
pub const RAW_FORMAT: &str = "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n";
/// `docker network ls -q --format raw`.
pub const RAW_QUIET_FORMAT: &str = "network_id: {{.ID}}";

/// docker's `NewFormat` for networks: `table`/empty -> the default table (`{{.ID}}` with
/// `-q`), `raw` -> the raw layout, anything else as given.
pub fn list_format(user: &str, quiet: bool) -> &str {
    match user {
        "" | "table" if quiet => "{{.ID}}",
        "" | "table" => DEFAULT_TABLE,
        "raw" if quiet => RAW_QUIET_FORMAT,
        "raw" => RAW_FORMAT,
        other => other,
    }
}

/// Column titles, as docker's network `FormatWrite` names them.
pub fn headers() -> Json {
    header_context(&[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv4", "IPV4"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ])
}

/// The formatter context of one network.
pub fn context(n: &Network, trunc: bool) -> Json {
    let id = n.id.clone().unwrap_or_default();
    let labels: HashMap<String, String> = n.labels.clone().unwrap_or_default();
    let mut label_list: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    label_list.sort();
    let created = n.created.map(|t| go_utc_time_string(t.timestamp(), t.timestamp_subsec_nanos()));
    json!({
        "ID": if trunc { truncate_id(&id) } else { id },
        "Name": n.name.clone().unwrap_or_default(),
        "Driver": n.driver.clone().unwrap_or_default(),
        "Scope": n.scope.clone().unwrap_or_default(),
        "IPv4": n.enable_ipv4.unwrap_or(false).to_string(),
        "IPv6": n.enable_ipv6.unwrap_or(false).to_string(),
        "Internal": n.internal.unwrap_or(false).to_string(),
        "Labels": label_list.join(","),
        "CreatedAt": created.unwrap_or_else(|| "0001-01-01 00:00:00 +0000 UTC".to_string()),
        LABELS_KEY: labels_json(&labels),
    })
}

/// Go's `time.Time.String()` of a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`
/// (fraction without trailing zeros, none when whole).
pub fn go_utc_time_string(secs: i64, nanos: u32) -> String {
    let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) else { return secs.to_string() };
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ListFormat;

    fn net(name: &str, id: &str, driver: &str) -> Network {
        Network {
            name: Some(name.into()),
            id: Some(id.into()),
            driver: Some(driver.into()),
            scope: Some("local".into()),
            ..Default::default()
        }
    }

    fn render(format: &str, quiet: bool, trunc: bool, nets: &[Network]) -> String {
        let lf = ListFormat::parse(list_format(format, quiet), "").unwrap();
        let items: Vec<Json> = nets.iter().map(|n| context(n, trunc)).collect();
        let mut out = Vec::new();
        lf.write(&mut out, &headers(), &items).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tables_and_formats() {
        let id = "5f8e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";
        let nets = vec![net("bridge", id, "bridge"), net("host", "0123456789abcdef", "host")];
        let cases = [
            (
                "",
                false,
                true,
                "NETWORK ID     NAME      DRIVER    SCOPE\n5f8e1a2b3c4d   bridge    bridge    local\n0123456789ab   host      host      local\n",
            ),
            ("", true, true, "5f8e1a2b3c4d\n0123456789ab\n"),
            ("table", true, false, &format!("{id}\n0123456789abcdef\n")),
            ("{{.Name}}: {{.IPv6}} {{.Internal}}", true, true, "bridge: false false\nhost: false false\n"),
            ("raw", false, true, "network_id: 5f8e1a2b3c4d\nname: bridge\ndriver: bridge\nscope: local\n\nnetwork_id: 0123456789ab\nname: host\ndriver: host\nscope: local\n\n"),
        ];
        for (format, quiet, trunc, want) in cases {
            assert_eq!(render(format, quiet, trunc, &nets), want, "{format:?} quiet={quiet}");
        }
    }

    #[test]
    fn labels_and_created() {
        let mut n = net("front", "abc", "bridge");
        n.labels = Some(HashMap::from([("b".to_string(), "2".to_string()), ("a".to_string(), "1".to_string())]));
        n.enable_ipv6 = Some(true);
        n.created = chrono::DateTime::from_timestamp(1_700_000_000, 120_000_000);
        let got = render("{{.Labels}}|{{.Label \"b\"}}|{{.IPv6}}|{{.CreatedAt}}", false, true, &[n.clone()]);
        assert_eq!(got, "a=1,b=2|2|true|2023-11-14 22:13:20.12 +0000 UTC\n");
        let got = render("table {{.Name}}\t{{.Label \"com.example.my-key\"}}", false, true, &[n]);
        assert_eq!(got, "NAME      my key\nfront     \n");
        assert_eq!(go_utc_time_string(0, 0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
