//! `docker push`: every layer blob (HEAD first; a cross-repository mount when the blob is
//! known to be in another repository of the same registry; else an upload, monolithic up to
//! [`MONOLITHIC_MAX`] and in PATCH chunks above), the config, then a Docker v2 schema 2
//! manifest built from the config and the kept layer blobs (OCI when a layer is zstd), and
//! the tag.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use berth_image::{Image, ImageStore, LayerBlob};
use berth_reference::{Digest, Reference};
use bytes::Bytes;
use futures_util::future::try_join_all;
use hyper::body::Frame;
use hyper::header::{CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use hyper::{Method, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::sync::Semaphore;

use crate::auth::{Access, Credentials};
use crate::endpoint;
use crate::progress::{short, Meter, Progress, Sink};
use crate::transport::{self, Body, ReqBody, Session};
use crate::wire;
use berth_image::manifest::{Descriptor, ImageManifest};
use crate::{Client, Error};

/// Blobs up to this size go up in one PUT; bigger ones in PATCH chunks.
pub(crate) const MONOLITHIC_MAX: u64 = 10 << 20;
/// The size of one PATCH chunk.
pub(crate) const CHUNK: u64 = 16 << 20;
/// A failed PATCH is resumed at most this many times per blob.
pub(crate) const UPLOAD_RETRIES: u32 = 3;
/// Read size of the upload stream.
const READ_CHUNK: usize = 256 << 10;

/// One pushed tag: what Docker prints as `latest: digest: sha256:... size: 528` and sends
/// as the `aux` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedTag {
    /// The tag.
    pub tag: String,
    /// The manifest digest.
    pub digest: Digest,
    /// The manifest size in bytes.
    pub size: u64,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResult {
    /// The repository pushed to (`127.0.0.1:5000/x`).
    pub repository: Reference,
    /// Every tag pushed, in order.
    pub tags: Vec<PushedTag>,
}

impl Client {
    /// `docker push`: every layer blob (HEAD first; cross-repo mount when the blob is known
    /// from another repo on the same registry; chunked PATCH upload for big blobs), the
    /// config, then the manifest (Docker v2 schema 2 for images we made) and the tag. A
    /// reference without tag pushes every local tag of the repository (`--all-tags`).
    pub async fn push(&self, r: &Reference, creds: Option<&Credentials>, store: Arc<ImageStore>, progress: Progress) -> Result<PushResult, Error> {
        let sink = Sink(progress);
        let repo = r.trim();
        let images = {
            let (st, r) = (store.clone(), r.clone());
            tokio::task::spawn_blocking(move || images_to_push(&st, &r))
                .await
                .map_err(|e| Error::Task(format!("image lookup: {e}")))??
        };
        sink.status(format!("The push refers to repository [{}]", repo.name())).await;

        // Mount candidates: repositories on this registry known to hold the blobs.
        let authority = endpoint::registry_host(r.domain()).to_string();
        let mut candidates: Vec<String> = Vec::new();
        for (_, image) in &images {
            for d in &image.repo_digests {
                if endpoint::registry_host(d.domain()) == authority && d.path() != r.path() && !candidates.contains(&d.path().to_string()) {
                    candidates.push(d.path().to_string());
                }
            }
        }
        let mut layer_blobs: Vec<Vec<(String, LayerBlob)>> = Vec::new();
        for (_, image) in &images {
            let mut v = Vec::new();
            for diff_id in &image.config.rootfs.diff_ids {
                let blob = store
                    .blob_of_layer(diff_id)
                    .ok_or_else(|| Error::MissingBlob(diff_id.clone()))?;
                for src in self.shared.sources_of(&authority, &blob.digest.to_string()) {
                    if src != r.path() && !candidates.contains(&src) {
                        candidates.push(src);
                    }
                }
                v.push((diff_id.clone(), blob));
            }
            layer_blobs.push(v);
        }
        candidates.truncate(8);
        let s = self.session(r, creds, Access::PullPush, &candidates).await?;

        let mut out = Vec::new();
        for ((tag, image), blobs) in images.iter().zip(layer_blobs) {
            out.push(self.push_image(&s, &store, &sink, (&repo, tag), image, &blobs, &candidates).await?);
        }
        Ok(PushResult { repository: repo, tags: out })
    }

    #[allow(clippy::too_many_arguments)]
    async fn push_image(
        &self,
        s: &Session,
        store: &Arc<ImageStore>,
        sink: &Sink,
        (repo, tag): (&Reference, &str),
        image: &Image,
        blobs: &[(String, LayerBlob)],
        candidates: &[String],
    ) -> Result<PushedTag, Error> {
        // One progress line per layer (by diff id, as Docker), one upload per blob.
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&(String, LayerBlob)> = blobs.iter().filter(|(_, b)| seen.insert(b.digest.clone())).collect();
        for (diff_id, _) in &unique {
            sink.update(&short(diff_id), "Preparing").await;
        }
        let sem = Arc::new(Semaphore::new(self.opts.max_concurrent_uploads.max(1)));
        let jobs = unique.iter().map(|(diff_id, blob)| {
            let (sink, sem) = (sink.clone(), sem.clone());
            let id = short(diff_id);
            async move {
                let _permit = match sem.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        sink.update(&id, "Waiting").await;
                        sem.acquire_owned()
                            .await
                            .map_err(|_| Error::Task("upload queue closed".to_string()))?
                    }
                };
                let mut mine: Vec<String> = self.shared.sources_of(&s.ep.authority, &blob.digest.to_string());
                mine.extend(candidates.iter().cloned());
                mine.retain(|p| p != &s.path);
                mine.dedup();
                let meter = Some(Meter::new(sink.clone(), &id, "Pushing", blob.size as i64));
                let outcome = push_blob(s, store, blob, &mine, meter, self.retry_step / 5).await?;
                let status = match outcome {
                    Outcome::Exists => "Layer already exists".to_string(),
                    Outcome::Pushed => "Pushed".to_string(),
                    Outcome::Mounted(from) => format!("Mounted from {from}"),
                };
                sink.update(&id, &status).await;
                self.shared.add_source(&s.ep.authority, &blob.digest.to_string(), &s.path);
                Ok::<(), Error>(())
            }
        });
        try_join_all(jobs).await?;

        // The config.
        let config = Bytes::from(image.raw_config.clone().into_bytes());
        let config_digest = Digest::sha256_of(&config);
        if !blob_exists(s, &config_digest).await? {
            let mut sources = self.shared.sources_of(&s.ep.authority, &config_digest.to_string());
            sources.extend(candidates.iter().cloned());
            sources.retain(|p| p != &s.path);
            sources.dedup();
            if let Err(loc) = mount_or_start(s, &config_digest, &sources).await? {
                finish_monolithic(s, &loc, &config_digest, ReqBody::Bytes(config.clone())).await?;
            }
        }
        self.shared.add_source(&s.ep.authority, &config_digest.to_string(), &s.path);

        // The manifest.
        let oci = blobs.iter().any(|(_, b)| b.media_type == wire::OCI_LAYER_ZSTD);
        let config_desc = Descriptor::new(if oci { wire::OCI_CONFIG } else { wire::DOCKER_CONFIG }, config_digest.clone(), config.len() as u64);
        let layer_descs: Vec<Descriptor> = blobs
            .iter()
            .map(|(_, b)| Descriptor::new(&layer_media_type(&b.media_type, oci), b.digest.clone(), b.size))
            .collect();
        let manifest = if oci {
            ImageManifest::oci(config_desc, layer_descs)
        } else {
            ImageManifest::docker(config_desc, layer_descs)
        };
        let bytes = Bytes::from(wire::manifest_bytes(&manifest));
        let digest = Digest::sha256_of(&bytes);
        let url = s.url(&format!("manifests/{tag}"));
        let mt = manifest.media_type.clone();
        let resp = s
            .send(Method::PUT, &url, &[(CONTENT_TYPE, mt)], ReqBody::Bytes(bytes.clone()))
            .await?;
        if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
            return Err(push_error(transport::error_of(resp).await));
        }
        transport::drain(resp).await;
        let size = bytes.len() as u64;
        sink.status(format!("{tag}: digest: {digest} size: {size}")).await;
        sink.send(berth_api::JsonMessage {
            progress_detail: Some(Default::default()),
            aux: Some(serde_json::json!({"Tag": tag, "Digest": digest.to_string(), "Size": size})),
            ..Default::default()
        })
        .await;

        // Remember the manifest and the repository digest, as Docker does after a push.
        let repo_digest = repo.with_digest(digest.clone());
        let (st, id) = (store.clone(), image.id.clone());
        tokio::task::spawn_blocking(move || -> Result<(), Error> {
            st.content().put(&bytes)?;
            st.add_repo_digest(&id, &repo_digest)?;
            Ok(())
        })
        .await
        .map_err(|e| Error::Task(format!("record push: {e}")))??;
        Ok(PushedTag { tag: tag.to_string(), digest, size })
    }
}

