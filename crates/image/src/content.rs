//! The content store: blobs addressed by their sha256 digest, as a registry serves them.
//!
//! A blob lives at `<image root>/blobs/sha256/<hex>`. Writes go to a temporary file under
//! `<image root>/ingest/` while their digest is computed, and are renamed into place only once
//! the digest (and, when known, the size) is verified: a reader never sees a partial blob, a
//! failed or abandoned write leaves nothing under `blobs/`, and two writers of the same content
//! both succeed (the second rename replaces identical bytes).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use berth_reference::{Algorithm, Digest};
use sha2::{Digest as _, Sha256};

use crate::Error;

const WRITE_BUFFER: usize = 256 * 1024;

/// `<image root>/blobs/sha256/<hex>`; writes go to `<image root>/ingest/` first.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Open (creating the directories if needed) the content store of the image root `root`.
    pub fn open(root: &Path) -> Result<ContentStore, Error> {
        let blobs = root.join("blobs");
        let ingest = root.join("ingest");
        for d in [blobs.join(Algorithm::Sha256.as_str()), ingest.clone()] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .map_err(Error::io(format!("create {}", d.display())))?;
        }
        Ok(ContentStore { blobs, ingest })
    }

    /// A writer for a new blob.
    pub fn writer(&self) -> Result<BlobWriter, Error> {
        let tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&self.ingest)
            .map_err(Error::io(format!(
                "create a file in {}",
                self.ingest.display()
            )))?;
        let (file, path) = tmp.into_parts();
        Ok(BlobWriter {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            path,
            hasher: Sha256::new(),
            size: 0,
            blobs: self.blobs.clone(),
        })
    }

    /// Store a small blob held in memory; returns its digest.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let mut w = self.writer()?;
        w.write_all(bytes)
            .map_err(Error::io("write blob into the content store"))?;
        Ok(w.commit(None, None)?.0)
    }

    /// Is this blob stored?
    pub fn exists(&self, d: &Digest) -> bool {
        fs::metadata(self.path(d)).is_ok_and(|m| m.is_file())
    }

    /// The size of a stored blob.
    pub fn size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.path(d))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    /// Where the blob is (or would be) stored.
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.algorithm().as_str()).join(d.hex())
    }

    /// Open a stored blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File, Error> {
        let p = self.path(d);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(d.to_string()),
            _ => Error::io(format!("open {}", p.display()))(e),
        })
    }

    /// The bytes of a stored blob.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, Error> {
        let p = self.path(d);
        fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(d.to_string()),
            _ => Error::io(format!("read {}", p.display()))(e),
        })
    }

    /// Delete a blob (deleting a missing blob is not an error).
    pub fn delete(&self, d: &Digest) -> Result<(), Error> {
        let p = self.path(d);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove {}", p.display()))(e)),
        }
    }

    /// Every stored blob with its modification time (when it was written).
    pub fn list(&self) -> Result<Vec<(Digest, SystemTime)>, Error> {
        let dir = self.blobs.join(Algorithm::Sha256.as_str());
        let mut out = Vec::new();
        let entries = fs::read_dir(&dir).map_err(Error::io(format!("read {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(Error::io(format!("read {}", dir.display())))?;
            let name = entry.file_name();
            let Some(d) = name
                .to_str()
                .and_then(|hex| Digest::parse(&format!("sha256:{hex}")).ok())
            else {
                continue;
            };
            let Ok(md) = entry.metadata() else { continue };
            out.push((d, md.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        }
        out.sort();
        Ok(out)
    }

    /// Remove what interrupted writes left in `ingest/`. Only when no writer is active (at
    /// open).
    pub(crate) fn sweep_ingest(&self) -> Result<(), Error> {
        let entries = fs::read_dir(&self.ingest)
            .map_err(Error::io(format!("read {}", self.ingest.display())))?;
        for entry in entries.flatten() {
            let p = entry.path();
            let r = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&p),
                _ => fs::remove_file(&p),
            };
            r.map_err(Error::io(format!("remove {}", p.display())))?;
        }
        Ok(())
    }

    /// The directory for temporary files of this store (same filesystem as the blobs).
    pub(crate) fn ingest_dir(&self) -> &Path {
        &self.ingest
    }
}

/// Hashes while writing; nothing is visible under `blobs/` until [`BlobWriter::commit`]
/// verified it. Dropping a writer without committing discards what was written.
#[derive(Debug)]
pub struct BlobWriter {
    file: BufWriter<File>,
    path: tempfile::TempPath,
    hasher: Sha256,
    size: u64,
    blobs: PathBuf,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.size
    }

    /// Verify (digest and, when given, size) and move into place. Mismatch ->
    /// [`Error::DigestMismatch`] / [`Error::SizeMismatch`] (kind InvalidArgument), nothing
    /// stored. Returns the digest and size of the stored blob.
    pub fn commit(
        self,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(Digest, u64), Error> {
        let BlobWriter {
            file,
            path,
            hasher,
            size: actual_size,
            blobs,
        } = self;
        let digest = Digest::from_sha256(hasher.finalize().into());
        if let Some(want) = expected {
            if want.algorithm() != Algorithm::Sha256 {
                return Err(Error::UnsupportedDigest(want.to_string()));
            }
            if *want != digest {
                return Err(Error::DigestMismatch {
                    expected: want.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        if let Some(want) = size {
            if want != actual_size {
                return Err(Error::SizeMismatch {
                    digest: digest.to_string(),
                    expected: want,
                    actual: actual_size,
                });
            }
        }
        let file = file
            .into_inner()
            .map_err(|e| Error::io("write blob into the content store")(e.into_error()))?;
        file.sync_data()
            .map_err(Error::io("write blob into the content store"))?;
        drop(file);
        let dest = blobs.join(digest.algorithm().as_str()).join(digest.hex());
        path.persist(&dest)
            .map_err(|e| Error::io(format!("store blob {}", dest.display()))(e.error))?;
        Ok((digest, actual_size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
