//! Docker image references, digests and ids, parsed and normalised exactly as Docker's
//! `distribution/reference` and `go-digest` do. Pure: no IO.
//!
//! Words:
//! - a *reference* names an image in a repository: `busybox`, `busybox:1.36`,
//!   `localhost:5000/team/app@sha256:<64 hex>`. Its *normalised* form spells out the registry
//!   and, on Docker Hub, the `library/` namespace: `docker.io/library/busybox:1.36`
//!   ([`Reference::parse_normalized`]). Its *familiar* form is what Docker prints:
//!   `busybox:1.36` ([`Reference::familiar_string`]).
//! - a [`Digest`] is `algorithm:hex`, e.g. the sha256 of an image's config.
//! - an *id* is a content digest used as a handle (`sha256:<64 hex>`); users may abbreviate it
//!   to any unique prefix of its hex part ([`id`]).
//!
//! A string the user typed may be a reference or an id: [`parse_any`] decides as Docker does.
#![deny(missing_docs)]

mod digest;
mod grammar;
pub mod id;
mod pattern;
mod reference;

pub use digest::{Algorithm, Digest};
pub use grammar::{is_remote_name, is_tag};
pub use id::{is_full_id, is_id_prefix, looks_like_id_prefix, short_id};
pub use pattern::path_match;
pub use reference::{familiar_match, parse_any, repo_tag_reference, AnyReference, Reference};

use berth_errdefs::{HasKind, Kind};

/// The longest repository path (without the registry) Docker accepts.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// The registry of unqualified names.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag of a reference that names none.
pub const DEFAULT_TAG: &str = "latest";

/// Why a reference, digest or pattern is invalid. Messages are Docker's, word for word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The string does not follow the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// A tag does not match `[\w][\w.-]{0,127}`.
    #[error("invalid tag format")]
    InvalidTag,
    /// A digest does not follow the reference grammar's digest production.
    #[error("invalid digest format")]
    InvalidDigestFormat,
    /// The name is valid once lowercased.
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// The name has no path component.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The repository path is longer than [`NAME_TOTAL_LENGTH_MAX`].
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// A familiar name has uppercase letters in its repository part.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    RemoteNotLowercase(String),
    /// A name that is 64 hex characters would be mistaken for an id.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    /// The digest is not `algorithm:hex` or its hex is not lowercase hex.
    #[error("invalid checksum digest format")]
    ChecksumFormat,
    /// The digest's hex has the wrong length for its algorithm.
    #[error("invalid checksum digest length")]
    ChecksumLength,
    /// The digest's algorithm is not sha256, sha384 or sha512.
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    /// A repository given for tagging or importing carries a digest.
    #[error("cannot import digest reference")]
    DigestReference,
    /// A `reference` filter pattern is malformed.
    #[error("syntax error in pattern")]
    BadPattern,
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        Kind::InvalidArgument
    }
}
