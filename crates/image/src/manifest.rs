//! Registry manifests: Docker v2 schema 2 manifests and manifest lists, OCI image manifests
//! and indexes, their descriptors, and [`parse_manifest`], which tells them apart.
//!
//! Docker's and OCI's documents have the same shape (`config` + `layers`, or `manifests`),
//! so one type serves each pair; `media_type` says which one it is. Serialization is compact
//! JSON with the fields in the specs' order (`schemaVersion`, `mediaType`, `config`,
//! `layers`; descriptors `mediaType`, `digest`, `size`). A manifest's digest is that of the
//! exact bytes pushed, so whoever pushes keeps the bytes it serialized.

use std::collections::BTreeMap;

use berth_reference::Digest;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Media types of manifests, configs and layers.
pub mod media_types {
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list (multi-platform).
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker schema 1 manifest (unsupported, as in Docker 28).
    pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    /// Signed Docker schema 1 manifest (unsupported).
    pub const DOCKER_MANIFEST_V1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker uncompressed layer.
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    /// Docker foreign (non-distributable) gzip layer.
    pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI uncompressed layer.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI gzip layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI zstd layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// OCI non-distributable layer (deprecated).
    pub const OCI_LAYER_NONDISTRIBUTABLE: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar";
    /// OCI non-distributable gzip layer (deprecated).
    pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    /// OCI non-distributable zstd layer (deprecated).
    pub const OCI_LAYER_NONDISTRIBUTABLE_ZSTD: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    /// OCI empty descriptor (`{}`).
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// OCI image layout marker file's version.
    pub const OCI_LAYOUT_VERSION: &str = "1.0.0";

    /// The `Accept` header of a manifest request, as Docker sends it (indexes first).
    pub const ACCEPT: &[&str] = &[
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        DOCKER_MANIFEST,
    ];

    /// Is this a layer media type we can unpack?
    pub fn is_layer(mt: &str) -> bool {
        matches!(
            mt,
            DOCKER_LAYER_GZIP
                | DOCKER_LAYER
                | DOCKER_FOREIGN_LAYER_GZIP
                | OCI_LAYER
                | OCI_LAYER_GZIP
                | OCI_LAYER_ZSTD
                | OCI_LAYER_NONDISTRIBUTABLE
                | OCI_LAYER_NONDISTRIBUTABLE_GZIP
                | OCI_LAYER_NONDISTRIBUTABLE_ZSTD
        )
    }

    /// Is this a foreign / non-distributable layer (not pushed to registries)?
    pub fn is_foreign_layer(mt: &str) -> bool {
        matches!(
            mt,
            DOCKER_FOREIGN_LAYER_GZIP
                | OCI_LAYER_NONDISTRIBUTABLE
                | OCI_LAYER_NONDISTRIBUTABLE_GZIP
                | OCI_LAYER_NONDISTRIBUTABLE_ZSTD
        )
    }

    /// Is this an image config media type?
    pub fn is_config(mt: &str) -> bool {
        matches!(mt, DOCKER_CONFIG | OCI_CONFIG)
    }
}

use media_types::*;

