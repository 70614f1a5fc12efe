//! Unpacking a layer tarball into a directory, safely, in overlayfs's format.
//!
//! The tarball is untrusted. Invariants:
//! - nothing is ever written outside the destination: entry paths are cleaned lexically (a
//!   relative path climbing above the root is an error, a rooted one is taken relative to the
//!   destination), and the parent directory of every entry is resolved component by component
//!   *inside* the destination, following symlinks the way a `chroot` would (an absolute
//!   target or `..` never leaves the destination), so only real directories under the
//!   destination are ever written into; the entry itself is created without following any
//!   symlink (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, `lchown`);
//! - hard links may only point at an existing non-directory inside the destination;
//! - device nodes and ownership are only applied when unpacking with privileges (we are
//!   building a container's root filesystem); otherwise devices are skipped and reported;
//! - AUFS whiteouts become overlayfs ones: `.wh.name` a 0:0 character device `name`,
//!   `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory; `trusted.overlay.*`
//!   xattrs in the tarball itself are ignored.
//!
//! Modes, mtimes and xattrs (`SCHILY.xattr.*` PAX records) are preserved; directory mtimes are
//! applied last. The diff id is the sha256 of the whole uncompressed stream.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use berth_errdefs::{HasKind, Kind};
use berth_reference::Digest;
use sha2::{Digest as _, Sha256};
use tar::EntryType;

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
const MAX_SYMLINK_HOPS: usize = 40;

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The stream is compressed with an algorithm we do not read.
    #[error("unsupported layer compression: {0}")]
    UnsupportedCompression(&'static str),
    /// The stream is not a valid (possibly gzipped) tar archive, or could not be read.
    #[error("invalid layer archive: {0}")]
    Archive(io::Error),
    /// An entry's path climbs out of the layer.
    #[error("invalid layer archive: {0:?} is outside of the layer")]
    Breakout(PathBuf),
    /// A hard link's target is missing, a directory, or outside the layer.
    #[error("invalid hardlink {path:?} -> {target:?}: {reason}")]
    HardLink {
        /// The link.
        path: PathBuf,
        /// What it points at.
        target: PathBuf,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An entry's parent is not a directory, or symlinks loop.
    #[error("invalid layer archive: cannot resolve {path:?}: {reason}")]
    Resolve {
        /// The entry.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// An entry type we do not know.
    #[error("invalid layer archive: unhandled tar header type {1} for {0:?}")]
    EntryType(PathBuf, u8),
    /// Writing the layer failed.
    #[error("unpack {path:?}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl HasKind for UnpackError {
    fn kind(&self) -> Kind {
        match self {
            UnpackError::Io { .. } => Kind::Internal,
            _ => Kind::InvalidArgument,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How to unpack.
#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    /// Create device nodes and whiteouts and apply ownership: true when running as root.
    pub privileged: bool,
}

impl UnpackOptions {
    /// Privileged when the process runs as root.
    pub fn for_current_user() -> Self {
        // SAFETY: geteuid has no preconditions and cannot fail.
        UnpackOptions {
            privileged: unsafe { libc::geteuid() } == 0,
        }
    }
}

/// What an unpack produced.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Bytes of regular file content written.
    pub size: i64,
    /// Length of the uncompressed tar stream.
    pub tar_size: u64,
    /// Entries skipped for lack of privilege (device nodes, whiteouts).
    pub skipped: Vec<PathBuf>,
}

/// The compression of a layer stream, as its first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// zstd (possibly several frames).
    Zstd,
}

impl Compression {
    /// Detect the compression from the first bytes of a stream (up to 6 are looked at).
    /// Known but unsupported formats (bzip2, xz) are an error; anything else is taken as a
    /// plain tar.
    pub fn detect(head: &[u8]) -> Result<Compression, UnpackError> {
        match head {
            [0x1f, 0x8b, ..] => Ok(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Ok(Compression::Zstd),
            [b'B', b'Z', b'h', ..] => Err(UnpackError::UnsupportedCompression("bzip2")),
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => {
                Err(UnpackError::UnsupportedCompression("xz"))
            }
            _ => Ok(Compression::None),
        }
    }
}

/// Unpack the tar stream `reader` (plain, gzip or zstd, detected by magic bytes) into the
/// existing, empty directory `dest`.
pub fn unpack(
    reader: impl Read,
    dest: &Path,
    opts: UnpackOptions,
) -> Result<Unpacked, UnpackError> {
    unpack_inner(reader, dest, opts, None)
}

/// [`unpack`], also writing the uncompressed tar stream to `tee` as it is read (to keep a
/// compressed copy without reading the input twice). A failure of `tee` fails the unpack.
pub fn unpack_tee(
    reader: impl Read,
    dest: &Path,
    opts: UnpackOptions,
    tee: &mut dyn Write,
) -> Result<Unpacked, UnpackError> {
    unpack_inner(reader, dest, opts, Some(tee))
}

fn unpack_inner(
    reader: impl Read,
    dest: &Path,
    opts: UnpackOptions,
    tee: Option<&mut dyn Write>,
) -> Result<Unpacked, UnpackError> {
    let mut hashing = HashingReader {
        inner: decompress(reader)?.1,
        hasher: Sha256::new(),
        count: 0,
        tee,
    };
    let tree = Tree {
        root: dest.to_path_buf(),
    };
    let mut state = State {
        size: 0,
        skipped: Vec::new(),
        dir_times: Vec::new(),
    };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries().map_err(UnpackError::Archive)? {
            let mut entry = entry.map_err(UnpackError::Archive)?;
            apply_entry(&tree, &mut entry, opts, &mut state)?;
        }
    }
    // The diff id covers everything, including what follows the end-of-archive marker.
    io::copy(&mut hashing, &mut io::sink()).map_err(UnpackError::Archive)?;
    for (rel, time) in state.dir_times.iter().rev() {
        if tree.is_real_dir_path(rel) {
            set_times_nofollow(&tree.root.join(rel), *time)?;
        }
    }
    Ok(Unpacked {
        diff_id: Digest::from_sha256(hashing.hasher.finalize().into()),
        size: state.size,
        tar_size: hashing.count,
        skipped: state.skipped,
    })
}

/// Hashes (and counts, and copies to `tee`) what is read through it.
pub(crate) struct HashingReader<'t, R> {
    pub(crate) inner: R,
    pub(crate) hasher: Sha256,
    pub(crate) count: u64,
    pub(crate) tee: Option<&'t mut dyn Write>,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if let Some(t) = self.tee.as_mut() {
            t.write_all(&buf[..n])
                .map_err(|e| io::Error::other(format!("keeping a copy of the layer: {e}")))?;
        }
        Ok(n)
    }
}

