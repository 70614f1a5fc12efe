//! The server on a real unix socket, driven by a hand-written HTTP/1.1 client: hijacked
//! attach with half-close, and wait's early headers.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

use super::fake::Fake;
use crate::{serve_unix, Server, ServerInfo};

const LIMIT: Duration = Duration::from_secs(10);

/// A connection with a read buffer, so that bytes after the response head are kept.
struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(LIMIT, self.stream.read(&mut chunk))
            .await
            .expect("read timed out")
            .unwrap();
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Read the status line and headers.
    async fn head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
                self.buf.drain(..end + 4);
                return head;
            }
            assert!(self.fill().await > 0, "connection closed before the response head");
        }
    }

    async fn exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await > 0, "connection closed early");
        }
        self.buf.drain(..n).collect()
    }

    /// One multiplexed frame: (stream id, payload).
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        let header = self.exact(8).await;
        assert_eq!(&header[1..4], &[0, 0, 0]);
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        (header[0], self.exact(len).await)
    }

    async fn at_eof(&mut self) -> bool {
        self.buf.is_empty() && self.fill().await == 0
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn attach_upgrades_and_half_close_reaches_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("berth.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let fake = Fake::new();
    let router = Server::new(Arc::new(fake.clone()), ServerInfo::default()).router();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let served = tokio::spawn(serve_unix(listener, router, async move {
        let _ = stop_rx.await;
    }));

    // Attach: 101, a stdout frame, our stdin, half-close, the fake's stderr report, EOF.
    let mut c = Conn { stream: UnixStream::connect(&sock).await.unwrap(), buf: Vec::new() };
    c.stream
        .write_all(
            b"POST /v1.47/containers/c1/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n\
              Host: api\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        )
        .await
        .unwrap();
    let head = c.head().await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(header(&head, "upgrade"), Some("tcp"));
    assert_eq!(
        header(&head, "connection").map(str::to_ascii_lowercase).as_deref(),
        Some("upgrade")
    );
    assert_eq!(header(&head, "content-type"), Some("application/vnd.docker.multiplexed-stream"));
    assert_eq!(header(&head, "api-version"), Some("1.47"));
    assert_eq!(c.frame().await, (1, b"hello\n".to_vec()));

    c.stream.write_all(b"abc").await.unwrap();
    c.stream.write_all(b"def\n").await.unwrap();
    c.stream.shutdown().await.unwrap();
    assert_eq!(c.frame().await, (2, b"stdin closed after 7 bytes\n".to_vec()));
    assert!(c.at_eof().await, "server shuts its side down once the output ends");
    {
        let rec = fake.rec.lock().unwrap();
        assert_eq!(rec.stdin, b"abcdef\n");
        assert!(rec.stdin_closed);
        let opts = rec.attach_opts.as_ref().unwrap();
        assert!(opts.stdin && opts.stdout && opts.stderr && opts.stream && !opts.logs);
    }

    // A client that goes away entirely (no half-close first) releases a silent session.
    let mut c = Conn { stream: UnixStream::connect(&sock).await.unwrap(), buf: Vec::new() };
    c.stream
        .write_all(
            b"POST /containers/silent/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n\
              Host: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        )
        .await
        .unwrap();
    assert!(c.head().await.starts_with("HTTP/1.1 101"));
    assert_eq!(c.frame().await, (1, b"hello\n".to_vec()));
    drop(c);
    let released = async {
        while fake.rec.lock().unwrap().detached.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(LIMIT, released).await.expect("the session is dropped");

    // Attach to an unknown container: a plain 404 on the same kind of request.
    let mut c = Conn { stream: UnixStream::connect(&sock).await.unwrap(), buf: Vec::new() };
    c.stream
        .write_all(
            b"POST /containers/nope/attach?stream=1&stdout=1 HTTP/1.1\r\n\
              Host: api\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        )
        .await
        .unwrap();
    let head = c.head().await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // Wait (on another container): the 200 head arrives before it exits; the body when it
    // does.
    let mut c = Conn { stream: UnixStream::connect(&sock).await.unwrap(), buf: Vec::new() };
    c.stream
        .write_all(b"POST /containers/up/wait?condition=next-exit HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let head = c.head().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    assert_eq!(fake.pending_waits(), 1);
    fake.finish_waits(0);
    let mut body = String::new();
    while !body.contains("{\"StatusCode\":0}") {
        assert!(c.fill().await > 0, "connection closed before the wait result");
        body = String::from_utf8_lossy(&c.buf).into_owned();
    }

    stop_tx.send(()).unwrap();
    tokio::time::timeout(LIMIT, served).await.expect("server stops").unwrap().unwrap();
}
