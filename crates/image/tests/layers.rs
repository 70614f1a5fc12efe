//! Layers from blobs and from overlay upper directories; images from configs; content GC.

mod common;

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use berth_errdefs::{HasKind, Kind};
use berth_image::manifest::media_types;
use berth_image::{
    chain_id_of, chain_ids, DeleteItem, Error, ImageUser, ImportOptions, LayerBlob, UnpackOptions,
};
use berth_reference::{Digest, Reference};
use common::{gzip, names, require_root, store_env, tar_entries, zstd, Overlay, StoreEnv, Tar};
use tar::EntryType;

fn put(e: &StoreEnv, bytes: &[u8], media_type: &str) -> LayerBlob {
    let digest = e.images.content().put(bytes).unwrap();
    LayerBlob {
        digest,
        media_type: media_type.into(),
        size: bytes.len() as u64,
    }
}

fn diff_of(tar: &[u8]) -> String {
    Digest::sha256_of(tar).to_string()
}

fn config(diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn r(s: &str) -> Reference {
    Reference::parse_normalized(s).unwrap()
}

fn none(_: &str) -> Option<ImageUser> {
    None
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the given length.
    let r = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return None;
    }
    buf.truncate(r as usize);
    Some(buf)
}

fn layer_dirs(e: &StoreEnv) -> Vec<String> {
    names(&e.root.join("layers"))
}

fn decompress(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if data.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(data).unwrap()
    } else {
        data.to_vec()
    }
}

#[test]
fn apply_blob_unpacks_gzip_zstd_and_plain() {
    type Compress = fn(&[u8]) -> Vec<u8>;
    let cases: [(&str, Compress, &str); 3] = [
        ("plain", |d| d.to_vec(), media_types::OCI_LAYER),
        ("gzip", gzip, media_types::DOCKER_LAYER_GZIP),
        ("zstd", zstd, media_types::OCI_LAYER_ZSTD),
    ];
    for (name, compress, mt) in cases {
        let e = store_env();
        let tar = Tar::new()
            .dir("etc")
            .file("etc/os", name.as_bytes())
            .finish();
        let diff = diff_of(&tar);
        let blob = put(&e, &compress(&tar), mt);
        let layer = e.images.apply_blob(&diff, None, &diff, &blob).unwrap();
        assert_eq!((&layer.chain_id, &layer.diff_id), (&diff, &diff), "{name}");
        assert_eq!(fs::read(layer.dir.join("etc/os")).unwrap(), name.as_bytes());
        assert!(e.images.has_layer(&diff));
        assert_eq!(e.images.diff_id_of_blob(&blob.digest), Some(diff.clone()));
        assert_eq!(e.images.blob_of_layer(&diff), Some(blob.clone()), "{name}");
        // Idempotent.
        assert_eq!(
            e.images.apply_blob(&diff, None, &diff, &blob).unwrap(),
            layer
        );
        assert_eq!(
            layer_dirs(&e),
            [diff[7..].to_string()],
            "no temporary leftovers"
        );
    }
}

#[test]
fn layers_of_one_image_apply_concurrently_and_in_any_order() {
    let e = store_env();
    let tars: Vec<Vec<u8>> = (0..4u8)
        .map(|i| {
            Tar::new()
                .file(&format!("f{i}"), &vec![i; 300_000])
                .finish()
        })
        .collect();
    let diffs: Vec<String> = tars.iter().map(|t| diff_of(t)).collect();
    let chains = chain_ids(&diffs);
    let blobs: Vec<LayerBlob> = tars
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i % 2 == 0 {
                put(&e, &gzip(t), media_types::DOCKER_LAYER_GZIP)
            } else {
                put(&e, &zstd(t), media_types::OCI_LAYER_ZSTD)
            }
        })
        .collect();
    std::thread::scope(|s| {
        for i in (0..4usize).rev() {
            let (e, chains, diffs, blobs) = (&e, &chains, &diffs, &blobs);
            s.spawn(move || {
                let parent = i.checked_sub(1).map(|p| chains[p].as_str());
                e.images
                    .apply_blob(&chains[i], parent, &diffs[i], &blobs[i])
                    .unwrap();
            });
        }
    });
    for c in &chains {
        assert!(e.images.has_layer(c));
    }
    let img = e
        .images
        .create_image(&config(&diffs), &[r("stack:1")], &[])
        .unwrap();
    let lowers = img.lower_dirs();
    assert_eq!(lowers.len(), 4);
    for (i, dir) in lowers.iter().rev().enumerate() {
        assert_eq!(names(dir), [format!("f{i}")]);
    }
    assert_eq!(img.size, 4 * 300_000);
}

