//! Manifest media types and validation. Pure: parses bytes, does no IO.
//!
//! Four types are accepted: Docker image manifest v2 schema 2, Docker manifest list, OCI image
//! manifest and OCI image index. A manifest's *type* is its `Content-Type` at push time unless
//! that is missing or generic (`application/json`, `application/octet-stream`), in which case the
//! document's own `mediaType` decides, and failing that its shape (`manifests` => OCI index,
//! `config` => OCI manifest). When both name a type they must agree.

use std::collections::BTreeMap;

use berth_reference::Digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// Docker image manifest v2, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

const SCHEMA1: [&str; 3] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.container.image.rootfs.diff+x-gtar",
];

/// Whether `t` is one of the four accepted manifest types.
pub fn is_manifest_type(t: &str) -> bool {
    matches!(t, DOCKER_MANIFEST | DOCKER_MANIFEST_LIST | OCI_MANIFEST | OCI_INDEX)
}

/// Whether `t` is an index type (its references are manifests, not blobs).
pub fn is_index_type(t: &str) -> bool {
    matches!(t, DOCKER_MANIFEST_LIST | OCI_INDEX)
}

/// An OCI content descriptor as it appears in manifests and in the referrers index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The referenced content's media type.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: i64,
    /// Where else the content may be fetched (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// The artifact type (referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Platform, for index entries (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    schema_version: Option<i64>,
    media_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A validated manifest: its type and everything it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The manifest's media type (stored and served as its `Content-Type`).
    pub media_type: String,
    /// Blobs that must exist in the repository: the config and the layers (but not foreign
    /// layers that carry `urls`), with their declared sizes.
    pub blobs: Vec<(Digest, i64)>,
    /// Manifests that must exist in the repository (an index's entries).
    pub manifests: Vec<Digest>,
    /// The manifest this one refers to (`subject`), for the referrers API.
    pub subject: Option<Digest>,
    /// The artifact type shown in the referrers API: `artifactType`, else (for image manifests)
    /// the config's media type.
    pub artifact_type: Option<String>,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Strip parameters and case from a `Content-Type`.
pub fn bare_media_type(ct: &str) -> String {
    ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::ManifestInvalid(msg.into())
}

fn descriptor_digest(d: &Descriptor, field: &str) -> Result<Digest, Error> {
    if d.size < 0 {
        return Err(invalid(format!("{field}: negative size")));
    }
    Digest::parse(&d.digest).map_err(|e| invalid(format!("{field}: digest {:?}: {e}", d.digest)))
}

/// Parse and validate `body` pushed with `content_type` (see the module docs).
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Parsed, Error> {
    let ct = content_type.map(bare_media_type).unwrap_or_default();
    if SCHEMA1.contains(&ct.as_str()) {
        return Err(invalid("schema 1 manifests are not supported"));
    }
    let doc: Doc = serde_json::from_slice(body).map_err(|e| invalid(format!("not a manifest: {e}")))?;
    let declared = doc.media_type.clone().filter(|m| !m.is_empty());
    let media_type = if is_manifest_type(&ct) {
        if let Some(d) = &declared {
            if *d != ct {
                return Err(invalid(format!("mediaType {d:?} does not match Content-Type {ct:?}")));
            }
        }
        ct
    } else if ct.is_empty() || ct == "application/json" || ct == "application/octet-stream" {
        match declared.as_deref() {
            Some(d) if is_manifest_type(d) => d.to_string(),
            Some(d) => return Err(invalid(format!("unsupported manifest media type {d:?}"))),
            None if doc.manifests.is_some() => OCI_INDEX.to_string(),
            None if doc.config.is_some() => OCI_MANIFEST.to_string(),
            None => return Err(invalid("cannot tell the manifest's media type")),
        }
    } else {
        return Err(invalid(format!("unsupported manifest media type {ct:?}")));
    };
    if doc.schema_version != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    if matches!(media_type.as_str(), DOCKER_MANIFEST | DOCKER_MANIFEST_LIST) && declared.is_none() {
        return Err(invalid("Docker manifests must carry their mediaType"));
    }

    let subject = match &doc.subject {
        Some(s) => Some(descriptor_digest(s, "subject")?),
        None => None,
    };
    let mut parsed = Parsed {
        media_type: media_type.clone(),
        blobs: Vec::new(),
        manifests: Vec::new(),
        subject,
        artifact_type: doc.artifact_type.clone().filter(|a| !a.is_empty()),
        annotations: doc.annotations.clone(),
    };
    if is_index_type(&media_type) {
        let Some(entries) = &doc.manifests else {
            return Err(invalid("an index needs a manifests array"));
        };
        for (i, m) in entries.iter().enumerate() {
            parsed.manifests.push(descriptor_digest(m, &format!("manifests[{i}]"))?);
        }
    } else {
        let Some(config) = &doc.config else {
            return Err(invalid("an image manifest needs a config"));
        };
        let Some(layers) = &doc.layers else {
            return Err(invalid("an image manifest needs a layers array"));
        };
        parsed.blobs.push((descriptor_digest(config, "config")?, config.size));
        for (i, l) in layers.iter().enumerate() {
            let d = descriptor_digest(l, &format!("layers[{i}]"))?;
            if l.urls.is_empty() {
                parsed.blobs.push((d, l.size));
            }
        }
        if parsed.artifact_type.is_none() && !config.media_type.is_empty() {
            parsed.artifact_type = Some(config.media_type.clone());
        }
    }
    Ok(parsed)
}

