//! Network namespaces pinned by bind mounts.
//!
//! A namespace lives as long as something references it. Berth pins each container's
//! namespace by bind-mounting the nsfs file of the thread that created it onto an empty file
//! (`<exec-root>/netns/<id>`), exactly as `ip netns add` and dockerd do; the OCI spec then
//! joins it by path and the namespace outlives the container's processes until
//! [`remove`] unmounts it.
//!
//! Namespace work happens on a fresh OS thread that exits afterwards ([`run_in`]): a thread
//! that switched namespaces is never handed back to a pool, so no tokio worker ever runs in
//! a container's namespace.
//!
//! Mount propagation: the pins are mounts in the host mount namespace. If their directory
//! sat on a shared mount (systemd makes `/` shared), every pin would propagate to the peer
//! and slave mount namespaces of the host (services with private /tmp, other daemons), and
//! each copy would keep a namespace alive after we unmount ours. So, as dockerd does for its
//! netns directory, [`create`] turns the directory into a private bind mount of itself the
//! first time, unless it already is a mount point (then it is left as its owner set it up).
//! That mount is left in place; it costs nothing and is reused by the next berthd.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::Error;

/// New netns pinned at `path` (parent dirs created, empty file, bind mount of the thread's
/// `/proc/thread-self/ns/net`). `lo` is brought up inside. Idempotent if already pinned.
///
/// The namespace is made on a short-lived thread that unshares its network namespace, brings
/// `lo` up with one ioctl pair, bind-mounts its nsfs file onto `path` and exits. On failure
/// nothing is left at `path`.
pub fn create(path: &Path) -> Result<(), Error> {
    if is_pinned(path) {
        return Ok(());
    }
    let dir =
        path.parent().filter(|d| !d.as_os_str().is_empty()).ok_or_else(|| Error::Invalid {
            what: "namespace path",
            value: path.display().to_string(),
            reason: "has no parent directory",
        })?;
    fs::create_dir_all(dir).map_err(|source| err("create directory", dir, source))?;
    private_dir(dir)?;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o444)
        .open(path)
        .map_err(|source| err("create", path, source))?;
    let target = path.to_path_buf();
    let made = on_thread("create netns", move || -> Result<(), Error> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| err("unshare for", &target, e.into()))?;
        loopback_up().map_err(|source| err("bring lo up in", &target, source))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err("bind mount netns on", &target, e.into()))
    })
    .and_then(|r| r);
    if made.is_err() {
        let _ = remove(path);
    }
    made
}

/// Unmount (MNT_DETACH) and unlink. Ok if absent.
pub fn remove(path: &Path) -> Result<(), Error> {
    // Stacked pins (two racing creates) are unmounted one by one; a bound keeps a broken
    // mount table from looping us forever.
    for _ in 0..16 {
        if !is_pinned(path) {
            break;
        }
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(e) => return Err(err("unmount", path, e.into())),
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(err("remove", path, source)),
    }
}

/// Is `path` a pinned namespace? (Is an nsfs file mounted there?)
pub fn is_pinned(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
        .unwrap_or(false)
}

/// Run `f` on a new OS thread that joined the netns at `path` (the caller's thread never
/// changes namespace). Processes spawned by `f` (e.g. with `std::process::Command`) start in
/// that namespace too. Note that `/sys/class/net` shows the devices of the namespace sysfs
/// was mounted in, not the thread's; `/proc/thread-self/net/*` and netlink show the thread's.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let ns = open(path)?;
    let p = path.to_path_buf();
    on_thread("run in netns", move || {
        join(&ns, &p)?;
        Ok(f())
    })
    .and_then(|r| r)
}

/// Open the namespace file at `path` (for `setns` or IFLA_NET_NS_FD).
pub(crate) fn open(path: &Path) -> Result<OwnedFd, Error> {
    File::open(path).map(OwnedFd::from).map_err(|source| err("open netns", path, source))
}

/// Move the calling thread into the network namespace `ns` (opened from `path`). Only for
/// threads started by [`on_thread`].
pub(crate) fn join(ns: &OwnedFd, path: &Path) -> Result<(), Error> {
    setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| err("join netns", path, e.into()))
}

/// Run `f` on a fresh, named OS thread and wait for it.
pub(crate) fn on_thread<R: Send + 'static>(
    op: &'static str,
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Error> {
    let t = std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(f)
        .map_err(|source| Error::Spawn { op, source })?;
    t.join().map_err(|_| Error::Thread { op })
}

fn err(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Netns { op, path: path.to_path_buf(), source }
}

/// Serializes "is it a mount point? if not, bind it onto itself" between threads.
static DIR_SETUP: Mutex<()> = Mutex::new(());

/// Make `dir` a private bind mount of itself unless it is a mount point already.
fn private_dir(dir: &Path) -> Result<(), Error> {
    let _one_at_a_time = DIR_SETUP.lock().unwrap_or_else(|p| p.into_inner());
    if is_mount_point(dir).map_err(|source| err("inspect", dir, source))? {
        return Ok(());
    }
    // Recursive, so pins already under `dir` (from a previous run) stay visible.
    mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| err("bind mount onto itself", dir, e.into()))?;
    mount(None::<&str>, dir, None::<&str>, MsFlags::MS_PRIVATE | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| err("make private", dir, e.into()))
}

/// Whether `dir` is the root of a mount: statx's STATX_ATTR_MOUNT_ROOT (Linux 5.8), else
/// a look at /proc/self/mountinfo.
fn is_mount_point(dir: &Path) -> io::Result<bool> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: statx is all zeroes-valid plain data.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a valid out pointer.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            libc::STATX_BASIC_STATS,
            &mut stx,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if stx.stx_attributes_mask & bit != 0 {
        return Ok(stx.stx_attributes & bit != 0);
    }
    let canonical = fs::canonicalize(dir)?;
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info.lines().any(|l| {
        l.split(' ').nth(4).map(unescape_mountinfo).as_deref() == Some(canonical.as_path())
    }))
}

/// Mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Set IFF_UP on `lo` of the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2); the result is checked and owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; all zeroes is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: a valid socket and a valid ifreq naming "lo".
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescaping() {
        let cases = [
            ("/run/berth/netns", "/run/berth/netns"),
            ("/tmp/with\\040space", "/tmp/with space"),
            ("/tmp/tab\\011x", "/tmp/tab\tx"),
            ("/tmp/back\\134slash", "/tmp/back\\slash"),
            ("/tmp/not\\12", "/tmp/not\\12"),
            ("/tmp/not\\9xy", "/tmp/not\\9xy"),
        ];
        for (field, want) in cases {
            assert_eq!(unescape_mountinfo(field), PathBuf::from(want), "{field}");
        }
    }

    #[test]
    fn a_path_without_parent_is_refused() {
        assert!(matches!(create(Path::new("/")), Err(Error::Invalid { .. })));
    }

    #[test]
    fn an_ordinary_file_is_not_pinned() {
        assert!(!is_pinned(Path::new("/proc/self/status")));
        assert!(!is_pinned(Path::new("/nonexistent/berth/netns/x")));
    }
}
