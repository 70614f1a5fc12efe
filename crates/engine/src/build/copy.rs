//! COPY and ADD: sources resolved in the context (or a stage's or image's root filesystem),
//! staged into a directory exactly as they must appear in the new layer, and hashed for the
//! cache.
//!
//! Docker's rules: a relative destination is taken from WORKDIR, keeping a trailing `/`;
//! several sources (or a glob matching several) need a destination ending in `/`; a directory
//! source has its *contents* copied; a file goes into the destination when it ends in `/` or
//! is an existing directory, else becomes it; files are owned by 0:0 unless `--chown` (or
//! `--from` without `--chown`, which keeps the owners); ADD extracts a local tar archive.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_errdefs::{Error, Result};
use sha2::{Digest, Sha256};

use super::context::{clean_rel, context_path, resolve_in};

/// Docker's `normalizeDest`: the absolute destination, a relative one under `workdir`, with a
/// trailing `/` kept.
pub(crate) fn dest_path(workdir: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    // `.` (and `x/.`) name a directory, as WORKDIR made it.
    let slash = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
    let joined = format!("/{}", clean_rel(&format!("{workdir}/{dest}")).unwrap_or_default());
    if slash && joined != "/" {
        format!("{joined}/")
    } else {
        joined
    }
}

/// True when a source names a glob (`*`, `?`, `[`), escapes aside.
pub(crate) fn has_wildcards(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// One resolved source: where it is on the host and its path relative to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    /// The file or directory on the host (symlinks of the path resolved inside the root).
    pub path: PathBuf,
    /// Its clean path relative to the root, as written (for hashing and messages).
    pub rel: String,
}

/// Every relative path under `root` (files and directories, not following symlinks), sorted.
fn walk_rel(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(root.join(&d)) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if d.is_empty() { name } else { format!("{d}/{name}") };
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(rel.clone());
            }
            out.push(rel);
        }
    }
    out.sort();
    out
}

/// Resolve COPY/ADD sources under `root` (the context, or a stage's filesystem): paths
/// outside it are refused, globs are matched (Go's `filepath.Match` per path), a missing
/// source is Docker's error.
pub(crate) fn resolve_sources(root: &Path, patterns: &[String], cmd: &str) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for p in patterns {
        let rel = context_path(p).map_err(|e| Error::invalid(e.message().replacen("COPY", cmd, 1)))?;
        if has_wildcards(&rel) {
            let before = out.len();
            for cand in walk_rel(root) {
                if berth_dockerfile::ignore::glob_match(&rel, &cand) {
                    let path = resolve_in(root, &cand, true).map_err(|e| Error::internal(e.to_string()))?;
                    out.push(Source { path, rel: cand });
                }
            }
            if out.len() == before {
                return Err(Error::invalid(format!("{cmd} failed: no source files were specified")));
            }
            continue;
        }
        let path = resolve_in(root, &rel, true).map_err(|e| Error::internal(e.to_string()))?;
        if fs::symlink_metadata(&path).is_err() {
            return Err(Error::invalid(format!(
                "{cmd} failed: file not found in build context or excluded by .dockerignore: stat {}: file does not exist",
                if rel.is_empty() { "." } else { rel.as_str() }
            )));
        }
        out.push(Source { path, rel });
    }
    Ok(out)
}

/// The digest of sources' content and metadata (path, type, mode, owner, size, content,
/// symlink target), walking directories in sorted order: the cache input of a COPY/ADD.
pub(crate) fn hash_sources(sources: &[Source]) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    for s in sources {
        h.update(format!("source {}\n", s.rel));
        let meta = fs::symlink_metadata(&s.path)?;
        let mut entries: Vec<(String, PathBuf)> = vec![(String::new(), s.path.clone())];
        if meta.is_dir() {
            entries.extend(walk_rel(&s.path).into_iter().map(|r| {
                let p = s.path.join(&r);
                (r, p)
            }));
        }
        for (rel, p) in entries {
            let m = fs::symlink_metadata(&p)?;
            let ft = m.file_type();
            h.update(format!("{rel}\0{:o}\0{}:{}\0{}\0", m.mode(), m.uid(), m.gid(), if ft.is_file() { m.len() } else { 0 }));
            if ft.is_symlink() {
                h.update(fs::read_link(&p)?.as_os_str().as_encoded_bytes());
            } else if ft.is_file() {
                let mut f = fs::File::open(&p)?;
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
            h.update(b"\n");
        }
    }
    Ok(super::cache::hex(&h.finalize()))
}

