//! Copy-up: what an image holds at a path, copied into a fresh volume the first time a
//! container mounts it there (unless `nocopy`), as Docker does for `VOLUME` directories.
//!
//! The image is a stack of overlay layer directories; the merged view at a path follows
//! overlayfs' rules: upper entries win, a character device 0:0 or an aufs-style `.wh.NAME`
//! file deletes NAME, and an opaque directory (`trusted.overlay.opaque=y` or `.wh..wh..opq`)
//! hides everything below it.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{io, Error};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// True when `p` is a directory with nothing in it (or does not exist).
pub fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).map(|mut rd| rd.next().is_none()).unwrap_or(true)
}

fn is_whiteout(md: &std::fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    if dir.join(OPAQUE_MARKER).symlink_metadata().is_ok() {
        return true;
    }
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else { return false };
    let mut buf = [0u8; 4];
    for name in [c"trusted.overlay.opaque", c"user.overlay.opaque"] {
        // SAFETY: valid C strings and a buffer of the given length.
        let n = unsafe { libc::lgetxattr(c.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n == 1 && buf[0] == b'y' {
            return true;
        }
    }
    false
}

fn remove_any(p: &Path) -> Result<(), Error> {
    match p.symlink_metadata() {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(p).map_err(io(format!("remove {}", p.display()))),
        Ok(_) => std::fs::remove_file(p).map_err(io(format!("remove {}", p.display()))),
        Err(_) => Ok(()),
    }
}

fn clear_dir(p: &Path) -> Result<(), Error> {
    for e in std::fs::read_dir(p).map_err(io(format!("read {}", p.display())))?.flatten() {
        remove_any(&e.path())?;
    }
    Ok(())
}

fn lchown(p: &Path, md: &std::fs::Metadata) {
    let _ = std::os::unix::fs::lchown(p, Some(md.uid()), Some(md.gid()));
}

fn copy_attrs(p: &Path, md: &std::fs::Metadata) {
    lchown(p, md);
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(md.mode() & 0o7777));
}

/// Merge one layer's directory `src` into `dst` (which exists).
fn merge_dir(src: &Path, dst: &Path) -> Result<(), Error> {
    for e in std::fs::read_dir(src).map_err(io(format!("read {}", src.display())))?.flatten() {
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        let from = e.path();
        if name_s == OPAQUE_MARKER {
            continue;
        }
        if let Some(hidden) = name_s.strip_prefix(WHITEOUT_PREFIX) {
            remove_any(&dst.join(hidden))?;
            continue;
        }
        let to = dst.join(&name);
        let md = from.symlink_metadata().map_err(io(format!("stat {}", from.display())))?;
        if is_whiteout(&md) {
            remove_any(&to)?;
            continue;
        }
        if md.is_dir() {
            if to.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                remove_any(&to)?;
            }
            if to.symlink_metadata().is_err() {
                std::fs::create_dir(&to).map_err(io(format!("create {}", to.display())))?;
            } else if is_opaque(&from) {
                clear_dir(&to)?;
            }
            merge_dir(&from, &to)?;
            copy_attrs(&to, &md);
            continue;
        }
        remove_any(&to)?;
        if md.file_type().is_symlink() {
            let target = std::fs::read_link(&from).map_err(io(format!("readlink {}", from.display())))?;
            std::os::unix::fs::symlink(&target, &to).map_err(io(format!("symlink {}", to.display())))?;
            lchown(&to, &md);
        } else if md.is_file() {
            std::fs::copy(&from, &to).map_err(io(format!("copy {} to {}", from.display(), to.display())))?;
            copy_attrs(&to, &md);
        } else {
            // FIFOs, sockets and device nodes: recreate the node.
            let c = std::ffi::CString::new(to.as_os_str().as_encoded_bytes()).map_err(|_| Error::Protocol(format!("bad path {}", to.display())))?;
            // SAFETY: valid C string; mode and device come from an existing node.
            if unsafe { libc::mknod(c.as_ptr(), md.mode(), md.rdev()) } == 0 {
                copy_attrs(&to, &md);
            }
        }
    }
    Ok(())
}

