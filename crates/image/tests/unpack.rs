//! Unpacking untrusted layer tarballs: nothing may land outside the destination.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_image::{unpack, unpack_tee, UnpackError, UnpackOptions, Unpacked};
use common::{gzip, require_root, unique, zstd, Meta, Tar, MTIME};
use tar::EntryType;

struct Dest {
    _tmp: tempfile::TempDir,
    /// A sibling of `root`: anything written here escaped.
    outside: PathBuf,
    root: PathBuf,
}

fn dest() -> Dest {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().to_path_buf();
    let root = outside.join("layer");
    fs::create_dir(&root).unwrap();
    Dest {
        _tmp: tmp,
        outside,
        root,
    }
}

fn run(tar: &[u8], d: &Dest, privileged: bool) -> Result<Unpacked, UnpackError> {
    unpack(tar, &d.root, UnpackOptions { privileged })
}

/// Names directly in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the given length.
    let r = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return None;
    }
    buf.truncate(r as usize);
    Some(buf)
}

#[test]
fn dotdot_entry_is_refused_and_writes_nothing_outside() {
    let d = dest();
    for name in ["../evil", "a/../../evil", "./../evil"] {
        let tar = Tar::new().file(name, b"pwned").finish();
        let err = run(&tar, &d, false).unwrap_err();
        assert!(matches!(err, UnpackError::Breakout(_)), "{name}: {err}");
        assert!(err.to_string().contains("outside of the layer"), "{err}");
        assert_eq!(names(&d.outside), ["layer"], "{name}");
    }
}

#[test]
fn absolute_paths_stay_inside_the_layer() {
    let d = dest();
    let top = unique("berth-abs");
    let tar = Tar::new()
        .file(&format!("/{top}/file"), b"x")
        .file("/../../up", b"y")
        .finish();
    run(&tar, &d, false).unwrap();
    assert_eq!(fs::read(d.root.join(&top).join("file")).unwrap(), b"x");
    assert_eq!(fs::read(d.root.join("up")).unwrap(), b"y");
    assert!(!Path::new("/").join(&top).exists());
    assert_eq!(names(&d.outside), ["layer"]);
}

#[test]
fn symlink_to_root_then_a_file_through_it_stays_inside() {
    let d = dest();
    let evil = unique("berth-evil");
    let tar = Tar::new()
        .symlink("root", "/")
        .file(&format!("root/{evil}"), b"through /")
        .symlink("up", "../../../../../../..")
        .file(&format!("up/{evil}-2"), b"through ..")
        .dir("d")
        .symlink("d/abs", "/d")
        .file(&format!("d/abs/{evil}-3"), b"through /d")
        .finish();
    run(&tar, &d, false).unwrap();
    // Links are kept as written; what went through them landed inside the layer.
    assert_eq!(fs::read_link(d.root.join("root")).unwrap(), Path::new("/"));
    assert_eq!(fs::read(d.root.join(&evil)).unwrap(), b"through /");
    assert_eq!(
        fs::read(d.root.join(format!("{evil}-2"))).unwrap(),
        b"through .."
    );
    assert_eq!(
        fs::read(d.root.join("d").join(format!("{evil}-3"))).unwrap(),
        b"through /d"
    );
    for n in [evil.clone(), format!("{evil}-2"), format!("{evil}-3")] {
        assert!(!Path::new("/").join(&n).exists(), "{n} escaped to /");
        assert!(!Path::new("/d").join(&n).exists(), "{n} escaped to /d");
    }
    assert_eq!(names(&d.outside), ["layer"]);
}

