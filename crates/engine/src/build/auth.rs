//! `X-Registry-Config` (base64 JSON of auth configs keyed by registry) to the
//! `X-Registry-Auth` form a pull takes (base64url JSON of one auth config).

use std::collections::BTreeMap;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Decode base64, standard or URL-safe alphabet, padded or not.
fn decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Encode base64url without padding.
fn encode(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |a, (i, x)| a | (*x as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The `X-Registry-Auth` value for pulling from `registry` (a host, `docker.io` for the Hub)
/// out of an `X-Registry-Config` header; None when it has nothing for that registry.
pub(crate) fn auth_for(config: Option<&str>, registry: &str) -> Option<String> {
    let raw = decode(config?)?;
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&raw).ok()?;
    let host = |k: &str| {
        let k = k.trim_start_matches("https://").trim_start_matches("http://");
        k.split('/').next().unwrap_or(k).to_string()
    };
    let wanted = if registry == "docker.io" { "index.docker.io".to_string() } else { registry.to_string() };
    let (_, v) = map.iter().find(|(k, _)| host(k) == wanted || (registry == "docker.io" && host(k) == "docker.io"))?;
    Some(encode(&serde_json::to_vec(v).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_pick_the_registry_of_the_pull() {
        // {"localhost:5000":{"username":"u","password":"p"},"https://index.docker.io/v1/":{"username":"h"}}
        let cfg = r#"{"localhost:5000":{"username":"u","password":"p"},"https://index.docker.io/v1/":{"username":"h"}}"#;
        let header = encode(cfg.as_bytes());
        let got = |reg: &str| auth_for(Some(&header), reg).map(|a| serde_json::from_slice::<serde_json::Value>(&decode(&a).unwrap()).unwrap());
        assert_eq!(got("localhost:5000"), Some(serde_json::json!({"username": "u", "password": "p"})));
        assert_eq!(got("docker.io"), Some(serde_json::json!({"username": "h"})));
        assert_eq!(got("quay.io"), None);
        assert_eq!(auth_for(Some("e30="), "docker.io"), None, "{{}}");
        assert_eq!(auth_for(Some("!!"), "docker.io"), None);
        assert_eq!(auth_for(None, "docker.io"), None);
        for s in ["", "a", "ab", "abc", "abcd", "hello world"] {
            assert_eq!(decode(&encode(s.as_bytes())).unwrap(), s.as_bytes(), "{s}");
        }
        assert_eq!(decode("aGk=").unwrap(), b"hi");
    }
}
