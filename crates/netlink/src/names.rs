//! Interface name rules, checked before the kernel sees a name.

use crate::Error;

/// Longest interface name the kernel accepts (IFNAMSIZ minus the terminating NUL).
pub(crate) const MAX_IFNAME: usize = 15;

/// Check `name` as the kernel's `dev_valid_name` would: 1 to 15 bytes, not `.` or `..`,
/// no `/`, `:`, whitespace or NUL.
pub(crate) fn check_ifname(name: &str) -> Result<(), Error> {
    let bad =
        |reason| Err(Error::Invalid { what: "interface name", value: name.to_string(), reason });
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_IFNAME {
        return bad("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("reserved");
    }
    if name.contains('/') {
        return bad("contains '/'");
    }
    if name.contains(':') {
        return bad("contains ':'");
    }
    if name.chars().any(|c| c.is_whitespace() || c == '\0') {
        return bad("contains whitespace or NUL");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_rules() {
        let cases: &[(&str, Option<&str>)] = &[
            ("eth0", None),
            ("berth0", None),
            ("b1a2b3c-0f1e2d", None),
            ("v1a2b3c4d5e6f7a", None), // 15 bytes
            ("eth0.100", None),
            ("", Some("empty")),
            ("v1a2b3c4d5e6f7a8", Some("longer than 15 bytes")),
            (".", Some("reserved")),
            ("..", Some("reserved")),
            ("a/b", Some("contains '/'")),
            ("eth0:1", Some("contains ':'")),
            ("a b", Some("contains whitespace or NUL")),
            ("a\tb", Some("contains whitespace or NUL")),
            ("a\0b", Some("contains whitespace or NUL")),
        ];
        for (name, want) in cases {
            let got = match check_ifname(name) {
                Ok(()) => None,
                Err(Error::Invalid { reason, .. }) => Some(reason),
                Err(e) => panic!("{name:?}: unexpected {e}"),
            };
            assert_eq!(got, *want, "{name:?}");
        }
    }
}
