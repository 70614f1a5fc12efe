//! The distribution API end to end against an in-process server.

mod common;

use common::*;
use hyper::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn base_endpoint_announces_the_api_version() {
    let s = TestServer::start().await;
    let r = s.get("/v2/").send().await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("Docker-Distribution-API-Version"), Some("registry/2.0"));
    let r = s.get("/v2").send().await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s.get("/nope").send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn monolithic_post_and_blob_get_head_range_delete() {
    let s = TestServer::start().await;
    let data = b"0123456789abcdef";
    let d = s.push_blob("a/b/c", data).await;

    let r = s.req(Method::HEAD, &format!("/v2/a/b/c/blobs/{d}")).send().await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), Some("16"));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    assert!(r.body.is_empty());

    let r = s.get(&format!("/v2/a/b/c/blobs/{d}")).send().await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &data[..]));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));

    let cases = [
        ("bytes=0-3", StatusCode::PARTIAL_CONTENT, &b"0123"[..], Some("bytes 0-3/16")),
        ("bytes=10-", StatusCode::PARTIAL_CONTENT, &b"abcdef"[..], Some("bytes 10-15/16")),
        ("bytes=-2", StatusCode::PARTIAL_CONTENT, &b"ef"[..], Some("bytes 14-15/16")),
        ("bytes=16-", StatusCode::RANGE_NOT_SATISFIABLE, &b""[..], Some("bytes */16")),
    ];
    for (range, status, body, cr) in cases {
        let r = s.get(&format!("/v2/a/b/c/blobs/{d}")).header("Range", range).send().await;
        assert_eq!((r.status, &r.body[..], r.header("content-range")), (status, body, cr), "{range}");
    }

    // Another repository does not see it.
    let r = s.get(&format!("/v2/other/blobs/{d}")).send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_codes(), vec!["BLOB_UNKNOWN"]);

    let r = s.req(Method::DELETE, &format!("/v2/a/b/c/blobs/{d}")).send().await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s.req(Method::HEAD, &format!("/v2/a/b/c/blobs/{d}")).send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.req(Method::DELETE, &format!("/v2/a/b/c/blobs/{d}")).send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = s.get("/v2/a/b/c/blobs/sha256:nothex").send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::BAD_REQUEST, vec!["DIGEST_INVALID".to_string()]));
}

