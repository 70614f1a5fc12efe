//! A layer tar from an overlayfs upper directory (`docker commit`, the builder).
//!
//! The upper directory holds what a container changed: new and modified files as they are,
//! deleted ones as 0:0 character devices (whiteouts), directories replaced as a whole marked
//! with the `trusted.overlay.opaque=y` xattr. The tar uses the AUFS convention layers are
//! exchanged in: a whiteout becomes an empty `.wh.<name>` file, an opaque directory gets a
//! `.wh..wh..opq` entry right after its own.
//!
//! The tar is deterministic: entries in byte order of their names, whole-second mtimes (as
//! Docker writes them), numeric owners without names, hard links to the first path of an inode,
//! xattrs as `SCHILY.xattr.*` PAX records (overlay's own `trusted.overlay.*` excluded).
//! Sockets are skipped, as Docker skips them.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

use crate::{tarfmt, Error};

const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Write the tar of the overlay upper directory `dir` to `out`, leaving out the paths in
/// `skip` (relative to `dir`) when they are empty files or empty directories: the mount points
/// a runtime made, which are no change of the container's.
pub(crate) fn write_layer_tar(dir: &Path, skip: &[PathBuf], out: impl Write) -> Result<(), Error> {
    let md = fs::symlink_metadata(dir).map_err(Error::io(format!("stat {}", dir.display())))?;
    if !md.is_dir() {
        return Err(Error::InvalidLayer(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mut w = Walker {
        b: tar::Builder::new(io::BufWriter::with_capacity(256 * 1024, out)),
        root: dir.to_path_buf(),
        links: HashMap::new(),
        skip: skip.to_vec(),
    };
    w.walk(Path::new(""))?;
    let mut out = w.b.into_inner().map_err(Error::io("write layer tar"))?;
    out.flush().map_err(Error::io("write layer tar"))?;
    Ok(())
}

struct Walker<W: Write> {
    b: tar::Builder<W>,
    root: PathBuf,
    /// (dev, ino) of files with several links -> the first path written.
    links: HashMap<(u64, u64), PathBuf>,
    /// Mount-point stubs to leave out (see [`write_layer_tar`]).
    skip: Vec<PathBuf>,
}

impl<W: Write> Walker<W> {
    fn walk(&mut self, rel: &Path) -> Result<(), Error> {
        let abs = self.root.join(rel);
        let mut names: Vec<OsString> = Vec::new();
        for e in fs::read_dir(&abs).map_err(Error::io(format!("read {}", abs.display())))? {
            let e = e.map_err(Error::io(format!("read {}", abs.display())))?;
            names.push(e.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let r = rel.join(&name);
            let p = abs.join(&name);
            let md =
                fs::symlink_metadata(&p).map_err(Error::io(format!("stat {}", p.display())))?;
            if self.skip.contains(&r) && is_stub(&p, &md) {
                continue;
            }
            self.entry(&r, &p, &md)?;
            if md.is_dir() {
                self.walk(&r)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, rel: &Path, abs: &Path, md: &Metadata) -> Result<(), Error> {
        let ft = md.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let werr = |p: &Path| Error::io(format!("write layer tar entry {}", p.display()));
        if ft.is_char_device() && md.rdev() == 0 {
            // A whiteout: the lower file `name` is deleted.
            let name = rel.file_name().unwrap_or_default();
            let mut wh = OsString::from(".wh.");
            wh.push(name);
            let path = rel.with_file_name(wh);
            let mut h = tarfmt::header(md, EntryType::Regular, 0o600);
            self.b
                .append_data(&mut h, &path, io::empty())
                .map_err(werr(&path))?;
            return Ok(());
        }
        let xattrs = list_xattrs(abs)?;
        for (k, _) in &xattrs {
            // origin, impure, nlink...: bookkeeping of overlay, not content.
            if k == "trusted.overlay.redirect" || k == "trusted.overlay.metacopy" {
                // redirect_dir / metacopy: the upper directory alone does not hold the change.
                return Err(Error::InvalidLayer(format!(
                    "{} carries {k}: overlay redirect_dir/metacopy are not supported",
                    abs.display()
                )));
            }
        }
        let opaque = ft.is_dir()
            && xattrs
                .iter()
                .any(|(k, v)| k == OPAQUE_XATTR && v.as_slice() == b"y");
        let records: Vec<(String, Vec<u8>)> = xattrs
            .into_iter()
            .filter(|(k, _)| !k.starts_with(OVERLAY_XATTR_PREFIX))
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
            .collect();
        let mode = md.mode() & 0o7777;

        if ft.is_file() && md.nlink() > 1 {
            if let Some(first) = self.links.get(&(md.dev(), md.ino())).cloned() {
                let mut h = tarfmt::header(md, EntryType::Link, mode);
                self.pax(&records)?;
                self.b.append_link(&mut h, rel, &first).map_err(werr(rel))?;
                return Ok(());
            }
            self.links.insert((md.dev(), md.ino()), rel.to_path_buf());
        }
        self.pax(&records)?;
        if ft.is_file() {
            let mut h = tarfmt::header(md, EntryType::Regular, mode);
            h.set_size(md.len());
            let f = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(abs)
                .map_err(Error::io(format!("open {}", abs.display())))?;
            // Exactly the size in the header even if the file changes under us.
            let data = ReadErr {
                inner: f.take(md.len()).chain(io::repeat(0)).take(md.len()),
                path: abs,
            };
            self.b.append_data(&mut h, rel, data).map_err(werr(rel))?;
        } else if ft.is_dir() {
            let mut h = tarfmt::header(md, EntryType::Directory, mode);
            self.b
                .append_data(&mut h, rel, io::empty())
                .map_err(werr(rel))?;
            if opaque {
                let path = rel.join(".wh..wh..opq");
                let mut h = tarfmt::header(md, EntryType::Regular, mode & 0o777);
                self.b
                    .append_data(&mut h, &path, io::empty())
                    .map_err(werr(&path))?;
            }
        } else if ft.is_symlink() {
            let target =
                fs::read_link(abs).map_err(Error::io(format!("readlink {}", abs.display())))?;
            let mut h = tarfmt::header(md, EntryType::Symlink, mode);
            self.b
                .append_link(&mut h, rel, &target)
                .map_err(werr(rel))?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            let mut h = tarfmt::header(md, kind, mode);
            if kind != EntryType::Fifo {
                let dev = md.rdev() as libc::dev_t;
                h.set_device_major(libc::major(dev)).map_err(werr(rel))?;
                h.set_device_minor(libc::minor(dev)).map_err(werr(rel))?;
            }
            self.b
                .append_data(&mut h, rel, io::empty())
                .map_err(werr(rel))?;
        }
        Ok(())
    }

    /// A PAX extended header for the next entry.
    fn pax(&mut self, records: &[(String, Vec<u8>)]) -> Result<(), Error> {
        let Some((mut h, data)) = tarfmt::pax_header(records) else { return Ok(()) };
        self.b
            .append_data(&mut h, tarfmt::PAX_NAME, &data[..])
            .map_err(Error::io("write layer tar"))
    }
}

/// An empty regular file or an empty directory.
fn is_stub(p: &Path, md: &Metadata) -> bool {
    (md.is_file() && md.len() == 0) || (md.is_dir() && fs::read_dir(p).map(|mut d| d.next().is_none()).unwrap_or(false))
}



/// Names a read error after the file it came from.
struct ReadErr<'a, R> {
    inner: R,
    path: &'a Path,
}

impl<R: Read> Read for ReadErr<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("read {}: {e}", self.path.display())))
    }
}

/// The xattrs of `p` (not following a final symlink), sorted; none where unsupported.
pub(crate) fn list_xattrs(p: &Path) -> Result<Vec<(String, Vec<u8>)>, Error> {
    tarfmt::list_xattrs(p).map_err(Error::io(format!("read xattrs of {}", p.display())))
}
