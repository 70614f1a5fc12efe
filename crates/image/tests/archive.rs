//! `docker save` / `docker load` archives: round trips, the legacy layout, OCI layouts,
//! verification and errors.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;

use berth_errdefs::{HasKind, Kind};
use berth_image::archive::{load, save, Loaded};
use berth_image::manifest::media_types;
use berth_image::{chain_ids, Error, ImageStore, ImportOptions, LayerBlob};
use berth_reference::{Digest, Reference};
use common::{gzip, names, store_env, zstd, StoreEnv, Tar};
use serde_json::Value;

fn r(s: &str) -> Reference {
    Reference::parse_normalized(s).unwrap()
}

fn diff_of(tar: &[u8]) -> String {
    Digest::sha256_of(tar).to_string()
}

fn config(diff_ids: &[String], created: &str, os: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": os,
        "created": created,
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": "test"}],
    }))
    .unwrap()
}

fn apply(e: &StoreEnv, parent: Option<&str>, tar: &[u8], compressed: &[u8], mt: &str) -> String {
    let diff = diff_of(tar);
    let chain = berth_image::chain_id_of(parent, &diff);
    let digest = e.images.content().put(compressed).unwrap();
    let blob = LayerBlob {
        digest,
        media_type: mt.into(),
        size: compressed.len() as u64,
    };
    e.images.apply_blob(&chain, parent, &diff, &blob).unwrap();
    chain
}

struct Fixture {
    e: StoreEnv,
    base: String,
    app: String,
    untagged: String,
}

/// base:latest (imported), app:1 + app:latest + registry.example.com/team/app:2 (two layers,
/// the first shared with base), and an untagged image.
fn fixture() -> Fixture {
    let e = store_env();
    let base_tar = Tar::new().dir("bin").file("bin/sh", b"#!fake\n").finish();
    let base = e
        .images
        .import(
            &base_tar[..],
            &ImportOptions {
                reference: Some(r("base")),
                ..Default::default()
            },
        )
        .unwrap();
    let top_tar = Tar::new()
        .dir("app")
        .file("app/run", &vec![b'x'; 100_000])
        .finish();
    let base_chain = base.layers[0].chain_id.clone();
    apply(
        &e,
        Some(&base_chain),
        &top_tar,
        &zstd(&top_tar),
        media_types::OCI_LAYER_ZSTD,
    );
    let diffs = vec![base.layers[0].diff_id.clone(), diff_of(&top_tar)];
    let app = e
        .images
        .create_image(
            &config(&diffs, "2024-05-06T07:08:09Z", "linux"),
            &[
                r("app:1"),
                r("app:latest"),
                r("registry.example.com/team/app:2"),
            ],
            &[],
        )
        .unwrap();
    let untagged = e
        .images
        .create_image(
            &config(&diffs[..1], "2023-01-01T00:00:00Z", "linux"),
            &[],
            &[],
        )
        .unwrap();
    Fixture {
        e,
        base: base.id,
        app: app.id,
        untagged: untagged.id,
    }
}

fn save_names(s: &ImageStore, names: &[&str]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    save(s, &names, &mut out)?;
    Ok(out)
}

/// Regular files of a tar by path (symlinks as "-> target").
fn files(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(tar);
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        match e.header().entry_type() {
            tar::EntryType::Regular => {
                let mut v = Vec::new();
                e.read_to_end(&mut v).unwrap();
                out.insert(p, v);
            }
            tar::EntryType::Symlink => {
                let t = e
                    .link_name()
                    .unwrap()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(p, format!("-> {t}").into_bytes());
            }
            _ => {}
        }
    }
    out
}

/// A tar of these files (a value "-> target" is a symlink), in this order.
fn build(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(0);
        if let Some(t) = data.strip_prefix(b"-> ") {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, p, std::str::from_utf8(t).unwrap())
                .unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, p, &data[..]).unwrap();
        }
    }
    b.into_inner().unwrap()
}

fn json(v: &[u8]) -> Value {
    serde_json::from_slice(v).unwrap()
}

fn tags_of(s: &ImageStore, id: &str) -> Vec<String> {
    s.get(id).unwrap().familiar_tags()
}

