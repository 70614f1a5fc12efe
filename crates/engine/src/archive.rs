//! `docker cp`: stat, read and write paths in a container's filesystem (the archive API).
//!
//! Every operation runs on a throwaway OS thread that sees the container's filesystem as the
//! container does and then exits; a thread that changed its root or mount namespace is never
//! handed back to a pool, so no tokio worker ever runs in a container's view ([`View`]):
//! - a running container: the thread unshares its filesystem attributes (`CLONE_FS`) and
//!   joins the mount namespace of the container's init (`/proc/<pid>/ns/mnt`). Joining a mount
//!   namespace makes its root (the container's root after its `pivot_root`) the thread's root
//!   and working directory, so paths, symlinks and volume mounts resolve as they do inside;
//! - a stopped container: the thread makes a private mount namespace of its own, mounts the
//!   container's overlay (its image's layers under its upper directory) on the container's
//!   `rootfs` directory, grafts the bind mounts of its last start (the bundle's
//!   `config.json`; the host config's binds when it never started) with detached
//!   `open_tree` clones, and chroots into it. The container's operation lock is held until
//!   the thread is done, so it cannot start with its upper directory mounted twice. The
//!   namespace and its mounts go away with the thread.
//!
//! Semantics are dockerd's (moby's `daemon/archive_linux.go` and `go-archive`):
//! - stat (`HEAD`): `lstat` of the path; a symlink's `linkTarget` is its full resolution
//!   inside the container (as far as it exists);
//! - get (`GET`): a directory is archived with its own entry first, named after the requested
//!   path's last element (`etc/`, `etc/passwd`, ...; `./`, `./passwd` for `/etc/.`), anything
//!   else as one entry; numeric owners (mapped back through `--userns-remap`), PAX xattrs,
//!   hard links within the archive as links to the first name;
//! - put (`PUT`): the path must resolve (all symlinks followed) to a directory, which must be
//!   writable (`container rootfs is marked read-only`, `mounted volume is marked read-only`);
//!   the tar is then extracted with the thread chrooted into that directory (so nothing in the
//!   archive reaches outside it), keeping the archive's owners (mapped through
//!   `--userns-remap`), or, with `copyUIDGID` and a container `User`, giving everything to
//!   that user. `noOverwriteDirNonDir` refuses to replace a directory by a non-directory or
//!   back. Directories' mtimes are applied last.
//!
//! A missing path is a 404 `Could not find the file <path> in container <name>`.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use berth_errdefs::{Error, Result};
use berth_image::tarfmt;
use bytes::Bytes;
use futures_util::StreamExt;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::LinuxIdMapping;
use tar::{EntryType, Header};
use tokio::sync::{mpsc, oneshot};

use crate::containers::{self, Container, Record};
use crate::images::{feed_body, ChannelReader};
use crate::service::{ArchiveBackend, ArchivePut, ByteStream, PathStat};
use crate::Engine;

/// Chunks in flight between the archiving thread and the client.
const CHANNEL_DEPTH: usize = 4;
/// Size of one chunk of a `GET`'s tar.
const CHUNK: usize = 256 * 1024;
/// Symlinks followed while resolving one path (Linux's own limit is 40; Go's 255).
const MAX_SYMLINKS: usize = 255;

// Go's os.FileMode type bits, as `PathStat.mode` carries them.
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHARDEV: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

// The new mount API (not all of it is in libc for every target).
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// How an operation failed inside the container's view.
#[derive(Debug)]
enum Failure {
    /// The path does not exist (404 with Docker's wording).
    NotFound,
    /// The request cannot be done (400): a message as Docker words it.
    Invalid(String),
    /// Anything else (500).
    Io(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            Failure::NotFound
        } else {
            Failure::Io(e.to_string())
        }
    }
}

impl Failure {
    fn into_error(self, path: &str, name: &str) -> Error {
        match self {
            Failure::NotFound => Error::not_found(format!("Could not find the file {path} in container {name}")),
            Failure::Invalid(m) => Error::invalid(m),
            Failure::Io(m) => Error::internal(m),
        }
    }
}

