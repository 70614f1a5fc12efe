//! The build context: the request body (a tar, plain or compressed) extracted into a fresh
//! directory under `<data-root>/tmp/`, and context-relative paths resolved without ever
//! leaving it.
//!
//! Extraction is [`berth_image::unpack`]'s, unprivileged: entries are cleaned lexically and
//! written only below the directory (no symlink is followed out), device nodes are skipped.
//! The directory goes away when the [`Context`] is dropped, also after a failure.

use std::io;
use std::path::{Component, Path, PathBuf};

use berth_errdefs::{Error, Result};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::images::{feed_body, ChannelReader};
use crate::service::ByteStream;

/// An extracted context; removed from disk when dropped.
#[derive(Debug)]
pub(crate) struct Context {
    dir: PathBuf,
}

impl Context {
    /// The context's root directory.
    pub(crate) fn root(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh, uniquely named directory under `tmp_root` (created if needed).
pub(crate) fn temp_dir(tmp_root: &Path, prefix: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(tmp_root).map_err(|e| Error::internal(format!("create {}: {e}", tmp_root.display())))?;
    let dir = tmp_root.join(format!("{prefix}-{}", crate::containers::new_id().get(..16).unwrap_or("x")));
    std::fs::create_dir(&dir).map_err(|e| Error::internal(format!("create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// The prefixes of the builder's directories under `<data-root>/tmp` (see [`temp_dir`]).
const TEMP_PREFIXES: [&str; 5] = ["build", "workdir", "heredoc", "copy", "view"];

/// Whether `name` is one of the builder's temporary directories: `<prefix>-<16 hex>`.
fn is_temp_name(name: &str) -> bool {
    name.split_once('-').is_some_and(|(p, id)| {
        TEMP_PREFIXES.contains(&p) && id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Remove the builder's directories a crash left under `tmp_root` (called when the engine
/// opens, before any build). An image view still mounted is detached first; a directory that
/// stays a mount point is left alone (never delete through a mount). Returns how many went.
pub(crate) fn sweep(tmp_root: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(tmp_root) else { return 0 };
    let Ok(parent) = std::fs::metadata(tmp_root) else { return 0 };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_temp_name(name) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = e.path();
        if name.starts_with("view-") {
            let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.dev() == parent.dev() => {}
            _ => continue,
        }
        if std::fs::remove_dir_all(&path).is_ok() {
            n += 1;
        }
    }
    n
}

/// Whether the first bytes of a stream are an archive (compressed, or a tar header) rather
/// than a bare Dockerfile (`docker build - < Dockerfile`).
pub(crate) fn is_archive(head: &[u8]) -> bool {
    match head {
        [0x1f, 0x8b, ..] | [b'B', b'Z', b'h', ..] | [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] | [0x28, 0xb5, 0x2f, 0xfd, ..] => true,
        h if h.len() >= 262 && &h[257..262] == b"ustar" => true,
        // An old-style (v7) tar header: a valid checksum over the first block.
        h if h.len() >= 512 => {
            let field = String::from_utf8_lossy(&h[148..156]);
            let want = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok();
            let sum: u32 = h[..512].iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { *b as u32 }).sum();
            want == Some(sum)
        }
        _ => false,
    }
}

/// Extract the context stream into a new directory under `tmp_root`, reading it as it comes.
/// A body that is no archive is a Dockerfile alone, as dockerd takes it.
pub(crate) async fn extract(body: ByteStream, tmp_root: &Path) -> Result<Context> {
    use futures_util::StreamExt;
    let ctx = Context { dir: temp_dir(tmp_root, "build")? };
    let mut body = body;
    let mut head: Vec<Bytes> = Vec::new();
    let mut len = 0;
    while len < 512 {
        match body.next().await {
            Some(Ok(b)) => {
                len += b.len();
                head.push(b);
            }
            Some(Err(e)) => return Err(Error::invalid(format!("read the build context: {e}"))),
            None => break,
        }
    }
    let first: Vec<u8> = head.iter().flat_map(|b| b.iter().copied()).take(512).collect();
    if !first.is_empty() && !is_archive(&first) {
        let mut text: Vec<u8> = head.iter().flat_map(|b| b.iter().copied()).collect();
        while let Some(b) = body.next().await {
            text.extend_from_slice(&b.map_err(|e| Error::invalid(format!("read the build context: {e}")))?);
            if text.len() > 64 << 20 {
                return Err(Error::invalid("the Dockerfile is too large"));
            }
        }
        std::fs::write(ctx.dir.join("Dockerfile"), text).map_err(|e| Error::internal(format!("write the Dockerfile: {e}")))?;
        return Ok(ctx);
    }
    let body: ByteStream = Box::pin(futures_util::stream::iter(head.into_iter().map(Ok)).chain(body));
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
    let dest = ctx.dir.clone();
    let compressed = !matches!(berth_image::Compression::detect(&first), Ok(berth_image::Compression::None));
    let task = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader { rx, current: Bytes::new() };
        let opts = berth_image::UnpackOptions { privileged: false };
        if compressed {
            berth_image::unpack(reader, &dest, opts)
        } else {
            berth_image::unpack(PadToBlock { inner: reader, count: 0, pad: None }, &dest, opts)
        }
    });
    feed_body(body, tx).await;
    task.await
        .map_err(|e| Error::internal(format!("extract the build context: {e}")))?
        .map_err(|e| Error::invalid(format!("the build context is not a valid tar archive: {e}")))?;
    Ok(ctx)
}

/// A plain tar stream completed at its end: the docker CLI sends the context of a build
/// whose Dockerfile is outside it cut right after the last entry's data (no padding, no
/// end-of-archive blocks), which dockerd accepts. Zeros up to the block boundary and two
/// zero blocks are added after the real end; they can only end the archive.
struct PadToBlock<R> {
    inner: R,
    count: u64,
    pad: Option<u64>,
}

impl<R: io::Read> io::Read for PadToBlock<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pad.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.count += n as u64;
                return Ok(n);
            }
            self.pad = Some((512 - self.count % 512) % 512 + 1024);
        }
        let left = self.pad.unwrap_or(0);
        let n = (left as usize).min(buf.len());
        buf[..n].fill(0);
        self.pad = Some(left - n as u64);
        Ok(n)
    }
}

/// Clean a path lexically as Go's `filepath.Clean` of a rooted path, relative to the root:
/// `a/./b/../c` -> `a/c`, `/x` -> `x`, `.` and `` -> ``. Climbing above the root is `None`.
pub(crate) fn clean_rel(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(s) => parts.push(s.to_str()?),
        }
    }
    Some(parts.join("/"))
}

