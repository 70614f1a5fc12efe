//! Plain HTTP/1.1 requests whose bodies stream in both directions: a tar uploaded while the
//! daemon answers (`/images/load`), a tar or a progress stream downloaded as it is produced
//! (`/images/get`, `/containers/{id}/export`, `/images/create`).
//!
//! bollard buffers or re-encodes some of these (its registry-auth header is not Docker's
//! base64url, its progress types drop fields the CLI renders), so the CLI's image transfer
//! commands use this module instead.

use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::hijack::{self, encode, error_message, pump_body, read_body, read_head};
use crate::{Error, Host};

/// The body of a request.
pub enum Body {
    /// No body (`Content-Length: 0` on POST, nothing on GET).
    Empty,
    /// A JSON document, as text.
    Json(String),
    /// Bytes read from `reader` while the request is sent, with chunked transfer encoding.
    Stream {
        /// The `Content-Type` header, e.g. `application/x-tar`.
        content_type: String,
        /// Where the bytes come from.
        reader: Pin<Box<dyn AsyncRead + Send>>,
    },
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Json(v) => write!(f, "Json({v})"),
            Body::Stream { content_type, .. } => write!(f, "Stream({content_type})"),
        }
    }
}

/// A successful (2xx) response whose body is still arriving.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: BodyStream,
}

/// A response body as it arrives, transfer encoding removed.
#[derive(Debug)]
pub struct BodyStream {
    rx: mpsc::Receiver<Result<Vec<u8>, Error>>,
}

impl BodyStream {
    /// A body made of these chunks (for tests and fakes).
    pub fn from_chunks(chunks: Vec<Result<Vec<u8>, Error>>) -> BodyStream {
        let (tx, rx) = mpsc::channel(chunks.len().max(1));
        for c in chunks {
            let _ = tx.try_send(c);
        }
        BodyStream { rx }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Option<Result<Vec<u8>, Error>> {
        self.rx.recv().await
    }

    /// Read the whole body.
    pub async fn bytes(mut self) -> Result<Vec<u8>, Error> {
        let mut all = Vec::new();
        while let Some(c) = self.chunk().await {
            all.extend(c?);
        }
        Ok(all)
    }
}

/// One request: method, path (without the version prefix), query pairs (a name may repeat),
/// extra headers and the body.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// The path below `/v{version}`, e.g. `/images/create`.
    pub path: String,
    /// Query pairs, percent-encoded when sent.
    pub query: Vec<(String, String)>,
    /// Extra headers, e.g. `X-Registry-Auth`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Request {
    /// A request without query, headers or body.
    pub fn new(method: &'static str, path: impl Into<String>) -> Request {
        Request { method, path: path.into(), query: Vec::new(), headers: Vec::new(), body: Body::Empty }
    }

    /// Add a query pair.
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Request {
        self.query.push((name.to_string(), value.into()));
        self
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: Body) -> Request {
        self.body = body;
        self
    }
}