fn ctx(what: &str, p: &Path) -> impl FnOnce(io::Error) -> io::Error {
    let msg = format!("{what} {}", p.display());
    move |e| io::Error::new(e.kind(), format!("{msg}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Paths, as Go's path/filepath treats them.

/// Go's `filepath.Clean` of an absolute path: `/a/./b/../c/` is `/a/c`.
fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// moby's `PreserveTrailingDotOrSeparator`: the cleaned path keeps a trailing `/.` or `/`
/// of the original.
fn preserve_trailing(cleaned: &str, original: &str) -> String {
    let mut out = cleaned.to_string();
    let is_dot = |p: &str| p == "." || p.ends_with("/.");
    if !is_dot(&out) && is_dot(original) {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push('.');
    }
    if !out.ends_with('/') && original.ends_with('/') {
        out.push('/');
    }
    out
}

/// The request's `path` as an absolute path in the container (`filepath.Join("/", path)`,
/// trailing `/` or `/.` kept).
fn container_path(path: &str) -> String {
    preserve_trailing(&clean_abs(path), path)
}

/// Go's `filepath.Base`: the last element, trailing slashes ignored; `/` for the root.
fn go_base(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Resolve `path` (absolute) following every symlink, each relative to the root: as much as
/// exists is resolved, the rest is appended as written (moby's `FollowSymlinkInScope`).
fn resolve_in_scope(path: &str) -> io::Result<String> {
    let mut done: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path.split('/').filter(|c| !c.is_empty()).map(str::to_string).rev().collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let cur = format!("/{}", done.iter().chain(std::iter::once(&c)).cloned().collect::<Vec<_>>().join("/"));
        match fs::symlink_metadata(&cur) {
            Ok(md) if md.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(io::Error::other(format!("too many links in {path}")));
                }
                let target = fs::read_link(&cur)?;
                let t = target.as_os_str().to_string_lossy().into_owned();
                if t.starts_with('/') {
                    done.clear();
                }
                for part in t.split('/').filter(|p| !p.is_empty()).rev() {
                    todo.push(part.to_string());
                }
            }
            Ok(_) => done.push(c),
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
                done.push(c);
                while let Some(rest) = todo.pop() {
                    match rest.as_str() {
                        "." => {}
                        ".." => {
                            done.pop();
                        }
                        _ => done.push(rest),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(format!("/{}", done.join("/")))
}

/// A file mode as Go's `os.FileMode` has it.
fn go_mode(md: &Metadata) -> u32 {
    let m = md.mode();
    let ft = md.file_type();
    let mut out = m & 0o777;
    if ft.is_dir() {
        out |= GO_DIR;
    } else if ft.is_symlink() {
        out |= GO_SYMLINK;
    } else if ft.is_block_device() {
        out |= GO_DEVICE;
    } else if ft.is_char_device() {
        out |= GO_DEVICE | GO_CHARDEV;
    } else if ft.is_fifo() {
        out |= GO_PIPE;
    } else if ft.is_socket() {
        out |= GO_SOCKET;
    }
    if m & libc::S_ISUID != 0 {
        out |= GO_SETUID;
    }
    if m & libc::S_ISGID != 0 {
        out |= GO_SETGID;
    }
    if m & libc::S_ISVTX != 0 {
        out |= GO_STICKY;
    }
    out
}

/// A time as Go's JSON encoder writes it (RFC 3339, nanoseconds without trailing zeros).
fn go_time(secs: i64, nanos: u32) -> String {
    let Some(t) = chrono::DateTime::<chrono::Utc>::from_timestamp(secs, nanos) else {
        return "0001-01-01T00:00:00Z".into();
    };
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// `lstat` of `abs` in the current view, as `PathStat`.
fn stat_path(abs: &str) -> std::result::Result<PathStat, Failure> {
    let md = fs::symlink_metadata(abs)?;
    let link_target = if md.file_type().is_symlink() { resolve_in_scope(abs)? } else { String::new() };
    Ok(PathStat {
        name: go_base(abs),
        size: md.size() as i64,
        mode: go_mode(&md),
        mtime: go_time(md.mtime(), md.mtime_nsec().clamp(0, 999_999_999) as u32),
        link_target,
    })
}

// ---------------------------------------------------------------------------------------------
// User namespace id mappings.

/// Ids between the container and the host (`--userns-remap`); identity without mappings.
#[derive(Debug, Clone, Default)]
struct IdMap {
    uids: Vec<LinuxIdMapping>,
    gids: Vec<LinuxIdMapping>,
}

fn map_one(maps: &[LinuxIdMapping], id: u32, to_host: bool) -> u32 {
    if maps.is_empty() {
        return id;
    }
    for m in maps {
        let (from, to) = if to_host { (m.container_id(), m.host_id()) } else { (m.host_id(), m.container_id()) };
        if id >= from && id - from < m.size() {
            return to + (id - from);
        }
    }
    // Unmapped: the overflow id, as the kernel shows it.
    65534
}

impl IdMap {
    fn to_host(&self, uid: u32, gid: u32) -> (u32, u32) {
        (map_one(&self.uids, uid, true), map_one(&self.gids, gid, true))
    }
    fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (map_one(&self.uids, uid, false), map_one(&self.gids, gid, false))
    }
}

// ---------------------------------------------------------------------------------------------
// Writing a path as a tar (GET).

struct TarOut<W: Write> {
    b: tar::Builder<W>,
    ids: IdMap,
    /// (dev, ino) of files with several links -> the first name written.
    links: HashMap<(u64, u64), Vec<u8>>,
}

/// Write `path` (absolute in the current view, already stat'ed as `is_dir`) as dockerd's
/// archive of it to `out`.
fn write_archive(path: &str, is_dir: bool, ids: IdMap, out: impl Write) -> io::Result<()> {
    let base = go_base(path);
    let mut t = TarOut { b: tar::Builder::new(out), ids, links: HashMap::new() };
    // The root's name: the requested path's base ("/" archives its entries as "/x").
    let prefix: Vec<u8> = if base == "/" { Vec::new() } else { base.into_bytes() };
    let src = PathBuf::from(path);
    let md = metadata_or_lstat(&src, is_dir)?;
    if is_dir {
        let mut name = prefix.clone();
        name.push(b'/');
        t.entry(&name, &src, &md)?;
        t.walk(&src, &prefix)?;
    } else {
        t.entry(&prefix, &src, &md)?;
    }
    t.b.into_inner()?.flush()
}

/// `stat` for a directory reached through a trailing slash or a symlink, else `lstat`.
fn metadata_or_lstat(p: &Path, is_dir: bool) -> io::Result<Metadata> {
    if is_dir {
        fs::metadata(p)
    } else {
        fs::symlink_metadata(p)
    }
}

impl<W: Write> TarOut<W> {
    fn walk(&mut self, dir: &Path, prefix: &[u8]) -> io::Result<()> {
        let mut names: Vec<std::ffi::OsString> = match fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(ctx("read", dir)(e)),
        };
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            let p = dir.join(&n);
            let md = match fs::symlink_metadata(&p) {
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ctx("stat", &p)(e)),
            };
            let mut name = prefix.to_vec();
            name.push(b'/');
            name.extend_from_slice(n.as_bytes());
            if md.is_dir() {
                let mut dname = name.clone();
                dname.push(b'/');
                self.entry(&dname, &p, &md)?;
                self.walk(&p, &name)?;
            } else {
                self.entry(&name, &p, &md)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, name: &[u8], abs: &Path, md: &Metadata) -> io::Result<()> {
        let ft = md.file_type();
        if ft.is_socket() {
            // Go's archive/tar has no sockets; dockerd skips them.
            return Ok(());
        }
        let records: Vec<(String, Vec<u8>)> = tarfmt::list_xattrs(abs)
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("trusted.overlay."))
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
            .collect();
        let mode = md.mode() & 0o7777;
        let (uid, gid) = self.ids.to_container(md.uid(), md.gid());
        let header = |kind: EntryType| {
            let mut h = tarfmt::header(md, kind, mode);
            h.set_uid(uid as u64);
            h.set_gid(gid as u64);
            h
        };
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = self.links.get(&(md.dev(), md.ino())).cloned() {
                self.pax(&records)?;
                return self.append(header(EntryType::Link), name, Some(&first), io::empty());
            }
            self.links.insert((md.dev(), md.ino()), name.to_vec());
        }
        if ft.is_file() {
            let f = match fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(abs) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(ctx("open", abs)(e)),
            };
            self.pax(&records)?;
            let mut h = header(EntryType::Regular);
            h.set_size(md.len());
            // Exactly the announced size, even if the file changes under us.
            let data = f.take(md.len()).chain(io::repeat(0)).take(md.len());
            self.append(h, name, None, data)
        } else if ft.is_dir() {
            self.pax(&records)?;
            self.append(header(EntryType::Directory), name, None, io::empty())
        } else if ft.is_symlink() {
            let target = match fs::read_link(abs) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(ctx("readlink", abs)(e)),
            };
            self.pax(&records)?;
            self.append(header(EntryType::Symlink), name, Some(target.as_os_str().as_bytes()), io::empty())
        } else {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            let mut h = header(kind);
            if kind != EntryType::Fifo {
                let dev = md.rdev() as libc::dev_t;
                h.set_device_major(libc::major(dev))?;
                h.set_device_minor(libc::minor(dev))?;
            }
            self.pax(&records)?;
            self.append(h, name, None, io::empty())
        }
    }

    /// Append `h` named `name` (raw bytes: `./x` and `/x` are kept as written, which the
    /// tar crate's path setters would normalise), with GNU long-name records when needed.
    fn append(&mut self, mut h: Header, name: &[u8], link: Option<&[u8]>, data: impl Read) -> io::Result<()> {
        if name.len() > 100 {
            self.long(EntryType::GNULongName, name)?;
        }
        if let Some(l) = link.filter(|l| l.len() > 100) {
            self.long(EntryType::GNULongLink, l)?;
        }
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            let n = name.len().min(100);
            old.name[..n].copy_from_slice(&name[..n]);
            if let Some(l) = link {
                old.linkname = [0; 100];
                let n = l.len().min(100);
                old.linkname[..n].copy_from_slice(&l[..n]);
            }
        }
        h.set_cksum();
        self.b.append(&h, data)
    }

    fn long(&mut self, kind: EntryType, value: &[u8]) -> io::Result<()> {
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            let n = b"././@LongLink";
            old.name[..n.len()].copy_from_slice(n);
        }
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(value.len() as u64 + 1);
        h.set_cksum();
        let mut data = value.to_vec();
        data.push(0);
        self.b.append(&h, &data[..])
    }

    fn pax(&mut self, records: &[(String, Vec<u8>)]) -> io::Result<()> {
        let Some((mut h, data)) = tarfmt::pax_header(records) else { return Ok(()) };
        self.b.append_data(&mut h, tarfmt::PAX_NAME, &data[..])
    }
}