#[tokio::test]
async fn post_then_put_and_chunked_uploads() {
    let s = TestServer::start().await;
    // POST then PUT with the whole body.
    let r = s.req(Method::POST, "/v2/r/blobs/uploads/").send().await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), Some("0-0"));
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.starts_with("/v2/r/blobs/uploads/"), "{loc}");
    assert!(r.header("docker-upload-uuid").is_some());
    let data = b"monolithic body";
    let d = digest(data);
    let r = s.req(Method::PUT, &format!("{loc}?digest={d}")).body(data.to_vec()).send().await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("location"), Some(format!("/v2/r/blobs/{d}").as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));

    // Chunked: PATCH, PATCH, status, out-of-order 416, PUT with an empty body.
    let data = b"hello, chunked world";
    let d = digest(data);
    let loc = s.req(Method::POST, "/v2/r/blobs/uploads/").send().await.header("location").unwrap().to_string();
    let r = s.req(Method::PATCH, &loc).header("Content-Range", "0-4").body(data[..5].to_vec()).send().await;
    assert_eq!((r.status, r.header("range")), (StatusCode::ACCEPTED, Some("0-4")));
    let loc = r.header("location").unwrap().to_string();
    let r = s.req(Method::PATCH, &loc).header("Content-Range", "3-6").body(data[3..7].to_vec()).send().await;
    assert_eq!((r.status, r.header("range")), (StatusCode::RANGE_NOT_SATISFIABLE, Some("0-4")));
    assert_eq!(r.header("location"), Some(loc.as_str()));
    let r = s.req(Method::PATCH, &loc).header("Content-Range", "garbage").body(data[5..].to_vec()).send().await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    // Content-Length that contradicts Content-Range.
    let r = s.req(Method::PATCH, &loc).header("Content-Range", "5-100").body(data[5..10].to_vec()).send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::BAD_REQUEST, vec!["SIZE_INVALID".to_string()]));
    // A PATCH without Content-Range appends (what docker sends).
    let r = s.req(Method::PATCH, &loc).body(data[5..12].to_vec()).send().await;
    assert_eq!((r.status, r.header("range")), (StatusCode::ACCEPTED, Some("0-11")));
    let r = s.get(&loc).send().await;
    assert_eq!((r.status, r.header("range")), (StatusCode::NO_CONTENT, Some("0-11")));
    // The final chunk rides on the PUT.
    let r = s
        .req(Method::PUT, &format!("{loc}?digest={d}"))
        .header("Content-Range", "12-19")
        .body(data[12..].to_vec())
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = s.get(&format!("/v2/r/blobs/{d}")).send().await;
    assert_eq!(&r.body[..], &data[..]);
    // The session is gone.
    let r = s.get(&loc).send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::NOT_FOUND, vec!["BLOB_UPLOAD_UNKNOWN".to_string()]));
    assert!(s.upload_entries().is_empty(), "{:?}", s.upload_entries());

    // PUT without digest, and unknown sessions.
    let loc = s.req(Method::POST, "/v2/r/blobs/uploads/").send().await.header("location").unwrap().to_string();
    let r = s.req(Method::PUT, &loc).send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::BAD_REQUEST, vec!["DIGEST_INVALID".to_string()]));
    let other = loc.replace("/v2/r/", "/v2/elsewhere/");
    assert_eq!(s.get(&other).send().await.status, StatusCode::NOT_FOUND, "sessions belong to their repository");
    assert_eq!(s.get("/v2/r/blobs/uploads/../../x").send().await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancel_upload() {
    let s = TestServer::start().await;
    let loc = s.req(Method::POST, "/v2/r/blobs/uploads/").send().await.header("location").unwrap().to_string();
    let r = s.req(Method::PATCH, &loc).body(b"partial".to_vec()).send().await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s.req(Method::DELETE, &loc).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&loc).send().await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.req(Method::DELETE, &loc).send().await.status, StatusCode::NOT_FOUND);
    assert!(s.upload_entries().is_empty());
    assert!(s.blob_files().is_empty());
}

#[tokio::test]
async fn digest_mismatch_is_refused_and_nothing_is_stored() {
    let s = TestServer::start().await;
    let wrong = digest(b"something else");
    // Monolithic POST.
    let r = s.req(Method::POST, &format!("/v2/r/blobs/uploads/?digest={wrong}")).body(b"data".to_vec()).send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::BAD_REQUEST, vec!["DIGEST_INVALID".to_string()]));
    // POST then PUT.
    let loc = s.req(Method::POST, "/v2/r/blobs/uploads/").send().await.header("location").unwrap().to_string();
    let r = s.req(Method::PUT, &format!("{loc}?digest={wrong}")).body(b"data".to_vec()).send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::BAD_REQUEST, vec!["DIGEST_INVALID".to_string()]));
    assert_eq!(s.get(&loc).send().await.status, StatusCode::NOT_FOUND, "a failed upload ends its session");
    assert_eq!(s.req(Method::HEAD, &format!("/v2/r/blobs/{}", digest(b"data"))).send().await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.req(Method::HEAD, &format!("/v2/r/blobs/{wrong}")).send().await.status, StatusCode::NOT_FOUND);
    assert!(s.blob_files().is_empty(), "{:?}", s.blob_files());
    assert!(s.upload_entries().is_empty(), "{:?}", s.upload_entries());
    // A malformed digest.
    let r = s.req(Method::POST, "/v2/r/blobs/uploads/?digest=md5:abc").body(b"data".to_vec()).send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// Send a request whose body stops short of its Content-Length, then hang up.
async fn send_truncated(s: &TestServer, method: &str, path: &str, declared: usize, sent: &[u8]) {
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n",
        s.addr
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(sent).await.unwrap();
    c.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    c.shutdown().await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut sink)).await;
}

async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    f()
}

