//! The registry client against a fake registry on 127.0.0.1 (plain HTTP: loopback is
//! insecure, so HTTPS is tried first and HTTP answers), and against Debian's
//! `docker-registry` when it is installed.

mod fake;

use std::io::Write as _;
use std::sync::Arc;

use berth_api::JsonMessage;
use berth_distribution::{Client, Credentials, Options};
use berth_errdefs::{HasKind, Kind};
use berth_image::ImageStore;
use berth_reference::Reference;
use fake::{sha, Auth, Lie, Server};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const OCI_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A tar with the given files.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zstd_of(b: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(b, 3).unwrap()
}

/// Pseudo-random bytes (incompressible), deterministic.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// An image as a registry holds it.
struct TestImage {
    /// (compressed blob, media type, uncompressed tar)
    layers: Vec<(Vec<u8>, &'static str, Vec<u8>)>,
    config: Vec<u8>,
}

impl TestImage {
    fn new(layers: Vec<(Vec<u8>, &'static str, Vec<u8>)>, tag: &str) -> TestImage {
        let diff_ids: Vec<String> = layers.iter().map(|(_, _, t)| sha(t)).collect();
        let config = serde_json::json!({
            "architecture": host_arch(),
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["/bin/sh"], "Labels": {"test": tag}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": layers.iter().map(|_| serde_json::json!({"created_by": "test"})).collect::<Vec<_>>(),
        });
        TestImage { layers, config: serde_json::to_vec(&config).unwrap() }
    }

    /// The three layers of the pull test: gzip, zstd, plain tar.
    fn three(tag: &str) -> TestImage {
        let t1 = tar_of(&[("etc/one", b"first layer\n"), ("bin/tool", b"#!/bin/sh\n")]);
        let t2 = tar_of(&[("etc/two", b"second layer, zstd\n")]);
        let t3 = tar_of(&[("etc/three", tag.as_bytes())]);
        TestImage::new(vec![(gzip(&t1), DOCKER_GZIP, t1), (zstd_of(&t2), OCI_ZSTD, t2), (t3.clone(), OCI_TAR, t3)], tag)
    }

    fn id(&self) -> String {
        sha(&self.config)
    }

    fn manifest(&self, media_type: &str) -> Vec<u8> {
        let config_mt = if media_type == OCI_MANIFEST {
            "application/vnd.oci.image.config.v1+json"
        } else {
            "application/vnd.docker.container.image.v1+json"
        };
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_mt, "size": self.config.len(), "digest": sha(&self.config)},
            "layers": self.layers.iter().map(|(b, mt, _)| serde_json::json!({"mediaType": mt, "size": b.len(), "digest": sha(b)})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    /// Publish blobs and manifest under `repo:tag`; with `index`, behind an OCI index that
    /// also lists another platform. Returns the digest the tag resolves to.
    fn publish(&self, srv: &Server, repo: &str, tag: &str, index: bool) -> String {
        for (b, _, _) in &self.layers {
            srv.put_blob(repo, b);
        }
        srv.put_blob(repo, &self.config);
        let m = self.manifest(OCI_MANIFEST);
        if !index {
            return srv.put_manifest(repo, tag, OCI_MANIFEST, &m);
        }
        let md = srv.put_manifest(repo, &sha(&m), OCI_MANIFEST, &m);
        let idx = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "size": 100, "digest": format!("sha256:{}", "0".repeat(64)),
                 "platform": {"architecture": "s390x", "os": "linux"}},
                {"mediaType": OCI_MANIFEST, "size": m.len(), "digest": md,
                 "platform": {"architecture": host_arch(), "os": "linux"}},
                {"mediaType": OCI_MANIFEST, "size": 100, "digest": format!("sha256:{}", "1".repeat(64)),
                 "platform": {"architecture": "unknown", "os": "unknown"}},
            ]
        });
        srv.put_manifest(repo, tag, OCI_INDEX, &serde_json::to_vec(&idx).unwrap())
    }
}

/// A throwaway image store.
struct TestStore {
    store: Arc<ImageStore>,
    _dir: tempfile::TempDir,
}

fn new_store() -> TestStore {
    let dir = tempfile::Builder::new().prefix("berth-dist-test-").tempdir().unwrap();
    let meta = berth_metadata::Store::open(&dir.path().join("metadata.db")).unwrap();
    let store = ImageStore::open(meta, &dir.path().join("image")).unwrap();
    TestStore { store: Arc::new(store), _dir: dir }
}

/// A client whose retries wait milliseconds, not Docker's seconds.
fn client() -> Client {
    Client::new(Options::default()).unwrap().with_retry_backoff(std::time::Duration::from_millis(20))
}

