//! `docker save` and `docker load` archives.
//!
//! [`save`] writes Docker 25's layout, which is an OCI image layout plus Docker's own index:
//!
//! ```text
//! blobs/sha256/<hex>   image configs, OCI manifests, uncompressed layer tars (hex = diff id)
//! index.json           OCI index: one manifest descriptor per tag (annotated with the full
//!                      name and the tag), one without annotations for an untagged image
//! manifest.json        [{"Config":"blobs/sha256/..","RepoTags":[..],"Layers":[..]}]
//! oci-layout           {"imageLayoutVersion": "1.0.0"}
//! repositories         {"busybox":{"latest":"<top layer diff id hex>"}}, when there are tags
//! ```
//!
//! Layers are streamed from the compressed blobs the store keeps, decompressed on the fly
//! and verified against their diff ids as they are written: nothing is re-tarred.
//!
//! [`load`] reads that layout, the legacy one (`<hex>.json` configs, `<id>/layer.tar`
//! layers, possibly symlinked to one another, `manifest.json`), and OCI layouts without a
//! `manifest.json` (tags from the `io.containerd.image.name` annotation), plain or compressed
//! (gzip, zstd). The archive is extracted into a temporary directory of the store first (its
//! index may come after the layers); every layer's tar is verified against the config's diff
//! id; layers are unpacked in parallel, and the images are registered and tagged in one
//! transaction at the end, so a failure leaves no image behind (only layers that were
//! completely unpacked and recorded).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_reference::{parse_any, AnyReference, Digest, Reference};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use crate::filters::ListFilters;
use crate::manifest::{
    media_types, parse_manifest, AnyManifest, Descriptor, ImageManifest, Platform,
};
use crate::store::{BlobRecord, ImageStore, PendingImage};
use crate::unpack::{clean_components, decompress, Compression};
use crate::{Error, Image};

const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const OCI_LAYOUT: &str = "{\"imageLayoutVersion\": \"1.0.0\"}";
const MAX_LINK_HOPS: usize = 40;
const IO_BUFFER: usize = 256 * 1024;

/// One line of `docker load`'s output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// `Loaded image: busybox:latest` (familiar form).
    Tag(String),
    /// `Loaded image ID: sha256:...` (printed for untagged images).
    Id(String),
    /// A tag moved from another image: `The image busybox:latest already exists, renaming
    /// the old one with ID sha256:... to empty string`.
    Renamed {
        /// The tag (familiar form).
        tag: String,
        /// The image that had it.
        old_id: String,
    },
}

impl fmt::Display for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loaded::Tag(t) => write!(f, "Loaded image: {t}"),
            Loaded::Id(id) => write!(f, "Loaded image ID: {id}"),
            Loaded::Renamed { tag, old_id } => write!(
                f,
                "The image {tag} already exists, renaming the old one with ID {old_id} to empty string"
            ),
        }
    }
}

/// An entry of `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------------------
// save

struct SaveImage {
    image: Image,
    tags: Vec<Reference>,
}

/// Docker's `parseNames`: which images, with which tags.
fn select(store: &ImageStore, names: &[String]) -> Result<Vec<SaveImage>, Error> {
    let mut out: Vec<SaveImage> = Vec::new();
    let mut add = |img: Image, tag: Option<Reference>| {
        let i = match out.iter().position(|s| s.image.id == img.id) {
            Some(i) => i,
            None => {
                out.push(SaveImage {
                    image: img,
                    tags: Vec::new(),
                });
                out.len() - 1
            }
        };
        if let Some(t) = tag {
            if !out[i].tags.contains(&t) {
                out[i].tags.push(t);
            }
        }
    };
    for name in names {
        match parse_any(name)? {
            AnyReference::Id(d) => add(store.get(&d.to_string())?, None),
            AnyReference::Named(r) => {
                if r.familiar_name() == "sha256" || r.digest().is_some() {
                    add(store.get(name)?, None);
                } else if r.is_name_only() {
                    let mut found = false;
                    for img in store.list(&ListFilters::default())? {
                        let tags: Vec<Reference> = img
                            .repo_tags
                            .iter()
                            .filter(|t| t.name() == r.name())
                            .cloned()
                            .collect();
                        for t in tags {
                            found = true;
                            add(img.clone(), Some(t));
                        }
                    }
                    if !found {
                        add(store.get(name)?, None);
                    }
                } else {
                    let img = store.get(name)?;
                    add(img, Some(r.with_default_tag()));
                }
            }
        }
    }
    Ok(out)
}