#[test]
fn a_blob_that_does_not_unpack_to_the_diff_id_is_refused() {
    let e = store_env();
    let real = Tar::new().file("a", b"a").finish();
    let claimed = diff_of(&Tar::new().file("b", b"b").finish());
    let blob = put(&e, &gzip(&real), media_types::DOCKER_LAYER_GZIP);
    let err = e
        .images
        .apply_blob(&claimed, None, &claimed, &blob)
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert_eq!(err.kind(), Kind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        format!(
            "digest mismatch: expected {claimed}, got {}",
            diff_of(&real)
        )
    );
    assert!(!e.images.has_layer(&claimed));
    assert!(layer_dirs(&e).is_empty(), "nothing kept");
    assert!(
        !e.images.content().exists(&blob.digest),
        "the bad blob is gone"
    );
    assert_eq!(e.images.diff_id_of_blob(&blob.digest), None);

    // A chain id that is not the diff id's on that parent.
    let diff = diff_of(&real);
    let blob = put(&e, &real, media_types::OCI_LAYER);
    let parent = format!("sha256:{}", "1".repeat(64));
    let err = e
        .images
        .apply_blob(&diff, Some(&parent), &diff, &blob)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidLayer(_)), "{err}");
    let err = e
        .images
        .apply_blob("sha256:zz", None, "sha256:zz", &blob)
        .unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidArgument, "{err}");
    // A blob that is not there.
    let missing = LayerBlob {
        digest: Digest::sha256_of(b"nothing"),
        media_type: media_types::OCI_LAYER.into(),
        size: 7,
    };
    let err = e
        .images
        .apply_blob(&diff, None, &diff, &missing)
        .unwrap_err();
    assert!(matches!(err, Error::BlobNotFound(_)), "{err}");
    assert_eq!(err.kind(), Kind::NotFound);
    assert!(layer_dirs(&e).is_empty());
}

#[test]
fn a_present_layer_learns_a_verified_blob() {
    let e = store_env();
    let tar = Tar::new().file("x", b"x").finish();
    let diff = diff_of(&tar);
    let first = put(&e, &tar, media_types::OCI_LAYER);
    e.images.apply_blob(&diff, None, &diff, &first).unwrap();
    e.images.content().delete(&first.digest).unwrap();
    assert_eq!(e.images.blob_of_layer(&diff), None, "its content is gone");

    let wrong = put(
        &e,
        &gzip(&Tar::new().file("y", b"y").finish()),
        media_types::DOCKER_LAYER_GZIP,
    );
    e.images.apply_blob(&diff, None, &diff, &wrong).unwrap();
    assert_eq!(
        e.images.diff_id_of_blob(&wrong.digest),
        None,
        "not what it unpacks to"
    );

    let right = put(&e, &gzip(&tar), media_types::DOCKER_LAYER_GZIP);
    e.images.apply_blob(&diff, None, &diff, &right).unwrap();
    assert_eq!(e.images.diff_id_of_blob(&right.digest), Some(diff.clone()));
    assert_eq!(e.images.blob_of_layer(&diff), Some(right));
}