#[tokio::test]
async fn truncated_uploads_leave_nothing_visible() {
    let s = TestServer::start().await;
    let full = vec![7u8; 4096];
    let d = digest(&full);
    // A monolithic POST cut short: no blob, no leftover session.
    send_truncated(&s, "POST", &format!("/v2/r/blobs/uploads/?digest={d}"), full.len(), &full[..1000]).await;
    assert!(eventually(|| s.upload_entries().is_empty()).await, "{:?}", s.upload_entries());
    assert!(s.blob_files().is_empty());
    assert_eq!(s.req(Method::HEAD, &format!("/v2/r/blobs/{d}")).send().await.status, StatusCode::NOT_FOUND);

    // A chunk cut short: the session stays at its last whole chunk and can go on.
    let loc = s.req(Method::POST, "/v2/r/blobs/uploads/").send().await.header("location").unwrap().to_string();
    let r = s.req(Method::PATCH, &loc).header("Content-Range", "0-99").body(full[..100].to_vec()).send().await;
    assert_eq!(r.header("range"), Some("0-99"));
    send_truncated(&s, "PATCH", &loc, 1000, &full[100..600]).await;
    let mut range = None;
    for _ in 0..100 {
        range = s.get(&loc).send().await.header("range").map(str::to_string);
        if range.as_deref() == Some("0-99") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(range.as_deref(), Some("0-99"));
    // A PUT cut short fails the session and stores nothing.
    send_truncated(&s, "PUT", &format!("{loc}?digest={d}"), 3996, &full[100..2000]).await;
    assert!(eventually(|| s.upload_entries().is_empty()).await, "{:?}", s.upload_entries());
    assert!(s.blob_files().is_empty());
    assert_eq!(s.req(Method::HEAD, &format!("/v2/r/blobs/{d}")).send().await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_pushes_of_the_same_blob() {
    let s = std::sync::Arc::new(TestServer::start().await);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let d = digest(&data);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (s, data, d) = (s.clone(), data.clone(), d.clone());
        tasks.push(tokio::spawn(async move {
            let repo = format!("r{}", i % 4);
            if i % 2 == 0 {
                let r = s.req(Method::POST, &format!("/v2/{repo}/blobs/uploads/?digest={d}")).body(data).send().await;
                r.status
            } else {
                let loc = s.req(Method::POST, &format!("/v2/{repo}/blobs/uploads/")).send().await.header("location").unwrap().to_string();
                let half = data.len() / 2;
                let r = s.req(Method::PATCH, &loc).body(data[..half].to_vec()).send().await;
                assert_eq!(r.status, StatusCode::ACCEPTED);
                let r = s.req(Method::PUT, &format!("{loc}?digest={d}")).body(data[half..].to_vec()).send().await;
                r.status
            }
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    assert_eq!(s.blob_files().len(), 1, "{:?}", s.blob_files());
    assert!(s.upload_entries().is_empty());
    for i in 0..4 {
        let r = s.get(&format!("/v2/r{i}/blobs/{d}")).send().await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(digest(&r.body), d);
    }
}

#[tokio::test]
async fn cross_repository_mount() {
    let s = TestServer::start().await;
    let d = s.push_blob("src/repo", b"shared layer").await;
    let r = s.req(Method::POST, &format!("/v2/dst/blobs/uploads/?mount={d}&from=src/repo")).send().await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("location"), Some(format!("/v2/dst/blobs/{d}").as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(s.get(&format!("/v2/dst/blobs/{d}")).send().await.body, &b"shared layer"[..]);
    // Unknown in the source: an ordinary upload starts instead.
    let missing = digest(b"nope");
    for q in [format!("mount={missing}&from=src/repo"), format!("mount={d}&from=other"), "mount=bad&from=src/repo".to_string(), format!("mount={d}&from=BAD")] {
        let r = s.req(Method::POST, &format!("/v2/dst2/blobs/uploads/?{q}")).send().await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{q}");
        assert!(r.header("location").unwrap().starts_with("/v2/dst2/blobs/uploads/"));
    }
}

#[tokio::test]
async fn manifests_by_tag_and_digest_with_negotiation() {
    let s = TestServer::start().await;
    let (m, md) = s.push_image("lib/app", "v1", "one").await;

    for reference in ["v1", md.as_str()] {
        let r = s.get(&format!("/v2/lib/app/manifests/{reference}")).header("Accept", ALL_MANIFESTS).send().await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], &m[..], "exact bytes");
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
        let r = s.req(Method::HEAD, &format!("/v2/lib/app/manifests/{reference}")).header("Accept", OCI_MANIFEST).send().await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-length"), Some(m.len().to_string().as_str()));
        assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
    }
    // A client that only takes Docker types does not get an OCI manifest.
    let r = s.get("/v2/lib/app/manifests/v1").header("Accept", DOCKER_MANIFEST).send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::NOT_FOUND, vec!["MANIFEST_UNKNOWN".to_string()]));
    // If-None-Match.
    let r = s.get("/v2/lib/app/manifests/v1").header("If-None-Match", &format!("\"{md}\"")).send().await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    // A Docker schema 2 manifest, stored and served with its own type.
    let c = s.push_blob("lib/app", b"{}").await;
    let docker = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{c}","size":2}},"layers":[]}}"#
    );
    let r = s.put_manifest("lib/app", "docker", DOCKER_MANIFEST, docker.as_bytes()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = s.get("/v2/lib/app/manifests/docker").header("Accept", "application/json").send().await;
    assert_eq!((r.status, r.header("content-type")), (StatusCode::OK, Some(DOCKER_MANIFEST)));

    // An index over the image, pushed by digest with extra tags.
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
        m.len()
    );
    let id = digest(index.as_bytes());
    let r = s.put_manifest("lib/app", &format!("{id}?tag=multi&tag=latest"), OCI_INDEX, index.as_bytes()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("location"), Some(format!("/v2/lib/app/manifests/{id}").as_str()));
    assert_eq!(r.header("oci-tag"), Some("multi, latest"));
    let r = s.get("/v2/lib/app/manifests/multi").header("Accept", OCI_INDEX).send().await;
    assert_eq!((r.status, r.header("docker-content-digest")), (StatusCode::OK, Some(id.as_str())));

    // Deleting a tag leaves the manifest; deleting by digest removes it and its tags.
    let r = s.req(Method::DELETE, "/v2/lib/app/manifests/latest").send().await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(s.get("/v2/lib/app/manifests/latest").send().await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(&format!("/v2/lib/app/manifests/{id}")).header("Accept", OCI_INDEX).send().await.status, StatusCode::OK);
    let r = s.req(Method::DELETE, &format!("/v2/lib/app/manifests/{id}")).send().await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(s.get("/v2/lib/app/manifests/multi").send().await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(&format!("/v2/lib/app/manifests/{id}")).send().await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.req(Method::DELETE, &format!("/v2/lib/app/manifests/{id}")).send().await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.req(Method::DELETE, "/v2/lib/app/manifests/nosuchtag").send().await.status, StatusCode::NOT_FOUND);
    let r = s.get("/v2/lib/app/tags/list").send().await;
    assert_eq!(r.json()["tags"], serde_json::json!(["docker", "v1"]));
}

#[tokio::test]
async fn manifest_validation_errors() {
    let s = TestServer::start().await;
    let c = s.push_blob("r", b"{\"a\":1}").await;
    let l = s.push_blob("r", b"layer").await;
    let missing = digest(b"missing");
    let other_repo_blob = s.push_blob("elsewhere", b"not in r").await;

    let ok = oci_manifest(&c, 7, &[(&l, 5)], None);
    type Case<'a> = (String, &'a str, Vec<u8>, StatusCode, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        ("t".into(), OCI_MANIFEST, oci_manifest(&c, 7, &[(&l, 5), (&missing, 1)], None), StatusCode::BAD_REQUEST, vec!["MANIFEST_BLOB_UNKNOWN"]),
        ("t".into(), OCI_MANIFEST, oci_manifest(&missing, 7, &[(&other_repo_blob, 8)], None), StatusCode::BAD_REQUEST, vec!["MANIFEST_BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"]),
        ("t".into(), OCI_MANIFEST, oci_manifest(&c, 99, &[(&l, 5)], None), StatusCode::BAD_REQUEST, vec!["MANIFEST_INVALID"]),
        ("t".into(), OCI_MANIFEST, b"{not json".to_vec(), StatusCode::BAD_REQUEST, vec!["MANIFEST_INVALID"]),
        ("t".into(), OCI_INDEX, ok.clone(), StatusCode::BAD_REQUEST, vec!["MANIFEST_INVALID"]),
        ("t".into(), "text/plain", ok.clone(), StatusCode::BAD_REQUEST, vec!["MANIFEST_INVALID"]),
        (
            "t".into(),
            OCI_INDEX,
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{missing}","size":3}}]}}"#).into_bytes(),
            StatusCode::BAD_REQUEST,
            vec!["MANIFEST_BLOB_UNKNOWN"],
        ),
        (digest(b"x"), OCI_MANIFEST, ok.clone(), StatusCode::BAD_REQUEST, vec!["DIGEST_INVALID"]),
        ("-bad-tag".into(), OCI_MANIFEST, ok.clone(), StatusCode::BAD_REQUEST, vec!["MANIFEST_INVALID"]),
    ];
    for (reference, ct, body, status, codes) in cases {
        let r = s.put_manifest("r", &reference, ct, &body).await;
        assert_eq!((r.status, r.error_codes()), (status, codes.iter().map(|c| c.to_string()).collect::<Vec<_>>()), "{reference} {ct} {}", String::from_utf8_lossy(&body));
    }
    assert_eq!(s.get("/v2/r/manifests/t").send().await.status, StatusCode::NOT_FOUND, "nothing was tagged");
    let r = s.get("/v2/r/tags/list").send().await;
    assert_eq!(r.json()["tags"], serde_json::json!([]));

    // Too large.
    let s2 = TestServer::start_with(|c| c.storage.max_manifest_bytes = 64).await;
    let r = s2.put_manifest("r", "t", OCI_MANIFEST, &ok).await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::PAYLOAD_TOO_LARGE, vec!["SIZE_INVALID".to_string()]));
    // And the good one works.
    let r = s.put_manifest("r", "t", OCI_MANIFEST, &ok).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(r.header("oci-subject").is_none());
}