/// `docker save` of the named images (tags or ids): Docker 25+ layout (oci-layout,
/// index.json, blobs/sha256/*, plus manifest.json and repositories), which dockerd 20.10
/// also loads. Layers are uncompressed tars whose sha256 is the diff id. Every layer must
/// have its blob in the content store (checked before anything is written).
pub fn save(store: &ImageStore, names: &[String], out: impl Write) -> Result<(), Error> {
    let images = select(store, names)?;
    // Everything needed is checked before the first byte is written.
    let mut plans = Vec::with_capacity(images.len());
    for s in &images {
        let mut layers = Vec::new();
        for d in &s.image.config.rootfs.diff_ids {
            let rec = store.blob_record_of_layer(d).ok_or_else(|| {
                Error::InvalidArchive(format!(
                    "cannot save image {}: the content of layer {d} is not stored",
                    s.image.id
                ))
            })?;
            layers.push(rec);
        }
        plans.push(layers);
    }

    let mut tar = tar::Builder::new(BufWriter::with_capacity(IO_BUFFER, out));
    let werr = |what: &str| Error::io(format!("write {what}"));
    for d in ["blobs", "blobs/sha256"] {
        let mut h = file_header(EntryType::Directory, 0, 0o755, 0);
        tar.append_data(&mut h, d, io::empty()).map_err(werr(d))?;
    }
    let mut written: HashSet<String> = HashSet::new();
    let mut index_entries: Vec<Descriptor> = Vec::new();
    let mut manifest: Vec<ManifestItem> = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();

    for (s, layers) in images.iter().zip(plans) {
        let img = &s.image;
        let mtime = img
            .created
            .map(|c| c.timestamp().max(0) as u64)
            .unwrap_or(0);
        let mut layer_descs = Vec::new();
        let mut layer_paths = Vec::new();
        for rec in &layers {
            let diff = Digest::parse(&rec.diff_id)?;
            let path = format!("blobs/sha256/{}", diff.hex());
            if written.insert(diff.hex().to_string()) {
                write_layer(store, &mut tar, &path, rec, mtime)?;
            }
            layer_descs.push(Descriptor::new(media_types::OCI_LAYER, diff, rec.diff_size));
            layer_paths.push(path);
        }
        let config_digest = Digest::parse(&img.id)?;
        let config_path = format!("blobs/sha256/{}", config_digest.hex());
        if written.insert(config_digest.hex().to_string()) {
            append_file(&mut tar, &config_path, img.raw_config.as_bytes(), mtime)?;
        }
        let platform = Platform {
            architecture: img.config.architecture.clone(),
            os: img.config.os.clone(),
            variant: img.config.variant.clone(),
            os_version: img.config.os_version.clone(),
            ..Platform::default()
        };
        let mut config_desc = Descriptor::new(
            media_types::OCI_CONFIG,
            config_digest,
            img.raw_config.len() as u64,
        );
        config_desc.platform = Some(platform.clone());
        let m = ImageManifest::oci(config_desc, layer_descs).to_json();
        let m_digest = Digest::sha256_of(&m);
        if written.insert(m_digest.hex().to_string()) {
            append_file(&mut tar, &format!("blobs/sha256/{}", m_digest.hex()), &m, 0)?;
        }
        let mut desc = Descriptor::new(media_types::OCI_MANIFEST, m_digest, m.len() as u64);
        desc.platform = Some(platform);
        if s.tags.is_empty() {
            index_entries.push(desc.clone());
        }
        for t in &s.tags {
            let mut d = desc.clone();
            d.annotations
                .insert(ANNOTATION_IMAGE_NAME.into(), t.to_string());
            d.annotations.insert(
                ANNOTATION_REF_NAME.into(),
                t.tag().unwrap_or("latest").into(),
            );
            index_entries.push(d);
            if let Some(top) = layers.last().and_then(|l| Digest::parse(&l.diff_id).ok()) {
                repositories
                    .entry(t.familiar_name())
                    .or_default()
                    .insert(t.tag().unwrap_or("latest").into(), top.hex().to_string());
            }
        }
        manifest.push(ManifestItem {
            config: config_path,
            repo_tags: (!s.tags.is_empty())
                .then(|| s.tags.iter().map(Reference::familiar_string).collect()),
            layers: Some(layer_paths),
        });
    }

    let index = crate::manifest::ImageIndex::oci(index_entries);
    append_file(&mut tar, "index.json", &json(&index), 0)?;
    let mut mj = json(&manifest);
    mj.push(b'\n');
    append_file(&mut tar, "manifest.json", &mj, 0)?;
    append_file(&mut tar, "oci-layout", OCI_LAYOUT.as_bytes(), 0)?;
    if !repositories.is_empty() {
        let mut rj = json(&repositories);
        rj.push(b'\n');
        append_file(&mut tar, "repositories", &rj, 0)?;
    }
    let mut out = tar.into_inner().map_err(werr("archive"))?;
    out.flush().map_err(werr("archive"))?;
    Ok(())
}

