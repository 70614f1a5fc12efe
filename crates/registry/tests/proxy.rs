//! Pull-through cache mode: a registry in front of another one.

mod common;

use berth_registry::config::{ProxyConfig, TokenConfig};
use common::*;
use hyper::{Method, StatusCode};

async fn upstream_with_image(auth: bool) -> (TestServer, Vec<u8>, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
    // Fill it without auth first, then serve the same root with auth.
    let root = dir.path().join("upstream-root");
    let plain = TestServer::start_with(|c| c.root = Some(root.clone())).await;
    let (m, md) = plain.push_image("library/app", "v1", "upstream").await;
    drop(plain);
    let ld = digest(b"layer of upstream");
    let up = TestServer::start_with(|c| {
        c.root = Some(root.clone());
        if auth {
            c.auth.token = Some(TokenConfig {
                htpasswd: htpasswd.clone(),
                realm: None,
                service: "upstream".into(),
                secret: None,
                ttl_secs: 60,
            });
        }
    })
    .await;
    (up, m, md, ld, dir)
}

async fn proxy_for(up: &TestServer, creds: bool) -> TestServer {
    let remote_url = format!("http://{}", up.addr);
    TestServer::start_with(|c| {
        c.proxy = Some(ProxyConfig {
            remote_url,
            username: creds.then(|| "alice".to_string()),
            password: creds.then(|| "s3cret".to_string()),
            ca_file: None,
        });
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_through_and_serves_from_the_cache() {
    for auth in [false, true] {
        let (up, m, md, ld, _dir) = upstream_with_image(auth).await;
        let p = proxy_for(&up, auth).await;

        let r = p.get("/v2/library/app/manifests/v1").header("Accept", ALL_MANIFESTS).send().await;
        assert_eq!(r.status, StatusCode::OK, "auth={auth}: {}", r.text());
        assert_eq!(&r.body[..], &m[..]);
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));

        let r = p.req(Method::HEAD, &format!("/v2/library/app/blobs/{ld}")).send().await;
        assert_eq!((r.status, r.header("content-length")), (StatusCode::OK, Some("17")));
        let r = p.get(&format!("/v2/library/app/blobs/{ld}")).send().await;
        assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"layer of upstream"[..]));
        let r = p.get("/v2/library/app/tags/list").send().await;
        assert_eq!(r.json()["tags"], serde_json::json!(["v1"]));

        // Unknown things are unknown; writes are refused.
        assert_eq!(p.get("/v2/library/app/manifests/nope").send().await.status, StatusCode::NOT_FOUND);
        assert_eq!(p.get(&format!("/v2/library/app/blobs/{}", digest(b"nope"))).send().await.status, StatusCode::NOT_FOUND);
        let r = p.req(Method::POST, "/v2/library/app/blobs/uploads/").send().await;
        assert_eq!((r.status, r.error_codes()), (StatusCode::METHOD_NOT_ALLOWED, vec!["UNSUPPORTED".to_string()]));
        let r = p.req(Method::DELETE, "/v2/library/app/manifests/v1").send().await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

        // The blob was cached by the GET (in the background: wait for it).
        let mut cached = false;
        for _ in 0..100 {
            if p.blob_files().iter().any(|f| f.to_string_lossy().contains(ld.trim_start_matches("sha256:"))) {
                cached = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(cached, "auth={auth}: {:?}", p.blob_files());

        // With the remote gone, the cache still answers.
        drop(up);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let r = p.get("/v2/library/app/manifests/v1").header("Accept", OCI_MANIFEST).send().await;
        assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &m[..]), "auth={auth}");
        let r = p.get(&format!("/v2/library/app/manifests/{md}")).header("Accept", OCI_MANIFEST).send().await;
        assert_eq!(r.status, StatusCode::OK);
        let r = p.get(&format!("/v2/library/app/blobs/{ld}")).send().await;
        assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"layer of upstream"[..]));
        let r = p.get("/v2/library/app/tags/list").send().await;
        assert_eq!(r.json()["tags"], serde_json::json!(["v1"]));
        // Never fetched and the remote is gone: 502.
        let r = p.get("/v2/library/app/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000").send().await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_remote_credentials_are_not_cached() {
    let (up, _m, _md, ld, _dir) = upstream_with_image(true).await;
    let p = proxy_for(&up, false).await;
    let r = p.get("/v2/library/app/manifests/v1").send().await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    let r = p.get(&format!("/v2/library/app/blobs/{ld}")).send().await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(p.blob_files().is_empty());
}
