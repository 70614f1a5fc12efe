//! Detach keys (default ctrl-p,ctrl-q), detected in the input as docker's escape proxy does.

/// docker's default detach sequence.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Parse a detach-keys spec: comma-separated single characters or `ctrl-<c>` with `c` in
/// `@`, `a`..`z`, `[`, `\`, `]`, `^`, `_`.
pub fn parse_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut codes = Vec::new();
    for key in spec.split(',') {
        if key.len() == 1 {
            codes.push(key.as_bytes()[0]);
            continue;
        }
        let code = key.strip_prefix("ctrl-").and_then(|c| {
            let c = c.as_bytes();
            if c.len() != 1 {
                return None;
            }
            match c[0] {
                b'@' => Some(0),
                b'a'..=b'z' => Some(c[0] - b'a' + 1),
                b'[' => Some(27),
                b'\\' => Some(28),
                b']' => Some(29),
                b'^' => Some(30),
                b'_' => Some(31),
                _ => None,
            }
        });
        match code {
            Some(c) => codes.push(c),
            None => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(codes)
}

/// Outcome of filtering one chunk of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Forward these bytes to the container.
    Data(Vec<u8>),
    /// The whole sequence was typed: detach. Bytes before it are forwarded first.
    Detach(Vec<u8>),
}

/// Stateful matcher: bytes that could start the sequence are held until it either completes
/// (detach) or breaks (the held bytes are forwarded).
#[derive(Debug)]
pub struct EscapeFilter {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeFilter {
    /// A filter for `keys` (empty disables detaching).
    pub fn new(keys: Vec<u8>) -> EscapeFilter {
        EscapeFilter { keys, matched: 0 }
    }

    /// Filter one chunk of input.
    pub fn feed(&mut self, input: &[u8]) -> Filtered {
        if self.keys.is_empty() {
            return Filtered::Data(input.to_vec());
        }
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Filtered::Detach(out);
                }
                continue;
            }
            // Mismatch: release what was held, then retry this byte as a fresh start.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return Filtered::Detach(out);
                }
            } else {
                out.push(b);
            }
        }
        Filtered::Data(out)
    }

    /// Bytes held back at end of input (forwarded when input ends).
    pub fn held(&self) -> &[u8] {
        &self.keys[..self.matched]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_keys("a,ctrl-@,ctrl-[,ctrl-_").unwrap(), vec![b'a', 0, 27, 31]);
        assert_eq!(parse_keys("ctrl-x,x").unwrap(), vec![24, b'x']);
        assert_eq!(parse_keys("ctrl-1").unwrap_err(), "Unknown character: 'ctrl-1'");
        assert!(parse_keys("ab").is_err());
    }

    #[test]
    fn detects_sequence_across_reads() {
        let mut f = EscapeFilter::new(vec![16, 17]);
        assert_eq!(f.feed(b"ls\r"), Filtered::Data(b"ls\r".to_vec()));
        assert_eq!(f.feed(&[16]), Filtered::Data(vec![]));
        assert_eq!(f.held(), &[16]);
        assert_eq!(f.feed(&[17]), Filtered::Detach(vec![]));
    }

    #[test]
    fn broken_sequence_is_forwarded() {
        let mut f = EscapeFilter::new(vec![16, 17]);
        assert_eq!(f.feed(&[16, b'x']), Filtered::Data(vec![16, b'x']));
        assert_eq!(f.feed(&[16, 16, 17]), Filtered::Detach(vec![16]));
        assert_eq!(f.feed(b"a\x10\x11b"), Filtered::Detach(b"a".to_vec()));
    }

    #[test]
    fn empty_keys_never_detach() {
        let mut f = EscapeFilter::new(vec![]);
        assert_eq!(f.feed(&[16, 17]), Filtered::Data(vec![16, 17]));
    }
}
