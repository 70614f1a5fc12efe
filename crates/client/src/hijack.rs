//! Hijacked connections: an HTTP/1.1 request with `Upgrade: tcp`, after which the socket
//! carries the container's raw stdio in both directions.
//!
//! The request is written by hand, as the docker CLI does, so that the caller owns the socket:
//! it can read bytes exactly as the daemon sent them and half-close the write side when its
//! stdin ends (the daemon then closes the container's stdin).

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::{Error, Host};

/// Largest response head we accept before giving up.
const MAX_HEAD: usize = 64 * 1024;

/// The two halves of a hijacked connection.
pub struct Hijacked {
    /// Bytes from the daemon: the container's output, framed or raw.
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
    /// Bytes to the daemon: the container's stdin. `shutdown()` half-closes the socket.
    pub writer: Pin<Box<dyn AsyncWrite + Send>>,
}

impl std::fmt::Debug for Hijacked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hijacked")
    }
}

pub(crate) type Reader = Pin<Box<dyn AsyncRead + Send>>;
pub(crate) type Writer = Pin<Box<dyn AsyncWrite + Send>>;

/// Open the connection, send the upgrade request, check the answer.
pub(crate) async fn hijack(
    host: &Host,
    version: &str,
    path: &str,
    query: &[(&str, String)],
    body: Option<&serde_json::Value>,
) -> Result<Hijacked, Error> {
    let request = build_request(host, version, path, query, body, true);
    let (mut reader, writer, head, rest) = exchange(host, &request).await?;
    if head.status == 101 || head.status == 200 {
        return Ok(Hijacked { reader: Box::pin(Prefixed { prefix: rest, pos: 0, inner: reader }), writer });
    }
    let body = read_body(&mut reader, &head, rest).await?;
    Err(Error::Daemon { status: head.status, message: error_message(&body) })
}

/// The outcome of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitExit {
    /// The container's exit code.
    pub status_code: i64,
    /// The daemon's error message about the wait, if any.
    pub error: Option<String>,
}

/// Send a wait request; `registered` fires once the response head arrived (moby sends it as
/// soon as the waiter is registered), then the exit is read from the body.
pub(crate) async fn wait(
    host: &Host,
    version: &str,
    id: &str,
    condition: &str,
    registered: tokio::sync::oneshot::Sender<()>,
) -> Result<WaitExit, Error> {
    let path = format!("/containers/{}/wait", encode(id));
    let request = build_request(host, version, &path, &[("condition", condition.to_string())], None, false);
    let (mut reader, _writer, head, rest) = exchange(host, &request).await?;
    let _ = registered.send(());
    let body = read_body(&mut reader, &head, rest).await?;
    if head.status != 200 {
        return Err(Error::Daemon { status: head.status, message: error_message(&body) });
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::Protocol(format!("bad wait response: {e}")))?;
    let status_code = v.get("StatusCode").and_then(|c| c.as_i64()).unwrap_or(0);
    let error = v
        .get("Error")
        .and_then(|e| e.get("Message"))
        .and_then(|m| m.as_str())
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    Ok(WaitExit { status_code, error })
}

/// `GET /v{version}{path}?{query}` and decode the JSON answer.
pub(crate) async fn get_json(
    host: &Host,
    version: &str,
    path: &str,
    query: &[(&str, String)],
) -> Result<serde_json::Value, Error> {
    let request = build_request_method("GET", host, version, path, query, None, false);
    let (mut reader, _writer, head, rest) = exchange(host, &request).await?;
    let body = read_body(&mut reader, &head, rest).await?;
    if head.status != 200 {
        return Err(Error::Daemon { status: head.status, message: error_message(&body) });
    }
    serde_json::from_slice(&body).map_err(|e| Error::Protocol(format!("bad JSON from {path}: {e}")))
}

