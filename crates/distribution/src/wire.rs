//! What registries send and receive: manifests, indexes, descriptors, the parts of an
//! image config a pull needs, and platform matching. Pure.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Docker v2 schema 2 manifest.
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image config.
pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI image config.
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker gzip layer.
pub(crate) const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer.
pub(crate) const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// OCI layers.
pub(crate) const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub(crate) const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(crate) const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// The `Accept` header of a manifest request: every type we read.
pub(crate) fn manifest_accept() -> String {
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", ")
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub size: i64,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn new(media_type: &str, size: i64, digest: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            size,
            digest: digest.to_string(),
            urls: Vec::new(),
            platform: None,
        }
    }
}

/// An index entry's platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (Docker schema 2 or OCI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: i64,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A manifest list / image index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Index {
    pub manifests: Vec<Descriptor>,
}

/// A fetched manifest document, read by its media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Document {
    Manifest(Manifest),
    Index(Index),
}

/// Read a manifest document. The media type is the response's `Content-Type` when it names
/// one of ours, else the document's own `mediaType`, else its shape (`manifests` or
/// `layers`). Schema 1 manifests are refused, as Docker 28 refuses them.
pub(crate) fn parse_document(content_type: Option<&str>, body: &[u8]) -> Result<Document, Error> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "schemaVersion", default)]
        schema_version: i64,
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        layers: Option<serde_json::Value>,
    }
    let bad = |e: serde_json::Error| Error::Protocol(format!("invalid manifest: {e}"));
    let probe: Probe = serde_json::from_slice(body).map_err(bad)?;
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX].contains(c));
    let mt = ct.map(str::to_string).or(probe.media_type.clone());
    let is_index = match mt.as_deref() {
        Some(DOCKER_LIST) | Some(OCI_INDEX) => true,
        Some(DOCKER_MANIFEST) | Some(OCI_MANIFEST) => false,
        Some(other) if probe.schema_version == 1 || other.contains("manifest.v1") => {
            return Err(Error::Unsupported(format!(
                "unsupported manifest format: {other}: Docker Image manifest version 2, schema 1 is no longer supported"
            )))
        }
        Some(other) if !other.is_empty() && probe.manifests.is_none() && probe.layers.is_none() => {
            return Err(Error::Unsupported(format!("unsupported manifest media type and no default available: {other}")))
        }
        _ => {
            if probe.schema_version == 1 {
                return Err(Error::Unsupported(
                    "Docker Image manifest version 2, schema 1 is no longer supported".to_string(),
                ));
            }
            probe.manifests.is_some()
        }
    };
    if is_index {
        Ok(Document::Index(serde_json::from_slice(body).map_err(bad)?))
    } else {
        Ok(Document::Manifest(serde_json::from_slice(body).map_err(bad)?))
    }
}

/// The parts of an image config a pull reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ConfigHead {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub rootfs: RootFsHead,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RootFsHead {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// A wanted platform: `os/arch[/variant]`, normalised as containerd does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Want {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.map(str::to_ascii_lowercase).filter(|v| !v.is_empty());
    match arch.as_str() {
        "i386" => ("386".into(), None),
        "x86_64" | "x86-64" | "amd64" => {
            ("amd64".into(), variant.filter(|v| v != "v1"))
        }
        "aarch64" | "arm64" => ("arm64".into(), variant.filter(|v| v != "v8" && v != "8")),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => (
            "arm".into(),
            Some(match variant.as_deref() {
                None | Some("7") | Some("v7") => "v7".to_string(),
                Some("5") | Some("6") | Some("8") => format!("v{}", variant.unwrap_or_default()),
                Some(v) => v.to_string(),
            }),
        ),
        _ => (arch, variant),
    }
}

impl Want {
    /// The host's platform (`linux/<arch>`).
    pub fn host() -> Want {
        Want::new("linux", host_arch(), None)
    }

    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Want {
        let (arch, variant) = normalize_arch(arch, variant);
        Want {
            os: os.to_ascii_lowercase(),
            arch,
            variant,
        }
    }

    /// Parse `os/arch[/variant]` (`linux/arm64/v8`); `arch` alone means linux.
    pub fn parse(s: &str) -> Result<Want, Error> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let bad = || Error::Unsupported(format!("\"{s}\": unknown operating system or architecture: invalid argument"));
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Want::new(os, arch, None)),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() => Ok(Want::new(os, arch, Some(v))),
            [one] if !one.is_empty() => {
                if *one == "linux" || *one == "windows" || *one == "darwin" {
                    Ok(Want::new(one, host_arch(), None))
                } else {
                    Ok(Want::new("linux", one, None))
                }
            }
            _ => Err(bad()),
        }
    }

    fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> Option<u8> {
        let (a, v) = normalize_arch(arch, variant);
        if !os.eq_ignore_ascii_case(&self.os) || a != self.arch {
            return None;
        }
        match (&self.variant, &v) {
            (None, None) => Some(0),
            (Some(w), Some(h)) if w == h => Some(0),
            // An unspecified variant on either side matches, ranked after exact ones.
            (None, Some(_)) | (Some(_), None) => Some(1),
            _ => None,
        }
    }

    /// Does an image config's platform match?
    pub fn matches_config(&self, c: &ConfigHead) -> bool {
        c.os.is_empty() || self.matches(&c.os, &c.architecture, c.variant.as_deref()).is_some()
    }
}

impl std::fmt::Display for Want {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The host's architecture in Go's words.
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The index entry for `want`: the best match, the first among equals.
pub(crate) fn pick<'a>(index: &'a Index, want: &Want) -> Option<&'a Descriptor> {
    index
        .manifests
        .iter()
        .filter(|d| [DOCKER_MANIFEST, OCI_MANIFEST, ""].contains(&d.media_type.as_str()))
        .filter_map(|d| {
            let p = d.platform.as_ref()?;
            want.matches(&p.os, &p.architecture, p.variant.as_deref()).map(|rank| (rank, d))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, d)| d)
}

