//! The distribution spec's error codes, and how each maps to an HTTP status.
//!
//! Every failure a client can see is an [`Error`]; the HTTP layer renders it once, in
//! `http::error_response`, as `{"errors":[{"code","message","detail"}]}`.

use berth_errdefs::{HasKind, Kind};
use serde_json::{json, Value};

use crate::storage::StorageError;

/// A failure reported to a registry client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The blob is not in the repository (404 `BLOB_UNKNOWN`).
    #[error("blob unknown to registry")]
    BlobUnknown {
        /// The digest asked for.
        digest: String,
    },
    /// The upload cannot go on, e.g. the client went away mid-chunk (400 `BLOB_UPLOAD_INVALID`).
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// No such upload session in this repository (404 `BLOB_UPLOAD_UNKNOWN`).
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    /// A digest is malformed or does not match the content (400 `DIGEST_INVALID`).
    #[error("provided digest did not match uploaded content")]
    DigestInvalid {
        /// What was wrong.
        detail: String,
    },
    /// A manifest references blobs or manifests the repository lacks (400
    /// `MANIFEST_BLOB_UNKNOWN`, one error per digest).
    #[error("manifest references a manifest or blob unknown to registry")]
    ManifestBlobUnknown {
        /// The missing digests.
        digests: Vec<String>,
    },
    /// A manifest does not parse as its media type, or names an unknown type (400
    /// `MANIFEST_INVALID`).
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// No manifest under that tag or digest (404 `MANIFEST_UNKNOWN`).
    #[error("manifest unknown to registry")]
    ManifestUnknown {
        /// The tag or digest asked for, or why the stored one cannot be served.
        detail: String,
    },
    /// The repository name breaks the spec's grammar (400 `NAME_INVALID`).
    #[error("invalid repository name")]
    NameInvalid {
        /// The name given.
        name: String,
    },
    /// The repository does not exist (404 `NAME_UNKNOWN`).
    #[error("repository name not known to registry")]
    NameUnknown {
        /// The name given.
        name: String,
    },
    /// A length does not match the content (400 `SIZE_INVALID`).
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    /// The manifest is larger than the configured limit (413 `SIZE_INVALID`).
    #[error("manifest is larger than {limit} bytes")]
    ManifestTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A chunk does not start where the upload ends (416, empty body, `Range` header).
    #[error("requested range not satisfiable")]
    RangeInvalid {
        /// The upload's current size.
        offset: u64,
    },
    /// A `Range` on a blob GET lies past its end (416 with `Content-Range: bytes */size`).
    #[error("requested range not satisfiable")]
    BlobRangeInvalid {
        /// The blob's size.
        size: u64,
    },
    /// A query parameter is malformed (400 `UNSUPPORTED`).
    #[error("invalid parameter: {0}")]
    ParamInvalid(String),
    /// Credentials are missing or wrong (401 `UNAUTHORIZED`).
    #[error("authentication required")]
    Unauthorized {
        /// The `WWW-Authenticate` challenge to send.
        challenge: String,
    },
    /// The credentials do not grant this (403 `DENIED`).
    #[error("requested access to the resource is denied")]
    Denied,
    /// The operation is switched off or not supported (405 `UNSUPPORTED`).
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    /// The remote of a pull-through cache failed and nothing was cached (502 `UNKNOWN`).
    #[error("upstream registry: {0}")]
    Upstream(String),
    /// A storage failure (500 `UNKNOWN`).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// One entry of the spec's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEntry {
    /// `BLOB_UNKNOWN` and the like.
    pub code: &'static str,
    /// A human-readable message.
    pub message: String,
    /// Unstructured detail.
    pub detail: Value,
}

