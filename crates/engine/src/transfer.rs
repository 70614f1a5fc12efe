//! Moving images in and out: registry pulls and pushes (through [`berth_distribution`]),
//! `docker save` / `docker load` (through [`berth_image::archive`]), and the login check.
//!
//! The store is synchronous and runs in `spawn_blocking`. Bytes cross between blocking code
//! and the async server through bounded channels, in both directions: a request body is read
//! by a [`ChannelReader`](crate::images::ChannelReader) (load), and what a blocking writer
//! produces is streamed out by [`writer_stream`] (save, export), so memory stays flat however
//! large the archive is, and a client that goes away stops the work at its next write.

use std::io::{self, Write};

use berth_distribution::{Credentials, PullResult, PushResult};
use berth_errdefs::{Error, Result};
use berth_image::archive::Loaded;
use berth_reference::{Digest, Reference};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::images::{feed_body, ChannelReader};
use crate::service::{ByteStream, LoginRequest, ProgressSender, PullRequest, PushRequest};
use crate::Engine;

/// Chunks in flight between a blocking writer and the client.
const CHANNEL_DEPTH: usize = 4;
/// Size of one chunk (the writer's buffer): at most `CHANNEL_DEPTH + 2` of them are held.
const CHUNK: usize = 256 * 1024;

fn kinded<E: berth_errdefs::HasKind + ?Sized>(e: &E) -> Error {
    Error::from_kind(e)
}

/// A blocking writer whose bytes go to an async receiver, one chunk per write. A receiver
/// that is gone (the client hung up) makes writes fail with a broken pipe.
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.tx
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Run `produce` on a blocking thread, writing into a (buffered) channel, and return what it
/// writes as a stream.
///
/// The first bytes are waited for: when `produce` fails before writing anything, its error is
/// returned instead of a stream, so the server can still answer with a status. A later failure
/// ends the stream with an error item. Bytes buffered when `produce` fails are discarded.
pub(crate) async fn writer_stream<F>(produce: F) -> Result<ByteStream>
where
    F: FnOnce(&mut dyn Write) -> Result<()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let task = tokio::task::spawn_blocking(move || {
        let mut w = io::BufWriter::with_capacity(CHUNK, ChannelWriter { tx });
        match produce(&mut w) {
            Ok(()) => w.flush().map_err(|e| Error::internal(format!("write: {e}"))),
            Err(e) => {
                // Not a byte more: what is buffered may be half an entry.
                let _ = w.into_parts();
                Err(e)
            }
        }
    });
    let join = |task: tokio::task::JoinHandle<Result<()>>| async move {
        task.await.map_err(|e| Error::internal(format!("writer task: {e}")))?
    };
    let Some(first) = rx.recv().await else {
        join(task).await?;
        return Ok(futures_util::stream::empty().boxed());
    };
    let rest = futures_util::stream::unfold(Some((rx, task)), move |state| async move {
        let (mut rx, task) = state?;
        match rx.recv().await {
            Some(b) => Some((Ok(b), Some((rx, task)))),
            None => match join(task).await {
                Ok(()) => None,
                Err(e) => Some((Err(io::Error::other(e.message().to_string())), None)),
            },
        }
    });
    Ok(futures_util::stream::once(async move { Ok(first) }).chain(rest).boxed())
}

/// The reference `fromImage` and `tag` name, as dockerd's router builds it: a trailing `:`
/// (from `pull -a`) is dropped; a tag that is a digest makes a digest reference.
pub(crate) fn pull_reference(image: &str, tag: Option<&str>) -> Result<Reference> {
    let name = image.strip_suffix(':').unwrap_or(image);
    let r = Reference::parse_normalized(name).map_err(|e| kinded(&e))?;
    match tag.filter(|t| !t.is_empty()) {
        None => Ok(r),
        Some(t) => match Digest::parse(t) {
            Ok(d) => Ok(r.trim().with_digest(d)),
            Err(_) => r.with_tag(t).map_err(|e| kinded(&e)),
        },
    }
}