/// The platform of a manifest in an index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, Go's names (`amd64`, `arm64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// Operating system version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required OS features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Required CPU features (reserved).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl Platform {
    /// Parse `os[/arch[/variant]]` (`linux/arm64/v8`, `linux/amd64`), normalising the
    /// architecture as containerd does (`x86_64` -> `amd64`, `aarch64` -> `arm64`, ...).
    pub fn parse(s: &str) -> Result<Platform, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || Error::InvalidManifest(format!("invalid platform {s:?}"));
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let os = parts[0].to_ascii_lowercase();
        let arch = parts.get(1).map(|a| a.to_ascii_lowercase());
        let variant = parts.get(2).map(|v| v.to_ascii_lowercase());
        let (architecture, variant) = match arch {
            Some(a) => normalize_arch(&a, variant.as_deref()),
            None => normalize_arch(crate::config::host_architecture(), None),
        };
        Ok(Platform {
            architecture,
            os,
            variant,
            ..Platform::default()
        })
    }

    /// The platform of this host (`linux/<arch>`).
    pub fn host() -> Platform {
        let (architecture, variant) = normalize_arch(crate::config::host_architecture(), None);
        Platform {
            architecture,
            os: "linux".into(),
            variant,
            ..Platform::default()
        }
    }

    /// Does a manifest for `other` run here when `self` is wanted? OS and architecture must
    /// be equal (after normalisation); a variant is compared when both name one, with
    /// arm64 `v8` the default.
    pub fn matches(&self, other: &Platform) -> bool {
        let (a1, v1) = normalize_arch(&self.architecture, self.variant.as_deref());
        let (a2, v2) = normalize_arch(&other.architecture, other.variant.as_deref());
        if !self.os.eq_ignore_ascii_case(&other.os) || a1 != a2 {
            return false;
        }
        match (v1, v2) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
    }

    /// `os/arch[/variant]`.
    pub fn to_short_string(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// containerd's architecture normalisation.
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.map(str::to_ascii_lowercase);
    match arch.as_str() {
        "i386" => ("386".into(), None),
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant.filter(|v| v != "v1")),
        "aarch64" | "arm64" => (
            "arm64".into(),
            match variant.as_deref() {
                Some("8") | Some("v8") | None => None,
                _ => variant,
            },
        ),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => (
            "arm".into(),
            Some(match variant.as_deref() {
                None | Some("7") => "v7".into(),
                Some("5") | Some("6") | Some("8") => format!("v{}", variant.unwrap_or_default()),
                Some(v) => v.to_string(),
            }),
        ),
        _ => (arch, variant),
    }
}

/// A reference to content: what it is, its digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// The digest of the referenced content.
    #[serde(with = "crate::serde_digest")]
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Where else it can be downloaded from (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform of a manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type of an artifact manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A plain descriptor.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }
}

/// An image manifest: Docker v2 schema 2 or OCI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`DOCKER_MANIFEST`] or [`OCI_MANIFEST`] (optional in OCI documents; filled in by
    /// [`parse_manifest`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// The artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, bottom first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// A Docker v2 schema 2 manifest for a config and layer blobs.
    pub fn docker(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: DOCKER_MANIFEST.into(),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// An OCI image manifest for a config and layer blobs.
    pub fn oci(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            media_type: OCI_MANIFEST.into(),
            ..ImageManifest::docker(config, layers)
        }
    }

    /// The JSON bytes (compact).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A list of manifests, one per platform: Docker manifest list or OCI index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// [`DOCKER_MANIFEST_LIST`] or [`OCI_INDEX`] (filled in by [`parse_manifest`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// The artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests.
    #[serde(default, deserialize_with = "nullable_vec")]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageIndex {
    /// An OCI index of these manifests.
    pub fn oci(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: OCI_INDEX.into(),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The first image manifest for `want` (Docker picks the first match in list order).
    /// Entries without a platform and non-manifest entries (attestations are manifests with
    /// platform `unknown/unknown`) never match.
    pub fn select(&self, want: &Platform) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            matches!(d.media_type.as_str(), DOCKER_MANIFEST | OCI_MANIFEST | "")
                && d.platform.as_ref().is_some_and(|p| want.matches(p))
        })
    }
}

fn nullable_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A parsed manifest document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // parsed once per pull, never stored in bulk
pub enum AnyManifest {
    /// An image manifest (Docker or OCI).
    Manifest(ImageManifest),
    /// A manifest list or index.
    Index(ImageIndex),
}