/// Copy the image's merged content at `rel` (a path inside the container, like `/data`)
/// into `dest`, which exists. `layers` are the image's layer directories, top layer first
/// (overlay's lowerdir order; a container's upper directory may come first). `dest` takes
/// the owner and mode of the image's directory. Returns false when the image has no
/// directory at `rel` (nothing is copied).
pub fn copy_up(layers: &[PathBuf], rel: &str, dest: &Path) -> Result<bool, Error> {
    let rel = rel.trim_start_matches('/');
    let mut found: Option<std::fs::Metadata> = None;
    for layer in layers.iter().rev() {
        let p = if rel.is_empty() { layer.clone() } else { layer.join(rel) };
        let hidden_by_parent = Path::new(rel)
            .file_name()
            .map(|n| p.with_file_name(format!("{WHITEOUT_PREFIX}{}", n.to_string_lossy())))
            .is_some_and(|w| w.symlink_metadata().is_ok());
        let md = p.symlink_metadata();
        match md {
            Ok(md) if md.is_dir() => {
                if found.is_some() && is_opaque(&p) {
                    clear_dir(dest)?;
                }
                merge_dir(&p, dest)?;
                found = Some(md);
            }
            Ok(_) => {
                // A file or a whiteout over the path: nothing below counts.
                clear_dir(dest)?;
                found = None;
            }
            Err(_) if hidden_by_parent => {
                clear_dir(dest)?;
                found = None;
            }
            Err(_) => {}
        }
    }
    match found {
        Some(md) => {
            copy_attrs(dest, &md);
            Ok(true)
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                let md = p.symlink_metadata().unwrap();
                if md.is_dir() {
                    out.push(format!("{rel}/"));
                    todo.push(p);
                } else if md.file_type().is_symlink() {
                    out.push(format!("{rel} -> {}", std::fs::read_link(&p).unwrap().display()));
                } else {
                    out.push(format!("{rel} = {}", std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn layers_merge_with_whiteouts_and_opaque_dirs() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, l3) = (t.path().join("l1"), t.path().join("l2"), t.path().join("l3"));
        for (p, c) in [
            (l1.join("data/a"), "1"),
            (l1.join("data/gone"), "x"),
            (l1.join("data/sub/deep"), "old"),
            (l1.join("data/keep/k"), "k"),
            (l2.join("data/a"), "2"),
            (l2.join("data/.wh.gone"), ""),
            (l2.join("data/sub/.wh..wh..opq"), ""),
            (l2.join("data/sub/new"), "n"),
            (l3.join("other/file"), "o"),
        ] {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, c).unwrap();
        }
        std::os::unix::fs::symlink("a", l2.join("data/link")).unwrap();
        let layers = vec![l3.clone(), l2.clone(), l1.clone()];
        let dest = t.path().join("vol");
        std::fs::create_dir(&dest).unwrap();
        std::fs::set_permissions(l2.join("data"), std::fs::Permissions::from_mode(0o750)).unwrap();
        assert!(copy_up(&layers, "/data", &dest).unwrap());
        // l2's opaque `sub` hides l1's `sub/deep`; `.wh.gone` deletes `gone`.
        assert_eq!(tree(&dest), ["a = 2", "keep/", "keep/k = k", "link -> a", "sub/", "sub/new = n"]);
        assert_eq!(dest.metadata().unwrap().mode() & 0o777, 0o750);

        let none = t.path().join("none");
        std::fs::create_dir(&none).unwrap();
        assert!(!copy_up(&layers, "/missing", &none).unwrap());
        assert!(is_empty_dir(&none));

        // A later layer deleting the directory itself.
        let l4 = t.path().join("l4");
        std::fs::create_dir_all(&l4).unwrap();
        std::fs::write(l4.join(".wh.data"), "").unwrap();
        let gone = t.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        assert!(!copy_up(&[l4, l2, l1], "/data", &gone).unwrap());
        assert!(is_empty_dir(&gone));
    }
}