/// How staged files are owned and moded.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CopyOptions {
    /// The owner to give everything; None keeps the sources' owners.
    pub owner: Option<(u32, u32)>,
    /// `--chmod`: the mode of every copied file and directory.
    pub chmod: Option<u32>,
    /// ADD: extract local tar archives.
    pub extract_archives: bool,
}

/// What the image already has at a path (for the destination rules and parent directories).
pub(crate) trait ImageFs {
    /// The metadata of `abs` (an absolute path) in the image, if it exists.
    fn stat(&self, abs: &str) -> Option<fs::Metadata>;
}

/// The image's filesystem as layer directories, top first (whiteouts end a lookup).
pub(crate) struct Layers(pub Vec<PathBuf>);

impl ImageFs for Layers {
    fn stat(&self, abs: &str) -> Option<fs::Metadata> {
        let rel = clean_rel(abs)?;
        for l in &self.0 {
            let p = l.join(&rel);
            if let Ok(m) = fs::symlink_metadata(&p) {
                use std::os::unix::fs::FileTypeExt;
                if m.file_type().is_char_device() && m.rdev() == 0 {
                    return None;
                }
                return Some(m);
            }
        }
        None
    }
}

/// Create the parent directories of `rel` in `stage`, copying the metadata of those the image
/// has (so the layer does not change them) and making missing ones 0755 owned by `owner`.
fn make_parents(stage: &Path, rel: &str, image: &dyn ImageFs, owner: (u32, u32)) -> io::Result<()> {
    let mut cur = String::new();
    let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        cur = if cur.is_empty() { part.to_string() } else { format!("{cur}/{part}") };
        let p = stage.join(&cur);
        if p.is_dir() {
            continue;
        }
        fs::create_dir(&p)?;
        match image.stat(&format!("/{cur}")) {
            Some(m) if m.is_dir() => {
                fs::set_permissions(&p, fs::Permissions::from_mode(m.mode() & 0o7777))?;
                let _ = std::os::unix::fs::lchown(&p, Some(m.uid()), Some(m.gid()));
            }
            _ => {
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
                let _ = std::os::unix::fs::lchown(&p, Some(owner.0), Some(owner.1));
            }
        }
    }
    Ok(())
}

fn apply_meta(dst: &Path, src: &fs::Metadata, opts: &CopyOptions) -> io::Result<()> {
    let (uid, gid) = opts.owner.unwrap_or((src.uid(), src.gid()));
    std::os::unix::fs::lchown(dst, Some(uid), Some(gid))?;
    if !src.file_type().is_symlink() {
        let mode = opts.chmod.unwrap_or(src.mode() & 0o7777);
        fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
    }
    let mtime = nix::sys::time::TimeSpec::new(src.mtime(), src.mtime_nsec());
    let _ = nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        dst,
        &mtime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
    Ok(())
}

/// Copy one file, symlink or tree from `src` to `dst` (which must not exist).
fn copy_tree(src: &Path, dst: &Path, opts: &CopyOptions) -> io::Result<()> {
    let m = fs::symlink_metadata(src)?;
    let ft = m.file_type();
    if ft.is_dir() {
        if !dst.is_dir() {
            fs::create_dir(dst)?;
        }
        for e in fs::read_dir(src)? {
            let e = e?;
            copy_tree(&e.path(), &dst.join(e.file_name()), opts)?;
        }
    } else if ft.is_symlink() {
        let _ = fs::remove_file(dst);
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
    } else if ft.is_file() {
        if fs::symlink_metadata(dst).is_ok_and(|d| !d.is_dir()) {
            fs::remove_file(dst)?;
        }
        fs::copy(src, dst)?;
    } else {
        // Devices, sockets and fifos are not copied.
        return Ok(());
    }
    apply_meta(dst, &m, opts)
}

/// Whether a file is a tar archive ADD extracts (gzip, bzip2, xz, zstd or plain tar).
fn is_archive(p: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = fs::File::open(p) else { return false };
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return false,
        }
    }
    super::context::is_archive(&head[..n])
}