/// Compact JSON (these types always serialize).
fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn file_header(kind: EntryType, size: u64, mode: u32, mtime: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mtime: u64,
) -> Result<(), Error> {
    let mut h = file_header(EntryType::Regular, data.len() as u64, 0o644, mtime);
    tar.append_data(&mut h, path, data)
        .map_err(Error::io(format!("write {path}")))
}

/// Stream a layer's uncompressed tar from its blob, checking length and digest.
fn write_layer<W: Write>(
    store: &ImageStore,
    tar: &mut tar::Builder<W>,
    path: &str,
    rec: &BlobRecord,
    mtime: u64,
) -> Result<(), Error> {
    let digest = Digest::parse(&rec.digest)?;
    let f = store.content().open_blob(&digest)?;
    let (_, inner) = decompress(BufReader::with_capacity(IO_BUFFER, f))?;
    let mut v = Verified {
        inner,
        hasher: Sha256::new(),
        remaining: rec.diff_size,
    };
    let mut h = file_header(EntryType::Regular, rec.diff_size, 0o644, mtime);
    tar.append_data(&mut h, path, &mut v)
        .map_err(Error::io(format!("write layer {}", rec.diff_id)))?;
    let mut extra = [0u8; 1];
    let more = v.inner.read(&mut extra).unwrap_or(0);
    let got = Digest::from_sha256(v.hasher.finalize().into());
    if more != 0 || got.to_string() != rec.diff_id {
        return Err(Error::Corrupt(format!(
            "blob {} does not decompress to layer {}",
            rec.digest, rec.diff_id
        )));
    }
    Ok(())
}