/// `GET` a streaming endpoint (logs): the body's bytes arrive on the channel as they come,
/// with chunked transfer encoding removed. The channel closes at the end of the body.
pub(crate) async fn get_stream(
    host: &Host,
    version: &str,
    path: &str,
    query: &[(&str, String)],
) -> Result<tokio::sync::mpsc::Receiver<Result<Vec<u8>, Error>>, Error> {
    let request = build_request_method("GET", host, version, path, query, None, false);
    let (mut reader, writer, head, rest) = exchange(host, &request).await?;
    if head.status != 200 {
        let body = read_body(&mut reader, &head, rest).await?;
        return Err(Error::Daemon { status: head.status, message: error_message(&body) });
    }
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(pump_body(reader, Box::new(writer), head, rest, tx));
    Ok(rx)
}

/// Send the body of a response, after its head, to `tx` as it arrives (chunked transfer
/// encoding removed), until it ends, the connection breaks or the receiver goes away.
/// `keep` (the write half, say) lives as long as the body is read.
pub(crate) async fn pump_body(
    mut reader: Reader,
    keep: Box<dyn std::any::Any + Send>,
    head: Head,
    rest: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, Error>>,
) {
    let _keep = keep;
    let mut buf = rest;
    let mut remaining = head.content_length;
    loop {
        if head.chunked {
            loop {
                match take_chunk(&mut buf) {
                    Ok(Some(Some(data))) => {
                        if tx.send(Ok(data)).await.is_err() {
                            return;
                        }
                    }
                    Ok(Some(None)) => return,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        } else if !buf.is_empty() {
            let mut data = std::mem::take(&mut buf);
            if let Some(r) = remaining.as_mut() {
                data.truncate(*r);
                *r -= data.len();
            }
            if tx.send(Ok(data)).await.is_err() {
                return;
            }
        }
        if remaining == Some(0) {
            return;
        }
        match read_more(&mut reader, &mut buf).await {
            Ok(0) => {
                if head.chunked {
                    let _ = tx.send(Err(Error::Protocol("connection closed inside a chunked body".into()))).await;
                }
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        }
    }
}

/// Take one chunk off the front of `buf`: `Ok(None)` if incomplete, `Ok(Some(None))` at the
/// last chunk, `Ok(Some(Some(data)))` otherwise.
fn take_chunk(buf: &mut Vec<u8>) -> Result<Option<Option<Vec<u8>>>, Error> {
    let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
    let size_text = String::from_utf8_lossy(&buf[..line_end]).to_string();
    let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        .map_err(|_| Error::Protocol(format!("bad chunk size {size_text:?}")))?;
    if size == 0 {
        buf.clear();
        return Ok(Some(None));
    }
    if buf.len() < line_end + 2 + size + 2 {
        return Ok(None);
    }
    let data = buf[line_end + 2..line_end + 2 + size].to_vec();
    buf.drain(..line_end + 2 + size + 2);
    Ok(Some(Some(data)))
}

/// Connect, send `request`, read the response head. Returns the halves, the head and any
/// bytes read past it.
async fn exchange(host: &Host, request: &[u8]) -> Result<(Reader, Writer, Head, Vec<u8>), Error> {
    let (mut reader, mut writer) = connect(host).await?;
    writer.write_all(request).await?;
    writer.flush().await?;
    let (head, rest) = read_head(&mut reader).await?;
    Ok((reader, writer, head, rest))
}

/// Open a connection to the daemon, split into its halves.
pub(crate) async fn connect(host: &Host) -> Result<(Reader, Writer), Error> {
    let connect_err =
        |e: std::io::Error| Error::Connect { host: host.to_string(), reason: e.to_string() };
    Ok(match host {
        Host::Unix(p) => {
            let (r, w) = UnixStream::connect(p).await.map_err(connect_err)?.into_split();
            (Box::pin(r), Box::pin(w))
        }
        Host::Tcp(a) => {
            let (r, w) = TcpStream::connect(a).await.map_err(connect_err)?.into_split();
            (Box::pin(r), Box::pin(w))
        }
        Host::Tls(a, config) => {
            let tls = crate::tls::connect(a, config).await.map_err(|e| {
                if crate::is_unreachable(&e) {
                    connect_err(e)
                } else {
                    Error::ConnectFailed { host: host.to_string(), reason: e.to_string() }
                }
            })?;
            let (r, w) = tokio::io::split(tls);
            (Box::pin(r), Box::pin(w))
        }
    })
}

/// Read a response head; returns it and the bytes read past it.
pub(crate) async fn read_head(reader: &mut Reader) -> Result<(Head, Vec<u8>), Error> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(Error::Protocol("response head too large".into()));
        }
        if read_more(reader, &mut buf).await? == 0 {
            return Err(Error::Protocol("connection closed before response".into()));
        }
    };
    let head = parse_head(&buf[..head_end])?;
    let rest = buf[head_end..].to_vec();
    Ok((head, rest))
}