/// Stage `sources` into `stage` as they must appear at `dest` (absolute, as
/// [`dest_path`] makes it) in the image; returns nothing but the files.
pub(crate) fn stage_copy(sources: &[Source], dest: &str, stage: &Path, image: &dyn ImageFs, opts: &CopyOptions, cmd: &str) -> Result<()> {
    let io_err = |e: io::Error| Error::internal(format!("{cmd} failed: {e}"));
    let dest_dir_syntax = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    if sources.len() > 1 && !dest_dir_syntax {
        return Err(Error::invalid(format!(
            "When using {cmd} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    let dest_rel = clean_rel(dest).unwrap_or_default();
    let owner = opts.owner.unwrap_or((0, 0));
    let staged_dir = |rel: &str| stage.join(rel).is_dir();
    let dest_is_dir = dest_dir_syntax || dest_rel.is_empty() || staged_dir(&dest_rel) || image.stat(dest).is_some_and(|m| m.is_dir());
    for s in sources {
        let m = fs::symlink_metadata(&s.path).map_err(io_err)?;
        if m.is_dir() {
            // The contents go into the destination directory.
            if !dest_rel.is_empty() {
                make_parents(stage, &dest_rel, image, owner).map_err(io_err)?;
                let d = stage.join(&dest_rel);
                if !d.is_dir() {
                    fs::create_dir(&d).map_err(io_err)?;
                    match image.stat(dest) {
                        Some(im) if im.is_dir() => {
                            fs::set_permissions(&d, fs::Permissions::from_mode(im.mode() & 0o7777)).map_err(io_err)?;
                            let _ = std::os::unix::fs::lchown(&d, Some(im.uid()), Some(im.gid()));
                        }
                        _ => apply_meta(&d, &m, opts).map_err(io_err)?,
                    }
                }
            }
            for e in fs::read_dir(&s.path).map_err(io_err)? {
                let e = e.map_err(io_err)?;
                copy_tree(&e.path(), &stage.join(&dest_rel).join(e.file_name()), opts).map_err(io_err)?;
            }
            continue;
        }
        if opts.extract_archives && m.is_file() && is_archive(&s.path) {
            make_parents(stage, &format!("{dest_rel}/x"), image, owner).map_err(io_err)?;
            let d = stage.join(&dest_rel);
            fs::create_dir_all(&d).map_err(io_err)?;
            let f = fs::File::open(&s.path).map_err(io_err)?;
            berth_image::unpack(io::BufReader::new(f), &d, berth_image::UnpackOptions::for_current_user())
                .map_err(|e| Error::invalid(format!("{cmd} failed: extract {}: {e}", s.rel)))?;
            continue;
        }
        let base = Path::new(&s.rel).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let target = if dest_is_dir { if dest_rel.is_empty() { base } else { format!("{dest_rel}/{base}") } } else { dest_rel.clone() };
        if target.is_empty() {
            return Err(Error::invalid(format!("{cmd} failed: cannot copy to /")));
        }
        make_parents(stage, &target, image, owner).map_err(io_err)?;
        copy_tree(&s.path, &stage.join(&target), opts).map_err(io_err)?;
    }
    Ok(())
}

/// Stage the directory `abs` (and its missing parents, 0755 root; existing ones keep the
/// image's metadata): WORKDIR's layer when the image lacks the directory.
pub(crate) fn stage_mkdir(stage: &Path, abs: &str, image: &dyn ImageFs) -> io::Result<()> {
    let rel = clean_rel(abs).unwrap_or_default();
    if rel.is_empty() {
        return Ok(());
    }
    make_parents(stage, &format!("{rel}/x"), image, (0, 0))
}

/// A heredoc source (`COPY <<EOF /dest`) written as a file under `dir`, mode 0644.
pub(crate) fn heredoc_file(dir: &Path, name: &str, content: &str) -> Result<Source> {
    let p = dir.join(name);
    fs::write(&p, content).map_err(|e| Error::internal(format!("write heredoc {name}: {e}")))?;
    let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o644));
    Ok(Source { path: p, rel: name.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_follow_workdir_and_keep_slashes() {
        let cases = [
            ("/", "x", "/x"),
            ("/app", ".", "/app/"),
            ("/app", "./", "/app/"),
            ("/app", "bin/", "/app/bin/"),
            ("/app", "../etc/x", "/etc/x"),
            ("", "a", "/a"),
            ("/app", "/abs/", "/abs/"),
            ("/", "/", "/"),
        ];
        for (wd, dest, want) in cases {
            assert_eq!(dest_path(wd, dest), want, "{wd} {dest}");
        }
        assert!(has_wildcards("*.c") && has_wildcards("a?") && has_wildcards("[ab]"));
        assert!(!has_wildcards("plain") && !has_wildcards("a\\*"));
    }

    struct NoImage;
    impl ImageFs for NoImage {
        fn stat(&self, _: &str) -> Option<fs::Metadata> {
            None
        }
    }

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (p, c) in files {
            let p = root.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, c).unwrap();
        }
    }

    fn listing(root: &Path) -> Vec<String> {
        walk_rel(root)
            .into_iter()
            .map(|r| if root.join(&r).is_dir() { format!("{r}/") } else { r })
            .collect()
    }

    #[test]
    fn copies_land_where_docker_puts_them() {
        let ctx = tempfile::tempdir().unwrap();
        tree(ctx.path(), &[("a.c", "a"), ("b.c", "b"), ("dir/x", "x"), ("dir/sub/y", "y")]);
        let cases: Vec<(Vec<&str>, &str, Result<Vec<&str>, &str>)> = vec![
            (vec!["a.c"], "/x", Ok(vec!["x"])),
            (vec!["a.c"], "/x/", Ok(vec!["x/", "x/a.c"])),
            (vec!["a.c"], "/", Ok(vec!["a.c"])),
            (vec!["dir"], "/d", Ok(vec!["d/", "d/sub/", "d/sub/y", "d/x"])),
            (vec!["dir/"], "/", Ok(vec!["sub/", "sub/y", "x"])),
            (vec!["*.c"], "/src/", Ok(vec!["src/", "src/a.c", "src/b.c"])),
            (vec!["a.c", "b.c"], "/src/", Ok(vec!["src/", "src/a.c", "src/b.c"])),
            (vec!["a.c", "b.c"], "/src", Err("When using COPY with more than one source file, the destination must be a directory and end with a /")),
            (vec!["*.c"], "/src", Err("When using COPY with more than one source file, the destination must be a directory and end with a /")),
            (vec!["../x"], "/", Err("COPY failed: forbidden path outside the build context: ../x ()")),
            (vec!["nope"], "/", Err("COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist")),
            (vec!["*.h"], "/", Err("COPY failed: no source files were specified")),
            (vec!["/dir/../a.c"], "/deep/er/f", Ok(vec!["deep/", "deep/er/", "deep/er/f"])),
        ];
        for (srcs, dest, want) in cases {
            let stage = tempfile::tempdir().unwrap();
            let srcs: Vec<String> = srcs.iter().map(|s| s.to_string()).collect();
            let got = resolve_sources(ctx.path(), &srcs, "COPY")
                .and_then(|s| stage_copy(&s, dest, stage.path(), &NoImage, &CopyOptions { owner: Some((0, 0)), ..Default::default() }, "COPY"))
                .map(|()| listing(stage.path()));
            let got = got.map_err(|e| e.message().to_string());
            let want = want.map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map_err(str::to_string);
            assert_eq!(got, want, "{srcs:?} -> {dest}");
        }
    }

    #[test]
    fn an_existing_directory_in_the_image_receives_the_file() {
        let ctx = tempfile::tempdir().unwrap();
        tree(ctx.path(), &[("f", "1")]);
        let layer = tempfile::tempdir().unwrap();
        fs::create_dir_all(layer.path().join("opt/app")).unwrap();
        fs::set_permissions(layer.path().join("opt"), fs::Permissions::from_mode(0o750)).unwrap();
        let stage = tempfile::tempdir().unwrap();
        let srcs = resolve_sources(ctx.path(), &["f".to_string()], "COPY").unwrap();
        let img = Layers(vec![layer.path().to_path_buf()]);
        stage_copy(&srcs, "/opt/app", stage.path(), &img, &CopyOptions { owner: Some((0, 0)), chmod: Some(0o600), ..Default::default() }, "COPY").unwrap();
        assert_eq!(fs::read(stage.path().join("opt/app/f")).unwrap(), b"1");
        assert_eq!(fs::metadata(stage.path().join("opt")).unwrap().mode() & 0o777, 0o750, "parents keep the image's mode");
        assert_eq!(fs::metadata(stage.path().join("opt/app/f")).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn source_hashes_see_content_mode_and_names() {
        let ctx = tempfile::tempdir().unwrap();
        tree(ctx.path(), &[("d/a", "1"), ("d/b", "2")]);
        let h = |p: &str| hash_sources(&resolve_sources(ctx.path(), &[p.to_string()], "COPY").unwrap()).unwrap();
        let first = h("d");
        assert_eq!(first, h("d"));
        fs::write(ctx.path().join("d/b"), "3").unwrap();
        let changed = h("d");
        assert_ne!(first, changed);
        fs::set_permissions(ctx.path().join("d/b"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(changed, h("d"));
        assert_ne!(h("d/a"), h("d/b"));
    }
}
