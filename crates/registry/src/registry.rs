//! The registry's model over a [`Storage`]: blobs, upload sessions, manifests, tags, referrers
//! and the catalog. No HTTP here: handlers call these methods and render their results.
//!
//! # Layout
//!
//! ```text
//! blobs/<alg>/<hex[0..2]>/<hex>/data              content, shared by all repositories
//! repositories/<name>/_layers/<alg>/<hex>          "this repository has this blob" (a link)
//! repositories/<name>/_manifests/revisions/<alg>/<hex>   a manifest of the repository; holds
//!                                                  its media type (the bytes are the blob)
//! repositories/<name>/_manifests/tags/<tag>        the digest the tag points at
//! repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  a manifest whose subject is
//!                                                  <alg>:<hex>; holds its referrers descriptor
//! uploads/<id>/state                               an upload session (JSON: repo, offset, ...)
//! uploads/<id>/data                                its bytes so far
//! ```
//!
//! Repository name components never start with `_`, so the `_`-prefixed directories cannot
//! collide with nested repositories (`a/_layers` vs `a/b/_layers`).
//!
//! # Invariants
//!
//! * A blob becomes visible only complete and verified: uploads are written under `uploads/`,
//!   hashed as they are written, and renamed into `blobs/` after the digest matched. Several
//!   uploads of the same blob each have their own file; the first rename wins and the others
//!   are discarded (or replace it with identical bytes, which readers cannot tell).
//! * A chunk is either appended whole or not at all: a chunk whose body ends early is cut off
//!   again, and the session's offset is only advanced after the chunk is on disk.
//! * Manifests are stored as the exact bytes pushed.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_reference::{Algorithm, Digest};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Error;
use crate::hashing::{digest_of, Hasher};
use crate::manifest::{self, Descriptor};
use crate::names::{is_valid_tag, ManifestRef, RepoName};
use crate::storage::{BoxReader, Storage, StorageError};

/// A request body: chunks of bytes or the error that cut it short.
pub type BodyStream = BoxStream<'static, Result<Bytes, io::Error>>;

/// Knobs of a [`Registry`].
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Whether DELETE of blobs and manifests is allowed (else 405 `UNSUPPORTED`).
    pub delete_enabled: bool,
    /// The largest manifest accepted (else 413).
    pub max_manifest_bytes: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions { delete_enabled: true, max_manifest_bytes: 4 << 20 }
    }
}

/// A manifest as stored.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its digest.
    pub digest: Digest,
    /// The media type it was pushed as.
    pub media_type: String,
    /// The exact bytes pushed.
    pub body: Bytes,
}

/// The outcome of a manifest push.
#[derive(Debug, Clone)]
pub struct ManifestPut {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its subject, when it has one (answered as `OCI-Subject`).
    pub subject: Option<Digest>,
    /// The tags set by this push.
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadState {
    repo: String,
    /// Seconds since the epoch.
    started: u64,
    /// Bytes committed so far.
    offset: u64,
}

/// The running hash of an upload, valid when `offset` equals the session's offset.
struct HashState {
    offset: u64,
    hasher: Option<Hasher>,
}

/// The registry: every operation of the distribution API, over a [`Storage`].
pub struct Registry {
    storage: Arc<dyn Storage>,
    options: RegistryOptions,
    /// One lock per live upload session, serialising its chunks, and its running hash.
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<HashState>>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("storage", &self.storage).field("options", &self.options).finish()
    }
}

pub(crate) mod layout {
    use berth_reference::Digest;