/// The reference a push names: `name` with `tag`, or `name` alone (every local tag).
pub(crate) fn push_reference(name: &str, tag: Option<&str>) -> Result<Reference> {
    match tag.filter(|t| !t.is_empty()) {
        Some(t) => berth_reference::repo_tag_reference(name, Some(t))
            .map_err(|e| kinded(&e))?
            .ok_or_else(|| Error::invalid("repository name must have at least one component")),
        None => Reference::parse_normalized(name).map_err(|e| kinded(&e)),
    }
}

/// Credentials from an `X-Registry-Auth` header. As dockerd, an undecodable header is
/// ignored (anonymous access).
fn credentials(header: Option<&str>) -> Option<Credentials> {
    let h = header?;
    match berth_distribution::parse_registry_auth(h) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "ignoring X-Registry-Auth");
            None
        }
    }
}

impl Engine {
    /// `docker pull`.
    pub(crate) async fn pull_image(&self, req: PullRequest, progress: ProgressSender) -> Result<PullResult> {
        let r = pull_reference(&req.image, req.tag.as_deref())?;
        let creds = credentials(req.registry_auth.as_deref());
        let platform = req.platform.filter(|p| !p.trim().is_empty());
        self.registry
            .pull(&r, creds.as_ref(), platform.as_deref(), self.images.store().clone(), progress)
            .await
            .map_err(|e| kinded(&e))
    }

    /// `docker push`.
    pub(crate) async fn push_image(&self, req: PushRequest, progress: ProgressSender) -> Result<PushResult> {
        let r = push_reference(&req.name, req.tag.as_deref())?;
        let creds = credentials(req.registry_auth.as_deref());
        self.registry
            .push(&r, creds.as_ref(), self.images.store().clone(), progress)
            .await
            .map_err(|e| kinded(&e))
    }

    /// `docker save`: the archive as a stream (the store checks every name before writing
    /// the first byte, so an unknown one is an error, not a broken stream), and the ids the
    /// names designate (for events; a repository name alone saves all its tags).
    pub(crate) async fn save_images(&self, names: Vec<String>) -> Result<(Vec<String>, ByteStream)> {
        let store = self.images.store().clone();
        let mut ids: Vec<String> = Vec::new();
        for id in names.iter().filter_map(|n| store.resolve(n).ok()) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let stream = writer_stream(move |w| berth_image::archive::save(&store, &names, w).map_err(|e| kinded(&e))).await?;
        Ok((ids, stream))
    }

    /// `docker load`: read the archive from the body as it arrives.
    pub(crate) async fn load_images(&self, body: ByteStream) -> Result<Vec<Loaded>> {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
        let store = self.images.store().clone();
        let task = tokio::task::spawn_blocking(move || {
            berth_image::archive::load(&store, ChannelReader { rx, current: Bytes::new() })
        });
        feed_body(body, tx).await;
        task.await
            .map_err(|e| Error::internal(format!("load: {e}")))?
            .map_err(|e| kinded(&e))
    }

