//! `cp`: copy files between a container and the local filesystem (the archive API), with
//! docker's client rules (cli/command/container/cp.go and go-archive's copy.go).
//!
//! The daemon only stats, archives and extracts into a directory; which directory, and under
//! which name the copied entry lands, is decided here from both sides' stat:
//! - out of a container: `GET /containers/{id}/archive?path=SRC` gives a tar whose entries
//!   start with SRC's base name; the local destination is stat'ed (symlinks followed) and the
//!   entries renamed to the destination's base name unless it is an existing directory;
//!   extraction keeps modes and times, not owners (the files belong to whoever runs `cp`),
//!   and never replaces a directory by a non-directory or back;
//! - into a container: the destination is stat'ed with `HEAD` (a symlink is followed once),
//!   the local source archived with the same naming rules, and `PUT` extracts it into the
//!   destination or its parent. `-a` asks the daemon to give the files to the container's
//!   user; otherwise they keep their owners;
//! - `-` as source reads a tar from stdin (the destination must be a directory), as
//!   destination writes the container's tar to stdout;
//! - a trailing `/` asserts a directory, a trailing `/.` copies a directory's content;
//! - `-L` follows a symlink source.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use berth_client::{Body, Client, Request};
use clap::Args;
use tar::{EntryType, Header};

use crate::error::{ApiResult, StatusError};
use crate::format::humanize::human_size_precision;

/// Go's os.FileMode directory and symlink bits, as the path stat carries them.
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
/// Irregular types a destination may not be: device, pipe, socket, irregular.
const GO_IRREGULAR: u32 = (1 << 26) | (1 << 25) | (1 << 24) | (1 << 19);

/// `cp` flags.
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if
    /// no terminal is attached
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH DEST_PATH|- or SRC_PATH|- CONTAINER:DEST_PATH
    pub paths: Vec<String>,
}

fn fail(message: impl Into<String>) -> anyhow::Error {
    StatusError::with(1, message)
}

/// `berth cp`.
pub async fn cp(c: &Client, a: CpArgs) -> anyhow::Result<()> {
    if a.paths.len() != 2 {
        return Err(fail(
            "\"berth cp\" requires exactly 2 arguments.\nSee 'berth cp --help'.\n\nUsage:  berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH\n\nCopy files/folders between a container and the local filesystem",
        ));
    }
    if a.paths[0].is_empty() {
        return Err(fail("source can not be empty"));
    }
    if a.paths[1].is_empty() {
        return Err(fail("destination can not be empty"));
    }
    let (src_ctr, src_path) = split_cp_arg(&a.paths[0]);
    let (dst_ctr, dst_path) = split_cp_arg(&a.paths[1]);
    // As docker: without -q, progress only when stdout is a terminal.
    let quiet = a.quiet || !io::stdout().is_terminal();
    match (src_ctr, dst_ctr) {
        (Some(ctr), None) => copy_from_container(c, &ctr, &src_path, &dst_path, a.follow_link, quiet).await,
        (None, Some(ctr)) => copy_to_container(c, &ctr, &src_path, &dst_path, a.follow_link, a.archive, quiet).await,
        (Some(_), Some(_)) => Err(fail("copying between containers is not supported")),
        (None, None) => Err(fail("must specify at least one container source")),
    }
}

/// docker's `splitCpArg`: `CONTAINER:PATH`, unless the argument is an absolute path or a
/// relative one starting with `.` (so `./file:name` is local).
pub fn split_cp_arg(arg: &str) -> (Option<String>, String) {
    if arg.starts_with('/') {
        return (None, arg.to_string());
    }
    match arg.split_once(':') {
        Some((ctr, path)) if !ctr.starts_with('.') => (Some(ctr.to_string()), path.to_string()),
        _ => (None, arg.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Paths with Go's filepath rules.

/// `filepath.Clean`.
pub fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn specifies_current_dir(p: &str) -> bool {
    base(p) == "."
}

/// `filepath.Base`.
pub fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// `filepath.Dir`.
pub fn dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(&p[..=i]),
        None => ".".into(),
    }
}

/// `filepath.Join` of two parts.
fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        return clean(b);
    }
    clean(&format!("{a}/{b}"))
}