// ---------------------------------------------------------------------------------------------
// Extracting a tar into a directory (PUT).

/// Who owns what is extracted.
#[derive(Debug, Clone)]
enum Owners {
    /// The archive's owners, mapped to the host.
    Archive(IdMap),
    /// Everything to this host uid/gid (`copyUIDGID` with a container `User`).
    Fixed(u32, u32),
}

struct Extract {
    /// The directory, as the container names it (for messages).
    dest: String,
    no_overwrite_dir_non_dir: bool,
    owners: Owners,
    /// Who owns parent directories the archive implies but does not contain.
    root: (u32, u32),
}

/// Clean an entry name into components under the root; `None` when it climbs out of it.
fn entry_components(name: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(c.to_vec()),
        }
    }
    Some(out)
}

fn join_root(comps: &[Vec<u8>]) -> PathBuf {
    let mut p = b"/".to_vec();
    p.extend_from_slice(&comps.join(&b'/'));
    PathBuf::from(std::ffi::OsStr::from_bytes(&p))
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{p:?} contains a NUL byte")))
}

fn set_times(p: &Path, secs: i64) -> io::Result<()> {
    let c = cpath(p)?;
    let ts = libc::timespec { tv_sec: secs as libc::time_t, tv_nsec: 0 };
    let times = [ts, ts];
    // SAFETY: c is a valid path and times points at two timespecs.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if r != 0 {
        return Err(ctx("set times of", p)(io::Error::last_os_error()));
    }
    Ok(())
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    if name.starts_with("trusted.overlay.") {
        return;
    }
    let (Ok(c), Ok(n)) = (cpath(p), CString::new(name)) else { return };
    // SAFETY: valid NUL-terminated strings and a buffer valid for its length.
    let r = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if r != 0 {
        // As dockerd: an attribute the filesystem or our privileges refuse is dropped.
        tracing::debug!(path = %p.display(), xattr = name, error = %io::Error::last_os_error(), "xattr not applied");
    }
}