/// Detect the compression (gzip, zstd or none) by its magic bytes and return the
/// uncompressed stream.
pub fn decompress<'a>(
    mut r: impl Read + 'a,
) -> Result<(Compression, Box<dyn Read + 'a>), UnpackError> {
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(UnpackError::Archive(e)),
        }
    }
    let stream = io::Cursor::new(head[..n].to_vec()).chain(r);
    let c = Compression::detect(&head[..n])?;
    let out: Box<dyn Read + 'a> = match c {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stream)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(stream).map_err(UnpackError::Archive)?)
        }
        Compression::None => Box::new(stream),
    };
    Ok((c, out))
}

struct State {
    size: i64,
    skipped: Vec<PathBuf>,
    /// Directories (relative to the root) and their mtimes, applied at the end.
    dir_times: Vec<(PathBuf, Time)>,
}

#[derive(Debug, Clone, Copy)]
struct Time {
    secs: i64,
    nanos: u32,
}

/// Entry metadata gathered from the header and its PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Time,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Clean an entry path lexically into normal components. A rooted path stays inside the
/// root (`/../x` is `x`); a relative one may not climb above it.
pub(crate) fn clean_components(p: &Path) -> Result<Vec<OsString>, UnpackError> {
    let mut out: Vec<OsString> = Vec::new();
    let mut rooted = false;
    for c in p.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => rooted = true,
            Component::CurDir => {}
            Component::ParentDir => {
                if out.pop().is_none() && !rooted {
                    return Err(UnpackError::Breakout(p.to_path_buf()));
                }
            }
            Component::Normal(s) => out.push(s.to_os_string()),
        }
    }
    Ok(out)
}

/// The destination directory, and path resolution confined to it.
struct Tree {
    root: PathBuf,
}

