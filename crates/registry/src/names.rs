//! Repository names, tags and manifest references as the distribution spec defines them, and
//! the parsing of `/v2/...` paths into routes. Pure: no IO.

use std::fmt;

use berth_reference::Digest;

use crate::error::Error;

/// The longest repository name accepted (the spec: "less than 256 characters").
pub const NAME_MAX: usize = 255;

/// A validated repository name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/...)*`, at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    /// Validate `s` as a repository name.
    pub fn parse(s: &str) -> Result<RepoName, Error> {
        if is_valid_name(s) {
            Ok(RepoName(s.to_string()))
        } else {
            Err(Error::NameInvalid { name: s.to_string() })
        }
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` is a repository name per the spec (the reference grammar's remote name).
pub fn is_valid_name(s: &str) -> bool {
    s.len() <= NAME_MAX && berth_reference::is_remote_name(s)
}

/// Whether `s` is a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(s: &str) -> bool {
    berth_reference::is_tag(s)
}

/// The `<tag-or-digest>` of a manifest URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    /// A tag.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

impl ManifestRef {
    /// A digest if `s` has a colon, else a tag.
    pub fn parse(s: &str) -> Result<ManifestRef, Error> {
        if s.contains(':') {
            Ok(ManifestRef::Digest(parse_digest(s)?))
        } else if is_valid_tag(s) {
            Ok(ManifestRef::Tag(s.to_string()))
        } else {
            Err(Error::ManifestInvalid(format!("invalid tag {s:?}")))
        }
    }
}

impl fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestRef::Tag(t) => f.write_str(t),
            ManifestRef::Digest(d) => d.fmt(f),
        }
    }
}

/// Parse a digest, answering `DIGEST_INVALID`.
pub fn parse_digest(s: &str) -> Result<Digest, Error> {
    Digest::parse(s).map_err(|e| Error::DigestInvalid { detail: format!("{s:?}: {e}") })
}

/// What a `/v2/...` path addresses. Repository names hold slashes, so paths are matched from
/// their end: the last one or two segments say which endpoint, the rest is the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(String),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(String, String),
    /// `/v2/<name>/blobs/<digest>`
    Blob(String, String),
    /// `/v2/<name>/blobs/uploads/`
    UploadStart(String),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(String, String),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(String, String),
}

impl Route {
    /// The repository a route addresses, if any.
    pub fn repository(&self) -> Option<&str> {
        match self {
            Route::Base | Route::Catalog => None,
            Route::Tags(n)
            | Route::Manifest(n, _)
            | Route::Blob(n, _)
            | Route::UploadStart(n)
            | Route::Upload(n, _)
            | Route::Referrers(n, _) => Some(n),
        }
    }
}

/// Match a request path (without the query). `None` for paths outside the API.
pub fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| -> Option<String> {
        (n > k).then(|| segs[..n - k].join("/")).filter(|s| !s.is_empty())
    };
    let last = |i: usize| segs[n - i];
    if n >= 3 && last(3) == "blobs" && last(2) == "uploads" {
        let name = name(3)?;
        return Some(if last(1).is_empty() {
            Route::UploadStart(name)
        } else {
            Route::Upload(name, last(1).to_string())
        });
    }
    if n >= 2 {
        let (a, b) = (last(2), last(1));
        let r = match a {
            "tags" if b == "list" => Route::Tags(name(2)?),
            "manifests" if !b.is_empty() => Route::Manifest(name(2)?, b.to_string()),
            "blobs" if b == "uploads" => Route::UploadStart(name(2)?),
            "blobs" if !b.is_empty() => Route::Blob(name(2)?, b.to_string()),
            "referrers" if !b.is_empty() => Route::Referrers(name(2)?, b.to_string()),
            _ => return None,
        };
        return Some(r);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases = [
            ("a", true),
            ("library/ubuntu", true),
            ("a/b/c/d", true),
            ("a.b_c__d-e--f", true),
            ("a___b", false),
            ("a..b", false),
            ("A", false),
            ("a/", false),
            ("/a", false),
            ("a//b", false),
            ("-a", false),
            ("a-", false),
            ("_a", false),
            ("", false),
            ("a:b", false),
        ];
        for (s, ok) in cases {
            assert_eq!(is_valid_name(s), ok, "{s:?}");
        }
        assert!(is_valid_name(&"a".repeat(255)));
        assert!(!is_valid_name(&"a".repeat(256)));
    }

    #[test]
    fn tags() {
        let cases = [
            ("latest", true),
            ("v1.2.3-rc_1", true),
            ("_x", true),
            ("X", true),
            (".x", false),
            ("-x", false),
            ("", false),
            ("a/b", false),
            ("a:b", false),
        ];
        for (s, ok) in cases {
            assert_eq!(is_valid_tag(s), ok, "{s:?}");
        }
        assert!(is_valid_tag(&"a".repeat(128)));
        assert!(!is_valid_tag(&"a".repeat(129)));
    }

    #[test]
    fn routes() {
        let d = "sha256:abc";
        let s = |x: &str| x.to_string();
        let cases: Vec<(&str, Option<Route>)> = vec![
            ("/v2/", Some(Route::Base)),
            ("/v2", Some(Route::Base)),
            ("/v2/_catalog", Some(Route::Catalog)),
            ("/v2/a/b/tags/list", Some(Route::Tags(s("a/b")))),
            ("/v2/a/manifests/latest", Some(Route::Manifest(s("a"), s("latest")))),
            ("/v2/a/b/c/blobs/sha256:abc", Some(Route::Blob(s("a/b/c"), s(d)))),
            ("/v2/a/blobs/uploads/", Some(Route::UploadStart(s("a")))),
            ("/v2/a/blobs/uploads", Some(Route::UploadStart(s("a")))),
            ("/v2/a/blobs/uploads/123", Some(Route::Upload(s("a"), s("123")))),
            ("/v2/x/blobs/blobs/uploads/1", Some(Route::Upload(s("x/blobs"), s("1")))),
            ("/v2/foo/blobs/uploads/blobs/sha256:abc", Some(Route::Blob(s("foo/blobs/uploads"), s(d)))),
            ("/v2/a/referrers/sha256:abc", Some(Route::Referrers(s("a"), s(d)))),
            ("/v2/manifests/latest", None),
            ("/v2/a/manifests/", None),
            ("/v2/a/other/x", None),
            ("/token", None),
            ("/v2x/a/tags/list", None),
        ];
        for (p, want) in cases {
            assert_eq!(route(p), want, "{p}");
        }
    }

    #[test]
    fn manifest_refs() {
        assert_eq!(ManifestRef::parse("v1").unwrap(), ManifestRef::Tag("v1".into()));
        assert!(matches!(ManifestRef::parse("sha256:xyz"), Err(Error::DigestInvalid { .. })));
        assert!(matches!(ManifestRef::parse("-bad"), Err(Error::ManifestInvalid(_))));
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(ManifestRef::parse(&d), Ok(ManifestRef::Digest(_))));
    }
}
