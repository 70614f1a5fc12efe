//! Wire shapes of older API versions that the generated (1.53) models no longer have; added
//! to the encoded JSON by the routes, for the versions that had them.

use serde_json::{json, Map, Value};

/// The API version that dropped the top-level `NetworkSettings` fields of container inspect.
pub(crate) const LEGACY_NETWORK_SETTINGS_UNTIL: &str = "1.52";

/// Add Docker's deprecated top-level `NetworkSettings` fields to an encoded
/// `ContainerInspectResponse`, as API versions before 1.52 send them (moby's
/// `NetworkSettingsBase` and `DefaultNetworkSettings`): what the default `bridge` network's
/// endpoint says when the container is on it, empty strings and zeros otherwise. Clients
/// still read them (`{{.NetworkSettings.IPAddress}}`, the Python SDK).
///
/// Keys already present are left alone, and so are `SandboxID`, `SandboxKey`, `Ports` and
/// `Networks`. A missing (or null) `NetworkSettings` becomes an object holding these fields.
pub(crate) fn add_legacy_network_settings(inspect: &mut Value) {
    let Some(obj) = inspect.as_object_mut() else { return };
    let settings = obj.entry("NetworkSettings").or_insert(Value::Null);
    if settings.is_null() {
        *settings = Value::Object(Map::new());
    }
    let Some(settings) = settings.as_object_mut() else { return };
    let bridge = settings
        .get("Networks")
        .and_then(|n| n.get("bridge"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let text = |key: &str| bridge.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let number = |key: &str| bridge.get(key).and_then(Value::as_i64).unwrap_or(0);
    let legacy = [
        // NetworkSettingsBase: never set by us (no --bridge flag, no hairpin mode, the
        // secondary addresses were never set by Docker either).
        ("Bridge", json!("")),
        ("HairpinMode", json!(false)),
        ("LinkLocalIPv6Address", json!("")),
        ("LinkLocalIPv6PrefixLen", json!(0)),
        ("SecondaryIPAddresses", Value::Null),
        ("SecondaryIPv6Addresses", Value::Null),
        // DefaultNetworkSettings: the default bridge network's endpoint.
        ("EndpointID", json!(text("EndpointID"))),
        ("Gateway", json!(text("Gateway"))),
        ("GlobalIPv6Address", json!(text("GlobalIPv6Address"))),
        ("GlobalIPv6PrefixLen", json!(number("GlobalIPv6PrefixLen"))),
        ("IPAddress", json!(text("IPAddress"))),
        ("IPPrefixLen", json!(number("IPPrefixLen"))),
        ("IPv6Gateway", json!(text("IPv6Gateway"))),
        ("MacAddress", json!(text("MacAddress"))),
    ];
    for (key, value) in legacy {
        settings.entry(key).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The objects of `parts` merged left to right.
    fn merged(parts: &[Value]) -> Value {
        let mut out = Map::new();
        for part in parts {
            out.extend(part.as_object().unwrap().clone());
        }
        Value::Object(out)
    }

    #[test]
    fn legacy_network_settings() {
        let empty = json!({
            "Bridge": "", "HairpinMode": false, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null, "EndpointID": "", "Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        });
        let bridge_ep = json!({
            "NetworkID": "n1", "EndpointID": "ep1", "Gateway": "172.17.0.1",
            "IPAddress": "172.17.0.2", "IPPrefixLen": 16, "IPv6Gateway": "fd00::1",
            "GlobalIPv6Address": "fd00::2", "GlobalIPv6PrefixLen": 64,
            "MacAddress": "02:42:ac:11:00:02", "Aliases": ["x"],
        });
        let from_bridge = json!({
            "EndpointID": "ep1", "Gateway": "172.17.0.1", "IPAddress": "172.17.0.2",
            "IPPrefixLen": 16, "IPv6Gateway": "fd00::1", "GlobalIPv6Address": "fd00::2",
            "GlobalIPv6PrefixLen": 64, "MacAddress": "02:42:ac:11:00:02",
        });
        let engine = json!({
            "SandboxID": "sb", "SandboxKey": "/run/x", "Ports": {"80/tcp": null},
            "Networks": {"bridge": bridge_ep},
        });
        let user_only = json!({"Networks": {
            "front": {"NetworkID": "n2", "IPAddress": "172.18.0.2", "IPPrefixLen": 16},
        }});
        let stopped = json!({"Networks": {"bridge": {"NetworkID": "n1"}}});
        let host = json!({"Networks": {"host": {"NetworkID": "h"}}});
        let already = json!({"IPAddress": "10.0.0.9", "Bridge": "br0"});
        // (what, engine's NetworkSettings, what it becomes)
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "on the default bridge",
                engine.clone(),
                merged(&[empty.clone(), from_bridge.clone(), engine.clone()]),
            ),
            ("on a user network only", user_only.clone(), merged(&[empty.clone(), user_only])),
            (
                "bridge endpoint without addresses",
                stopped.clone(),
                merged(&[empty.clone(), stopped]),
            ),
            ("host network", host.clone(), merged(&[empty.clone(), host])),
            ("no networks", json!({}), empty.clone()),
            (
                "keys already there are kept",
                merged(&[engine.clone(), already.clone()]),
                merged(&[empty.clone(), from_bridge, engine, already]),
            ),
            ("null", Value::Null, empty.clone()),
            ("not an object: untouched", json!(5), json!(5)),
        ];
        for (what, settings, want) in cases {
            let mut inspect = json!({"Id": "c", "NetworkSettings": settings});
            add_legacy_network_settings(&mut inspect);
            assert_eq!(inspect, json!({"Id": "c", "NetworkSettings": want}), "{what}");
        }

        let mut missing = json!({"Id": "c"});
        add_legacy_network_settings(&mut missing);
        assert_eq!(missing, json!({"Id": "c", "NetworkSettings": empty}), "missing");
        let mut not_object = json!([1]);
        add_legacy_network_settings(&mut not_object);
        assert_eq!(not_object, json!([1]), "not an object");
    }
}
