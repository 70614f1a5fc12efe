//! `docker pull`: resolve the reference to a manifest (an index picks the platform), fetch
//! the config, then every missing layer: download into the content store (digest and size
//! verified before anything is visible) and unpack right away, several layers at once
//! (downloads limited to `max_concurrent_downloads`; unpacking one layer does not wait for
//! another, since chain ids come from the config). Last, the image is created, tagged and
//! given its repository digest.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_image::manifest::{self, media_types, AnyManifest, Descriptor, ImageManifest, Platform};
use berth_image::{ImageStore, LayerBlob};
use berth_reference::{Digest, Reference};
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::join_all;
use hyper::body::Body as _;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use tokio::sync::Semaphore;

use crate::auth::{Access, Credentials};
use crate::progress::{short, Meter, Progress, Sink};
use crate::transport::{self, ReqBody, Session, SMALL_BODY_LIMIT};
use crate::wire;
use crate::{Client, Error};

/// What a pull did, and what Docker prints at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullResult {
    /// The reference pulled, normalised (`docker.io/library/busybox:latest`).
    pub reference: Reference,
    /// The digest the reference resolved to (the index's for multi-platform images): the
    /// `Digest:` line and the repository digest.
    pub digest: Digest,
    /// The image id (`sha256:` of its config).
    pub image_id: String,
    /// True when the reference already named this image before the pull.
    pub up_to_date: bool,
    /// `Status: Downloaded newer image for busybox:latest` or
    /// `Status: Image is up to date for busybox:latest`.
    pub status: String,
}

/// The error of a layer job stopped because another one failed (never returned as such
/// when the real failure is known).
const CANCELLED: &str = "pull cancelled";

/// Configs larger than this are refused.
const CONFIG_LIMIT: usize = 16 << 20;

impl Client {
    /// `docker pull`: resolve (index -> platform), fetch config and layers (parallel,
    /// verified), unpack into the store as they arrive, create the image, tag it and add the
    /// repo digest. `platform` is `os/arch[/variant]`; `None` means the host's. A name alone
    /// gets the `latest` tag. Progress and the closing `Digest:`/`Status:` lines go to
    /// `progress`.
    pub async fn pull(
        &self,
        r: &Reference,
        creds: Option<&Credentials>,
        platform: Option<&str>,
        store: Arc<ImageStore>,
        progress: Progress,
    ) -> Result<PullResult, Error> {
        let r = r.clone().with_default_tag();
        let want = match platform.filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(wire::parse_platform(p)?),
            None => None,
        };
        let sink = Sink(progress);
        let s = self.session(&r, creds, Access::Pull, &[]).await?;
        let tag_or_digest = match r.digest() {
            Some(d) => d.to_string(),
            None => r.tag().unwrap_or(berth_reference::DEFAULT_TAG).to_string(),
        };
        // The manifest (through the index, if any). As Docker, nothing is said before the
        // registry named it: a pull that fails here has sent no progress, so the server can
        // answer with a plain error status.
        let (body, ctype) = fetch_manifest(&s, &tag_or_digest, &r).await?;
        let top = Digest::sha256_of(&body);
        if let Some(d) = r.digest() {
            verify_manifest(d, &body)?;
        }
        sink.message(&tag_or_digest, format!("Pulling from {}", r.path())).await;
        let _ = put_content(&store, body.clone()).await;
        let manifest: ImageManifest = match manifest::parse_manifest(&body, ctype.as_deref())? {
            AnyManifest::Manifest(m) => m,
            AnyManifest::Index(index) => {
                let w = want.clone().unwrap_or_else(Platform::host);
                let entry = index
                    .select(&w)
                    .ok_or_else(|| Error::NoMatchingPlatform(w.to_short_string()))?;
                let d = entry.digest.clone();
                let (body, ctype) = fetch_manifest(&s, &d.to_string(), &r).await?;
                verify_manifest(&d, &body)?;
                let _ = put_content(&store, body.clone()).await;
                match manifest::parse_manifest(&body, ctype.as_deref())? {
                    AnyManifest::Manifest(m) => m,
                    AnyManifest::Index(_) => {
                        return Err(Error::Protocol(format!(
                            "index {top} lists another index for {}",
                            w.to_short_string()
                        )))
                    }
                }
            }
        };