/// A source path of COPY/ADD relative to the context: absolute paths are context-relative;
/// one that climbs out is refused with Docker's message.
pub(crate) fn context_path(src: &str) -> Result<String> {
    // Docker checks the path joined to the context root; leading `/` is the root itself.
    let rooted = src.trim_start_matches('/');
    clean_rel(rooted).ok_or_else(|| Error::invalid(format!("COPY failed: forbidden path outside the build context: {src} ()")))
}

/// Resolve `rel` (clean, relative) under `root`, following symlinks as a chroot would: an
/// absolute link target is taken from `root`, `..` never climbs above it. The last component
/// is followed too when `follow_last`.
pub(crate) fn resolve_in(root: &Path, rel: &str, follow_last: bool) -> io::Result<PathBuf> {
    let mut todo: Vec<String> = rel.split('/').filter(|s| !s.is_empty()).rev().map(str::to_owned).collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let here = root.join(cur.join("/")).join(&part);
        let last = todo.is_empty();
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() && (!last || follow_last) => {
                hops += 1;
                if hops > 40 {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&here)?;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    cur.clear();
                }
                for p in t.split('/').filter(|s| !s.is_empty()).rev() {
                    todo.push(p.to_owned());
                }
            }
            _ => cur.push(part),
        }
    }
    Ok(root.join(cur.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_only_the_builders() {
        let cases = [
            ("build-0123456789abcdef", true),
            ("view-0123456789ABCDEF", true),
            ("copy-0123456789abcdef", true),
            ("workdir-0123456789abcdef", true),
            ("heredoc-0123456789abcdef", true),
            ("build-0123456789abcde", false),
            ("build-0123456789abcdefg", false),
            ("build-0123456789abcdeg", false),
            ("other-0123456789abcdef", false),
            ("build", false),
            ("pull-0123456789abcdef", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_temp_name(name), want, "{name}");
        }
    }

    #[test]
    fn sweep_removes_only_leftover_build_dirs() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let left = temp_dir(root, "build").unwrap();
        std::fs::create_dir_all(left.join("a/b")).unwrap();
        std::fs::write(left.join("a/b/f"), "x").unwrap();
        let copy = temp_dir(root, "copy").unwrap();
        std::fs::create_dir(root.join("someone-else")).unwrap();
        std::fs::write(root.join("build-0123456789abcdef"), "a file, not ours").unwrap();
        assert_eq!(sweep(root), 2);
        assert!(!left.exists() && !copy.exists());
        assert!(root.join("someone-else").is_dir());
        assert!(root.join("build-0123456789abcdef").is_file());
        assert_eq!(sweep(&root.join("missing")), 0);
    }

    #[test]
    fn paths_clean_within_the_root() {
        let cases = [
            ("a/b", Some("a/b")),
            ("./a/./b/", Some("a/b")),
            ("/abs/x", Some("abs/x")),
            ("a/../b", Some("b")),
            (".", Some("")),
            ("", Some("")),
            ("../x", None),
            ("a/../../x", None),
            ("/..", None),
        ];
        for (p, want) in cases {
            assert_eq!(clean_rel(p).as_deref(), want, "{p}");
        }
        assert_eq!(context_path("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(
            context_path("../x").unwrap_err().message(),
            "COPY failed: forbidden path outside the build context: ../x ()"
        );
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../real", root.join("real/dir/up")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("escape")).unwrap();
        let cases = [
            ("abs/dir", true, "real/dir"),
            ("real/dir/up/dir", true, "real/dir"),
            ("escape", true, "etc/passwd"),
            ("escape", false, "escape"),
        ];
        for (rel, follow, want) in cases {
            assert_eq!(resolve_in(root, rel, follow).unwrap(), root.join(want), "{rel}");
        }
    }

    #[test]
    fn archives_are_told_from_dockerfiles() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_old();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "f", &b"x"[..]).unwrap();
        let v7 = b.into_inner().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_cksum();
        b.append_data(&mut h, "f", &b"x"[..]).unwrap();
        let gnu = b.into_inner().unwrap();
        let cases: Vec<(&[u8], bool)> = vec![
            (&v7[..512], true),
            (&gnu[..512], true),
            (&[0x1f, 0x8b, 8, 0], true),
            (b"BZh91AY", true),
            (b"FROM busybox\nRUN echo hi\n", false),
            (&[b'#'; 600], false),
        ];
        for (head, want) in cases {
            assert_eq!(is_archive(head), want, "{:?}", &head[..head.len().min(8)]);
        }
    }

    #[test]
    fn a_context_that_climbs_out_is_refused_and_nothing_leaks() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let t = tempfile::tempdir().unwrap();
        // A tar whose entry climbs out of the root.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        {
            let name = h.as_gnu_mut().unwrap();
            let p = b"../../evil";
            name.name[..p.len()].copy_from_slice(p);
        }
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let bad = b.into_inner().unwrap();
        let body: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from(bad))]));
        let tmp = t.path().join("tmp");
        let err = rt.block_on(extract(body, &tmp)).unwrap_err();
        assert!(err.message().contains("outside"), "{}", err.message());
        assert!(!t.path().join("evil").exists());
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "the temp dir is removed");

        // A bare Dockerfile is the whole context.
        let body: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from_static(b"FROM busybox\nRUN true\n"))]));
        let ctx = rt.block_on(extract(body, &tmp)).unwrap();
        assert_eq!(std::fs::read_to_string(ctx.root().join("Dockerfile")).unwrap(), "FROM busybox\nRUN true\n");
        drop(ctx);

        // A tar cut right after its last entry's data (the docker CLI's `-f` outside the
        // context) is accepted.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "Dockerfile", &b"abc"[..]).unwrap();
        let mut cut = b.into_inner().unwrap();
        cut.truncate(512 + 3);
        let body: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from(cut))]));
        let ctx = rt.block_on(extract(body, &tmp)).unwrap();
        assert_eq!(std::fs::read(ctx.root().join("Dockerfile")).unwrap(), b"abc");
        drop(ctx);

        // A good one extracts, and goes away with the Context.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "dir/f", &b"hi"[..]).unwrap();
        let good = b.into_inner().unwrap();
        let body: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from(good))]));
        let ctx = rt.block_on(extract(body, &tmp)).unwrap();
        assert_eq!(std::fs::read(ctx.root().join("dir/f")).unwrap(), b"hi");
        let dir = ctx.root().to_path_buf();
        drop(ctx);
        assert!(!dir.exists());
    }
}