/// Every malicious layer must leave `outside` exactly as it was.
#[test]
fn malicious_blobs_never_write_outside_the_layer() {
    let e = store_env();
    let outside = e.tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let secret = outside.join("secret");
    fs::write(&secret, b"keep").unwrap();
    let out = outside.display().to_string();
    let sec = secret.display().to_string();
    let privileged = UnpackOptions::for_current_user().privileged;

    // (name, tar, must fail)
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "dotdot",
            Tar::new().file("../../../outside/evil", b"x").finish(),
            true,
        ),
        (
            "absolute symlink then a file through it",
            Tar::new()
                .symlink("link", &out)
                .file("link/evil", b"x")
                .finish(),
            false,
        ),
        (
            "relative symlink climbing out then a file through it",
            Tar::new()
                .symlink("up", "../../../../../../../../..")
                .file(&format!("up{out}/evil"), b"x")
                .finish(),
            false,
        ),
        (
            "symlink over the secret then overwrite",
            Tar::new().symlink("s", &sec).file("s", b"pwned").finish(),
            false,
        ),
        (
            "hard link to an absolute outside file",
            Tar::new().hardlink("h", &sec).finish(),
            true,
        ),
        (
            "hard link climbing out",
            Tar::new().hardlink("h", "../../../outside/secret").finish(),
            true,
        ),
        (
            "hard link through a symlink to outside",
            Tar::new()
                .symlink("d", &out)
                .hardlink("h", "d/secret")
                .finish(),
            true,
        ),
        (
            "device node inside",
            Tar::new()
                .device("dev/null", EntryType::Char, 1, 3)
                .finish(),
            false,
        ),
        (
            "device node climbing out",
            Tar::new()
                .device("../../../outside/null", EntryType::Char, 1, 3)
                .finish(),
            true,
        ),
        (
            "device node through an absolute symlink",
            Tar::new()
                .symlink("l", &out)
                .device("l/null", EntryType::Char, 1, 3)
                .finish(),
            false,
        ),
    ];
    for (name, tar, must_fail) in cases {
        let diff = diff_of(&tar);
        let blob = put(&e, &tar, media_types::OCI_LAYER);
        let res = e.images.apply_blob(&diff, None, &diff, &blob);
        assert_eq!(res.is_err(), must_fail, "{name}: {res:?}");
        if let Err(err) = &res {
            assert_eq!(err.kind(), Kind::InvalidArgument, "{name}: {err}");
            assert!(!e.images.has_layer(&diff), "{name}");
        }
        assert_eq!(names(&outside), ["secret"], "{name}");
        assert_eq!(fs::read(&secret).unwrap(), b"keep", "{name}");
        assert_eq!(fs::metadata(&secret).unwrap().nlink(), 1, "{name}");
        assert!(
            layer_dirs(&e).iter().all(|d| !d.starts_with(".tmp-")),
            "{name}: temporary directories are removed"
        );
        if let Ok(layer) = res {
            if name == "device node inside" && privileged {
                let md = fs::symlink_metadata(layer.dir.join("dev/null")).unwrap();
                assert!(md.file_type().is_char_device(), "{name}");
            }
            if name.starts_with("absolute symlink") {
                // The file landed under the layer, where the link resolves inside it.
                let inside = layer.dir.join(out.trim_start_matches('/')).join("evil");
                assert_eq!(fs::read(inside).unwrap(), b"x");
            }
        }
    }
}

