//! Pure name handling: the key a question name is looked up by, and reverse (arpa) names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// The key `name` is looked up by: its labels lowercased, joined by '.', without the trailing
/// dot. None for the root and for labels that cannot be written plainly (a '.', a space or a
/// non-ASCII byte inside a label): such a name is never one of ours.
pub(crate) fn lookup_key(name: &Name) -> Option<String> {
    let mut key = String::with_capacity(name.len());
    for label in name.iter() {
        if label.is_empty() || !label.iter().all(|b| b.is_ascii_graphic() && *b != b'.') {
            return None;
        }
        if !key.is_empty() {
            key.push('.');
        }
        key.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
    }
    if key.is_empty() {
        None
    } else {
        Some(key)
    }
}

/// The address a reverse name stands for: `d.c.b.a.in-addr.arpa` (exactly four decimal octets)
/// or the 32 hex nibbles of `...ip6.arpa`, any case, with or without the trailing dot. None for
/// anything else (partial names, zone names, junk).
pub(crate) fn arpa_ip(name: &Name) -> Option<IpAddr> {
    let labels: Vec<&[u8]> = name.iter().collect();
    let n = labels.len();
    if n < 2 || !labels[n - 1].eq_ignore_ascii_case(b"arpa") {
        return None;
    }
    let zone = labels[n - 2];
    let digits = &labels[..n - 2];
    if zone.eq_ignore_ascii_case(b"in-addr") {
        if digits.len() != 4 {
            return None;
        }
        let mut octets = [0u8; 4];
        for (i, label) in digits.iter().enumerate() {
            octets[3 - i] = decimal_octet(label)?;
        }
        Some(IpAddr::V4(Ipv4Addr::from(octets)))
    } else if zone.eq_ignore_ascii_case(b"ip6") {
        if digits.len() != 32 {
            return None;
        }
        let mut value: u128 = 0;
        for label in digits.iter().rev() {
            let [c] = label else { return None };
            let nibble = char::from(*c).to_digit(16)?;
            value = (value << 4) | u128::from(nibble);
        }
        Some(IpAddr::V6(Ipv6Addr::from(value)))
    } else {
        None
    }
}

/// "0".."255", 1 to 3 ASCII digits.
fn decimal_octet(label: &[u8]) -> Option<u8> {
    if label.is_empty() || label.len() > 3 || !label.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = label.iter().fold(0u16, |v, d| v * 10 + u16::from(d - b'0'));
    u8::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Label;

    /// A name from its presentation form, built from raw labels as a decoder would (no checks
    /// beyond the wire format's): `\DDD` is a byte, `\c` the character c, '.' ends a label.
    fn name(s: &str) -> Name {
        let mut labels: Vec<Vec<u8>> = vec![Vec::new()];
        let mut bytes = s.bytes();
        while let Some(b) = bytes.next() {
            match b {
                b'.' => labels.push(Vec::new()),
                b'\\' => {
                    let c = bytes.next().expect("escape");
                    let byte = if c.is_ascii_digit() {
                        let rest = [bytes.next().expect("digit"), bytes.next().expect("digit")];
                        std::str::from_utf8(&[c, rest[0], rest[1]])
                            .expect("ascii")
                            .parse()
                            .expect("byte")
                    } else {
                        c
                    };
                    labels.last_mut().expect("a label").push(byte);
                }
                _ => labels.last_mut().expect("a label").push(b),
            }
        }
        let labels = labels.into_iter().filter(|l| !l.is_empty());
        let labels = labels.map(|l| Label::from_raw_bytes(&l).expect("label"));
        Name::from_labels(labels).expect("test names build")
    }

    #[test]
    fn lookup_keys() {
        let table: &[(&str, Option<&str>)] = &[
            ("web", Some("web")),
            ("web.", Some("web")),
            ("WeB.MyNet.", Some("web.mynet")),
            ("a-b_c.d", Some("a-b_c.d")),
            ("0123456789ab", Some("0123456789ab")),
            (".", None),
            ("we\\.b", None),
            ("we\\032b", None),
            ("we\\200b", None),
        ];
        for (input, want) in table {
            assert_eq!(lookup_key(&name(input)).as_deref(), *want, "{input}");
        }
    }

    #[test]
    fn arpa_names() {
        let v6 = "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa.";
        let table: &[(&str, Option<&str>)] = &[
            ("4.3.2.1.in-addr.arpa.", Some("1.2.3.4")),
            ("4.3.2.1.in-addr.arpa", Some("1.2.3.4")),
            ("2.0.18.172.IN-ADDR.ARPA.", Some("172.18.0.2")),
            ("255.0.00.010.in-addr.arpa.", Some("10.0.0.255")),
            (v6, Some("4321:0:1:2:3:4:567:89ab")),
            (&v6.to_uppercase(), Some("4321:0:1:2:3:4:567:89ab")),
            ("3.2.1.in-addr.arpa.", None),
            ("5.4.3.2.1.in-addr.arpa.", None),
            ("256.3.2.1.in-addr.arpa.", None),
            ("1000.3.2.1.in-addr.arpa.", None),
            ("+4.3.2.1.in-addr.arpa.", None),
            ("x.3.2.1.in-addr.arpa.", None),
            ("in-addr.arpa.", None),
            ("arpa.", None),
            ("4.3.2.1.example.com.", None),
            ("4.3.2.1.in-addr.arpa.com.", None),
            ("1.ip6.arpa.", None),
            (&v6.replacen("b.", "g.", 1), None),
            (&v6.replacen("b.", "bb.", 1), None),
        ];
        for (input, want) in table {
            let got = arpa_ip(&name(input));
            let want = want.map(|s| s.parse::<IpAddr>().expect("test addresses parse"));
            assert_eq!(got, want, "{input}");
        }
    }
}