/// Exactly `remaining` bytes of `inner`, hashed; fewer is an error.
struct Verified<R> {
    inner: R,
    hasher: Sha256,
    remaining: u64,
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stored layer blob is shorter than its tar",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------
// load

/// A regular file extracted from the archive.
#[derive(Debug, Clone)]
struct Extracted {
    path: PathBuf,
    digest: Digest,
    head: Vec<u8>,
}

/// The archive's files, by cleaned path.
#[derive(Default)]
struct Archive {
    files: HashMap<String, Extracted>,
    links: HashMap<String, String>,
}

/// A tar error in words: the tar crate quotes the header bytes it could not read, which for a
/// file that is no tar at all is binary noise; say what Go's archive/tar says instead.
fn readable(e: &io::Error) -> String {
    let msg = e.to_string();
    if msg.chars().any(|c| (c.is_control() && c != '\n') || c == '\u{fffd}') || msg.contains("when getting cksum") {
        "invalid tar header".to_string()
    } else {
        msg
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidArchive(msg.into())
}

fn clean(p: &str) -> Option<String> {
    let comps = clean_components(Path::new(p)).ok()?;
    let parts: Vec<String> = comps
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

impl Archive {
    fn extract(input: impl Read, dir: &Path) -> Result<Archive, Error> {
        let mut a = Archive::default();
        let mut tar = tar::Archive::new(input);
        let rerr = |e: io::Error| bad(format!("invalid archive: {}", readable(&e)));
        for (n, entry) in tar.entries().map_err(rerr)?.enumerate() {
            let mut entry = entry.map_err(rerr)?;
            let raw = entry.path().map_err(rerr)?.to_string_lossy().into_owned();
            let Some(key) = clean(&raw) else {
                return Err(bad(format!(
                    "invalid archive: entry {raw:?} is outside of it"
                )));
            };
            match entry.header().entry_type() {
                EntryType::Regular | EntryType::Continuous => {
                    let path = dir.join(format!("f{n}"));
                    let mut out = BufWriter::with_capacity(
                        IO_BUFFER,
                        File::create(&path)
                            .map_err(Error::io(format!("create {}", path.display())))?,
                    );
                    let mut hasher = Sha256::new();
                    let mut head = Vec::new();
                    let mut buf = vec![0u8; IO_BUFFER];
                    loop {
                        let k = match entry.read(&mut buf) {
                            Ok(0) => break,
                            Ok(k) => k,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(rerr(e)),
                        };
                        if head.len() < 6 {
                            let take = (6 - head.len()).min(k);
                            head.extend_from_slice(&buf[..take]);
                        }
                        hasher.update(&buf[..k]);
                        out.write_all(&buf[..k])
                            .map_err(Error::io(format!("write {}", path.display())))?;
                    }
                    out.flush()
                        .map_err(Error::io(format!("write {}", path.display())))?;
                    a.files.insert(
                        key,
                        Extracted {
                            path,
                            digest: Digest::from_sha256(hasher.finalize().into()),
                            head,
                        },
                    );
                }
                EntryType::Symlink => {
                    let Some(target) = entry.link_name().map_err(rerr)? else {
                        continue;
                    };
                    let target = target.to_string_lossy().into_owned();
                    let joined = if target.starts_with('/') {
                        target
                    } else {
                        let parent = key.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                        format!("{parent}/{target}")
                    };
                    if let Some(t) = clean(&joined) {
                        a.links.insert(key, t);
                    }
                }
                EntryType::Link => {
                    let Some(target) = entry.link_name().map_err(rerr)? else {
                        continue;
                    };
                    if let Some(t) = clean(&target.to_string_lossy()) {
                        if let Some(f) = a.resolve(&t) {
                            let f = f.clone();
                            a.files.insert(key, f);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(a)
    }

    /// The file at `path`, following symlinks inside the archive.
    fn resolve(&self, path: &str) -> Option<&Extracted> {
        let mut key = clean(path)?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(&key) {
                return Some(f);
            }
            key = self.links.get(&key)?.clone();
        }
        None
    }

    fn file(&self, path: &str) -> Result<&Extracted, Error> {
        self.resolve(path)
            .ok_or_else(|| bad(format!("invalid archive: {path} is missing")))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        let f = self.file(path)?;
        std::fs::read(&f.path).map_err(Error::io(format!("read {}", f.path.display())))
    }

    /// A blob of an OCI layout, checked against its digest.
    fn blob(&self, d: &Digest) -> Result<&Extracted, Error> {
        let path = format!("blobs/{}/{}", d.algorithm().as_str(), d.hex());
        let f = self.file(&path)?;
        if f.digest != *d {
            return Err(Error::DigestMismatch {
                expected: d.to_string(),
                actual: f.digest.to_string(),
            });
        }
        Ok(f)
    }
}

/// An image to load: its config, its layer files (bottom first), its tags.
struct LoadImage {
    pending: PendingImage,
    layers: Vec<Extracted>,
    tags: Vec<Reference>,
}

/// `docker load`: a tar (plain or compressed) in the legacy docker-save format
/// (manifest.json + `<id>.json` + `<layer>/layer.tar` or blobs paths) or an OCI layout.
/// Returns what was loaded, as Docker prints it.
pub fn load(store: &ImageStore, input: impl Read) -> Result<Vec<Loaded>, Error> {
    let (_, stream) = decompress(BufReader::with_capacity(IO_BUFFER, input))?;
    let tmp = tempfile::Builder::new()
        .prefix("load-")
        .tempdir_in(store.content().ingest_dir())
        .map_err(Error::io("create a temporary directory"))?;
    let archive = Archive::extract(stream, tmp.path())?;
    let mut images = if archive.resolve("manifest.json").is_some() {
        from_manifest_json(&archive)?
    } else if archive.resolve("index.json").is_some() {
        from_oci_index(&archive)?
    } else {
        return Err(bad(
            "invalid archive: no manifest.json or index.json (archives of Docker before 1.10 are not supported)",
        ));
    };
    merge_duplicates(&mut images);

    // Check everything that can be checked before unpacking anything.
    let mut tasks: Vec<LayerTask> = Vec::new();
    let mut planned: HashSet<String> = HashSet::new();
    for img in &images {
        let cfg = &img.pending.config;
        if !cfg.os.is_empty() && cfg.os != "linux" {
            return Err(bad(format!("cannot load {} image on linux", cfg.os)));
        }
        let diff_ids = &cfg.rootfs.diff_ids;
        if img.layers.len() != diff_ids.len() {
            return Err(bad(format!(
                "invalid manifest, layers length mismatch: expected {}, got {}",
                img.layers.len(),
                diff_ids.len()
            )));
        }
        for (i, (file, diff)) in img.layers.iter().zip(diff_ids).enumerate() {
            let chain = &img.pending.chains[i];
            if store.has_layer(chain) || !planned.insert(chain.clone()) {
                continue;
            }
            let plain = matches!(Compression::detect(&file.head), Ok(Compression::None));
            if plain && file.digest.to_string() != *diff {
                return Err(bad(format!(
                    "invalid diffID for layer {i}: expected {diff:?}, got {:?}",
                    file.digest.to_string()
                )));
            }
            tasks.push(LayerTask {
                index: i,
                chain: chain.clone(),
                parent: i.checked_sub(1).map(|p| img.pending.chains[p].clone()),
                diff: diff.clone(),
                file: file.path.clone(),
            });
        }
    }
    apply_layers(store, tasks)?;

    let order: Vec<(String, bool)> = images
        .iter()
        .map(|i| (i.pending.id.clone(), i.tags.is_empty()))
        .collect();
    let moved = store.register_loaded(images.into_iter().map(|i| (i.pending, i.tags)).collect())?;
    drop(tmp);
    let mut out = Vec::new();
    for tags in moved {
        for (t, old) in tags {
            if let Some(old_id) = old {
                out.push(Loaded::Renamed {
                    tag: t.familiar_string(),
                    old_id,
                });
            }
            out.push(Loaded::Tag(t.familiar_string()));
        }
    }
    // Docker prints the ids of all loaded images when the last one has no tags.
    if order.last().is_some_and(|(_, untagged)| *untagged) {
        out.extend(order.into_iter().map(|(id, _)| Loaded::Id(id)));
    }
    Ok(out)
}

fn parse_tag(s: &str) -> Result<Reference, Error> {
    let r = Reference::parse_normalized(s).map_err(|_| bad(format!("invalid tag {s:?}")))?;
    if r.tag().is_none() || r.digest().is_some() {
        return Err(bad(format!("invalid tag {s:?}")));
    }
    Ok(r)
}

fn from_manifest_json(a: &Archive) -> Result<Vec<LoadImage>, Error> {
    let items: Option<Vec<ManifestItem>> = serde_json::from_slice(&a.read("manifest.json")?)
        .map_err(|e| bad(format!("invalid manifest.json: {e}")))?;
    let items =
        items.ok_or_else(|| bad("invalid manifest, manifest cannot be null (but can be [])"))?;
    let mut out = Vec::new();
    for item in items {
        let pending = PendingImage::parse(&a.read(&item.config)?)?;
        let mut layers = Vec::new();
        for l in item.layers.unwrap_or_default() {
            layers.push(a.file(&l)?.clone());
        }
        let tags = item
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| parse_tag(t))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(LoadImage {
            pending,
            layers,
            tags,
        });
    }
    Ok(out)
}

fn from_oci_index(a: &Archive) -> Result<Vec<LoadImage>, Error> {
    let index = match parse_manifest(&a.read("index.json")?, None)? {
        AnyManifest::Index(i) => i,
        AnyManifest::Manifest(_) => return Err(bad("invalid archive: index.json is not an index")),
    };
    let mut out = Vec::new();
    for desc in &index.manifests {
        let tags = oci_tags(&desc.annotations)?;
        oci_image(a, desc, tags, 0, &mut out)?;
    }
    Ok(out)
}

/// Tags of an index entry: the full name containerd and Docker annotate, else a ref name
/// that is a full reference (a bare tag names no repository).
fn oci_tags(ann: &BTreeMap<String, String>) -> Result<Vec<Reference>, Error> {
    if let Some(n) = ann.get(ANNOTATION_IMAGE_NAME) {
        return match Reference::parse_normalized(n) {
            Ok(r) if r.digest().is_none() => Ok(vec![r.with_default_tag()]),
            Ok(_) => Ok(Vec::new()),
            Err(_) => Err(bad(format!("invalid image name {n:?}"))),
        };
    }
    if let Some(n) = ann.get(ANNOTATION_REF_NAME) {
        if n.contains('/') || n.contains(':') {
            if let Ok(r) = Reference::parse_normalized(n) {
                if r.digest().is_none() {
                    return Ok(vec![r.with_default_tag()]);
                }
            }
        }
    }
    Ok(Vec::new())
}

fn oci_image(
    a: &Archive,
    desc: &Descriptor,
    tags: Vec<Reference>,
    depth: usize,
    out: &mut Vec<LoadImage>,
) -> Result<(), Error> {
    let f = a.blob(&desc.digest)?;
    let bytes = std::fs::read(&f.path).map_err(Error::io(format!("read {}", f.path.display())))?;
    let ct = (!desc.media_type.is_empty()).then_some(desc.media_type.as_str());
    match parse_manifest(&bytes, ct)? {
        AnyManifest::Manifest(m) => {
            if !media_types::is_config(&m.config.media_type) {
                // An artifact (signature, attestation): not an image.
                return Ok(());
            }
            let cf = a.blob(&m.config.digest)?;
            let raw = std::fs::read(&cf.path)
                .map_err(Error::io(format!("read {}", cf.path.display())))?;
            let pending = PendingImage::parse(&raw)?;
            let mut layers = Vec::new();
            for l in &m.layers {
                layers.push(a.blob(&l.digest)?.clone());
            }
            out.push(LoadImage {
                pending,
                layers,
                tags,
            });
            Ok(())
        }
        AnyManifest::Index(i) if depth == 0 => {
            let d = i.select(&Platform::host()).ok_or_else(|| {
                bad(format!(
                    "no image for {} in {}",
                    Platform::host().to_short_string(),
                    desc.digest
                ))
            })?;
            oci_image(a, d, tags, depth + 1, out)
        }
        AnyManifest::Index(_) => Err(bad("invalid archive: nested indexes are too deep")),
    }
}

/// One image listed several times (once per tag in an OCI index): one entry, tags merged.
fn merge_duplicates(images: &mut Vec<LoadImage>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<LoadImage> = Vec::new();
    for img in images.drain(..) {
        match seen.get(&img.pending.id) {
            Some(&i) => {
                for t in img.tags {
                    if !out[i].tags.contains(&t) {
                        out[i].tags.push(t);
                    }
                }
            }
            None => {
                seen.insert(img.pending.id.clone(), out.len());
                out.push(img);
            }
        }
    }
    *images = out;
}

struct LayerTask {
    index: usize,
    chain: String,
    parent: Option<String>,
    diff: String,
    file: PathBuf,
}

/// Unpack the layers, a few at a time; the first error stops the others from starting.
fn apply_layers(store: &ImageStore, tasks: Vec<LayerTask>) -> Result<(), Error> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
        .min(tasks.len());
    let queue = Mutex::new(VecDeque::from(tasks));
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                let Some(task) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    return;
                };
                if let Err(e) = apply_layer(store, &task) {
                    if let Ok(mut f) = failed.lock() {
                        f.get_or_insert(e);
                    }
                    return;
                }
            });
        }
    });
    match failed.into_inner() {
        Ok(Some(e)) => Err(e),
        Ok(None) => Ok(()),
        Err(_) => Err(Error::Corrupt("a layer thread panicked".into())),
    }
}