#[test]
fn save_writes_dockers_layout() {
    let f = fixture();
    let out = save_names(&f.e.images, &["app", "base:latest", &f.untagged]).unwrap();
    let files = files(&out);
    let hex = |id: &str| id.trim_start_matches("sha256:").to_string();

    // Every blob is named by its digest.
    for (p, data) in &files {
        if let Some(h) = p.strip_prefix("blobs/sha256/") {
            assert_eq!(Digest::sha256_of(data).hex(), h, "{p}");
        }
    }
    assert_eq!(
        files["oci-layout"],
        br#"{"imageLayoutVersion": "1.0.0"}"#.to_vec()
    );
    let app = f.e.images.get(&f.app).unwrap();
    let base = f.e.images.get(&f.base).unwrap();
    let top_hex = hex(&app.layers[1].diff_id);
    let base_hex = hex(&base.layers[0].diff_id);
    assert_eq!(
        files[&format!("blobs/sha256/{}", hex(&f.app))],
        app.raw_config.as_bytes()
    );
    // Layers are the uncompressed tars.
    let top = &files[&format!("blobs/sha256/{top_hex}")];
    assert_eq!(diff_of(top), app.layers[1].diff_id);

    let manifest = json(&files["manifest.json"]);
    assert_eq!(
        manifest,
        serde_json::json!([
            {
                "Config": format!("blobs/sha256/{}", hex(&f.app)),
                "RepoTags": ["app:1", "app:latest"],
                "Layers": [format!("blobs/sha256/{base_hex}"), format!("blobs/sha256/{top_hex}")],
            },
            {
                "Config": format!("blobs/sha256/{}", hex(&f.base)),
                "RepoTags": ["base:latest"],
                "Layers": [format!("blobs/sha256/{base_hex}")],
            },
            {
                "Config": format!("blobs/sha256/{}", hex(&f.untagged)),
                "RepoTags": null,
                "Layers": [format!("blobs/sha256/{base_hex}")],
            },
        ])
    );
    assert_eq!(
        json(&files["repositories"]),
        serde_json::json!({
            "app": {"1": top_hex, "latest": top_hex},
            "base": {"latest": base_hex},
        })
    );
    let index = json(&files["index.json"]);
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], media_types::OCI_INDEX);
    let entries = index["manifests"].as_array().unwrap();
    let names: Vec<(Value, Value)> = entries
        .iter()
        .map(|m| {
            (
                m["annotations"]["io.containerd.image.name"].clone(),
                m["annotations"]["org.opencontainers.image.ref.name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("docker.io/library/app:1".into(), "1".into()),
            ("docker.io/library/app:latest".into(), "latest".into()),
            ("docker.io/library/base:latest".into(), "latest".into()),
            (Value::Null, Value::Null),
        ]
    );
    // The OCI manifest of app names its config and layers.
    let m_digest = entries[0]["digest"].as_str().unwrap();
    assert_eq!(entries[0]["platform"]["os"], "linux");
    let m = json(&files[&format!("blobs/sha256/{}", hex(m_digest))]);
    assert_eq!(m["mediaType"], media_types::OCI_MANIFEST);
    assert_eq!(m["config"]["digest"], f.app.as_str());
    assert_eq!(m["config"]["mediaType"], media_types::OCI_CONFIG);
    assert_eq!(m["layers"][1]["digest"], app.layers[1].diff_id.as_str());
    assert_eq!(m["layers"][1]["size"], top.len());
    assert_eq!(m["layers"][1]["mediaType"], media_types::OCI_LAYER);

    // By id: no tags. By a tag: that tag only.
    let by_id = files_of(&f.e.images, &[&f.app[7..19]]);
    assert_eq!(json(&by_id["manifest.json"])[0]["RepoTags"], Value::Null);
    assert!(!by_id.contains_key("repositories"));
    let by_tag = files_of(&f.e.images, &["registry.example.com/team/app:2"]);
    assert_eq!(
        json(&by_tag["manifest.json"])[0]["RepoTags"],
        serde_json::json!(["registry.example.com/team/app:2"])
    );
    // The same store saves the same bytes.
    assert_eq!(
        save_names(&f.e.images, &["app", "base:latest", &f.untagged]).unwrap(),
        out
    );
}

fn files_of(s: &ImageStore, names: &[&str]) -> BTreeMap<String, Vec<u8>> {
    files(&save_names(s, names).unwrap())
}

#[test]
fn save_then_load_round_trips() {
    let f = fixture();
    let out = save_names(&f.e.images, &["app", "base:latest", &f.untagged]).unwrap();

    let b = store_env();
    let loaded = load(&b.images, &out[..]).unwrap();
    // The last image is untagged: Docker then prints every loaded id.
    assert_eq!(
        loaded,
        [
            Loaded::Tag("app:1".into()),
            Loaded::Tag("app:latest".into()),
            Loaded::Tag("base:latest".into()),
            Loaded::Id(f.app.clone()),
            Loaded::Id(f.base.clone()),
            Loaded::Id(f.untagged.clone()),
        ]
    );
    assert_eq!(loaded[0].to_string(), "Loaded image: app:1");
    assert_eq!(loaded[3].to_string(), format!("Loaded image ID: {}", f.app));
    assert_eq!(b.images.resolve("app:1").unwrap(), f.app);
    assert_eq!(b.images.resolve("base").unwrap(), f.base);
    assert_eq!(tags_of(&b.images, &f.app), ["app:1", "app:latest"]);
    assert!(tags_of(&b.images, &f.untagged).is_empty());
    let img = b.images.get("app:latest").unwrap();
    let orig = f.e.images.get(&f.app).unwrap();
    assert_eq!(img.raw_config, orig.raw_config);
    assert_eq!(img.size, orig.size);
    assert_eq!(
        fs::read(img.lower_dirs()[0].join("app/run")).unwrap().len(),
        100_000
    );
    assert_eq!(
        fs::read(img.lower_dirs()[1].join("bin/sh")).unwrap(),
        b"#!fake\n"
    );
    // Loaded layers keep a blob: the second store saves the very same archive.
    assert_eq!(
        save_names(&b.images, &["app", "base:latest", &f.untagged]).unwrap(),
        out
    );
    // Loading again changes nothing and moves no tag.
    let again = load(&b.images, &out[..]).unwrap();
    assert_eq!(again, loaded);
    assert_eq!(b.images.count().unwrap(), 3);
    assert!(
        names(&b.root.join("ingest")).is_empty(),
        "the extraction is removed"
    );

    // Compressed archives load too.
    for compressed in [gzip(&out), zstd(&out)] {
        let c = store_env();
        load(&c.images, &compressed[..]).unwrap();
        assert_eq!(c.images.resolve("app:1").unwrap(), f.app);
    }
}

#[test]
fn a_loaded_tag_moves_from_the_image_that_had_it() {
    let f = fixture();
    let out = save_names(&f.e.images, &["app:1"]).unwrap();
    let b = store_env();
    let old = b
        .images
        .import(
            &Tar::new().file("x", b"x").finish()[..],
            &ImportOptions {
                reference: Some(r("app:1")),
                ..Default::default()
            },
        )
        .unwrap();
    let loaded = load(&b.images, &out[..]).unwrap();
    assert_eq!(
        loaded,
        [
            Loaded::Renamed {
                tag: "app:1".into(),
                old_id: old.id.clone()
            },
            Loaded::Tag("app:1".into()),
        ]
    );
    assert_eq!(
        loaded[0].to_string(),
        format!(
            "The image app:1 already exists, renaming the old one with ID {} to empty string",
            old.id
        )
    );
    assert_eq!(b.images.resolve("app:1").unwrap(), f.app);
    assert!(
        tags_of(&b.images, &old.id).is_empty(),
        "the old image is dangling"
    );
}

/// A docker save archive as Docker before 25 wrote it: `<id>.json` configs, one directory
/// per layer, a repeated layer as a symlink to the first copy; manifest.json first.
fn legacy_archive(diff_ids_override: Option<Vec<String>>) -> (Vec<u8>, String, Vec<Vec<u8>>) {
    let l1 = Tar::new().dir("etc").file("etc/a", b"a").finish();
    let l2 = Tar::new().file("etc/b", b"b").finish();
    let diffs = diff_ids_override.unwrap_or_else(|| vec![diff_of(&l1), diff_of(&l2), diff_of(&l1)]);
    let cfg = config(&diffs, "2020-02-02T02:02:02Z", "linux");
    let id = Digest::sha256_of(&cfg);
    let v1 = |c: char| c.to_string().repeat(64);
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", id.hex()),
        "RepoTags": ["legacy:1"],
        "Layers": [
            format!("{}/layer.tar", v1('1')),
            format!("{}/layer.tar", v1('2')),
            format!("{}/layer.tar", v1('3')),
        ],
    }]);
    let tar = build(&[
        ("manifest.json", serde_json::to_vec(&manifest).unwrap()),
        (&format!("{}/VERSION", v1('1')), b"1.0".to_vec()),
        (&format!("{}/json", v1('1')), b"{}".to_vec()),
        (&format!("{}/layer.tar", v1('1')), l1.clone()),
        (&format!("{}/layer.tar", v1('2')), l2.clone()),
        (
            &format!("{}/layer.tar", v1('3')),
            format!("-> ../{}/layer.tar", v1('1')).into_bytes(),
        ),
        (&format!("{}.json", id.hex()), cfg),
        (
            "repositories",
            format!(r#"{{"legacy":{{"1":"{}"}}}}"#, v1('3')).into_bytes(),
        ),
    ]);
    (tar, id.to_string(), vec![l1, l2])
}

