//! Where the registry keeps its bytes: a [`Storage`] of objects under `/`-separated keys.
//!
//! The registry never touches files itself; it asks a `Storage`. The words:
//!
//! * A **key** is a relative path like `blobs/sha256/ab/ab12.../data`: non-empty components
//!   separated by `/`, none of them `.` or `..`. Keys name objects; the components before the
//!   last one act as directories (prefixes) that [`Storage::list`] enumerates.
//! * An **object** is a byte string. Small objects (links, upload state, manifests) are read
//!   whole with [`Storage::get`] and written atomically with [`Storage::put`]. Large ones (blobs,
//!   uploads in progress) stream through [`Storage::reader`] and [`Storage::writer`].
//! * [`Storage::rename`] moves an object atomically and durably: after it returns, readers see
//!   either nothing or all of the object at the new key, never a part, also after a crash. This
//!   is how an upload becomes a blob.
//!
//! [`conformance`] is the contract as a test; every backend runs it. [`MemStorage`] is an
//! in-memory backend for tests.
//!
//! The local filesystem ([`FsStorage`]) is the default; an object store could implement the
//! same trait (a rename there is a copy plus a delete, still never exposing a partial object
//! because uploads live under their own keys until complete).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use berth_errdefs::{HasKind, Kind};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite};

/// A streaming reader of an object.
pub type BoxReader = Pin<Box<dyn AsyncRead + Send>>;
/// A streaming writer into an object.
pub type BoxWriter = Pin<Box<dyn AsyncWrite + Send>>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No object (or prefix) under the key.
    #[error("{0}: not found")]
    NotFound(String),
    /// The key is not a valid relative path.
    #[error("invalid storage key {0:?}")]
    InvalidKey(String),
    /// The backend failed.
    #[error("{key}: {source}")]
    Io {
        /// The key operated on.
        key: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl HasKind for StorageError {
    fn kind(&self) -> Kind {
        match self {
            StorageError::NotFound(_) => Kind::NotFound,
            StorageError::InvalidKey(_) => Kind::InvalidArgument,
            StorageError::Io { .. } => Kind::Internal,
        }
    }
}

/// What [`Storage::stat`] tells about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes (0 for a prefix).
    pub size: u64,
    /// Last modification.
    pub modified: SystemTime,
    /// Whether the key is a prefix (a directory) rather than an object.
    pub is_prefix: bool,
}

/// A key-value store of byte objects with streaming access. See the module docs for the terms.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug + 'static {
    /// The object's or prefix's metadata; [`StorageError::NotFound`] when neither exists.
    async fn stat(&self, key: &str) -> Result<ObjectMeta, StorageError>;
    /// The whole object (for small objects).
    async fn get(&self, key: &str) -> Result<Bytes, StorageError>;
    /// A reader of the object from byte `offset` to its end.
    async fn reader(&self, key: &str, offset: u64) -> Result<BoxReader, StorageError>;
    /// Replace the object with `data`, atomically and durably (readers see the old or the new
    /// content, whole).
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError>;
    /// A writer that makes the object its first `offset` bytes (creating it empty if missing;
    /// dropping anything after `offset`) followed by what is written. The data is visible only
    /// to later readers of the same key once the writer is shut down.
    async fn writer(&self, key: &str, offset: u64) -> Result<BoxWriter, StorageError>;
    /// Move the object `from` to `to` atomically and durably, replacing any object at `to`.
    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError>;
    /// Delete the object, or the prefix and everything under it.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// The names (last components) directly under a prefix, sorted bytewise.
    /// [`StorageError::NotFound`] when the prefix does not exist.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
}

/// [`Storage`] on a local directory. Objects are files; prefixes are directories.
#[derive(Debug, Clone)]
pub struct FsStorage {
    root: PathBuf,
}

impl FsStorage {
    /// Storage rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> FsStorage {
        FsStorage { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let valid = !key.is_empty()
            && key.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
        if !valid {
            return Err(StorageError::InvalidKey(key.to_string()));
        }
        Ok(self.root.join(key))
    }
}

fn io_err(key: &str, e: io::Error) -> StorageError {
    if e.kind() == io::ErrorKind::NotFound {
        StorageError::NotFound(key.to_string())
    } else {
        StorageError::Io { key: key.to_string(), source: e }
    }
}

async fn ensure_parent(path: &Path, key: &str) -> Result<(), StorageError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| io_err(key, e))?;
    }
    Ok(())
}

/// A unique sibling name for temporary files (`.tmp-<random>`); never a valid key component
/// of the registry layout, which only uses names without a leading dot.
fn temp_sibling(path: &Path) -> PathBuf {
    let mut r = [0u8; 8];
    let _ = getrandom::fill(&mut r);
    let name = format!(".tmp-{}", hex::encode(r));
    path.with_file_name(name)
}

