//! The image store: import, names, tags, removal, prune, crash safety.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use berth_errdefs::{HasKind, Kind};
use berth_image::{
    DeleteItem, Error, ImageStore, ImageUser, ImportOptions, ListFilters, PruneFilters,
};
use berth_metadata::Store;
use berth_reference::{Digest, Reference};
use common::{gzip, Tar};

struct Env {
    _tmp: tempfile::TempDir,
    db: Store,
    root: PathBuf,
    images: ImageStore,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let db = Store::open(&tmp.path().join("metadata.db")).unwrap();
    let root = tmp.path().join("image");
    let images = ImageStore::open(db.clone(), &root).unwrap();
    Env {
        _tmp: tmp,
        db,
        root,
        images,
    }
}

fn rootfs(marker: &str) -> Vec<u8> {
    Tar::new()
        .dir("bin")
        .file("bin/sh", b"#!fake shell\n")
        .dir("etc")
        .file("etc/marker", marker.as_bytes())
        .finish()
}

fn opts(reference: Option<&str>, changes: &[&str]) -> ImportOptions {
    ImportOptions {
        reference: reference.map(|r| Reference::parse_normalized(r).unwrap()),
        message: "Imported from -".into(),
        changes: changes.iter().map(|s| s.to_string()).collect(),
    }
}

fn none(_: &str) -> Option<ImageUser> {
    None
}

fn layer_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn tags(e: &Env) -> BTreeMap<String, Vec<String>> {
    e.images
        .list(&ListFilters::default())
        .unwrap()
        .into_iter()
        .map(|i| (i.id.clone(), i.familiar_tags()))
        .collect()
}

#[test]
fn import_records_a_docker_style_image() {
    let e = env();
    let tar = rootfs("one");
    let img = e
        .images
        .import(
            &gzip(&tar)[..],
            &opts(Some("test/app:1"), &[r#"CMD ["sh"]"#, "ENV A=1"]),
        )
        .unwrap();

    // The id is the digest of the exact config bytes; the diff id that of the plain tar.
    assert_eq!(
        img.id,
        Digest::sha256_of(img.raw_config.as_bytes()).to_string()
    );
    let diff_id = Digest::sha256_of(&tar).to_string();
    let cfg: serde_json::Value = serde_json::from_str(&img.raw_config).unwrap();
    assert_eq!(cfg["architecture"], berth_image::host_architecture());
    assert_eq!(cfg["os"], "linux");
    assert_eq!(cfg["comment"], "Imported from -");
    assert_eq!(
        cfg["config"],
        serde_json::json!({"Env": ["A=1"], "Cmd": ["sh"]})
    );
    assert_eq!(
        cfg["rootfs"],
        serde_json::json!({"type": "layers", "diff_ids": [diff_id]})
    );
    assert_eq!(cfg["history"][0]["comment"], "Imported from -");
    assert_eq!(cfg["history"][0]["created"], cfg["created"]);
    assert!(cfg["history"][0].get("created_by").is_none());

    assert_eq!(img.familiar_tags(), ["test/app:1"]);
    assert_eq!(img.layers.len(), 1);
    assert_eq!(
        img.layers[0].chain_id, diff_id,
        "a bottom layer's chain id is its diff id"
    );
    assert_eq!(img.size, 13 + 3);
    assert!(img.last_tag_time.is_some());
    let lower = e.images.lower_dirs(&img.id).unwrap();
    assert_eq!(
        lower,
        [e.root.join("layers").join(&diff_id[7..]).join("diff")]
    );
    assert_eq!(fs::read(lower[0].join("etc/marker")).unwrap(), b"one");
    assert_eq!(e.images.count().unwrap(), 1);

    let hist = e.images.history("test/app:1").unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].id, img.id);
    assert_eq!(hist[0].tags, ["test/app:1"]);
    assert_eq!(hist[0].comment, "Imported from -");
    assert_eq!(hist[0].created_by, "");
    assert_eq!(hist[0].size, img.size);
}