    pub fn blob(d: &Digest) -> String {
        let h = d.hex();
        format!("blobs/{}/{}/{h}/data", d.algorithm().as_str(), &h[..2])
    }
    pub fn repo(name: &str) -> String {
        format!("repositories/{name}")
    }
    pub fn layer(name: &str, d: &Digest) -> String {
        format!("repositories/{name}/_layers/{}/{}", d.algorithm().as_str(), d.hex())
    }
    pub fn revisions(name: &str) -> String {
        format!("repositories/{name}/_manifests/revisions")
    }
    pub fn revision(name: &str, d: &Digest) -> String {
        format!("{}/{}/{}", revisions(name), d.algorithm().as_str(), d.hex())
    }
    pub fn tags(name: &str) -> String {
        format!("repositories/{name}/_manifests/tags")
    }
    pub fn tag(name: &str, tag: &str) -> String {
        format!("{}/{tag}", tags(name))
    }
    pub fn referrers(name: &str, subject: &Digest) -> String {
        format!("repositories/{name}/_referrers/{}/{}", subject.algorithm().as_str(), subject.hex())
    }
    pub fn referrer(name: &str, subject: &Digest, d: &Digest) -> String {
        format!("{}/{}-{}", referrers(name, subject), d.algorithm().as_str(), d.hex())
    }
    pub const UPLOADS: &str = "uploads";
    pub fn upload(id: &str) -> String {
        format!("uploads/{id}")
    }
    pub fn upload_state(id: &str) -> String {
        format!("uploads/{id}/state")
    }
    pub fn upload_data(id: &str) -> String {
        format!("uploads/{id}/data")
    }
    /// `<alg>` and `<hex>` directory names back to a digest.
    pub fn digest(alg: &str, hex: &str) -> Option<Digest> {
        Digest::parse(&format!("{alg}:{hex}")).ok()
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn new_upload_id() -> Result<String, Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| {
        Error::Storage(StorageError::Io { key: "uploads".into(), source: io::Error::other(e.to_string()) })
    })?;
    Ok(hex::encode(b))
}

fn is_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn write_err(key: &str, e: io::Error) -> Error {
    Error::Storage(StorageError::Io { key: key.to_string(), source: e })
}

impl Registry {
    /// A registry over `storage`.
    pub fn new(storage: Arc<dyn Storage>, options: RegistryOptions) -> Registry {
        Registry { storage, options, sessions: Mutex::new(HashMap::new()) }
    }

    /// The storage underneath.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The options.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    async fn exists(&self, key: &str) -> Result<bool, Error> {
        match self.storage.stat(key).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    // ---- blobs ----

    /// The size of a blob the repository has (uploaded to, mounted into, or a manifest of it).
    pub async fn stat_blob(&self, repo: &RepoName, d: &Digest) -> Result<u64, Error> {
        let name = repo.as_str();
        let unknown = || Error::BlobUnknown { digest: d.to_string() };
        if !self.exists(&layout::layer(name, d)).await? && !self.exists(&layout::revision(name, d)).await? {
            return Err(unknown());
        }
        match self.storage.stat(&layout::blob(d)).await {
            Ok(m) => Ok(m.size),
            Err(StorageError::NotFound(_)) => Err(unknown()),
            Err(e) => Err(e.into()),
        }
    }

