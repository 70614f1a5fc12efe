//! Output streams: the 8-byte multiplexing frames, and hijacked connections for attach and
//! attached exec.
//!
//! Without a TTY, stdout and stderr share one byte stream; every chunk is preceded by a header
//! `[stream id, 0, 0, 0, length as big-endian u32]`. With a TTY the bytes go out raw.
//!
//! Hijacking: the client asks for `Connection: Upgrade` / `Upgrade: tcp`; we answer
//! `101 Switching Protocols`, take the raw connection from hyper and copy the session's output
//! to it and the client's bytes to the session's stdin. When the client half-closes, the stdin
//! sender is dropped (closing the process's stdin) but output keeps flowing until the session
//! ends; then the write side is shut down. When the client goes away entirely, the session is
//! dropped (which detaches it).

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::service::{Chunk, Session, StdStream};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::unix::OwnedReadHalf;
use tokio::net::UnixStream;

use crate::version::ApiVersion;

/// Content type of raw (TTY) streams, and of every hijacked stream before API 1.42.
pub(crate) const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
/// Content type of multiplexed (non-TTY) streams from API 1.42 on.
pub(crate) const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// The content type announcing a stream's framing, as Docker chooses it.
pub(crate) fn stream_content_type(tty: bool, version: &ApiVersion) -> &'static str {
    if !tty && version.at_least("1.42") {
        MULTIPLEXED_STREAM
    } else {
        RAW_STREAM
    }
}

/// The 8-byte header of a multiplexed frame carrying `len` bytes of `stream`.
pub(crate) fn frame_header(stream: StdStream, len: u32) -> [u8; 8] {
    let l = len.to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Encode one chunk for the wire: raw with a TTY, otherwise as multiplexed frame(s).
pub(crate) fn encode_chunk(tty: bool, chunk: Chunk) -> Bytes {
    if tty {
        return chunk.data;
    }
    let mut out = BytesMut::with_capacity(chunk.data.len() + 8);
    // A frame carries at most u32::MAX bytes; a larger chunk becomes several frames.
    for piece in chunk.data.chunks(u32::MAX as usize) {
        out.put_slice(&frame_header(chunk.stream, piece.len() as u32));
        out.put_slice(piece);
    }
    out.freeze()
}

/// A streaming response body of encoded chunks.
pub(crate) fn chunk_body<S>(tty: bool, chunks: S) -> Body
where
    S: futures_util::Stream<Item = Chunk> + Send + 'static,
{
    Body::from_stream(
        chunks
            .filter(|c| std::future::ready(!c.data.is_empty()))
            .map(move |c| Ok::<_, Infallible>(encode_chunk(tty, c))),
    )
}

/// Answer an attach or attached exec with `session`.
///
/// With upgrade headers and an upgradable connection: `101` and a raw duplex connection.
/// Otherwise (old clients, or a transport without upgrades): `200` with the output as the
/// response body; stdin cannot be forwarded then, so the session's stdin is closed.
pub(crate) fn hijack(req: &mut Request, session: Session, version: &ApiVersion) -> Response {
    let wants_upgrade = req.headers().contains_key(header::UPGRADE);
    let on_upgrade = req.extensions_mut().remove::<OnUpgrade>();
    let tty = session.tty;
    match on_upgrade {
        Some(on_upgrade) if wants_upgrade => {
            tokio::spawn(async move {
                match on_upgrade.await {
                    Ok(upgraded) => serve_upgraded(upgraded, session).await,
                    Err(e) => tracing::debug!(error = %e, "connection upgrade failed"),
                }
            });
            let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(stream_content_type(tty, version)),
            );
            resp
        }
        _ => {
            let Session { output, stdin, .. } = session;
            drop(stdin);
            let chunks = futures_util::stream::unfold(output, |mut rx| async move {
                rx.recv().await.map(|c| (c, rx))
            });
            let mut resp = (StatusCode::OK, chunk_body(tty, chunks)).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_STREAM));
            resp
        }
    }
}

/// Serve a session on an upgraded connection. On our own unix sockets the raw stream is
/// recovered so that a client that goes away entirely is noticed even while the process is
/// silent; on other transports that is noticed at the next write.
async fn serve_upgraded(upgraded: Upgraded, session: Session) {
    match upgraded.downcast::<TokioIo<UnixStream>>() {
        Ok(parts) => {
            let (rd, wr) = parts.io.into_inner().into_split();
            pump(
                rd,
                parts.read_buf,
                wr,
                session,
                |rd: OwnedReadHalf| async move { hangup(&rd).await },
            )
            .await
        }
        Err(upgraded) => {
            let (rd, wr) = tokio::io::split(TokioIo::new(upgraded));
            pump(rd, Bytes::new(), wr, session, |_| std::future::pending()).await
        }
    }
}