fn mknod(p: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    let c = cpath(p)?;
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::mknod(c.as_ptr(), mode, dev) } != 0 {
        return Err(ctx("mknod", p)(io::Error::last_os_error()));
    }
    Ok(())
}

impl Extract {
    /// Extract `input` (a plain tar) into the root of the current view (the thread chrooted
    /// into the destination directory).
    fn run(&self, input: impl Read) -> std::result::Result<(), Failure> {
        let mut ar = tar::Archive::new(input);
        let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
        let entries = ar.entries().map_err(|e| Failure::Io(format!("read archive: {e}")))?;
        for entry in entries {
            let mut e = entry.map_err(|e| Failure::Io(format!("read archive: {e}")))?;
            self.one(&mut e, &mut dir_times)?;
        }
        for (p, t) in dir_times.iter().rev() {
            if fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
                set_times(p, *t)?;
            }
        }
        Ok(())
    }

    fn shown(&self, p: &Path) -> String {
        let rel = p.to_string_lossy();
        if self.dest == "/" {
            rel.into_owned()
        } else {
            format!("{}{}", self.dest.trim_end_matches('/'), rel)
        }
    }

    fn one<R: Read>(&self, e: &mut tar::Entry<'_, R>, dir_times: &mut Vec<(PathBuf, i64)>) -> std::result::Result<(), Failure> {
        let mut kind = e.header().entry_type();
        let raw = e.path_bytes().into_owned();
        if e.header().as_old().linkflag[0] == 0 && raw.ends_with(b"/") {
            kind = EntryType::Directory;
        }
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink) {
            return Ok(());
        }
        let shown_name = String::from_utf8_lossy(&raw).into_owned();
        let comps = entry_components(&raw)
            .ok_or_else(|| Failure::Invalid(format!("{shown_name:?} is outside of {:?}", self.dest)))?;
        let h = e.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let (mut uid, mut gid) = (h.uid().unwrap_or(0), h.gid().unwrap_or(0));
        let mut mtime = h.mtime().unwrap_or(0) as i64;
        let mut xattrs: Vec<(String, Vec<u8>)> = Vec::new();
        if let Ok(Some(exts)) = e.pax_extensions() {
            for ext in exts.flatten() {
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let num = || std::str::from_utf8(value).ok().and_then(|s| s.split('.').next()?.parse::<i64>().ok());
                match key {
                    "uid" => uid = num().map_or(uid, |n| n as u64),
                    "gid" => gid = num().map_or(gid, |n| n as u64),
                    "mtime" => mtime = num().unwrap_or(mtime),
                    k => {
                        if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                            xattrs.push((name.to_string(), value.to_vec()));
                        }
                    }
                }
            }
        }
        let Some((_, parent)) = comps.split_last() else {
            // The destination itself (`./`): dockerd leaves its metadata alone.
            return Ok(());
        };
        let path = join_root(&comps);
        let parent_path = join_root(parent);
        if fs::symlink_metadata(&parent_path).is_err() {
            fs::DirBuilder::new().recursive(true).mode(0o755).create(&parent_path).map_err(ctx("create", &parent_path))?;
            let _ = std::os::unix::fs::lchown(&parent_path, Some(self.root.0), Some(self.root.1));
        }
        let existing = fs::symlink_metadata(&path).ok();
        if let Some(md) = &existing {
            let new_dir = kind == EntryType::Directory;
            if self.no_overwrite_dir_non_dir && md.is_dir() && !new_dir {
                return Err(Failure::Io(format!(
                    "cannot overwrite directory {:?} with non-directory {:?}",
                    self.shown(&path),
                    self.dest
                )));
            }
            if self.no_overwrite_dir_non_dir && !md.is_dir() && new_dir {
                return Err(Failure::Io(format!(
                    "cannot overwrite non-directory {:?} with directory {:?}",
                    self.shown(&path),
                    self.dest
                )));
            }
            if !(md.is_dir() && new_dir) {
                let r = if md.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
                r.map_err(ctx("remove", &path))?;
            }
        }
        match kind {
            EntryType::Directory => {
                if existing.as_ref().is_none_or(|m| !m.is_dir()) {
                    fs::DirBuilder::new().mode(0o700).create(&path).map_err(ctx("mkdir", &path))?;
                }
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(ctx("create", &path))?;
                io::copy(e, &mut f).map_err(|err| Failure::Io(format!("write {}: {err}", self.shown(&path))))?;
            }
            EntryType::Link => {
                let target = e.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                let tcomps = entry_components(&target).filter(|c| !c.is_empty()).ok_or_else(|| {
                    Failure::Invalid(format!("invalid hardlink {:?} -> {:?}", shown_name, String::from_utf8_lossy(&target)))
                })?;
                let src = join_root(&tcomps);
                fs::hard_link(&src, &path).map_err(ctx("link", &path))?;
            }
            EntryType::Symlink => {
                let target = e.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                // dockerd refuses a relative target that climbs out of the destination.
                if !target.starts_with(b"/") {
                    let mut joined = parent.iter().flat_map(|c| c.iter().copied().chain(std::iter::once(b'/'))).collect::<Vec<u8>>();
                    joined.extend_from_slice(&target);
                    if entry_components(&joined).is_none() {
                        return Err(Failure::Invalid(format!(
                            "invalid symlink {:?} -> {:?}",
                            self.shown(&path),
                            String::from_utf8_lossy(&target)
                        )));
                    }
                }
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &path).map_err(ctx("symlink", &path))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let fmt = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = e.header().device_major().ok().flatten().unwrap_or(0);
                let minor = e.header().device_minor().ok().flatten().unwrap_or(0);
                mknod(&path, fmt | mode, libc::makedev(major, minor))?;
            }
            other => {
                return Err(Failure::Invalid(format!("unhandled tar header type {}", other.as_byte())));
            }
        }
        let (ouid, ogid) = match &self.owners {
            Owners::Archive(ids) => ids.to_host(uid as u32, gid as u32),
            Owners::Fixed(u, g) => (*u, *g),
        };
        std::os::unix::fs::lchown(&path, Some(ouid), Some(ogid)).map_err(ctx("chown", &path))?;
        if kind != EntryType::Symlink {
            // After chown, which clears set-id bits.
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(ctx("chmod", &path))?;
        }
        for (k, v) in &xattrs {
            set_xattr(&path, k, v);
        }
        if kind == EntryType::Directory {
            dir_times.push((path, mtime));
        } else if kind != EntryType::Link {
            set_times(&path, mtime)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Entering a container's view.

/// A bind mount to graft into a stopped container's root.
#[derive(Debug, Clone)]
struct Bind {
    source: PathBuf,
    dest: String,
    readonly: bool,
    recursive: bool,
}

/// Where an operation's thread sees the container's files from.
enum View {
    /// Join this mount namespace (of the running container's init).
    Running(OwnedFd),
    /// Mount the overlay on `rootfs` (with `data` as options), graft `binds`, chroot.
    Stopped { rootfs: PathBuf, data: String, binds: Vec<Bind> },
}

fn sys(what: &str) -> impl FnOnce(nix::errno::Errno) -> io::Error + '_ {
    move |e| io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"))
}