        // The config.
        let config_digest = manifest.config.digest.clone();
        let raw_config = fetch_small_blob(&s, &manifest.config, CONFIG_LIMIT).await?;
        let head: wire::ConfigHead = serde_json::from_slice(&raw_config)
            .map_err(|e| Error::Protocol(format!("invalid image config {config_digest}: {e}")))?;
        if let (Some(w), Some(actual)) = (&want, head.platform()) {
            if !w.matches(&actual) {
                return Err(Error::NotFound(format!(
                    "image with reference {} was found but does not match the specified platform: wanted {}, actual: {}",
                    r.familiar_string(),
                    w.to_short_string(),
                    actual.to_short_string()
                )));
            }
        }
        let diff_ids = head.rootfs.diff_ids.clone();
        let layers: Vec<Descriptor> = manifest
            .layers
            .iter()
            .filter(|l| !media_types::is_foreign_layer(&l.media_type))
            .cloned()
            .collect();
        if diff_ids.len() != layers.len() {
            return Err(Error::Protocol(format!(
                "layers from manifest don't match image configuration: {} layers, {} diff ids",
                layers.len(),
                diff_ids.len()
            )));
        }
        let chains = berth_image::chain_ids(&diff_ids);

        // Which image the reference named before, to tell "up to date" from "newer".
        let before = {
            let st = store.clone();
            let name = r.to_string();
            tokio::task::spawn_blocking(move || st.get(&name).ok().map(|i| i.id))
                .await
                .map_err(|e| Error::Task(format!("image lookup: {e}")))?
        };

