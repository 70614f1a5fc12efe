//! Writing `/proc/sys` keys.

use std::io::Write;
use std::path::PathBuf;

use crate::Error;

/// Write `value` to `/proc/sys/<key>`, the key dotted as sysctl(8) takes it (e.g.
/// `net.ipv4.conf.berth0.route_localnet`). As in sysctl(8), a `/` inside the dotted key
/// stands for a `.` in a component, so `net.ipv4.conf.eth0/100.forwarding` is the file
/// `net/ipv4/conf/eth0.100/forwarding`. The write is done for the caller's thread's view of
/// `/proc/sys`, i.e. the network namespace of the calling thread for `net.*` keys.
pub fn set_sysctl(key: &str, value: &str) -> Result<(), Error> {
    let path = sysctl_path(key)?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
        f.write_all(value.as_bytes())
    };
    write().map_err(|source| Error::Sysctl {
        key: key.to_string(),
        value: value.to_string(),
        source,
    })
}

/// `/proc/sys/...` for a dotted key: `.` separates components, `/` stands for a `.` inside
/// one. Empty, `.` and `..` components are refused.
pub(crate) fn sysctl_path(key: &str) -> Result<PathBuf, Error> {
    let bad = |reason| Err(Error::Invalid { what: "sysctl key", value: key.to_string(), reason });
    if key.is_empty() {
        return bad("empty");
    }
    let mut path = PathBuf::from("/proc/sys");
    for part in key.split('.') {
        let part = part.replace('/', ".");
        if part.is_empty() || part == "." || part == ".." {
            return bad("empty or relative component");
        }
        if part.contains('\0') {
            return bad("contains NUL");
        }
        path.push(part);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_to_path() {
        let cases: &[(&str, Option<&str>)] = &[
            ("net.ipv4.ip_forward", Some("/proc/sys/net/ipv4/ip_forward")),
            (
                "net.ipv4.conf.berth0.route_localnet",
                Some("/proc/sys/net/ipv4/conf/berth0/route_localnet"),
            ),
            (
                "net.ipv6.conf.eth0/100.disable_ipv6",
                Some("/proc/sys/net/ipv6/conf/eth0.100/disable_ipv6"),
            ),
            ("", None),
            ("net..ipv4", None),
            ("net.ipv4.", None),
            (".net", None),
            ("net./.x", None),
            ("net.//.x", None),
            ("net.a\0b", None),
        ];
        for (key, want) in cases {
            let got = sysctl_path(key).ok();
            assert_eq!(got.as_deref(), want.map(std::path::Path::new), "{key:?}");
        }
    }
}