/// A detached copy of the mount tree at `source` (`open_tree(OPEN_TREE_CLONE)`).
fn open_tree(source: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let c = cpath(source)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: a valid path; the syscall returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(ctx("open_tree", source)(io::Error::last_os_error()));
    }
    // SAFETY: the kernel gave us this fd and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach the detached mount `fd` at `dest` (resolved in the current root).
fn move_mount(fd: &OwnedFd, dest: &Path) -> io::Result<()> {
    let c = cpath(dest)?;
    let empty = c"";
    // SAFETY: valid fd and paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(ctx("move_mount to", dest)(io::Error::last_os_error()));
    }
    Ok(())
}

/// Make this thread see the container's filesystem. Only ever called on a fresh thread that
/// exits afterwards.
fn enter(view: View) -> io::Result<()> {
    match view {
        View::Running(ns) => {
            unshare(CloneFlags::CLONE_FS).map_err(sys("unshare"))?;
            // Joining a mount namespace also moves root and cwd to its root.
            setns(&ns, CloneFlags::CLONE_NEWNS).map_err(sys("join the container's mount namespace"))?;
            Ok(())
        }
        View::Stopped { rootfs, data, binds } => {
            unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS).map_err(sys("unshare"))?;
            mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
                .map_err(sys("make mounts private"))?;
            fs::create_dir_all(&rootfs).map_err(ctx("create", &rootfs))?;
            mount(Some("overlay"), &rootfs, Some("overlay"), MsFlags::empty(), Some(data.as_str()))
                .map_err(sys("mount the container's root filesystem"))?;
            let mut trees = Vec::new();
            for b in binds {
                match open_tree(&b.source, b.recursive) {
                    Ok(fd) => {
                        let is_dir = fs::metadata(&b.source).map(|m| m.is_dir()).unwrap_or(true);
                        trees.push((b, fd, is_dir));
                    }
                    // A source that is gone (a removed host dir) is simply not there.
                    Err(e) => tracing::debug!(error = %e, "bind mount skipped for archive"),
                }
            }
            nix::unistd::chroot(&rootfs).map_err(sys("chroot"))?;
            std::env::set_current_dir("/")?;
            for (b, fd, is_dir) in trees {
                let dest = PathBuf::from(&b.dest);
                if fs::symlink_metadata(&dest).is_err() {
                    if is_dir {
                        fs::create_dir_all(&dest).map_err(ctx("create", &dest))?;
                    } else {
                        if let Some(p) = dest.parent() {
                            fs::create_dir_all(p).map_err(ctx("create", p))?;
                        }
                        File::create(&dest).map_err(ctx("create", &dest))?;
                    }
                }
                move_mount(&fd, &dest)?;
                if b.readonly {
                    mount(None::<&str>, &dest, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>)
                        .map_err(sys("remount read-only"))?;
                }
            }
            Ok(())
        }
    }
}

