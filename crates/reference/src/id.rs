//! Ids: full content digests used as handles, their short form and their prefixes.
//!
//! An image id is `sha256:<64 hex>`; a container id is 64 hex characters. Users may type
//! either in full, with or without `sha256:`, or any prefix of the hex part.

/// True when `s` is 64 lowercase hex characters (an id without algorithm).
pub fn is_full_id(s: &str) -> bool {
    crate::grammar::is_identifier(s)
}

/// The 12-character short form of an id, without any `algorithm:` prefix (Docker's
/// `TruncateID`): `sha256:7cc4b5aefd1d...` becomes `7cc4b5aefd1d`.
pub fn short_id(id: &str) -> &str {
    let hex = match id.find(':') {
        Some(i) => &id[i + 1..],
        None => id,
    };
    match hex.char_indices().nth(12) {
        Some((i, _)) => &hex[..i],
        None => hex,
    }
}

/// Whether `candidate` designates `id` as a prefix, with or without its `sha256:` prefix
/// (moby's `isImageIDPrefix`). The empty string is a prefix of everything.
pub fn is_id_prefix(id: &str, candidate: &str) -> bool {
    if id.starts_with(candidate) {
        return true;
    }
    match id.find(':') {
        Some(i) => id[i + 1..].starts_with(candidate),
        None => false,
    }
}

/// Whether `s` could be an id or an id prefix: `sha256:` optionally, then 1 to 64 lowercase
/// hex characters.
pub fn looks_like_id_prefix(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    !hex.is_empty()
        && hex.len() <= 64
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha256:7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    #[test]
    fn short_ids() {
        let cases = [
            (ID, "7cc4b5aefd1d"),
            (&ID[7..], "7cc4b5aefd1d"),
            ("abc", "abc"),
            ("sha256:abc", "abc"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(short_id(input), want, "{input:?}");
        }
    }

    #[test]
    fn prefixes() {
        let cases = [
            ("7cc4", true),
            ("sha256:7cc4", true),
            ("sha256:", true),
            ("sha", true),
            (&ID[7..], true),
            (ID, true),
            ("7cc5", false),
            ("sha256:7cc5", false),
        ];
        for (c, want) in cases {
            assert_eq!(is_id_prefix(ID, c), want, "{c:?}");
        }
    }

    #[test]
    fn looks_like_ids() {
        let cases = [
            ("7", true),
            ("7cc4b5aefd1d", true),
            ("sha256:7cc4", true),
            (&ID[7..], true),
            (ID, true),
            ("sha256:", false),
            ("", false),
            ("busybox", false),
            ("7CC4", false),
        ];
        for (c, want) in cases {
            assert_eq!(looks_like_id_prefix(c), want, "{c:?}");
        }
        assert!(is_full_id(&ID[7..]));
        assert!(!is_full_id(ID));
        assert!(!is_full_id(&ID[8..]));
    }
}