#[tokio::test]
async fn repository_names_are_validated() {
    let s = TestServer::start().await;
    for name in ["UPPER", "a//b", "a..b", "-a", "a_"] {
        let r = s.get(&format!("/v2/{name}/tags/list")).send().await;
        assert_eq!((r.status, r.error_codes()), (StatusCode::BAD_REQUEST, vec!["NAME_INVALID".to_string()]), "{name}");
    }
    let long = ["a"; 129].join("/"); // 257 characters
    let r = s.get(&format!("/v2/{long}/tags/list")).send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = s.get("/v2/never/pushed/tags/list").send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::NOT_FOUND, vec!["NAME_UNKNOWN".to_string()]));
    let r = s.req(Method::PUT, "/v2/a/tags/list").send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::METHOD_NOT_ALLOWED, vec!["UNSUPPORTED".to_string()]));
}

#[tokio::test]
async fn tag_and_catalog_pagination_with_link() {
    let s = TestServer::start().await;
    for t in ["b", "a", "d", "c", "e"] {
        s.push_image("x/y", t, t).await;
    }
    for repo in ["z", "m/n", "a"] {
        s.push_blob(repo, repo.as_bytes()).await;
    }
    let r = s.get("/v2/x/y/tags/list").send().await;
    assert_eq!(r.json(), serde_json::json!({"name": "x/y", "tags": ["a", "b", "c", "d", "e"]}));
    assert!(r.header("link").is_none());

    // Walk the pages by following Link.
    let mut url = "/v2/x/y/tags/list?n=2".to_string();
    let mut seen = Vec::new();
    loop {
        let r = s.get(&url).send().await;
        assert_eq!(r.status, StatusCode::OK);
        for t in r.json()["tags"].as_array().unwrap() {
            seen.push(t.as_str().unwrap().to_string());
        }
        match r.header("link") {
            Some(l) => {
                assert!(l.ends_with("; rel=\"next\""), "{l}");
                url = l[1..l.find('>').unwrap()].to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, vec!["a", "b", "c", "d", "e"]);
    let r = s.get("/v2/x/y/tags/list?n=2&last=b").send().await;
    assert_eq!((r.json()["tags"].clone(), r.header("link")), (serde_json::json!(["c", "d"]), Some("</v2/x/y/tags/list?n=2&last=d>; rel=\"next\"")));
    let r = s.get("/v2/x/y/tags/list?n=0").send().await;
    assert_eq!((r.json()["tags"].clone(), r.header("link")), (serde_json::json!([]), None));
    let r = s.get("/v2/x/y/tags/list?last=c").send().await;
    assert_eq!(r.json()["tags"], serde_json::json!(["d", "e"]));
    let r = s.get("/v2/x/y/tags/list?n=abc").send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = s.get("/v2/_catalog").send().await;
    assert_eq!(r.json(), serde_json::json!({"repositories": ["a", "m/n", "x/y", "z"]}));
    let r = s.get("/v2/_catalog?n=3").send().await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["a", "m/n", "x/y"]));
    assert_eq!(r.header("link"), Some("</v2/_catalog?n=3&last=x/y>; rel=\"next\""));
    let r = s.get("/v2/_catalog?n=3&last=x/y").send().await;
    assert_eq!((r.json()["repositories"].clone(), r.header("link")), (serde_json::json!(["z"]), None));
}