#[test]
fn the_legacy_layout_loads() {
    let (tar, id, layers) = legacy_archive(None);
    let e = store_env();
    let loaded = load(&e.images, &tar[..]).unwrap();
    assert_eq!(loaded, [Loaded::Tag("legacy:1".into())]);
    let img = e.images.get("legacy:1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.layers.len(), 3);
    let lowers = img.lower_dirs();
    assert_eq!(names(&lowers[2].join("etc")), ["a"]);
    assert_eq!(names(&lowers[1].join("etc")), ["b"]);
    assert_eq!(names(&lowers[0].join("etc")), ["a"]);
    assert_eq!(
        e.images
            .blob_of_layer(&diff_of(&layers[1]))
            .map(|b| b.media_type),
        Some(media_types::DOCKER_LAYER_GZIP.to_string())
    );
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_registers_nothing() {
    // Plain tars are checked before anything is unpacked.
    let l1 = Tar::new().dir("etc").file("etc/a", b"a").finish();
    let wrong = diff_of(b"not the layer");
    let (tar, id, _) = legacy_archive(Some(vec![diff_of(&l1), wrong.clone(), diff_of(&l1)]));
    let e = store_env();
    let err = load(&e.images, &tar[..]).unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidArgument, "{err}");
    let l2 = Tar::new().file("etc/b", b"b").finish();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid diffID for layer 1: expected {wrong:?}, got {:?}",
            diff_of(&l2)
        )
    );
    assert_eq!(e.images.count().unwrap(), 0);
    assert!(e.images.get(&id).is_err());
    assert!(names(&e.root.join("layers")).is_empty(), "nothing unpacked");
    assert!(names(&e.root.join("ingest")).is_empty());

    // Compressed layers are checked while they unpack: the good one stays, as a layer.
    let good = Tar::new().file("good", b"g").finish();
    let bad = Tar::new().file("bad", b"b").finish();
    let diffs = vec![diff_of(&good), diff_of(b"something else")];
    let cfg = config(&diffs, "2020-01-01T00:00:00Z", "linux");
    let tar = build(&[
        ("l0.tar.gz", gzip(&good)),
        ("l1.tar.zst", zstd(&bad)),
        ("c.json", cfg),
        (
            "manifest.json",
            br#"[{"Config":"c.json","RepoTags":["bad:1"],"Layers":["l0.tar.gz","l1.tar.zst"]}]"#
                .to_vec(),
        ),
    ]);
    let err = load(&e.images, &tar[..]).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid diffID for layer 1"),
        "{err}"
    );
    assert_eq!(e.images.count().unwrap(), 0);
    assert!(e.images.resolve("bad:1").is_err());
    let chains = chain_ids(&diffs);
    assert!(!e.images.has_layer(&chains[1]));
    // The good layer was unpacked fully in parallel with the bad one; if it was, it is a
    // recorded layer, not a leftover.
    let dirs = names(&e.root.join("layers"));
    assert!(dirs.iter().all(|d| !d.starts_with(".tmp-")), "{dirs:?}");
    assert_eq!(dirs.len(), usize::from(e.images.has_layer(&chains[0])));
    assert!(names(&e.root.join("ingest")).is_empty());
}