    /// A blob's size and a reader of it from `offset`.
    pub async fn open_blob(&self, repo: &RepoName, d: &Digest, offset: u64) -> Result<(u64, BoxReader), Error> {
        let size = self.stat_blob(repo, d).await?;
        match self.storage.reader(&layout::blob(d), offset).await {
            Ok(r) => Ok((size, r)),
            Err(StorageError::NotFound(_)) => Err(Error::BlobUnknown { digest: d.to_string() }),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove a blob from a repository (its bytes stay until garbage collection).
    pub async fn delete_blob(&self, repo: &RepoName, d: &Digest) -> Result<(), Error> {
        if !self.options.delete_enabled {
            return Err(Error::Unsupported("deletes are disabled".into()));
        }
        match self.storage.delete(&layout::layer(repo.as_str(), d)).await {
            Ok(()) => Ok(()),
            Err(StorageError::NotFound(_)) => Err(Error::BlobUnknown { digest: d.to_string() }),
            Err(e) => Err(e.into()),
        }
    }

    /// Link a blob of `from` into `repo`. `Some(size)` when mounted, `None` when `from` lacks it.
    pub async fn mount_blob(&self, repo: &RepoName, d: &Digest, from: &RepoName) -> Result<Option<u64>, Error> {
        match self.stat_blob(from, d).await {
            Ok(size) => {
                self.link_blob(repo, d).await?;
                Ok(Some(size))
            }
            Err(Error::BlobUnknown { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn link_blob(&self, repo: &RepoName, d: &Digest) -> Result<(), Error> {
        Ok(self.storage.put(&layout::layer(repo.as_str(), d), Bytes::from(d.to_string())).await?)
    }

    // ---- uploads ----

    /// Open an upload session; its running hash uses `alg` (the final digest may use another
    /// algorithm, then the data is hashed again at the end).
    pub async fn start_upload(&self, repo: &RepoName, alg: Algorithm) -> Result<String, Error> {
        let id = new_upload_id()?;
        let state = UploadState { repo: repo.to_string(), started: now_secs(), offset: 0 };
        let mut w = self.storage.writer(&layout::upload_data(&id), 0).await?;
        w.shutdown().await.map_err(|e| write_err(&layout::upload_data(&id), e))?;
        drop(w);
        self.save_state(&id, &state).await?;
        let hs = HashState { offset: 0, hasher: Some(Hasher::new(alg)) };
        self.lock_sessions().insert(id.clone(), Arc::new(tokio::sync::Mutex::new(hs)));
        Ok(id)
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<HashState>>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn session_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<HashState>> {
        self.lock_sessions()
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(HashState { offset: u64::MAX, hasher: None })))
            .clone()
    }

    fn forget_session(&self, id: &str) {
        self.lock_sessions().remove(id);
    }

    async fn save_state(&self, id: &str, state: &UploadState) -> Result<(), Error> {
        let json = serde_json::to_vec(state).map_err(|e| write_err(id, io::Error::other(e)))?;
        Ok(self.storage.put(&layout::upload_state(id), Bytes::from(json)).await?)
    }

    async fn load_state(&self, repo: &RepoName, id: &str) -> Result<UploadState, Error> {
        if !is_upload_id(id) {
            return Err(Error::BlobUploadUnknown);
        }
        let raw = match self.storage.get(&layout::upload_state(id)).await {
            Ok(b) => b,
            Err(StorageError::NotFound(_)) => return Err(Error::BlobUploadUnknown),
            Err(e) => return Err(e.into()),
        };
        let state: UploadState = serde_json::from_slice(&raw).map_err(|_| Error::BlobUploadUnknown)?;
        if state.repo != repo.as_str() {
            return Err(Error::BlobUploadUnknown);
        }
        Ok(state)
    }

    /// The number of bytes an upload holds.
    pub async fn upload_offset(&self, repo: &RepoName, id: &str) -> Result<u64, Error> {
        Ok(self.load_state(repo, id).await?.offset)
    }

    /// Append a chunk. `range` is the chunk's inclusive `Content-Range`, when the client sent
    /// one: its start must be the upload's size (else [`Error::RangeInvalid`]) and the body
    /// must be exactly that long (else [`Error::SizeInvalid`]). Returns the new size.
    pub async fn append_upload(
        &self,
        repo: &RepoName,
        id: &str,
        range: Option<(u64, u64)>,
        body: BodyStream,
    ) -> Result<u64, Error> {
        self.load_state(repo, id).await?;
        let lock = self.session_lock(id);
        let mut hs = lock.lock().await;
        let mut state = self.load_state(repo, id).await?;
        self.append_locked(id, &mut state, &mut hs, range, body).await?;
        Ok(state.offset)
    }

    async fn append_locked(
        &self,
        id: &str,
        state: &mut UploadState,
        hs: &mut HashState,
        range: Option<(u64, u64)>,
        mut body: BodyStream,
    ) -> Result<(), Error> {
        if let Some((start, _)) = range {
            if start != state.offset {
                return Err(Error::RangeInvalid { offset: state.offset });
            }
        }
        let key = layout::upload_data(id);
        let mut hasher = if hs.offset == state.offset { hs.hasher.clone() } else { None };
        // Request bodies arrive in small frames; batch them into large writes.
        let mut w = tokio::io::BufWriter::with_capacity(1 << 20, self.storage.writer(&key, state.offset).await?);
        let mut written = 0u64;
        let result: Result<(), Error> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::BlobUploadInvalid(format!("reading the body: {e}")))?;
                if let Some(h) = hasher.as_mut() {
                    h.update(&chunk);
                }
                w.write_all(&chunk).await.map_err(|e| write_err(&key, e))?;
                written += chunk.len() as u64;
            }
            w.shutdown().await.map_err(|e| write_err(&key, e))?;
            if let Some((start, end)) = range {
                if written != end - start + 1 {
                    return Err(Error::SizeInvalid(format!(
                        "Content-Range {start}-{end} but {written} bytes sent"
                    )));
                }
            }
            Ok(())
        }
        .await;
        drop(w);
        if let Err(e) = result {
            // Cut the partial chunk off again: the session stays at its last complete chunk.
            if let Ok(mut w) = self.storage.writer(&key, state.offset).await {
                let _ = w.shutdown().await;
            }
            return Err(e);
        }
        if written > 0 {
            state.offset += written;
            self.save_state(id, state).await?;
        }
        hs.offset = state.offset;
        hs.hasher = hasher;
        Ok(())
    }

    /// Complete an upload: append the final chunk if any, verify the whole content against
    /// `digest`, and move it into place. Any failure but an out-of-order chunk ends the
    /// session and leaves nothing behind.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        last_chunk: Option<(Option<(u64, u64)>, BodyStream)>,
    ) -> Result<u64, Error> {
        self.load_state(repo, id).await?;
        let lock = self.session_lock(id);
        let mut hs = lock.lock().await;
        let mut state = self.load_state(repo, id).await?;
        let mut result = Ok(());
        if let Some((range, body)) = last_chunk {
            result = self.append_locked(id, &mut state, &mut hs, range, body).await;
        }
        let result = match result {
            Ok(()) => self.commit_locked(repo, id, &state, &mut hs, digest).await,
            Err(e) => Err(e),
        };
        if !matches!(result, Err(Error::RangeInvalid { .. })) {
            if result.is_err() {
                let _ = self.storage.delete(&layout::upload(id)).await;
            }
            self.forget_session(id);
        }
        result
    }

    async fn commit_locked(
        &self,
        repo: &RepoName,
        id: &str,
        state: &UploadState,
        hs: &mut HashState,
        digest: &Digest,
    ) -> Result<u64, Error> {
        let key = layout::upload_data(id);
        let size = match self.storage.stat(&key).await {
            Ok(m) => m.size,
            Err(StorageError::NotFound(_)) => u64::MAX,
            Err(e) => return Err(e.into()),
        };
        if size != state.offset {
            // Drop a torn tail (or recreate a lost empty file).
            let mut w = self.storage.writer(&key, state.offset).await?;
            w.shutdown().await.map_err(|e| write_err(&key, e))?;
        }
        let actual = match hs.hasher.take() {
            Some(h) if hs.offset == state.offset && h.algorithm() == digest.algorithm() => h.finish(),
            _ => self.hash_object(&key, digest.algorithm(), state.offset).await?,
        };
        if actual != *digest {
            return Err(Error::DigestInvalid {
                detail: format!("the content's digest is {actual}, not {digest}"),
            });
        }
        let dest = layout::blob(digest);
        if !self.exists(&dest).await? {
            self.storage.rename(&key, &dest).await?;
        }
        let _ = self.storage.delete(&layout::upload(id)).await;
        self.link_blob(repo, digest).await?;
        Ok(state.offset)
    }

    async fn hash_object(&self, key: &str, alg: Algorithm, len: u64) -> Result<Digest, Error> {
        let mut r = self.storage.reader(key, 0).await?.take(len);
        let mut h = Hasher::new(alg);
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = r.read(&mut buf).await.map_err(|e| write_err(key, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(h.finish())
    }

    /// Abandon an upload and drop its data.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<(), Error> {
        self.load_state(repo, id).await?;
        let lock = self.session_lock(id);
        let _hs = lock.lock().await;
        self.load_state(repo, id).await?;
        let res = self.storage.delete(&layout::upload(id)).await;
        self.forget_session(id);
        match res {
            Ok(()) | Err(StorageError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Store a blob in one go (monolithic upload): stream, verify, move into place.
    pub async fn put_blob(&self, repo: &RepoName, digest: &Digest, body: BodyStream) -> Result<u64, Error> {
        let id = self.start_upload(repo, digest.algorithm()).await?;
        self.finish_upload(repo, &id, digest, Some((None, body))).await
    }

    /// Remove upload sessions idle for more than `max_age` (no chunk since). Returns how many.
    pub async fn purge_uploads(&self, max_age: Duration) -> Result<usize, Error> {
        let ids = match self.storage.list(layout::UPLOADS).await {
            Ok(v) => v,
            Err(StorageError::NotFound(_)) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let cutoff = now_secs().saturating_sub(max_age.as_secs());
        let mut purged = 0;
        for id in ids {
            // The state is rewritten after every chunk: its age is the session's idle time.
            let meta = match self.storage.stat(&layout::upload_state(&id)).await {
                Ok(m) => m,
                Err(_) => match self.storage.stat(&layout::upload(&id)).await {
                    Ok(m) => m,
                    Err(_) => continue,
                },
            };
            let last = meta.modified.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            if last < cutoff && self.storage.delete(&layout::upload(&id)).await.is_ok() {
                self.forget_session(&id);
                purged += 1;
            }
        }
        Ok(purged)
    }

    // ---- manifests ----

    async fn resolve(&self, repo: &RepoName, r: &ManifestRef) -> Result<Digest, Error> {
        match r {
            ManifestRef::Digest(d) => Ok(d.clone()),
            ManifestRef::Tag(t) => match self.storage.get(&layout::tag(repo.as_str(), t)).await {
                Ok(b) => Digest::parse(String::from_utf8_lossy(&b).trim())
                    .map_err(|_| Error::ManifestUnknown { detail: format!("tag {t} is corrupt") }),
                Err(StorageError::NotFound(_)) => Err(Error::ManifestUnknown { detail: format!("tag {t}") }),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// A manifest by tag or digest.
    pub async fn get_manifest(&self, repo: &RepoName, r: &ManifestRef) -> Result<Manifest, Error> {
        let digest = self.resolve(repo, r).await?;
        let unknown = || Error::ManifestUnknown { detail: r.to_string() };
        let media_type = match self.storage.get(&layout::revision(repo.as_str(), &digest)).await {
            Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
            Err(StorageError::NotFound(_)) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        let body = match self.storage.get(&layout::blob(&digest)).await {
            Ok(b) => b,
            Err(StorageError::NotFound(_)) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        Ok(Manifest { digest, media_type, body })
    }

    /// Validate and store a manifest under `r` (a tag, or the digest it must have), plus any
    /// `extra_tags` (the `?tag=` parameters of a push by digest).
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        r: &ManifestRef,
        content_type: Option<&str>,
        body: Bytes,
        extra_tags: &[String],
    ) -> Result<ManifestPut, Error> {
        if body.len() > self.options.max_manifest_bytes {
            return Err(Error::ManifestTooLarge { limit: self.options.max_manifest_bytes });
        }
        for t in extra_tags {
            if !is_valid_tag(t) {
                return Err(Error::ManifestInvalid(format!("invalid tag {t:?}")));
            }
        }
        let parsed = manifest::parse(content_type, &body)?;
        let alg = match r {
            ManifestRef::Digest(d) => d.algorithm(),
            ManifestRef::Tag(_) => Algorithm::Sha256,
        };
        let digest = digest_of(alg, &body);
        if let ManifestRef::Digest(d) = r {
            if *d != digest {
                return Err(Error::DigestInvalid { detail: format!("the manifest's digest is {digest}, not {d}") });
            }
        }
        let name = repo.as_str();
        let mut missing = Vec::new();
        for (d, size) in &parsed.blobs {
            match self.stat_blob(repo, d).await {
                Ok(s) if s as i64 == *size => {}
                Ok(s) => {
                    return Err(Error::ManifestInvalid(format!("blob {d} has {s} bytes, the manifest says {size}")))
                }
                Err(Error::BlobUnknown { .. }) => missing.push(d.to_string()),
                Err(e) => return Err(e),
            }
        }
        for d in &parsed.manifests {
            if !self.exists(&layout::revision(name, d)).await? || !self.exists(&layout::blob(d)).await? {
                missing.push(d.to_string());
            }
        }
        if !missing.is_empty() {
            missing.dedup();
            return Err(Error::ManifestBlobUnknown { digests: missing });
        }
        let key = layout::blob(&digest);
        if !self.exists(&key).await? {
            self.storage.put(&key, body.clone()).await?;
        }
        self.storage.put(&layout::revision(name, &digest), Bytes::from(parsed.media_type.clone())).await?;
        if let Some(subject) = &parsed.subject {
            let desc = manifest::referrer_descriptor(&parsed, &digest, body.len());
            let json = serde_json::to_vec(&desc).map_err(|e| write_err(name, io::Error::other(e)))?;
            self.storage.put(&layout::referrer(name, subject, &digest), Bytes::from(json)).await?;
        }
        let mut tags = Vec::new();
        if let ManifestRef::Tag(t) = r {
            tags.push(t.clone());
        }
        tags.extend(extra_tags.iter().cloned());
        for t in &tags {
            self.storage.put(&layout::tag(name, t), Bytes::from(digest.to_string())).await?;
        }
        Ok(ManifestPut { digest, subject: parsed.subject, tags })
    }

    /// Store a manifest fetched from a pull-through cache's remote, without checking that its
    /// blobs are here (they are fetched when asked for). A digest reference must match.
    pub async fn cache_manifest(
        &self,
        repo: &RepoName,
        r: &ManifestRef,
        media_type: &str,
        body: Bytes,
    ) -> Result<Manifest, Error> {
        let alg = match r {
            ManifestRef::Digest(d) => d.algorithm(),
            ManifestRef::Tag(_) => Algorithm::Sha256,
        };
        let digest = digest_of(alg, &body);
        if let ManifestRef::Digest(d) = r {
            if *d != digest {
                return Err(Error::DigestInvalid { detail: format!("the remote's manifest is {digest}, not {d}") });
            }
        }
        let parsed = manifest::parse(Some(media_type), &body).or_else(|_| manifest::parse(None, &body)).ok();
        let media_type = parsed.as_ref().map_or(media_type.to_string(), |p| p.media_type.clone());
        let name = repo.as_str();
        let key = layout::blob(&digest);
        if !self.exists(&key).await? {
            self.storage.put(&key, body.clone()).await?;
        }
        self.storage.put(&layout::revision(name, &digest), Bytes::from(media_type.clone())).await?;
        if let Some(p) = &parsed {
            if let Some(subject) = &p.subject {
                let desc = manifest::referrer_descriptor(p, &digest, body.len());
                let json = serde_json::to_vec(&desc).map_err(|e| write_err(name, io::Error::other(e)))?;
                self.storage.put(&layout::referrer(name, subject, &digest), Bytes::from(json)).await?;
            }
        }
        if let ManifestRef::Tag(t) = r {
            self.storage.put(&layout::tag(name, t), Bytes::from(digest.to_string())).await?;
        }
        Ok(Manifest { digest, media_type, body })
    }

    /// Delete a tag, or a manifest with every tag pointing at it.
    pub async fn delete_manifest(&self, repo: &RepoName, r: &ManifestRef) -> Result<(), Error> {
        if !self.options.delete_enabled {
            return Err(Error::Unsupported("deletes are disabled".into()));
        }
        let name = repo.as_str();
        let unknown = || Error::ManifestUnknown { detail: r.to_string() };
        let d = match r {
            ManifestRef::Tag(t) => {
                return match self.storage.delete(&layout::tag(name, t)).await {
                    Ok(()) => Ok(()),
                    Err(StorageError::NotFound(_)) => Err(unknown()),
                    Err(e) => Err(e.into()),
                };
            }
            ManifestRef::Digest(d) => d,
        };
        let media_type = match self.storage.get(&layout::revision(name, d)).await {
            Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
            Err(StorageError::NotFound(_)) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        if let Ok(body) = self.storage.get(&layout::blob(d)).await {
            if let Ok(Some(subject)) = manifest::parse(Some(&media_type), &body).map(|p| p.subject) {
                let _ = self.storage.delete(&layout::referrer(name, &subject, d)).await;
            }
        }
        self.storage.delete(&layout::revision(name, d)).await?;
        for t in self.list_or_empty(&layout::tags(name)).await? {
            if let Ok(b) = self.storage.get(&layout::tag(name, &t)).await {
                if String::from_utf8_lossy(&b).trim() == d.to_string() {
                    let _ = self.storage.delete(&layout::tag(name, &t)).await;
                }
            }
        }
        Ok(())
    }

    async fn list_or_empty(&self, prefix: &str) -> Result<Vec<String>, Error> {
        match self.storage.list(prefix).await {
            Ok(v) => Ok(v),
            Err(StorageError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// The repository's tags, sorted bytewise. `NAME_UNKNOWN` if the repository does not exist.
    pub async fn tags(&self, repo: &RepoName) -> Result<Vec<String>, Error> {
        match self.storage.list(&layout::tags(repo.as_str())).await {
            Ok(v) => Ok(v),
            Err(StorageError::NotFound(_)) if self.exists(&layout::repo(repo.as_str())).await? => Ok(Vec::new()),
            Err(StorageError::NotFound(_)) => Err(Error::NameUnknown { name: repo.to_string() }),
            Err(e) => Err(e.into()),
        }
    }

    /// Every repository, sorted bytewise.
    pub async fn catalog(&self) -> Result<Vec<String>, Error> {
        repositories(self.storage.as_ref()).await
    }

    /// The manifests in `repo` whose subject is `subject`, optionally only those of one
    /// artifact type, sorted by digest.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, Error> {
        let name = repo.as_str();
        let prefix = layout::referrers(name, subject);
        let mut out = Vec::new();
        for entry in self.list_or_empty(&prefix).await? {
            let Ok(raw) = self.storage.get(&format!("{prefix}/{entry}")).await else { continue };
            let Ok(desc) = serde_json::from_slice::<Descriptor>(&raw) else { continue };
            let Ok(d) = Digest::parse(&desc.digest) else { continue };
            if !self.exists(&layout::revision(name, &d)).await? {
                continue;
            }
            if artifact_type.is_some_and(|a| desc.artifact_type.as_deref() != Some(a)) {
                continue;
            }
            out.push(desc);
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }
}

/// Every repository under `repositories/`: a directory holding `_manifests` or `_layers`.
pub(crate) async fn repositories(storage: &dyn Storage) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(name) = stack.pop() {
        let key = if name.is_empty() { "repositories".to_string() } else { layout::repo(&name) };
        let children = match storage.list(&key).await {
            Ok(v) => v,
            Err(StorageError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        if !name.is_empty() && children.iter().any(|c| c == "_manifests" || c == "_layers") {
            out.push(name.clone());
        }
        for c in children.into_iter().filter(|c| !c.starts_with('_')) {
            let child = if name.is_empty() { c } else { format!("{name}/{c}") };
            if crate::names::is_valid_name(&child) {
                stack.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    fn body(chunks: &[&'static [u8]]) -> BodyStream {
        let items: Vec<Result<Bytes, io::Error>> = chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Box::pin(futures_util::stream::iter(items))
    }

    fn broken(chunk: &'static [u8]) -> BodyStream {
        let items: Vec<Result<Bytes, io::Error>> = vec![Ok(Bytes::from_static(chunk)), Err(io::Error::other("client went away"))];
        Box::pin(futures_util::stream::iter(items))
    }

    /// The registry's model over the in-memory fake: uploads, verification, manifests, gc.
    #[tokio::test]
    async fn registry_over_mem_storage() {
        let storage = Arc::new(MemStorage::new());
        let reg = Registry::new(storage.clone(), RegistryOptions::default());
        let repo = RepoName::parse("a/b").unwrap();
        let d = digest_of(Algorithm::Sha256, b"hello world");

        let id = reg.start_upload(&repo, Algorithm::Sha256).await.unwrap();
        assert_eq!(reg.append_upload(&repo, &id, Some((0, 4)), body(&[b"hel", b"lo"])).await.unwrap(), 5);
        assert!(matches!(
            reg.append_upload(&repo, &id, Some((3, 4)), body(&[b"lo"])).await,
            Err(Error::RangeInvalid { offset: 5 })
        ));
        assert!(matches!(reg.append_upload(&repo, &id, None, broken(b" wor")).await, Err(Error::BlobUploadInvalid(_))));
        assert_eq!(reg.upload_offset(&repo, &id).await.unwrap(), 5, "the broken chunk was cut off");
        assert!(matches!(
            reg.append_upload(&repo, &id, Some((5, 9)), body(&[b" wo"])).await,
            Err(Error::SizeInvalid(_))
        ));
        let other = RepoName::parse("other").unwrap();
        assert!(matches!(reg.upload_offset(&other, &id).await, Err(Error::BlobUploadUnknown)));
        assert_eq!(reg.finish_upload(&repo, &id, &d, Some((None, body(&[b" world"])))).await.unwrap(), 11);
        assert_eq!(reg.stat_blob(&repo, &d).await.unwrap(), 11);
        assert!(matches!(reg.stat_blob(&other, &d).await, Err(Error::BlobUnknown { .. })));

        let wrong = digest_of(Algorithm::Sha256, b"x");
        assert!(matches!(reg.put_blob(&repo, &wrong, body(&[b"y"])).await, Err(Error::DigestInvalid { .. })));
        assert!(reg.list_or_empty(layout::UPLOADS).await.unwrap().is_empty(), "no session left behind");

        // sha512 digests work end to end (the running hash is redone at the end).
        let d512 = digest_of(Algorithm::Sha512, b"five12");
        assert_eq!(reg.put_blob(&repo, &d512, body(&[b"five", b"12"])).await.unwrap(), 6);

        let cfg = digest_of(Algorithm::Sha256, b"{}");
        reg.put_blob(&repo, &cfg, body(&[b"{}"])).await.unwrap();
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"{cfg}","size":2}},"layers":[{{"digest":"{d}","size":11}}]}}"#,
            manifest::OCI_MANIFEST
        );
        let tag = ManifestRef::Tag("v1".into());
        let put = reg.put_manifest(&repo, &tag, Some(manifest::OCI_MANIFEST), Bytes::from(m.clone()), &[]).await.unwrap();
        assert_eq!(reg.get_manifest(&repo, &tag).await.unwrap().body, Bytes::from(m));
        assert_eq!(reg.tags(&repo).await.unwrap(), vec!["v1"]);
        assert_eq!(reg.catalog().await.unwrap(), vec!["a/b"]);

        let report = crate::gc::collect_garbage(&reg, &crate::gc::GcOptions::default()).await.unwrap();
        assert_eq!(report.blobs_deleted, vec![d512.clone()]);
        assert_eq!(report.manifests_kept, 1);
        reg.delete_manifest(&repo, &ManifestRef::Digest(put.digest.clone())).await.unwrap();
        assert!(reg.tags(&repo).await.unwrap().is_empty());
        let report = crate::gc::collect_garbage(&reg, &crate::gc::GcOptions::default()).await.unwrap();
        assert_eq!(report.blobs_deleted.len(), 3, "{report:?}");
    }
}
