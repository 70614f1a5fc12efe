//! Authentication (htpasswd basic auth, bearer tokens) and TLS.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use berth_registry::config::{HtpasswdConfig, TlsConfig, TokenConfig};
use common::*;
use hyper::{Method, StatusCode};

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn write_htpasswd(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&path, format!("# test users\nalice:{hash}\n")).unwrap();
    path
}

/// `key="value"` pairs of a challenge after its scheme.
fn challenge_params(h: &str) -> Vec<(String, String)> {
    let (_, rest) = h.split_once(' ').unwrap();
    let mut out = Vec::new();
    let mut s = rest;
    while let Some((k, v)) = s.split_once("=\"") {
        let end = v.find('"').unwrap();
        out.push((k.trim_start_matches(',').to_string(), v[..end].to_string()));
        s = &v[end + 1..];
    }
    out
}

#[tokio::test]
async fn htpasswd_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_htpasswd(dir.path());
    let s = TestServer::start_with(|c| {
        c.auth.htpasswd = Some(HtpasswdConfig { path, realm: "test realm".into() });
    })
    .await;
    let r = s.get("/v2/").send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"test realm\""));
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
    assert_eq!(r.error_codes(), vec!["UNAUTHORIZED"]);
    let r = s.get("/v2/").header("Authorization", &basic("alice", "wrong")).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s.get("/v2/").header("Authorization", &basic("mallory", "s3cret")).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        let r = s.get("/v2/").header("Authorization", &basic("alice", "s3cret")).send().await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = s
        .req(Method::POST, &format!("/v2/r/blobs/uploads/?digest={}", digest(b"x")))
        .header("Authorization", &basic("alice", "s3cret"))
        .body(b"x".to_vec())
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = s.req(Method::POST, "/v2/r/blobs/uploads/").send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bearer_token_flow() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_htpasswd(dir.path());
    let s = TestServer::start_with(|c| {
        c.auth.token = Some(TokenConfig {
            htpasswd: path,
            realm: None,
            service: "test-registry".into(),
            secret: None,
            ttl_secs: 60,
        });
    })
    .await;

    // The challenge names the token endpoint, the service and the scope needed.
    let r = s.get("/v2/app/tags/list").send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_codes(), vec!["UNAUTHORIZED"]);
    let ch = r.header("www-authenticate").unwrap().to_string();
    assert!(ch.starts_with("Bearer "), "{ch}");
    let params = challenge_params(&ch);
    let realm = format!("http://{}/token", s.addr);
    assert_eq!(
        params,
        vec![
            ("realm".to_string(), realm.clone()),
            ("service".to_string(), "test-registry".to_string()),
            ("scope".to_string(), "repository:app:pull".to_string())
        ]
    );

    // Wrong password: 401 from the token endpoint.
    let r = s.get("/token?service=test-registry&scope=repository:app:pull").header("Authorization", &basic("alice", "nope")).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic "));

    // Right password: a token that works for the scope asked.
    let r = s
        .get("/token?service=test-registry&scope=repository:app:pull,push&scope=registry:catalog:*")
        .header("Authorization", &basic("alice", "s3cret"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["access_token"], body["token"]);
    assert_eq!(body["expires_in"], 60);
    assert!(body["issued_at"].as_str().is_some());
    let bearer = format!("Bearer {token}");

    let r = s.get("/v2/").header("Authorization", &bearer).send().await;
    assert_eq!(r.status, StatusCode::OK);
    let d = digest(b"layer");
    let r = s.req(Method::POST, &format!("/v2/app/blobs/uploads/?digest={d}")).header("Authorization", &bearer).body(b"layer".to_vec()).send().await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = s.get(&format!("/v2/app/blobs/{d}")).header("Authorization", &bearer).send().await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"layer"[..]));
    let r = s.get("/v2/_catalog").header("Authorization", &bearer).send().await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["app"]));

    // Outside the token's scope: 401 insufficient_scope with the scope to ask for.
    let r = s.req(Method::DELETE, &format!("/v2/app/blobs/{d}")).header("Authorization", &bearer).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let ch = r.header("www-authenticate").unwrap();
    assert!(ch.contains("scope=\"repository:app:delete\"") && ch.contains("error=\"insufficient_scope\""), "{ch}");
    let r = s.get("/v2/other/tags/list").header("Authorization", &bearer).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A mount from a repository the token cannot pull falls back to an upload.
    let r = s.req(Method::POST, &format!("/v2/app/blobs/uploads/?mount={d}&from=other")).header("Authorization", &bearer).send().await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    // Tampered and foreign tokens are refused.
    let mut forged = token.clone();
    forged.push('A');
    let r = s.get("/v2/").header("Authorization", &format!("Bearer {forged}")).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s.get("/v2/").header("Authorization", &basic("alice", "s3cret")).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "token mode wants bearer tokens");

    // Anonymous: a token without access.
    let r = s.get("/token?service=test-registry&scope=repository:app:pull").send().await;
    assert_eq!(r.status, StatusCode::OK);
    let anon = format!("Bearer {}", r.json()["token"].as_str().unwrap());
    assert_eq!(s.get("/v2/").header("Authorization", &anon).send().await.status, StatusCode::OK);
    assert_eq!(s.get(&format!("/v2/app/blobs/{d}")).header("Authorization", &anon).send().await.status, StatusCode::UNAUTHORIZED);

    // OAuth2 password grant (POST).
    let form = "grant_type=password&username=alice&password=s3cret&service=test-registry&scope=repository%3Aapp%3Apull";
    let r = s.req(Method::POST, "/token").header("Content-Type", "application/x-www-form-urlencoded").body(form.as_bytes().to_vec()).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let t = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    assert_eq!(s.get(&format!("/v2/app/blobs/{d}")).header("Authorization", &t).send().await.status, StatusCode::OK);
    let bad = "grant_type=password&username=alice&password=x&service=test-registry";
    let r = s.req(Method::POST, "/token").body(bad.as_bytes().to_vec()).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();

    let mut s = TestServer::start_with(|c| {
        c.tls = Some(TlsConfig { cert: cert_path.clone(), key: key_path.clone() });
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    s.tls = Some(Arc::new(client));

    let r = s.get("/v2/").send().await;
    assert_eq!((r.status, r.header("docker-distribution-api-version")), (StatusCode::OK, Some("registry/2.0")));
    let d = s.push_blob("secure/repo", b"over tls").await;
    let r = s.get(&format!("/v2/secure/repo/blobs/{d}")).send().await;
    assert_eq!(&r.body[..], b"over tls");

    // Plain HTTP to the TLS port does not get an answer from the registry.
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    c.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("registry/2.0"));

    // Unusable certificate files are reported.
    let missing = berth_registry::Config {
        tls: Some(TlsConfig { cert: dir.path().join("nope.pem"), key: key_path.clone() }),
        root: Some(dir.path().join("root")),
        ..Default::default()
    };
    let e = berth_registry::Server::new(&missing).err().unwrap().to_string();
    assert!(e.starts_with("tls:"), "{e}");
}
