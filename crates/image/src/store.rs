//! [`ImageStore`]: records, layers on disk, and Docker's rules for names, tags and removal.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use berth_metadata::{Store, Table};
use berth_reference::{
    is_id_prefix, looks_like_id_prefix, parse_any, short_id, AnyReference, Digest, Reference,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::changes::apply_changes;
use crate::config::{go_time, host_architecture, History, ImageConfig, RootFs, RunConfig};
use crate::content::ContentStore;
use crate::filters::{match_labels, ListFilters, PruneFilters};
use crate::gzip::GzipBlob;
use crate::manifest::media_types;
use crate::unpack::{decompress, unpack, unpack_tee, HashingReader, UnpackOptions, Unpacked};
use crate::Error;

const IMAGES: Table = Table::new("images");
const IMAGE_REFS: Table = Table::new("image_refs");
const LAYERS: Table = Table::new("image_layers");
const BLOBS: Table = Table::new("image_blobs");
const TMP_PREFIX: &str = ".tmp-";
/// The gzip level of the blobs we make (import, commit, load). Docker compresses only when it
/// pushes; we compress while unpacking, so speed wins: on this kind of host level 1 runs at
/// ~120 MB/s (ratio ~0.40), level 3 at ~50 MB/s (~0.32), level 6 at ~30 MB/s (~0.30).
const GZIP_LEVEL: u32 = 1;
/// Content blobs nothing references are deleted by a collection only once they are this old:
/// a pull stores blobs before it records them.
const BLOB_GRACE: Duration = Duration::from_secs(3600);

/// A layer's compressed blob as a registry sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerBlob {
    /// The digest of the compressed bytes.
    #[serde(with = "crate::serde_digest")]
    pub digest: Digest,
    /// The layer media type (`application/vnd.docker.image.rootfs.diff.tar.gzip`, ...).
    pub media_type: String,
    /// Size of the compressed bytes.
    pub size: u64,
}

/// The tags given to a loaded image, each with the image that had it before (if another).
pub(crate) type MovedTags = Vec<(Reference, Option<String>)>;

/// The stored knowledge about a content blob that is a layer: what it unpacks to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BlobRecord {
    pub(crate) digest: String,
    pub(crate) media_type: String,
    pub(crate) size: u64,
    /// `sha256:` digest of the uncompressed tar.
    pub(crate) diff_id: String,
    /// Length of the uncompressed tar.
    pub(crate) diff_size: u64,
}

impl BlobRecord {
    pub(crate) fn layer_blob(&self) -> Option<LayerBlob> {
        Some(LayerBlob {
            digest: Digest::parse(&self.digest).ok()?,
            media_type: self.media_type.clone(),
            size: self.size,
        })
    }
}

/// The stored record of an image.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageRecord {
    /// `sha256:<hex>` of `config`.
    id: String,
    /// The exact configuration bytes.
    config: String,
    /// Normalised tag references, in tagging order.
    #[serde(default)]
    repo_tags: Vec<String>,
    /// Normalised digest references.
    #[serde(default)]
    repo_digests: Vec<String>,
    /// The config's creation time (RFC 3339), empty when it has none.
    #[serde(default)]
    created: String,
    /// Total size of the layers.
    size: i64,
    /// Chain ids, bottom first.
    layers: Vec<String>,
    /// When a tag was last added.
    #[serde(default)]
    last_tag_time: Option<String>,
    /// Removed by the user but kept for a container that still uses it.
    #[serde(default)]
    removed: bool,
}

/// The stored record of a layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerRecord {
    chain_id: String,
    diff_id: String,
    parent: Option<String>,
    /// Bytes of regular file content.
    size: i64,
    created: String,
}

/// A container that uses an image, as the caller of [`ImageStore::remove`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    /// The container's id.
    pub container_id: String,
    /// Whether it is running (a running user blocks removal even with force).
    pub running: bool,
}

impl From<String> for ImageUser {
    /// A user whose state is unknown is treated as a stopped container.
    fn from(container_id: String) -> Self {
        ImageUser {
            container_id,
            running: false,
        }
    }
}

impl From<(String, bool)> for ImageUser {
    fn from((container_id, running): (String, bool)) -> Self {
        ImageUser {
            container_id,
            running,
        }
    }
}

/// One line of a removal report, as `DELETE /images/{name}` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    /// A reference was removed (familiar form, `busybox:latest`).
    Untagged(String),
    /// An image (`sha256:` id) or a layer (chain id) was deleted.
    Deleted(String),
}

/// The result of a prune.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// What was untagged and deleted, image by image.
    pub items: Vec<DeleteItem>,
    /// Bytes of the deleted layers.
    pub space_reclaimed: i64,
}

/// A layer of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// `sha256:` chain id.
    pub chain_id: String,
    /// `sha256:` digest of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of regular file content.
    pub size: i64,
    /// The unpacked content, an overlay lower directory.
    pub dir: PathBuf,
}

/// An image as the store knows it.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>`.
    pub id: String,
    /// The parsed configuration.
    pub config: ImageConfig,
    /// The configuration bytes the id is the digest of.
    pub raw_config: String,
    /// Tag references (normalised), in tagging order.
    pub repo_tags: Vec<Reference>,
    /// Digest references (normalised).
    pub repo_digests: Vec<Reference>,
    /// Creation time from the configuration.
    pub created: Option<DateTime<Utc>>,
    /// Total size of the layers.
    pub size: i64,
    /// The layers, bottom first.
    pub layers: Vec<Layer>,
    /// When a tag was last added here.
    pub last_tag_time: Option<DateTime<Utc>>,
}

impl Image {
    /// Tags as Docker prints them (`busybox:latest`).
    pub fn familiar_tags(&self) -> Vec<String> {
        self.repo_tags
            .iter()
            .map(Reference::familiar_string)
            .collect()
    }
    /// Digest references as Docker prints them (`busybox@sha256:...`).
    pub fn familiar_digests(&self) -> Vec<String> {
        self.repo_digests
            .iter()
            .map(Reference::familiar_string)
            .collect()
    }
    /// The labels of the image's run config.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config.labels()
    }
    /// The run config (empty when the image has none).
    pub fn run_config(&self) -> RunConfig {
        self.config.config.clone().unwrap_or_default()
    }
    /// Overlay lower directories, top layer first.
    pub fn lower_dirs(&self) -> Vec<PathBuf> {
        self.layers.iter().rev().map(|l| l.dir.clone()).collect()
    }
}

/// One line of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image id for the newest entry, `<missing>` for the others.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The command of the step.
    pub created_by: String,
    /// Familiar tags of the image, on the newest entry.
    pub tags: Vec<String>,
    /// Size of the layer the step made (0 for an empty step).
    pub size: i64,
    /// The step's comment.
    pub comment: String,
}

/// Numbers for `system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Total size of all layers.
    pub layers_size: i64,
    /// Per visible image id: the size of its layers that other images share.
    pub shared_size: BTreeMap<String, i64>,
}

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Tag the new image with this reference (a name alone gets `latest`).
    pub reference: Option<Reference>,
    /// The message recorded as the image's comment and history comment.
    pub message: String,
    /// Dockerfile-like changes to the run config (see [`crate::apply_changes`]).
    pub changes: Vec<String>,
}

/// The chain ids of a stack of diff ids, bottom first (OCI image spec).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => Digest::sha256_of(format!("{parent} {d}").as_bytes()).to_string(),
        };
        out.push(next);
    }
    out
}

/// The chain id of a layer whose diff id is `diff_id` on top of the layer `parent` (a chain
/// id): the diff id itself for a bottom layer (OCI image spec).
pub fn chain_id_of(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => Digest::sha256_of(format!("{p} {diff_id}").as_bytes()).to_string(),
    }
}