impl Tree {
    /// Resolve `comps` as a directory inside the root, following symlinks as if the root
    /// were `/`, creating missing directories when `create`. The result consists of real
    /// directories only.
    fn resolve_dir(
        &self,
        comps: &[OsString],
        entry: &Path,
        create: bool,
    ) -> Result<PathBuf, UnpackError> {
        let mut resolved = self.root.clone();
        let mut depth = 0usize;
        let mut todo: VecDeque<OsString> = comps.iter().cloned().collect();
        let mut hops = 0;
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                if depth > 0 {
                    resolved.pop();
                    depth -= 1;
                }
                continue;
            }
            if c.is_empty() || c == "." {
                continue;
            }
            let next = resolved.join(&c);
            match fs::symlink_metadata(&next) {
                Ok(md) if md.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(UnpackError::Resolve {
                            path: entry.to_path_buf(),
                            reason: "too many levels of symbolic links",
                        });
                    }
                    let target = fs::read_link(&next).map_err(io_err(&next))?;
                    if target.is_absolute() {
                        resolved = self.root.clone();
                        depth = 0;
                    }
                    let mut expanded: Vec<OsString> = Vec::new();
                    for tc in target.components() {
                        match tc {
                            Component::Normal(s) => expanded.push(s.to_os_string()),
                            Component::ParentDir => expanded.push("..".into()),
                            _ => {}
                        }
                    }
                    for tc in expanded.into_iter().rev() {
                        todo.push_front(tc);
                    }
                }
                Ok(md) if md.is_dir() => {
                    resolved = next;
                    depth += 1;
                }
                Ok(_) => {
                    return Err(UnpackError::Resolve {
                        path: entry.to_path_buf(),
                        reason: "not a directory",
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&next)
                        .map_err(io_err(&next))?;
                    resolved = next;
                    depth += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(UnpackError::Resolve {
                        path: entry.to_path_buf(),
                        reason: "no such directory",
                    });
                }
                Err(e) => return Err(io_err(&next)(e)),
            }
        }
        Ok(resolved)
    }

    /// True when every component of `rel` under the root is a real directory (no symlink).
    fn is_real_dir_path(&self, rel: &Path) -> bool {
        let mut p = self.root.clone();
        for c in rel.components() {
            let Component::Normal(s) = c else {
                return false;
            };
            p.push(s);
            match fs::symlink_metadata(&p) {
                Ok(md) if md.is_dir() => {}
                _ => return false,
            }
        }
        true
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, UnpackError> {
    let h = entry.header();
    let old = h.as_old();
    // A numeric field left blank (NULs or spaces) reads as 0, as Go's archive/tar (and so
    // Docker) reads it.
    let num = |field: &[u8], v: io::Result<u64>| match v {
        Err(_) if field.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        v => v.map_err(UnpackError::Archive),
    };
    let mode = num(&old.mode, h.mode().map(u64::from))? as u32 & 0o7777;
    let mut uid = num(&old.uid, h.uid())?;
    let mut gid = num(&old.gid, h.gid())?;
    let mut mtime = Time {
        secs: num(&old.mtime, h.mtime())? as i64,
        nanos: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Archive)? {
        for ext in exts {
            let ext = ext.map_err(UnpackError::Archive)?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                xattrs.push((name.to_string(), value.to_vec()));
            } else if key == "mtime" {
                if let Some(t) = std::str::from_utf8(value).ok().and_then(parse_pax_time) {
                    mtime = t;
                }
            } else if key == "uid" || key == "gid" {
                if let Some(n) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    if key == "uid" {
                        uid = n;
                    } else {
                        gid = n;
                    }
                }
            }
        }
    }
    let id = |n: u64| {
        u32::try_from(n).map_err(|_| UnpackError::Archive(io::Error::other("uid/gid out of range")))
    };
    Ok(Meta {
        mode,
        uid: id(uid)?,
        gid: id(gid)?,
        mtime,
        xattrs,
    })
}

/// A PAX time: `seconds[.fraction]`, possibly negative.
fn parse_pax_time(s: &str) -> Option<Time> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let secs: i64 = int.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let mut nanos: u32 = digits.parse().ok()?;
    let mut secs = secs;
    if int.starts_with('-') && nanos > 0 {
        secs -= 1;
        nanos = 1_000_000_000 - nanos;
    }
    Some(Time { secs, nanos })
}