#[tokio::test]
async fn referrers_api_with_subject_and_filter() {
    let s = TestServer::start().await;
    let (m, md) = s.push_image("app", "v1", "base").await;
    let empty = s.push_blob("app", b"{}").await;
    let subject = format!(r#""subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{}}}"#, m.len());

    // Before any referrer: 200 with an empty index (and for an unknown subject too).
    let r = s.get(&format!("/v2/app/referrers/{md}")).send().await;
    assert_eq!((r.status, r.header("content-type")), (StatusCode::OK, Some(OCI_INDEX)));
    assert_eq!(r.json()["manifests"], serde_json::json!([]));

    let sbom = oci_manifest(&empty, 2, &[], Some(&format!(r#""artifactType":"application/vnd.example.sbom",{subject},"annotations":{{"k":"v"}}"#)));
    let sd = digest(&sbom);
    let r = s.put_manifest("app", &sd, OCI_MANIFEST, &sbom).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("oci-subject"), Some(md.as_str()));
    let sig = oci_manifest(&empty, 2, &[], Some(&subject));
    let gd = digest(&sig);
    let r = s.put_manifest("app", &gd, OCI_MANIFEST, &sig).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // A subject that does not exist (yet) is accepted.
    let dangling = oci_manifest(&empty, 2, &[], Some(&format!(r#""subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}}"#, digest(b"later"))));
    assert_eq!(s.put_manifest("app", &digest(&dangling), OCI_MANIFEST, &dangling).await.status, StatusCode::CREATED);

    let r = s.get(&format!("/v2/app/referrers/{md}")).send().await;
    let list = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    let by_digest = |d: &str| list.iter().find(|x| x["digest"] == d).unwrap().clone();
    assert_eq!(
        by_digest(&sd),
        serde_json::json!({"mediaType": OCI_MANIFEST, "digest": sd, "size": sbom.len(), "artifactType": "application/vnd.example.sbom", "annotations": {"k": "v"}})
    );
    assert_eq!(by_digest(&gd)["artifactType"], "application/vnd.oci.image.config.v1+json", "falls back to the config type");
    assert!(r.header("oci-filters-applied").is_none());

    let r = s.get(&format!("/v2/app/referrers/{md}?artifactType=application/vnd.example.sbom")).send().await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let list = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], sd.as_str());

    // Deleting a referrer removes it from the list.
    assert_eq!(s.req(Method::DELETE, &format!("/v2/app/manifests/{sd}")).send().await.status, StatusCode::ACCEPTED);
    let r = s.get(&format!("/v2/app/referrers/{md}")).send().await;
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);

    let r = s.get("/v2/app/referrers/sha256:zz").send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn deletes_can_be_disabled() {
    let s = TestServer::start_with(|c| c.storage.delete_enabled = false).await;
    let (_, md) = s.push_image("r", "t", "x").await;
    let r = s.req(Method::DELETE, &format!("/v2/r/manifests/{md}")).send().await;
    assert_eq!((r.status, r.error_codes()), (StatusCode::METHOD_NOT_ALLOWED, vec!["UNSUPPORTED".to_string()]));
    let r = s.req(Method::DELETE, "/v2/r/manifests/t").send().await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}