#[test]
fn names_resolve_like_docker() {
    let e = env();
    let img = e
        .images
        .import(&rootfs("x")[..], &opts(Some("busybox"), &[]))
        .unwrap();
    let hex = &img.id[7..];
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &img.id,
        hex,
        &hex[..12],
        &hex[..1],
    ] {
        assert_eq!(e.images.resolve(name).unwrap(), img.id, "{name}");
    }
    assert_eq!(
        e.images.resolve(&format!("sha256:{}", &hex[..5])).unwrap(),
        img.id
    );

    let cases: &[(&str, Kind, &str)] = &[
        ("nope", Kind::NotFound, "No such image: nope:latest"),
        ("busybox:1", Kind::NotFound, "No such image: busybox:1"),
        (
            "user/nope",
            Kind::NotFound,
            "No such image: user/nope:latest",
        ),
        (
            &"0".repeat(64),
            Kind::NotFound,
            &format!("No such image: sha256:{}", "0".repeat(64)),
        ),
        (
            "Busybox",
            Kind::InvalidArgument,
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
    ];
    for (name, kind, msg) in cases {
        let err = e.images.resolve(name).unwrap_err();
        assert_eq!(
            (err.kind(), err.to_string().as_str()),
            (*kind, *msg),
            "{name}"
        );
    }
}

#[test]
fn ambiguous_id_prefixes_resolve_to_nothing() {
    let e = env();
    // Among 17 images two ids share their first hex digit.
    let mut by_first: BTreeMap<char, Vec<String>> = BTreeMap::new();
    for i in 0..17 {
        let img = e
            .images
            .import(&rootfs(&i.to_string())[..], &opts(None, &[]))
            .unwrap();
        by_first
            .entry(img.id.chars().nth(7).unwrap())
            .or_default()
            .push(img.id);
    }
    let (_, ids) = by_first.iter().find(|(_, v)| v.len() > 1).unwrap();
    let (a, b) = (&ids[0][7..], &ids[1][7..]);
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let err = e.images.resolve(&a[..common]).unwrap_err();
    assert_eq!(err.kind(), Kind::NotFound);
    assert_eq!(e.images.resolve(&a[..common + 1]).unwrap(), ids[0]);
    assert_eq!(e.images.resolve(&b[..common + 1]).unwrap(), ids[1]);
}

#[test]
fn tag_and_rmi_follow_dockers_rules() {
    let e = env();
    let img = e
        .images
        .import(&rootfs("t")[..], &opts(Some("app:1"), &[]))
        .unwrap();
    let id = img.id.clone();
    let chain = img.layers[0].chain_id.clone();
    let short = &id[7..19];

    e.images
        .tag("app:1", &Reference::parse_normalized("other").unwrap())
        .unwrap();
    e.images
        .tag(short, &Reference::parse_normalized("app:2").unwrap())
        .unwrap();
    assert_eq!(tags(&e)[&id], ["app:1", "other:latest", "app:2"]);

    // By name with other tags left: untag only.
    assert_eq!(
        e.images.remove("other", false, &none).unwrap(),
        [DeleteItem::Untagged("other:latest".into())]
    );
    assert_eq!(tags(&e)[&id], ["app:1", "app:2"]);

    // By id with references in one repository: all removed, then the image.
    // With references in two repositories: needs force.
    e.images
        .tag(&id, &Reference::parse_normalized("other:x").unwrap())
        .unwrap();
    let err = e.images.remove(short, false, &none).unwrap_err();
    assert_eq!(err.kind(), Kind::Conflict);
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")
    );
    e.images.remove("other:x", false, &none).unwrap();

    e.images.remove("app:2", false, &none).unwrap();
    let items = e.images.remove("app:1", false, &none).unwrap();
    assert_eq!(
        items,
        [
            DeleteItem::Untagged("app:1".into()),
            DeleteItem::Deleted(id.clone()),
            DeleteItem::Deleted(chain.clone())
        ]
    );
    assert!(e.images.list(&ListFilters::default()).unwrap().is_empty());
    assert!(
        layer_dirs(&e.root).is_empty(),
        "the layer directory is gone"
    );
    assert_eq!(
        e.images
            .remove("app:1", false, &none)
            .unwrap_err()
            .to_string(),
        "No such image: app:1"
    );
}

#[test]
fn rmi_by_id_with_several_repositories_and_force_removes_everything() {
    let e = env();
    let img = e
        .images
        .import(&rootfs("f")[..], &opts(Some("a:1"), &[]))
        .unwrap();
    e.images
        .tag("a:1", &Reference::parse_normalized("b:1").unwrap())
        .unwrap();
    let items = e.images.remove(&img.id, true, &none).unwrap();
    assert_eq!(
        items,
        [
            DeleteItem::Untagged("a:1".into()),
            DeleteItem::Untagged("b:1".into()),
            DeleteItem::Deleted(img.id.clone()),
            DeleteItem::Deleted(img.layers[0].chain_id.clone()),
        ]
    );
    assert_eq!(e.images.count().unwrap(), 0);
}

