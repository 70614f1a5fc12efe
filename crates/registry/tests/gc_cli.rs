//! Garbage collection (library and `berth-registry gc`) and the binary's flags.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use berth_registry::{collect_garbage, FsStorage, GcOptions, Registry, RegistryOptions};
use common::*;
use hyper::{Method, StatusCode};

async fn head(s: &TestServer, repo: &str, d: &str) -> StatusCode {
    s.req(Method::HEAD, &format!("/v2/{repo}/blobs/{d}")).send().await.status
}

#[tokio::test]
async fn gc_removes_unreferenced_blobs() {
    let s = TestServer::start().await;
    let (m, md) = s.push_image("app", "v1", "tagged").await;
    // An untagged manifest with a layer of its own.
    let c = s.push_blob("app", b"{\"c\":2}").await;
    let own = s.push_blob("app", b"only the untagged manifest has me").await;
    let untagged = oci_manifest(&c, 7, &[(&own, 33)], None);
    let ud = digest(&untagged);
    assert_eq!(s.put_manifest("app", &ud, OCI_MANIFEST, &untagged).await.status, StatusCode::CREATED);
    // A referrer of the tagged image (untagged itself).
    let referrer = oci_manifest(&c, 7, &[], Some(&format!(r#""subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{}}}"#, m.len())));
    let rd = digest(&referrer);
    assert_eq!(s.put_manifest("app", &rd, OCI_MANIFEST, &referrer).await.status, StatusCode::CREATED);
    // Orphans, in two repositories, and an upload in progress.
    let orphan = s.push_blob("app", b"nobody references me").await;
    let orphan2 = s.push_blob("other/repo", b"me neither").await;
    let loc = s.req(Method::POST, "/v2/app/blobs/uploads/").send().await.header("location").unwrap().to_string();
    assert_eq!(s.req(Method::PATCH, &loc).body(b"in flight".to_vec()).send().await.status, StatusCode::ACCEPTED);
    let before = s.blob_files().len();

    let registry = Registry::new(Arc::new(FsStorage::new(&s.root)), RegistryOptions::default());
    // Dry run: reports, deletes nothing.
    let dry = collect_garbage(&registry, &GcOptions { dry_run: true, ..Default::default() }).await.unwrap();
    let mut want = vec![orphan.clone(), orphan2.clone()];
    want.sort();
    assert_eq!(dry.blobs_deleted.iter().map(|d| d.to_string()).collect::<Vec<_>>(), want);
    assert_eq!(s.blob_files().len(), before);
    // A minimum age protects fresh blobs.
    let young = collect_garbage(&registry, &GcOptions { min_blob_age: Duration::from_secs(3600), ..Default::default() }).await.unwrap();
    assert!(young.blobs_deleted.is_empty());
    assert_eq!(s.blob_files().len(), before);

    // Default rule: untagged manifests are kept, with their blobs.
    let r = collect_garbage(&registry, &GcOptions::default()).await.unwrap();
    assert_eq!(r.blobs_deleted.len(), 2);
    assert_eq!((r.repositories, r.manifests_kept, r.manifests_deleted.len()), (2, 3, 0));
    assert_eq!(s.blob_files().len(), before - 2);
    assert_eq!(head(&s, "app", &orphan).await, StatusCode::NOT_FOUND);
    assert_eq!(head(&s, "other/repo", &orphan2).await, StatusCode::NOT_FOUND);
    assert_eq!(head(&s, "app", &own).await, StatusCode::OK);
    assert_eq!(s.get(&format!("/v2/app/manifests/{ud}")).send().await.status, StatusCode::OK);
    // The upload in progress was not touched (it is young), and finishes fine.
    let data = b"in flight";
    let r = s.req(Method::PUT, &format!("{loc}?digest={}", digest(data))).send().await;
    assert_eq!(r.status, StatusCode::CREATED);

    // delete_untagged: the untagged manifest and its layer go; the referrer of a tagged
    // manifest stays.
    let r = collect_garbage(&registry, &GcOptions { delete_untagged: true, ..Default::default() }).await.unwrap();
    let deleted: Vec<String> = r.manifests_deleted.iter().map(|(repo, d)| format!("{repo}@{d}")).collect();
    assert_eq!(deleted, vec![format!("app@{ud}")]);
    assert_eq!(s.get(&format!("/v2/app/manifests/{ud}")).send().await.status, StatusCode::NOT_FOUND);
    assert_eq!(head(&s, "app", &own).await, StatusCode::NOT_FOUND);
    assert_eq!(s.get(&format!("/v2/app/manifests/{rd}")).send().await.status, StatusCode::OK);
    assert_eq!(head(&s, "app", &c).await, StatusCode::OK, "still the referrer's config");
    let r = s.get("/v2/app/manifests/v1").send().await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    for layer in body["layers"].as_array().unwrap() {
        assert_eq!(head(&s, "app", layer["digest"].as_str().unwrap()).await, StatusCode::OK);
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth-registry")
}

#[tokio::test]
async fn gc_command_with_dry_run() {
    let s = TestServer::start().await;
    s.push_image("app", "v1", "x").await;
    let orphan = s.push_blob("app", b"orphan").await;
    let root = s.root.to_str().unwrap().to_string();

    let out = Command::new(bin()).args(["gc", "--root", &root, "--dry-run"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("would delete blob {orphan}")), "{stdout}");
    assert_eq!(head(&s, "app", &orphan).await, StatusCode::OK);

    let out = Command::new(bin()).args(["--root", &root, "gc"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("deleted blob {orphan}")), "{stdout}");
    assert!(stdout.contains("1 blobs deleted"), "{stdout}");
    assert_eq!(head(&s, "app", &orphan).await, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/v2/app/manifests/v1").send().await.status, StatusCode::OK);
}

/// A child process killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn binary_serves_with_listen_root_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let config = dir.path().join("registry.toml");
    std::fs::write(&config, "[storage]\ndelete_enabled = false\n[gc]\nupload_purge_interval_secs = 0\n").unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _child = Child(
        Command::new(bin())
            .args(["--listen", &listen, "--root", root.to_str().unwrap(), "--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the registry did not start on {listen}");
    let s = TestServer::external(listen.parse().unwrap(), root.clone());
    let d = s.push_blob("via/binary", b"hello").await;
    assert!(root.join("blobs").exists());
    // The config file took effect: deletes are disabled.
    let r = s.req(Method::DELETE, &format!("/v2/via/binary/blobs/{d}")).send().await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "nonsense = true\n").unwrap();
    let out = Command::new(bin()).args(["--config", bad.to_str().unwrap(), "--root", root.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn idle_uploads_are_purged() {
    let s = TestServer::start().await;
    let loc = s.req(Method::POST, "/v2/app/blobs/uploads/").send().await.header("location").unwrap().to_string();
    assert_eq!(s.upload_entries().len(), 1);
    let registry = Registry::new(Arc::new(FsStorage::new(&s.root)), RegistryOptions::default());
    let keep = GcOptions { upload_max_age: Some(Duration::from_secs(3600)), ..Default::default() };
    assert_eq!(collect_garbage(&registry, &keep).await.unwrap().uploads_purged, 0);
    assert_eq!(s.get(&loc).send().await.status, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let purge = GcOptions { upload_max_age: Some(Duration::ZERO), ..Default::default() };
    assert_eq!(collect_garbage(&registry, &purge).await.unwrap().uploads_purged, 1);
    assert!(s.upload_entries().is_empty());
    assert_eq!(s.get(&loc).send().await.status, StatusCode::NOT_FOUND);
}
