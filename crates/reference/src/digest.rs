//! Content digests: `algorithm:hex`, validated as `go-digest` does.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

use crate::Error;

/// The digest algorithms Docker registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the canonical algorithm (64 hex characters).
    Sha256,
    /// SHA-384 (96 hex characters).
    Sha384,
    /// SHA-512 (128 hex characters).
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as written in a digest.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }
    /// The length of the hex encoding of a hash.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }
    fn from_name(s: &str) -> Option<Self> {
        match s {
            "sha256" => Some(Algorithm::Sha256),
            "sha384" => Some(Algorithm::Sha384),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// A validated digest, `sha256:<64 lowercase hex>` and the like.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parse and validate `algorithm:hex` (go-digest's `Parse`).
    pub fn parse(s: &str) -> Result<Digest, Error> {
        let i = match s.find(':') {
            Some(i) if i > 0 && i + 1 < s.len() => i,
            _ => return Err(Error::ChecksumFormat),
        };
        let (alg, hex) = (&s[..i], &s[i + 1..]);
        let Some(algorithm) = Algorithm::from_name(alg) else {
            return Err(if is_go_digest_syntax(s) {
                Error::UnsupportedAlgorithm
            } else {
                Error::ChecksumFormat
            });
        };
        if hex.len() != algorithm.hex_len() {
            return Err(Error::ChecksumLength);
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Error::ChecksumFormat);
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// The sha256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Digest {
        Self::from_sha256(sha2::Sha256::digest(data).into())
    }

    /// The digest of an already computed sha256 hash.
    pub fn from_sha256(hash: [u8; 32]) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(hash),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex-encoded hash (go-digest's `Encoded`).
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Digest::parse(s)
    }
}

/// go-digest's general digest syntax: `[a-z0-9]+([.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`.
fn is_go_digest_syntax(s: &str) -> bool {
    let Some((alg, enc)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['.', '+', '_', '-']).all(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    let enc_ok = !enc.is_empty()
        && enc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    alg_ok && enc_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    #[test]
    fn parse_table() {
        let long384 = "a".repeat(96);
        let long512 = "b".repeat(128);
        let cases: Vec<(String, Result<String, Error>)> = vec![
            (format!("sha256:{HEX}"), Ok(format!("sha256:{HEX}"))),
            (format!("sha384:{long384}"), Ok(format!("sha384:{long384}"))),
            (format!("sha512:{long512}"), Ok(format!("sha512:{long512}"))),
            (HEX.to_string(), Err(Error::ChecksumFormat)),
            (format!(":{HEX}"), Err(Error::ChecksumFormat)),
            ("sha256:".into(), Err(Error::ChecksumFormat)),
            ("sha256:abc".into(), Err(Error::ChecksumLength)),
            (
                format!("sha256:{}", HEX.to_uppercase()),
                Err(Error::ChecksumFormat),
            ),
            (
                format!("sha256:{}g", &HEX[..63]),
                Err(Error::ChecksumFormat),
            ),
            (format!("md5:{HEX}"), Err(Error::UnsupportedAlgorithm)),
            (format!("MD5:{HEX}"), Err(Error::ChecksumFormat)),
            ("foo:bar:baz".into(), Err(Error::ChecksumFormat)),
        ];
        for (input, want) in cases {
            let got = Digest::parse(&input).map(|d| d.to_string());
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn sha256_of_known_value() {
        let d = Digest::sha256_of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex().len(), 64);
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
    }
}