#[test]
fn a_tag_moves_and_leaves_a_dangling_image() {
    let e = env();
    let old = e
        .images
        .import(&rootfs("old")[..], &opts(Some("app"), &[]))
        .unwrap();
    let new = e
        .images
        .import(&rootfs("new")[..], &opts(Some("app"), &[]))
        .unwrap();
    let t = tags(&e);
    assert!(t[&old.id].is_empty());
    assert_eq!(t[&new.id], ["app:latest"]);
    let dangling = e
        .images
        .list(&ListFilters {
            dangling: Some(true),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        dangling.iter().map(|i| &i.id).collect::<Vec<_>>(),
        [&old.id]
    );
    assert_eq!(
        e.images
            .tag("app", &Reference::parse_normalized("sha256:abc").unwrap())
            .unwrap_err()
            .to_string(),
        "refusing to create an ambiguous tag using digest algorithm as name"
    );
}

#[test]
fn images_in_use_need_force_and_keep_their_layers() {
    let e = env();
    let img = e
        .images
        .import(&rootfs("u")[..], &opts(Some("app"), &[]))
        .unwrap();
    let id = img.id.clone();
    let short = id[7..19].to_string();
    let cid = format!("{}{}", "c0ffee", "0".repeat(58));
    let stopped = |i: &str| (i == id).then(|| cid.clone());
    let running = |i: &str| {
        (i == id).then(|| ImageUser {
            container_id: cid.clone(),
            running: true,
        })
    };

    let err = e.images.remove("app", false, &stopped).unwrap_err();
    assert_eq!(err.kind(), Kind::Conflict);
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to remove repository reference \"app\" (must force) - container c0ffee000000 is using its referenced image {short}")
    );
    let err = e.images.remove(&id, false, &stopped).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container c0ffee000000")
    );
    let err = e.images.remove(&id, true, &running).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container c0ffee000000")
    );

    // Forced by name while running: untagged only, the image stays (dangling).
    assert_eq!(
        e.images.remove("app", true, &running).unwrap(),
        [DeleteItem::Untagged("app:latest".into())]
    );
    assert_eq!(e.images.resolve(&id).unwrap(), id);

    // Forced by name while a stopped container uses it: gone for users, kept for the container.
    e.images
        .tag(&id, &Reference::parse_normalized("app").unwrap())
        .unwrap();
    let items = e.images.remove("app", true, &stopped).unwrap();
    assert_eq!(
        items,
        [
            DeleteItem::Untagged("app:latest".into()),
            DeleteItem::Deleted(id.clone())
        ]
    );
    assert_eq!(e.images.resolve(&id).unwrap_err().kind(), Kind::NotFound);
    assert_eq!(e.images.count().unwrap(), 0);
    let lower = e.images.lower_dirs(&id).unwrap();
    assert!(
        lower[0].join("etc/marker").exists(),
        "the container can still start"
    );

    // Still used: gc keeps it. Unused: gc deletes it and its layer.
    assert!(e.images.gc(&stopped).unwrap().is_empty());
    assert_eq!(
        e.images.gc(&none).unwrap(),
        [id.clone(), img.layers[0].chain_id.clone()]
    );
    assert!(e.images.lower_dirs(&id).is_err());
    assert!(layer_dirs(&e.root).is_empty());
}

#[test]
fn layers_are_shared_between_images() {
    let e = env();
    let tar = rootfs("same");
    let a = e.images.import(&tar[..], &opts(Some("a"), &[])).unwrap();
    let b = e
        .images
        .import(&gzip(&tar)[..], &opts(Some("b"), &["CMD [\"x\"]"]))
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.layers[0].chain_id, b.layers[0].chain_id);
    assert_eq!(layer_dirs(&e.root).len(), 1);
    let du = e.images.disk_usage().unwrap();
    assert_eq!(du.layers_size, a.size);
    assert_eq!(du.shared_size[&a.id], a.size);

    let items = e.images.remove("a", false, &none).unwrap();
    assert_eq!(
        items,
        [
            DeleteItem::Untagged("a:latest".into()),
            DeleteItem::Deleted(a.id.clone())
        ]
    );
    assert_eq!(layer_dirs(&e.root).len(), 1, "b still uses the layer");
    assert!(e.images.lower_dirs("b").unwrap()[0]
        .join("etc/marker")
        .exists());
    let items = e.images.remove("b", false, &none).unwrap();
    assert_eq!(
        items.last(),
        Some(&DeleteItem::Deleted(b.layers[0].chain_id.clone()))
    );
    assert!(layer_dirs(&e.root).is_empty());
}

