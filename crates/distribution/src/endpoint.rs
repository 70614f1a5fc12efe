//! Where a reference's registry lives and how to speak to it: the host to dial, and whether
//! plain HTTP and unverified TLS are allowed (Docker's "insecure registries").
//!
//! Rules, as Docker applies them:
//! - `docker.io` (and `index.docker.io`) is served by `registry-1.docker.io`.
//! - A registry is *insecure* when its host is `localhost`, an address in `127.0.0.0/8` or
//!   `::1`, or when it is listed in [`crate::Options::insecure_registries`] by `host[:port]`
//!   or by a CIDR containing one of its addresses. Insecure registries are tried over HTTPS
//!   without certificate verification first, then over plain HTTP.
//! - Every other registry is HTTPS only, with the system's roots.

use std::net::IpAddr;

use ipnet::IpNet;

/// The host Docker Hub's registry API is served from.
pub(crate) const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";

/// The `host[:port]` to dial for a reference's domain.
pub(crate) fn registry_host(domain: &str) -> &str {
    match domain {
        "docker.io" | "index.docker.io" | "" => DOCKER_HUB_REGISTRY,
        d => d,
    }
}

/// The name a registry is known by in logins and `docker info` (`https://index.docker.io/v1/`
/// for Docker Hub, `host[:port]` otherwise), from what the user typed.
pub(crate) fn normalize_server(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    registry_host(host).to_string()
}

/// Split `host[:port]` (with `[v6]:port` brackets) into the host part.
pub(crate) fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

/// One entry of the insecure registry list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Insecure {
    /// `host[:port]`, compared with the registry's authority (and its host alone when the
    /// entry has no port).
    Host(String),
    /// A network; a registry is insecure when one of its addresses is inside.
    Net(IpNet),
}

impl Insecure {
    /// Read an entry: a CIDR when it parses as one, else a host name.
    pub fn parse(s: &str) -> Insecure {
        let s = s.trim();
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s)
            .trim_end_matches('/');
        match s.parse::<IpNet>() {
            Ok(n) => Insecure::Net(n),
            Err(_) => Insecure::Host(s.to_ascii_lowercase()),
        }
    }
}

/// Is the registry at `authority` (`host[:port]`), whose addresses are `addrs` (the host
/// itself when it is an address literal, else what it resolves to), insecure?
pub(crate) fn is_insecure(authority: &str, addrs: &[IpAddr], list: &[Insecure]) -> bool {
    let authority = authority.to_ascii_lowercase();
    let host = host_part(&authority);
    if host == "localhost" {
        return true;
    }
    let literal = host.parse::<IpAddr>().ok();
    let loopback = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6.is_loopback(),
    };
    if literal.iter().chain(addrs).any(loopback) {
        return true;
    }
    list.iter().any(|e| match e {
        Insecure::Host(h) => *h == authority || (!h.contains(':') && h == host),
        Insecure::Net(n) => literal.iter().chain(addrs).any(|ip| n.contains(ip)),
    })
}

/// The base URL of a registry for a scheme (`https://host:port`).
pub(crate) fn base_url(scheme: &str, authority: &str) -> String {
    format!("{scheme}://{authority}")
}

/// Resolve a (possibly relative) `Location` against the URL it came from.
pub(crate) fn resolve_location(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    // scheme://authority of the base
    let origin_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|i| base[i..].find('/').map(|j| i + j))
        .unwrap_or(base.len());
    let origin = &base[..origin_end];
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        return format!("{scheme}://{rest}");
    }
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    // relative to the base's directory
    let path = &base[origin_end..];
    let path = path.split('?').next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{origin}{dir}{location}")
}

/// Append query parameters to a URL that may already have a query (upload locations carry
/// state in theirs).
pub(crate) fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let mut out = url.to_string();
    for (k, v) in params {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(k);
        out.push('=');
        out.push_str(&crate::auth::query_escape(v));
    }
    out
}