fn apply_entry<R: Read>(
    tree: &Tree,
    entry: &mut tar::Entry<'_, R>,
    opts: UnpackOptions,
    state: &mut State,
) -> Result<(), UnpackError> {
    let mut kind = entry.header().entry_type();
    // Old archives mark directories with a trailing slash on a plain-file ('\0') entry.
    if entry.header().as_old().linkflag[0] == 0 && entry.path_bytes().ends_with(b"/") {
        kind = EntryType::Directory;
    }
    if matches!(
        kind,
        EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink
    ) {
        return Ok(());
    }
    let path = entry.path().map_err(UnpackError::Archive)?.into_owned();
    let comps = clean_components(&path)?;
    let Some((name, parent)) = comps.split_last() else {
        // The root itself (`./`): Docker leaves the destination's own metadata alone.
        return Ok(());
    };
    // AUFS metadata at the top (`.wh..wh.plnk/...`, `.wh..wh.aufs`) is not content.
    if comps[0]
        .as_bytes()
        .starts_with(WHITEOUT_META_PREFIX.as_bytes())
        && comps[0] != WHITEOUT_OPAQUE
    {
        return Ok(());
    }
    let meta = read_meta(entry)?;
    let name_bytes = name.as_bytes();

    if name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        return apply_whiteout(tree, &path, parent, name, &meta, opts, state);
    }

    let dir = tree.resolve_dir(parent, &path, true)?;
    let target = dir.join(name);
    let existing = match fs::symlink_metadata(&target) {
        Ok(md) => Some(md),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(&target)(e)),
    };
    let keep_dir = kind == EntryType::Directory && existing.as_ref().is_some_and(|m| m.is_dir());
    if let Some(md) = &existing {
        if !keep_dir {
            remove_path(&target, md.is_dir())?;
        }
    }

    match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&target)
                .map_err(io_err(&target))?;
            state.size += copy_data(entry, &mut f, &target)?;
            if opts.privileged {
                std::os::unix::fs::fchown(&f, Some(meta.uid), Some(meta.gid))
                    .map_err(io_err(&target))?;
            }
            f.set_permissions(fs::Permissions::from_mode(meta.mode))
                .map_err(io_err(&target))?;
            for (k, v) in &meta.xattrs {
                set_xattr(&target, Some(&f), k, v)?;
            }
            f.set_times(file_times(meta.mtime))
                .map_err(io_err(&target))?;
        }
        EntryType::Directory => {
            if !keep_dir {
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&target)
                    .map_err(io_err(&target))?;
            }
            if opts.privileged {
                std::os::unix::fs::lchown(&target, Some(meta.uid), Some(meta.gid))
                    .map_err(io_err(&target))?;
            }
            fs::set_permissions(&target, fs::Permissions::from_mode(meta.mode))
                .map_err(io_err(&target))?;
            for (k, v) in &meta.xattrs {
                set_xattr(&target, None, k, v)?;
            }
            let rel = target
                .strip_prefix(&tree.root)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            state.dir_times.push((rel, meta.mtime));
        }
        EntryType::Symlink => {
            let link = entry
                .link_name()
                .map_err(UnpackError::Archive)?
                .ok_or_else(|| UnpackError::Archive(io::Error::other("symlink without target")))?
                .into_owned();
            std::os::unix::fs::symlink(&link, &target).map_err(io_err(&target))?;
            if opts.privileged {
                std::os::unix::fs::lchown(&target, Some(meta.uid), Some(meta.gid))
                    .map_err(io_err(&target))?;
            }
            for (k, v) in &meta.xattrs {
                set_xattr(&target, None, k, v)?;
            }
            set_times_nofollow(&target, meta.mtime)?;
        }
        EntryType::Link => {
            let link = entry
                .link_name()
                .map_err(UnpackError::Archive)?
                .ok_or_else(|| UnpackError::Archive(io::Error::other("hard link without target")))?
                .into_owned();
            let refuse = |reason| UnpackError::HardLink {
                path: path.clone(),
                target: link.clone(),
                reason,
            };
            let lcomps =
                clean_components(&link).map_err(|_| refuse("target is outside of the layer"))?;
            let Some((lname, lparent)) = lcomps.split_last() else {
                return Err(refuse("target is the layer root"));
            };
            let ldir = tree
                .resolve_dir(lparent, &link, false)
                .map_err(|_| refuse("target does not exist"))?;
            let source = ldir.join(lname);
            match fs::symlink_metadata(&source) {
                Ok(md) if md.is_dir() => return Err(refuse("target is a directory")),
                Ok(_) => {}
                Err(_) => return Err(refuse("target does not exist")),
            }
            // linkat(2) without AT_SYMLINK_FOLLOW: a symlink source is linked, not followed.
            fs::hard_link(&source, &target).map_err(io_err(&target))?;
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let (fmt, dev) = match kind {
                EntryType::Char | EntryType::Block => {
                    if !opts.privileged {
                        state.skipped.push(path);
                        return Ok(());
                    }
                    let h = entry.header();
                    let major = h.device_major().map_err(UnpackError::Archive)?.unwrap_or(0);
                    let minor = h.device_minor().map_err(UnpackError::Archive)?.unwrap_or(0);
                    let fmt = if kind == EntryType::Char {
                        libc::S_IFCHR
                    } else {
                        libc::S_IFBLK
                    };
                    (fmt, libc::makedev(major, minor))
                }
                _ => (libc::S_IFIFO, 0),
            };
            mknod(&target, fmt | meta.mode, dev)?;
            if opts.privileged {
                std::os::unix::fs::lchown(&target, Some(meta.uid), Some(meta.gid))
                    .map_err(io_err(&target))?;
            }
            // mknod applies the umask; set the exact mode on the node we just made.
            fs::set_permissions(&target, fs::Permissions::from_mode(meta.mode))
                .map_err(io_err(&target))?;
            for (k, v) in &meta.xattrs {
                set_xattr(&target, None, k, v)?;
            }
            set_times_nofollow(&target, meta.mtime)?;
        }
        other => return Err(UnpackError::EntryType(path, other.as_byte())),
    }
    Ok(())
}