fn hex_of(id: &str) -> &str {
    id.split_once(':').map(|(_, h)| h).unwrap_or(id)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The image and layer store of one data root. Safe to share between threads.
#[derive(Debug)]
pub struct ImageStore {
    store: Store,
    root: PathBuf,
    lock: Mutex<()>,
    unpack: UnpackOptions,
    content: ContentStore,
}

impl ImageStore {
    /// Open the store rooted at `root` (created if missing), removing temporary and orphaned
    /// layer directories a crash may have left.
    pub fn open(store: Store, root: &Path) -> Result<ImageStore, Error> {
        let layers = root.join("layers");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&layers)
            .map_err(Error::io(format!("create {}", layers.display())))?;
        let content = ContentStore::open(root)?;
        content.sweep_ingest()?;
        let s = ImageStore {
            store,
            root: root.to_path_buf(),
            lock: Mutex::new(()),
            unpack: UnpackOptions::for_current_user(),
            content,
        };
        s.sweep_layer_dirs()?;
        Ok(s)
    }

    /// Use these unpack options instead of those of the current user (tests use this to
    /// unpack as an unprivileged user would).
    pub fn with_unpack_options(mut self, opts: UnpackOptions) -> ImageStore {
        self.unpack = opts;
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store (`<root>/blobs`): layer blobs, and whatever a pull keeps.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// The directory of a layer (`<root>/layers/<hex>`); its content is in `diff`.
    pub fn layer_dir(&self, chain_id: &str) -> PathBuf {
        self.layers_dir().join(hex_of(chain_id))
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sweep_layer_dirs(&self) -> Result<(), Error> {
        let _g = self.lock();
        let known: HashSet<String> = self
            .store
            .list::<LayerRecord>(LAYERS)?
            .into_iter()
            .map(|(k, _)| hex_of(&k).to_string())
            .collect();
        let dir = self.layers_dir();
        for entry in fs::read_dir(&dir).map_err(Error::io(format!("read {}", dir.display())))? {
            let entry = entry.map_err(Error::io(format!("read {}", dir.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) || !known.contains(&name) {
                remove_tree(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Remove a layer directory: rename it aside first so that a crash never leaves a half
    /// deleted layer under its real name.
    fn remove_layer_dir(&self, chain_id: &str) -> Result<(), Error> {
        let dir = self.layer_dir(chain_id);
        if !dir.exists() {
            return Ok(());
        }
        let aside = self
            .layers_dir()
            .join(format!("{TMP_PREFIX}rm-{}", hex_of(chain_id)));
        let _ = remove_tree(&aside);
        fs::rename(&dir, &aside).map_err(Error::io(format!("remove {}", dir.display())))?;
        remove_tree(&aside)
    }

    /// Load every record. Callers that change records hold the lock already; readers use
    /// [`ImageStore::snapshot`] so that they never see half of another operation's commit
    /// across the three tables.
    fn load(&self) -> Result<Model, Error> {
        Model::load(&self.store, &self.layers_dir())
    }

    fn snapshot(&self) -> Result<Model, Error> {
        let _g = self.lock();
        self.load()
    }

    /// Import a root filesystem tarball (plain, gzip or zstd) as a one-layer image, as
    /// `docker import` does: the changes are applied to an empty run config, the history has
    /// one entry with `message` as comment, and the image is tagged with `reference`. The
    /// input is read once: a gzip of its tar is written to the content store while it
    /// unpacks, and kept as the layer's blob.
    pub fn import(&self, reader: impl Read, opts: &ImportOptions) -> Result<Image, Error> {
        let mut run = RunConfig::default();
        apply_changes(&mut run, &opts.changes)?;

        let (tmp, unpacked, blob) = self.unpack_new_layer(reader)?;

        let now = Utc::now();
        let created = go_time(now);
        let diff_id = unpacked.diff_id.to_string();
        let chain_id = chain_ids(std::slice::from_ref(&diff_id)).remove(0);
        let message = (!opts.message.is_empty()).then(|| opts.message.clone());
        let config = ImageConfig {
            architecture: host_architecture().into(),
            os: "linux".into(),
            comment: message.clone(),
            created: Some(created.clone()),
            config: Some(run),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff_id.clone()],
            },
            history: vec![History {
                created: Some(created.clone()),
                comment: message,
                ..Default::default()
            }],
            ..Default::default()
        };
        let raw = serde_json::to_string(&config)
            .map_err(|e| Error::Corrupt(format!("encode config: {e}")))?;
        let id = Digest::sha256_of(raw.as_bytes()).to_string();

        let _g = self.lock();
        let mut model = self.load()?;
        let mut placed = false;
        if !model.layers.contains_key(&chain_id) {
            let dest = self.layer_dir(&chain_id);
            if dest.exists() {
                remove_tree(&dest)?;
            }
            fs::rename(tmp.path(), &dest)
                .map_err(Error::io(format!("rename layer into {}", dest.display())))?;
            placed = true;
            model.put_layer(LayerRecord {
                chain_id: chain_id.clone(),
                diff_id,
                parent: None,
                size: unpacked.size,
                created: created.clone(),
            });
        }
        if !model.blobs.contains_key(&blob.digest) {
            model.put_blob(blob);
        }
        let size = model
            .layers
            .get(&chain_id)
            .map(|l| l.size)
            .unwrap_or(unpacked.size);
        model.put_image(ImageRecord {
            id: id.clone(),
            config: raw,
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            created: created.clone(),
            size,
            layers: vec![chain_id.clone()],
            last_tag_time: None,
            removed: false,
        });
        if let Some(r) = &opts.reference {
            model.tag(&id, &r.clone().with_default_tag(), &created);
        }
        if let Err(e) = model.commit(&self.store) {
            if placed {
                let _ = self.remove_layer_dir(&chain_id);
            }
            return Err(e);
        }
        drop(tmp);
        model.view(&id)
    }

    /// A new temporary layer directory (`<layers>/.tmp-*`, with an empty `diff`).
    fn new_layer_tmp(&self) -> Result<(tempfile::TempDir, PathBuf), Error> {
        let tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempdir_in(self.layers_dir())
            .map_err(Error::io("create temporary layer directory"))?;
        let diff = tmp.path().join("diff");
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&diff)
            .map_err(Error::io(format!("create {}", diff.display())))?;
        Ok((tmp, diff))
    }

    /// Unpack a tar stream (plain or compressed) into a new temporary layer directory while
    /// keeping a gzip of the uncompressed tar in the content store (committed, not yet
    /// recorded).
    pub(crate) fn unpack_new_layer(
        &self,
        reader: impl Read,
    ) -> Result<(tempfile::TempDir, Unpacked, BlobRecord), Error> {
        let (tmp, diff) = self.new_layer_tmp()?;
        let mut gz = GzipBlob::start(&self.content, GZIP_LEVEL)?;
        let unpacked = match unpack_tee(reader, &diff, self.unpack, &mut gz) {
            Ok(u) => u,
            Err(e) => {
                // A failure of the compression is the real cause of a failed tee.
                return Err(gz.abort().unwrap_or(Error::Unpack(e)));
            }
        };
        let (digest, size) = gz.finish()?;
        let blob = BlobRecord {
            digest: digest.to_string(),
            media_type: media_types::DOCKER_LAYER_GZIP.to_string(),
            size,
            diff_id: unpacked.diff_id.to_string(),
            diff_size: unpacked.tar_size,
        };
        Ok((tmp, unpacked, blob))
    }

    /// Record an unpacked layer: rename its temporary directory into place and record it (and
    /// its blob) in one transaction, under the lock. A layer recorded meanwhile by someone
    /// else wins; the temporary directory is then dropped.
    pub(crate) fn commit_layer(
        &self,
        tmp: tempfile::TempDir,
        chain_id: &str,
        parent: Option<&str>,
        unpacked: &Unpacked,
        blob: Option<BlobRecord>,
    ) -> Result<Layer, Error> {
        let _g = self.lock();
        let existing: Option<LayerRecord> = self.store.get(LAYERS, chain_id)?;
        let mut placed = None;
        let rec = match existing {
            Some(r) => r,
            None => {
                let dest = self.layer_dir(chain_id);
                if dest.exists() {
                    remove_tree(&dest)?;
                }
                fs::rename(tmp.path(), &dest)
                    .map_err(Error::io(format!("rename layer into {}", dest.display())))?;
                let r = LayerRecord {
                    chain_id: chain_id.to_string(),
                    diff_id: unpacked.diff_id.to_string(),
                    parent: parent.map(str::to_string),
                    size: unpacked.size,
                    created: go_time(Utc::now()),
                };
                placed = Some(r.clone());
                r
            }
        };
        let new_blob = match blob {
            Some(b) if self.store.get::<BlobRecord>(BLOBS, &b.digest)?.is_none() => Some(b),
            _ => None,
        };
        if placed.is_some() || new_blob.is_some() {
            let res = self.store.write(|tx| {
                if let Some(r) = &placed {
                    tx.put(LAYERS, chain_id, r)?;
                }
                if let Some(b) = &new_blob {
                    tx.put(BLOBS, &b.digest, b)?;
                }
                Ok::<(), Error>(())
            });
            if let Err(e) = res {
                if placed.is_some() {
                    let _ = self.remove_layer_dir(chain_id);
                }
                return Err(e);
            }
        }
        drop(tmp);
        Ok(self.layer_of(&rec))
    }

    fn layer_of(&self, r: &LayerRecord) -> Layer {
        Layer {
            chain_id: r.chain_id.clone(),
            diff_id: r.diff_id.clone(),
            size: r.size,
            dir: self.layer_dir(&r.chain_id).join("diff"),
        }
    }

    /// The layer with this chain id, if present.
    pub fn layer(&self, chain_id: &str) -> Result<Option<Layer>, Error> {
        let r: Option<LayerRecord> = self.store.get(LAYERS, chain_id)?;
        Ok(r.map(|r| self.layer_of(&r)))
    }

    /// Is the image with this full id (`sha256:<hex>`) present (and not removed)? One record
    /// read, without loading the whole store: for the builder's cache hits.
    pub fn contains(&self, id: &str) -> bool {
        matches!(self.store.get::<ImageRecord>(IMAGES, id), Ok(Some(r)) if !r.removed)
    }

    /// The image a reference (a tag, `latest` by default, or a digest) points at, from one
    /// record read without loading the whole store: the builder's hot path. `None` when no
    /// present image has it (callers fall back to [`ImageStore::get`] for ids and prefixes).
    pub fn reference_target(&self, r: &Reference) -> Option<String> {
        let key = lookup_key(r).to_string();
        let id: String = self.store.get(IMAGE_REFS, &key).ok()??;
        self.contains(&id).then_some(id)
    }

    /// The exact config bytes of the present image with this full id (one record read).
    pub fn raw_config_of(&self, id: &str) -> Option<String> {
        match self.store.get::<ImageRecord>(IMAGES, id) {
            Ok(Some(r)) if !r.removed => Some(r.config),
            _ => None,
        }
    }

    /// Is this layer (chain id) present?
    pub fn has_layer(&self, chain_id: &str) -> bool {
        matches!(self.store.get::<LayerRecord>(LAYERS, chain_id), Ok(Some(_)))
    }

    /// The diff id a blob digest is known to unpack to (earlier pull/push/create).
    pub fn diff_id_of_blob(&self, d: &Digest) -> Option<String> {
        let r: Option<BlobRecord> = self.store.get(BLOBS, &d.to_string()).ok()?;
        r.map(|r| r.diff_id)
    }

    /// The compressed blob kept for a layer (by diff id), when the content store has it.
    pub fn blob_of_layer(&self, diff_id: &str) -> Option<LayerBlob> {
        self.blob_record_of_layer(diff_id)
            .and_then(|r| r.layer_blob())
    }

    pub(crate) fn blob_record_of_layer(&self, diff_id: &str) -> Option<BlobRecord> {
        let all = self.store.list::<BlobRecord>(BLOBS).ok()?;
        all.into_iter().map(|(_, r)| r).find(|r| {
            r.diff_id == diff_id && Digest::parse(&r.digest).is_ok_and(|d| self.content.exists(&d))
        })
    }

    /// The digest and length of the uncompressed stream of a stored blob.
    fn hash_blob(&self, d: &Digest) -> Result<(Digest, u64), Error> {
        let f = self.content.open_blob(d)?;
        let (_, inner) = decompress(io::BufReader::with_capacity(256 * 1024, f))?;
        let mut h = HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
            tee: None,
        };
        io::copy(&mut h, &mut io::sink())
            .map_err(|e| Error::Unpack(crate::UnpackError::Archive(e)))?;
        Ok((Digest::from_sha256(h.hasher.finalize().into()), h.count))
    }

    /// Unpack the blob (already in the content store; gzip/zstd/plain detected) as the layer
    /// whose chain id is `chain_id` (computed by the caller from the config's diff ids), and
    /// check that the tar's digest is `diff_id` (mismatch -> [`Error::DigestMismatch`],
    /// nothing kept, the blob deleted unless it is known as another layer's). Idempotent: a
    /// layer already present is returned as is. Records blob digest <-> diff id. Safe to call
    /// for several layers of one image at once (different chain ids): each unpacks into its
    /// own temporary directory; only the final record takes the store's lock. The parent
    /// need not be present yet.
    pub fn apply_blob(
        &self,
        chain_id: &str,
        parent: Option<&str>,
        diff_id: &str,
        blob: &LayerBlob,
    ) -> Result<Layer, Error> {
        let want = Digest::parse(diff_id)
            .map_err(|e| Error::InvalidLayer(format!("diff id {diff_id:?}: {e}")))?;
        if chain_id_of(parent, diff_id) != chain_id {
            return Err(Error::InvalidLayer(format!(
                "chain id {chain_id} is not that of diff id {diff_id} on parent {}",
                parent.unwrap_or("(none)")
            )));
        }
        let key = blob.digest.to_string();
        if let Some(l) = self.layer(chain_id)? {
            // Learn this blob for the layer if none is known (verified: a wrong record would
            // make push and save produce content that does not match the config).
            let known = self.store.get::<BlobRecord>(BLOBS, &key)?.is_some();
            if !known && self.content.exists(&blob.digest) && self.blob_of_layer(diff_id).is_none()
            {
                let (got, diff_size) = self.hash_blob(&blob.digest)?;
                if got == want {
                    let size = self.content.size(&blob.digest).unwrap_or(blob.size);
                    let rec = BlobRecord {
                        digest: key.clone(),
                        media_type: blob.media_type.clone(),
                        size,
                        diff_id: diff_id.to_string(),
                        diff_size,
                    };
                    let _g = self.lock();
                    self.store.write(|tx| tx.put(BLOBS, &key, &rec))?;
                }
            }
            return Ok(l);
        }
        let f = self.content.open_blob(&blob.digest)?;
        let size = f
            .metadata()
            .map_err(Error::io(format!("stat blob {key}")))?
            .len();
        let (tmp, diff) = self.new_layer_tmp()?;
        let unpacked = unpack(
            io::BufReader::with_capacity(256 * 1024, f),
            &diff,
            self.unpack,
        )?;
        if unpacked.diff_id != want {
            drop(tmp);
            if self.store.get::<BlobRecord>(BLOBS, &key)?.is_none() {
                let _ = self.content.delete(&blob.digest);
            }
            return Err(Error::DigestMismatch {
                expected: diff_id.to_string(),
                actual: unpacked.diff_id.to_string(),
            });
        }
        let rec = BlobRecord {
            digest: key,
            media_type: blob.media_type.clone(),
            size,
            diff_id: diff_id.to_string(),
            diff_size: unpacked.tar_size,
        };
        self.commit_layer(tmp, chain_id, parent, &unpacked, Some(rec))
    }

    /// A new layer from an overlay upper directory (whiteouts as 0:0 char devices, opaque
    /// dirs by the `trusted.overlay.opaque` xattr) on top of `parent`: the tar (with `.wh.`
    /// entries, deterministic order) is gzipped into the content store and unpacked as the
    /// layer. For `commit` and the builder. An empty change set still makes a layer (Docker).
    pub fn create_layer_from_dir(
        &self,
        parent: Option<&str>,
        dir: &Path,
    ) -> Result<(Layer, LayerBlob), Error> {
        self.create_layer_from_dir_skipping(parent, dir, &[])
    }

    /// [`ImageStore::create_layer_from_dir`], leaving out the paths of `skip` (relative to
    /// `dir`) where they are empty files or directories: the mount points a runtime creates
    /// (`etc/hosts`, `etc/resolv.conf`, ...), which `commit` must not record.
    pub fn create_layer_from_dir_skipping(
        &self,
        parent: Option<&str>,
        dir: &Path,
        skip: &[&str],
    ) -> Result<(Layer, LayerBlob), Error> {
        if let Some(p) = parent {
            if !self.has_layer(p) {
                return Err(Error::LayerNotFound(p.to_string()));
            }
        }
        let (r, w) = io::pipe().map_err(Error::io("create a pipe"))?;
        let src = dir.to_path_buf();
        let skip: Vec<PathBuf> = skip.iter().map(PathBuf::from).collect();
        let producer = std::thread::Builder::new()
            .name("berth-diff".into())
            .spawn(move || crate::diff::write_layer_tar(&src, &skip, w))
            .map_err(Error::io("start a thread"))?;
        let res = self.unpack_new_layer(io::BufReader::with_capacity(256 * 1024, r));
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(Error::Corrupt("the layer tar thread panicked".into())));
        let (tmp, unpacked, blob) = match (produced, res) {
            (Ok(()), Ok(v)) => v,
            // The reader stopped first: its error is the cause of the broken pipe.
            (Err(Error::Io { source, .. }), Err(e))
                if source.kind() == io::ErrorKind::BrokenPipe =>
            {
                return Err(e)
            }
            (Err(e), _) | (Ok(()), Err(e)) => return Err(e),
        };
        let chain = chain_id_of(parent, &blob.diff_id);
        let lb = blob
            .layer_blob()
            .ok_or_else(|| Error::Corrupt(format!("blob digest {}", blob.digest)))?;
        let layer = self.commit_layer(tmp, &chain, parent, &unpacked, Some(blob))?;
        Ok((layer, lb))
    }

    /// Register an image from its exact config bytes; its layers (the config's diff ids) must
    /// be present ([`Error::LayerNotFound`] otherwise). Tags (a name alone gets `latest`; a
    /// tag held by another image moves here) and digest references are added. Registering
    /// an image that exists keeps its references (and revives one removed while in use).
    pub fn create_image(
        &self,
        raw_config: &[u8],
        tags: &[Reference],
        digests: &[Reference],
    ) -> Result<Image, Error> {
        let pending = PendingImage::parse(raw_config)?;
        for t in tags {
            check_tag(t)?;
        }
        for d in digests {
            if d.digest().is_none() {
                return Err(Error::NotDigested(d.familiar_string()));
            }
        }
        let _g = self.lock();
        let mut model = self.load()?;
        let id = pending.id.clone();
        model.register(pending)?;
        let now = go_time(Utc::now());
        for t in tags {
            model.tag(&id, &t.clone().with_default_tag(), &now);
        }
        for d in digests {
            model.tag(&id, &lookup_key(d), &now);
        }
        model.commit(&self.store)?;
        model.view(&id)
    }

    /// Register several parsed images and tag them, in one transaction (`docker load`).
    /// Returns, per image, the tags that moved from another image (tag, old id).
    pub(crate) fn register_loaded(
        &self,
        images: Vec<(PendingImage, Vec<Reference>)>,
    ) -> Result<Vec<MovedTags>, Error> {
        let _g = self.lock();
        let mut model = self.load()?;
        let now = go_time(Utc::now());
        let mut out = Vec::new();
        for (p, tags) in images {
            let id = p.id.clone();
            model.register(p)?;
            let mut moved = Vec::new();
            for t in tags {
                let t = t.with_default_tag();
                let old = model
                    .refs
                    .get(&t.to_string())
                    .filter(|old| **old != id)
                    .cloned();
                model.tag(&id, &t, &now);
                moved.push((t, old));
            }
            out.push(moved);
        }
        model.commit(&self.store)?;
        Ok(out)
    }

    /// Add a digest reference (`docker.io/library/busybox@sha256:...`) to an image (any name
    /// [`ImageStore::get`] accepts).
    pub fn add_repo_digest(&self, id: &str, r: &Reference) -> Result<(), Error> {
        if r.digest().is_none() {
            return Err(Error::NotDigested(r.familiar_string()));
        }
        let _g = self.lock();
        let mut model = self.load()?;
        let id = if model.images.contains_key(id) {
            id.to_string()
        } else {
            model.resolve(id)?
        };
        model.tag(&id, &lookup_key(r), &go_time(Utc::now()));
        model.commit(&self.store)
    }

    /// The image a user-typed name designates (Docker's `GetImage`): a full id (with or
    /// without `sha256:`), a reference (normalised, `latest` by default), or a unique prefix
    /// of an id. Otherwise [`Error::NotFound`] with Docker's message.
    pub fn get(&self, name: &str) -> Result<Image, Error> {
        let model = self.snapshot()?;
        let id = model.resolve(name)?;
        model.view(&id)
    }

    /// The id of the image `name` designates (see [`ImageStore::get`]).
    pub fn resolve(&self, name: &str) -> Result<String, Error> {
        self.snapshot()?.resolve(name)
    }

    /// Number of images (removed-but-kept ones excluded).
    pub fn count(&self) -> Result<usize, Error> {
        Ok(self
            .snapshot()?
            .images
            .values()
            .filter(|r| !r.removed)
            .count())
    }

    /// Images matching `filters`, newest first, as `docker images` lists them. With a
    /// `reference` filter, an image's `repo_tags`/`repo_digests` hold only the matching ones.
    pub fn list(&self, filters: &ListFilters) -> Result<Vec<Image>, Error> {
        let model = self.snapshot()?;
        let dangling_only = filters.dangling == Some(true);
        let mut before: Option<DateTime<Utc>> = None;
        for name in &filters.before {
            let img = model.view(&model.resolve(name)?)?;
            if let Some(c) = img.created {
                if before.is_none_or(|b| c < b) {
                    before = Some(c);
                }
            }
        }
        for t in &filters.until {
            if before.is_none_or(|b| *t < b) {
                before = Some(*t);
            }
        }
        let mut since: Option<DateTime<Utc>> = None;
        for name in &filters.since {
            let img = model.view(&model.resolve(name)?)?;
            if let Some(c) = img.created {
                if since.is_none_or(|s| c > s) {
                    since = Some(c);
                }
            }
        }
        let mut out = Vec::new();
        for rec in model.images.values().filter(|r| !r.removed) {
            let mut img = model.view(&rec.id)?;
            if before.is_some_and(|b| img.created.is_none_or(|c| c >= b)) {
                continue;
            }
            if since.is_some_and(|s| img.created.is_none_or(|c| c <= s)) {
                continue;
            }
            if !filters.labels.is_empty()
                && (img.config.config.is_none() || !match_labels(&filters.labels, &img.labels()))
            {
                continue;
            }
            if !filters.references.is_empty() {
                let keep = |r: &Reference| -> Result<bool, Error> {
                    for p in &filters.references {
                        if berth_reference::familiar_match(p, r)? {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                };
                let mut tags = Vec::new();
                for r in img.repo_tags.drain(..) {
                    if keep(&r)? {
                        tags.push(r);
                    }
                }
                let mut digests = Vec::new();
                for r in img.repo_digests.drain(..) {
                    if keep(&r)? {
                        digests.push(r);
                    }
                }
                img.repo_tags = tags;
                img.repo_digests = digests;
            }
            if img.repo_tags.is_empty() && img.repo_digests.is_empty() {
                if filters.dangling == Some(false) || !filters.references.is_empty() {
                    continue;
                }
            } else if dangling_only && !img.repo_tags.is_empty() {
                continue;
            }
            out.push(img);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The history of an image, newest first (`docker history`).
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>, Error> {
        let model = self.snapshot()?;
        let img = model.view(&model.resolve(name)?)?;
        let mut out = Vec::new();
        let mut layer = 0;
        for h in &img.config.history {
            let mut size = 0;
            if !h.empty_layer {
                let l = img.layers.get(layer).ok_or_else(|| {
                    Error::Corrupt(format!(
                        "image {}: too many non-empty layers in History section",
                        img.id
                    ))
                })?;
                size = l.size;
                layer += 1;
            }
            out.push(HistoryEntry {
                id: "<missing>".into(),
                created: h
                    .created
                    .as_deref()
                    .and_then(parse_time)
                    .map(|t| t.timestamp())
                    .unwrap_or(0),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        out.reverse();
        if let Some(first) = out.first_mut() {
            first.id = img.id.clone();
            first.tags = img.familiar_tags();
        }
        Ok(out)
    }

    /// Tag the image `name` designates with `target` (a name alone gets `latest`). A tag
    /// that pointed at another image moves (that image may become dangling).
    pub fn tag(&self, name: &str, target: &Reference) -> Result<Image, Error> {
        check_tag(target)?;
        let _g = self.lock();
        let mut model = self.load()?;
        let id = model.resolve(name)?;
        model.tag(
            &id,
            &target.clone().with_default_tag(),
            &go_time(Utc::now()),
        );
        model.commit(&self.store)?;
        model.view(&id)
    }

    /// Remove an image or one of its references, with Docker's rules (`docker rmi`):
    ///
    /// - by reference: the reference is removed; the image is deleted only if that was its
    ///   last one. Removing the last reference of an image a container uses needs `force`.
    /// - by id (or id prefix): an image with references in several repositories needs
    ///   `force` (its references are then all removed); an image used by a stopped container
    ///   needs `force`; one used by a running container cannot be deleted.
    ///
    /// `in_use(image id)` names a container using the image (preferably a running one); it
    /// runs under the store's lock and must not call back into the store.
    /// Layers no other image uses are deleted. An image deleted with force while a container
    /// still uses it is hidden but kept, with its layers, until [`ImageStore::gc`].
    pub fn remove<U: Into<ImageUser>>(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> Option<U>,
    ) -> Result<Vec<DeleteItem>, Error> {
        self.remove_with_parents(name, force, false, in_use, &|_: &str| None)
    }

    /// [`ImageStore::remove`] for images that have parents (the classic builder's steps,
    /// commits): `parent_of(image id)` names the image an image was made from, as the caller
    /// records it (the store itself keeps no such relation). It runs under the store's lock
    /// and must not call back into the store.
    ///
    /// As dockerd: an image with children (images whose parent it is) cannot be deleted by
    /// id (`image has dependent child images`, even with force); removing its last reference
    /// only untags it. With `prune`, after the image is deleted its parent chain is deleted
    /// upwards while each parent is untagged, has no other child and no container uses it
    /// (`in_use`); each shows as [`DeleteItem::Deleted`], with the layers only it held.
    pub fn remove_with_parents<U: Into<ImageUser>>(
        &self,
        name: &str,
        force: bool,
        prune: bool,
        in_use: &dyn Fn(&str) -> Option<U>,
        parent_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<DeleteItem>, Error> {
        let users = |id: &str| in_use(id).map(Into::into);
        let _g = self.lock();
        let mut model = self.load()?;
        model.sweep_removed(&users);
        let id = model.resolve(name)?;
        let children = model.has_children(&id, parent_of);
        let mut items = model.image_delete(name, force, children, &users)?;
        if prune && items.contains(&DeleteItem::Deleted(id.clone())) {
            model.prune_parents(&id, &users, parent_of, &mut items);
        }
        self.commit_and_clean(&mut model)?;
        Ok(items)
    }

    /// Delete unused images (`docker image prune`): dangling ones, or with
    /// `dangling=false` every image no container uses, subject to `until` and label filters.
    pub fn prune<U: Into<ImageUser>>(
        &self,
        filters: &PruneFilters,
        in_use: &dyn Fn(&str) -> Option<U>,
    ) -> Result<PruneReport, Error> {
        let users = |id: &str| in_use(id).map(Into::into);
        let _g = self.lock();
        let mut model = self.load()?;
        model.sweep_removed(&users);
        let mut candidates: Vec<&ImageRecord> =
            model.images.values().filter(|r| !r.removed).collect();
        candidates.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        let mut chosen = Vec::new();
        for rec in candidates {
            let created = parse_time(&rec.created);
            if let Some(until) = filters.until {
                if created.is_none_or(|c| c > until) {
                    continue;
                }
            }
            let cfg: ImageConfig = serde_json::from_str(&rec.config).unwrap_or_default();
            if cfg.config.is_some() && !filters.labels_match(&cfg.labels()) {
                continue;
            }
            chosen.push(rec.id.clone());
        }
        let sizes: HashMap<String, i64> = model
            .layers
            .iter()
            .map(|(k, l)| (k.clone(), l.size))
            .collect();
        let mut report = PruneReport::default();
        for id in chosen {
            let refs = model.refs_of(&id);
            if refs.is_empty() {
                let saved = model.clone();
                match model.image_delete(hex_of(&id), false, false, &users) {
                    Ok(items) => report.items.extend(items),
                    Err(_) => model = saved,
                }
                continue;
            }
            let has_tag = refs.iter().any(|r| r.tag().is_some());
            if filters.dangling_only && has_tag {
                continue;
            }
            for r in refs {
                let saved = model.clone();
                match model.image_delete(&r.to_string(), false, false, &users) {
                    Ok(items) => report.items.extend(items),
                    Err(_) => model = saved,
                }
            }
        }
        report.space_reclaimed = model
            .deleted_layers
            .iter()
            .filter_map(|l| sizes.get(l))
            .sum();
        self.commit_and_clean(&mut model)?;
        Ok(report)
    }

    /// Delete images that were removed while a container used them, now that none does,
    /// and their unused layers. Returns the deleted ids (images, then layers).
    pub fn gc<U: Into<ImageUser>>(
        &self,
        in_use: &dyn Fn(&str) -> Option<U>,
    ) -> Result<Vec<String>, Error> {
        let users = |id: &str| in_use(id).map(Into::into);
        let _g = self.lock();
        let mut model = self.load()?;
        let items = model.sweep_removed(&users);
        self.commit_and_clean(&mut model)?;
        Ok(items
            .into_iter()
            .filter_map(|i| match i {
                DeleteItem::Deleted(id) => Some(id),
                DeleteItem::Untagged(_) => None,
            })
            .collect())
    }

    /// Commit a removal: records first, then the directories of deleted layers, then the
    /// content blobs nothing references any more (see [`ImageStore::collect_content`]).
    fn commit_and_clean(&self, model: &mut Model) -> Result<(), Error> {
        let live: HashSet<&str> = model.layers.values().map(|l| l.diff_id.as_str()).collect();
        let dead: Vec<String> = model
            .blobs
            .values()
            .filter(|b| !live.contains(b.diff_id.as_str()))
            .map(|b| b.digest.clone())
            .collect();
        for d in &dead {
            model.blobs.remove(d);
            model.deleted_blobs.insert(d.clone());
        }
        // The configs of deleted images and the manifests of removed digest references go
        // too (unless something else still references them).
        let mut dead = dead;
        dead.extend(model.deleted_images.iter().cloned());
        dead.extend(
            model
                .deleted_refs
                .iter()
                .filter_map(|r| r.rsplit_once('@').map(|(_, d)| d.to_string())),
        );
        model.commit(&self.store)?;
        for l in &model.deleted_layers {
            // The records are gone; a directory left by a failure here is swept at open.
            let _ = self.remove_layer_dir(l);
        }
        self.collect_content(model, &dead);
        Ok(())
    }

    /// Delete the content blobs nothing references: those of what was just deleted (`dead`:
    /// layer blobs, configs, manifests), and any other unreferenced blob older than [`BLOB_GRACE`] (a pull stores a
    /// blob before it records it). Referenced are: the blobs of present layers, image
    /// configs (by image id) and the manifests of images' digest references. Best effort:
    /// a blob left here is collected next time.
    fn collect_content(&self, model: &Model, dead: &[String]) {
        let mut keep: HashSet<&str> = model.blobs.keys().map(String::as_str).collect();
        for rec in model.images.values() {
            keep.insert(rec.id.as_str());
            for r in &rec.repo_digests {
                if let Some((_, d)) = r.rsplit_once('@') {
                    keep.insert(d);
                }
            }
        }
        let Ok(all) = self.content.list() else {
            return;
        };
        let now = SystemTime::now();
        for (d, mtime) in all {
            let k = d.to_string();
            if keep.contains(k.as_str()) {
                continue;
            }
            let old = now.duration_since(mtime).is_ok_and(|age| age >= BLOB_GRACE);
            if old || dead.contains(&k) {
                let _ = self.content.delete(&d);
            }
        }
    }

    /// Overlay lower directories of an image, top layer first. `id` is an image id (images
    /// removed but kept for a container included) or any name [`ImageStore::get`] accepts.
    pub fn lower_dirs(&self, id: &str) -> Result<Vec<PathBuf>, Error> {
        let model = self.snapshot()?;
        let id = if model.images.contains_key(id) {
            id.to_string()
        } else {
            model.resolve(id)?
        };
        Ok(model.view_any(&id)?.lower_dirs())
    }

    /// Layer and sharing sizes for `system df`.
    pub fn disk_usage(&self) -> Result<DiskUsage, Error> {
        let model = self.snapshot()?;
        let mut refs: HashMap<&str, usize> = HashMap::new();
        for rec in model.images.values() {
            for l in &rec.layers {
                *refs.entry(l).or_default() += 1;
            }
        }
        let size = |l: &str| model.layers.get(l).map(|r| r.size).unwrap_or(0);
        let shared_size = model
            .images
            .values()
            .filter(|r| !r.removed)
            .map(|r| {
                let shared = r
                    .layers
                    .iter()
                    .filter(|l| refs.get(l.as_str()).copied().unwrap_or(0) > 1)
                    .map(|l| size(l))
                    .sum();
                (r.id.clone(), shared)
            })
            .collect();
        Ok(DiskUsage {
            layers_size: model.layers.values().map(|l| l.size).sum(),
            shared_size,
        })
    }
}

fn remove_tree(p: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("remove {}", p.display()))(e)),
    }
}

const CONFLICT_RUNNING: u8 = 1;
const CONFLICT_ACTIVE_REFERENCE: u8 = 2;
const CONFLICT_STOPPED: u8 = 4;
const CONFLICT_HARD: u8 = CONFLICT_RUNNING;
const CONFLICT_SOFT: u8 = CONFLICT_ACTIVE_REFERENCE | CONFLICT_STOPPED;

struct Conflict {
    hard: bool,
    used: bool,
    reason: String,
}

/// All records in memory, plus the changes an operation made to them; committed in one
/// transaction.
#[derive(Clone)]
struct Model {
    layers_dir: PathBuf,
    images: BTreeMap<String, ImageRecord>,
    refs: BTreeMap<String, String>,
    layers: BTreeMap<String, LayerRecord>,
    dirty_images: BTreeSet<String>,
    deleted_images: BTreeSet<String>,
    put_refs: BTreeMap<String, String>,
    deleted_refs: BTreeSet<String>,
    put_layers: BTreeMap<String, LayerRecord>,
    deleted_layers: Vec<String>,
    blobs: BTreeMap<String, BlobRecord>,
    put_blobs: BTreeMap<String, BlobRecord>,
    deleted_blobs: BTreeSet<String>,
}

impl Model {
    fn load(store: &Store, layers_dir: &Path) -> Result<Model, Error> {
        Ok(Model {
            layers_dir: layers_dir.to_path_buf(),
            images: store.list::<ImageRecord>(IMAGES)?.into_iter().collect(),
            refs: store.list::<String>(IMAGE_REFS)?.into_iter().collect(),
            layers: store.list::<LayerRecord>(LAYERS)?.into_iter().collect(),
            dirty_images: BTreeSet::new(),
            deleted_images: BTreeSet::new(),
            put_refs: BTreeMap::new(),
            deleted_refs: BTreeSet::new(),
            put_layers: BTreeMap::new(),
            deleted_layers: Vec::new(),
            blobs: store.list::<BlobRecord>(BLOBS)?.into_iter().collect(),
            put_blobs: BTreeMap::new(),
            deleted_blobs: BTreeSet::new(),
        })
    }

    fn commit(&self, store: &Store) -> Result<(), Error> {
        store.write(|tx| {
            for id in &self.deleted_images {
                tx.delete(IMAGES, id)?;
            }
            for id in &self.dirty_images {
                if let Some(r) = self.images.get(id) {
                    tx.put(IMAGES, id, r)?;
                }
            }
            for k in &self.deleted_refs {
                tx.delete(IMAGE_REFS, k)?;
            }
            for (k, id) in &self.put_refs {
                tx.put(IMAGE_REFS, k, id)?;
            }
            for (k, l) in &self.put_layers {
                tx.put(LAYERS, k, l)?;
            }
            for k in &self.deleted_layers {
                tx.delete(LAYERS, k)?;
            }
            for (k, b) in &self.put_blobs {
                tx.put(BLOBS, k, b)?;
            }
            for k in &self.deleted_blobs {
                tx.delete(BLOBS, k)?;
            }
            Ok::<(), Error>(())
        })
    }

    fn view_any(&self, id: &str) -> Result<Image, Error> {
        let rec = self
            .images
            .get(id)
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        let config: ImageConfig = serde_json::from_str(&rec.config)
            .map_err(|e| Error::Corrupt(format!("image {id}: config: {e}")))?;
        let mut layers = Vec::with_capacity(rec.layers.len());
        for (i, chain) in rec.layers.iter().enumerate() {
            let l = self
                .layers
                .get(chain)
                .ok_or_else(|| Error::Corrupt(format!("image {id}: missing layer {chain}")))?;
            layers.push(Layer {
                chain_id: chain.clone(),
                diff_id: config
                    .rootfs
                    .diff_ids
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| l.diff_id.clone()),
                size: l.size,
                dir: self.layers_dir.join(hex_of(chain)).join("diff"),
            });
        }
        let parse_refs = |v: &[String]| {
            v.iter()
                .filter_map(|s| Reference::parse(s).ok())
                .collect::<Vec<_>>()
        };
        Ok(Image {
            id: rec.id.clone(),
            created: config.created_at(),
            config,
            raw_config: rec.config.clone(),
            repo_tags: parse_refs(&rec.repo_tags),
            repo_digests: parse_refs(&rec.repo_digests),
            size: rec.size,
            layers,
            last_tag_time: rec.last_tag_time.as_deref().and_then(parse_time),
        })
    }

    fn view(&self, id: &str) -> Result<Image, Error> {
        match self.images.get(id) {
            Some(r) if !r.removed => self.view_any(id),
            _ => Err(Error::NotFound(id.to_string())),
        }
    }

    fn visible(&self, id: &str) -> bool {
        self.images.get(id).is_some_and(|r| !r.removed)
    }

    fn resolve(&self, name: &str) -> Result<String, Error> {
        match parse_any(name)? {
            AnyReference::Id(d) => {
                let id = d.to_string();
                if self.visible(&id) {
                    Ok(id)
                } else {
                    Err(Error::NotFound(id))
                }
            }
            AnyReference::Named(r) => {
                let key = lookup_key(&r);
                if let Some(id) = self.refs.get(&key.to_string()) {
                    if self.visible(id) {
                        return Ok(id.clone());
                    }
                }
                if let Some(id) = self.search_prefix(name) {
                    return Ok(id);
                }
                Err(Error::NotFound(r.with_default_tag().familiar_string()))
            }
        }
    }

    /// The one visible image whose id starts with `term` (with or without `sha256:`).
    fn search_prefix(&self, term: &str) -> Option<String> {
        if !looks_like_id_prefix(term) {
            return None;
        }
        let hex = term.strip_prefix("sha256:").unwrap_or(term);
        let mut found = self
            .images
            .values()
            .filter(|r| !r.removed && hex_of(&r.id).starts_with(hex));
        let first = found.next()?;
        match found.next() {
            Some(_) => None,
            None => Some(first.id.clone()),
        }
    }

    /// The references of an image: tags, then digests.
    fn refs_of(&self, id: &str) -> Vec<Reference> {
        let Some(rec) = self.images.get(id) else {
            return Vec::new();
        };
        rec.repo_tags
            .iter()
            .chain(&rec.repo_digests)
            .filter_map(|s| Reference::parse(s).ok())
            .collect()
    }

    fn put_layer(&mut self, l: LayerRecord) {
        self.put_layers.insert(l.chain_id.clone(), l.clone());
        self.layers.insert(l.chain_id.clone(), l);
    }

    /// Record an image whose layers are all present.
    fn register(&mut self, p: PendingImage) -> Result<(), Error> {
        let mut size = 0;
        for c in &p.chains {
            let l = self
                .layers
                .get(c)
                .ok_or_else(|| Error::LayerNotFound(c.clone()))?;
            size += l.size;
        }
        self.put_image(ImageRecord {
            id: p.id.clone(),
            config: p.raw,
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            created: p.config.created.clone().unwrap_or_default(),
            size,
            layers: p.chains,
            last_tag_time: None,
            removed: false,
        });
        Ok(())
    }

    fn put_blob(&mut self, b: BlobRecord) {
        self.deleted_blobs.remove(&b.digest);
        self.put_blobs.insert(b.digest.clone(), b.clone());
        self.blobs.insert(b.digest.clone(), b);
    }

    fn put_image(&mut self, mut rec: ImageRecord) {
        if let Some(old) = self.images.get(&rec.id) {
            // The same configuration imported again: keep its references.
            rec.repo_tags = old.repo_tags.clone();
            rec.repo_digests = old.repo_digests.clone();
            rec.last_tag_time = old.last_tag_time.clone();
        }
        self.dirty_images.insert(rec.id.clone());
        self.deleted_images.remove(&rec.id);
        self.images.insert(rec.id.clone(), rec);
    }

    fn tag(&mut self, id: &str, r: &Reference, now: &str) {
        let key = r.to_string();
        if self.refs.get(&key).is_some_and(|old| old != id) {
            self.untag(&key);
        }
        self.refs.insert(key.clone(), id.to_string());
        self.put_refs.insert(key.clone(), id.to_string());
        self.deleted_refs.remove(&key);
        if let Some(rec) = self.images.get_mut(id) {
            let list = if r.digest().is_some() {
                &mut rec.repo_digests
            } else {
                &mut rec.repo_tags
            };
            if !list.contains(&key) {
                list.push(key);
            }
            rec.last_tag_time = Some(now.to_string());
            self.dirty_images.insert(id.to_string());
        }
    }

    fn untag(&mut self, key: &str) {
        let Some(id) = self.refs.remove(key) else {
            return;
        };
        self.put_refs.remove(key);
        self.deleted_refs.insert(key.to_string());
        if let Some(rec) = self.images.get_mut(&id) {
            rec.repo_tags.retain(|t| t != key);
            rec.repo_digests.retain(|t| t != key);
            self.dirty_images.insert(id);
        }
    }

    /// Delete an image and its references; with `retain`, hide it but keep it and its
    /// layers. Layers no remaining image uses are deleted.
    fn delete_image(&mut self, id: &str, retain: bool, items: &mut Vec<DeleteItem>) {
        for r in self.refs_of(id) {
            self.untag(&r.to_string());
            items.push(DeleteItem::Untagged(r.familiar_string()));
        }
        if retain {
            if let Some(rec) = self.images.get_mut(id) {
                rec.removed = true;
                self.dirty_images.insert(id.to_string());
            }
            items.push(DeleteItem::Deleted(id.to_string()));
            return;
        }
        let Some(rec) = self.images.remove(id) else {
            return;
        };
        self.dirty_images.remove(id);
        self.deleted_images.insert(id.to_string());
        items.push(DeleteItem::Deleted(id.to_string()));
        let used: HashSet<&String> = self.images.values().flat_map(|r| r.layers.iter()).collect();
        let mut doomed = Vec::new();
        for chain in rec.layers.iter().rev() {
            if !used.contains(chain) && self.layers.contains_key(chain) {
                doomed.push(chain.clone());
            }
        }
        for chain in doomed {
            self.layers.remove(&chain);
            self.put_layers.remove(&chain);
            items.push(DeleteItem::Deleted(chain.clone()));
            self.deleted_layers.push(chain);
        }
    }

    /// Delete the removed-but-kept images no container uses any more.
    fn sweep_removed(&mut self, users: &dyn Fn(&str) -> Option<ImageUser>) -> Vec<DeleteItem> {
        let ids: Vec<String> = self
            .images
            .values()
            .filter(|r| r.removed)
            .map(|r| r.id.clone())
            .collect();
        let mut items = Vec::new();
        for id in ids {
            if users(&id).is_none() {
                self.delete_image(&id, false, &mut items);
            }
        }
        items
    }

    fn conflict(
        &self,
        id: &str,
        mask: u8,
        users: &dyn Fn(&str) -> Option<ImageUser>,
    ) -> Option<Conflict> {
        let user = users(id);
        if mask & CONFLICT_RUNNING != 0 {
            if let Some(u) = user.as_ref().filter(|u| u.running) {
                return Some(Conflict {
                    hard: true,
                    used: true,
                    reason: format!(
                        "image is being used by running container {}",
                        short_id(&u.container_id)
                    ),
                });
            }
        }
        if mask & CONFLICT_ACTIVE_REFERENCE != 0 && !self.refs_of(id).is_empty() {
            return Some(Conflict {
                hard: false,
                used: false,
                reason: "image is referenced in multiple repositories".into(),
            });
        }
        if mask & CONFLICT_STOPPED != 0 {
            if let Some(u) = user.as_ref().filter(|u| !u.running) {
                return Some(Conflict {
                    hard: false,
                    used: true,
                    reason: format!(
                        "image is being used by stopped container {}",
                        short_id(&u.container_id)
                    ),
                });
            }
        }
        None
    }

    fn conflict_error(id: &str, c: Conflict) -> Error {
        Error::DeleteConflict {
            image: short_id(id).to_string(),
            hard: c.hard,
            reason: c.reason,
        }
    }

    /// Whether an image (other than `id`, not removed) has `id` as its parent.
    fn has_children(&self, id: &str, parent_of: &dyn Fn(&str) -> Option<String>) -> bool {
        self.images
            .values()
            .any(|r| !r.removed && r.id != id && parent_of(&r.id).as_deref() == Some(id))
    }

    /// moby's parent pruning after `id` was deleted: its parent, then that one's, and so on,
    /// while the parent exists, is untagged, has no child left and no container uses it.
    fn prune_parents(
        &mut self,
        id: &str,
        users: &dyn Fn(&str) -> Option<ImageUser>,
        parent_of: &dyn Fn(&str) -> Option<String>,
        items: &mut Vec<DeleteItem>,
    ) {
        let mut cur = id.to_string();
        // Bounded, in case the recorded relation loops.
        for _ in 0..self.images.len() {
            let Some(p) = parent_of(&cur) else { return };
            if p == cur || !self.images.get(&p).is_some_and(|r| !r.removed) {
                return;
            }
            if !self.refs_of(&p).is_empty()
                || self.has_children(&p, parent_of)
                || users(&p).is_some()
            {
                return;
            }
            self.delete_image(&p, false, items);
            cur = p;
        }
    }

    /// moby's `ImageDelete`, against the in-memory records. `children`: whether other images
    /// have this one as their parent (it is then not deleted: an error by id, untagged only
    /// by reference).
    fn image_delete(
        &mut self,
        name: &str,
        force: bool,
        children: bool,
        users: &dyn Fn(&str) -> Option<ImageUser>,
    ) -> Result<Vec<DeleteItem>, Error> {
        let id = self.resolve(name)?;
        let mut items = Vec::new();
        let mut repo_refs = self.refs_of(&id);
        let quiet;
        if is_id_prefix(&id, name) && children {
            // dockerd checks dependent children first, whatever force says.
            return Err(Error::DeleteConflict {
                image: short_id(&id).to_string(),
                hard: true,
                reason: "image has dependent child images".to_string(),
            });
        }
        if !is_id_prefix(&id, name) {
            if !force && is_single_reference(&repo_refs) {
                if let Some(u) = users(&id) {
                    return Err(Error::ReferenceInUse {
                        reference: name.to_string(),
                        container: short_id(&u.container_id).to_string(),
                        image: short_id(&id).to_string(),
                    });
                }
            }
            let given = Reference::parse_normalized(name)?;
            let removed = lookup_key(&given);
            self.untag(&removed.to_string());
            items.push(DeleteItem::Untagged(
                given.with_default_tag().familiar_string(),
            ));
            repo_refs = self.refs_of(&id);
            if removed.digest().is_none() {
                let other_tag = repo_refs
                    .iter()
                    .any(|r| r.digest().is_none() && r.name() == removed.name());
                if !other_tag {
                    let mut remaining = Vec::new();
                    for r in repo_refs {
                        if r.digest().is_some() && r.name() == removed.name() {
                            self.untag(&r.to_string());
                            items.push(DeleteItem::Untagged(r.familiar_string()));
                        } else {
                            remaining.push(r);
                        }
                    }
                    repo_refs = remaining;
                }
            }
            if !repo_refs.is_empty() || children {
                // An untagged image with children is not dangling: it stays (moby's quiet
                // conflict).
                return Ok(items);
            }
            quiet = true;
        } else {
            if is_single_reference(&repo_refs) {
                let mut mask = CONFLICT_HARD;
                if !force {
                    mask |= CONFLICT_SOFT & !CONFLICT_ACTIVE_REFERENCE;
                }
                if let Some(c) = self.conflict(&id, mask, users) {
                    return Err(Self::conflict_error(&id, c));
                }
                for r in repo_refs {
                    self.untag(&r.to_string());
                    items.push(DeleteItem::Untagged(r.familiar_string()));
                }
            }
            quiet = false;
        }

        let mut mask = CONFLICT_HARD;
        if !force {
            mask |= CONFLICT_SOFT;
        }
        if let Some(c) = self.conflict(&id, mask, users) {
            if quiet && (!self.refs_of(&id).is_empty() || c.used) {
                return Ok(items);
            }
            return Err(Self::conflict_error(&id, c));
        }
        let retain = users(&id).is_some();
        self.delete_image(&id, retain, &mut items);
        Ok(items)
    }
}

/// Docker's rules for a new tag: no digest, and not named like a digest algorithm.
fn check_tag(t: &Reference) -> Result<(), Error> {
    if t.digest().is_some() {
        return Err(Error::DigestTag);
    }
    if t.familiar_name() == "sha256" {
        return Err(Error::AmbiguousTag);
    }
    Ok(())
}

/// An image configuration checked and ready to be registered.
#[derive(Debug, Clone)]
pub(crate) struct PendingImage {
    /// `sha256:` digest of `raw`.
    pub(crate) id: String,
    pub(crate) raw: String,
    pub(crate) config: ImageConfig,
    /// Chain ids of the config's diff ids, bottom first.
    pub(crate) chains: Vec<String>,
}

impl PendingImage {
    /// Parse and check a config: JSON, UTF-8, `rootfs.type` "layers", valid diff ids.
    pub(crate) fn parse(raw: &[u8]) -> Result<PendingImage, Error> {
        let text = std::str::from_utf8(raw)
            .map_err(|_| Error::InvalidConfig("the config is not UTF-8".into()))?;
        let config: ImageConfig =
            serde_json::from_str(text).map_err(|e| Error::InvalidConfig(e.to_string()))?;
        if config.rootfs.kind != "layers" {
            return Err(Error::InvalidConfig(format!(
                "unsupported rootfs type {:?}",
                config.rootfs.kind
            )));
        }
        for d in &config.rootfs.diff_ids {
            Digest::parse(d).map_err(|e| Error::InvalidConfig(format!("diff id {d:?}: {e}")))?;
        }
        Ok(PendingImage {
            id: Digest::sha256_of(raw).to_string(),
            raw: text.to_string(),
            chains: chain_ids(&config.rootfs.diff_ids),
            config,
        })
    }
}

/// The key a reference is stored and looked up under: a digest wins over a tag, and a name
/// alone means `latest`.
fn lookup_key(r: &Reference) -> Reference {
    match r.digest() {
        Some(d) => r.trim().with_digest(d.clone()),
        None => r.clone().with_default_tag(),
    }
}

/// moby's `isSingleReference`: one tag, or digests of a single repository plus at most one
/// tag of that same repository.
fn is_single_reference(refs: &[Reference]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut single: Option<&Reference> = None;
    let mut canonical: BTreeSet<String> = BTreeSet::new();
    for r in refs {
        if r.digest().is_some() {
            canonical.insert(r.name());
        } else if single.is_none() {
            single = Some(r);
        } else {
            return false;
        }
    }
    let single = single.unwrap_or(&refs[0]);
    canonical.len() == 1 && canonical.contains(&single.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(
            ids[1],
            Digest::sha256_of(format!("{a} {b}").as_bytes()).to_string()
        );
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn single_reference_table() {
        let d = format!("@sha256:{}", "c".repeat(64));
        let r = |s: &str| Reference::parse_normalized(s).unwrap();
        let cases: Vec<(Vec<Reference>, bool)> = vec![
            (vec![], false),
            (vec![r("a:1")], true),
            (vec![r("a:1"), r("a:2")], false),
            (vec![r("a:1"), r(&format!("a{d}"))], true),
            (vec![r("a:1"), r(&format!("b{d}"))], false),
            (vec![r(&format!("a{d}")), r(&format!("b{d}"))], false),
        ];
        for (refs, want) in cases {
            assert_eq!(is_single_reference(&refs), want, "{refs:?}");
        }
    }

    /// One step of a removal scenario: what is removed (`tag:NAME` or `id:LABEL`), with
    /// force and prune, and what follows.
    struct Step {
        remove: &'static str,
        force: bool,
        prune: bool,
        /// Labels of the images reported deleted, in order; or a substring of the error.
        want: Result<&'static [&'static str], &'static str>,
        /// Labels of the images left afterwards.
        remaining: &'static [&'static str],
    }

    /// An image of a scenario: label, parent label, tag; its layers are its parent's plus one
    /// of its own.
    type Spec = (&'static str, Option<&'static str>, Option<&'static str>);

    struct Case {
        name: &'static str,
        images: &'static [Spec],
        /// Labels of images a container uses.
        used: &'static [&'static str],
        steps: Vec<Step>,
    }

    const fn step(
        remove: &'static str,
        prune: bool,
        want: Result<&'static [&'static str], &'static str>,
        remaining: &'static [&'static str],
    ) -> Step {
        Step {
            remove,
            force: false,
            prune,
            want,
            remaining,
        }
    }

    #[test]
    fn remove_prunes_untagged_parents_like_dockerd() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED remove_prunes_untagged_parents_like_dockerd: needs root");
            return;
        }
        let chain: &[Spec] = &[
            ("a", None, None),
            ("b", Some("a"), None),
            ("c", Some("b"), Some("app")),
        ];
        let cases = [
            Case {
                name: "a tagged child whose parents are untagged: all deleted",
                images: chain,
                used: &[],
                steps: vec![step("tag:app", true, Ok(&["c", "b", "a"]), &[])],
            },
            Case {
                name: "noprune keeps the parents",
                images: chain,
                used: &[],
                steps: vec![step("tag:app", false, Ok(&["c"]), &["a", "b"])],
            },
            Case {
                name: "a parent with two children stays until the last child goes",
                images: &[
                    ("a", None, None),
                    ("b", Some("a"), Some("one")),
                    ("c", Some("a"), Some("two")),
                ],
                used: &[],
                steps: vec![
                    step("tag:one", true, Ok(&["b"]), &["a", "c"]),
                    step("tag:two", true, Ok(&["c", "a"]), &[]),
                ],
            },
            Case {
                name: "a tagged parent stays, and so does what is above it",
                images: &[
                    ("a", None, None),
                    ("b", Some("a"), Some("base")),
                    ("c", Some("b"), Some("app")),
                ],
                used: &[],
                steps: vec![step("tag:app", true, Ok(&["c"]), &["a", "b"])],
            },
            Case {
                name: "a parent a container uses stays, and so does what is above it",
                images: chain,
                used: &["b"],
                steps: vec![step("tag:app", true, Ok(&["c"]), &["a", "b"])],
            },
            Case {
                name: "an image with children: refused by id, untagged only by reference",
                images: &[("a", None, Some("base")), ("b", Some("a"), Some("app"))],
                used: &[],
                steps: vec![
                    step(
                        "id:a",
                        true,
                        Err("(cannot be forced) - image has dependent child images"),
                        &["a", "b"],
                    ),
                    Step {
                        remove: "id:a",
                        force: true,
                        prune: true,
                        want: Err("(cannot be forced) - image has dependent child images"),
                        remaining: &["a", "b"],
                    },
                    step("tag:base", true, Ok(&[]), &["a", "b"]),
                    step("tag:app", true, Ok(&["b", "a"]), &[]),
                ],
            },
            Case {
                name: "deleting the child by id prunes too",
                images: chain,
                used: &[],
                steps: vec![Step {
                    remove: "id:c",
                    force: true,
                    prune: true,
                    want: Ok(&["c", "b", "a"]),
                    remaining: &[],
                }],
            },
        ];
        for case in cases {
            let tmp = tempfile::tempdir().unwrap();
            let db = berth_metadata::Store::open(&tmp.path().join("metadata.db")).unwrap();
            let store = ImageStore::open(db, &tmp.path().join("image")).unwrap();
            // label -> (image id, layer chain ids)
            let mut made: HashMap<&str, (String, Vec<String>)> = HashMap::new();
            let mut parents: HashMap<String, String> = HashMap::new();
            for (label, parent, tag) in case.images {
                let (mut layers, mut diffs) = match parent {
                    Some(p) => {
                        let (_, pl) = &made[p];
                        let d: Vec<String> = pl
                            .iter()
                            .map(|c| store.layer(c).unwrap().unwrap().diff_id)
                            .collect();
                        (pl.clone(), d)
                    }
                    None => (Vec::new(), Vec::new()),
                };
                let dir = tmp.path().join(format!("src-{label}"));
                std::fs::create_dir(&dir).unwrap();
                std::fs::write(dir.join(label), label).unwrap();
                let (layer, _) = store
                    .create_layer_from_dir(layers.last().map(String::as_str), &dir)
                    .unwrap();
                layers.push(layer.chain_id.clone());
                diffs.push(layer.diff_id.clone());
                let cfg = serde_json::to_vec(&serde_json::json!({
                    "architecture": "amd64",
                    "os": "linux",
                    "created": "2024-01-02T03:04:05Z",
                    "config": {"Cmd": [label]},
                    "rootfs": {"type": "layers", "diff_ids": diffs},
                }))
                .unwrap();
                let tags: Vec<Reference> = tag
                    .iter()
                    .map(|t| Reference::parse_normalized(t).unwrap())
                    .collect();
                let id = store.create_image(&cfg, &tags, &[]).unwrap().id;
                if let Some(p) = parent {
                    parents.insert(id.clone(), made[p].0.clone());
                }
                made.insert(label, (id, layers));
            }
            let label_of: HashMap<String, &str> =
                made.iter().map(|(l, (id, _))| (id.clone(), *l)).collect();
            let used: HashSet<String> = case.used.iter().map(|l| made[l].0.clone()).collect();
            let in_use = |id: &str| used.contains(id).then(|| "f".repeat(64));
            let parent_of = |id: &str| parents.get(id).cloned();
            for (i, st) in case.steps.iter().enumerate() {
                let ctx = format!("{} (step {i}: {})", case.name, st.remove);
                let name = match st.remove.split_once(':') {
                    Some(("id", l)) => made[l].0.clone(),
                    Some((_, t)) => t.to_string(),
                    None => unreachable!("steps name tag: or id:"),
                };
                let res = store.remove_with_parents(&name, st.force, st.prune, &in_use, &parent_of);
                match (res, st.want) {
                    (Ok(items), Ok(want)) => {
                        let deleted: Vec<&str> = items
                            .iter()
                            .filter_map(|it| match it {
                                DeleteItem::Deleted(id) => label_of.get(id).copied(),
                                DeleteItem::Untagged(_) => None,
                            })
                            .collect();
                        assert_eq!(deleted, want, "{ctx}: {items:?}");
                    }
                    (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{ctx}: {e}"),
                    (got, want) => panic!("{ctx}: got {got:?}, want {want:?}"),
                }
                let mut left: Vec<&str> = made
                    .iter()
                    .filter(|(_, (id, _))| store.contains(id))
                    .map(|(l, _)| *l)
                    .collect();
                left.sort();
                assert_eq!(left, st.remaining, "{ctx}");
                // Layers of remaining images stay; an image's own top layer goes with it.
                for (l, (id, layers)) in &made {
                    if store.contains(id) {
                        assert!(
                            layers.iter().all(|c| store.has_layer(c)),
                            "{ctx}: layers of {l}"
                        );
                    } else {
                        assert!(
                            !store.has_layer(layers.last().unwrap()),
                            "{ctx}: top layer of {l}"
                        );
                    }
                }
            }
        }
    }
}