#[test]
fn list_filters_select_like_docker() {
    let e = env();
    let a = e
        .images
        .import(
            &rootfs("a")[..],
            &opts(Some("team/web:1"), &["LABEL tier=web"]),
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let b = e
        .images
        .import(&rootfs("b")[..], &opts(Some("db:5"), &["LABEL tier=db"]))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let c = e.images.import(&rootfs("c")[..], &opts(None, &[])).unwrap();
    e.images
        .tag("db:5", &Reference::parse_normalized("team/db:5").unwrap())
        .unwrap();

    let ids = |f: ListFilters| -> Vec<String> {
        e.images
            .list(&f)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    let (a, b, c) = (&a, &b, &c);
    assert_eq!(
        ids(ListFilters::default()),
        [c.id.as_str(), b.id.as_str(), a.id.as_str()],
        "newest first"
    );
    assert_eq!(
        ids(ListFilters {
            dangling: Some(true),
            ..Default::default()
        }),
        [c.id.as_str()]
    );
    assert_eq!(
        ids(ListFilters {
            dangling: Some(false),
            ..Default::default()
        }),
        [b.id.as_str(), a.id.as_str()]
    );
    assert_eq!(
        ids(ListFilters {
            labels: vec!["tier=db".into()],
            ..Default::default()
        }),
        [b.id.as_str()]
    );
    assert_eq!(
        ids(ListFilters {
            labels: vec!["tier".into()],
            ..Default::default()
        }),
        [b.id.as_str(), a.id.as_str()]
    );
    assert_eq!(
        ids(ListFilters {
            before: vec!["db:5".into()],
            ..Default::default()
        }),
        [a.id.as_str()]
    );
    assert_eq!(
        ids(ListFilters {
            since: vec!["team/web:1".into()],
            ..Default::default()
        }),
        [c.id.as_str(), b.id.as_str()]
    );
    let by_ref = e
        .images
        .list(&ListFilters {
            references: vec!["team/*".into()],
            ..Default::default()
        })
        .unwrap();
    let got: Vec<(String, Vec<String>)> = by_ref
        .into_iter()
        .map(|i| (i.id.clone(), i.familiar_tags()))
        .collect();
    assert_eq!(
        got,
        [
            (b.id.clone(), vec!["team/db:5".to_string()]),
            (a.id.clone(), vec!["team/web:1".to_string()])
        ]
    );
    let err = e
        .images
        .list(&ListFilters {
            before: vec!["missing".into()],
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "No such image: missing:latest");
}

#[test]
fn prune_deletes_unused_images() {
    let e = env();
    let tagged = e
        .images
        .import(&rootfs("tagged")[..], &opts(Some("keep"), &[]))
        .unwrap();
    let used = e
        .images
        .import(&rootfs("used")[..], &opts(Some("used"), &[]))
        .unwrap();
    let dangling = e
        .images
        .import(&rootfs("dangling")[..], &opts(None, &[]))
        .unwrap();
    let used_id = used.id.clone();
    let in_use = move |i: &str| (i == used_id).then(|| "f".repeat(64));

    let report = e.images.prune(&PruneFilters::default(), &in_use).unwrap();
    assert_eq!(
        report.items,
        [
            DeleteItem::Deleted(dangling.id.clone()),
            DeleteItem::Deleted(dangling.layers[0].chain_id.clone())
        ]
    );
    assert_eq!(report.space_reclaimed, dangling.size);

    let all = PruneFilters {
        dangling_only: false,
        ..Default::default()
    };
    let report = e.images.prune(&all, &in_use).unwrap();
    assert_eq!(
        report.items,
        [
            DeleteItem::Untagged("keep:latest".into()),
            DeleteItem::Deleted(tagged.id.clone()),
            DeleteItem::Deleted(tagged.layers[0].chain_id.clone()),
        ]
    );
    assert_eq!(tags(&e).keys().collect::<Vec<_>>(), [&used.id]);
}

/// A reader that yields `n` bytes of `data` and then fails.
struct FailAfter {
    data: io::Cursor<Vec<u8>>,
    left: usize,
}

impl Read for FailAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client went away",
            ));
        }
        let n = buf.len().min(self.left);
        let n = self.data.read(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn a_failed_import_leaves_nothing_behind() {
    let e = env();
    let big = vec![7u8; 300_000];
    let tar = Tar::new()
        .dir("d")
        .file("d/a", &big)
        .file("d/b", &big)
        .finish();
    let r = FailAfter {
        data: io::Cursor::new(tar),
        left: 400_000,
    };
    let err = e.images.import(r, &opts(Some("half"), &[])).unwrap_err();
    assert!(matches!(err, Error::Unpack(_)), "{err}");
    assert_eq!(e.images.count().unwrap(), 0);
    assert!(e.images.resolve("half").is_err());
    assert!(
        layer_dirs(&e.root).is_empty(),
        "no half layer, no temporary directory"
    );

    // Bad changes are refused before anything is read.
    let err = e
        .images
        .import(&rootfs("x")[..], &opts(None, &["RUN rm -rf /"]))
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string().as_str()),
        (Kind::InvalidArgument, "run is not a valid change command")
    );
    // A malicious tarball is refused as a whole.
    let evil = Tar::new().file("ok", b"1").file("../evil", b"2").finish();
    assert_eq!(
        e.images
            .import(&evil[..], &opts(Some("evil"), &[]))
            .unwrap_err()
            .kind(),
        Kind::InvalidArgument
    );
    assert_eq!(e.images.count().unwrap(), 0);
    assert!(layer_dirs(&e.root).is_empty());
}