fn apply_whiteout(
    tree: &Tree,
    path: &Path,
    parent: &[OsString],
    name: &OsStr,
    meta: &Meta,
    opts: UnpackOptions,
    state: &mut State,
) -> Result<(), UnpackError> {
    let name_bytes = name.as_bytes();
    if name_bytes == WHITEOUT_OPAQUE.as_bytes() {
        if !opts.privileged {
            state.skipped.push(path.to_path_buf());
            return Ok(());
        }
        let dir = tree.resolve_dir(parent, path, true)?;
        // Unlike xattrs from the archive, a lost opaque marker would change what the
        // container sees: no tolerance here.
        return set_xattr_raw(&dir, None, OPAQUE_XATTR, b"y", true);
    }
    if name_bytes.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        // AUFS metadata (.wh..wh.plnk, .wh..wh.aufs, ...): not part of the filesystem.
        return Ok(());
    }
    let hidden = OsStr::from_bytes(&name_bytes[WHITEOUT_PREFIX.len()..]);
    if hidden.is_empty() || hidden == "." || hidden == ".." {
        return Err(UnpackError::Breakout(path.to_path_buf()));
    }
    if !opts.privileged {
        state.skipped.push(path.to_path_buf());
        return Ok(());
    }
    let dir = tree.resolve_dir(parent, path, true)?;
    let target = dir.join(hidden);
    match fs::symlink_metadata(&target) {
        Ok(md) => remove_path(&target, md.is_dir())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&target)(e)),
    }
    mknod(&target, libc::S_IFCHR, libc::makedev(0, 0))?;
    std::os::unix::fs::lchown(&target, Some(meta.uid), Some(meta.gid)).map_err(io_err(&target))?;
    Ok(())
}

fn remove_path(p: &Path, is_dir: bool) -> Result<(), UnpackError> {
    // remove_dir_all does not follow symlinks inside the tree it removes.
    let r = if is_dir {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    };
    r.map_err(io_err(p))
}

/// Copy an entry's data, telling read errors (a bad archive) from write errors.
fn copy_data(src: &mut impl Read, dst: &mut File, path: &Path) -> Result<i64, UnpackError> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total: i64 = 0;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(UnpackError::Archive(e)),
        };
        dst.write_all(&buf[..n]).map_err(io_err(path))?;
        total += n as i64;
    }
}