#[async_trait]
impl Storage for FsStorage {
    async fn stat(&self, key: &str) -> Result<ObjectMeta, StorageError> {
        let path = self.path(key)?;
        let m = tokio::fs::metadata(&path).await.map_err(|e| io_err(key, e))?;
        Ok(ObjectMeta {
            size: if m.is_dir() { 0 } else { m.len() },
            modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            is_prefix: m.is_dir(),
        })
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let path = self.path(key)?;
        tokio::fs::read(&path).await.map(Bytes::from).map_err(|e| io_err(key, e))
    }

    async fn reader(&self, key: &str, offset: u64) -> Result<BoxReader, StorageError> {
        let path = self.path(key)?;
        let mut f = tokio::fs::File::open(&path).await.map_err(|e| io_err(key, e))?;
        if offset > 0 {
            f.seek(io::SeekFrom::Start(offset)).await.map_err(|e| io_err(key, e))?;
        }
        Ok(Box::pin(f))
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let path = self.path(key)?;
        ensure_parent(&path, key).await?;
        let tmp = temp_sibling(&path);
        let res = async {
            let f = tokio::fs::File::create(&tmp).await?;
            let mut f = f;
            tokio::io::AsyncWriteExt::write_all(&mut f, &data).await?;
            f.sync_all().await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = res {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_err(key, e));
        }
        Ok(())
    }

