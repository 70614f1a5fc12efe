//! Named references: parsing, normalisation, familiar forms.

use std::fmt;

use crate::digest::Digest;
use crate::grammar::{is_identifier, is_tag, match_reference};
use crate::pattern::path_match;
use crate::{Error, DEFAULT_DOMAIN, DEFAULT_TAG, NAME_TOTAL_LENGTH_MAX};

const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";

/// A named reference: a repository (registry domain and path) with an optional tag and an
/// optional digest.
///
/// Values built by [`Reference::parse_normalized`] always have a domain; [`fmt::Display`]
/// writes the normalised form (`docker.io/library/busybox:latest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse a reference as the user typed it and normalise it (`ParseNormalizedNamed`):
    /// `busybox` becomes `docker.io/library/busybox` (no tag is added; see
    /// [`Reference::with_default_tag`]).
    pub fn parse_normalized(s: &str) -> Result<Reference, Error> {
        if is_identifier(s) {
            return Err(Error::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => &remainder[..],
        };
        if remote.to_lowercase() != remote {
            return Err(Error::RemoteNotLowercase(remote.to_string()));
        }
        let r = Self::parse(&format!("{domain}/{remainder}"))?;
        if r.path.is_empty() {
            return Err(Error::NameEmpty);
        }
        Ok(r)
    }

    /// Parse and normalise as Docker does before looking a reference up (`ParseDockerRef`):
    /// a name alone gets the `latest` tag, and a reference with both a tag and a digest keeps
    /// only the digest.
    pub fn parse_docker(s: &str) -> Result<Reference, Error> {
        let r = Self::parse_normalized(s)?;
        if r.digest.is_some() {
            return Ok(Reference { tag: None, ..r });
        }
        Ok(r.with_default_tag())
    }

    /// Parse without normalising (`Parse`). The domain is empty when the first element of
    /// the name cannot be one.
    pub fn parse(s: &str) -> Result<Reference, Error> {
        if s.is_empty() {
            return Err(Error::NameEmpty);
        }
        let Some(parts) = match_reference(s) else {
            let lower = s.to_lowercase();
            if lower != s && match_reference(&lower).is_some() {
                return Err(Error::NameContainsUppercase);
            }
            return Err(Error::InvalidFormat);
        };
        if parts.path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(Error::NameTooLong);
        }
        let digest = parts.digest.map(Digest::parse).transpose()?;
        Ok(Reference {
            domain: parts.domain.to_string(),
            path: parts.path.to_string(),
            tag: parts.tag.map(str::to_string),
            digest,
        })
    }

    /// The registry domain, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name, `domain/path`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// True when the reference has neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Add the `latest` tag to a name alone (`TagNameOnly`); anything else is unchanged.
    pub fn with_default_tag(self) -> Reference {
        if self.is_name_only() {
            Reference {
                tag: Some(DEFAULT_TAG.to_string()),
                ..self
            }
        } else {
            self
        }
    }

    /// The same repository with `tag` (a digest, if any, is kept) (`WithTag`).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, Error> {
        if !is_tag(tag) {
            return Err(Error::InvalidTag);
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The same repository with `digest` (a tag, if any, is kept) (`WithDigest`).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The repository alone, without tag or digest (`TrimNamed`).
    pub fn trim(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// The repository as Docker prints it: without `docker.io/`, and without `library/` for
    /// official images (`FamiliarName`).
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// The whole reference as Docker prints it, e.g. `busybox:latest` (`FamiliarString`).
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        s
    }
}