/// Read a response body (chunked, sized, or until close).
pub(crate) async fn read_body(reader: &mut Reader, head: &Head, rest: Vec<u8>) -> Result<Vec<u8>, Error> {
    let mut body = rest;
    if head.chunked {
        loop {
            if let Some(decoded) = decode_chunked(&body) {
                return Ok(decoded);
            }
            if read_more(reader, &mut body).await? == 0 {
                return Err(Error::Protocol("connection closed inside a chunked body".into()));
            }
        }
    }
    let want = head.content_length.unwrap_or(usize::MAX);
    while body.len() < want {
        if read_more(reader, &mut body).await? == 0 {
            break;
        }
    }
    body.truncate(want.min(body.len()));
    Ok(body)
}

async fn read_more(r: &mut Reader, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = r.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn build_request(
    host: &Host,
    version: &str,
    path: &str,
    query: &[(&str, String)],
    body: Option<&serde_json::Value>,
    upgrade: bool,
) -> Vec<u8> {
    build_request_method("POST", host, version, path, query, body, upgrade)
}

fn build_request_method(
    method: &str,
    host: &Host,
    version: &str,
    path: &str,
    query: &[(&str, String)],
    body: Option<&serde_json::Value>,
    upgrade: bool,
) -> Vec<u8> {
    let mut target = format!("/v{version}{path}");
    if !query.is_empty() {
        target.push('?');
        let pairs: Vec<String> =
            query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        target.push_str(&pairs.join("&"));
    }
    let host_header = match host {
        Host::Unix(_) => "api.moby.localhost".to_string(),
        Host::Tcp(a) | Host::Tls(a, _) => a.clone(),
    };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let connection = if upgrade { "Connection: Upgrade\r\nUpgrade: tcp\r\n" } else { "Connection: close\r\n" };
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: berth-cli\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{connection}\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    req
}

/// Percent-encode a query component (RFC 3986 unreserved characters pass through).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// What we use of a response head.
#[derive(Debug, PartialEq)]
pub(crate) struct Head {
    pub status: u16,
    pub content_length: Option<usize>,
    pub chunked: bool,
    pub content_type: Option<String>,
}

fn parse_head(head: &[u8]) -> Result<Head, Error> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let proto = parts.next().unwrap_or_default();
    if !proto.starts_with("HTTP/") {
        return Err(Error::Protocol(format!("bad status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Protocol(format!("bad status line {status_line:?}")))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut content_type = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                content_length = v.parse().ok();
            } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            } else if k == "content-type" {
                content_type = Some(v.to_string());
            }
        }
    }
    Ok(Head { status, content_length, chunked, content_type })
}

/// Decode a complete chunked body, or `None` if more bytes are needed.
fn decode_chunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// The `message` of a JSON error body, or the body itself.
pub(crate) fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

/// A reader that first yields bytes read past the response head.
struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    inner: Pin<Box<dyn AsyncRead + Send>>,
}

