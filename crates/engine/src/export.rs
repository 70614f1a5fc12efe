//! `docker export`: a tar of a container's whole filesystem; and `docker diff`: what the
//! container changed ([`changes`]).
//!
//! The merged root filesystem is only mounted inside the container's own mount namespace
//! (and not at all when it is stopped), so the merge is done here, in user space, the way
//! overlayfs does it: the directories are walked together, top layer first (the container's
//! upper directory, then the image's layers top-down). For every name the topmost layer that
//! has it decides: a whiteout (a 0:0 character device) deletes it; a non-directory is the
//! entry; a directory is merged with the same directory of the layers below, down to the
//! first layer where it is opaque (`trusted.overlay.opaque=y`) or is not a directory.
//!
//! This needs no mount, no namespace and no privilege beyond reading the layers, works the
//! same for running and stopped containers, and gives a deterministic archive: entries in
//! byte order of their names, no root entry (as dockerd's), numeric owners, whole-second
//! mtimes, hard links (within a layer) as links to the first path written, xattrs as PAX
//! `SCHILY.xattr.*` records (overlay's own `trusted.overlay.*` left out). Sockets are skipped.
//! A file that changes while a running container is exported is cut or zero-padded to the
//! size its header announced; one that disappears is left out.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use berth_image::tarfmt;
use tar::EntryType;

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";

/// The paths a runtime creates as mount points (dockerd's init layer holds them, so they are
/// never a container's change): left out of [`changes`], their directories count as existing.
pub(crate) const INIT_PATHS: [&str; 10] = [
    "dev/pts",
    "dev/shm",
    "dev/console",
    "proc",
    "sys",
    ".dockerenv",
    "etc/resolv.conf",
    "etc/hosts",
    "etc/hostname",
    "etc/mtab",
];

/// What happened to a path (`docker diff`'s C, A, D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// `C`: it existed below and differs.
    Modified,
    /// `A`: new.
    Added,
    /// `D`: deleted (a whiteout).
    Deleted,
}

/// What the overlay upper directory `upper` changes over `lowers` (top first), as `docker
/// diff` lists it: paths from the root, in walk order (a directory before its entries).
///
/// A whiteout is a deletion; anything else is an addition unless the lower layers show the
/// path, then a modification. A directory that exists below is listed only when something
/// inside it changed or its mode or owner did (copy-up and mount points touch its mtime).
/// The runtime's mount points ([`INIT_PATHS`]) are not changes, and their parent directories
/// count as existing.
pub(crate) fn changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<(String, Change)>> {
    let mut out = Vec::new();
    if upper.is_dir() {
        changes_in(upper, Path::new(""), lowers, &mut out)?;
    }
    Ok(out)
}

fn changes_in(upper: &Path, rel: &Path, lowers: &[PathBuf], out: &mut Vec<(String, Change)>) -> io::Result<()> {
    let dir = upper.join(rel);
    let mut names: Vec<std::ffi::OsString> = match fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ctx("read", &dir)(e)),
    };
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let r = rel.join(&name);
        let text = r.to_string_lossy();
        if INIT_PATHS.contains(&text.as_ref()) {
            continue;
        }
        let p = upper.join(&r);
        let md = match fs::symlink_metadata(&p) {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ctx("stat", &p)(e)),
        };
        let shown = format!("/{text}");
        if is_whiteout(&md) {
            out.push((shown, Change::Deleted));
            continue;
        }
        let below = lower_metadata(lowers, &r)?;
        let init_parent = INIT_PATHS.iter().any(|i| Path::new(i).starts_with(&r));
        if !md.is_dir() {
            out.push((shown, if below.is_some() { Change::Modified } else { Change::Added }));
            continue;
        }
        let mut inner = Vec::new();
        changes_in(upper, &r, lowers, &mut inner)?;
        let existed = below.as_ref().is_some_and(Metadata::is_dir) || (below.is_none() && init_parent);
        if !existed {
            out.push((shown, if below.is_some() { Change::Modified } else { Change::Added }));
        } else {
            let attrs = below
                .as_ref()
                .is_some_and(|b| (b.mode(), b.uid(), b.gid()) != (md.mode(), md.uid(), md.gid()));
            if attrs || !inner.is_empty() || is_opaque(&p)? {
                out.push((shown, Change::Modified));
            }
        }
        out.extend(inner);
    }
    Ok(())
}

