//! What registries send and receive, beyond the manifest types of
//! [`berth_image::manifest`]: the `Accept` header, the parts of an image config a pull
//! reads, the platform a user asks for, and manifest bytes as Docker writes them. Pure.

use berth_image::manifest::{media_types, Platform};
use serde::{Deserialize, Serialize};

use crate::Error;

pub(crate) use media_types::{
    DOCKER_CONFIG, DOCKER_LAYER as DOCKER_LAYER_TAR, DOCKER_LAYER_GZIP, OCI_CONFIG,
    OCI_LAYER as OCI_LAYER_TAR, OCI_LAYER_GZIP, OCI_LAYER_ZSTD,
};

/// The `Accept` header of a manifest request: every type we read.
pub(crate) fn manifest_accept() -> String {
    media_types::ACCEPT.join(", ")
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

impl ConfigHead {
    /// The config's platform (none when it names no OS, as some old images).
    pub fn platform(&self) -> Option<Platform> {
        if self.os.is_empty() {
            return None;
        }
        Some(Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
            ..Platform::default()
        })
    }
}

/// Go's operating system names, to read `--platform arm64` as `linux/arm64` and
/// `--platform linux` as `linux/<host arch>`, as containerd's parser does.
const OSES: &[&str] = &[
    "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "plan9",
];

/// Parse a wanted platform (`linux/arm64/v8`, `linux/amd64`, `arm64`, `linux`).
pub(crate) fn parse_platform(s: &str) -> Result<Platform, Error> {
    let s = s.trim();
    let full = if !s.contains('/') && !s.is_empty() && !OSES.contains(&s.to_ascii_lowercase().as_str()) {
        format!("linux/{s}")
    } else {
        s.to_string()
    };
    Platform::parse(&full).map_err(|_| {
        Error::InvalidPlatform(format!("\"{s}\": unknown operating system or architecture: invalid argument"))
    })
}

/// Serialize a manifest as Docker does (`json.MarshalIndent` with three spaces), so that the
/// same image always gives the same bytes and digest.
pub(crate) fn manifest_bytes<T: Serialize>(m: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serializing plain structs of strings and numbers cannot fail.
    let _ = m.serialize(&mut ser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::manifest::{Descriptor, ImageIndex, ImageManifest};
    use berth_reference::Digest;

    #[test]
    fn platform_argument_table() {
        let host = Platform::host().architecture;
        let cases = [
            ("linux/amd64", Some("linux/amd64".to_string())),
            ("linux/arm64/v8", Some("linux/arm64".to_string())),
            ("linux/arm", Some("linux/arm/v7".to_string())),
            ("arm64", Some("linux/arm64".to_string())),
            ("x86_64", Some("linux/amd64".to_string())),
            ("linux", Some(format!("linux/{host}"))),
            (" windows/amd64 ", Some("windows/amd64".to_string())),
            ("", None),
            ("/amd64", None),
            ("a/b/c/d", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_platform(input).ok().map(|p| p.to_short_string()), want, "{input:?}");
        }
        assert_eq!(
            parse_platform("").unwrap_err().to_string(),
            "\"\": unknown operating system or architecture: invalid argument"
        );
    }

    #[test]
    fn index_selection_with_parsed_platforms() {
        let d = |arch: &str, variant: Option<&str>, n: u8| Descriptor {
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
                ..Platform::default()
            }),
            ..Descriptor::new(media_types::OCI_MANIFEST, Digest::sha256_of(&[n]), 1)
        };
        let index = ImageIndex::oci(vec![d("amd64", None, 1), d("arm", Some("v6"), 2), d("arm", Some("v7"), 3), d("arm64", Some("v8"), 4)]);
        let cases = [("amd64", Some(1u8)), ("linux/arm", Some(3)), ("linux/arm/v6", Some(2)), ("aarch64", Some(4)), ("linux/s390x", None)];
        for (want, n) in cases {
            let p = parse_platform(want).unwrap();
            assert_eq!(index.select(&p).map(|d| d.digest.clone()), n.map(|n| Digest::sha256_of(&[n])), "{want}");
        }
    }

    #[test]
    fn manifest_bytes_are_docker_shaped_and_stable() {
        let m = ImageManifest::docker(
            Descriptor::new(DOCKER_CONFIG, Digest::sha256_of(b"c"), 10),
            vec![Descriptor::new(DOCKER_LAYER_GZIP, Digest::sha256_of(b"l"), 20)],
        );
        let got = String::from_utf8(manifest_bytes(&m)).unwrap();
        assert!(got.starts_with("{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n   \"config\": {\n      \"mediaType\": "), "{got}");
        assert_eq!(manifest_bytes(&m), manifest_bytes(&m.clone()));
        // What we write, the image crate reads back as the same manifest.
        match berth_image::manifest::parse_manifest(got.as_bytes(), Some(media_types::DOCKER_MANIFEST)).unwrap() {
            berth_image::manifest::AnyManifest::Manifest(back) => assert_eq!(back, m),
            other => panic!("{other:?}"),
        }
    }
}
