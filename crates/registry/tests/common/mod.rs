//! An in-process registry on 127.0.0.1:0 and a small HTTP client for it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_registry::{Config, Server};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::Digest as _;
use tokio::net::TcpStream;

/// A running server; stopped (and its root removed) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub root: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Start with a configuration adjusted by `f` (root is set to a fresh temp dir first).
    pub async fn start_with(f: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { root: Some(dir.path().join("root")), ..Default::default() };
        f(&mut config);
        let server = Server::new(&config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve(listener, async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            root: config.root.clone().unwrap(),
            _dir: dir,
            stop: Some(tx),
            tls: None,
        }
    }

    /// A client for a registry running elsewhere (e.g. the binary), rooted at `root`.
    pub fn external(addr: SocketAddr, root: PathBuf) -> TestServer {
        TestServer { addr, root, _dir: tempfile::tempdir().unwrap(), stop: None, tls: None }
    }

    /// The directory for files the test needs beside the root (htpasswd, certificates).
    pub fn scratch(&self) -> &Path {
        self._dir.path()
    }

    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req { server: self, method, path: path.to_string(), headers: Vec::new(), body: Bytes::new() }
    }

    pub fn get(&self, path: &str) -> Req<'_> {
        self.req(Method::GET, path)
    }

    /// Push a blob monolithically (POST ?digest=).
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = digest(data);
        let r = self
            .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/?digest={d}"))
            .body(data.to_vec())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        d
    }

    /// Push a manifest; returns the response.
    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Resp {
        self.req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("Content-Type", media_type)
            .body(body.to_vec())
            .send()
            .await
    }

    /// Push a config and a layer and an OCI manifest over them under `tag`; returns the
    /// manifest's body and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (Vec<u8>, String) {
        let config = format!("{{\"seed\":\"{seed}\"}}");
        let layer = format!("layer of {seed}");
        let c = self.push_blob(repo, config.as_bytes()).await;
        let l = self.push_blob(repo, layer.as_bytes()).await;
        let m = oci_manifest(&c, config.len(), &[(&l, layer.len())], None);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let d = digest(&m);
        (m, d)
    }

    /// Files under the root's blobs/ directory (complete blobs).
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.root.join("blobs"), &mut out);
        out
    }

    /// Entries under the root's uploads/ directory.
    pub fn upload_entries(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.root.join("uploads")) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const ALL_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// An OCI image manifest over a config and layers, with an optional subject and artifactType.
pub fn oci_manifest(config: &str, config_size: usize, layers: &[(&str, usize)], extra: Option<&str>) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, s)| format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":{s}}}"#))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{}]{}}}"#,
        layers.join(","),
        extra.map(|e| format!(",{e}")).unwrap_or_default()
    )
    .into_bytes()
}

pub struct Req<'a> {
    server: &'a TestServer,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
    /// The codes of a spec error body.
    pub fn error_codes(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["code"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }
}

impl<'a> Req<'a> {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn body(mut self, b: impl Into<Bytes>) -> Self {
        self.body = b.into();
        self
    }
    pub async fn send(self) -> Resp {
        let tcp = TcpStream::connect(self.server.addr).await.unwrap();
        match &self.server.tls {
            Some(cfg) => {
                let conn = tokio_rustls::TlsConnector::from(cfg.clone());
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                let tls = conn.connect(name, tcp).await.unwrap();
                self.exchange(tls).await
            }
            None => self.exchange(tcp).await,
        }
    }

    async fn exchange<S>(self, io: S) -> Resp
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.unwrap();
        tokio::spawn(conn);
        let mut b = Request::builder().method(self.method).uri(&self.path).header("Host", self.server.addr.to_string());
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let resp = sender.send_request(b.body(Full::new(self.body)).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Resp { status: parts.status, headers: parts.headers, body }
    }
}