/// Run `f` on a new OS thread inside `view`; `f` gets whether entering worked. `hold` is
/// dropped when the thread ends (it releases the container's operation lock).
fn in_view<F>(view: View, hold: Option<oneshot::Sender<()>>, f: F) -> Result<()>
where
    F: FnOnce(io::Result<()>) + Send + 'static,
{
    std::thread::Builder::new()
        .name("berth-archive".into())
        .spawn(move || {
            let _hold = hold;
            f(enter(view));
        })
        .map(|_| ())
        .map_err(|e| Error::internal(format!("spawn archive thread: {e}")))
}

/// The bind mounts a stopped container had at its last start (from its bundle's spec), or,
/// when it never started, those of its host config.
fn stopped_binds(cdir: &Path, hc: &berth_api::models::HostConfig) -> Vec<Bind> {
    if let Ok(bytes) = fs::read(cdir.join("config.json")) {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let mounts = v.get("mounts").and_then(|m| m.as_array()).cloned().unwrap_or_default();
            return mounts
                .iter()
                .filter_map(|m| {
                    let opts: Vec<&str> = m.get("options").and_then(|o| o.as_array()).map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
                    let typ = m.get("type").and_then(|t| t.as_str()).unwrap_or("");
                    let bind = typ == "bind" || opts.iter().any(|o| *o == "bind" || *o == "rbind");
                    if !bind {
                        return None;
                    }
                    Some(Bind {
                        source: PathBuf::from(m.get("source")?.as_str()?),
                        dest: m.get("destination")?.as_str()?.to_string(),
                        readonly: opts.contains(&"ro"),
                        recursive: opts.contains(&"rbind"),
                    })
                })
                .collect();
        }
    }
    let mut out = Vec::new();
    for b in hc.binds.as_deref().unwrap_or_default() {
        let parts: Vec<&str> = b.split(':').collect();
        if parts.len() < 2 || !parts[0].starts_with('/') {
            continue;
        }
        let opts = parts.get(2).copied().unwrap_or("");
        out.push(Bind {
            source: PathBuf::from(parts[0]),
            dest: parts[1].to_string(),
            readonly: opts.split(',').any(|o| o == "ro"),
            recursive: true,
        });
    }
    for m in hc.mounts.as_deref().unwrap_or_default() {
        if m.typ != Some(berth_api::models::MountType::BIND) {
            continue;
        }
        let (Some(src), Some(dst)) = (m.source.clone(), m.target.clone()) else { continue };
        out.push(Bind { source: PathBuf::from(src), dest: dst, readonly: m.read_only.unwrap_or(false), recursive: true });
    }
    out
}

/// A prepared view of one container for one operation.
struct Prepared {
    rec: std::sync::Arc<Record>,
    view: View,
    /// Dropping it releases the container's operation lock (stopped containers only).
    hold: Option<oneshot::Sender<()>>,
    ids: IdMap,
}

