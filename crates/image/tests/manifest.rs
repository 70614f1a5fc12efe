//! Manifests: detection by content type and mediaType, malformed input, platforms.

use berth_errdefs::{HasKind, Kind};
use berth_image::manifest::{
    media_types as mt, parse_manifest, AnyManifest, Descriptor, ImageIndex, ImageManifest, Platform,
};
use berth_reference::Digest;

fn d(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn manifest_json(media_type: Option<&str>) -> String {
    let mt_field = media_type
        .map(|m| format!(r#""mediaType":"{m}","#))
        .unwrap_or_default();
    format!(
        r#"{{"schemaVersion":2,{mt_field}"config":{{"mediaType":"{}","size":7,"digest":"{}"}},"layers":[{{"mediaType":"{}","size":42,"digest":"{}"}}]}}"#,
        mt::DOCKER_CONFIG,
        d('a'),
        mt::DOCKER_LAYER_GZIP,
        d('b')
    )
}

fn index_json(media_type: Option<&str>) -> String {
    let mt_field = media_type
        .map(|m| format!(r#""mediaType":"{m}","#))
        .unwrap_or_default();
    format!(
        r#"{{"schemaVersion":2,{mt_field}"manifests":[{{"mediaType":"{}","size":100,"digest":"{}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
        mt::OCI_MANIFEST,
        d('c')
    )
}

/// What a case should give: the shape and media type, or part of the error message.
#[derive(Debug)]
enum Want {
    Manifest(&'static str),
    Index(&'static str),
    Err(&'static str),
}

#[test]
fn parse_manifest_table() {
    let m = |t: Option<&str>| manifest_json(t);
    let i = |t: Option<&str>| index_json(t);
    let cases: Vec<(&str, String, Option<&str>, Want)> = vec![
        (
            "docker manifest, header",
            m(Some(mt::DOCKER_MANIFEST)),
            Some(mt::DOCKER_MANIFEST),
            Want::Manifest(mt::DOCKER_MANIFEST),
        ),
        (
            "docker manifest, no header",
            m(Some(mt::DOCKER_MANIFEST)),
            None,
            Want::Manifest(mt::DOCKER_MANIFEST),
        ),
        (
            "docker manifest, generic header with parameters",
            m(Some(mt::DOCKER_MANIFEST)),
            Some("application/json; charset=utf-8"),
            Want::Manifest(mt::DOCKER_MANIFEST),
        ),
        (
            "oci manifest without mediaType, header",
            m(None),
            Some(mt::OCI_MANIFEST),
            Want::Manifest(mt::OCI_MANIFEST),
        ),
        (
            "oci manifest without mediaType, no header",
            m(None),
            None,
            Want::Manifest(mt::OCI_MANIFEST),
        ),
        (
            "oci manifest, octet-stream header",
            m(Some(mt::OCI_MANIFEST)),
            Some("application/octet-stream"),
            Want::Manifest(mt::OCI_MANIFEST),
        ),
        (
            "oci index without mediaType, text/plain",
            i(None),
            Some("text/plain"),
            Want::Index(mt::OCI_INDEX),
        ),
        (
            "docker list, header with charset",
            i(Some(mt::DOCKER_MANIFEST_LIST)),
            Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"),
            Want::Index(mt::DOCKER_MANIFEST_LIST),
        ),
        (
            "oci index, header only",
            i(None),
            Some(mt::OCI_INDEX),
            Want::Index(mt::OCI_INDEX),
        ),
        (
            "unknown header, shape tells",
            m(None),
            Some("application/x-something"),
            Want::Manifest(mt::OCI_MANIFEST),
        ),
        (
            "header and mediaType disagree",
            i(Some(mt::OCI_INDEX)),
            Some(mt::DOCKER_MANIFEST),
            Want::Err("does not match the content type"),
        ),
        (
            "docker vs oci manifest disagree",
            m(Some(mt::OCI_MANIFEST)),
            Some(mt::DOCKER_MANIFEST),
            Want::Err("does not match the content type"),
        ),
        (
            "schema 1 by header",
            m(None),
            Some(mt::DOCKER_MANIFEST_V1_SIGNED),
            Want::Err("schema 1 is not supported"),
        ),
        (
            "schema 1 by content",
            r#"{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[]}"#.into(),
            None,
            Want::Err("schema 1 is not supported"),
        ),
        (
            "malformed json",
            r#"{"schemaVersion":2,"config":"#.into(),
            Some(mt::DOCKER_MANIFEST),
            Want::Err("malformed JSON"),
        ),
        ("empty body", String::new(), None, Want::Err("malformed JSON")),
        (
            "not an object",
            "[1,2]".into(),
            None,
            Want::Err("not a JSON object"),
        ),
        (
            "no schemaVersion",
            r#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.into(),
            None,
            Want::Err("missing schemaVersion"),
        ),
        (
            "schemaVersion 3",
            r#"{"schemaVersion":3,"manifests":[]}"#.into(),
            None,
            Want::Err("unsupported schemaVersion 3"),
        ),
        (
            "mediaType not a string",
            r#"{"schemaVersion":2,"mediaType":7,"manifests":[]}"#.into(),
            None,
            Want::Err("mediaType is not a string"),
        ),
        (
            "unknown mediaType in the document",
            r#"{"schemaVersion":2,"mediaType":"application/vnd.example+json","manifests":[]}"#
                .into(),
            None,
            Want::Err("unsupported manifest media type"),
        ),
        (
            "unknown header, unknown shape",
            r#"{"schemaVersion":2,"blobs":[]}"#.into(),
            Some("application/vnd.example+json"),
            Want::Err("unsupported manifest media type"),
        ),
        (
            "no hint at all",
            r#"{"schemaVersion":2}"#.into(),
            None,
            Want::Err("cannot tell the manifest type"),
        ),
        (
            "bad config digest",
            m(Some(mt::DOCKER_MANIFEST)).replace(&d('a'), "sha256:1234"),
            None,
            Want::Err("digest \"sha256:1234\""),
        ),
        (
            "negative size",
            m(Some(mt::DOCKER_MANIFEST)).replace("\"size\":42", "\"size\":-1"),
            None,
            Want::Err("invalid value"),
        ),
        (
            "manifest without config",
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#.into(),
            None,
            Want::Err("missing field `config`"),
        ),
        (
            "a manifest with manifests",
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#.into(),
            None,
            Want::Err("has no manifests field"),
        ),
        (
            "an index with layers",
            i(Some(mt::OCI_INDEX)).replace("\"manifests\"", "\"layers\":[],\"manifests\""),
            None,
            Want::Err("has no config or layers fields"),
        ),
    ];
    for (name, body, header, want) in cases {
        let got = parse_manifest(body.as_bytes(), header);
        match (&want, &got) {
            (Want::Manifest(t), Ok(AnyManifest::Manifest(m))) => {
                assert_eq!(m.media_type, *t, "{name}");
                assert_eq!(got.as_ref().unwrap().media_type(), *t, "{name}");
            }
            (Want::Index(t), Ok(AnyManifest::Index(i))) => assert_eq!(i.media_type, *t, "{name}"),
            (Want::Err(msg), Err(e)) => {
                assert_eq!(e.kind(), Kind::InvalidArgument, "{name}");
                assert!(e.to_string().contains(msg), "{name}: {e}");
                assert!(
                    e.to_string().starts_with("invalid manifest: "),
                    "{name}: {e}"
                );
            }
            _ => panic!("{name}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn parsed_fields_and_docker_serialization() {
    let AnyManifest::Manifest(m) =
        parse_manifest(manifest_json(Some(mt::DOCKER_MANIFEST)).as_bytes(), None).unwrap()
    else {
        panic!("not a manifest")
    };
    assert_eq!(m.config.digest.to_string(), d('a'));
    assert_eq!(m.config.size, 7);
    assert_eq!(m.layers[0].media_type, mt::DOCKER_LAYER_GZIP);
    assert_eq!(m.layers[0].size, 42);
    // What we build serializes in Docker's field order and parses back equal.
    let built = ImageManifest::docker(
        Descriptor::new(mt::DOCKER_CONFIG, Digest::parse(&d('a')).unwrap(), 7),
        vec![Descriptor::new(
            mt::DOCKER_LAYER_GZIP,
            Digest::parse(&d('b')).unwrap(),
            42,
        )],
    );
    let json = String::from_utf8(built.to_json()).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":7}},"layers":[{{"mediaType":"{}","digest":"{}","size":42}}]}}"#,
            mt::DOCKER_MANIFEST,
            mt::DOCKER_CONFIG,
            d('a'),
            mt::DOCKER_LAYER_GZIP,
            d('b')
        )
    );
    assert_eq!(
        parse_manifest(json.as_bytes(), Some(mt::DOCKER_MANIFEST)).unwrap(),
        AnyManifest::Manifest(built)
    );
    // A null manifests list is an empty one.
    let AnyManifest::Index(i) =
        parse_manifest(br#"{"schemaVersion":2,"manifests":null}"#, None).unwrap()
    else {
        panic!("not an index")
    };
    assert!(i.manifests.is_empty());
}

#[test]
fn platform_parse_table() {
    /// (os, architecture, variant)
    type Parsed<'a> = Option<(&'a str, &'a str, Option<&'a str>)>;
    let cases: &[(&str, Parsed)] = &[
        ("linux/amd64", Some(("linux", "amd64", None))),
        ("linux/x86_64", Some(("linux", "amd64", None))),
        ("linux/arm64", Some(("linux", "arm64", None))),
        ("linux/arm64/v8", Some(("linux", "arm64", None))),
        ("linux/aarch64", Some(("linux", "arm64", None))),
        ("linux/arm", Some(("linux", "arm", Some("v7")))),
        ("linux/arm/v6", Some(("linux", "arm", Some("v6")))),
        ("linux/armhf", Some(("linux", "arm", Some("v7")))),
        ("linux/i386", Some(("linux", "386", None))),
        ("Linux/AMD64", Some(("linux", "amd64", None))),
        ("linux/riscv64", Some(("linux", "riscv64", None))),
        ("", None),
        ("linux//v7", None),
        ("a/b/c/d", None),
    ];
    for (s, want) in cases {
        let got = Platform::parse(s).ok();
        let got = got
            .as_ref()
            .map(|p| (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()));
        assert_eq!(got, *want, "{s:?}");
    }
    assert_eq!(Platform::parse("linux").unwrap().os, "linux");
    assert_eq!(Platform::host().os, "linux");
}

#[test]
fn index_select_picks_the_first_matching_manifest() {
    let desc = |c: char, media: &str, p: Option<&str>| {
        let mut x = Descriptor::new(media, Digest::parse(&d(c)).unwrap(), 1);
        x.platform = p.map(|p| {
            let (os, rest) = p.split_once('/').unwrap();
            let mut it = rest.split('/');
            Platform {
                os: os.into(),
                architecture: it.next().unwrap().into(),
                variant: it.next().map(Into::into),
                ..Platform::default()
            }
        });
        x
    };
    let index = ImageIndex::oci(vec![
        desc('0', mt::OCI_MANIFEST, None),
        desc('1', mt::OCI_MANIFEST, Some("linux/amd64")),
        desc('2', mt::OCI_MANIFEST, Some("linux/arm/v6")),
        desc('3', mt::OCI_MANIFEST, Some("linux/arm/v7")),
        desc('4', mt::DOCKER_MANIFEST, Some("linux/arm64/v8")),
        desc('5', mt::OCI_MANIFEST, Some("unknown/unknown")),
        desc('6', mt::OCI_MANIFEST, Some("linux/amd64")),
    ]);
    let cases: &[(&str, Option<char>)] = &[
        ("linux/amd64", Some('1')),
        ("linux/arm/v7", Some('3')),
        ("linux/arm", Some('3')),
        ("linux/arm/v6", Some('2')),
        ("linux/arm64", Some('4')),
        ("linux/aarch64/v8", Some('4')),
        ("linux/s390x", None),
        ("windows/amd64", None),
    ];
    for (want_platform, want) in cases {
        let got = index
            .select(&Platform::parse(want_platform).unwrap())
            .map(|x| x.digest.to_string());
        assert_eq!(got, want.map(d), "{want_platform}");
    }
}

#[test]
fn layer_media_type_predicates() {
    for t in [
        mt::DOCKER_LAYER_GZIP,
        mt::OCI_LAYER,
        mt::OCI_LAYER_GZIP,
        mt::OCI_LAYER_ZSTD,
        mt::DOCKER_FOREIGN_LAYER_GZIP,
    ] {
        assert!(mt::is_layer(t), "{t}");
    }
    assert!(!mt::is_layer(mt::OCI_CONFIG));
    assert!(mt::is_foreign_layer(mt::DOCKER_FOREIGN_LAYER_GZIP));
    assert!(!mt::is_foreign_layer(mt::OCI_LAYER_GZIP));
    assert!(mt::is_config(mt::DOCKER_CONFIG) && mt::is_config(mt::OCI_CONFIG));
}