    /// `POST /auth`.
    pub(crate) async fn registry_login(&self, req: LoginRequest) -> Result<Option<String>> {
        let creds = Credentials {
            username: req.username,
            password: req.password,
            identity_token: req.identity_token.filter(|t| !t.is_empty()),
            registry_token: None,
        };
        self.registry.login(&req.server_address, &creds).await.map_err(|e| kinded(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_errdefs::{HasKind, Kind};

    #[test]
    fn pull_references_follow_dockerd() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases: Vec<(&str, Option<&str>, Result<String, Kind>)> = vec![
            ("busybox", Some("latest"), Ok("docker.io/library/busybox:latest".into())),
            ("busybox", None, Ok("docker.io/library/busybox".into())),
            ("busybox:", None, Ok("docker.io/library/busybox".into())),
            ("busybox", Some(""), Ok("docker.io/library/busybox".into())),
            ("localhost:5000/a/b", Some("v1"), Ok("localhost:5000/a/b:v1".into())),
            ("busybox:1", Some("2"), Ok("docker.io/library/busybox:2".into())),
            ("busybox", Some(d.as_str()), Ok(format!("docker.io/library/busybox@{d}"))),
            ("busybox:1", Some(d.as_str()), Ok(format!("docker.io/library/busybox@{d}"))),
            ("Busybox", Some("latest"), Err(Kind::InvalidArgument)),
            ("busybox", Some("bad tag"), Err(Kind::InvalidArgument)),
            ("", Some("latest"), Err(Kind::InvalidArgument)),
        ];
        for (image, tag, want) in cases {
            let got = pull_reference(image, tag).map(|r| r.to_string()).map_err(|e| e.kind());
            assert_eq!(got, want, "{image} {tag:?}");
        }
    }

    #[test]
    fn push_references_follow_dockerd() {
        let cases: Vec<(&str, Option<&str>, Result<&str, Kind>)> = vec![
            ("localhost:5000/app", Some("1"), Ok("localhost:5000/app:1")),
            ("localhost:5000/app", None, Ok("localhost:5000/app")),
            ("localhost:5000/app:2", None, Ok("localhost:5000/app:2")),
            ("app", Some("latest"), Ok("docker.io/library/app:latest")),
            ("App", Some("latest"), Err(Kind::InvalidArgument)),
            ("app", Some("no good"), Err(Kind::InvalidArgument)),
        ];
        for (name, tag, want) in cases {
            let got = push_reference(name, tag).map(|r| r.to_string()).map_err(|e| e.kind());
            assert_eq!(got, want.map(str::to_string), "{name} {tag:?}");
        }
    }

    #[test]
    fn undecodable_auth_is_anonymous() {
        assert_eq!(credentials(None), None);
        assert_eq!(credentials(Some("!!!")), None);
        assert_eq!(credentials(Some("e30")), None, "{{}} is no credential");
        // {"username":"u","password":"p"}
        let c = credentials(Some("eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifQ")).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
    }

    fn collect(rt: &tokio::runtime::Runtime, s: ByteStream) -> (Vec<u8>, Option<String>) {
        rt.block_on(async move {
            let mut s = s;
            let mut out = Vec::new();
            while let Some(item) = s.next().await {
                match item {
                    Ok(b) => out.extend_from_slice(&b),
                    Err(e) => return (out, Some(e.to_string())),
                }
            }
            (out, None)
        })
    }

    #[test]
    fn writer_streams_report_early_errors_as_errors_and_late_ones_in_band() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        // Much more than the channel holds: the writer waits for the reader.
        let s = rt
            .block_on(writer_stream(|w| {
                for i in 0..64u8 {
                    w.write_all(&[i; 100_000]).map_err(|e| Error::internal(e.to_string()))?;
                }
                Ok(())
            }))
            .unwrap();
        let (out, err) = collect(&rt, s);
        assert_eq!((out.len(), err), (6_400_000, None));
        assert!(out[..100_000].iter().all(|b| *b == 0) && out[6_300_000..].iter().all(|b| *b == 63));

        let e = rt
            .block_on(writer_stream(|w| {
                w.write_all(b"half an entry").map_err(|e| Error::internal(e.to_string()))?;
                Err(Error::not_found("No such image: nope"))
            }))
            .err()
            .unwrap();
        assert_eq!((e.kind(), e.message()), (Kind::NotFound, "No such image: nope"));

        let s = rt
            .block_on(writer_stream(|w| {
                w.write_all(&[1; CHUNK * 2]).map_err(|e| Error::internal(e.to_string()))?;
                Err(Error::internal("disk on fire"))
            }))
            .unwrap();
        let (out, err) = collect(&rt, s);
        assert_eq!(out.len(), CHUNK * 2);
        assert_eq!(err.as_deref(), Some("disk on fire"));

        let s = rt.block_on(writer_stream(|_| Ok(()))).unwrap();
        assert_eq!(collect(&rt, s), (Vec::new(), None));
    }

    #[test]
    fn a_reader_that_goes_away_stops_the_writer() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let mut s = rt
            .block_on(writer_stream(move |w| {
                let mut res = Ok(());
                for _ in 0..10_000 {
                    if let Err(e) = w.write_all(&[0; 65536]) {
                        res = Err(e);
                        break;
                    }
                }
                let _ = done_tx.send(res.as_ref().map_err(|e| e.kind()).err());
                Ok(())
            }))
            .unwrap();
        rt.block_on(async { s.next().await.unwrap().unwrap() });
        drop(s);
        let kind = done_rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(kind, Some(io::ErrorKind::BrokenPipe));
    }
}