#[test]
fn an_oci_layout_without_manifest_json_loads_by_annotations() {
    let f = fixture();
    let out = save_names(&f.e.images, &["app", &f.untagged]).unwrap();
    let entries: Vec<(String, Vec<u8>)> = files(&out)
        .into_iter()
        .filter(|(p, _)| p != "manifest.json" && p != "repositories")
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(p, d)| (p.as_str(), d.clone()))
        .collect();
    let tar = build(&refs);
    let e = store_env();
    let loaded = load(&e.images, &tar[..]).unwrap();
    assert_eq!(
        loaded,
        [
            Loaded::Tag("app:1".into()),
            Loaded::Tag("app:latest".into()),
            Loaded::Id(f.app.clone()),
            Loaded::Id(f.untagged.clone()),
        ]
    );
    assert_eq!(e.images.resolve("app:latest").unwrap(), f.app);
    assert!(e.images.get(&f.untagged).is_ok());
}

#[test]
fn bad_archives_are_refused_clearly() {
    let l = Tar::new().file("f", b"f").finish();
    let cfg = config(&[diff_of(&l)], "2020-01-01T00:00:00Z", "linux");
    let win = config(&[diff_of(&l)], "2020-01-01T00:00:00Z", "windows");
    let m = |tags: &str, layers: &str| {
        format!(r#"[{{"Config":"c.json","RepoTags":{tags},"Layers":{layers}}}]"#).into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"this is not a tar archive at all, not even close........".repeat(20),
            "invalid archive",
        ),
        (
            "bzip2",
            b"BZh91AY&SY".to_vec(),
            "unsupported layer compression: bzip2",
        ),
        (
            "no index",
            build(&[("hello.txt", b"hi".to_vec())]),
            "invalid archive: no manifest.json or index.json",
        ),
        (
            "null manifest",
            build(&[("manifest.json", b"null".to_vec())]),
            "invalid manifest, manifest cannot be null (but can be [])",
        ),
        (
            "malformed manifest",
            build(&[("manifest.json", b"[{".to_vec())]),
            "invalid manifest.json",
        ),
        (
            "missing config",
            build(&[("manifest.json", m("null", "[]"))]),
            "invalid archive: c.json is missing",
        ),
        (
            "missing layer",
            build(&[
                ("c.json", cfg.clone()),
                ("manifest.json", m("null", r#"["l.tar"]"#)),
            ]),
            "invalid archive: l.tar is missing",
        ),
        (
            "layer count",
            build(&[("c.json", cfg.clone()), ("manifest.json", m("null", "[]"))]),
            "invalid manifest, layers length mismatch: expected 0, got 1",
        ),
        (
            "tag without a tag",
            build(&[
                ("c.json", cfg.clone()),
                ("l.tar", l.clone()),
                ("manifest.json", m(r#"["busybox"]"#, r#"["l.tar"]"#)),
            ]),
            "invalid tag \"busybox\"",
        ),
        (
            "windows",
            build(&[
                ("c.json", win),
                ("l.tar", l.clone()),
                ("manifest.json", m("null", r#"["l.tar"]"#)),
            ]),
            "cannot load windows image on linux",
        ),
        (
            "entry outside",
            Tar::new().file("../escape", b"x").finish(),
            "is outside of it",
        ),
        (
            "symlink loop",
            build(&[
                ("c.json", cfg.clone()),
                ("a", b"-> b".to_vec()),
                ("b", b"-> a".to_vec()),
                ("manifest.json", m("null", r#"["a"]"#)),
            ]),
            "invalid archive: a is missing",
        ),
    ];
    for (name, tar, msg) in cases {
        let e = store_env();
        let err = load(&e.images, &tar[..]).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidArgument, "{name}: {err}");
        assert!(err.to_string().contains(msg), "{name}: {err}");
        assert_eq!(e.images.count().unwrap(), 0, "{name}");
        assert!(names(&e.root.join("ingest")).is_empty(), "{name}");
    }
    // An empty list loads nothing.
    let e = store_env();
    assert!(
        load(&e.images, &build(&[("manifest.json", b"[]".to_vec())])[..])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn save_refuses_before_writing_anything() {
    let f = fixture();
    let err = save_names(&f.e.images, &["nope:1"]).unwrap_err();
    assert_eq!(err.kind(), Kind::NotFound, "{err}");
    // A layer whose blob is gone cannot be saved.
    let base = f.e.images.get(&f.base).unwrap();
    let blob = f.e.images.blob_of_layer(&base.layers[0].diff_id).unwrap();
    f.e.images.content().delete(&blob.digest).unwrap();
    let mut out = Vec::new();
    let err = save(&f.e.images, &["base".to_string()], &mut out).unwrap_err();
    assert!(matches!(err, Error::InvalidArchive(_)), "{err}");
    assert!(err.to_string().contains("is not stored"), "{err}");
    assert!(out.is_empty(), "nothing written");
}