impl AsyncRead for Prefixed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = (self.prefix.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        self.inner.as_mut().poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    #[test]
    fn request_is_an_upgrade_with_versioned_path_and_encoded_query() {
        let host = Host::Unix("/x.sock".into());
        let body = serde_json::json!({"Detach": false});
        let req = build_request(&host, "1.47", "/exec/abc/start", &[("detachKeys", "ctrl-p,ctrl-q".into())], Some(&body), true);
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("POST /v1.47/exec/abc/start?detachKeys=ctrl-p%2Cctrl-q HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"));
        assert!(text.contains("Content-Length: 16\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"Detach\":false}"));
    }

    #[test]
    fn heads_parse() {
        let h = parse_head(b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n").unwrap();
        assert_eq!(h, Head { status: 101, content_length: None, chunked: false, content_type: None });
        let h = parse_head(b"HTTP/1.1 404 Not Found\r\ncontent-length: 7\r\n\r\n").unwrap();
        assert_eq!(h, Head { status: 404, content_length: Some(7), chunked: false, content_type: None });
        let h = parse_head(b"HTTP/1.1 500 x\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert!(h.chunked);
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_bodies_decode() {
        assert_eq!(decode_chunked(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(), b"abcde");
        assert_eq!(decode_chunked(b"3\r\nab"), None);
    }

    #[test]
    fn error_messages_come_from_json() {
        assert_eq!(error_message(br#"{"message":"No such container: x"}"#), "No such container: x");
        assert_eq!(error_message(b"plain text\n"), "plain text");
    }

    async fn serve_once(response: &'static [u8]) -> (tempfile::TempDir, Host, tokio::task::JoinHandle<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let task = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut chunk = [0u8; 1024];
            while find_head_end(&req).is_none() {
                let n = conn.read(&mut chunk).await.unwrap();
                req.extend_from_slice(&chunk[..n]);
            }
            conn.write_all(response).await.unwrap();
            // Echo whatever the client sends until it half-closes.
            let mut echoed = Vec::new();
            conn.read_to_end(&mut echoed).await.unwrap();
            conn.write_all(&echoed).await.unwrap();
            echoed
        });
        (dir, Host::Unix(path), task)
    }

    #[tokio::test]
    async fn hijack_hands_over_raw_stream_and_half_closes() {
        let (_dir, host, server) = serve_once(b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\nearly").await;
        let mut h = hijack(&host, "1.47", "/containers/x/attach", &[], None).await.unwrap();
        h.writer.write_all(b"input").await.unwrap();
        h.writer.shutdown().await.unwrap();
        let mut out = Vec::new();
        h.reader.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"earlyinput");
        assert_eq!(server.await.unwrap(), b"input");
    }

    #[tokio::test]
    async fn wait_signals_registration_then_reads_exit() {
        let (_dir, host, _server) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1d\r\n{\"StatusCode\":3,\"Error\":null}\r\n0\r\n\r\n",
        )
        .await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let exit = wait(&host, "1.47", "abc", "next-exit", tx).await.unwrap();
        rx.await.unwrap();
        assert_eq!(exit, WaitExit { status_code: 3, error: None });
    }

    #[tokio::test]
    async fn get_json_reads_sized_bodies() {
        let (_dir, host, _server) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"LayersSize\":7}").await;
        let v = get_json(&host, "1.47", "/system/df", &[]).await.unwrap();
        assert_eq!(v["LayersSize"], 7);
    }

    #[test]
    fn chunks_come_off_one_at_a_time() {
        let mut buf = b"3\r\nabc\r\n2\r\nd".to_vec();
        assert_eq!(take_chunk(&mut buf).unwrap(), Some(Some(b"abc".to_vec())));
        assert_eq!(take_chunk(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"e\r\n0\r\n\r\n");
        assert_eq!(take_chunk(&mut buf).unwrap(), Some(Some(b"de".to_vec())));
        assert_eq!(take_chunk(&mut buf).unwrap(), Some(None));
        assert!(take_chunk(&mut b"zz\r\n".to_vec()).is_err());
    }

    #[tokio::test]
    async fn get_stream_decodes_chunks() {
        let (_dir, host, _server) =
            serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n").await;
        let mut rx = get_stream(&host, "1.47", "/containers/x/logs", &[]).await.unwrap();
        let mut all = Vec::new();
        while let Some(chunk) = rx.recv().await {
            all.extend(chunk.unwrap());
        }
        assert_eq!(all, b"hello!");
    }

    #[tokio::test]
    async fn hijack_surfaces_daemon_errors() {
        let (_dir, host, _server) = serve_once(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 36\r\n\r\n{\"message\":\"No such container: abc\"}",
        )
        .await;
        let err = hijack(&host, "1.47", "/containers/abc/attach", &[], None).await.unwrap_err();
        match err {
            Error::Daemon { status, message } => {
                assert_eq!(status, 404);
                assert_eq!(message, "No such container: abc");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