impl Engine {
    /// The view of container `key` for one archive operation.
    async fn archive_view(&self, key: &str) -> Result<Prepared> {
        let c = self.get(key)?;
        let ids = crate::userns::id_mappings(self).map(|m| IdMap { uids: m.uids, gids: m.gids }).unwrap_or_default();
        let rec = c.record();
        if let Some(v) = running_view(&rec)? {
            return Ok(Prepared { rec, view: v, hold: None, ids });
        }
        // Stopped: hold its operation lock (on a task, so that it can outlive this call while
        // a GET streams) and look again.
        let hold = hold_op_lock(c.clone()).await;
        let rec = c.record();
        if let Some(v) = running_view(&rec)? {
            return Ok(Prepared { rec, view: v, hold: None, ids });
        }
        let cdir = containers::container_dir(&self.cfg.data_root, &rec.id);
        let lower = self.images.lower_dirs(&rec.image_id)?;
        let lower: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            cdir.join("upper").display(),
            cdir.join("work").display()
        );
        let hc = crate::volumes::spec_host_config(self, &rec).unwrap_or_else(|_| rec.host_config.clone());
        let binds = stopped_binds(&cdir, &hc);
        Ok(Prepared { rec, view: View::Stopped { rootfs: cdir.join("rootfs"), data, binds }, hold: Some(hold), ids })
    }
}

/// The mount namespace of a running container's init, if it runs.
fn running_view(rec: &Record) -> Result<Option<View>> {
    if !rec.state.running() || rec.state.pid <= 0 {
        return Ok(None);
    }
    let p = format!("/proc/{}/ns/mnt", rec.state.pid);
    match File::open(&p) {
        Ok(f) => Ok(Some(View::Running(OwnedFd::from(f)))),
        // It exited meanwhile.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::internal(format!("open {p}: {e}"))),
    }
}

/// Take `c`'s operation lock on a task; it is released when the returned sender is dropped.
async fn hold_op_lock(c: Arc<Container>) -> oneshot::Sender<()> {
    let (locked_tx, locked_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _g = c.op.lock().await;
        let _ = locked_tx.send(());
        let _ = release_rx.await;
    });
    let _ = locked_rx.await;
    release_tx
}

/// A blocking writer whose bytes go to an async receiver, one chunk per write.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn thread_gone() -> Error {
    Error::internal("the archive thread ended early")
}

#[async_trait]
impl ArchiveBackend for Arc<Engine> {
    async fn archive_stat(&self, id: &str, path: &str) -> Result<PathStat> {
        let p = self.archive_view(id).await?;
        let abs = container_path(path);
        let (tx, rx) = oneshot::channel();
        let a = abs.clone();
        in_view(p.view, p.hold, move |entered| {
            let r = match entered {
                Err(e) => Err(Failure::Io(e.to_string())),
                Ok(()) => stat_path(&a),
            };
            let _ = tx.send(r);
        })?;
        rx.await.map_err(|_| thread_gone())?.map_err(|f| f.into_error(path, id))
    }

    async fn archive_get(&self, id: &str, path: &str) -> Result<(PathStat, ByteStream)> {
        let p = self.archive_view(id).await?;
        let abs = container_path(path);
        let (stat_tx, stat_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_DEPTH);
        let ids = p.ids.clone();
        in_view(p.view, p.hold, move |entered| {
            let stat = match entered {
                Err(e) => Err(Failure::Io(e.to_string())),
                Ok(()) => stat_path(&abs),
            };
            let is_dir = stat.as_ref().is_ok_and(|s| s.mode & GO_DIR != 0);
            let ok = stat.is_ok();
            let _ = stat_tx.send(stat);
            if !ok {
                return;
            }
            let mut w = io::BufWriter::with_capacity(CHUNK, ChannelWriter { tx: tx.clone() });
            let r = write_archive(&abs, is_dir, ids, &mut w).and_then(|()| w.flush());
            if let Err(e) = r {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    tracing::warn!(path = %abs, error = %e, "archive of a container path failed");
                    let _ = w.into_parts();
                    let _ = tx.blocking_send(Err(e));
                }
            }
        })?;
        let stat = stat_rx.await.map_err(|_| thread_gone())?.map_err(|f| f.into_error(path, id))?;
        self.emit_container("archive-path", &p.rec, &[]);
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx).boxed();
        Ok((stat, stream))
    }

    async fn archive_put(&self, id: &str, req: ArchivePut, body: ByteStream) -> Result<()> {
        let p = self.archive_view(id).await?;
        let path = req.path.clone();
        let readonly_rootfs = p.rec.host_config.readonly_rootfs.unwrap_or(false);
        let user = p.rec.config.user.clone().unwrap_or_default();
        let ids = p.ids.clone();
        let copy_uid_gid = req.copy_uid_gid;
        let no_overwrite = req.no_overwrite_dir_non_dir;
        let (btx, brx) = mpsc::channel::<io::Result<Bytes>>(16);
        let (tx, rx) = oneshot::channel();
        in_view(p.view, p.hold, move |entered| {
            let r = entered.map_err(|e| Failure::Io(e.to_string())).and_then(|()| {
                let reader = ChannelReader { rx: brx, current: Bytes::new() };
                put_in_view(&path, reader, readonly_rootfs, &user, copy_uid_gid, no_overwrite, ids)
            });
            let _ = tx.send(r);
        })?;
        feed_body(body, btx).await;
        rx.await.map_err(|_| thread_gone())?.map_err(|f| f.into_error(&req.path, id))?;
        self.emit_container("extract-to-dir", &p.rec, &[]);
        Ok(())
    }
}