/// The request head as sent: request line, headers (ours, then the caller's), framing.
pub(crate) fn head_bytes(host: &Host, version: &str, req: &Request) -> Vec<u8> {
    let mut target = format!("/v{version}{}", req.path);
    if !req.query.is_empty() {
        let pairs: Vec<String> = req.query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        target.push('?');
        target.push_str(&pairs.join("&"));
    }
    let host_header = match host {
        Host::Unix(_) => "api.moby.localhost".to_string(),
        Host::Tcp(a) | Host::Tls(a, _) => a.clone(),
    };
    let mut head = format!("{} {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: berth-cli\r\n", req.method);
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match &req.body {
        Body::Empty if req.method == "GET" || req.method == "HEAD" => {}
        Body::Empty => head.push_str("Content-Length: 0\r\n"),
        Body::Json(v) => {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", v.len()))
        }
        Body::Stream { content_type, .. } => {
            head.push_str(&format!("Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n"))
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    if let Body::Json(v) = &req.body {
        bytes.extend_from_slice(v.as_bytes());
    }
    bytes
}

/// Send `req` and return the response once its head arrived. A status outside 2xx becomes
/// [`Error::Daemon`] with the daemon's message. A streamed request body is sent while the
/// response is read, so the daemon may answer (and stream) before the upload ends; an error
/// reading the upload's source ends the response body with that error.
pub(crate) async fn send(host: &Host, version: &str, req: Request) -> Result<Response, Error> {
    let head = head_bytes(host, version, &req);
    let (mut reader, mut writer) = hijack::connect(host).await?;
    let (tx, rx) = mpsc::channel(16);
    // The write half lives as long as the response is read: a daemon may take a half-closed
    // connection for a client that went away.
    let (upload, keep): (Option<AbortOnDrop>, Option<hijack::Writer>) =
        match req.body {
            Body::Stream { reader: source, .. } => {
                let tx = tx.clone();
                let task = tokio::spawn(async move {
                    let result = async {
                        writer.write_all(&head).await.map_err(|_| Upload::Send)?;
                        copy_chunked(source, &mut writer).await
                    }
                    .await;
                    match result {
                        Ok(()) => Some(writer),
                        Err(Upload::Source(e)) => {
                            let _ = tx.send(Err(Error::Io(e))).await;
                            None
                        }
                        // The daemon stopped reading: its answer says why.
                        Err(Upload::Send) => None,
                    }
                });
                (Some(AbortOnDrop(task)), None)
            }
            _ => {
                writer.write_all(&head).await?;
                writer.flush().await?;
                (None, Some(writer))
            }
        };
    let (head, rest) = match read_head(&mut reader).await {
        Ok(h) => h,
        Err(e) => {
            drop(upload);
            return Err(e);
        }
    };
    if !(200..300).contains(&head.status) {
        drop(upload);
        let body = read_body(&mut reader, &head, rest).await?;
        return Err(Error::Daemon { status: head.status, message: error_message(&body) });
    }
    let content_type = head.content_type.clone();
    let status = head.status;
    tokio::spawn(pump_body(reader, Box::new((upload, keep)), head, rest, tx));
    Ok(Response { status, content_type, body: BodyStream { rx } })
}

/// The upload task, stopped when the response is dropped (nobody waits for it any more).
struct AbortOnDrop(tokio::task::JoinHandle<Option<hijack::Writer>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Upload {
    Source(std::io::Error),
    Send,
}

/// Copy `source` to `w` in HTTP chunks, then the last chunk.
async fn copy_chunked(
    mut source: Pin<Box<dyn AsyncRead + Send>>,
    w: &mut hijack::Writer,
) -> Result<(), Upload> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = source.read(&mut buf).await.map_err(Upload::Source)?;
        if n == 0 {
            break;
        }
        let mut frame = format!("{n:x}\r\n").into_bytes();
        frame.extend_from_slice(&buf[..n]);
        frame.extend_from_slice(b"\r\n");
        w.write_all(&frame).await.map_err(|_| Upload::Send)?;
    }
    w.write_all(b"0\r\n\r\n").await.map_err(|_| Upload::Send)?;
    w.flush().await.map_err(|_| Upload::Send)
}


/// A one-request fake daemon for tests.
#[cfg(test)]
pub(crate) mod fake {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;

    use crate::Host;

    /// A daemon that reads a whole request (chunked body included), then answers.
    pub(crate) async fn serve(response: &'static [u8]) -> (tempfile::TempDir, Host, tokio::task::JoinHandle<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let task = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let text = String::from_utf8_lossy(&req).to_string();
                let done = match text.find("\r\n\r\n") {
                    Some(end) if text.contains("chunked") => text[end..].contains("\r\n0\r\n\r\n"),
                    Some(_) => true,
                    None => false,
                };
                if done {
                    break;
                }
                let n = conn.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&chunk[..n]);
            }
            conn.write_all(response).await.unwrap();
            req
        });
        (dir, Host::Unix(path), task)
    }

}