        // Layers, grouped by blob (one progress line per blob).
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let key = l.digest.to_string();
            let g = groups.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                Group {
                    blob: LayerBlob {
                        digest: l.digest.clone(),
                        media_type: l.media_type.clone(),
                        size: l.size,
                    },
                    positions: Vec::new(),
                }
            });
            g.positions.push(Position {
                chain_id: chains[i].clone(),
                parent: if i == 0 { None } else { Some(chains[i - 1].clone()) },
                diff_id: diff_ids[i].clone(),
            });
        }
        let mut work = Vec::new();
        for key in &order {
            let g = &groups[key];
            let missing: Vec<Position> = g
                .positions
                .iter()
                .filter(|p| !store.has_layer(&p.chain_id))
                .cloned()
                .collect();
            let id = short(key);
            if missing.is_empty() {
                sink.update(&id, "Already exists").await;
                continue;
            }
            sink.update(&id, "Pulling fs layer").await;
            work.push((id, g.blob.clone(), missing));
        }
        let sem = Arc::new(Semaphore::new(self.opts.max_concurrent_downloads.max(1)));
        // On the first failure the other layers stop at their next step; the pull returns
        // only when none is still writing (no unpack outlives a failed pull).
        let failed = Arc::new(AtomicBool::new(false));
        let jobs = work.into_iter().map(|(id, blob, missing)| {
            let (s, sink, store, sem) = (&s, sink.clone(), store.clone(), sem.clone());
            let (failed, flag) = (failed.clone(), failed.clone());
            let job = async move {
                let stop = || -> Result<(), Error> {
                    if failed.load(Ordering::SeqCst) {
                        return Err(Error::Task(CANCELLED.to_string()));
                    }
                    Ok(())
                };
                stop()?;
                if !store.content().exists(&blob.digest) {
                    let permit = match sem.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => {
                            sink.update(&id, "Waiting").await;
                            sem.acquire_owned()
                                .await
                                .map_err(|_| Error::Task("download queue closed".to_string()))?
                        }
                    };
                    stop()?;
                    download_with_retries(s, &store, &blob, &sink, &id, &failed, self.retry_step).await?;
                    drop(permit);
                    sink.update(&id, "Download complete").await;
                }
                for p in missing {
                    stop()?;
                    sink.send(crate::progress::bytes_message(&id, "Extracting", 0, blob.size as i64)).await;
                    let (st, b) = (store.clone(), blob.clone());
                    tokio::task::spawn_blocking(move || {
                        st.apply_blob(&p.chain_id, p.parent.as_deref(), &p.diff_id, &b)
                    })
                    .await
                    .map_err(|e| Error::Task(format!("unpack: {e}")))??;
                    sink.send(crate::progress::bytes_message(&id, "Extracting", blob.size as i64, blob.size as i64)).await;
                }
                sink.update(&id, "Pull complete").await;
                Ok::<(), Error>(())
            };
            async move {
                let r = job.await;
                if r.is_err() {
                    flag.store(true, Ordering::SeqCst);
                }
                r
            }
        });
        let results = join_all(jobs).await;
        let mut first: Option<Error> = None;
        for e in results.into_iter().filter_map(Result::err) {
            let cancelled = matches!(&e, Error::Task(m) if m == CANCELLED);
            if first.is_none() || (!cancelled && matches!(&first, Some(Error::Task(m)) if m == CANCELLED)) {
                first = Some(e);
            }
        }
        if let Some(e) = first {
            return Err(e);
        }
        for key in order.iter().chain(std::iter::once(&config_digest.to_string())) {
            self.shared.add_source(&s.ep.authority, key, r.path());
        }

        // The image, its tag and its repository digest.
        let tags: Vec<Reference> = if r.digest().is_none() { vec![r.clone()] } else { Vec::new() };
        let digests = vec![r.trim().with_digest(top.clone())];
        let image = {
            let st = store.clone();
            let raw = raw_config.clone();
            tokio::task::spawn_blocking(move || st.create_image(&raw, &tags, &digests))
                .await
                .map_err(|e| Error::Task(format!("create image: {e}")))??
        };
        if image.id != config_digest.to_string() {
            return Err(Error::Verification(format!(
                "image id {} does not match config digest {config_digest}",
                image.id
            )));
        }
        let up_to_date = before.as_deref() == Some(image.id.as_str());
        let status = if up_to_date {
            format!("Status: Image is up to date for {}", r.familiar_string())
        } else {
            format!("Status: Downloaded newer image for {}", r.familiar_string())
        };
        sink.status(format!("Digest: {top}")).await;
        sink.status(status.clone()).await;
        Ok(PullResult {
            reference: r,
            digest: top,
            image_id: image.id,
            up_to_date,
            status,
        })
    }
}

#[derive(Clone)]
struct Position {
    chain_id: String,
    parent: Option<String>,
    diff_id: String,
}

struct Group {
    blob: LayerBlob,
    positions: Vec<Position>,
}

fn verify_manifest(want: &Digest, body: &[u8]) -> Result<(), Error> {
    let got = match want.algorithm() {
        berth_reference::Algorithm::Sha256 => Digest::sha256_of(body),
        _ => return Err(Error::Unsupported(format!("unsupported digest algorithm in {want}"))),
    };
    if &got != want {
        return Err(Error::Verification(format!("manifest verification failed for digest {want}")));
    }
    Ok(())
}

async fn put_content(store: &Arc<ImageStore>, body: Bytes) -> Result<Digest, Error> {
    let st = store.clone();
    tokio::task::spawn_blocking(move || st.content().put(&body))
        .await
        .map_err(|e| Error::Task(format!("store manifest: {e}")))?
        .map_err(Error::from)
}

/// Map a failed manifest request to Docker's pull errors.
fn pull_error(e: crate::RegistryError, r: &Reference) -> Error {
    match e.code() {
        Some("MANIFEST_UNKNOWN") => Error::NotFound(format!("manifest for {} not found: {e}", r.familiar_string())),
        Some("NAME_UNKNOWN") => Error::NotFound(format!("repository {} not found: {e}", r.familiar_name())),
        Some("DENIED") => Error::NotFound(denied(r, &e)),
        Some("UNAUTHORIZED") => Error::Unauthorized(denied(r, &e)),
        _ if e.status == 401 => Error::Unauthorized(denied(r, &e)),
        _ if e.status == 404 => Error::NotFound(format!(
            "manifest for {} not found: manifest unknown: manifest unknown",
            r.familiar_string()
        )),
        _ => Error::Registry(e),
    }
}