fn cpath(p: &Path) -> Result<CString, UnpackError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        UnpackError::Archive(io::Error::other(format!("path {p:?} contains a NUL byte")))
    })
}

fn mknod(p: &Path, mode: libc::mode_t, dev: libc::dev_t) -> Result<(), UnpackError> {
    let c = cpath(p)?;
    // SAFETY: c is a valid NUL-terminated path.
    let r = unsafe { libc::mknod(c.as_ptr(), mode, dev) };
    if r != 0 {
        return Err(io_err(p)(io::Error::last_os_error()));
    }
    Ok(())
}

fn file_times(t: Time) -> fs::FileTimes {
    let st = system_time(t);
    fs::FileTimes::new().set_accessed(st).set_modified(st)
}

fn system_time(t: Time) -> std::time::SystemTime {
    let base = std::time::UNIX_EPOCH;
    if t.secs >= 0 {
        base + std::time::Duration::new(t.secs as u64, t.nanos)
    } else {
        base - std::time::Duration::from_secs(t.secs.unsigned_abs())
            + std::time::Duration::from_nanos(t.nanos as u64)
    }
}

fn set_times_nofollow(p: &Path, t: Time) -> Result<(), UnpackError> {
    let c = cpath(p)?;
    let ts = libc::timespec {
        tv_sec: t.secs as libc::time_t,
        tv_nsec: t.nanos as libc::c_long,
    };
    let times = [ts, ts];
    // SAFETY: c is a valid path and times points at two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(io_err(p)(io::Error::last_os_error()));
    }
    Ok(())
}

/// Set an xattr from the archive: overlay's own attributes are not taken from a tarball.
fn set_xattr(p: &Path, f: Option<&File>, name: &str, value: &[u8]) -> Result<(), UnpackError> {
    if name.starts_with("trusted.overlay.") {
        return Ok(());
    }
    set_xattr_raw(p, f, name, value, false)
}

/// Set an xattr on `f` (or, without a file, on `p` without following a final symlink).
/// Unless `strict`, filesystems or namespaces that refuse xattrs (ENOTSUP, EPERM) are
/// tolerated, as Docker does.
fn set_xattr_raw(
    p: &Path,
    f: Option<&File>,
    name: &str,
    value: &[u8],
    strict: bool,
) -> Result<(), UnpackError> {
    let cname = CString::new(name).map_err(|_| {
        UnpackError::Archive(io::Error::other(format!(
            "xattr name {name:?} contains a NUL byte"
        )))
    })?;
    let r = match f {
        Some(f) => {
            use std::os::fd::AsRawFd;
            // SAFETY: the fd is open, name and value are valid for their lengths.
            unsafe {
                libc::fsetxattr(
                    f.as_raw_fd(),
                    cname.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            }
        }
        None => {
            let c = cpath(p)?;
            // SAFETY: path, name and value are valid for their lengths.
            unsafe {
                libc::lsetxattr(
                    c.as_ptr(),
                    cname.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            }
        }
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) | Some(libc::EPERM) if !strict => Ok(()),
            _ => Err(io_err(p)(e)),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_components_table() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("a/b", Some(&["a", "b"])),
            ("./a//b/", Some(&["a", "b"])),
            ("/abs/x", Some(&["abs", "x"])),
            ("/../x", Some(&["x"])),
            ("a/../b", Some(&["b"])),
            ("a/..", Some(&[])),
            (".", Some(&[])),
            ("../evil", None),
            ("a/../../evil", None),
        ];
        for (input, want) in cases {
            let got = clean_components(Path::new(input)).ok();
            let want: Option<Vec<OsString>> = want.map(|w| w.iter().map(OsString::from).collect());
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn pax_times() {
        let cases = [
            ("10", Some((10, 0))),
            ("10.5", Some((10, 500_000_000))),
            ("1.123456789123", Some((1, 123_456_789))),
            ("-1.5", Some((-2, 500_000_000))),
            ("x", None),
            ("1.x", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_pax_time(s).map(|t| (t.secs, t.nanos)), want, "{s:?}");
        }
    }
}