fn push_suffix(s: &mut String, tag: Option<&str>, digest: Option<&Digest>) {
    if let Some(t) = tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = digest {
        s.push('@');
        s.push_str(&d.to_string());
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        f.write_str(&s)
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    /// Same as [`Reference::parse_normalized`].
    fn from_str(s: &str) -> Result<Self, Error> {
        Reference::parse_normalized(s)
    }
}

/// Split a familiar name into registry domain and remainder (`splitDockerDomain`).
fn split_docker_domain(name: &str) -> (String, String) {
    let Some((first, rest)) = name.split_once('/') else {
        return (
            DEFAULT_DOMAIN.to_string(),
            format!("{OFFICIAL_REPO_PREFIX}{name}"),
        );
    };
    let (domain, remote) = if first == "localhost" {
        (first, rest)
    } else if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first.contains(['.', ':']) || first.to_lowercase() != first {
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, name)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        return (
            domain.to_string(),
            format!("{OFFICIAL_REPO_PREFIX}{remote}"),
        );
    }
    (domain.to_string(), remote.to_string())
}

/// What a string the user typed names: an image id or a repository reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyReference {
    /// A full id: `<64 hex>` or a valid digest such as `sha256:<64 hex>`.
    Id(Digest),
    /// A normalised named reference.
    Named(Reference),
}

/// Decide what `s` names, as Docker's `ParseAnyReference`: 64 hex characters are a sha256 id,
/// a valid digest is an id, anything else must parse as a normalised reference.
pub fn parse_any(s: &str) -> Result<AnyReference, Error> {
    if is_identifier(s) {
        let d = Digest::parse(&format!("sha256:{s}"))?;
        return Ok(AnyReference::Id(d));
    }
    if let Ok(d) = Digest::parse(s) {
        return Ok(AnyReference::Id(d));
    }
    Reference::parse_normalized(s).map(AnyReference::Named)
}

/// The reference that `repo` and `tag` query parameters name, as for `docker tag` and
/// `docker import` (moby's `RepoTagReference`): `None` when `repo` is empty; the tag
/// parameter wins over a tag in `repo`; `latest` when neither has one; a digest is refused.
pub fn repo_tag_reference(repo: &str, tag: Option<&str>) -> Result<Option<Reference>, Error> {
    if repo.is_empty() {
        return Ok(None);
    }
    let r = Reference::parse_normalized(repo)?;
    if r.digest().is_some() {
        return Err(Error::DigestReference);
    }
    match tag.filter(|t| !t.is_empty()) {
        Some(t) => r.with_tag(t).map(Some),
        None => Ok(Some(r.with_default_tag())),
    }
}