#[test]
fn leftovers_of_a_crash_are_swept_at_open() {
    let e = env();
    let img = e
        .images
        .import(&rootfs("keep")[..], &opts(Some("keep"), &[]))
        .unwrap();
    let layers = e.root.join("layers");
    fs::create_dir_all(layers.join(".tmp-abc123/diff/etc")).unwrap();
    fs::create_dir_all(layers.join("a".repeat(64)).join("diff")).unwrap();
    let reopened = ImageStore::open(e.db.clone(), &e.root).unwrap();
    assert_eq!(
        layer_dirs(&e.root),
        [img.layers[0].chain_id[7..].to_string()]
    );
    assert_eq!(reopened.resolve("keep").unwrap(), img.id);
}

#[test]
fn records_survive_reopening_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("metadata.db");
    let root = tmp.path().join("image");
    let id = {
        let db = Store::open(&db_path).unwrap();
        let s = ImageStore::open(db, &root).unwrap();
        s.import(
            &rootfs("p")[..],
            &opts(Some("persist:1"), &["WORKDIR /srv"]),
        )
        .unwrap()
        .id
    };
    let db = Store::open(&db_path).unwrap();
    let s = ImageStore::open(db, &root).unwrap();
    let img = s.get("persist:1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.run_config().working_dir, "/srv");
    assert!(img.lower_dirs()[0].join("etc/marker").exists());
}

#[test]
fn concurrent_imports_and_reads_stay_consistent() {
    let e = env();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let images = &e.images;
            scope.spawn(move || {
                for i in 0..5 {
                    let tar = rootfs(&format!("{t}-{i}"));
                    images.import(&tar[..], &opts(Some("race"), &[])).unwrap();
                }
            });
        }
        let images = &e.images;
        scope.spawn(move || {
            for _ in 0..50 {
                for img in images.list(&ListFilters::default()).unwrap() {
                    assert!(img.familiar_tags().len() <= 1);
                }
            }
        });
    });
    let all = e.images.list(&ListFilters::default()).unwrap();
    assert_eq!(all.len(), 20);
    assert_eq!(
        all.iter().filter(|i| !i.repo_tags.is_empty()).count(),
        1,
        "exactly one image holds the tag"
    );
    assert_eq!(layer_dirs(&e.root).len(), 20);
}

#[test]
fn contains_answers_for_present_images_only() {
    let e = env();
    let img = e.images.import(&gzip(&rootfs("c"))[..], &opts(Some("c:1"), &[])).unwrap();
    assert!(e.images.contains(&img.id));
    assert!(!e.images.contains(&format!("sha256:{}", "0".repeat(64))));
    assert!(!e.images.contains("c:1"), "names are not ids");
    let r = |s: &str| berth_reference::Reference::parse_normalized(s).unwrap();
    assert_eq!(e.images.reference_target(&r("c:1")), Some(img.id.clone()));
    assert_eq!(e.images.reference_target(&r("c")), None, "c means c:latest");
    assert_eq!(e.images.raw_config_of(&img.id), Some(img.raw_config.clone()));
    e.images.remove("c:1", false, &none).unwrap();
    assert!(!e.images.contains(&img.id));
    assert_eq!(e.images.reference_target(&r("c:1")), None);
    assert_eq!(e.images.raw_config_of(&img.id), None);
}
