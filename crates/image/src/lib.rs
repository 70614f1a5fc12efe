//! The local image and layer store.
//!
//! Words:
//! - a *layer* is one filesystem change set, unpacked once into
//!   `<root>/layers/<chain id hex>/diff` and shared by every image that has it. Its *diff id*
//!   is the sha256 of its uncompressed tar; its *chain id* (OCI) identifies it together with
//!   every layer below it: the diff id for the bottom layer, else
//!   `sha256(parent chain id + " " + diff id)`.
//! - an *image* is a configuration document ([`ImageConfig`]) naming its layers by diff id;
//!   its id is `sha256:` + the sha256 of the exact config bytes, which the store keeps.
//! - a *reference* (`docker.io/library/busybox:latest`) points at an image; an image without
//!   any is *dangling*.
//!
//! - a *blob* is content as a registry serves it, kept in the [`ContentStore`] under
//!   `<root>/blobs/sha256/<hex>`: every layer keeps its compressed blob (what a pull
//!   downloaded, or a gzip of the tar that import, commit and load unpacked), so push and
//!   save never re-tar; the store records which diff id each layer blob unpacks to.
//!
//! Records live in the metadata store (tables `images`, `image_refs`, `image_layers`,
//! `image_blobs`); every operation that changes several records does so in one transaction,
//! under one lock. Layer directories are unpacked into a temporary directory and renamed
//! into place, so a crash leaves either a whole layer or a temporary directory that
//! [`ImageStore::open`] removes (as it removes layer directories no record owns, and what
//! interrupted blob writes left in `<root>/ingest`). Layers are unpacked outside the lock,
//! several at a time if the caller wishes ([`ImageStore::apply_blob`]); only their records
//! are committed under it. Removals delete the blobs nothing references any more.
//!
//! Modules: [`content`] (the blob store), [`manifest`] (registry manifests and indexes),
//! [`archive`] (`docker save` / `docker load`).
//!
//! Containers are not known here: removal asks the caller, through a closure, which
//! container (if any) uses an image ([`ImageUser`]). An image removed with force while a
//! container still uses it is hidden but kept, with its layers, until [`ImageStore::gc`]
//! finds it unused.
#![deny(missing_docs)]

pub mod archive;
mod changes;
mod config;
pub mod content;
mod diff;
mod duration;
mod filters;
mod gzip;
pub mod manifest;
mod serde_digest;
mod store;
pub mod tarfmt;
mod unpack;

pub use changes::{apply_changes, ChangeError};
pub use config::{
    go_time, host_architecture, Empty, HealthConfig, History, ImageConfig, RootFs, RunConfig,
};
pub use content::{BlobWriter, ContentStore};
pub use filters::{
    match_labels, parse_timestamp, FilterError, FilterMap, ListFilters, PruneFilters,
};
pub use store::{
    chain_id_of, chain_ids, DeleteItem, DiskUsage, HistoryEntry, Image, ImageStore, ImageUser,
    ImportOptions, Layer, LayerBlob, PruneReport,
};
pub use unpack::{decompress, unpack, unpack_tee, Compression, UnpackError, UnpackOptions, Unpacked};

use berth_errdefs::{HasKind, Kind};

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No image has this name, id or id prefix. The payload is what Docker prints
    /// (`busybox:latest`, `sha256:<hex>`).
    #[error("No such image: {0}")]
    NotFound(String),
    /// A malformed reference or digest.
    #[error(transparent)]
    Reference(#[from] berth_reference::Error),
    /// A malformed `--change`.
    #[error(transparent)]
    Change(#[from] ChangeError),
    /// A malformed filter.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// The layer tarball could not be unpacked.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// A tag whose name is a digest algorithm (`sha256:...` as `repo:tag`).
    #[error("refusing to create an ambiguous tag using digest algorithm as name")]
    AmbiguousTag,
    /// A tag with a digest.
    #[error("refusing to create a tag with a digest reference")]
    DigestTag,
    /// Untagging the last reference of an image a container uses, without force.
    #[error(
        "conflict: unable to remove repository reference {reference:?} (must force) - container {container} is using its referenced image {image}"
    )]
    ReferenceInUse {
        /// The reference as given.
        reference: String,
        /// Short id of the container.
        container: String,
        /// Short id of the image.
        image: String,
    },
    /// The image cannot be deleted (used, or referenced by several repositories).
    #[error("conflict: unable to delete {image} ({}) - {reason}", if *.hard { "cannot be forced" } else { "must be forced" })]
    DeleteConflict {
        /// Short id of the image.
        image: String,
        /// True when even force does not help (a running container uses it).
        hard: bool,
        /// Docker's explanation.
        reason: String,
    },
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] berth_metadata::Error),
    /// A stored record is unreadable or inconsistent.
    #[error("corrupt image store: {0}")]
    Corrupt(String),
    /// Written content does not hash to the digest it was expected to have.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the content should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// Written content does not have the size it was expected to have.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest of what was written.
        digest: String,
        /// The expected size.
        expected: u64,
        /// The size written.
        actual: u64,
    },
    /// A digest algorithm the content store does not verify (only sha256 is).
    #[error("unsupported digest algorithm: {0}")]
    UnsupportedDigest(String),
    /// No blob with this digest is in the content store.
    #[error("blob {0} not found in the content store")]
    BlobNotFound(String),
    /// A digest reference was expected (`name@sha256:...`).
    #[error("reference {0} has no digest")]
    NotDigested(String),
    /// A layer (chain id) an operation needs is not in the store.
    #[error("layer {0} does not exist")]
    LayerNotFound(String),
    /// A layer's identifiers do not fit together (chain id, parent, diff id).
    #[error("invalid layer: {0}")]
    InvalidLayer(String),
    /// An image configuration that cannot be registered.
    #[error("invalid image config: {0}")]
    InvalidConfig(String),
    /// A manifest or index that cannot be parsed or is not supported.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// A `docker load` archive that cannot be loaded.
    #[error("{0}")]
    InvalidArchive(String),
    /// A filesystem operation on the store failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::NotFound(_) => Kind::NotFound,
            Error::Reference(e) => e.kind(),
            Error::Change(e) => e.kind(),
            Error::Filter(e) => e.kind(),
            Error::Unpack(e) => e.kind(),
            Error::AmbiguousTag
            | Error::DigestTag
            | Error::DigestMismatch { .. }
            | Error::SizeMismatch { .. }
            | Error::UnsupportedDigest(_)
            | Error::InvalidLayer(_)
            | Error::InvalidConfig(_)
            | Error::InvalidManifest(_)
            | Error::NotDigested(_)
            | Error::InvalidArchive(_) => Kind::InvalidArgument,
            Error::BlobNotFound(_) | Error::LayerNotFound(_) => Kind::NotFound,
            Error::ReferenceInUse { .. } | Error::DeleteConflict { .. } => Kind::Conflict,
            Error::Store(_) | Error::Corrupt(_) | Error::Io { .. } => Kind::Internal,
        }
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