/// go-archive's `PreserveTrailingDotOrSeparator`.
pub fn preserve_trailing(cleaned: &str, original: &str) -> String {
    let mut out = cleaned.to_string();
    if !specifies_current_dir(&out) && specifies_current_dir(original) {
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

/// go-archive's `SplitPathDirEntry`: (dir, base), a trailing `/.` kept as base `.`.
pub fn split_path_dir_entry(p: &str) -> (String, String) {
    let mut cleaned = clean(p);
    if specifies_current_dir(p) {
        cleaned.push_str("/.");
    }
    (dir(&cleaned), base(&cleaned))
}

fn asserts_directory(p: &str) -> bool {
    p.ends_with('/') || specifies_current_dir(p)
}

/// go-archive's `GetRebaseName`.
pub fn get_rebase_name(path: &str, resolved: &str) -> (String, String) {
    let mut resolved = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&resolved) {
        resolved.push_str("/.");
    }
    if path.ends_with('/') && !resolved.ends_with('/') {
        resolved.push('/');
    }
    let rebase = if base(path) != base(&resolved) { base(path) } else { String::new() };
    (resolved, rebase)
}

/// An absolute local path (`filepath.Abs`), trailing `/` or `/.` kept.
fn resolve_local_path(p: &str) -> anyhow::Result<String> {
    let abs = if p.starts_with('/') {
        clean(p)
    } else {
        let cwd = std::env::current_dir()?;
        join(&cwd.to_string_lossy(), p)
    };
    Ok(preserve_trailing(&abs, p))
}

/// What one side of a copy is (go-archive's `CopyInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyInfo {
    /// The path.
    pub path: String,
    /// Whether it exists.
    pub exists: bool,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// The name the archive's entries take instead of the path's base name.
    pub rebase_name: String,
}

/// Where an archive is extracted and how its first path element is renamed (old, new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The directory to extract into.
    pub dst_dir: String,
    /// Replace the first occurrence of `.0` in every name (and hard link target) by `.1`.
    pub rename: Option<(String, String)>,
}

/// go-archive's `PrepareArchiveCopy`, minus the archive: where to extract and what to rename.
pub fn prepare_archive_copy(src: &CopyInfo, dst: &CopyInfo) -> Result<Prepared, &'static str> {
    let (dst_dir, dst_base) = split_path_dir_entry(&dst.path);
    let (_, mut src_base) = split_path_dir_entry(&src.path);
    if !src.rebase_name.is_empty() {
        src_base = src.rebase_name.clone();
    }
    if dst.exists && dst.is_dir {
        return Ok(Prepared { dst_dir: dst.path.clone(), rename: None });
    }
    if dst.exists && src.is_dir {
        return Err("cannot copy directory");
    }
    if !dst.exists && !src.is_dir && asserts_directory(&dst.path) {
        return Err("no such directory");
    }
    Ok(Prepared { dst_dir, rename: Some((src_base, dst_base)) })
}