fn denied(r: &Reference, e: &crate::RegistryError) -> String {
    format!(
        "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
        r.familiar_name()
    )
}

/// GET a manifest by tag or digest; returns its bytes and `Content-Type`.
pub(crate) async fn fetch_manifest(s: &Session, tag_or_digest: &str, r: &Reference) -> Result<(Bytes, Option<String>), Error> {
    let url = s.url(&format!("manifests/{tag_or_digest}"));
    let resp = s
        .send(Method::GET, &url, &[(ACCEPT, wire::manifest_accept())], ReqBody::Empty)
        .await?;
    if resp.status() != StatusCode::OK {
        return Err(pull_error(transport::error_of(resp).await, r));
    }
    let ctype = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = transport::read_body(resp, SMALL_BODY_LIMIT)
        .await
        .map_err(|e| Error::Unreachable(format!("reading manifest {tag_or_digest}: {e}")))?;
    Ok((body, ctype))
}

/// GET a small blob (a config) into memory, verified.
async fn fetch_small_blob(s: &Session, d: &Descriptor, limit: usize) -> Result<Bytes, Error> {
    let url = s.url(&format!("blobs/{}", d.digest));
    let resp = s.send(Method::GET, &url, &[], ReqBody::Empty).await?;
    if resp.status() != StatusCode::OK {
        return Err(Error::Registry(transport::error_of(resp).await));
    }
    let body = transport::read_body(resp, limit)
        .await
        .map_err(|e| Error::Unreachable(format!("reading blob {}: {e}", d.digest)))?;
    if Digest::sha256_of(&body) != d.digest || (d.size > 0 && body.len() as u64 != d.size) {
        return Err(Error::Verification(format!(
            "failed to verify blob {}: content does not match its digest",
            d.digest
        )));
    }
    Ok(body)
}

/// Download attempts per layer blob (Docker's `maxDownloadAttempts`).
pub(crate) const DOWNLOAD_ATTEMPTS: u32 = 5;

/// How one download attempt failed.
enum Fail {
    /// Passing trouble (transport error, 5xx, a body cut short): try again.
    Retry(Error),
    /// The content is wrong or the pull was cancelled: give up now.
    Fatal(Error),
}

/// [`download_blob`] up to [`DOWNLOAD_ATTEMPTS`] times, as Docker: each retry restarts the
/// blob from its first byte after `n * step` (the n-th retry), counting down on the layer's
/// progress line (`Retrying in 5 seconds`). Content that does not match its digest is not
/// retried.
async fn download_with_retries(
    s: &Session,
    store: &Arc<ImageStore>,
    blob: &LayerBlob,
    sink: &Sink,
    id: &str,
    failed: &AtomicBool,
    step: std::time::Duration,
) -> Result<(), Error> {
    let mut attempt = 1;
    loop {
        let meter = Meter::new(sink.clone(), id, "Downloading", blob.size as i64);
        let e = match download_blob(s, store, blob, Some(meter), sink, id, failed).await {
            Ok(()) => return Ok(()),
            Err(Fail::Fatal(e)) => return Err(e),
            Err(Fail::Retry(e)) => e,
        };
        if attempt >= DOWNLOAD_ATTEMPTS {
            return Err(e);
        }
        tracing::warn!("download of {} failed (attempt {attempt} of {DOWNLOAD_ATTEMPTS}): {e}", blob.digest);
        retry_countdown(sink, id, step * attempt, failed).await?;
        attempt += 1;
    }
}

/// Wait `delay`, saying `Retrying in N seconds` on the line `id` once a second, as Docker.
pub(crate) async fn retry_countdown(sink: &Sink, id: &str, delay: std::time::Duration, failed: &AtomicBool) -> Result<(), Error> {
    let secs = delay.as_secs().max(1);
    let tick = delay / secs as u32;
    for left in (1..=secs).rev() {
        if failed.load(Ordering::SeqCst) {
            return Err(Error::Task(CANCELLED.to_string()));
        }
        sink.update(id, &retry_message(left)).await;
        tokio::time::sleep(tick).await;
    }
    Ok(())
}