fn apply_layer(store: &ImageStore, t: &LayerTask) -> Result<(), Error> {
    let f = File::open(&t.file).map_err(Error::io(format!("open {}", t.file.display())))?;
    let (tmp, unpacked, blob) = store.unpack_new_layer(BufReader::with_capacity(IO_BUFFER, f))?;
    if unpacked.diff_id.to_string() != t.diff {
        drop(tmp);
        if store
            .diff_id_of_blob(&Digest::parse(&blob.digest)?)
            .is_none()
        {
            let _ = store.content().delete(&Digest::parse(&blob.digest)?);
        }
        return Err(bad(format!(
            "invalid diffID for layer {}: expected {:?}, got {:?}",
            t.index,
            t.diff,
            unpacked.diff_id.to_string()
        )));
    }
    store.commit_layer(tmp, &t.chain, t.parent.as_deref(), &unpacked, Some(blob))?;
    Ok(())
}

#[cfg(test)]
mod readable_tests {
    use super::readable;
    use std::io;

    #[test]
    fn tar_errors_never_echo_binary_headers() {
        for (msg, want) in [
            ("numeric field did not have utf-8 text: \u{fffd}\u{1} when getting cksum for \u{7}", "invalid tar header"),
            ("numeric field was not a number: abc when getting cksum for x", "invalid tar header"),
            ("unexpected EOF", "unexpected EOF"),
        ] {
            assert_eq!(readable(&io::Error::other(msg)), want, "{msg:?}");
        }
    }
}