/// go-archive's `RebaseArchiveEntries` applied to one name: the first occurrence of `old` is
/// replaced (`/` as `old` inserts `new` in front).
pub fn rebase(name: &[u8], old: &str, new: &str) -> Vec<u8> {
    let old = if old == "/" { "" } else { old };
    let ob = old.as_bytes();
    let pos = if ob.is_empty() { Some(0) } else { name.windows(ob.len()).position(|w| w == ob) };
    match pos {
        Some(i) => {
            let mut out = name[..i].to_vec();
            out.extend_from_slice(new.as_bytes());
            out.extend_from_slice(&name[i + ob.len()..]);
            out
        }
        None => name.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Local side.

/// go-archive's `CopyInfoSourcePath` (with `ResolveHostSourcePath`).
fn copy_info_source_path(path: &str, follow_link: bool) -> io::Result<CopyInfo> {
    let (resolved, rebase_name) = if follow_link {
        let r = fs::canonicalize(path)?.to_string_lossy().into_owned();
        get_rebase_name(path, &r)
    } else {
        let (d, b) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        let rd = if d.is_empty() { ".".to_string() } else { fs::canonicalize(d)?.to_string_lossy().into_owned() };
        let resolved = format!("{}/{b}", rd.trim_end_matches('/'));
        let resolved = if rd == "/" { format!("/{b}") } else { resolved };
        let rebase = if path.ends_with('/') && base(path) != base(&resolved) { base(path) } else { String::new() };
        (resolved, rebase)
    };
    let md = fs::symlink_metadata(&resolved)?;
    Ok(CopyInfo { path: resolved, exists: true, is_dir: md.is_dir(), rebase_name })
}

/// go-archive's `CopyInfoDestinationPath`: symlinks at the end are followed; a missing path
/// needs an existing parent directory.
fn copy_info_destination_path(path: &str) -> anyhow::Result<CopyInfo> {
    let original = path.to_string();
    let mut path = path.to_string();
    let mut st = fs::symlink_metadata(&path);
    let mut n = 0;
    while let Ok(md) = &st {
        if !md.file_type().is_symlink() {
            break;
        }
        n += 1;
        if n > 10 {
            return Err(fail(format!("too many symlinks in {original}")));
        }
        let target = fs::read_link(&path)?.to_string_lossy().into_owned();
        path = if target.starts_with('/') { target } else { join(&split_path_dir_entry(&path).0, &target) };
        st = fs::symlink_metadata(&path);
    }
    match st {
        Ok(md) => Ok(CopyInfo { path, exists: true, is_dir: md.is_dir(), rebase_name: String::new() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = split_path_dir_entry(&path).0;
            match fs::metadata(&parent) {
                Ok(m) if m.is_dir() => Ok(CopyInfo { path, ..CopyInfo::default() }),
                Ok(_) => Err(fail("not a directory")),
                Err(e) => Err(fail(format!("stat {parent}: {}", go_errno(&e)))),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// An OS error as Go words it (`no such file or directory`).
fn go_errno(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// docker's `ValidateOutputPath`.
fn validate_output_path(path: &str) -> anyhow::Result<()> {
    let d = dir(&clean(path));
    if d != "." && !d.is_empty() && fs::metadata(&d).is_err() {
        return Err(fail(format!("invalid output path: directory {d:?} does not exist")));
    }
    if let Ok(md) = fs::metadata(path) {
        if !md.is_dir() && !md.is_file() {
            return Err(fail(format!("invalid output path: {path:?} must be a directory or a regular file")));
        }
    }
    Ok(())
}

/// A tar of `src` as go-archive's `TarResource` makes it: entries named from the source's
/// base name (or its rebase name), numeric owners, hard links within the archive.
fn write_local_tar(src: &CopyInfo, out: impl Write) -> io::Result<()> {
    let (source_dir, source_base) = split_path_dir_entry(&src.path);
    let mut w = LocalTar { b: tar::Builder::new(out), links: HashMap::new() };
    let root = join(&source_dir, &source_base);
    let rename = |rel: &str| -> Vec<u8> {
        let name = if source_base == "." && rel != "." { format!("./{rel}") } else { rel.to_string() };
        if src.rebase_name.is_empty() {
            name.into_bytes()
        } else {
            let replacement = if src.rebase_name == "/" { "" } else { src.rebase_name.as_str() };
            rebase(name.as_bytes(), &source_base, replacement)
        }
    };
    let root_rel = if source_base == "." { ".".to_string() } else { source_base.clone() };
    let md = fs::symlink_metadata(&root)?;
    w.entry(&rename(&root_rel), Path::new(&root), &md)?;
    if md.is_dir() {
        w.walk(Path::new(&root), &root_rel, &rename)?;
    }
    w.b.into_inner()?.flush()
}

struct LocalTar<W: Write> {
    b: tar::Builder<W>,
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> LocalTar<W> {
    fn walk(&mut self, d: &Path, rel: &str, rename: &dyn Fn(&str) -> Vec<u8>) -> io::Result<()> {
        let mut names: Vec<std::ffi::OsString> = fs::read_dir(d)?.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            let p = d.join(&n);
            let Ok(md) = fs::symlink_metadata(&p) else { continue };
            let r = if rel == "." { n.to_string_lossy().into_owned() } else { format!("{rel}/{}", n.to_string_lossy()) };
            self.entry(&rename(&r), &p, &md)?;
            if md.is_dir() {
                self.walk(&p, &r, rename)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, name: &[u8], abs: &Path, md: &Metadata) -> io::Result<()> {
        let ft = md.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let mut h = Header::new_gnu();
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid() as u64);
        h.set_gid(md.gid() as u64);
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_size(0);
        let mut name = name.to_vec();
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = self.links.get(&(md.dev(), md.ino())).cloned() {
                h.set_entry_type(EntryType::Link);
                return append_raw(&mut self.b, h, &name, Some(&first), io::empty());
            }
            self.links.insert((md.dev(), md.ino()), name.clone());
        }
        if ft.is_file() {
            h.set_entry_type(EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(abs)?;
            let data = f.take(md.len()).chain(io::repeat(0)).take(md.len());
            append_raw(&mut self.b, h, &name, None, data)
        } else if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            if !name.ends_with(b"/") {
                name.push(b'/');
            }
            append_raw(&mut self.b, h, &name, None, io::empty())
        } else if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let t = fs::read_link(abs)?;
            append_raw(&mut self.b, h, &name, Some(t.as_os_str().as_bytes()), io::empty())
        } else {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            h.set_entry_type(kind);
            if kind != EntryType::Fifo {
                let dev = md.rdev() as libc::dev_t;
                h.set_device_major(libc::major(dev))?;
                h.set_device_minor(libc::minor(dev))?;
            }
            append_raw(&mut self.b, h, &name, None, io::empty())
        }
    }
}

/// Append `h` named by raw bytes (`./x` kept as written), GNU long-name records as needed.
fn append_raw<W: Write>(b: &mut tar::Builder<W>, mut h: Header, name: &[u8], link: Option<&[u8]>, data: impl Read) -> io::Result<()> {
    let mut long = |kind: EntryType, value: &[u8]| -> io::Result<()> {
        let mut lh = Header::new_gnu();
        lh.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        lh.set_entry_type(kind);
        lh.set_mode(0o644);
        lh.set_uid(0);
        lh.set_gid(0);
        lh.set_mtime(0);
        lh.set_size(value.len() as u64 + 1);
        lh.set_cksum();
        let mut d = value.to_vec();
        d.push(0);
        b.append(&lh, &d[..])
    };
    if name.len() > 100 {
        long(EntryType::GNULongName, name)?;
    }
    if let Some(l) = link.filter(|l| l.len() > 100) {
        long(EntryType::GNULongLink, l)?;
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
    b.append(&h, data)
}

/// go-archive's `Untar` with `NoLchown` and `NoOverwriteDirNonDir`, into the local
/// directory `dest`, renaming entries per `rename`. Nothing is written outside `dest`: names
/// climbing out are refused, and no entry is written through a symlink.
fn untar_local(input: impl Read, dest: &str, rename: Option<&(String, String)>) -> anyhow::Result<()> {
    let mut ar = tar::Archive::new(input);
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in ar.entries()? {
        let mut e = entry?;
        let mut kind = e.header().entry_type();
        let raw = e.path_bytes().into_owned();
        if e.header().as_old().linkflag[0] == 0 && raw.ends_with(b"/") {
            kind = EntryType::Directory;
        }
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink) {
            continue;
        }
        let name = match rename {
            Some((old, new)) => rebase(&raw, old, new),
            None => raw.clone(),
        };
        let shown = String::from_utf8_lossy(&name).into_owned();
        let Some(comps) = components(&name) else {
            return Err(fail(format!("{shown:?} is outside of {dest:?}")));
        };
        if comps.is_empty() {
            continue;
        }
        let mode = e.header().mode().unwrap_or(0o644) & 0o7777;
        let mtime = e.header().mtime().unwrap_or(0);
        let parent = safe_dir(dest, &comps[..comps.len() - 1], &shown)?;
        let path = parent.join(OsStr::from_bytes(&comps[comps.len() - 1]));
        let existing = fs::symlink_metadata(&path).ok();
        if let Some(md) = &existing {
            let new_dir = kind == EntryType::Directory;
            let shown_path = path.display().to_string();
            if md.is_dir() && !new_dir {
                return Err(fail(format!("cannot overwrite directory {shown_path:?} with non-directory {dest:?}")));
            }
            if !md.is_dir() && new_dir {
                return Err(fail(format!("cannot overwrite non-directory {shown_path:?} with directory {dest:?}")));
            }
            if !md.is_dir() {
                fs::remove_file(&path)?;
            }
        }
        match kind {
            EntryType::Directory => {
                if existing.is_none() {
                    fs::DirBuilder::new().mode(0o700).create(&path)?;
                }
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&path)?;
                io::copy(&mut e, &mut f)?;
            }
            EntryType::Symlink => {
                let t = e.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                std::os::unix::fs::symlink(OsStr::from_bytes(&t), &path)?;
            }
            EntryType::Link => {
                let t = e.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                let t = match rename {
                    Some((old, new)) => rebase(&t, old, new),
                    None => t,
                };
                let tc = components(&t).filter(|c| !c.is_empty()).ok_or_else(|| fail(format!("invalid hardlink {shown:?}")))?;
                let tdir = safe_dir(dest, &tc[..tc.len() - 1], &shown)?;
                fs::hard_link(tdir.join(OsStr::from_bytes(&tc[tc.len() - 1])), &path)?;
            }
            EntryType::Fifo | EntryType::Char | EntryType::Block => {
                let fmt = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = e.header().device_major().ok().flatten().unwrap_or(0);
                let minor = e.header().device_minor().ok().flatten().unwrap_or(0);
                nix::sys::stat::mknod(&path, nix::sys::stat::SFlag::from_bits_truncate(fmt), nix::sys::stat::Mode::from_bits_truncate(mode), libc::makedev(major, minor))?;
            }
            other => return Err(fail(format!("unhandled tar header type {}", other.as_byte()))),
        }
        if kind != EntryType::Symlink && kind != EntryType::Link {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
        if kind == EntryType::Directory {
            dir_times.push((path, mtime));
        } else if kind != EntryType::Link {
            let t = nix::sys::time::TimeSpec::new(mtime as i64, 0);
            let _ = nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, &path, &t, &t, nix::sys::stat::UtimensatFlags::NoFollowSymlink);
        }
    }
    for (p, t) in dir_times.iter().rev() {
        let ts = nix::sys::time::TimeSpec::new(*t as i64, 0);
        let _ = nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, p, &ts, &ts, nix::sys::stat::UtimensatFlags::NoFollowSymlink);
    }
    Ok(())
}

/// Entry name components; `None` when the name climbs above the root.
fn components(name: &[u8]) -> Option<Vec<Vec<u8>>> {
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

/// The directory `dest/comps...`, created (0755) where missing, refusing symlinks on the way.
fn safe_dir(dest: &str, comps: &[Vec<u8>], shown: &str) -> anyhow::Result<PathBuf> {
    let mut p = PathBuf::from(dest);
    for c in comps {
        p.push(OsStr::from_bytes(c));
        match fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => return Err(fail(format!("cannot extract {shown:?}: {} is not a directory", p.display()))),
            Err(_) => fs::DirBuilder::new().mode(0o755).create(&p)?,
        }
    }
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// The two directions.

/// The daemon's stat of `path` in `ctr` (`HEAD .../archive`).
async fn stat_path(c: &Client, ctr: &str, path: &str) -> Result<(u32, i64, String), bollard::errors::Error> {
    let opts = bollard::query_parameters::ContainerArchiveInfoOptions { path: path.to_string() };
    let s = c.docker().get_container_archive_info(ctr, Some(opts)).await?;
    Ok((s.file_mode, s.size, s.link_target))
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// A response body as a blocking reader (fed by a task).
struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => {
                    self.cur = b;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

async fn copy_from_container(c: &Client, ctr: &str, src: &str, dst: &str, follow_link: bool, quiet: bool) -> anyhow::Result<()> {
    let dst_path = if dst == "-" { dst.to_string() } else { resolve_local_path(dst)? };
    validate_output_path(&dst_path)?;
    let mut src_path = src.to_string();
    let mut rebase_name = String::new();
    if follow_link {
        if let Ok((mode, _, target)) = stat_path(c, ctr, &src_path).await {
            if mode & GO_SYMLINK != 0 {
                let target = if target.starts_with('/') { target } else { join(&split_path_dir_entry(&src_path).0, &target) };
                let (t, r) = get_rebase_name(&src_path, &target);
                src_path = t;
                rebase_name = r;
            }
        }
    }
    // Stat first (a GET of a stopped container holds it until read), then the archive; a
    // failed stat is reported with the GET's message, which has dockerd's words.
    let stat = stat_path(c, ctr, &src_path).await;
    let req = Request::new("GET", format!("/containers/{ctr}/archive")).query("path", src_path.clone());
    let mode = match stat {
        Ok((m, _, _)) => m,
        Err(e) => {
            c.send(req).await.api()?;
            return Err(e).api();
        }
    };
    let mut body = c.send(req).await.api()?.body;
    if dst_path == "-" {
        let mut out = io::stdout().lock();
        while let Some(chunk) = body.chunk().await {
            out.write_all(&chunk.api()?)?;
        }
        out.flush()?;
        return Ok(());
    }
    let src_info = CopyInfo { path: src_path.clone(), exists: true, is_dir: mode & GO_DIR != 0, rebase_name: rebase_name.clone() };
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(8);
    let count = Arc::new(AtomicU64::new(0));
    let n = count.clone();
    let dst2 = dst_path.clone();
    let work = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let reader = Counting { inner: BodyReader { rx, cur: Vec::new(), pos: 0 }, n };
        let dst_info = copy_info_destination_path(&dst2)?;
        let mut src_info = src_info;
        // RebaseArchiveEntries for -L, then PrepareArchiveCopy's renaming on top.
        let pre = if src_info.rebase_name.is_empty() {
            None
        } else {
            let (_, b) = split_path_dir_entry(&src_info.path);
            Some((b, src_info.rebase_name.clone()))
        };
        if pre.is_some() {
            src_info.path = join(&split_path_dir_entry(&src_info.path).0, &src_info.rebase_name);
            src_info.rebase_name.clear();
        }
        let prepared = prepare_archive_copy(&src_info, &dst_info).map_err(fail)?;
        let rename = match (pre, prepared.rename) {
            (None, r) => r,
            (Some(p), None) => Some(p),
            (Some((old, _)), Some((_, new))) => Some((old, new)),
        };
        let mut reader = reader;
        untar_local(&mut reader, &prepared.dst_dir, rename.as_ref())?;
        // The rest (the end-of-archive blocks) counts too, as docker counts it.
        io::copy(&mut reader, &mut io::sink())?;
        Ok(())
    });
    while let Some(chunk) = body.chunk().await {
        let item = chunk.map_err(|e| io::Error::other(e.to_string()));
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    work.await??;
    if !quiet {
        // docker 28 reports the bytes of the archive it read.
        eprintln!("Successfully copied {} to {dst_path}", human_size_precision(count.load(Ordering::Relaxed) as f64, 3));
    }
    Ok(())
}

async fn copy_to_container(c: &Client, ctr: &str, src: &str, dst: &str, follow_link: bool, archive: bool, quiet: bool) -> anyhow::Result<()> {
    let src_path = if src == "-" { src.to_string() } else { resolve_local_path(src)? };
    let mut dst_info = CopyInfo { path: dst.to_string(), ..CopyInfo::default() };
    if let Ok((mut mode, _, target)) = stat_path(c, ctr, dst).await {
        let mut ok = true;
        if mode & GO_SYMLINK != 0 {
            let t = if target.starts_with('/') { target } else { join(&split_path_dir_entry(dst).0, &target) };
            dst_info.path = t.clone();
            match stat_path(c, ctr, &t).await {
                Ok((m, _, _)) => mode = m,
                Err(_) => ok = false,
            }
        }
        if ok {
            if mode & GO_IRREGULAR != 0 {
                return Err(fail(format!("destination \"{ctr}:{dst}\" must be a directory or a regular file")));
            }
            dst_info.exists = true;
            dst_info.is_dir = mode & GO_DIR != 0;
        }
    }
    let mut req = Request::new("PUT", format!("/containers/{ctr}/archive")).query("noOverwriteDirNonDir", "true");
    if archive {
        req = req.query("copyUIDGID", "true");
    }
    let count = Arc::new(AtomicU64::new(0));
    let (reader, resolved_dst): (std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>, String) = if src_path == "-" {
        if !dst_info.is_dir {
            return Err(fail(format!("destination \"{ctr}:{dst}\" must be a directory")));
        }
        (Box::pin(tokio::io::stdin()), dst_info.path.clone())
    } else {
        let src_info = copy_info_source_path(&src_path, follow_link).map_err(|e| fail(format!("lstat {src_path}: {}", go_errno(&e))))?;
        let prepared = prepare_archive_copy(&src_info, &dst_info).map_err(fail)?;
        let (r, w) = io::pipe()?;
        let n = count.clone();
        let rename = prepared.rename.clone();
        std::thread::spawn(move || {
            struct CountW<W> {
                inner: W,
                n: Arc<AtomicU64>,
            }
            impl<W: Write> Write for CountW<W> {
                fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                    let k = self.inner.write(b)?;
                    self.n.fetch_add(k as u64, Ordering::Relaxed);
                    Ok(k)
                }
                fn flush(&mut self) -> io::Result<()> {
                    self.inner.flush()
                }
            }
            let mut info = src_info;
            if let Some((_, new)) = rename {
                // PrepareArchiveCopy renames the archive's first element to the
                // destination's name: the same as archiving under that rebase name.
                info.rebase_name = new;
            }
            let w = io::BufWriter::with_capacity(64 * 1024, CountW { inner: w, n });
            let _ = write_local_tar(&info, w);
        });
        let f = tokio::fs::File::from_std(fs::File::from(std::os::fd::OwnedFd::from(r)));
        (Box::pin(f), prepared.dst_dir)
    };
    let req = req.query("path", resolved_dst).body(Body::Stream { content_type: "application/x-tar".into(), reader });
    c.send(req).await.api()?.body.bytes().await.api()?;
    if !quiet {
        // docker 28 reports the bytes of the archive it sent (none counted from stdin).
        eprintln!("Successfully copied {} to {ctr}:{}", human_size_precision(count.load(Ordering::Relaxed) as f64, 3), dst_info.path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_as_docker() {
        let cases: [(&str, Option<&str>, &str); 6] = [
            ("c:/etc", Some("c"), "/etc"),
            ("/tmp/a:b", None, "/tmp/a:b"),
            ("./a:b", None, "./a:b"),
            ("file", None, "file"),
            ("c:", Some("c"), ""),
            ("host0/c:x", Some("host0/c"), "x"),
        ];
        for (arg, ctr, path) in cases {
            assert_eq!(split_cp_arg(arg), (ctr.map(str::to_string), path.to_string()), "{arg}");
        }
    }

    #[test]
    fn paths_follow_go() {
        let cleans = [("/a/./b/../c/", "/a/c"), ("a/..", "."), ("", "."), ("../x", "../x"), ("/..", "/")];
        for (i, w) in cleans {
            assert_eq!(clean(i), w, "{i}");
        }
        let splits = [("/a/b", ("/a", "b")), ("/a/b/", ("/a", "b")), ("/a/b/.", ("/a/b", ".")), ("/", ("/", "/")), ("b", (".", "b"))];
        for (i, (d, b)) in splits {
            assert_eq!(split_path_dir_entry(i), (d.to_string(), b.to_string()), "{i}");
        }
        let keeps = [("/a", "x/", "/a/"), ("/a", "x/.", "/a/."), ("/", "/.", "/."), ("/a", "x", "/a")];
        for (c, o, w) in keeps {
            assert_eq!(preserve_trailing(c, o), w, "{c} {o}");
        }
        assert_eq!(get_rebase_name("/l/", "/t"), ("/t/".to_string(), "l".to_string()));
        assert_eq!(get_rebase_name("/l", "/x/l"), ("/x/l".to_string(), String::new()));
    }

    #[test]
    fn archive_copies_prepare_as_go_archive() {
        let info = |p: &str, exists: bool, is_dir: bool| CopyInfo { path: p.into(), exists, is_dir, rebase_name: String::new() };
        let ren = |d: &str, o: &str, n: &str| Ok(Prepared { dst_dir: d.into(), rename: Some((o.into(), n.into())) });
        let cases = [
            // Into an existing directory: as is.
            (info("/s/dir", true, true), info("/d", true, true), Ok(Prepared { dst_dir: "/d".into(), rename: None })),
            // A directory onto a file.
            (info("/s/dir", true, true), info("/d/f", true, false), Err("cannot copy directory")),
            // A file onto a file: renamed.
            (info("/s/f", true, false), info("/d/g", true, false), ren("/d", "f", "g")),
            // A directory to a new name.
            (info("/s/dir", true, true), info("/d/new", false, false), ren("/d", "dir", "new")),
            // A file to a new directory name.
            (info("/s/f", true, false), info("/d/new/", false, false), Err("no such directory")),
            // A file to a new file.
            (info("/s/f", true, false), info("/d/new", false, false), ren("/d", "f", "new")),
            // A directory's content.
            (info("/s/dir/.", true, true), info("/d/new", false, false), ren("/d", ".", "new")),
        ];
        for (s, d, want) in cases {
            assert_eq!(prepare_archive_copy(&s, &d), want, "{s:?} -> {d:?}");
        }
    }

    #[test]
    fn rebasing_replaces_the_first_occurrence() {
        let cases = [("dir/a", "dir", "new", "new/a"), ("./a", ".", "x", "x/a"), ("/a", "/", "x", "x/a"), ("f", "f", "g", "g"), ("zz", "dir", "n", "zz")];
        for (name, old, new, want) in cases {
            assert_eq!(String::from_utf8(rebase(name.as_bytes(), old, new)).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn a_local_tree_round_trips_through_tar() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("f"), "hello").unwrap();
        fs::set_permissions(src.join("f"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::hard_link(src.join("f"), src.join("sub/h")).unwrap();
        std::os::unix::fs::symlink("../f", src.join("sub/l")).unwrap();
        let info = copy_info_source_path(&src.display().to_string(), false).unwrap();
        let mut tarball = Vec::new();
        write_local_tar(&info, &mut tarball).unwrap();
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        untar_local(&tarball[..], &out.display().to_string(), Some(&("src".into(), "copy".into()))).unwrap();
        let c = out.join("copy");
        assert_eq!(fs::read_to_string(c.join("f")).unwrap(), "hello");
        assert_eq!(fs::metadata(c.join("f")).unwrap().mode() & 0o777, 0o640);
        assert_eq!(fs::metadata(c.join("f")).unwrap().ino(), fs::metadata(c.join("sub/h")).unwrap().ino());
        assert_eq!(fs::read_link(c.join("sub/l")).unwrap(), Path::new("../f"));
        // A second copy into the same place may not replace a directory by a file.
        let mut one = Vec::new();
        let finfo = copy_info_source_path(&src.join("f").display().to_string(), false).unwrap();
        write_local_tar(&finfo, &mut one).unwrap();
        let err = untar_local(&one[..], &c.display().to_string(), Some(&("f".into(), "sub".into()))).unwrap_err();
        assert!(err.to_string().contains("cannot overwrite directory"), "{err}");
        // Names climbing out are refused.
        let mut evil = Vec::new();
        {
            let mut b = tar::Builder::new(&mut evil);
            let mut h = Header::new_gnu();
            h.set_entry_type(EntryType::Regular);
            h.set_size(1);
            h.set_mode(0o644);
            append_raw(&mut b, h, b"../escape", None, &b"x"[..]).unwrap();
            b.finish().unwrap();
        }
        assert!(untar_local(&evil[..], &c.display().to_string(), None).is_err());
        assert!(!tmp.path().join("out/escape").exists());
    }
}