#[test]
fn whiteouts_and_opaque_dirs_hide_lower_content_under_overlay() {
    if !require_root("whiteouts_and_opaque_dirs_hide_lower_content_under_overlay") {
        return;
    }
    let e = store_env();
    let base = Tar::new()
        .dir("a")
        .file("a/gone", b"0")
        .file("a/stays", b"0")
        .dir("b")
        .file("b/old", b"0")
        .dir("b/sub")
        .file("b/sub/deep", b"0")
        .file("top", b"0")
        .finish();
    let top = Tar::new()
        .dir("a")
        .file("a/.wh.gone", b"")
        .dir("b")
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"1")
        .file(".wh.top", b"")
        .finish();
    let (d0, d1) = (diff_of(&base), diff_of(&top));
    let chains = chain_ids(&[d0.clone(), d1.clone()]);
    let l0 = e
        .images
        .apply_blob(
            &chains[0],
            None,
            &d0,
            &put(&e, &gzip(&base), media_types::DOCKER_LAYER_GZIP),
        )
        .unwrap();
    let l1 = e
        .images
        .apply_blob(
            &chains[1],
            Some(&chains[0]),
            &d1,
            &put(&e, &zstd(&top), media_types::OCI_LAYER_ZSTD),
        )
        .unwrap();
    let wh = fs::symlink_metadata(l1.dir.join("a/gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "a 0:0 whiteout"
    );
    assert_eq!(
        getxattr(&l1.dir.join("b"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!l1.dir.join("a/.wh.gone").exists() && !l1.dir.join("b/.wh..wh..opq").exists());

    let merged = e.tmp.path().join("merged");
    fs::create_dir(&merged).unwrap();
    let ov = match Overlay::mount(&[&l1.dir, &l0.dir], None, &merged) {
        Ok(o) => o,
        Err(err) => {
            eprintln!("SKIPPED whiteouts_and_opaque_dirs_hide_lower_content_under_overlay: mount overlay: {err}");
            return;
        }
    };
    let seen = (
        names(&merged),
        names(&merged.join("a")),
        names(&merged.join("b")),
    );
    drop(ov);
    assert_eq!(seen.0, ["a", "b"], "the root whiteout hides top");
    assert_eq!(seen.1, ["stays"], "the whiteout hides a/gone");
    assert_eq!(
        seen.2,
        ["new"],
        "the opaque directory hides b/old and b/sub"
    );
}

#[test]
fn create_layer_from_a_real_overlay_upper_dir() {
    if !require_root("create_layer_from_a_real_overlay_upper_dir") {
        return;
    }
    let e = store_env();
    let base = Tar::new()
        .dir("etc")
        .file("etc/gone", b"g")
        .file("etc/keep", b"k")
        .file("etc/mod", b"old")
        .dir("opaque")
        .file("opaque/old1", b"1")
        .dir("opaque/sub")
        .file("opaque/sub/x", b"x")
        .finish();
    let d0 = diff_of(&base);
    let l0 = e
        .images
        .apply_blob(
            &d0,
            None,
            &d0,
            &put(&e, &gzip(&base), media_types::DOCKER_LAYER_GZIP),
        )
        .unwrap();

    let t = e.tmp.path();
    let (upper, work, merged) = (t.join("upper"), t.join("work"), t.join("merged"));
    for d in [&upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    {
        let _ov = match Overlay::mount(&[&l0.dir], Some((&upper, &work)), &merged) {
            Ok(o) => o,
            Err(err) => {
                eprintln!(
                    "SKIPPED create_layer_from_a_real_overlay_upper_dir: mount overlay: {err}"
                );
                return;
            }
        };
        let m = |p: &str| merged.join(p);
        fs::remove_file(m("etc/gone")).unwrap();
        fs::write(m("etc/mod"), b"new").unwrap();
        fs::write(m("etc/added"), b"a").unwrap();
        fs::remove_dir_all(m("opaque")).unwrap();
        fs::create_dir(m("opaque")).unwrap();
        fs::write(m("opaque/fresh"), b"f").unwrap();
        fs::write(m("etc/h1"), b"same").unwrap();
        fs::hard_link(m("etc/h1"), m("etc/h2")).unwrap();
        std::os::unix::fs::symlink("keep", m("etc/link")).unwrap();
        let (c, n, v) = (
            CString::new(m("etc/added").as_os_str().as_bytes()).unwrap(),
            CString::new("user.test").unwrap(),
            b"v",
        );
        // SAFETY: valid C strings and value.
        let rc = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), v.as_ptr().cast(), 1, 0) };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    }
    let wh = fs::symlink_metadata(upper.join("etc/gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "overlay made a whiteout"
    );
    assert_eq!(
        getxattr(&upper.join("opaque"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );

    let (layer, blob) = e.images.create_layer_from_dir(Some(&d0), &upper).unwrap();
    assert_eq!(blob.media_type, media_types::DOCKER_LAYER_GZIP);
    assert_eq!(layer.chain_id, chain_id_of(Some(&d0), &layer.diff_id));
    let stored = e.images.content().read(&blob.digest).unwrap();
    assert_eq!(stored.len() as u64, blob.size);
    assert_eq!(
        diff_of(&decompress(&stored)),
        layer.diff_id,
        "the blob is the layer's tar"
    );
    assert_eq!(
        e.images.diff_id_of_blob(&blob.digest),
        Some(layer.diff_id.clone())
    );
    assert_eq!(e.images.blob_of_layer(&layer.diff_id), Some(blob.clone()));

    let entries: Vec<(String, u8)> = tar_entries(&stored)
        .into_iter()
        .filter(|(p, _, _)| !p.starts_with("PaxHeaders"))
        .map(|(p, t, _)| (p.trim_end_matches('/').to_string(), t))
        .collect();
    let want: Vec<(String, u8)> = [
        ("etc", b'5'),
        // In the order of the names on disk, as Docker walks them.
        ("etc/added", b'0'),
        ("etc/.wh.gone", b'0'),
        ("etc/h1", b'0'),
        ("etc/h2", b'1'),
        ("etc/link", b'2'),
        ("etc/mod", b'0'),
        ("opaque", b'5'),
        ("opaque/.wh..wh..opq", b'0'),
        ("opaque/fresh", b'0'),
    ]
    .iter()
    .map(|(p, t)| (p.to_string(), *t))
    .collect();
    assert_eq!(entries, want, "deterministic order, whiteouts in AUFS form");

    // The same upper directory makes the same layer.
    let (again, again_blob) = e.images.create_layer_from_dir(Some(&d0), &upper).unwrap();
    assert_eq!((again, again_blob), (layer.clone(), blob));

    assert_eq!(fs::metadata(layer.dir.join("etc/h1")).unwrap().nlink(), 2);
    assert_eq!(
        getxattr(&layer.dir.join("etc/added"), "user.test").as_deref(),
        Some(&b"v"[..])
    );
    let view = t.join("view");
    fs::create_dir(&view).unwrap();
    let ov = Overlay::mount(&[&layer.dir, &l0.dir], None, &view).unwrap();
    let seen = (
        names(&view.join("etc")),
        fs::read(view.join("etc/mod")).unwrap(),
        names(&view.join("opaque")),
    );
    drop(ov);
    assert_eq!(seen.0, ["added", "h1", "h2", "keep", "link", "mod"]);
    assert_eq!(seen.1, b"new");
    assert_eq!(
        seen.2,
        ["fresh"],
        "the opaque directory hides the old content"
    );
}

#[test]
fn an_empty_change_set_still_makes_a_layer() {
    let e = store_env();
    let empty = e.tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let (layer, blob) = e.images.create_layer_from_dir(None, &empty).unwrap();
    assert_eq!(layer.diff_id, Digest::sha256_of(&[0u8; 1024]).to_string());
    assert_eq!(
        layer.diff_id, "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
        "Docker's empty layer"
    );
    assert!(e.images.content().exists(&blob.digest));
    let missing = format!("sha256:{}", "9".repeat(64));
    let err = e
        .images
        .create_layer_from_dir(Some(&missing), &empty)
        .unwrap_err();
    assert!(matches!(err, Error::LayerNotFound(_)), "{err}");
    let err = e
        .images
        .create_layer_from_dir(None, &e.tmp.path().join("nope"))
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(layer_dirs(&e).iter().all(|d| !d.starts_with(".tmp-")));
}

#[test]
fn create_image_needs_its_layers_and_records_references() {
    let e = store_env();
    let tar = Tar::new().file("f", b"1").finish();
    let d = diff_of(&tar);
    let other = format!("sha256:{}", "4".repeat(64));
    let cfg = config(&[d.clone(), other.clone()]);
    let err = e.images.create_image(&cfg, &[r("x:1")], &[]).unwrap_err();
    assert!(matches!(err, Error::LayerNotFound(_)), "{err}");
    assert_eq!(err.kind(), Kind::NotFound);
    assert_eq!(e.images.count().unwrap(), 0, "nothing registered");
    assert!(e.images.resolve("x:1").is_err());

    let bad: &[(&[u8], &str)] = &[
        (b"{not json", "json"),
        (b"\xff\xfe", "utf-8"),
        (
            br#"{"rootfs":{"type":"layers","diff_ids":["sha256:xyz"]}}"#,
            "diff id",
        ),
        (
            br#"{"rootfs":{"type":"other","diff_ids":[]}}"#,
            "rootfs type",
        ),
    ];
    for (cfg, why) in bad {
        let err = e.images.create_image(cfg, &[], &[]).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{why}: {err}");
        assert_eq!(err.kind(), Kind::InvalidArgument);
    }
    let err = e
        .images
        .create_image(&config(&[]), &[], &[r("y:1")])
        .unwrap_err();
    assert!(matches!(err, Error::NotDigested(_)), "{err}");
    let with_digest = r(&format!("y@sha256:{}", "8".repeat(64)));
    let err = e
        .images
        .create_image(&config(&[]), &[with_digest], &[])
        .unwrap_err();
    assert!(matches!(err, Error::DigestTag), "{err}");
    assert_eq!(e.images.count().unwrap(), 0);

    e.images
        .apply_blob(
            &d,
            None,
            &d,
            &put(&e, &gzip(&tar), media_types::DOCKER_LAYER_GZIP),
        )
        .unwrap();
    let cfg = config(std::slice::from_ref(&d));
    let dig = format!("busybox@sha256:{}", "5".repeat(64));
    let img = e
        .images
        .create_image(&cfg, &[r("busybox"), r("busybox:1.36")], &[r(&dig)])
        .unwrap();
    assert_eq!(img.id, Digest::sha256_of(&cfg).to_string());
    assert_eq!(img.raw_config.as_bytes(), &cfg[..]);
    assert_eq!(img.familiar_tags(), ["busybox:latest", "busybox:1.36"]);
    assert_eq!(img.familiar_digests(), std::slice::from_ref(&dig));
    assert_eq!(e.images.resolve(&dig).unwrap(), img.id);
    assert_eq!(
        img.created.unwrap().to_rfc3339(),
        "2024-01-02T03:04:05+00:00"
    );

    // A second image takes the tag; the first keeps the rest.
    let cfg2 = serde_json::to_vec(&serde_json::json!({
        "os": "linux", "architecture": "amd64",
        "rootfs": {"type": "layers", "diff_ids": [d]},
    }))
    .unwrap();
    let img2 = e
        .images
        .create_image(&cfg2, &[r("busybox:latest")], &[])
        .unwrap();
    assert_eq!(e.images.resolve("busybox").unwrap(), img2.id);
    assert_eq!(
        e.images.get(&img.id).unwrap().familiar_tags(),
        ["busybox:1.36"]
    );

    let dig2 = format!("docker.io/library/busybox@sha256:{}", "6".repeat(64));
    e.images.add_repo_digest(&img2.id, &r(&dig2)).unwrap();
    assert_eq!(e.images.resolve(&dig2).unwrap(), img2.id);
    let err = e
        .images
        .add_repo_digest(&img2.id, &r("busybox:2"))
        .unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidArgument);
    let err = e
        .images
        .add_repo_digest(&format!("sha256:{}", "7".repeat(64)), &r(&dig2))
        .unwrap_err();
    assert_eq!(err.kind(), Kind::NotFound);
}

fn blob_names(e: &StoreEnv) -> Vec<String> {
    names(&e.root.join("blobs/sha256"))
}

#[test]
fn import_keeps_a_gzip_blob_of_its_tar() {
    let e = store_env();
    let tar = Tar::new().dir("bin").file("bin/sh", b"#!").finish();
    for input in [tar.clone(), gzip(&tar), zstd(&tar)] {
        let img = e
            .images
            .import(&input[..], &ImportOptions::default())
            .unwrap();
        let diff = &img.layers[0].diff_id;
        assert_eq!(*diff, diff_of(&tar));
        let blob = e.images.blob_of_layer(diff).unwrap();
        assert_eq!(blob.media_type, media_types::DOCKER_LAYER_GZIP);
        let bytes = e.images.content().read(&blob.digest).unwrap();
        assert!(bytes.starts_with(&[0x1f, 0x8b]));
        assert_eq!(decompress(&bytes), tar);
        assert_eq!(e.images.diff_id_of_blob(&blob.digest).as_ref(), Some(diff));
    }
}

#[test]
fn removal_deletes_the_content_nothing_references() {
    let e = store_env();
    let a = Tar::new().file("a", b"a").finish();
    let b = Tar::new().file("b", b"b").finish();
    let ia = e
        .images
        .import(
            &a[..],
            &ImportOptions {
                reference: Some(r("first")),
                ..Default::default()
            },
        )
        .unwrap();
    let ib = e
        .images
        .import(
            &b[..],
            &ImportOptions {
                reference: Some(r("second")),
                ..Default::default()
            },
        )
        .unwrap();
    let blob_a = e.images.blob_of_layer(&ia.layers[0].diff_id).unwrap();
    let blob_b = e.images.blob_of_layer(&ib.layers[0].diff_id).unwrap();
    // A config kept in the content store (as a pull does), and orphans.
    let cfg_b = e.images.content().put(ib.raw_config.as_bytes()).unwrap();
    assert_eq!(cfg_b.to_string(), ib.id);
    let fresh_orphan = e.images.content().put(b"a pull in progress").unwrap();
    let old_orphan = e
        .images
        .content()
        .put(b"a pull that failed long ago")
        .unwrap();
    let f = fs::File::options()
        .write(true)
        .open(e.images.content().path(&old_orphan))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
    drop(f);

    let items = e.images.remove("first", false, &none).unwrap();
    assert!(items.contains(&DeleteItem::Deleted(ia.id.clone())));
    assert!(
        !e.images.content().exists(&blob_a.digest),
        "the removed layer's blob"
    );
    assert_eq!(
        e.images.diff_id_of_blob(&blob_a.digest),
        None,
        "and its record"
    );
    assert!(!e.images.content().exists(&old_orphan), "an old orphan");
    for kept in [&blob_b.digest, &cfg_b, &fresh_orphan] {
        assert!(e.images.content().exists(kept), "{kept} is kept");
    }

    // The blob stays while a tag holds the image.
    e.images.tag("second", &r("second2")).unwrap();
    e.images.remove("second", false, &none).unwrap();
    assert!(
        e.images.content().exists(&blob_b.digest),
        "second2 still uses it"
    );
    e.images.remove("second2", false, &none).unwrap();
    assert!(!e.images.content().exists(&blob_b.digest));
    assert!(
        !e.images.content().exists(&cfg_b),
        "the config of a deleted image"
    );
    assert_eq!(blob_names(&e), [fresh_orphan.hex().to_string()]);
}

#[test]
fn gc_deletes_the_content_of_images_kept_for_containers() {
    let e = store_env();
    let t = Tar::new().file("a", b"a").finish();
    let img = e
        .images
        .import(
            &t[..],
            &ImportOptions {
                reference: Some(r("used")),
                ..Default::default()
            },
        )
        .unwrap();
    let blob = e.images.blob_of_layer(&img.layers[0].diff_id).unwrap();
    let user = |id: &str| {
        (id == img.id).then(|| ImageUser {
            container_id: "c".repeat(64),
            running: false,
        })
    };
    e.images.remove("used", true, &user).unwrap();
    assert!(
        e.images.content().exists(&blob.digest),
        "kept for the container"
    );
    e.images.gc(&none).unwrap();
    assert!(!e.images.content().exists(&blob.digest));
    assert!(blob_names(&e).is_empty());
}

#[test]
fn prune_deletes_the_content_of_dangling_images() {
    let e = store_env();
    let t = Tar::new().file("p", b"p").finish();
    let img = e.images.import(&t[..], &ImportOptions::default()).unwrap();
    let blob = e.images.blob_of_layer(&img.layers[0].diff_id).unwrap();
    let report = e
        .images
        .prune(&berth_image::PruneFilters::default(), &none)
        .unwrap();
    assert!(report.items.contains(&DeleteItem::Deleted(img.id.clone())));
    assert!(!e.images.content().exists(&blob.digest));
    assert!(blob_names(&e).is_empty());
}

#[test]
fn runtime_mount_point_stubs_are_left_out_when_asked() {
    let e = store_env();
    let upper = e.tmp.path().join("upper-stubs");
    fs::create_dir_all(upper.join("etc")).unwrap();
    fs::write(upper.join("etc/hosts"), "").unwrap();
    fs::write(upper.join("etc/hostname"), "").unwrap();
    fs::write(upper.join("etc/resolv.conf"), "nameserver 10.0.0.1\n").unwrap();
    fs::create_dir(upper.join("proc")).unwrap();
    fs::write(upper.join("made.txt"), "hi\n").unwrap();
    let skip = ["etc/hosts", "etc/hostname", "etc/resolv.conf", "proc"];
    let (_, blob) = e.images.create_layer_from_dir_skipping(None, &upper, &skip).unwrap();
    let data = e.images.content().read(&blob.digest).unwrap();
    let paths: Vec<String> = tar_entries(&data).into_iter().map(|(p, _, _)| p.trim_end_matches('/').to_string()).collect();
    assert!(paths.contains(&"made.txt".to_string()), "{paths:?}");
    // Empty stubs go; a stub path with content is a real change and stays.
    assert!(!paths.iter().any(|p| p == "etc/hosts" || p == "etc/hostname" || p == "proc"), "{paths:?}");
    assert!(paths.contains(&"etc/resolv.conf".to_string()), "{paths:?}");
}