/// Resolve once the peer of a unix socket has closed both directions (`POLLHUP`), as opposed
/// to half-closing its writing side, which only ends our reading.
async fn hangup(rd: &OwnedReadHalf) {
    loop {
        match rd.ready(Interest::WRITABLE).await {
            Ok(ready) if !ready.is_write_closed() => {
                // Writable is nearly always set; look again later rather than spin.
                tokio::time::sleep(HANGUP_POLL).await;
            }
            _ => return,
        }
    }
}

/// How often a half-closed hijacked connection is checked for a full close.
const HANGUP_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Copy a session over a raw duplex connection until its output ends or the client is gone.
///
/// `prefix` is input the HTTP layer had already read. After the client half-closes, its read
/// half is handed to `gone`, which resolves if the client then goes away entirely.
async fn pump<R, W, G, F>(mut rd: R, prefix: Bytes, mut wr: W, mut session: Session, gone: G)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
    G: FnOnce(R) -> F + Send + 'static,
    F: std::future::Future<Output = ()> + Send,
{
    let stdin = session.stdin.take();
    let mut input = tokio::spawn(async move {
        if let (Some(tx), false) = (&stdin, prefix.is_empty()) {
            let _ = tx.send(prefix).await;
        }
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(tx) = &stdin {
                        // A closed receiver means the process no longer reads; keep draining
                        // so that the client's half-close is still noticed.
                        let _ = tx.send(Bytes::copy_from_slice(&buf[..n])).await;
                    }
                }
                Err(e) => {
                    // A reset connection: the client is gone.
                    tracing::debug!(error = %e, "reading hijacked connection");
                    return;
                }
            }
        }
        // Dropping the sender closes the process's stdin: the client is done writing.
        drop(stdin);
        gone(rd).await;
    });

    let tty = session.tty;
    'out: loop {
        let chunk = tokio::select! {
            chunk = session.output.recv() => match chunk {
                Some(chunk) => chunk,
                None => break,
            },
            _ = &mut input => {
                tracing::debug!("hijacked connection closed by the client");
                break;
            }
        };
        let mut next = Some(chunk);
        // Write everything already queued, then flush once.
        while let Some(chunk) = next.take() {
            if !chunk.data.is_empty() && wr.write_all(&encode_chunk(tty, chunk)).await.is_err() {
                break 'out;
            }
            next = session.output.try_recv().ok();
        }
        if wr.flush().await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
    // Output is over: stop reading and let both halves (the connection) go.
    input.abort();
    drop(session);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_encode() {
        let cases: &[(bool, StdStream, &[u8], &[u8])] = &[
            (false, StdStream::Stdout, b"hi\n", b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"),
            (false, StdStream::Stderr, b"oops", b"\x02\x00\x00\x00\x00\x00\x00\x04oops"),
            (false, StdStream::Stdin, b"x", b"\x00\x00\x00\x00\x00\x00\x00\x01x"),
            (true, StdStream::Stdout, b"raw", b"raw"),
            (true, StdStream::Stderr, b"raw", b"raw"),
        ];
        for (tty, stream, data, want) in cases {
            let got =
                encode_chunk(*tty, Chunk { stream: *stream, data: Bytes::copy_from_slice(data) });
            assert_eq!(&got[..], *want, "tty={tty} stream={stream:?}");
        }
    }

    #[test]
    fn frame_length_is_big_endian() {
        assert_eq!(frame_header(StdStream::Stdout, 0x0102_0304), [1, 0, 0, 0, 1, 2, 3, 4]);
        let data = Bytes::from(vec![7u8; 300]);
        let got = encode_chunk(false, Chunk { stream: StdStream::Stderr, data });
        assert_eq!(&got[..8], &[2, 0, 0, 0, 0, 0, 1, 44]);
        assert_eq!(got.len(), 308);
    }

    #[test]
    fn content_types_follow_version() {
        let new = ApiVersion("1.47".into());
        let old = ApiVersion("1.41".into());
        assert_eq!(stream_content_type(false, &new), MULTIPLEXED_STREAM);
        assert_eq!(stream_content_type(true, &new), RAW_STREAM);
        assert_eq!(stream_content_type(false, &old), RAW_STREAM);
    }
}