/// Whether `pattern` (a shell pattern, see [`path_match`]) matches the familiar string of
/// `r` or, failing that, its familiar name (`FamiliarMatch`), as the `reference` filter does.
pub fn familiar_match(pattern: &str, r: &Reference) -> Result<bool, Error> {
    if path_match(pattern, &r.familiar_string())? {
        return Ok(true);
    }
    path_match(pattern, &r.familiar_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    type Expect = Result<(String, String), String>;

    /// input -> (normalised string, familiar string) or the error message.
    #[test]
    fn parse_normalized_table() {
        let long = format!("{}/{}", "a".repeat(200), "b".repeat(60));
        let cases: Vec<(String, Expect)> = vec![
            (
                "busybox".into(),
                Ok(("docker.io/library/busybox".into(), "busybox".into())),
            ),
            (
                "busybox:latest".into(),
                Ok((
                    "docker.io/library/busybox:latest".into(),
                    "busybox:latest".into(),
                )),
            ),
            (
                "library/busybox".into(),
                Ok(("docker.io/library/busybox".into(), "busybox".into())),
            ),
            (
                "docker.io/busybox".into(),
                Ok(("docker.io/library/busybox".into(), "busybox".into())),
            ),
            (
                "index.docker.io/busybox:1".into(),
                Ok(("docker.io/library/busybox:1".into(), "busybox:1".into())),
            ),
            (
                "docker.io/library/busybox:latest".into(),
                Ok((
                    "docker.io/library/busybox:latest".into(),
                    "busybox:latest".into(),
                )),
            ),
            (
                "user/app".into(),
                Ok(("docker.io/user/app".into(), "user/app".into())),
            ),
            (
                "library/a/b".into(),
                Ok(("docker.io/library/a/b".into(), "library/a/b".into())),
            ),
            (
                "localhost/app".into(),
                Ok(("localhost/app".into(), "localhost/app".into())),
            ),
            (
                "localhost:5000/ns/app:v2".into(),
                Ok((
                    "localhost:5000/ns/app:v2".into(),
                    "localhost:5000/ns/app:v2".into(),
                )),
            ),
            (
                "Registry.io/app".into(),
                Ok(("Registry.io/app".into(), "Registry.io/app".into())),
            ),
            ("Foo/app".into(), Ok(("Foo/app".into(), "Foo/app".into()))),
            (
                "[::1]:5000/app".into(),
                Ok(("[::1]:5000/app".into(), "[::1]:5000/app".into())),
            ),
            (
                format!("busybox@sha256:{HEX}"),
                Ok((
                    format!("docker.io/library/busybox@sha256:{HEX}"),
                    format!("busybox@sha256:{HEX}"),
                )),
            ),
            (
                format!("busybox:1.36@sha256:{HEX}"),
                Ok((
                    format!("docker.io/library/busybox:1.36@sha256:{HEX}"),
                    format!("busybox:1.36@sha256:{HEX}"),
                )),
            ),
            (
                "a__b-c.d:Tag_1.x".into(),
                Ok((
                    "docker.io/library/a__b-c.d:Tag_1.x".into(),
                    "a__b-c.d:Tag_1.x".into(),
                )),
            ),
            (
                "BusyBox".into(),
                Err(
                    "invalid reference format: repository name (library/BusyBox) must be lowercase"
                        .into(),
                ),
            ),
            (
                "user/App:1".into(),
                Err(
                    "invalid reference format: repository name (user/App) must be lowercase".into(),
                ),
            ),
            ("busybox:".into(), Err("invalid reference format".into())),
            ("busybox:-x".into(), Err("invalid reference format".into())),
            (
                format!("busybox:{}", "t".repeat(129)),
                Err("invalid reference format".into()),
            ),
            ("busy box".into(), Err("invalid reference format".into())),
            ("busybox/".into(), Err("invalid reference format".into())),
            ("-busybox".into(), Err("invalid reference format".into())),
            ("".into(), Err("invalid reference format".into())),
            (":tag".into(), Err("invalid reference format".into())),
            (
                "busybox@sha256:abc".into(),
                Err("invalid reference format".into()),
            ),
            (
                format!("busybox@sha256:{}", &HEX[..40]),
                Err("invalid checksum digest length".into()),
            ),
            (
                format!("busybox@md5:{HEX}"),
                Err("unsupported digest algorithm".into()),
            ),
            (
                format!("busybox@sha256:{}", HEX.to_uppercase()),
                Err("invalid checksum digest format".into()),
            ),
            (
                HEX.into(),
                Err(format!(
                    "invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings"
                )),
            ),
            (
                long.clone(),
                Err("repository name must not be more than 255 characters".into()),
            ),
        ];
        for (input, want) in cases {
            let got = Reference::parse_normalized(&input)
                .map(|r| (r.to_string(), r.familiar_string()))
                .map_err(|e| e.to_string());
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn parse_raw_uppercase_and_empty() {
        assert_eq!(
            Reference::parse("Foo/Bar"),
            Err(Error::NameContainsUppercase)
        );
        assert_eq!(Reference::parse(""), Err(Error::NameEmpty));
        let r = Reference::parse("busybox").unwrap();
        assert_eq!((r.domain(), r.path()), ("", "busybox"));
    }

    #[test]
    fn docker_ref_table() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest".to_string()),
            ("busybox:1", "docker.io/library/busybox:1".to_string()),
            (
                &*format!("busybox:1@sha256:{HEX}"),
                format!("docker.io/library/busybox@sha256:{HEX}"),
            ),
            (
                &*format!("busybox@sha256:{HEX}"),
                format!("docker.io/library/busybox@sha256:{HEX}"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                Reference::parse_docker(input).unwrap().to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn accessors_and_builders() {
        let r = Reference::parse_normalized("localhost:5000/ns/app:v1").unwrap();
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "ns/app");
        assert_eq!(r.name(), "localhost:5000/ns/app");
        assert_eq!(r.tag(), Some("v1"));
        assert!(r.digest().is_none());
        assert!(!r.is_name_only());
        assert!(r.trim().is_name_only());
        assert_eq!(
            r.with_tag("v2").unwrap().to_string(),
            "localhost:5000/ns/app:v2"
        );
        assert_eq!(r.with_tag("-bad"), Err(Error::InvalidTag));
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(
            r.trim().with_digest(d).familiar_string(),
            format!("localhost:5000/ns/app@sha256:{HEX}")
        );
        assert_eq!(
            "busybox"
                .parse::<Reference>()
                .unwrap()
                .with_default_tag()
                .familiar_string(),
            "busybox:latest"
        );
    }

    #[test]
    fn parse_any_table() {
        let cases: Vec<(String, Result<String, String>)> = vec![
            (HEX.into(), Ok(format!("id sha256:{HEX}"))),
            (format!("sha256:{HEX}"), Ok(format!("id sha256:{HEX}"))),
            (
                "busybox".into(),
                Ok("named docker.io/library/busybox".into()),
            ),
            ("abc123".into(), Ok("named docker.io/library/abc123".into())),
            (
                "sha256:abc".into(),
                Ok("named docker.io/library/sha256:abc".into()),
            ),
            (
                "UPPER".into(),
                Err(
                    "invalid reference format: repository name (library/UPPER) must be lowercase"
                        .into(),
                ),
            ),
        ];
        for (input, want) in cases {
            let got = parse_any(&input)
                .map(|a| match a {
                    AnyReference::Id(d) => format!("id {d}"),
                    AnyReference::Named(r) => format!("named {r}"),
                })
                .map_err(|e| e.to_string());
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn repo_tag_table() {
        type Case<'a> = (&'a str, Option<&'a str>, Result<Option<String>, Error>);
        let cases: Vec<Case> = vec![
            ("", Some("x"), Ok(None)),
            (
                "busybox",
                None,
                Ok(Some("docker.io/library/busybox:latest".into())),
            ),
            (
                "busybox",
                Some(""),
                Ok(Some("docker.io/library/busybox:latest".into())),
            ),
            (
                "busybox:1",
                None,
                Ok(Some("docker.io/library/busybox:1".into())),
            ),
            (
                "busybox:1",
                Some("2"),
                Ok(Some("docker.io/library/busybox:2".into())),
            ),
            ("busybox", Some("bad tag"), Err(Error::InvalidTag)),
            (
                "busybox@sha256:7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa",
                None,
                Err(Error::DigestReference),
            ),
        ];
        for (repo, tag, want) in cases {
            let got = repo_tag_reference(repo, tag).map(|o| o.map(|r| r.to_string()));
            assert_eq!(got, want, "{repo:?} {tag:?}");
        }
    }

    #[test]
    fn familiar_match_table() {
        let cases = [
            ("busybox", "busybox:latest", true),
            ("busybox:latest", "busybox:latest", true),
            ("busybox:*", "busybox:latest", true),
            ("busy*", "busybox:latest", true),
            ("*", "user/app:1", false),
            ("*/*", "user/app:1", true),
            ("user/*:1", "user/app:1", true),
            ("other", "busybox:latest", false),
            ("localhost:5000/*", "localhost:5000/app:v1", true),
        ];
        for (pattern, reference, want) in cases {
            let r = Reference::parse_normalized(reference).unwrap();
            assert_eq!(
                familiar_match(pattern, &r),
                Ok(want),
                "{pattern} ~ {reference}"
            );
        }
        let r = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(familiar_match("[", &r), Err(Error::BadPattern));
    }
}
