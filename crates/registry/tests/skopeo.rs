//! Interoperability with a real client: skopeo copies an OCI layout to the registry and back.
//! Skips loudly when skopeo is not installed (scripts/deps installs it).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use berth_registry::config::{TlsConfig, TokenConfig};
use common::*;

fn have_skopeo() -> bool {
    let found = Command::new("which").arg("skopeo").output().map(|o| o.status.success()).unwrap_or(false);
    if !found {
        eprintln!("SKIPPED: skopeo is not installed (install it with `apt-get install -y skopeo`)");
    }
    found
}

/// Write a one-layer OCI image layout at `dir` tagged `1`; returns (manifest digest, layer
/// digest, config digest).
fn write_oci_layout(dir: &Path) -> (String, String, String) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> String {
        let d = digest(data);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), data).unwrap();
        d
    };
    // The layer: a tar with one file, gzipped.
    let mut tar = tar::Builder::new(Vec::new());
    let content = b"hello from berth-registry\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    tar.append_data(&mut h, "hello.txt", &content[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = digest(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let layer = gz.finish().unwrap();
    let ld = put(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/hello"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let cd = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{ld}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let md = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"1"}}}}]}}"#,
        manifest.len()
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
    (md, ld, cd)
}

fn skopeo(args: &[&str], auth_file: &Path) -> String {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .env("REGISTRY_AUTH_FILE", auth_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn index_digest(dir: &Path) -> String {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_string()
}

/// Push with `push_flags`, then read back with `extra_inspect` (credentials for `inspect` and the
/// copy back, where `--creds` becomes `--src-creds`).
async fn round_trip(s: &TestServer, push_flags: &[&str], extra_inspect: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let (src, back, auth) = (work.path().join("src"), work.path().join("back"), work.path().join("auth.json"));
    let (md, ld, cd) = write_oci_layout(&src);
    let dest = format!("docker://{}/test/img:1", s.addr);

    let mut args: Vec<String> = vec!["copy".into(), "--dest-tls-verify=false".into()];
    args.extend(push_flags.iter().map(|a| a.to_string()));
    args.push(format!("oci:{}:1", src.display()));
    args.push(dest.clone());
    skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>(), &auth);

    // What skopeo pushed is what we stored.
    let raw = std::fs::read(src.join("blobs/sha256").join(md.trim_start_matches("sha256:"))).unwrap();
    let mut inspect = vec!["inspect", "--tls-verify=false", "--raw"];
    inspect.extend(extra_inspect);
    inspect.push(&dest);
    assert_eq!(skopeo(&inspect, &auth).as_bytes(), &raw[..], "the exact manifest bytes");
    let mut inspect = vec!["inspect", "--tls-verify=false"];
    inspect.extend(extra_inspect);
    inspect.push(&dest);
    let info: serde_json::Value = serde_json::from_str(&skopeo(&inspect, &auth)).unwrap();
    assert_eq!(info["Digest"], md.as_str());
    assert_eq!(info["Layers"], serde_json::json!([ld]));
    assert_eq!(info["Architecture"], "amd64");

    // And back into another layout, digests unchanged.
    let mut args = vec!["copy".to_string(), "--src-tls-verify=false".to_string()];
    args.extend(extra_inspect.iter().map(|a| a.replace("--creds", "--src-creds")));
    args.push(dest.clone());
    args.push(format!("oci:{}:1", back.display()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    skopeo(&args, &auth);
    assert_eq!(index_digest(&back), md);
    for d in [&md, &ld, &cd] {
        let hex = d.trim_start_matches("sha256:");
        let got = std::fs::read(back.join("blobs/sha256").join(hex)).unwrap();
        assert_eq!(&digest(&got), d);
    }

    let mut tags = vec!["list-tags", "--tls-verify=false"];
    tags.extend(extra_inspect);
    let repo = format!("docker://{}/test/img", s.addr);
    tags.push(&repo);
    let tags: serde_json::Value = serde_json::from_str(&skopeo(&tags, &auth)).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_an_oci_image_to_the_registry_and_back() {
    if !have_skopeo() {
        return;
    }
    let s = TestServer::start().await;
    round_trip(&s, &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_with_tls_and_bearer_tokens() {
    if !have_skopeo() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (cert_path, key_path, htpasswd) = (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("htpasswd"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    std::fs::write(&htpasswd, format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
    let s = TestServer::start_with(|c| {
        c.tls = Some(TlsConfig { cert: cert_path.clone(), key: key_path.clone() });
        c.auth.token = Some(TokenConfig {
            htpasswd: htpasswd.clone(),
            realm: None,
            service: "berth-registry".into(),
            secret: None,
            ttl_secs: 300,
        });
    })
    .await;
    round_trip(&s, &["--dest-creds=alice:s3cret"], &["--creds=alice:s3cret"]).await;

    // Wrong credentials are refused.
    let work = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "inspect", "--tls-verify=false", "--creds=alice:wrong"])
        .arg(format!("docker://{}/test/img:1", s.addr))
        .env("REGISTRY_AUTH_FILE", work.path().join("auth.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("unauthorized") || err.contains("401") || err.contains("authentication"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pulls_through_a_caching_proxy() {
    if !have_skopeo() {
        return;
    }
    let up = TestServer::start().await;
    let remote_url = format!("http://{}", up.addr);
    let p = TestServer::start_with(|c| {
        c.proxy = Some(berth_registry::config::ProxyConfig { remote_url, username: None, password: None, ca_file: None });
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let (src, back, auth) = (work.path().join("src"), work.path().join("back"), work.path().join("auth.json"));
    let (md, ld, _) = write_oci_layout(&src);
    skopeo(
        &["copy", "--dest-tls-verify=false", &format!("oci:{}:1", src.display()), &format!("docker://{}/mirror/img:1", up.addr)],
        &auth,
    );
    skopeo(
        &["copy", "--src-tls-verify=false", &format!("docker://{}/mirror/img:1", p.addr), &format!("oci:{}:1", back.display())],
        &auth,
    );
    assert_eq!(index_digest(&back), md);
    let got = std::fs::read(back.join("blobs/sha256").join(ld.trim_start_matches("sha256:"))).unwrap();
    assert_eq!(digest(&got), ld);
}