/// The PUT, inside the container's view: resolve and check the destination, chroot into it,
/// extract.
fn put_in_view(
    path: &str,
    input: impl Read,
    readonly_rootfs: bool,
    user: &str,
    copy_uid_gid: bool,
    no_overwrite: bool,
    ids: IdMap,
) -> std::result::Result<(), Failure> {
    let abs = fs::canonicalize(clean_abs(path))?;
    let md = fs::symlink_metadata(&abs)?;
    if !md.is_dir() {
        return Err(Failure::Invalid("extraction point is not a directory".into()));
    }
    // Read-only: the root (the container's rootfs, or read-only by its config) or a volume.
    let on_root = fs::metadata("/").map(|r| r.dev() == md.dev()).unwrap_or(false);
    let ro = nix::sys::statvfs::statvfs(&abs)
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false);
    if on_root && (ro || readonly_rootfs) {
        return Err(Failure::Invalid("container rootfs is marked read-only".into()));
    }
    if ro {
        return Err(Failure::Invalid("mounted volume is marked read-only".into()));
    }
    let owners = if copy_uid_gid && !user.is_empty() {
        let passwd = fs::read_to_string("/etc/passwd").ok();
        let group = fs::read_to_string("/etc/group").ok();
        let u = berth_runtime::user::resolve(user, &[], passwd.as_deref(), group.as_deref())
            .map_err(|e| Failure::Invalid(e.to_string()))?;
        let (hu, hg) = ids.to_host(u.uid, u.gid);
        Owners::Fixed(hu, hg)
    } else {
        Owners::Archive(ids.clone())
    };
    let root = ids.to_host(0, 0);
    // A plain, gzip or zstd tar, told apart by its first bytes (dockerd takes compressed ones too).
    let (_, input) = berth_image::decompress(input).map_err(|e| Failure::Invalid(e.to_string()))?;
    nix::unistd::chroot(&abs).map_err(|e| Failure::Io(format!("chroot {}: {e}", abs.display())))?;
    std::env::set_current_dir("/")?;
    let x = Extract { dest: abs.display().to_string(), no_overwrite_dir_non_dir: no_overwrite, owners, root };
    x.run(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_clean_as_go() {
        let cases = [
            ("/etc", "/etc"),
            ("etc", "/etc"),
            ("/etc/", "/etc/"),
            ("/etc/.", "/etc/."),
            ("etc/./", "/etc/"),
            ("/a/../b", "/b"),
            ("/", "/"),
            ("", "/"),
            (".", "/."),
            ("/../..", "/"),
        ];
        for (input, want) in cases {
            assert_eq!(container_path(input), want, "{input:?}");
        }
        let bases = [("/etc", "etc"), ("/etc/", "etc"), ("/etc/.", "."), ("/", "/"), ("", "."), ("a", "a")];
        for (input, want) in bases {
            assert_eq!(go_base(input), want, "{input:?}");
        }
    }

    #[test]
    fn entry_names_stay_inside() {
        let cases: [(&[u8], Option<&[&str]>); 6] = [
            (b"a/b", Some(&["a", "b"])),
            (b"./a/", Some(&["a"])),
            (b"/etc/x", Some(&["etc", "x"])),
            (b"a/../b", Some(&["b"])),
            (b"../x", None),
            (b"./", Some(&[])),
        ];
        for (input, want) in cases {
            let got = entry_components(input).map(|v| v.into_iter().map(|c| String::from_utf8(c).unwrap()).collect::<Vec<_>>());
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn times_and_modes_read_as_go() {
        assert_eq!(go_time(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(go_time(1_700_000_000, 273_450_452), "2023-11-14T22:13:20.273450452Z");
        assert_eq!(go_time(1_700_000_000, 120_000_000), "2023-11-14T22:13:20.12Z");
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("f", tmp.path().join("l")).unwrap();
        assert_eq!(go_mode(&fs::symlink_metadata(&f).unwrap()), 0o755 | GO_SETUID);
        assert_eq!(go_mode(&fs::symlink_metadata(tmp.path()).unwrap()) & GO_DIR, GO_DIR);
        assert_eq!(go_mode(&fs::symlink_metadata(tmp.path().join("l")).unwrap()), 0o777 | GO_SYMLINK);
    }

    #[test]
    fn ids_map_both_ways() {
        let m = |c: u32, h: u32, s: u32| {
            oci_spec::runtime::LinuxIdMappingBuilder::default().container_id(c).host_id(h).size(s).build().unwrap()
        };
        let ids = IdMap { uids: vec![m(0, 100000, 65536)], gids: vec![m(0, 200000, 65536)] };
        assert_eq!(ids.to_host(0, 0), (100000, 200000));
        assert_eq!(ids.to_host(1000, 5), (101000, 200005));
        assert_eq!(ids.to_container(101000, 200005), (1000, 5));
        assert_eq!(ids.to_container(5, 5), (65534, 65534));
        assert_eq!(IdMap::default().to_host(7, 8), (7, 8));
    }
}
