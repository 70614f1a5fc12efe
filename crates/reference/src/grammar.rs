//! The productions of the reference grammar, as hand-written matchers.
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | '[' IPv6 hex and colons ']'
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! remote-name      := path-component ['/' path-component]*
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := /[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}/
//! identifier       := /[a-f0-9]{64}/
//! ```

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `path-component`.
pub(crate) fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let run = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && is_lower_alnum(b[*i]) {
            *i += 1;
        }
        *i > start
    };
    if !run(&mut i) {
        return false;
    }
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !run(&mut i) {
            return false;
        }
    }
    true
}

/// `remote-name`.
pub fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    match b {
        [] => false,
        [c] => c.is_ascii_alphanumeric(),
        [first, mid @ .., last] => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && mid.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
    }
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `domain`: a host with an optional port.
pub(crate) fn is_domain_and_port(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let inner = &rest[..end];
        let after = &rest[end + 1..];
        let inner_ok =
            !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        return inner_ok && (after.is_empty() || after.strip_prefix(':').is_some_and(is_port));
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    host.split('.').all(is_domain_component) && port.is_none_or(is_port)
}

/// `tag`.
pub fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `digest` as the reference grammar has it (looser than [`crate::Digest::parse`]).
pub(crate) fn is_digest_syntax(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let mut comps = alg.split(['-', '_', '+', '.']);
    let comp_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
    };
    comps.all(comp_ok) && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `identifier`: 64 lowercase hex characters.
pub(crate) fn is_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The parts of a string that matches the whole `reference` production.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    pub domain: &'a str,
    pub path: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

/// Match `s` against `reference`; `None` when it does not match.
///
/// The split is forced by the grammar: only a digest may contain `@`; a `:` after the last
/// `/` of the name part starts the tag (a port is always followed by `/`); and the first
/// `/`-separated element is the domain whenever it can be one (the regexp's preference).
pub(crate) fn match_reference(s: &str) -> Option<Parts<'_>> {
    let (left, digest) = match s.split_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (s, None),
    };
    if digest.is_some_and(|d| !is_digest_syntax(d)) {
        return None;
    }
    let (name, tag) = match left.rfind(':') {
        Some(i) if !left[i + 1..].contains('/') => (&left[..i], Some(&left[i + 1..])),
        _ => (left, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) {
        return None;
    }
    if let Some((domain, path)) = name.split_once('/') {
        if is_domain_and_port(domain) && is_remote_name(path) {
            return Some(Parts {
                domain,
                path,
                tag,
                digest,
            });
        }
    }
    if is_remote_name(name) {
        return Some(Parts {
            domain: "",
            path: name,
            tag,
            digest,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        let cases = [
            ("a", true),
            ("abc123", true),
            ("a.b", true),
            ("a_b", true),
            ("a__b", true),
            ("a___b", false),
            ("a-b", true),
            ("a---b", true),
            ("a.-b", false),
            ("a..b", false),
            ("-a", false),
            ("a-", false),
            ("a.", false),
            ("A", false),
            ("", false),
            ("a b", false),
        ];
        for (s, want) in cases {
            assert_eq!(is_path_component(s), want, "{s:?}");
        }
    }

    #[test]
    fn domains() {
        let cases = [
            ("docker.io", true),
            ("localhost", true),
            ("localhost:5000", true),
            ("Registry.Example.COM:443", true),
            ("127.0.0.1:5000", true),
            ("[::1]", true),
            ("[::1]:5000", true),
            ("[fe80::1%eth0]", false),
            ("a-.com", false),
            ("-a.com", false),
            ("a..com", false),
            ("host:", false),
            ("host:port", false),
            ("", false),
        ];
        for (s, want) in cases {
            assert_eq!(is_domain_and_port(s), want, "{s:?}");
        }
    }

    #[test]
    fn tags_and_digests() {
        let t128 = "a".repeat(128);
        let t129 = "a".repeat(129);
        let tags = [
            ("latest", true),
            ("1.0-rc_1", true),
            ("_x", true),
            (".x", false),
            ("-x", false),
            ("", false),
        ];
        for (s, want) in tags {
            assert_eq!(is_tag(s), want, "{s:?}");
        }
        assert!(is_tag(&t128));
        assert!(!is_tag(&t129));
        let hex32 = "0123456789abcdef0123456789ABCDEF";
        assert!(is_digest_syntax(&format!("sha256:{hex32}")));
        assert!(is_digest_syntax(&format!("sha256+b64.x_y-z:{hex32}")));
        assert!(!is_digest_syntax(&format!("1sha:{hex32}")));
        assert!(!is_digest_syntax("sha256:abc"));
        assert!(!is_digest_syntax(&format!("sha256{hex32}")));
    }

    #[test]
    fn reference_split() {
        let p = match_reference("localhost:5000/a/b:tag").unwrap();
        assert_eq!(
            p,
            Parts {
                domain: "localhost:5000",
                path: "a/b",
                tag: Some("tag"),
                digest: None
            }
        );
        let p = match_reference("localhost:5000").unwrap();
        assert_eq!(
            p,
            Parts {
                domain: "",
                path: "localhost",
                tag: Some("5000"),
                digest: None
            }
        );
        let p = match_reference("abc/def").unwrap();
        assert_eq!(
            p,
            Parts {
                domain: "abc",
                path: "def",
                tag: None,
                digest: None
            }
        );
        assert!(match_reference("a:").is_none());
        assert!(match_reference("a@").is_none());
        assert!(match_reference("a@b@c").is_none());
    }
}