/// Docker's `Retrying in 5 seconds` / `Retrying in 1 second`.
pub(crate) fn retry_message(secs: u64) -> String {
    format!("Retrying in {secs} second{}", if secs == 1 { "" } else { "s" })
}

/// Download a blob into the content store: streamed to a writer on a blocking thread that
/// hashes as it writes and commits only if digest and size match. A body longer or shorter
/// than the descriptor's size is an error; nothing is stored then.
async fn download_blob(
    s: &Session,
    store: &Arc<ImageStore>,
    blob: &LayerBlob,
    mut meter: Option<Meter>,
    sink: &Sink,
    id: &str,
    failed: &AtomicBool,
) -> Result<(), Fail> {
    let url = s.url(&format!("blobs/{}", blob.digest));
    // A transport failure may be passing: try again.
    let resp = s.send(Method::GET, &url, &[], ReqBody::Empty).await.map_err(Fail::Retry)?;
    if resp.status() != StatusCode::OK {
        let e = transport::error_of(resp).await;
        let again = e.status == 429 || (500..=599).contains(&e.status);
        let e = Error::Registry(e);
        return Err(if again { Fail::Retry(e) } else { Fail::Fatal(e) });
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let st = store.clone();
    let (want, size) = (blob.digest.clone(), blob.size);
    // The writer commits only what hashes to the digest; a failed attempt's partial blob is
    // dropped with it (nothing is kept between attempts).
    let writer = tokio::task::spawn_blocking(move || -> Result<(), Error> {
        use std::io::Write as _;
        let mut w = st.content().writer()?;
        while let Some(chunk) = rx.blocking_recv() {
            w.write_all(&chunk)
                .map_err(|e| Error::Task(format!("write blob {want}: {e}")))?;
        }
        w.commit(Some(&want), Some(size))?;
        Ok(())
    });
    let mut body = resp.into_body();
    let mut received: u64 = 0;
    let fail = loop {
        let frame = match std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
            None => break None,
            Some(Err(e)) => break Some(Fail::Retry(Error::Unreachable(format!("downloading {}: {e}", blob.digest)))),
            Some(Ok(f)) => f,
        };
        if failed.load(Ordering::SeqCst) {
            break Some(Fail::Fatal(Error::Task(CANCELLED.to_string())));
        }
        let Ok(data) = frame.into_data() else { continue };
        received += data.len() as u64;
        if blob.size > 0 && received > blob.size {
            break Some(Fail::Fatal(Error::Verification(format!(
                "failed to download {}: more data than the {} bytes expected",
                blob.digest, blob.size
            ))));
        }
        if let Some(m) = meter.as_mut() {
            m.add(data.len()).await;
        }
        if tx.send(data).await.is_err() {
            break None; // the writer failed; its error is reported below
        }
    };
    if let Some(e) = fail {
        drop(tx);
        let _ = writer.await;
        return Err(e);
    }
    if let Some(m) = meter.as_mut() {
        m.flush().await;
    }
    drop(tx);
    if blob.size > 0 && received < blob.size {
        let _ = writer.await;
        // A body cut short: the connection may be to blame, try again.
        return Err(Fail::Retry(Error::Verification(format!(
            "failed to download {}: unexpected EOF after {received} of {} bytes",
            blob.digest, blob.size
        ))));
    }
    // The writer hashed every byte; committing checks digest and size.
    sink.update(id, "Verifying Checksum").await;
    // A digest or size mismatch of a complete body is the registry's lie: no retry.
    writer
        .await
        .map_err(|e| Fail::Fatal(Error::Task(format!("write blob: {e}"))))?
        .map_err(Fail::Fatal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_message_table() {
        let cases = [(5, "Retrying in 5 seconds"), (2, "Retrying in 2 seconds"), (1, "Retrying in 1 second")];
        for (secs, want) in cases {
            assert_eq!(retry_message(secs), want, "{secs}");
        }
    }
}