/// What the lower layers (top first) show at `rel`, with overlayfs' rules: a whiteout or a
/// non-directory on the way hides everything below it, an opaque directory the layers below.
fn lower_metadata(lowers: &[PathBuf], rel: &Path) -> io::Result<Option<Metadata>> {
    for layer in lowers {
        let mut stop = false;
        let mut prefix = PathBuf::new();
        let comps: Vec<_> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            prefix.push(c);
            let p = layer.join(&prefix);
            let md = match fs::symlink_metadata(&p) {
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(ctx("stat", &p)(e)),
            };
            if is_whiteout(&md) {
                return Ok(None);
            }
            if i + 1 == comps.len() {
                return Ok(Some(md));
            }
            if !md.is_dir() {
                return Ok(None);
            }
            if is_opaque(&p)? {
                stop = true;
            }
        }
        if stop {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Write the tar of the union of `layers` (top first) to `out`.
pub(crate) fn write_merged_tar(layers: &[PathBuf], out: impl Write) -> io::Result<()> {
    let mut w = Merger { b: tar::Builder::new(out), links: HashMap::new() };
    let roots: Vec<PathBuf> = layers.iter().filter(|l| l.is_dir()).cloned().collect();
    w.walk(Path::new(""), &roots)?;
    w.b.into_inner()?.flush()
}

/// What the topmost layer having a name says about it.
enum Found {
    /// Deleted.
    Whiteout,
    /// A file, link, device or fifo: this one.
    Other(PathBuf, Metadata),
    /// A directory: its metadata comes from the topmost, its content from `sources`, which
    /// stop growing once `closed` (opaque, or a lower layer has a non-directory there).
    Dir { md: Metadata, sources: Vec<PathBuf>, closed: bool },
}

struct Merger<W: Write> {
    b: tar::Builder<W>,
    /// (dev, ino) of files with several links -> the first path written.
    links: HashMap<(u64, u64), PathBuf>,
}

fn ctx(what: &str, p: &Path) -> impl FnOnce(io::Error) -> io::Error {
    let msg = format!("{what} {}", p.display());
    move |e| io::Error::new(e.kind(), format!("{msg}: {e}"))
}

fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

impl<W: Write> Merger<W> {
    /// Write the entries of directory `rel`, whose content lives in `sources` (top first).
    fn walk(&mut self, rel: &Path, sources: &[PathBuf]) -> io::Result<()> {
        let mut found: BTreeMap<Vec<u8>, Found> = BTreeMap::new();
        for src in sources {
            let rd = match fs::read_dir(src) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ctx("read", src)(e)),
            };
            for e in rd {
                let e = e.map_err(ctx("read", src))?;
                let name = e.file_name();
                let p = src.join(&name);
                let md = match fs::symlink_metadata(&p) {
                    Ok(md) => md,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(ctx("stat", &p)(e)),
                };
                match found.get_mut(name.as_bytes()) {
                    Some(Found::Dir { sources, closed, .. }) if !*closed => {
                        if md.is_dir() {
                            *closed = is_opaque(&p)?;
                            sources.push(p);
                        } else {
                            *closed = true;
                        }
                    }
                    Some(_) => {}
                    None => {
                        let f = if is_whiteout(&md) {
                            Found::Whiteout
                        } else if md.is_dir() {
                            Found::Dir { closed: is_opaque(&p)?, md, sources: vec![p] }
                        } else {
                            Found::Other(p, md)
                        };
                        found.insert(name.as_bytes().to_vec(), f);
                    }
                }
            }
        }
        for (name, f) in found {
            let r = rel.join(OsStr::from_bytes(&name));
            match f {
                Found::Whiteout => {}
                Found::Other(p, md) => self.entry(&r, &p, &md)?,
                Found::Dir { md, sources, .. } => {
                    self.entry(&r, &sources[0], &md)?;
                    self.walk(&r, &sources)?;
                }
            }
        }
        Ok(())
    }

    fn entry(&mut self, rel: &Path, abs: &Path, md: &Metadata) -> io::Result<()> {
        let ft = md.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let records: Vec<(String, Vec<u8>)> = list_xattrs(abs)?
            .into_iter()
            .filter(|(k, _)| !k.starts_with(OVERLAY_XATTR_PREFIX))
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
            .collect();
        let mode = md.mode() & 0o7777;
        let werr = ctx("write tar entry", rel);
        if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = self.links.get(&(md.dev(), md.ino())).cloned() {
                    self.pax(&records)?;
                    let mut h = tarfmt::header(md, EntryType::Link, mode);
                    return self.b.append_link(&mut h, rel, &first).map_err(werr);
                }
            }
            let f = match fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(abs) {
                Ok(f) => f,
                // Removed by a running container meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(ctx("open", abs)(e)),
            };
            if md.nlink() > 1 {
                self.links.insert((md.dev(), md.ino()), rel.to_path_buf());
            }
            self.pax(&records)?;
            let mut h = tarfmt::header(md, EntryType::Regular, mode);
            h.set_size(md.len());
            // Exactly the announced size, even if the file changes under us.
            let data = f.take(md.len()).chain(io::repeat(0)).take(md.len());
            self.b.append_data(&mut h, rel, data).map_err(werr)
        } else if ft.is_dir() {
            self.pax(&records)?;
            let mut h = tarfmt::header(md, EntryType::Directory, mode);
            self.b.append_data(&mut h, rel, io::empty()).map_err(werr)
        } else if ft.is_symlink() {
            let target = match fs::read_link(abs) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(ctx("readlink", abs)(e)),
            };
            self.pax(&records)?;
            let mut h = tarfmt::header(md, EntryType::Symlink, mode);
            self.b.append_link(&mut h, rel, &target).map_err(werr)
        } else {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            self.pax(&records)?;
            let mut h = tarfmt::header(md, kind, mode);
            if kind != EntryType::Fifo {
                let dev = md.rdev() as libc::dev_t;
                h.set_device_major(libc::major(dev))?;
                h.set_device_minor(libc::minor(dev))?;
            }
            self.b.append_data(&mut h, rel, io::empty()).map_err(werr)
        }
    }

    /// A PAX extended header for the next entry.
    fn pax(&mut self, records: &[(String, Vec<u8>)]) -> io::Result<()> {
        let Some((mut h, data)) = tarfmt::pax_header(records) else { return Ok(()) };
        self.b.append_data(&mut h, tarfmt::PAX_NAME, &data[..])
    }
}