#[cfg(test)]
mod tests {
    use super::fake::serve;
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixListener;

    #[test]
    fn heads_carry_headers_and_framing() {
        let host = Host::Unix("/x.sock".into());
        let req = Request::new("POST", "/images/create")
            .query("fromImage", "docker.io/library/busybox")
            .query("tag", "latest")
            .header("X-Registry-Auth", "e30=");
        let text = String::from_utf8(head_bytes(&host, "1.47", &req)).unwrap();
        assert_eq!(
            text,
            "POST /v1.47/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest HTTP/1.1\r\n\
             Host: api.moby.localhost\r\nUser-Agent: berth-cli\r\nX-Registry-Auth: e30=\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let req = Request::new("GET", "/images/get").query("names", "a").query("names", "b:1");
        let text = String::from_utf8(head_bytes(&host, "1.47", &req)).unwrap();
        assert!(text.starts_with("GET /v1.47/images/get?names=a&names=b%3A1 HTTP/1.1\r\n"), "{text}");
        assert!(!text.contains("Content-Length"), "{text}");
        let req = Request::new("POST", "/images/load")
            .body(Body::Stream { content_type: "application/x-tar".into(), reader: Box::pin(&b""[..]) });
        let text = String::from_utf8(head_bytes(&host, "1.47", &req)).unwrap();
        assert!(text.contains("Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n"), "{text}");
        let req = Request::new("POST", "/auth").body(Body::Json(r#"{"username":"u"}"#.into()));
        let text = String::from_utf8(head_bytes(&host, "1.47", &req)).unwrap();
        assert!(text.ends_with("Content-Length: 16\r\nConnection: close\r\n\r\n{\"username\":\"u\"}"), "{text}");
    }

    #[tokio::test]
    async fn uploads_stream_chunked_and_bodies_stream_back() {
        let (_dir, host, server) = serve(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n",
        )
        .await;
        let req = Request::new("POST", "/images/load")
            .query("quiet", "1")
            .body(Body::Stream { content_type: "application/x-tar".into(), reader: Box::pin(&b"tarbytes"[..]) });
        let resp = send(&host, "1.47", req).await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.content_type.as_deref(), Some("application/json"));
        assert_eq!(resp.body.bytes().await.unwrap(), b"hello!");
        let sent = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(sent.starts_with("POST /v1.47/images/load?quiet=1 HTTP/1.1\r\n"), "{sent}");
        assert!(sent.ends_with("\r\n\r\n8\r\ntarbytes\r\n0\r\n\r\n"), "{sent}");
    }

    #[tokio::test]
    async fn error_statuses_become_daemon_errors() {
        let (_dir, host, _server) = serve(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n\
              {\"message\":\"No such image: nope\"}\n",
        )
        .await;
        let err = send(&host, "1.47", Request::new("GET", "/images/get").query("names", "nope")).await.unwrap_err();
        match err {
            Error::Daemon { status, message } => {
                assert_eq!(status, 404);
                assert_eq!(message, "No such image: nope");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_failing_upload_source_ends_the_body_with_its_error() {
        struct Broken;
        impl AsyncRead for Broken {
            fn poll_read(
                self: Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                _: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut chunk = [0u8; 4096];
            let _ = conn.read(&mut chunk).await.unwrap();
            conn.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
            // Keep the connection open until the client gives up.
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest).await;
        });
        let req = Request::new("POST", "/images/load")
            .body(Body::Stream { content_type: "application/x-tar".into(), reader: Box::pin(Broken) });
        let mut resp = send(&Host::Unix(path), "1.47", req).await.unwrap();
        let first = resp.body.chunk().await.unwrap();
        assert!(matches!(first, Err(Error::Io(ref e)) if e.to_string() == "disk on fire"), "{first:?}");
        drop(resp);
        server.abort();
    }
}