/// The layer media type to put in the manifest.
fn layer_media_type(mt: &str, oci: bool) -> String {
    let gzip = mt.ends_with("gzip") || mt.is_empty();
    let zstd = mt.ends_with("zstd");
    match (oci, gzip, zstd) {
        (_, _, true) => wire::OCI_LAYER_ZSTD.to_string(),
        (true, true, _) => wire::OCI_LAYER_GZIP.to_string(),
        (true, false, _) => wire::OCI_LAYER_TAR.to_string(),
        (false, true, _) => wire::DOCKER_LAYER_GZIP.to_string(),
        (false, false, _) => wire::DOCKER_LAYER_TAR.to_string(),
    }
}

/// The (tag, image) pairs a push of `r` sends: its tag, or every tag of its repository.
fn images_to_push(store: &ImageStore, r: &Reference) -> Result<Vec<(String, Image)>, Error> {
    if let Some(tag) = r.tag() {
        let image = store
            .get(&r.to_string())
            .map_err(|_| Error::NoSuchLocalImage(r.familiar_string()))?;
        return Ok(vec![(tag.to_string(), image)]);
    }
    let repo = r.trim();
    let mut out: Vec<(String, Image)> = Vec::new();
    for image in store.list(&berth_image::ListFilters::default())? {
        for t in &image.repo_tags {
            if t.trim() == repo {
                if let Some(tag) = t.tag() {
                    out.push((tag.to_string(), image.clone()));
                }
            }
        }
    }
    if out.is_empty() {
        return Err(Error::NoSuchLocalImage(repo.familiar_string()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn push_error(e: crate::RegistryError) -> Error {
    match e.code() {
        Some("DENIED") => Error::Denied(e.to_string()),
        Some("UNAUTHORIZED") => Error::Unauthorized(e.to_string()),
        _ if e.status == 401 => Error::Unauthorized(e.to_string()),
        _ if e.status == 403 => Error::Denied(e.to_string()),
        _ => Error::Registry(e),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Exists,
    Mounted(String),
    Pushed,
}

async fn blob_exists(s: &Session, d: &Digest) -> Result<bool, Error> {
    let url = s.url(&format!("blobs/{d}"));
    let resp = s.send(Method::HEAD, &url, &[], ReqBody::Empty).await?;
    let status = resp.status();
    transport::drain(resp).await;
    match status {
        StatusCode::OK => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        _ => Err(push_error(crate::RegistryError { status: status.as_u16(), errors: Vec::new() })),
    }
}

/// POST an upload (with `mount`/`from` when given). `Ok((true, _))`: mounted. Else the
/// upload's location.
async fn start_upload(s: &Session, mount: Option<(&Digest, &str)>) -> Result<(bool, String), Error> {
    let mut url = s.url("blobs/uploads/");
    if let Some((d, from)) = mount {
        url = endpoint::with_query(&url, &[("mount", &d.to_string()), ("from", from)]);
    }
    let resp = s.send(Method::POST, &url, &[], ReqBody::Empty).await?;
    let status = resp.status();
    if status == StatusCode::CREATED && mount.is_some() {
        transport::drain(resp).await;
        return Ok((true, String::new()));
    }
    if status != StatusCode::ACCEPTED {
        return Err(push_error(transport::error_of(resp).await));
    }
    let loc = location(&resp, &url)?;
    transport::drain(resp).await;
    Ok((false, loc))
}

fn location(resp: &hyper::Response<hyper::body::Incoming>, url: &str) -> Result<String, Error> {
    let loc = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Protocol(format!("registry gave no upload location for {url}")))?;
    Ok(endpoint::resolve_location(url, loc))
}

/// Try to mount `digest` from each source in turn; `Ok(Ok(source))` when one worked, else
/// `Ok(Err(location))` of an upload to make (a refused mount may start one itself).
async fn mount_or_start(s: &Session, digest: &Digest, sources: &[String]) -> Result<Result<String, String>, Error> {
    for from in sources {
        match start_upload(s, Some((digest, from))).await {
            Ok((true, _)) => return Ok(Ok(from.clone())),
            Ok((false, loc)) => return Ok(Err(loc)),
            Err(e) => tracing::debug!("mount of {digest} from {from} refused: {e}"),
        }
    }
    Ok(Err(start_upload(s, None).await?.1))
}

/// Put one blob in the repository: nothing when it is there, a mount when a source has it,
/// else an upload.
/// A failed chunk is resumed after `backoff` times the retry's number.
async fn push_blob(
    s: &Session,
    store: &Arc<ImageStore>,
    blob: &LayerBlob,
    sources: &[String],
    mut meter: Option<Meter>,
    backoff: std::time::Duration,
) -> Result<Outcome, Error> {
    if blob_exists(s, &blob.digest).await? {
        return Ok(Outcome::Exists);
    }
    let loc = match mount_or_start(s, &blob.digest, sources).await? {
        Ok(from) => return Ok(Outcome::Mounted(from)),
        Err(loc) => loc,
    };
    let path = store.content().path(&blob.digest);
    if blob.size <= MONOLITHIC_MAX {
        let body = file_body(path, 0, blob.size, meter.take());
        finish_monolithic(s, &loc, &blob.digest, ReqBody::Stream(body, blob.size)).await?;
        return Ok(Outcome::Pushed);
    }
    // Chunked: PATCH ranges, following the Location and Range the server returns. A PATCH
    // that fails (transport error, 5xx, 416) is resumed from where the registry says the
    // upload stands; a session the registry forgot is started again once.
    let mut loc = loc;
    let mut offset = 0u64;
    let mut retries = 0u32;
    let mut restarted = false;
    let meter = Arc::new(tokio::sync::Mutex::new(meter));
    while offset < blob.size {
        let len = CHUNK.min(blob.size - offset);
        let body = shared_file_body(path.clone(), offset, len, meter.clone());
        let range = format!("{}-{}", offset, offset + len - 1);
        let h = [
            (CONTENT_TYPE, "application/octet-stream".to_string()),
            (CONTENT_RANGE, range),
        ];
        let trouble = match s.send(Method::PATCH, &loc, &h, ReqBody::Stream(body, len)).await {
            Err(e) => e,
            Ok(resp) if resp.status() == StatusCode::ACCEPTED || resp.status() == StatusCode::NO_CONTENT => {
                let next = match resp.headers().get(RANGE).and_then(|v| v.to_str().ok()).and_then(parse_range_end) {
                    Some(end) => end + 1,
                    None => offset + len,
                };
                if next <= offset {
                    return Err(Error::Protocol(format!("upload of {} made no progress at byte {offset}", blob.digest)));
                }
                loc = location(&resp, &loc).unwrap_or(loc);
                transport::drain(resp).await;
                offset = next;
                continue;
            }
            Ok(resp) if resumable(resp.status()) => Error::Registry(transport::error_of(resp).await),
            Ok(resp) => return Err(push_error(transport::error_of(resp).await)),
        };
        retries += 1;
        if retries > UPLOAD_RETRIES {
            return Err(trouble);
        }
        tracing::warn!("upload of {} failed at byte {offset} (retry {retries} of {UPLOAD_RETRIES}): {trouble}", blob.digest);
        tokio::time::sleep(backoff * retries).await;
        match upload_status(s, &loc).await? {
            Some((next, l)) => {
                if next > blob.size {
                    return Err(Error::Protocol(format!(
                        "registry holds {next} bytes of the {}-byte blob {}",
                        blob.size, blob.digest
                    )));
                }
                offset = next;
                loc = l;
            }
            None if !restarted => {
                tracing::warn!("upload session of {} is gone; starting again", blob.digest);
                restarted = true;
                loc = start_upload(s, None).await?.1;
                offset = 0;
            }
            None => return Err(Error::Protocol(format!("the registry lost the upload of {} twice", blob.digest))),
        }
        if let Some(m) = meter.lock().await.as_mut() {
            m.set(offset as i64);
        }
    }
    if let Some(m) = meter.lock().await.as_mut() {
        m.flush().await;
    }
    // The registry checks the digest of everything it holds, resumed or not.
    let url = endpoint::with_query(&loc, &[("digest", &blob.digest.to_string())]);
    let resp = s.send(Method::PUT, &url, &[], ReqBody::Empty).await?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        return Err(push_error(transport::error_of(resp).await));
    }
    transport::drain(resp).await;
    Ok(Outcome::Pushed)
}

/// An answer to a PATCH after which the upload may go on from where the registry stands.
fn resumable(status: StatusCode) -> bool {
    status == StatusCode::RANGE_NOT_SATISFIABLE || status.is_server_error()
}

/// `GET <upload location>`: where the upload stands, as `(next offset, location)`; `None`
/// when the registry no longer knows the session.
async fn upload_status(s: &Session, loc: &str) -> Result<Option<(u64, String)>, Error> {
    let resp = s.send(Method::GET, loc, &[], ReqBody::Empty).await?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        transport::drain(resp).await;
        return Ok(None);
    }
    if !status.is_success() {
        return Err(push_error(transport::error_of(resp).await));
    }
    let next = upload_offset(resp.headers().get(RANGE).and_then(|v| v.to_str().ok()));
    let l = location(&resp, loc).unwrap_or_else(|_| loc.to_string());
    transport::drain(resp).await;
    Ok(Some((next, l)))
}

/// The next byte to send after a registry's `Range` of an upload: `0-N` -> N+1. No range,
/// or distribution's `0-0` for an empty upload, is 0 (resending a byte is harmless, the
/// registry answers 416 and tells again).
fn upload_offset(range: Option<&str>) -> u64 {
    match range.and_then(parse_range_end) {
        Some(0) | None => 0,
        Some(end) => end + 1,
    }
}

/// `Range: 0-1023` (or `bytes=0-1023`) -> 1023.
fn parse_range_end(v: &str) -> Option<u64> {
    let v = v.trim().trim_start_matches("bytes=");
    v.split_once('-')?.1.trim().parse().ok()
}

async fn finish_monolithic(s: &Session, loc: &str, d: &Digest, body: ReqBody) -> Result<(), Error> {
    let url = endpoint::with_query(loc, &[("digest", &d.to_string())]);
    let h = [(CONTENT_TYPE, "application/octet-stream".to_string())];
    let resp = s.send(Method::PUT, &url, &h, body).await?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        return Err(push_error(transport::error_of(resp).await));
    }
    transport::drain(resp).await;
    Ok(())
}

/// A request body fed by a channel (so a task can read a file and count progress).
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    remaining: u64,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

/// `len` bytes of a file from `offset`, counted on `meter` as they go out.
fn file_body(path: std::path::PathBuf, offset: u64, len: u64, meter: Option<Meter>) -> Body {
    shared_file_body(path, offset, len, Arc::new(tokio::sync::Mutex::new(meter)))
}

fn shared_file_body(path: std::path::PathBuf, offset: u64, len: u64, meter: Arc<tokio::sync::Mutex<Option<Meter>>>) -> Body {
    use http_body_util::BodyExt as _;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let result: Result<(), std::io::Error> = async {
            let mut f = tokio::fs::File::open(&path).await?;
            f.seek(std::io::SeekFrom::Start(offset)).await?;
            let mut left = len;
            while left > 0 {
                let n = (READ_CHUNK as u64).min(left) as usize;
                let mut buf = vec![0u8; n];
                f.read_exact(&mut buf).await?;
                left -= n as u64;
                if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                    return Ok(()); // the request was dropped
                }
                if let Some(m) = meter.lock().await.as_mut() {
                    m.add(n).await;
                }
            }
            if let Some(m) = meter.lock().await.as_mut() {
                m.flush().await;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = tx.send(Err(e)).await;
        }
    });
    ChannelBody { rx, remaining: len }.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_header_table() {
        let cases = [("0-1023", Some(1023)), ("bytes=0-99", Some(99)), (" 0-0 ", Some(0)), ("garbage", None), ("0-", None)];
        for (input, want) in cases {
            assert_eq!(parse_range_end(input), want, "{input}");
        }
    }

    #[test]
    fn upload_offset_table() {
        let cases = [(Some("0-1023"), 1024), (Some("bytes=0-99"), 100), (Some("0-0"), 0), (None, 0), (Some("junk"), 0)];
        for (input, want) in cases {
            assert_eq!(upload_offset(input), want, "{input:?}");
        }
    }

    #[test]
    fn resumable_statuses() {
        let cases = [(416, true), (500, true), (503, true), (400, false), (401, false), (404, false)];
        for (code, want) in cases {
            assert_eq!(resumable(StatusCode::from_u16(code).unwrap()), want, "{code}");
        }
    }

    #[test]
    fn layer_media_type_table() {
        let cases = [
            (wire::DOCKER_LAYER_GZIP, false, wire::DOCKER_LAYER_GZIP),
            (wire::OCI_LAYER_GZIP, false, wire::DOCKER_LAYER_GZIP),
            (wire::OCI_LAYER_TAR, false, wire::DOCKER_LAYER_TAR),
            (wire::OCI_LAYER_ZSTD, true, wire::OCI_LAYER_ZSTD),
            (wire::DOCKER_LAYER_GZIP, true, wire::OCI_LAYER_GZIP),
            (wire::DOCKER_LAYER_TAR, true, wire::OCI_LAYER_TAR),
            ("", false, wire::DOCKER_LAYER_GZIP),
        ];
        for (mt, oci, want) in cases {
            assert_eq!(layer_media_type(mt, oci), want, "{mt} {oci}");
        }
    }
}