/// Whether overlayfs reads directory `p` of a layer as opaque.
fn is_opaque(p: &Path) -> io::Result<bool> {
    let v = tarfmt::get_xattr(p, OPAQUE_XATTR).map_err(ctx("read xattr of", p))?;
    Ok(v.as_deref() == Some(b"y"))
}

/// The xattrs of `p` (not following a final symlink), sorted by name.
fn list_xattrs(p: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    tarfmt::list_xattrs(p).map_err(ctx("read xattrs of", p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::fs::PermissionsExt;

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn write(p: &Path, data: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    fn cpath(p: &Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).unwrap()
    }

    fn whiteout(p: &Path) {
        let c = cpath(p);
        // SAFETY: valid path.
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) }, 0, "mknod {}", p.display());
    }

    fn opaque(p: &Path) {
        let (c, n) = (cpath(p), CString::new(OPAQUE_XATTR).unwrap());
        // SAFETY: valid strings and a one-byte value.
        let r = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        assert_eq!(r, 0, "setxattr {}: {}", p.display(), io::Error::last_os_error());
    }

    /// (path, kind, content or link target) of every entry, in order.
    fn entries(tar: &[u8]) -> Vec<(String, char, String)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                let kind = match e.header().entry_type() {
                    EntryType::Directory => 'd',
                    EntryType::Symlink => 'l',
                    EntryType::Link => 'h',
                    EntryType::Regular => 'f',
                    EntryType::Char => 'c',
                    _ => '?',
                };
                let extra = match kind {
                    'l' | 'h' => e.link_name().unwrap().unwrap().display().to_string(),
                    _ => {
                        let mut s = String::new();
                        e.read_to_string(&mut s).unwrap();
                        s
                    }
                };
                (path, kind, extra)
            })
            .collect()
    }

    #[test]
    fn layers_merge_as_overlayfs_shows_them() {
        if !is_root() {
            eprintln!("SKIP layers_merge_as_overlayfs_shows_them: whiteouts and trusted xattrs need root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (upper, top, bottom) = (tmp.path().join("upper"), tmp.path().join("l2"), tmp.path().join("l1"));
        // The image's bottom layer.
        write(&bottom.join("bin/sh"), "shell");
        write(&bottom.join("etc/passwd"), "root");
        write(&bottom.join("etc/group"), "root");
        write(&bottom.join("opt/old/a"), "a");
        write(&bottom.join("var/x"), "x");
        write(&bottom.join("data"), "a file below");
        fs::hard_link(bottom.join("bin/sh"), bottom.join("bin/ash")).unwrap();
        std::os::unix::fs::symlink("sh", bottom.join("bin/link")).unwrap();
        // The top layer: replaces opt/ as a whole, deletes var/x, a dir over a file.
        write(&top.join("opt/new/b"), "b");
        opaque(&top.join("opt"));
        fs::create_dir_all(top.join("var")).unwrap();
        whiteout(&top.join("var/x"));
        write(&top.join("data/inside"), "now a dir");
        // The container: changes a file, deletes one, adds one.
        write(&upper.join("etc/passwd"), "root\nme");
        whiteout(&upper.join("etc/group"));
        write(&upper.join("new"), "hello");
        fs::set_permissions(upper.join("new"), fs::Permissions::from_mode(0o600)).unwrap();

        let mut out = Vec::new();
        write_merged_tar(&[upper.clone(), top, bottom, tmp.path().join("missing")], &mut out).unwrap();
        let got = entries(&out);
        let s = |p: &str, k: char, x: &str| (p.to_string(), k, x.to_string());
        assert_eq!(
            got,
            vec![
                s("bin", 'd', ""),
                s("bin/ash", 'f', "shell"),
                s("bin/link", 'l', "sh"),
                s("bin/sh", 'h', "bin/ash"),
                s("data", 'd', ""),
                s("data/inside", 'f', "now a dir"),
                s("etc", 'd', ""),
                s("etc/passwd", 'f', "root\nme"),
                s("new", 'f', "hello"),
                s("opt", 'd', ""),
                s("opt/new", 'd', ""),
                s("opt/new/b", 'f', "b"),
                s("var", 'd', ""),
            ]
        );
        let mut a = tar::Archive::new(&out[..]);
        let new = a.entries().unwrap().map(|e| e.unwrap()).find(|e| e.path().unwrap() == Path::new("new")).unwrap();
        assert_eq!(new.header().mode().unwrap(), 0o600);
        // Overlay's own xattrs are not exported.
        assert!(!String::from_utf8_lossy(&out).contains("trusted.overlay"));
    }

    #[test]
    fn changes_list_what_the_container_did_as_docker_diff() {
        if !is_root() {
            eprintln!("SKIP changes_list_what_the_container_did_as_docker_diff: whiteouts and trusted xattrs need root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (upper, top, bottom) = (tmp.path().join("upper"), tmp.path().join("l2"), tmp.path().join("l1"));
        write(&bottom.join("etc/passwd"), "root");
        write(&bottom.join("etc/group"), "root");
        write(&bottom.join("opt/a"), "a");
        write(&bottom.join("srv/old"), "old");
        write(&bottom.join("gone"), "x");
        write(&top.join("srv/new"), "new");
        opaque(&top.join("srv"));
        whiteout(&top.join("gone"));
        let cases: Vec<(&str, Vec<(&str, Change)>)> = vec![
            ("nothing", vec![]),
            ("a new file", vec![("/made.txt", Change::Added)]),
            ("mount points only", vec![]),
            ("a changed file", vec![("/etc", Change::Modified), ("/etc/passwd", Change::Modified)]),
            ("a deleted file", vec![("/etc", Change::Modified), ("/etc/group", Change::Deleted)]),
            ("a new dir", vec![("/new", Change::Added), ("/new/f", Change::Added)]),
            ("a file hidden by an opaque dir", vec![("/srv", Change::Modified), ("/srv/old", Change::Added)]),
            ("a file deleted below", vec![("/gone", Change::Added)]),
            ("a changed file beside a mount point", vec![("/opt", Change::Modified), ("/opt/a", Change::Modified)]),
        ];
        for (what, want) in cases {
            let _ = fs::remove_dir_all(&upper);
            fs::create_dir_all(&upper).unwrap();
            match what {
                "a new file" => write(&upper.join("made.txt"), "hello"),
                "mount points only" => {
                    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
                        write(&upper.join(f), "");
                    }
                    for d in ["proc", "sys", "dev/pts", "dev/shm"] {
                        fs::create_dir_all(upper.join(d)).unwrap();
                    }
                }
                "a changed file" => write(&upper.join("etc/passwd"), "root\nme"),
                "a deleted file" => {
                    fs::create_dir_all(upper.join("etc")).unwrap();
                    whiteout(&upper.join("etc/group"));
                }
                "a new dir" => write(&upper.join("new/f"), "f"),
                "a file hidden by an opaque dir" => write(&upper.join("srv/old"), "again"),
                "a file deleted below" => write(&upper.join("gone"), "back"),
                "a changed file beside a mount point" => {
                    write(&upper.join("opt/a"), "changed");
                    write(&upper.join("etc/hosts"), "");
                }
                _ => {}
            }
            let got = changes(&upper, &[top.clone(), bottom.clone()]).unwrap();
            let want: Vec<(String, Change)> = want.into_iter().map(|(p, c)| (p.to_string(), c)).collect();
            assert_eq!(got, want, "{what}");
        }
        assert_eq!(changes(&tmp.path().join("missing"), &[]).unwrap(), vec![]);
    }

    #[test]
    fn an_empty_set_of_layers_is_an_empty_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        write_merged_tar(&[tmp.path().to_path_buf()], &mut out).unwrap();
        assert_eq!(out, vec![0u8; 1024]);
    }
}