impl Error {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::BlobUnknown { .. }
            | Error::BlobUploadUnknown
            | Error::ManifestUnknown { .. }
            | Error::NameUnknown { .. } => 404,
            Error::BlobUploadInvalid(_)
            | Error::DigestInvalid { .. }
            | Error::ManifestBlobUnknown { .. }
            | Error::ManifestInvalid(_)
            | Error::NameInvalid { .. }
            | Error::SizeInvalid(_)
            | Error::ParamInvalid(_) => 400,
            Error::ManifestTooLarge { .. } => 413,
            Error::RangeInvalid { .. } | Error::BlobRangeInvalid { .. } => 416,
            Error::Unauthorized { .. } => 401,
            Error::Denied => 403,
            Error::Unsupported(_) => 405,
            Error::Upstream(_) => 502,
            Error::Storage(StorageError::NotFound(_)) => 404,
            Error::Storage(_) => 500,
        }
    }

    /// The spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BlobUnknown { .. } => "BLOB_UNKNOWN",
            Error::BlobUploadInvalid(_) | Error::RangeInvalid { .. } => "BLOB_UPLOAD_INVALID",
            Error::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Error::DigestInvalid { .. } => "DIGEST_INVALID",
            Error::ManifestBlobUnknown { .. } => "MANIFEST_BLOB_UNKNOWN",
            Error::ManifestInvalid(_) => "MANIFEST_INVALID",
            Error::ManifestUnknown { .. } => "MANIFEST_UNKNOWN",
            Error::NameInvalid { .. } => "NAME_INVALID",
            Error::NameUnknown { .. } => "NAME_UNKNOWN",
            Error::SizeInvalid(_) | Error::ManifestTooLarge { .. } => "SIZE_INVALID",
            Error::BlobRangeInvalid { .. } | Error::ParamInvalid(_) | Error::Unsupported(_) => {
                "UNSUPPORTED"
            }
            Error::Unauthorized { .. } => "UNAUTHORIZED",
            Error::Denied => "DENIED",
            Error::Storage(_) | Error::Upstream(_) => "UNKNOWN",
        }
    }

    /// The entries of the `errors` array (several for `MANIFEST_BLOB_UNKNOWN`).
    pub fn entries(&self) -> Vec<ErrorEntry> {
        let one = |detail: Value| {
            vec![ErrorEntry {
                code: self.code(),
                message: self.to_string(),
                detail,
            }]
        };
        match self {
            Error::BlobUnknown { digest } => one(json!({ "digest": digest })),
            Error::ManifestBlobUnknown { digests } => digests
                .iter()
                .map(|d| ErrorEntry {
                    code: self.code(),
                    message: "manifest references a manifest or blob unknown to registry".into(),
                    detail: json!({ "digest": d }),
                })
                .collect(),
            Error::DigestInvalid { detail } => one(json!(detail)),
            Error::ManifestUnknown { detail } => one(json!(detail)),
            Error::NameInvalid { name } | Error::NameUnknown { name } => {
                one(json!({ "name": name }))
            }
            _ => one(Value::Null),
        }
    }
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self.status() {
            404 => Kind::NotFound,
            400 | 413 | 416 => Kind::InvalidArgument,
            401 | 403 => Kind::PermissionDenied,
            405 => Kind::NotImplemented,
            502 => Kind::Unavailable,
            _ => Kind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (Error::BlobUnknown { digest: "d".into() }, 404, "BLOB_UNKNOWN"),
            (Error::BlobUploadUnknown, 404, "BLOB_UPLOAD_UNKNOWN"),
            (Error::DigestInvalid { detail: "x".into() }, 400, "DIGEST_INVALID"),
            (Error::ManifestBlobUnknown { digests: vec![] }, 400, "MANIFEST_BLOB_UNKNOWN"),
            (Error::ManifestInvalid("x".into()), 400, "MANIFEST_INVALID"),
            (Error::ManifestUnknown { detail: "t".into() }, 404, "MANIFEST_UNKNOWN"),
            (Error::NameInvalid { name: "A".into() }, 400, "NAME_INVALID"),
            (Error::NameUnknown { name: "a".into() }, 404, "NAME_UNKNOWN"),
            (Error::SizeInvalid("x".into()), 400, "SIZE_INVALID"),
            (Error::ManifestTooLarge { limit: 1 }, 413, "SIZE_INVALID"),
            (Error::RangeInvalid { offset: 3 }, 416, "BLOB_UPLOAD_INVALID"),
            (Error::Unauthorized { challenge: String::new() }, 401, "UNAUTHORIZED"),
            (Error::Denied, 403, "DENIED"),
            (Error::Unsupported("x".into()), 405, "UNSUPPORTED"),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status(), e.code()), (status, code), "{e:?}");
        }
    }

    #[test]
    fn manifest_blob_unknown_has_one_entry_per_digest() {
        let e = Error::ManifestBlobUnknown { digests: vec!["a".into(), "b".into()] };
        let entries = e.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].detail, json!({"digest": "b"}));
    }
}