    async fn writer(&self, key: &str, offset: u64) -> Result<BoxWriter, StorageError> {
        let path = self.path(key)?;
        ensure_parent(&path, key).await?;
        let mut f = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .await
            .map_err(|e| io_err(key, e))?;
        f.set_len(offset).await.map_err(|e| io_err(key, e))?;
        f.seek(io::SeekFrom::Start(offset)).await.map_err(|e| io_err(key, e))?;
        Ok(Box::pin(f))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let (src, dst) = (self.path(from)?, self.path(to)?);
        // Durable before visible: flush the data, then move it into place.
        let f = tokio::fs::File::open(&src).await.map_err(|e| io_err(from, e))?;
        f.sync_all().await.map_err(|e| io_err(from, e))?;
        drop(f);
        ensure_parent(&dst, to).await?;
        tokio::fs::rename(&src, &dst).await.map_err(|e| io_err(to, e))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key)?;
        let m = tokio::fs::symlink_metadata(&path).await.map_err(|e| io_err(key, e))?;
        if m.is_dir() {
            tokio::fs::remove_dir_all(&path).await.map_err(|e| io_err(key, e))
        } else {
            tokio::fs::remove_file(&path).await.map_err(|e| io_err(key, e))
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let path = self.path(prefix)?;
        let mut rd = tokio::fs::read_dir(&path).await.map_err(|e| io_err(prefix, e))?;
        let mut out = Vec::new();
        while let Some(ent) = rd.next_entry().await.map_err(|e| io_err(prefix, e))? {
            if let Some(name) = ent.file_name().to_str() {
                if !name.starts_with('.') {
                    out.push(name.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// An in-memory [`Storage`], for tests of code above the storage seam. Writers buffer and
/// publish their object when shut down.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    objects: Arc<Mutex<BTreeMap<String, (Bytes, SystemTime)>>>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Bytes, SystemTime)>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn check_key(key: &str) -> Result<(), StorageError> {
    let valid = !key.is_empty()
        && key.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
    if valid {
        Ok(())
    } else {
        Err(StorageError::InvalidKey(key.to_string()))
    }
}

struct MemWriter {
    store: MemStorage,
    key: String,
    buf: Vec<u8>,
}

impl AsyncWrite for MemWriter {
    fn poll_write(self: Pin<&mut Self>, _: &mut std::task::Context<'_>, data: &[u8]) -> std::task::Poll<io::Result<usize>> {
        self.get_mut().buf.extend_from_slice(data);
        std::task::Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        let w = self.get_mut();
        let data = Bytes::from(w.buf.clone());
        w.store.lock().insert(w.key.clone(), (data, SystemTime::now()));
        std::task::Poll::Ready(Ok(()))
    }
}

#[async_trait]
impl Storage for MemStorage {
    async fn stat(&self, key: &str) -> Result<ObjectMeta, StorageError> {
        check_key(key)?;
        let map = self.lock();
        if let Some((b, t)) = map.get(key) {
            return Ok(ObjectMeta { size: b.len() as u64, modified: *t, is_prefix: false });
        }
        let prefix = format!("{key}/");
        match map.range(prefix.clone()..).next() {
            Some((k, (_, t))) if k.starts_with(&prefix) => Ok(ObjectMeta { size: 0, modified: *t, is_prefix: true }),
            _ => Err(StorageError::NotFound(key.to_string())),
        }
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        check_key(key)?;
        self.lock().get(key).map(|(b, _)| b.clone()).ok_or_else(|| StorageError::NotFound(key.to_string()))
    }

    async fn reader(&self, key: &str, offset: u64) -> Result<BoxReader, StorageError> {
        let b = self.get(key).await?;
        let start = (offset as usize).min(b.len());
        Ok(Box::pin(std::io::Cursor::new(b.slice(start..))))
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        check_key(key)?;
        self.lock().insert(key.to_string(), (data, SystemTime::now()));
        Ok(())
    }

    async fn writer(&self, key: &str, offset: u64) -> Result<BoxWriter, StorageError> {
        check_key(key)?;
        let mut buf = self.lock().get(key).map(|(b, _)| b.to_vec()).unwrap_or_default();
        buf.resize(offset as usize, 0);
        self.lock().insert(key.to_string(), (Bytes::from(buf.clone()), SystemTime::now()));
        Ok(Box::pin(MemWriter { store: self.clone(), key: key.to_string(), buf }))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        check_key(from)?;
        check_key(to)?;
        let mut map = self.lock();
        let v = map.remove(from).ok_or_else(|| StorageError::NotFound(from.to_string()))?;
        map.insert(to.to_string(), v);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        check_key(key)?;
        let mut map = self.lock();
        let prefix = format!("{key}/");
        let doomed: Vec<String> =
            map.keys().filter(|k| k.as_str() == key || k.starts_with(&prefix)).cloned().collect();
        if doomed.is_empty() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        for k in doomed {
            map.remove(&k);
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        check_key(prefix)?;
        let map = self.lock();
        let p = format!("{prefix}/");
        let mut out: Vec<String> = map
            .range(p.clone()..)
            .take_while(|(k, _)| k.starts_with(&p))
            .filter_map(|(k, _)| k[p.len()..].split('/').next().map(str::to_string))
            .collect();
        out.dedup();
        if out.is_empty() {
            return Err(StorageError::NotFound(prefix.to_string()));
        }
        Ok(out)
    }
}

/// The contract every [`Storage`] must keep, as a test any backend can run against a fresh,
/// empty store (see the module docs for the terms).
///
/// # Panics
///
/// When the backend breaks the contract: it is a test.
pub async fn conformance(s: &dyn Storage) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for bad in ["", "/a", "a//b", "a/../b", ".", "a/."] {
        assert!(matches!(s.get(bad).await, Err(StorageError::InvalidKey(_))), "{bad:?}");
    }
    assert!(matches!(s.stat("x/y").await, Err(StorageError::NotFound(_))));
    s.put("x/y", Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(s.get("x/y").await.unwrap(), Bytes::from_static(b"hello"));
    assert_eq!(s.stat("x/y").await.unwrap().size, 5);
    assert!(!s.stat("x/y").await.unwrap().is_prefix);
    assert!(s.stat("x").await.unwrap().is_prefix);
    s.put("x/y", Bytes::from_static(b"hi")).await.unwrap();
    assert_eq!(s.get("x/y").await.unwrap(), Bytes::from_static(b"hi"), "put replaces");

    let mut w = s.writer("u/data", 0).await.unwrap();
    w.write_all(b"abc").await.unwrap();
    w.write_all(b"def").await.unwrap();
    w.shutdown().await.unwrap();
    drop(w);
    assert_eq!(s.stat("u/data").await.unwrap().size, 6);
    // A writer at offset 3 drops the tail first; one past the end pads with zeros.
    let mut w = s.writer("u/data", 3).await.unwrap();
    w.write_all(b"XY").await.unwrap();
    w.shutdown().await.unwrap();
    drop(w);
    let mut r = s.reader("u/data", 1).await.unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bcXY");
    let mut w = s.writer("u/pad", 2).await.unwrap();
    w.shutdown().await.unwrap();
    drop(w);
    assert_eq!(s.get("u/pad").await.unwrap(), Bytes::from_static(b"\0\0"));

    s.rename("u/data", "b/c/d").await.unwrap();
    assert!(matches!(s.stat("u/data").await, Err(StorageError::NotFound(_))));
    assert_eq!(s.get("b/c/d").await.unwrap(), Bytes::from_static(b"abcXY"));
    s.put("b/c/e", Bytes::from_static(b"old")).await.unwrap();
    s.rename("b/c/d", "b/c/e").await.unwrap();
    assert_eq!(s.get("b/c/e").await.unwrap(), Bytes::from_static(b"abcXY"), "rename replaces");
    assert!(matches!(s.rename("nope", "b/x").await, Err(StorageError::NotFound(_))));

    s.put("l/b", Bytes::new()).await.unwrap();
    s.put("l/a/deep", Bytes::new()).await.unwrap();
    s.put("l/a/deeper/x", Bytes::new()).await.unwrap();
    assert_eq!(s.list("l").await.unwrap(), vec!["a", "b"]);
    assert_eq!(s.list("l/a").await.unwrap(), vec!["deep", "deeper"]);
    assert!(matches!(s.list("l/none").await, Err(StorageError::NotFound(_))));
    s.delete("l/a").await.unwrap();
    assert_eq!(s.list("l").await.unwrap(), vec!["b"]);
    s.delete("l/b").await.unwrap();
    assert!(matches!(s.get("l/b").await, Err(StorageError::NotFound(_))));
    assert!(matches!(s.delete("l/b").await, Err(StorageError::NotFound(_))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fs_storage_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        conformance(&FsStorage::new(dir.path())).await;
    }

    #[tokio::test]
    async fn mem_storage_keeps_the_contract() {
        conformance(&MemStorage::new()).await;
    }
}