/// A progress channel and the task collecting it.
fn progress() -> (berth_distribution::Progress, tokio::task::JoinHandle<Vec<JsonMessage>>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let h = tokio::spawn(async move {
        let mut v = Vec::new();
        while let Some(m) = rx.recv().await {
            v.push(m);
        }
        v
    });
    (tx, h)
}

fn statuses(msgs: &[JsonMessage]) -> Vec<String> {
    msgs.iter()
        .map(|m| match &m.id {
            Some(id) => format!("{id}: {}", m.status.clone().unwrap_or_default()),
            None => m.status.clone().unwrap_or_default(),
        })
        .collect()
}

fn reference(addr: &str, rest: &str) -> Reference {
    Reference::parse_normalized(&format!("{addr}/{rest}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_three_layers_gzip_zstd_tar_through_an_index() {
    let srv = Server::start(Auth::None).await;
    let img = TestImage::three("pull");
    let top = img.publish(&srv, "team/app", "v1", true);
    let st = new_store();
    let c = client();
    let r = reference(&srv.addr, "team/app:v1");

    let (tx, h) = progress();
    let res = c.pull(&r, None, None, st.store.clone(), tx).await.unwrap();
    let msgs = h.await.unwrap();
    let lines = statuses(&msgs);
    assert_eq!(res.image_id, img.id());
    assert_eq!(res.digest.to_string(), top);
    assert!(!res.up_to_date);
    assert_eq!(res.status, format!("Status: Downloaded newer image for {}/team/app:v1", srv.addr));
    assert_eq!(lines[0], "v1: Pulling from team/app");
    assert_eq!(lines[lines.len() - 2], format!("Digest: {top}"));
    assert_eq!(lines[lines.len() - 1], res.status);
    for (b, _, _) in &img.layers {
        let id = &sha(b)[7..19];
        for want in ["Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"] {
            assert!(lines.contains(&format!("{id}: {want}")), "no {want:?} for {id} in {lines:#?}");
        }
    }
    let downloading = msgs.iter().find(|m| m.status.as_deref() == Some("Downloading")).unwrap();
    assert!(downloading.progress.as_deref().unwrap_or("").starts_with('['), "{downloading:?}");
    assert!(downloading.progress_detail.as_ref().unwrap().total.is_some());

    // The image is there, tagged, with its repo digest, and its layers are unpacked.
    let image = st.store.get(&r.to_string()).unwrap();
    assert_eq!(image.id, img.id());
    assert_eq!(image.repo_digests.iter().map(|d| d.to_string()).collect::<Vec<_>>(), vec![format!("{}/team/app@{top}", srv.addr)]);
    let dirs = st.store.lower_dirs(&image.id).unwrap();
    let all: Vec<String> = dirs.iter().flat_map(|d| walk(d)).collect();
    for f in ["etc/one", "etc/two", "etc/three", "bin/tool"] {
        assert!(all.iter().any(|p| p.ends_with(f)), "{f} missing from {all:?}");
    }
    // The blobs are kept for push and save.
    for (b, mt, t) in &img.layers {
        let blob = st.store.blob_of_layer(&sha(t)).expect("blob recorded");
        assert_eq!(blob.digest.to_string(), sha(b));
        assert_eq!(&blob.media_type, mt);
    }
    // The s390x entry was never fetched.
    assert!(!srv.log().iter().any(|l| l.contains(&"0".repeat(64))), "{:?}", srv.log());

    // Again: nothing downloaded, "up to date".
    srv.clear_log();
    let (tx, h) = progress();
    let res = c.pull(&r, None, None, st.store.clone(), tx).await.unwrap();
    let lines = statuses(&h.await.unwrap());
    assert!(res.up_to_date);
    assert_eq!(lines.last().unwrap(), &format!("Status: Image is up to date for {}/team/app:v1", srv.addr));
    assert_eq!(lines.iter().filter(|l| l.ends_with(": Already exists")).count(), 3, "{lines:#?}");
    assert!(!srv.log().iter().any(|l| img.layers.iter().any(|(b, _, _)| l.contains(&sha(b)))), "{:?}", srv.log());

    // By digest: verified, tagged by digest only.
    let rd = reference(&srv.addr, &format!("team/app@{top}"));
    let (tx, h) = progress();
    let res = c.pull(&rd, None, None, st.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    assert_eq!(res.image_id, img.id());
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if p.is_dir() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

#[tokio::test]
async fn pull_of_an_unknown_tag_is_not_found_with_dockers_words() {
    let srv = Server::start(Auth::None).await;
    let st = new_store();
    let r = reference(&srv.addr, "x:nope");
    let (tx, h) = progress();
    let e = client().pull(&r, None, None, st.store.clone(), tx).await.unwrap_err();
    assert_eq!(h.await.unwrap(), vec![], "a pull that fails before the manifest sends nothing");
    assert_eq!(e.kind(), Kind::NotFound);
    assert_eq!(e.to_string(), format!("manifest for {}/x:nope not found: manifest unknown: manifest unknown", srv.addr));
}

#[tokio::test]
async fn pull_of_another_platform_than_the_index_offers_is_not_found() {
    let srv = Server::start(Auth::None).await;
    TestImage::three("plat").publish(&srv, "p", "latest", true);
    let st = new_store();
    let (tx, h) = progress();
    let e = client()
        .pull(&reference(&srv.addr, "p"), None, Some("linux/mips64le"), st.store.clone(), tx)
        .await
        .unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::NotFound);
    assert_eq!(e.to_string(), "no matching manifest for linux/mips64le in the manifest list entries");
}

#[tokio::test]
async fn digest_mismatch_from_a_lying_registry_fails_and_stores_nothing() {
    let srv = Server::start(Auth::None).await;
    let img = TestImage::three("liar");
    img.publish(&srv, "liar", "latest", false);
    let bad = sha(&img.layers[1].0);
    srv.lie(Lie::WrongBytes(bad.clone()));
    let st = new_store();
    let (tx, h) = progress();
    let e = client().pull(&reference(&srv.addr, "liar"), None, None, st.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert!(e.to_string().contains("digest") || e.to_string().contains("verif"), "{e}");
    let d = berth_reference::Digest::parse(&bad).unwrap();
    assert!(!st.store.content().exists(&d), "a blob that failed verification was kept");
    assert!(st.store.get(&reference(&srv.addr, "liar:latest").to_string()).is_err(), "image created");
    assert!(st.store.get(&img.id()).is_err(), "image created");
}

#[tokio::test]
async fn truncated_blob_fails_and_stores_nothing() {
    let srv = Server::start(Auth::None).await;
    let img = TestImage::three("short");
    img.publish(&srv, "short", "latest", false);
    let bad = sha(&img.layers[0].0);
    srv.lie(Lie::Truncate(bad.clone()));
    let st = new_store();
    let (tx, h) = progress();
    let e = client().pull(&reference(&srv.addr, "short"), None, None, st.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert!(e.to_string().contains("unexpected EOF"), "{e}");
    // A body cut short is retried, 5 tries in all (Docker's), then the pull gives up.
    let gets = srv.log().iter().filter(|l| l.starts_with("GET ") && l.contains(&bad)).count();
    assert_eq!(gets, 5, "{:?}", srv.log());
    assert!(!st.store.content().exists(&berth_reference::Digest::parse(&bad).unwrap()));
    assert!(st.store.get(&img.id()).is_err(), "image created");
}

#[tokio::test]
async fn a_tampered_manifest_fails_a_pull_by_digest() {
    let srv = Server::start(Auth::None).await;
    let img = TestImage::three("tamper");
    img.publish(&srv, "t", "latest", false);
    // Serve the manifest of another image under this digest.
    let other = TestImage::three("other").manifest(OCI_MANIFEST);
    let claimed = sha(&img.manifest(OCI_MANIFEST));
    srv.fake.state.lock().unwrap().manifests.insert(("t".into(), claimed.clone()), (OCI_MANIFEST.into(), other.into()));
    let st = new_store();
    let (tx, h) = progress();
    let e = client()
        .pull(&reference(&srv.addr, &format!("t@{claimed}")), None, None, st.store.clone(), tx)
        .await
        .unwrap_err();
    h.await.unwrap();
    assert_eq!(e.to_string(), format!("manifest verification failed for digest {claimed}"));
}

#[tokio::test]
async fn bearer_token_flow_with_a_fake_token_server() {
    let srv = Server::start(Auth::Bearer { user: "alice".into(), pass: "s3cret".into() }).await;
    let img = TestImage::three("bearer");
    img.publish(&srv, "priv/app", "latest", false);
    let c = client();
    let r = reference(&srv.addr, "priv/app");
    let st = new_store();

    // Anonymous: the token server hands out a token without access -> pull access denied.
    let (tx, h) = progress();
    let e = c.pull(&r, None, None, st.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::PermissionDenied);
    assert_eq!(
        e.to_string(),
        format!("pull access denied for {}/priv/app, repository does not exist or may require 'docker login': unauthorized: authentication required", srv.addr)
    );

    // Wrong password: the token server's words.
    let (tx, h) = progress();
    let e = c.pull(&r, Some(&Credentials::basic("alice", "nope")), None, st.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::PermissionDenied);
    assert_eq!(e.to_string(), "unauthorized: incorrect username or password");

    // Right password: one token for the whole pull (cached per scope), with the right scope.
    let before = srv.tokens_issued();
    let creds = Credentials::basic("alice", "s3cret");
    let (tx, h) = progress();
    let res = c.pull(&r, Some(&creds), None, st.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    assert_eq!(res.image_id, img.id());
    assert_eq!(srv.tokens_issued() - before, 1, "{:?}", srv.log());
    assert!(srv.log().iter().any(|l| l.contains("GET /token?service=fake&scope=repository:priv/app:pull&account=alice")), "{:?}", srv.log());

    // Login: the refresh token comes back as the identity token, which then works alone.
    let identity = c.login(&srv.addr, &creds).await.unwrap();
    assert_eq!(identity.as_deref(), Some("refresh-me"));
    let e = c.login(&srv.addr, &Credentials::basic("alice", "bad")).await.unwrap_err();
    assert_eq!(e.kind(), Kind::PermissionDenied);
}

#[tokio::test]
async fn basic_auth_pull_and_login() {
    let srv = Server::start(Auth::Basic { user: "bob".into(), pass: "pw".into() }).await;
    let img = TestImage::three("basic");
    img.publish(&srv, "b", "latest", false);
    let c = client();
    let st = new_store();
    let creds = Credentials::basic("bob", "pw");
    let (tx, h) = progress();
    let res = c.pull(&reference(&srv.addr, "b"), Some(&creds), None, st.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    assert_eq!(res.image_id, img.id());
    assert_eq!(c.login(&srv.addr, &creds).await.unwrap(), None);
    let e = c.login(&format!("http://{}/", srv.addr), &Credentials::basic("bob", "wrong")).await.unwrap_err();
    assert_eq!(e.kind(), Kind::PermissionDenied);
    assert_eq!(e.to_string(), format!("login attempt to http://{}/v2/ failed with status: 401 Unauthorized", srv.addr));
    // Without credentials the registry refuses.
    let (tx, h) = progress();
    let empty = new_store();
    let e = c.pull(&reference(&srv.addr, "b"), None, None, empty.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::PermissionDenied, "{e}");
}

#[tokio::test]
async fn unreachable_registry_is_unavailable() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let st = new_store();
    let (tx, h) = progress();
    let e = client().pull(&reference(&addr, "x"), None, None, st.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::Unavailable);
    assert!(e.to_string().starts_with(&format!("Get \"http://{addr}/v2/\": ")), "{e}");
}

/// Pull from one registry, push to another (chunked upload for a big layer, mount for a
/// second repository), pull the pushed image into a fresh store: same image id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trip_into_a_second_store() {
    let src = Server::start(Auth::None).await;
    let dst = Server::start(Auth::Bearer { user: "u".into(), pass: "p".into() }).await;
    let big = tar_of(&[("big.bin", &noise(11 << 20, 7))]);
    let small = tar_of(&[("etc/small", b"small\n")]);
    let img = TestImage::new(vec![(gzip(&small), DOCKER_GZIP, small), (gzip(&big), DOCKER_GZIP, big)], "roundtrip");
    assert!(img.layers[1].0.len() > 10 << 20, "the big layer must need a chunked upload");
    img.publish(&src, "orig", "latest", false);

    let c = client();
    let a = new_store();
    let (tx, h) = progress();
    c.pull(&reference(&src.addr, "orig"), None, None, a.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    let target = reference(&dst.addr, "pushed/app:v2");
    a.store.tag(&img.id(), &target).unwrap();

    let creds = Credentials::basic("u", "p");
    let (tx, h) = progress();
    let res = c.push(&target, Some(&creds), a.store.clone(), tx).await.unwrap();
    let msgs = h.await.unwrap();
    let lines = statuses(&msgs);
    assert_eq!(lines[0], format!("The push refers to repository [{}/pushed/app]", dst.addr));
    assert_eq!(res.tags.len(), 1);
    let pushed = &res.tags[0];
    assert_eq!(pushed.tag, "v2");
    assert_eq!(lines.iter().filter(|l| l.ends_with(": Pushed")).count(), 2, "{lines:#?}");
    for (_, _, t) in &img.layers {
        assert!(lines.contains(&format!("{}: Preparing", &sha(t)[7..19])), "{lines:#?}");
    }
    assert!(lines.iter().any(|l| l.ends_with(": Pushing")), "{lines:#?}");
    assert!(lines.contains(&format!("v2: digest: {} size: {}", pushed.digest, pushed.size)), "{lines:#?}");
    let aux = msgs.iter().find_map(|m| m.aux.clone()).expect("aux message");
    assert_eq!(aux, serde_json::json!({"Tag": "v2", "Digest": pushed.digest.to_string(), "Size": pushed.size}));
    let log = dst.log();
    assert!(log.iter().filter(|l| l.starts_with("PATCH ")).count() >= 1, "big blob not chunked: {log:?}");
    for (b, _, _) in &img.layers {
        assert!(dst.has_blob(&sha(b)));
    }
    // The repo digest was recorded.
    let image = a.store.get(&img.id()).unwrap();
    assert!(image.repo_digests.iter().any(|d| d.to_string() == format!("{}/pushed/app@{}", dst.addr, pushed.digest)), "{:?}", image.repo_digests);

    // Same image pushed again: every layer exists, same digest.
    let (tx, h) = progress();
    let again = c.push(&target, Some(&creds), a.store.clone(), tx).await.unwrap();
    let lines = statuses(&h.await.unwrap());
    assert_eq!(again.tags[0].digest, pushed.digest);
    assert_eq!(lines.iter().filter(|l| l.ends_with(": Layer already exists")).count(), 2, "{lines:#?}");

    // To another repository of the same registry: mounted, not uploaded.
    let other = reference(&dst.addr, "other/app:v2");
    a.store.tag(&img.id(), &other).unwrap();
    dst.clear_log();
    let (tx, h) = progress();
    let res2 = c.push(&other, Some(&creds), a.store.clone(), tx).await.unwrap();
    let lines = statuses(&h.await.unwrap());
    assert_eq!(res2.tags[0].digest, pushed.digest);
    assert_eq!(lines.iter().filter(|l| l.ends_with(": Mounted from pushed/app")).count(), 2, "{lines:#?}");
    assert!(!dst.log().iter().any(|l| l.starts_with("PATCH ") || l.starts_with("PUT /v2/other/app/blobs/uploads")), "{:?}", dst.log());

    // Pull into a second store: the same image.
    let b = new_store();
    let (tx, h) = progress();
    let back = c.pull(&target, Some(&creds), None, b.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    assert_eq!(back.image_id, img.id());
    assert_eq!(back.digest, pushed.digest);
    assert_eq!(b.store.get(&target.to_string()).unwrap().id, img.id());
}

#[tokio::test]
async fn push_of_a_missing_image_says_so() {
    let srv = Server::start(Auth::None).await;
    let st = new_store();
    let (tx, h) = progress();
    let e = client().push(&reference(&srv.addr, "nothing:here"), None, st.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::NotFound);
    assert_eq!(e.to_string(), format!("An image does not exist locally with the tag: {}/nothing:here", srv.addr));
}

/// The CNCF distribution server from Debian's `docker-registry`, on a free port with a
/// temporary storage root.
struct RealRegistry {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn real_registry() -> Option<RealRegistry> {
    real_registry_on("127.0.0.1".parse().unwrap(), false).await
}

/// With `tls`, a self-signed certificate for the address (made with openssl).
async fn real_registry_on(ip: std::net::IpAddr, tls: bool) -> Option<RealRegistry> {
    let bin = std::path::Path::new("/usr/bin/docker-registry");
    if !bin.exists() {
        eprintln!("SKIPPED: /usr/bin/docker-registry is not installed (apt-get install docker-registry)");
        return None;
    }
    let dir = tempfile::Builder::new().prefix("berth-dist-registry-").tempdir().unwrap();
    let l = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let mut tls_cfg = String::new();
    if tls {
        let (crt, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let ok = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=berth-test"])
            .arg("-addext")
            .arg(format!("subjectAltName=IP:{ip}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("SKIPPED: openssl could not make a test certificate");
            return None;
        }
        tls_cfg = format!("  tls:\n    certificate: {}\n    key: {}\n", crt.display(), key.display());
    }
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{tls_cfg}",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new(bin)
        .arg("serve")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reg = RealRegistry { child, addr: addr.clone(), _dir: dir };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            return Some(reg);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("docker-registry did not listen on {addr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_the_cncf_distribution_registry() {
    let Some(reg) = real_registry().await else { return };
    let src = Server::start(Auth::None).await;
    let big = tar_of(&[("big.bin", &noise(11 << 20, 3))]);
    let img = TestImage::three("interop");
    let mut layers = img.layers;
    layers.push((gzip(&big), DOCKER_GZIP, big));
    let img = TestImage::new(layers, "interop");
    img.publish(&src, "src", "latest", true);
    let c = client();
    let a = new_store();
    let (tx, h) = progress();
    c.pull(&reference(&src.addr, "src"), None, None, a.store.clone(), tx).await.unwrap();
    h.await.unwrap();

    let target = reference(&reg.addr, "interop/app:1.0");
    a.store.tag(&img.id(), &target).unwrap();
    let (tx, h) = progress();
    let pushed = c.push(&target, None, a.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    // Mount into a second repository of the real registry.
    let second = reference(&reg.addr, "interop/copy:1.0");
    a.store.tag(&img.id(), &second).unwrap();
    let (tx, h) = progress();
    c.push(&second, None, a.store.clone(), tx).await.unwrap();
    let lines = statuses(&h.await.unwrap());
    assert_eq!(lines.iter().filter(|l| l.contains(": Mounted from interop/app")).count(), 4, "{lines:#?}");

    for r in [&target, &second] {
        let b = new_store();
        let (tx, h) = progress();
        let back = c.pull(r, None, None, b.store.clone(), tx).await.unwrap();
        h.await.unwrap();
        assert_eq!(back.image_id, img.id());
        assert_eq!(back.digest, pushed.tags[0].digest);
    }
    let (tx, h) = progress();
    let empty = new_store();
    let e = c.pull(&reference(&reg.addr, "interop/app:nope"), None, None, empty.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::NotFound);
    assert!(e.to_string().starts_with(&format!("manifest for {}/interop/app:nope not found: manifest unknown: ", reg.addr)), "{e}");
}

/// This host's address on its default route (no packet is sent: a UDP socket only picks
/// its source address when connected).
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A registry with a self-signed certificate: refused (certificate unknown) unless listed as
/// insecure, by host:port or by CIDR; then spoken to over HTTPS without verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_https_registry_needs_an_insecure_entry() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("SKIPPED: no non-loopback address to serve a secure registry on");
        return;
    };
    let Some(reg) = real_registry_on(ip, true).await else { return };
    let src = Server::start(Auth::None).await;
    let img = TestImage::three("tls");
    img.publish(&src, "src", "latest", false);
    let a = new_store();
    let (tx, h) = progress();
    client().pull(&reference(&src.addr, "src"), None, None, a.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    let target = reference(&reg.addr, "tls/app:1");
    a.store.tag(&img.id(), &target).unwrap();

    let (tx, h) = progress();
    let e = client().push(&target, None, a.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::Unavailable, "{e}");
    assert!(e.to_string().starts_with(&format!("Get \"https://{}/v2/\": ", reg.addr)), "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    for entry in [reg.addr.clone(), format!("{ip}/32")] {
        let c = Client::new(Options { insecure_registries: vec![entry.clone()], ..Options::default() }).unwrap();
        let (tx, h) = progress();
        let pushed = c.push(&target, None, a.store.clone(), tx).await.unwrap();
        h.await.unwrap();
        let b = new_store();
        let (tx, h) = progress();
        let back = c.pull(&target, None, None, b.store.clone(), tx).await.unwrap();
        h.await.unwrap();
        assert_eq!(back.image_id, img.id(), "{entry}");
        assert_eq!(back.digest, pushed.tags[0].digest, "{entry}");
    }
}

/// Registries redirect blob downloads to storage; our credentials stay with the registry.
#[tokio::test]
async fn blob_redirects_are_followed_without_credentials() {
    let srv = Server::start(Auth::Bearer { user: "u".into(), pass: "p".into() }).await;
    let storage = Server::start(Auth::None).await;
    let img = TestImage::three("redirect");
    img.publish(&srv, "r", "latest", false);
    let port = storage.addr.rsplit(':').next().unwrap();
    for (b, _, _) in &img.layers {
        storage.put_blob("r", b);
        srv.lie(Lie::Redirect(sha(b), format!("http://localhost:{port}")));
    }
    let st = new_store();
    let (tx, h) = progress();
    let res = client()
        .pull(&reference(&srv.addr, "r"), Some(&Credentials::basic("u", "p")), None, st.store.clone(), tx)
        .await
        .unwrap();
    h.await.unwrap();
    assert_eq!(res.image_id, img.id());
    let log = storage.log();
    assert_eq!(log.iter().filter(|l| l.starts_with("GET /v2/r/blobs/")).count(), 3, "{log:?}");
    assert!(!log.iter().any(|l| l.contains("[auth]")), "credentials leaked to storage: {log:?}");
}

#[tokio::test]
async fn downloads_beyond_the_limit_wait() {
    let srv = Server::start(Auth::None).await;
    let img = TestImage::three("wait");
    img.publish(&srv, "w", "latest", false);
    let c = Client::new(Options { max_concurrent_downloads: 1, ..Options::default() }).unwrap();
    let st = new_store();
    let (tx, h) = progress();
    c.pull(&reference(&srv.addr, "w"), None, None, st.store.clone(), tx).await.unwrap();
    let lines = statuses(&h.await.unwrap());
    assert_eq!(lines.iter().filter(|l| l.ends_with(": Waiting")).count(), 2, "{lines:#?}");
}

/// berth-registry in process, with its token auth (htpasswd users).
struct OurRegistry {
    addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for OurRegistry {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn our_registry(user: &str, pass: &str) -> OurRegistry {
    let dir = tempfile::Builder::new().prefix("berth-dist-ours-").tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("{user}:{}\n", bcrypt::hash(pass, 4).unwrap())).unwrap();
    let toml = format!(
        "root = \"{}\"\n[auth.token]\nhtpasswd = \"{}\"\n",
        dir.path().join("root").display(),
        htpasswd.display()
    );
    let config = berth_registry::Config::from_toml(&toml, &dir.path().join("config.toml")).unwrap();
    let server = berth_registry::Server::new(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(listener, async {
        let _ = rx.await;
    }));
    OurRegistry { addr, stop: Some(tx), _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_berth_registry_and_its_token_auth() {
    let reg = our_registry("carol", "pw").await;
    let src = Server::start(Auth::None).await;
    let big = tar_of(&[("big.bin", &noise(11 << 20, 5))]);
    let mut layers = TestImage::three("ours").layers;
    layers.push((gzip(&big), DOCKER_GZIP, big));
    let img = TestImage::new(layers, "ours");
    img.publish(&src, "src", "latest", false);
    let c = client();
    let a = new_store();
    let (tx, h) = progress();
    c.pull(&reference(&src.addr, "src"), None, None, a.store.clone(), tx).await.unwrap();
    h.await.unwrap();

    let creds = Credentials::basic("carol", "pw");
    assert_eq!(c.login(&reg.addr, &creds).await.map(|_| ()).map_err(|e| e.to_string()), Ok(()));
    assert_eq!(c.login(&reg.addr, &Credentials::basic("carol", "nope")).await.unwrap_err().kind(), Kind::PermissionDenied);

    let target = reference(&reg.addr, "ours/app:1");
    a.store.tag(&img.id(), &target).unwrap();
    let (tx, h) = progress();
    let e = c.push(&target, None, a.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::PermissionDenied, "{e}");

    let (tx, h) = progress();
    let pushed = c.push(&target, Some(&creds), a.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    let second = reference(&reg.addr, "ours/copy:1");
    a.store.tag(&img.id(), &second).unwrap();
    let (tx, h) = progress();
    c.push(&second, Some(&creds), a.store.clone(), tx).await.unwrap();
    let lines = statuses(&h.await.unwrap());
    assert_eq!(lines.iter().filter(|l| l.contains(": Mounted from ours/app")).count(), 4, "{lines:#?}");

    for r in [&target, &second] {
        let b = new_store();
        let (tx, h) = progress();
        let back = c.pull(r, Some(&creds), None, b.store.clone(), tx).await.unwrap();
        h.await.unwrap();
        assert_eq!(back.image_id, img.id());
        assert_eq!(back.digest, pushed.tags[0].digest);
    }
}

// ---- Resumable uploads and retried downloads ----

/// An image with one uncompressed layer bigger than one upload chunk (16 MiB), pulled from
/// `src` into a new store and tagged `dst/<repo>:v1`. Returns (image, store, target).
async fn big_image_in_a_store(src: &Server, dst: &Server, repo: &str) -> (TestImage, TestStore, Reference) {
    let big = tar_of(&[("big.bin", &noise(17 << 20, 11))]);
    let img = TestImage::new(vec![(big.clone(), OCI_TAR, big)], repo);
    img.publish(src, "orig", "latest", false);
    let a = new_store();
    let (tx, h) = progress();
    client().pull(&reference(&src.addr, "orig"), None, None, a.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    let target = reference(&dst.addr, &format!("{repo}:v1"));
    a.store.tag(&img.id(), &target).unwrap();
    (img, a, target)
}

/// Push `target` from `a`, then pull it back into a new store and check the layer blob
/// came back byte for byte.
async fn push_and_pull_back(img: &TestImage, a: &TestStore, target: &Reference) -> Vec<String> {
    let c = client();
    let (tx, h) = progress();
    c.push(target, None, a.store.clone(), tx).await.unwrap();
    let lines = statuses(&h.await.unwrap());
    assert_eq!(lines.iter().filter(|l| l.ends_with(": Pushed")).count(), 1, "{lines:#?}");
    let b = new_store();
    let (tx, h) = progress();
    let back = c.pull(target, None, None, b.store.clone(), tx).await.unwrap();
    h.await.unwrap();
    assert_eq!(back.image_id, img.id());
    let d = berth_reference::Digest::parse(&sha(&img.layers[0].0)).unwrap();
    let got = std::fs::read(b.store.content().path(&d)).unwrap();
    assert!(got == img.layers[0].0, "the blob pulled back differs ({} bytes)", got.len());
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_resumes_after_a_dropped_patch_and_a_416() {
    let src = Server::start(Auth::None).await;
    let dst = Server::start(Auth::None).await;
    let (img, a, target) = big_image_in_a_store(&src, &dst, "resume/app").await;
    // The first PATCH is refused with 416 (resync at 0), the next one loses its connection
    // after 3 MiB the registry keeps (resync at 3 MiB).
    dst.lie(Lie::Patch416Once);
    dst.lie(Lie::DropPatchAfter(3 << 20));
    push_and_pull_back(&img, &a, &target).await;
    let log = dst.log();
    let uploads: Vec<&String> = log.iter().filter(|l| l.contains("/blobs/uploads/")).collect();
    assert_eq!(uploads.iter().filter(|l| l.starts_with("POST ")).count(), 2, "layer and config only: {uploads:#?}");
    assert_eq!(uploads.iter().filter(|l| l.starts_with("GET ")).count(), 2, "two resyncs: {uploads:#?}");
    // 416, dropped after 3 MiB, then the rest (one chunk) from 3 MiB.
    assert_eq!(uploads.iter().filter(|l| l.starts_with("PATCH ")).count(), 3, "{uploads:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_starts_again_when_the_registry_forgot_the_upload() {
    let src = Server::start(Auth::None).await;
    let dst = Server::start(Auth::None).await;
    let (img, a, target) = big_image_in_a_store(&src, &dst, "forgot/app").await;
    dst.lie(Lie::DropPatchAndForget(1 << 20));
    push_and_pull_back(&img, &a, &target).await;
    let log = dst.log();
    // Layer: POST, dropped PATCH, GET -> 404, POST again; config: POST.
    assert_eq!(log.iter().filter(|l| l.starts_with("POST ") && l.contains("/blobs/uploads/")).count(), 3, "{log:#?}");
    assert_eq!(log.iter().filter(|l| l.starts_with("GET ") && l.contains("/blobs/uploads/")).count(), 1, "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_gives_up_after_three_resumes() {
    let src = Server::start(Auth::None).await;
    let dst = Server::start(Auth::None).await;
    let (_img, a, target) = big_image_in_a_store(&src, &dst, "flaky/app").await;
    for _ in 0..4 {
        dst.lie(Lie::DropPatchAfter(1 << 20));
    }
    let (tx, h) = progress();
    let e = client().push(&target, None, a.store.clone(), tx).await.unwrap_err();
    h.await.unwrap();
    assert_eq!(e.kind(), Kind::Unavailable, "{e}");
    let log = dst.log();
    assert_eq!(log.iter().filter(|l| l.starts_with("GET ") && l.contains("/blobs/uploads/")).count(), 3, "{log:#?}");
    assert!(!log.iter().any(|l| l.starts_with("PUT ") && l.contains("digest=")), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_survives_a_503_and_a_truncated_body() {
    let srv = Server::start(Auth::None).await;
    let img = TestImage::three("flaky");
    img.publish(&srv, "flaky", "latest", false);
    let (d0, d1) = (sha(&img.layers[0].0), sha(&img.layers[1].0));
    srv.lie(Lie::Unavailable503Once(d0.clone()));
    srv.lie(Lie::TruncateOnce(d1.clone()));
    let st = new_store();
    let (tx, h) = progress();
    let res = client().pull(&reference(&srv.addr, "flaky"), None, None, st.store.clone(), tx).await.unwrap();
    let lines = statuses(&h.await.unwrap());
    assert_eq!(res.image_id, img.id());
    for d in [&d0, &d1] {
        assert!(lines.contains(&format!("{}: Retrying in 1 second", &d[7..19])), "{lines:#?}");
        let gets = srv.log().iter().filter(|l| l.starts_with("GET ") && l.contains(d.as_str())).count();
        assert_eq!(gets, 2, "{:?}", srv.log());
        assert!(st.store.content().exists(&berth_reference::Digest::parse(d).unwrap()));
    }
    assert!(st.store.get(&img.id()).is_ok());
}

#[tokio::test]
async fn a_registry_that_always_lies_about_a_digest_fails_at_once() {
    let srv = Server::start(Auth::None).await;
    let img = TestImage::three("always");
    img.publish(&srv, "always", "latest", false);
    let bad = sha(&img.layers[0].0);
    srv.lie(Lie::WrongBytes(bad.clone()));
    let st = new_store();
    // Docker's own 5-second backoff: a retry would show in the time taken.
    let c = Client::new(Options::default()).unwrap();
    let started = std::time::Instant::now();
    let (tx, h) = progress();
    let e = tokio::time::timeout(std::time::Duration::from_secs(30), c.pull(&reference(&srv.addr, "always"), None, None, st.store.clone(), tx))
        .await
        .expect("the pull must not retry forever")
        .unwrap_err();
    let lines = statuses(&h.await.unwrap());
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "took {:?}", started.elapsed());
    assert_eq!(e.kind(), Kind::InvalidArgument, "{e}");
    assert!(!lines.iter().any(|l| l.contains("Retrying")), "{lines:#?}");
    let gets = srv.log().iter().filter(|l| l.starts_with("GET ") && l.contains(&bad)).count();
    assert_eq!(gets, 1, "{:?}", srv.log());
    assert!(!st.store.content().exists(&berth_reference::Digest::parse(&bad).unwrap()));
}