impl AnyManifest {
    /// The media type (as declared, or as detected).
    pub fn media_type(&self) -> &str {
        match self {
            AnyManifest::Manifest(m) => &m.media_type,
            AnyManifest::Index(i) => &i.media_type,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Manifest,
    Index,
}

fn shape_of(mt: &str) -> Result<Option<Shape>, Error> {
    match mt {
        DOCKER_MANIFEST | OCI_MANIFEST => Ok(Some(Shape::Manifest)),
        DOCKER_MANIFEST_LIST | OCI_INDEX => Ok(Some(Shape::Index)),
        DOCKER_MANIFEST_V1 | DOCKER_MANIFEST_V1_SIGNED => Err(schema1()),
        _ => Ok(None),
    }
}

fn schema1() -> Error {
    Error::InvalidManifest(
        "Docker Image manifest schema 1 is not supported; the image must be rebuilt or pushed with schema 2 or OCI".into(),
    )
}

/// Parse a manifest or index fetched with `content_type` (the `Content-Type` header, if
/// any). The type comes from the header when it names one; when the header is missing or
/// generic (`application/json`, `text/plain`, `application/octet-stream`) from the
/// document's `mediaType`, else from its shape (`manifests` -> OCI index, `config` +
/// `layers` -> OCI manifest). A `mediaType` contradicting the header, schema 1, a
/// `schemaVersion` other than 2, invalid digests and malformed JSON are
/// [`Error::InvalidManifest`]. The returned document's `media_type` is always filled in.
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<AnyManifest, Error> {
    let header = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| {
            !matches!(
                c.as_str(),
                "" | "application/json"
                    | "text/plain"
                    | "application/octet-stream"
                    | "binary/octet-stream"
            )
        });
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::InvalidManifest(format!("malformed JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| Error::InvalidManifest("not a JSON object".into()))?;
    let declared = match obj.get("mediaType") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(Error::InvalidManifest("mediaType is not a string".into())),
    };
    match obj.get("schemaVersion") {
        Some(v) if v.as_u64() == Some(2) => {}
        Some(v) if v.as_u64() == Some(1) => return Err(schema1()),
        Some(v) => {
            return Err(Error::InvalidManifest(format!(
                "unsupported schemaVersion {v}"
            )))
        }
        None => return Err(Error::InvalidManifest("missing schemaVersion".into())),
    }

    let header_shape = match &header {
        Some(h) => shape_of(h)?,
        None => None,
    };
    let declared_shape = match &declared {
        Some(d) => match shape_of(d)? {
            Some(s) => Some(s),
            None => {
                return Err(Error::InvalidManifest(format!(
                    "unsupported manifest media type {d:?}"
                )))
            }
        },
        None => None,
    };
    let (shape, media_type) = match (header_shape, declared_shape) {
        (Some(h), Some(_)) => {
            let (hm, dm) = (
                header.clone().unwrap_or_default(),
                declared.clone().unwrap_or_default(),
            );
            if hm != dm {
                return Err(Error::InvalidManifest(format!(
                    "mediaType {dm:?} in the manifest does not match the content type {hm:?}"
                )));
            }
            (h, hm)
        }
        (Some(h), None) => (h, header.clone().unwrap_or_default()),
        (None, Some(d)) => (d, declared.clone().unwrap_or_default()),
        (None, None) => {
            if let Some(h) = &header {
                // A specific but unknown content type, and nothing in the document.
                if !obj.contains_key("manifests") && !obj.contains_key("config") {
                    return Err(Error::InvalidManifest(format!(
                        "unsupported manifest media type {h:?}"
                    )));
                }
            }
            if obj.contains_key("manifests") {
                (Shape::Index, OCI_INDEX.to_string())
            } else if obj.contains_key("config") {
                (Shape::Manifest, OCI_MANIFEST.to_string())
            } else if obj.contains_key("fsLayers") {
                return Err(schema1());
            } else {
                return Err(Error::InvalidManifest(
                    "cannot tell the manifest type: no mediaType, manifests or config".into(),
                ));
            }
        }
    };
    match shape {
        Shape::Manifest => {
            if obj.contains_key("manifests") {
                return Err(Error::InvalidManifest(format!(
                    "a {media_type} has no manifests field"
                )));
            }
            let mut m: ImageManifest =
                serde_json::from_value(value).map_err(|e| Error::InvalidManifest(e.to_string()))?;
            m.media_type = media_type;
            Ok(AnyManifest::Manifest(m))
        }
        Shape::Index => {
            if obj.contains_key("config") || obj.contains_key("layers") {
                return Err(Error::InvalidManifest(format!(
                    "a {media_type} has no config or layers fields"
                )));
            }
            let mut i: ImageIndex =
                serde_json::from_value(value).map_err(|e| Error::InvalidManifest(e.to_string()))?;
            i.media_type = media_type;
            Ok(AnyManifest::Index(i))
        }
    }
}