/// What a stored manifest points at, for garbage collection: the digests it references
/// (blobs and child manifests) and its subject. Lenient: it never fails on a manifest that
/// `parse` accepted with `media_type`.
pub fn references(media_type: &str, body: &[u8]) -> Result<Parsed, Error> {
    parse(Some(media_type), body)
}

/// The descriptor of a manifest listed by the referrers API.
pub fn referrer_descriptor(parsed: &Parsed, digest: &Digest, size: usize) -> Descriptor {
    Descriptor {
        media_type: parsed.media_type.clone(),
        digest: digest.to_string(),
        size: size as i64,
        urls: Vec::new(),
        artifact_type: if is_index_type(&parsed.media_type) && parsed.artifact_type.is_none() {
            None
        } else {
            parsed.artifact_type.clone()
        },
        annotations: parsed.annotations.clone(),
        platform: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn oci(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":3}},{{"mediaType":"x","digest":"{}","size":4,"urls":["http://x"]}}]{extra}}}"#,
            d('a'),
            d('b'),
            d('c')
        )
    }

    #[test]
    fn parses_image_manifests() {
        let body = oci(&format!(r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":9}},"annotations":{{"k":"v"}}"#, d('e')));
        let p = parse(Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"), body.as_bytes()).unwrap();
        assert_eq!(p.media_type, OCI_MANIFEST);
        let blobs: Vec<String> = p.blobs.iter().map(|(d, _)| d.to_string()).collect();
        assert_eq!(blobs, vec![d('a'), d('b')], "foreign layers with urls are not required");
        assert_eq!(p.subject.map(|s| s.to_string()), Some(d('e')));
        assert_eq!(p.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
        assert_eq!(p.annotations.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn media_type_resolution() {
        let idx_no_type = format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":1}}]}}"#, d('a'));
        let docker_list = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[]}}"#);
        let docker_untyped = format!(r#"{{"schemaVersion":2,"config":{{"digest":"{}","size":1}},"layers":[]}}"#, d('a'));
        let cases: Vec<(Option<&str>, String, Result<&str, &str>)> = vec![
            (Some(OCI_MANIFEST), oci(""), Ok(OCI_MANIFEST)),
            (None, oci(""), Ok(OCI_MANIFEST)),
            (Some("application/json"), oci(""), Ok(OCI_MANIFEST)),
            (Some(OCI_INDEX), oci(""), Err("does not match")),
            (Some(DOCKER_MANIFEST), oci(""), Err("does not match")),
            (None, idx_no_type.clone(), Ok(OCI_INDEX)),
            (Some(OCI_INDEX), idx_no_type, Ok(OCI_INDEX)),
            (Some(DOCKER_MANIFEST_LIST), docker_list, Ok(DOCKER_MANIFEST_LIST)),
            (Some(DOCKER_MANIFEST), docker_untyped.clone(), Err("must carry their mediaType")),
            (None, docker_untyped, Ok(OCI_MANIFEST)),
            (Some("text/plain"), oci(""), Err("unsupported manifest media type")),
            (Some("application/vnd.docker.distribution.manifest.v1+prettyjws"), "{}".into(), Err("schema 1")),
            (Some(OCI_MANIFEST), "not json".into(), Err("not a manifest")),
            (Some(OCI_MANIFEST), format!(r#"{{"schemaVersion":1,"mediaType":"{OCI_MANIFEST}"}}"#), Err("schemaVersion")),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":2,"layers":[]}"#.to_string(), Err("needs a config")),
            (Some(OCI_MANIFEST), format!(r#"{{"schemaVersion":2,"config":{{"digest":"{}","size":1}}}}"#, d('a')), Err("needs a layers")),
            (Some(OCI_INDEX), r#"{"schemaVersion":2}"#.into(), Err("needs a manifests")),
            (Some(OCI_INDEX), r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:zz","size":1}]}"#.into(), Err("manifests[0]: digest")),
            (Some(OCI_MANIFEST), format!(r#"{{"schemaVersion":2,"config":{{"digest":"{}","size":-1}},"layers":[]}}"#, d('a')), Err("negative size")),
        ];
        for (ct, body, want) in cases {
            let got = parse(ct, body.as_bytes()).map(|p| p.media_type);
            match (got, want) {
                (Ok(t), Ok(w)) => assert_eq!(t, w, "{ct:?} {body}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{ct:?} {body}: {e}"),
                (got, want) => panic!("{ct:?} {body}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn referrer_descriptors() {
        let body = oci(r#","artifactType":"application/vnd.example.sbom""#);
        let p = parse(Some(OCI_MANIFEST), body.as_bytes()).unwrap();
        let dg = Digest::sha256_of(body.as_bytes());
        let desc = referrer_descriptor(&p, &dg, body.len());
        assert_eq!(desc.artifact_type.as_deref(), Some("application/vnd.example.sbom"));
        let idx = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
        let p = parse(Some(OCI_INDEX), idx.as_bytes()).unwrap();
        assert_eq!(referrer_descriptor(&p, &dg, 1).artifact_type, None);
        let json = serde_json::to_value(referrer_descriptor(&p, &dg, 1)).unwrap();
        assert_eq!(json, serde_json::json!({"mediaType": OCI_INDEX, "digest": dg.to_string(), "size": 1}));
    }
}