#[test]
fn a_symlink_replacing_a_directory_is_not_followed_later() {
    let d = dest();
    let evil = unique("berth-late");
    // `d` is a directory (its mtime is applied at the end), then replaced by a link to `/`.
    let tar = Tar::new()
        .dir("d")
        .file("d/f", b"1")
        .symlink("d", "/")
        .file(&format!("d/{evil}"), b"2")
        .finish();
    run(&tar, &d, false).unwrap();
    assert!(fs::symlink_metadata(d.root.join("d"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(d.root.join(&evil)).unwrap(), b"2");
    assert!(!Path::new("/").join(&evil).exists());
}

#[test]
fn hardlinks_only_reach_files_inside_the_layer() {
    let host = fs::metadata("/etc/passwd").unwrap();

    // Absolute target missing from the layer: refused (not linked to the host's file).
    let d = dest();
    let tar = Tar::new().hardlink("pw", "/etc/passwd").finish();
    let err = run(&tar, &d, false).unwrap_err();
    assert!(matches!(err, UnpackError::HardLink { .. }), "{err}");
    assert!(!d.root.join("pw").exists());

    // Climbing out: refused.
    let d = dest();
    let tar = Tar::new().hardlink("pw", "../../../../etc/passwd").finish();
    assert!(matches!(
        run(&tar, &d, false).unwrap_err(),
        UnpackError::HardLink { .. }
    ));

    // Through a symlink to the host's /etc: resolved inside the layer, where it is missing.
    let d = dest();
    let tar = Tar::new()
        .symlink("etc", "/etc")
        .hardlink("pw", "etc/passwd")
        .finish();
    assert!(matches!(
        run(&tar, &d, false).unwrap_err(),
        UnpackError::HardLink { .. }
    ));

    // The layer's own /etc/passwd: linked to that one.
    let d = dest();
    let tar = Tar::new()
        .dir("etc")
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .hardlink("pw", "/etc/passwd")
        .finish();
    run(&tar, &d, false).unwrap();
    let pw = fs::metadata(d.root.join("pw")).unwrap();
    assert_eq!(
        pw.ino(),
        fs::metadata(d.root.join("etc/passwd")).unwrap().ino()
    );
    assert_ne!((pw.dev(), pw.ino()), (host.dev(), host.ino()));

    // A directory target: refused.
    let d = dest();
    let tar = Tar::new().dir("dir").hardlink("h", "dir").finish();
    assert!(matches!(
        run(&tar, &d, false).unwrap_err(),
        UnpackError::HardLink { .. }
    ));
}

#[test]
fn device_nodes_are_skipped_when_unprivileged() {
    let d = dest();
    let tar = Tar::new()
        .dir("dev")
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/sda", EntryType::Block, 8, 0)
        .device("dev/fifo", EntryType::Fifo, 0, 0)
        .finish();
    let out = run(&tar, &d, false).unwrap();
    assert_eq!(
        out.skipped,
        [PathBuf::from("dev/null"), PathBuf::from("dev/sda")]
    );
    assert_eq!(names(&d.root.join("dev")), ["fifo"]);
    assert!(fs::metadata(d.root.join("dev/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn device_nodes_are_created_when_privileged() {
    if !require_root("device_nodes_are_created_when_privileged") {
        return;
    }
    let d = dest();
    let tar = Tar::new()
        .dir("dev")
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/loopx", EntryType::Block, 7, 200)
        .finish();
    let out = run(&tar, &d, true).unwrap();
    assert!(out.skipped.is_empty());
    let null = fs::metadata(d.root.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(null.permissions().mode() & 0o7777, 0o666);
    let blk = fs::metadata(d.root.join("dev/loopx")).unwrap();
    assert!(blk.file_type().is_block_device());
    assert_eq!(blk.rdev(), libc::makedev(7, 200));
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    if !require_root("whiteouts_become_overlay_whiteouts") {
        return;
    }
    let d = dest();
    let tar = Tar::new()
        .dir("a")
        .file("a/gone", b"shadowed below")
        .file("a/.wh.gone", b"")
        .file("a/.wh.never-existed", b"")
        .dir("b")
        .file("b/.wh..wh..opq", b"")
        .file("b/kept", b"k")
        .dir(".wh..wh.plnk")
        .file(".wh..wh.plnk/123.456", b"aufs")
        .pax(&[
            ("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
            ("SCHILY.xattr.user.ok", b"1"),
        ])
        .dir("c")
        .finish();
    run(&tar, &d, true).unwrap();
    for n in ["a/gone", "a/never-existed"] {
        let md = fs::symlink_metadata(d.root.join(n)).unwrap();
        assert!(md.file_type().is_char_device(), "{n}");
        assert_eq!(md.rdev(), 0, "{n}");
    }
    assert_eq!(names(&d.root.join("a")), ["gone", "never-existed"]);
    assert_eq!(
        getxattr(&d.root.join("b"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(names(&d.root.join("b")), ["kept"]);
    assert!(getxattr(&d.root.join("a"), "trusted.overlay.opaque").is_none());
    assert_eq!(
        names(&d.root),
        ["a", "b", "c"],
        "AUFS metadata is not unpacked"
    );
    assert!(
        getxattr(&d.root.join("c"), "trusted.overlay.redirect").is_none(),
        "overlay xattrs from the tar are ignored"
    );
    assert_eq!(
        getxattr(&d.root.join("c"), "user.ok").as_deref(),
        Some(&b"1"[..])
    );
}

#[test]
fn whiteouts_are_skipped_when_unprivileged() {
    let d = dest();
    let tar = Tar::new()
        .dir("a")
        .file("a/.wh.x", b"")
        .file("a/.wh..wh..opq", b"")
        .finish();
    let out = run(&tar, &d, false).unwrap();
    assert_eq!(
        out.skipped,
        [PathBuf::from("a/.wh.x"), PathBuf::from("a/.wh..wh..opq")]
    );
    assert!(names(&d.root.join("a")).is_empty());
}

#[test]
fn a_whiteout_cannot_name_the_parent() {
    let d = dest();
    let tar = Tar::new().dir("a").file("a/.wh...", b"").finish();
    assert!(matches!(
        run(&tar, &d, true).unwrap_err(),
        UnpackError::Breakout(_)
    ));
}

#[test]
fn modes_owners_times_and_xattrs_are_preserved() {
    let root = require_root("modes_owners_times_and_xattrs_are_preserved (ownership part)");
    let d = dest();
    let tar = Tar::new()
        .dir_with(
            "dir",
            &Meta {
                mode: 0o750,
                uid: 1234,
                gid: 5678,
                mtime: 1_000_000,
            },
        )
        .pax(&[
            ("SCHILY.xattr.user.color", b"blue"),
            ("mtime", b"1234567.5"),
        ])
        .file_with(
            "dir/suid",
            b"#!/bin/sh\n",
            &Meta {
                mode: 0o4755,
                uid: 1234,
                gid: 5678,
                mtime: MTIME,
            },
        )
        .symlink("dir/link", "suid")
        .finish();
    let out = run(&tar, &d, root).unwrap();
    assert_eq!(out.size, 10);
    let dir = fs::metadata(d.root.join("dir")).unwrap();
    assert_eq!(dir.permissions().mode() & 0o7777, 0o750);
    assert_eq!(
        dir.mtime(),
        1_000_000,
        "directory times are applied after their content"
    );
    let f = fs::metadata(d.root.join("dir/suid")).unwrap();
    assert_eq!(f.permissions().mode() & 0o7777, 0o4755);
    assert_eq!((f.mtime(), f.mtime_nsec()), (1_234_567, 500_000_000));
    assert_eq!(
        getxattr(&d.root.join("dir/suid"), "user.color").as_deref(),
        Some(&b"blue"[..])
    );
    let l = fs::symlink_metadata(d.root.join("dir/link")).unwrap();
    assert_eq!(l.mtime(), MTIME as i64);
    if root {
        assert_eq!((dir.uid(), dir.gid()), (1234, 5678));
        assert_eq!((f.uid(), f.gid()), (1234, 5678));
    }
}

#[test]
fn existing_entries_are_replaced() {
    let d = dest();
    let tar = Tar::new()
        .file("x", b"file")
        .dir("x")
        .file("x/in", b"1")
        .file("y", b"old")
        .file("y", b"new")
        .dir("z")
        .file("z/keep", b"k")
        .dir("z")
        .finish();
    run(&tar, &d, false).unwrap();
    assert!(fs::metadata(d.root.join("x")).unwrap().is_dir());
    assert_eq!(fs::read(d.root.join("y")).unwrap(), b"new");
    assert_eq!(
        fs::read(d.root.join("z/keep")).unwrap(),
        b"k",
        "a directory over a directory keeps its content"
    );
}

#[test]
fn diff_id_is_the_digest_of_the_uncompressed_stream() {
    let tar = Tar::new().dir("bin").file("bin/sh", b"echo").finish();
    let want = berth_reference::Digest::sha256_of(&tar);
    let d = dest();
    assert_eq!(run(&tar, &d, false).unwrap().diff_id, want);
    let d = dest();
    let out = run(&gzip(&tar), &d, false).unwrap();
    assert_eq!(out.diff_id, want, "gzip is detected by its magic bytes");
    assert_eq!(fs::read(d.root.join("bin/sh")).unwrap(), b"echo");
    let d = dest();
    let out = run(&zstd(&tar), &d, false).unwrap();
    assert_eq!(out.diff_id, want, "zstd is detected by its magic bytes");
    assert_eq!(out.tar_size, tar.len() as u64);
    assert_eq!(fs::read(d.root.join("bin/sh")).unwrap(), b"echo");
    // Several gzip members / zstd frames are one stream.
    let (a, b) = tar.split_at(700);
    for joined in [[gzip(a), gzip(b)].concat(), [zstd(a), zstd(b)].concat()] {
        let d = dest();
        assert_eq!(run(&joined, &d, false).unwrap().diff_id, want);
    }
}

#[test]
fn unpack_tee_copies_the_uncompressed_stream() {
    let tar = Tar::new().file("big", &vec![3u8; 500_000]).finish();
    let d = dest();
    let mut copy = Vec::new();
    let out = unpack_tee(
        &zstd(&tar)[..],
        &d.root,
        UnpackOptions { privileged: false },
        &mut copy,
    )
    .unwrap();
    assert_eq!(copy, tar, "the tee sees the whole tar, trailer included");
    assert_eq!(out.tar_size, tar.len() as u64);

    // A failing tee fails the unpack.
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let d = dest();
    let err = unpack_tee(
        &tar[..],
        &d.root,
        UnpackOptions { privileged: false },
        &mut Broken,
    )
    .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
}

#[test]
fn garbage_and_unsupported_compression_are_refused() {
    let d = dest();
    let err = run(&[0x42u8; 1024], &d, false).unwrap_err();
    assert!(matches!(err, UnpackError::Archive(_)), "{err}");
    let err = run(b"\xfd7zXZ\x00rest", &d, false).unwrap_err();
    assert!(
        matches!(err, UnpackError::UnsupportedCompression("xz")),
        "{err}"
    );
    let err = run(b"BZh91AY&SY", &d, false).unwrap_err();
    assert!(
        matches!(err, UnpackError::UnsupportedCompression("bzip2")),
        "{err}"
    );
    // A truncated zstd or gzip stream is a bad archive.
    let tar = Tar::new().file("f", &[1u8; 5000]).finish();
    for bad in [zstd(&tar), gzip(&tar)] {
        let d = dest();
        let err = run(&bad[..bad.len() / 2], &d, false).unwrap_err();
        assert!(matches!(err, UnpackError::Archive(_)), "{err}");
    }
    // An empty stream is an empty layer.
    let d = dest();
    assert_eq!(run(b"", &d, false).unwrap().size, 0);
}

#[test]
fn symlink_loops_are_refused() {
    let d = dest();
    let tar = Tar::new()
        .symlink("a", "b")
        .symlink("b", "a")
        .file("a/f", b"")
        .finish();
    let err = run(&tar, &d, false).unwrap_err();
    assert!(matches!(err, UnpackError::Resolve { .. }), "{err}");
}

#[test]
fn old_style_entries_with_a_trailing_slash_are_directories() {
    let d = dest();
    let tar = Tar::new()
        .old_style("olddir/", b"")
        .old_style("olddir/f", b"data")
        .finish();
    run(&tar, &d, false).unwrap();
    assert!(fs::metadata(d.root.join("olddir")).unwrap().is_dir());
    assert_eq!(fs::read(d.root.join("olddir/f")).unwrap(), b"data");
}

#[test]
fn whiteouts_hide_lower_files_under_overlayfs() {
    if !require_root("whiteouts_hide_lower_files_under_overlayfs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (lower, upper, merged) = (
        tmp.path().join("l0"),
        tmp.path().join("l1"),
        tmp.path().join("merged"),
    );
    for d in [&lower, &upper, &merged] {
        fs::create_dir(d).unwrap();
    }
    let base = Tar::new()
        .dir("a")
        .file("a/gone", b"0")
        .file("a/stays", b"0")
        .dir("b")
        .file("b/old", b"0")
        .finish();
    let top = Tar::new()
        .dir("a")
        .file("a/.wh.gone", b"")
        .dir("b")
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"1")
        .finish();
    let opts = UnpackOptions { privileged: true };
    unpack(&base[..], &lower, opts).unwrap();
    unpack(&top[..], &upper, opts).unwrap();

    let data = format!("lowerdir={}:{}", upper.display(), lower.display());
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).unwrap();
    let (src, target, fstype, data) = (
        CString::new("overlay").unwrap(),
        c(&merged),
        CString::new("overlay").unwrap(),
        CString::new(data).unwrap(),
    );
    // SAFETY: valid C strings; a read-only overlay of two lower layers.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_RDONLY,
            data.as_ptr().cast(),
        )
    };
    if r != 0 {
        eprintln!(
            "SKIPPED whiteouts_hide_lower_files_under_overlayfs: mount overlay: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    let seen_a = names(&merged.join("a"));
    let seen_b = names(&merged.join("b"));
    // SAFETY: unmounting what we mounted.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    assert_eq!(seen_a, ["stays"], "the whiteout hides a/gone");
    assert_eq!(seen_b, ["new"], "the opaque directory hides b/old");
}

#[test]
fn blank_numeric_fields_read_as_zero() {
    // tar::Header::new_gnu leaves uid, gid and mtime blank; Go's archive/tar reads 0.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(2);
    b.append_data(&mut h, "f", &b"hi"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let d = dest();
    run(&tar, &d, false).unwrap();
    let md = fs::metadata(d.root.join("f")).unwrap();
    assert_eq!((md.mtime(), md.permissions().mode() & 0o777), (0, 0o644));
    // A field with garbage is still an error.
    let mut bad = tar.clone();
    bad[108..116].copy_from_slice(b"zz\0\0\0\0\0\0");
    let mut h = tar::Header::new_old();
    h.as_mut_bytes().copy_from_slice(&bad[..512]);
    h.set_cksum();
    bad[..512].copy_from_slice(h.as_bytes());
    let d = dest();
    assert!(matches!(run(&bad, &d, false), Err(UnpackError::Archive(_))));
}