/// Serialize a manifest as Docker does (`json.MarshalIndent` with three spaces), so that the
/// same image always gives the same bytes and digest.
pub(crate) fn manifest_bytes(m: &Manifest) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serializing a plain struct of strings and numbers cannot fail.
    let _ = m.serialize(&mut ser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(mt: &str, os: &str, arch: &str, variant: Option<&str>, digest: &str) -> Descriptor {
        Descriptor {
            platform: Some(Platform { architecture: arch.into(), os: os.into(), variant: variant.map(Into::into) }),
            ..Descriptor::new(mt, 1, digest)
        }
    }

    #[test]
    fn platform_pick_table() {
        let index = Index {
            manifests: vec![
                d(OCI_MANIFEST, "linux", "amd64", None, "amd"),
                d(OCI_MANIFEST, "linux", "arm", Some("v6"), "armv6"),
                d(OCI_MANIFEST, "linux", "arm", Some("v7"), "armv7"),
                d(OCI_MANIFEST, "linux", "arm64", Some("v8"), "arm64"),
                d(OCI_MANIFEST, "unknown", "unknown", None, "attestation"),
                d(OCI_MANIFEST, "windows", "amd64", None, "win"),
                d(OCI_MANIFEST, "linux", "s390x", None, "s390x"),
                d("application/vnd.example.other", "linux", "riscv64", None, "other"),
            ],
        };
        let cases = [
            ("linux/amd64", Some("amd")),
            ("amd64", Some("amd")),
            ("linux/x86_64", Some("amd")),
            ("linux/arm64", Some("arm64")),
            ("linux/arm64/v8", Some("arm64")),
            ("linux/aarch64", Some("arm64")),
            ("linux/arm", Some("armv7")),
            ("linux/arm/v6", Some("armv6")),
            ("linux/arm/v5", None),
            ("windows/amd64", Some("win")),
            ("linux/s390x", Some("s390x")),
            ("linux/riscv64", None),
            ("linux/ppc64le", None),
        ];
        for (want, digest) in cases {
            let w = Want::parse(want).unwrap();
            assert_eq!(pick(&index, &w).map(|d| d.digest.as_str()), digest, "{want}");
        }
        assert!(Want::parse("").is_err());
        assert!(Want::parse("/amd64").is_err());
        assert_eq!(Want::parse("linux/arm").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(Want::parse("linux/arm64/v8").unwrap().to_string(), "linux/arm64");
        assert_eq!(Want::host().os, "linux");
    }

    #[test]
    fn variant_exact_match_ranks_first() {
        let index = Index {
            manifests: vec![
                d(DOCKER_MANIFEST, "linux", "amd64", Some("v3"), "v3"),
                d(DOCKER_MANIFEST, "linux", "amd64", None, "plain"),
            ],
        };
        assert_eq!(pick(&index, &Want::parse("linux/amd64").unwrap()).unwrap().digest, "plain");
        assert_eq!(pick(&index, &Want::parse("linux/amd64/v3").unwrap()).unwrap().digest, "v3");
    }

    #[test]
    fn document_kinds_table() {
        let m = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","size":1,"digest":"sha256:a"}},"layers":[]}}"#);
        let m_bare = r#"{"schemaVersion":2,"config":{"mediaType":"x","size":1,"digest":"sha256:a"},"layers":[]}"#;
        let i_bare = r#"{"schemaVersion":2,"manifests":[]}"#;
        let s1 = r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let cases: Vec<(Option<&str>, &str, &str)> = vec![
            (None, &m, "manifest"),
            (Some(DOCKER_MANIFEST), &m, "manifest"),
            (Some("application/json"), m_bare, "manifest"),
            (None, i_bare, "index"),
            (Some(OCI_INDEX), i_bare, "index"),
            (Some("application/vnd.docker.distribution.manifest.v1+prettyjws"), s1, "unsupported"),
            (None, s1, "unsupported"),
            (None, "{", "protocol"),
            (None, r#"{"mediaType":"text/plain"}"#, "unsupported"),
        ];
        for (ct, body, want) in cases {
            let got = match parse_document(ct, body.as_bytes()) {
                Ok(Document::Manifest(_)) => "manifest",
                Ok(Document::Index(_)) => "index",
                Err(Error::Unsupported(_)) => "unsupported",
                Err(Error::Protocol(_)) => "protocol",
                Err(e) => panic!("{e}"),
            };
            assert_eq!(got, want, "{ct:?} {body}");
        }
    }

    #[test]
    fn manifest_bytes_are_docker_shaped_and_stable() {
        let m = Manifest {
            schema_version: 2,
            media_type: Some(DOCKER_MANIFEST.into()),
            config: Descriptor::new(DOCKER_CONFIG, 10, "sha256:c"),
            layers: vec![Descriptor::new(DOCKER_LAYER_GZIP, 20, "sha256:l")],
        };
        let want = format!(
            "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"{DOCKER_MANIFEST}\",\n   \"config\": {{\n      \"mediaType\": \"{DOCKER_CONFIG}\",\n      \"size\": 10,\n      \"digest\": \"sha256:c\"\n   }},\n   \"layers\": [\n      {{\n         \"mediaType\": \"{DOCKER_LAYER_GZIP}\",\n         \"size\": 20,\n         \"digest\": \"sha256:l\"\n      }}\n   ]\n}}"
        );
        assert_eq!(String::from_utf8(manifest_bytes(&m)).unwrap(), want);
        assert_eq!(manifest_bytes(&m), manifest_bytes(&m.clone()));
    }
}