/// The host (without userinfo or port) of an absolute URL.
pub(crate) fn url_authority(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_host_table() {
        let cases = [
            ("docker.io", "registry-1.docker.io"),
            ("index.docker.io", "registry-1.docker.io"),
            ("localhost:5000", "localhost:5000"),
            ("quay.io", "quay.io"),
            ("[::1]:5000", "[::1]:5000"),
        ];
        for (domain, want) in cases {
            assert_eq!(registry_host(domain), want, "{domain}");
        }
    }

    #[test]
    fn reference_to_url_table() {
        // (reference, host to dial, repository path)
        let cases = [
            ("busybox", "registry-1.docker.io", "library/busybox"),
            ("user/app:1", "registry-1.docker.io", "user/app"),
            ("localhost:5000/x", "localhost:5000", "x"),
            ("127.0.0.1:5000/a/b@sha256:7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa", "127.0.0.1:5000", "a/b"),
            ("ghcr.io/o/r", "ghcr.io", "o/r"),
        ];
        for (input, host, path) in cases {
            let r = berth_reference::Reference::parse_normalized(input).unwrap();
            assert_eq!(registry_host(r.domain()), host, "{input}");
            assert_eq!(r.path(), path, "{input}");
            assert_eq!(
                format!("{}/v2/{}/manifests/latest", base_url("https", registry_host(r.domain())), r.path()),
                format!("https://{host}/v2/{path}/manifests/latest")
            );
        }
    }

    #[test]
    fn normalize_server_table() {
        let cases = [
            ("https://index.docker.io/v1/", "registry-1.docker.io"),
            ("docker.io", "registry-1.docker.io"),
            ("", "registry-1.docker.io"),
            ("localhost:5000", "localhost:5000"),
            ("http://127.0.0.1:5000/", "127.0.0.1:5000"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_server(input), want, "{input}");
        }
    }

    #[test]
    fn plain_http_rules_table() {
        let list = vec![
            Insecure::parse("myreg.local:5000"),
            Insecure::parse("other.local"),
            Insecure::parse("10.1.0.0/16"),
            Insecure::parse("http://schemed.local:1/"),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases: Vec<(&str, Vec<IpAddr>, bool)> = vec![
            ("localhost:5000", vec![], true),
            ("LOCALHOST", vec![], true),
            ("127.0.0.1:5000", vec![], true),
            ("127.1.2.3", vec![], true),
            ("[::1]:5000", vec![], true),
            ("::1", vec![], true),
            ("myreg.local:5000", vec![], true),
            ("myreg.local:5001", vec![], false),
            ("myreg.local", vec![], false),
            ("other.local:443", vec![], true),
            ("10.1.2.3:5000", vec![], true),
            ("10.2.2.3:5000", vec![], false),
            ("named.local:5000", vec![ip("10.1.9.9")], true),
            ("named.local:5000", vec![ip("127.0.0.1")], true),
            ("named.local:5000", vec![ip("192.0.2.1"), ip("127.0.0.1")], true),
            ("named.local:5000", vec![ip("192.0.2.1")], false),
            ("schemed.local:1", vec![], true),
            ("registry-1.docker.io", vec![ip("192.0.2.1")], false),
            ("quay.io", vec![], false),
        ];
        for (authority, addrs, want) in cases {
            assert_eq!(is_insecure(authority, &addrs, &list), want, "{authority} {addrs:?}");
        }
    }

    #[test]
    fn location_table() {
        let base = "http://127.0.0.1:5000/v2/x/blobs/uploads/";
        let cases = [
            ("/v2/x/blobs/uploads/abc?_state=s", "http://127.0.0.1:5000/v2/x/blobs/uploads/abc?_state=s"),
            ("https://s3.example/bucket/k?sig=1", "https://s3.example/bucket/k?sig=1"),
            ("abc", "http://127.0.0.1:5000/v2/x/blobs/uploads/abc"),
            ("//cdn.example/b", "http://cdn.example/b"),
        ];
        for (loc, want) in cases {
            assert_eq!(resolve_location(base, loc), want, "{loc}");
        }
        assert_eq!(
            resolve_location("https://h", "/v2/"),
            "https://h/v2/"
        );
        assert_eq!(with_query("http://h/u?_state=a", &[("digest", "sha256:ab")]), "http://h/u?_state=a&digest=sha256%3Aab");
        assert_eq!(with_query("http://h/u", &[("mount", "d"), ("from", "a/b")]), "http://h/u?mount=d&from=a%2Fb");
        assert_eq!(url_authority("https://user@h:1/x?y"), "user@h:1");
        assert_eq!(url_authority("http://h"), "h");
        assert_eq!(host_part("h:5000"), "h");
        assert_eq!(host_part("[::1]:5000"), "::1");
        assert_eq!(host_part("::1"), "::1");
    }
}
