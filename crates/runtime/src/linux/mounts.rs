//! The container's filesystem: root overlay, spec mounts, devices, pivot_root, masked and
//! read-only paths. Runs in the init, inside its new mount namespace.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType, Mount, Spec};

use super::{check, cpath, cstr, Error, InitConfig, Overlay};

fn mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), Error> {
    let src_c = src.map(cpath).transpose()?;
    let tgt = cpath(target)?;
    let fs_c = fstype.map(cstr).transpose()?;
    let data_c = data.filter(|d| !d.is_empty()).map(cstr).transpose()?;
    // SAFETY: every pointer is either NULL or a valid C string that outlives the call.
    let rc = unsafe {
        libc::mount(
            src_c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            tgt.as_ptr(),
            fs_c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            flags,
            data_c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr().cast()),
        )
    };
    check(rc, || {
        format!(
            "mount {} on {} ({})",
            src.map(|s| s.display().to_string()).unwrap_or_else(|| "none".into()),
            target.display(),
            fstype.unwrap_or("bind")
        )
    })
}

/// Remount a bind mount with `flags`. In a user namespace the flags a mount had when the
/// namespace was made are locked (nosuid, nodev, noexec, rdonly, atime): on EPERM, retry with
/// the mount's current ones added, as runc does.
fn remount_bind(dest: &Path, flags: libc::c_ulong) -> Result<(), Error> {
    let first = mount(None, dest, None, libc::MS_BIND | libc::MS_REMOUNT | flags, None);
    let Err(e) = first else { return Ok(()) };
    let c = cpath(dest)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and a statvfs struct to fill.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(e);
    }
    let mut locked: libc::c_ulong = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag & st_flag != 0 {
            locked |= ms_flag;
        }
    }
    if locked & flags == locked {
        return Err(e);
    }
    mount(None, dest, None, libc::MS_BIND | libc::MS_REMOUNT | flags | locked, None)
}

/// Mount flags and the leftover data string, as runc parses `options`.
pub(crate) fn parse_options(options: &[String]) -> (libc::c_ulong, libc::c_ulong, Vec<String>) {
    let mut flags: libc::c_ulong = 0;
    let mut propagation: libc::c_ulong = 0;
    let mut data = Vec::new();
    for o in options {
        let (set, clear): (libc::c_ulong, libc::c_ulong) = match o.as_str() {
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "remount" => (libc::MS_REMOUNT, 0),
            "bind" => (libc::MS_BIND, 0),
            "rbind" => (libc::MS_BIND | libc::MS_REC, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "noatime" => (libc::MS_NOATIME, 0),
            "atime" => (0, libc::MS_NOATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "private" => {
                propagation |= libc::MS_PRIVATE;
                continue;
            }
            "rprivate" => {
                propagation |= libc::MS_PRIVATE | libc::MS_REC;
                continue;
            }
            "slave" => {
                propagation |= libc::MS_SLAVE;
                continue;
            }
            "rslave" => {
                propagation |= libc::MS_SLAVE | libc::MS_REC;
                continue;
            }
            "shared" => {
                propagation |= libc::MS_SHARED;
                continue;
            }
            "rshared" => {
                propagation |= libc::MS_SHARED | libc::MS_REC;
                continue;
            }
            // Accepted for Docker compatibility; SELinux relabelling does not apply here.
            "z" | "Z" => continue,
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, propagation, data)
}

/// Resolve `path` as if `root` were `/`: symlinks are followed but can never leave `root`.
pub(crate) fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, Error> {
    let mut todo: VecDeque<PathBuf> =
        path.components().filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        }).collect();
    let mut done: Vec<PathBuf> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if c.as_os_str() == ".." {
            done.pop();
            continue;
        }
        let mut here = root.to_path_buf();
        here.extend(&done);
        here.push(&c);
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(Error::Spec(format!("too many symlinks in {}", path.display())));
                }
                let target = std::fs::read_link(&here)
                    .map_err(|e| Error::Sys { what: format!("readlink {}", here.display()), source: e })?;
                if target.is_absolute() {
                    done.clear();
                }
                for (i, tc) in target
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(n) => Some(PathBuf::from(n)),
                        Component::ParentDir => Some(PathBuf::from("..")),
                        _ => None,
                    })
                    .enumerate()
                {
                    todo.insert(i, tc);
                }
            }
            _ => done.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(done);
    Ok(out)
}

fn ensure_target(target: &Path, as_file: bool) -> Result<(), Error> {
    let io = |what: &str, e: std::io::Error| Error::Sys { what: format!("{what} {}", target.display()), source: e };
    if as_file {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("create", e))?;
        }
        if std::fs::symlink_metadata(target).is_err() {
            std::fs::File::create(target).map_err(|e| io("create", e))?;
        }
    } else {
        std::fs::create_dir_all(target).map_err(|e| io("create", e))?;
    }
    Ok(())
}

fn mount_one(rootfs: &Path, m: &Mount, net_ns_new: bool, cgroup_v2: bool) -> Result<(), Error> {
    let dest = resolve_in_root(rootfs, m.destination())?;
    let options = m.options().clone().unwrap_or_default();
    let (flags, propagation, data) = parse_options(&options);
    let data = data.join(",");
    let typ = m.typ().as_deref().unwrap_or("none");
    let is_bind = flags & libc::MS_BIND != 0 || typ == "bind";
    if is_bind {
        let src = m.source().as_deref().ok_or_else(|| {
            Error::Spec(format!("bind mount to {} has no source", m.destination().display()))
        })?;
        let src_is_dir = std::fs::metadata(src).map(|md| md.is_dir()).map_err(|e| Error::Sys {
            what: format!("bind source {}", src.display()),
            source: e,
        })?;
        ensure_target(&dest, !src_is_dir)?;
        let rec = flags & libc::MS_REC;
        mount(Some(src), &dest, None, libc::MS_BIND | rec, None)?;
        let remount_flags = flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
        if remount_flags != 0 {
            remount_bind(&dest, remount_flags)?;
        }
    } else {
        match typ {
            "sysfs" if !net_ns_new => {
                // Without its own network namespace the container may not mount sysfs: bind
                // the host's, read-only, as runc does.
                ensure_target(&dest, false)?;
                mount(Some(Path::new("/sys")), &dest, None, libc::MS_BIND | libc::MS_REC, None)?;
                remount_bind(&dest, libc::MS_RDONLY | (flags & (libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV)))?;
            }
            "cgroup" | "cgroup2" => {
                ensure_target(&dest, false)?;
                if cgroup_v2 {
                    mount(Some(Path::new("cgroup2")), &dest, Some("cgroup2"), flags, None)?;
                }
                // On cgroup v1 the container sees an empty /sys/fs/cgroup (no per-controller
                // views yet).
            }
            _ => {
                ensure_target(&dest, false)?;
                let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
                mount(Some(&src), &dest, Some(typ), flags, Some(&data))?;
            }
        }
    }
    if propagation != 0 {
        mount(None, &dest, None, propagation, None)?;
    }
    Ok(())
}

fn create_devices(cfg: &InitConfig<'_>) -> Result<(), Error> {
    let rootfs = cfg.rootfs;
    let devices = cfg.spec.linux().as_ref().and_then(|l| l.devices().clone()).unwrap_or_default();
    for d in devices {
        let dest = resolve_in_root(rootfs, d.path())?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Sys { what: format!("create {}", parent.display()), source: e })?;
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            _ => libc::S_IFCHR,
        };
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        let dev = libc::makedev(d.major() as u32, d.minor() as u32);
        let c = cpath(&dest)?;
        let _ = std::fs::remove_file(&dest);
        if in_user_namespace() {
            // mknod is not allowed in a user namespace: bind the host's node, as runc does.
            ensure_target(&dest, true)?;
            mount(Some(d.path()), &dest, None, libc::MS_BIND, None)?;
            continue;
        }
        // SAFETY: valid C string.
        check(unsafe { libc::mknod(c.as_ptr(), kind | mode, dev) }, || {
            format!("mknod {}", d.path().display())
        })?;
        // mknod is subject to the umask; set the exact mode and owner.
        // SAFETY: valid C string.
        unsafe {
            libc::chmod(c.as_ptr(), mode);
            libc::chown(c.as_ptr(), d.uid().unwrap_or(0), d.gid().unwrap_or(0));
        }
    }
    // The devices every container has, whether or not the spec lists them (as runc does).
    for (name, major, minor) in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)] {
        let dest = rootfs.join("dev").join(name);
        if std::fs::symlink_metadata(&dest).is_ok() {
            continue;
        }
        if in_user_namespace() {
            ensure_target(&dest, true)?;
            mount(Some(&Path::new("/dev").join(name)), &dest, None, libc::MS_BIND, None)?;
            continue;
        }
        let c = cpath(&dest)?;
        // SAFETY: valid C string.
        check(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(major, minor)) }, || format!("mknod /dev/{name}"))?;
        // SAFETY: valid C string.
        unsafe { libc::chmod(c.as_ptr(), 0o666) };
    }
    let dev = rootfs.join("dev");
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let p = dev.join(link);
        if std::fs::symlink_metadata(&p).is_err() {
            symlink(target, &p)
                .map_err(|e| Error::Sys { what: format!("symlink {}", p.display()), source: e })?;
        }
    }
    if cfg.stdio.terminal && cfg.stdio.stdin >= 0 {
        // The terminal's replica also answers as /dev/console, as with runc.
        let replica = std::fs::read_link(format!("/proc/self/fd/{}", cfg.stdio.stdin))
            .map_err(|e| Error::Sys { what: "find terminal".into(), source: e })?;
        let console = dev.join("console");
        ensure_target(&console, true)?;
        mount(Some(&replica), &console, None, libc::MS_BIND, None)?;
    }
    Ok(())
}

/// Bind the container's terminal replica (`/dev/pts/N`) at `/dev/console` (after pivot_root).
pub(crate) fn bind_console(replica: &str) -> Result<(), Error> {
    let console = Path::new("/dev/console");
    ensure_target(console, true)?;
    mount(Some(Path::new(replica)), console, None, libc::MS_BIND, None)
}

fn pivot_root(rootfs: &Path) -> Result<(), Error> {
    let c = cpath(rootfs)?;
    let dot = c".";
    // SAFETY: plain syscalls on valid C strings; the pivot_root(".", ".") trick stacks the old
    // root under the new one, then detaches it.
    unsafe {
        check(libc::chdir(c.as_ptr()), || format!("chdir {}", rootfs.display()))?;
        check(
            libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) as libc::c_int,
            || "pivot_root".into(),
        )?;
        check(libc::umount2(dot.as_ptr(), libc::MNT_DETACH), || "detach old root".into())?;
        check(libc::chdir(c"/".as_ptr()), || "chdir /".into())?;
    }
    Ok(())
}

fn mask_paths(paths: &[String]) -> Result<(), Error> {
    for p in paths {
        let path = Path::new(p);
        match std::fs::metadata(path) {
            Err(_) => continue,
            Ok(m) if m.is_dir() => {
                mount(Some(Path::new("tmpfs")), path, Some("tmpfs"), libc::MS_RDONLY, None)?
            }
            Ok(_) => mount(Some(Path::new("/dev/null")), path, None, libc::MS_BIND, None)?,
        }
    }
    Ok(())
}

fn readonly_paths(paths: &[String]) -> Result<(), Error> {
    for p in paths {
        let path = Path::new(p);
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None)?;
        mount(
            None,
            path,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )?;
    }
    Ok(())
}

/// Build the container's filesystem and make it the root.
pub(crate) fn setup_rootfs(cfg: &InitConfig<'_>, net_ns_new: bool, root_mount: Option<RawFd>) -> Result<(), Error> {
    let spec = cfg.spec;
    let linux = spec.linux().as_ref();
    let prop = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        Some("shared") | Some("rshared") => libc::MS_SHARED | libc::MS_REC,
        Some("private") | Some("rprivate") => libc::MS_PRIVATE | libc::MS_REC,
        _ => libc::MS_SLAVE | libc::MS_REC,
    };
    mount(None, Path::new("/"), None, prop, None)?;
    let rootfs = cfg.rootfs;
    match cfg.overlay {
        Some(_) if root_mount.is_some() => {
            std::fs::create_dir_all(rootfs)
                .map_err(|e| Error::Sys { what: format!("create {}", rootfs.display()), source: e })?;
            attach_mount(root_mount.unwrap_or(-1), rootfs)?;
        }
        Some(o) => {
            let lower: Vec<String> = o.lower.iter().map(|p| p.display().to_string()).collect();
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.join(":"),
                o.upper.display(),
                o.work.display()
            );
            std::fs::create_dir_all(rootfs)
                .map_err(|e| Error::Sys { what: format!("create {}", rootfs.display()), source: e })?;
            mount(Some(Path::new("overlay")), rootfs, Some("overlay"), 0, Some(&data))?;
        }
        None => mount(Some(rootfs), rootfs, None, libc::MS_BIND | libc::MS_REC, None)?,
    }
    for m in spec.mounts().as_deref().unwrap_or_default() {
        mount_one(rootfs, m, net_ns_new, cfg.cgroup_v2)?;
    }
    create_devices(cfg)?;
    // Docker creates the working directory when it is missing.
    if let Some(p) = spec.process() {
        let cwd = resolve_in_root(rootfs, p.cwd())?;
        if !cwd.exists() {
            let _ = std::fs::create_dir_all(&cwd);
        }
    }
    pivot_root(rootfs)?;
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        mount(None, Path::new("/"), None, libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY, None)?;
    }
    Ok(())
}

/// Make the spec's read-only paths read-only and hide its masked paths. After sysctls are
/// written (they live under `/proc/sys`, which becomes read-only here), as runc orders it.
pub(crate) fn finalize_rootfs(spec: &oci_spec::runtime::Spec) -> Result<(), Error> {
    if let Some(l) = spec.linux() {
        readonly_paths(l.readonly_paths().as_deref().unwrap_or_default())?;
        mask_paths(l.masked_paths().as_deref().unwrap_or_default())?;
    }
    Ok(())
}

// ---- User namespaces (`--userns-remap`) ----
//
// The monitor clones the init with a new user namespace, then (as root of the host) writes
// its maps, hands the writable layer to the remapped root, and builds the root overlay itself
// — the image layers as idmapped mounts (`open_tree` clones with `MOUNT_ATTR_IDMAP` in the
// container's namespace, so files owned by 0 on disk are the container root's), the overlay
// a detached mount (`fsopen`/`fsmount`) — and passes it to the init, which attaches it at its
// root inside its own mount namespace. Namespaces joined by path that the host owns
// (a network namespace made by the engine) are entered by the monitor around the clone: the
// init, already in its user namespace, could no longer join them.

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_SET_FD: libc::c_uint = 5;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// The tag of the root mount sent from the monitor to the init.
pub const ROOT_MOUNT_TAG: u8 = b'M';

fn sys_fd(rc: libc::c_long, what: impl FnOnce() -> String) -> Result<OwnedFd, Error> {
    if rc < 0 {
        return Err(Error::Sys { what: what(), source: std::io::Error::last_os_error() });
    }
    // SAFETY: the syscall returned a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// Whether the spec asks for a new user namespace.
pub fn new_user_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| nss.iter().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none()))
}

/// Whether this process runs in a user namespace other than the host's.
fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

/// `/proc/<pid>/{uid,gid}_map` text of OCI mappings.
fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

/// The host id of container id 0.
fn host_root(maps: &[LinuxIdMapping]) -> Option<u32> {
    maps.iter().find(|m| m.container_id() == 0 && m.size() > 0).map(|m| m.host_id())
}

/// Monitor side, before the clone: enter the namespaces the spec joins by path (but the mount
/// namespace) so that the init inherits them. Returns the monitor's own ones for
/// [`leave_joined_namespaces`].
pub fn enter_joined_namespaces(spec: &Spec) -> Result<Vec<(libc::c_int, OwnedFd)>, Error> {
    let mut saved = Vec::new();
    for (flag, path) in super::namespace_plan(spec).1 {
        if flag == libc::CLONE_NEWNS || flag == libc::CLONE_NEWUSER || flag == libc::CLONE_NEWPID {
            continue;
        }
        let name = match flag {
            libc::CLONE_NEWNET => "net",
            libc::CLONE_NEWIPC => "ipc",
            libc::CLONE_NEWUTS => "uts",
            libc::CLONE_NEWCGROUP => "cgroup",
            _ => continue,
        };
        let own = std::fs::File::open(format!("/proc/self/ns/{name}"))
            .map_err(|e| Error::Sys { what: format!("open own {name} namespace"), source: e })?;
        let target = std::fs::File::open(&path).map_err(|e| Error::Sys { what: format!("open {}", path.display()), source: e })?;
        // SAFETY: setns on a valid namespace descriptor.
        check(unsafe { libc::setns(target.as_raw_fd(), flag) }, || format!("setns {}", path.display()))?;
        saved.push((flag, OwnedFd::from(own)));
    }
    Ok(saved)
}

/// Monitor side, after the clone: back to the monitor's own namespaces.
pub fn leave_joined_namespaces(saved: Vec<(libc::c_int, OwnedFd)>) {
    for (flag, fd) in saved {
        // SAFETY: setns on a valid namespace descriptor.
        unsafe { libc::setns(fd.as_raw_fd(), flag) };
    }
}

/// Whether this process is already in the namespace at `path` (so joining it is a no-op that
/// a process inside a user namespace would not be allowed to do).
pub(crate) fn already_in(path: &Path, flag: libc::c_int) -> bool {
    use std::os::unix::fs::MetadataExt;
    let name = match flag {
        libc::CLONE_NEWNET => "net",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWNS => "mnt",
        libc::CLONE_NEWUSER => "user",
        _ => return false,
    };
    match (std::fs::metadata(path), std::fs::metadata(format!("/proc/self/ns/{name}"))) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Monitor side, right after cloning an init with a new user namespace (before `c`): write its
/// maps, give the writable layer to the remapped root and build the root overlay over
/// idmapped layers. The returned mount goes to the init with [`send_root_mount`].
pub fn prepare_user_namespace(pid: libc::pid_t, spec: &Spec, overlay: Option<&Overlay>) -> Result<Option<OwnedFd>, Error> {
    let linux = spec.linux().as_ref().ok_or_else(|| Error::Spec("user namespace without linux section".into()))?;
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    let (Some(ruid), Some(rgid)) = (host_root(&uids), host_root(&gids)) else {
        return Err(Error::Spec("user namespace without a mapping for root".into()));
    };
    for (file, maps) in [("uid_map", &uids), ("gid_map", &gids)] {
        let p = format!("/proc/{pid}/{file}");
        std::fs::write(&p, map_text(maps)).map_err(|e| Error::Sys { what: format!("write {p}"), source: e })?;
    }
    let Some(o) = overlay else { return Ok(None) };
    for d in [&o.upper, &o.work] {
        std::os::unix::fs::lchown(d, Some(ruid), Some(rgid)).map_err(|e| Error::Sys { what: format!("chown {}", d.display()), source: e })?;
    }
    // The container's own files next to its layer (hostname, hosts, resolv.conf) are the
    // remapped root's to edit, as with dockerd.
    if let Some(cdir) = o.upper.parent() {
        for m in spec.mounts().as_deref().unwrap_or_default() {
            if let Some(src) = m.source().as_deref().filter(|p| p.parent() == Some(cdir) && p.is_file()) {
                std::os::unix::fs::lchown(src, Some(ruid), Some(rgid))
                    .map_err(|e| Error::Sys { what: format!("chown {}", src.display()), source: e })?;
            }
        }
    }
    let userns = std::fs::File::open(format!("/proc/{pid}/ns/user"))
        .map_err(|e| Error::Sys { what: "open the container's user namespace".into(), source: e })?;
    let mut lowers = Vec::new();
    for l in &o.lower {
        let c = cpath(l)?;
        // SAFETY: open_tree on a valid path; the result is a new descriptor.
        let fd = sys_fd(
            unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint) },
            || format!("open_tree {}", l.display()),
        )?;
        let attr = MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
        // SAFETY: mount_setattr on our detached mount with a valid attribute struct.
        let rc = unsafe {
            libc::syscall(libc::SYS_mount_setattr, fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, &attr as *const MountAttr, std::mem::size_of::<MountAttr>())
        };
        check(rc as libc::c_int, || format!("idmap {}", l.display()))?;
        lowers.push(fd);
    }
    // SAFETY: fsopen with a valid name.
    let fs = sys_fd(unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) }, || "fsopen overlay".into())?;
    let config = |cmd: libc::c_uint, key: Option<&str>, value: Option<&Path>, aux: libc::c_int| -> Result<(), Error> {
        let k = key.map(cstr).transpose()?;
        let v = value.map(cpath).transpose()?;
        // SAFETY: fsconfig with NULL or valid C strings.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                cmd,
                k.as_ref().map_or(std::ptr::null(), |k| k.as_ptr()),
                v.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
                aux,
            )
        };
        check(rc as libc::c_int, || format!("overlay option {}", key.unwrap_or("create")))
    };
    for fd in &lowers {
        config(FSCONFIG_SET_FD, Some("lowerdir+"), None, fd.as_raw_fd())?;
    }
    config(FSCONFIG_SET_STRING, Some("upperdir"), Some(&o.upper), 0)?;
    config(FSCONFIG_SET_STRING, Some("workdir"), Some(&o.work), 0)?;
    config(FSCONFIG_CMD_CREATE, None, None, 0)?;
    // SAFETY: fsmount on a created filesystem context.
    let mnt = sys_fd(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) }, || "fsmount overlay".into())?;
    Ok(Some(mnt))
}

/// Monitor side: hand the root mount to the init (after `c`).
pub fn send_root_mount(sync: RawFd, mnt: &OwnedFd) -> std::io::Result<()> {
    super::send_fd(sync, ROOT_MOUNT_TAG, mnt.as_raw_fd())
}

/// Init side, after `c` and joining the cgroup: with a new user namespace, receive the root
/// mount (when there is an overlay) and become the namespace's root (the maps are written).
pub(crate) fn enter_user_namespace(cfg: &InitConfig<'_>, sync: RawFd) -> Result<Option<RawFd>, Error> {
    if !new_user_namespace(cfg.spec) {
        return Ok(None);
    }
    let root = if cfg.overlay.is_some() {
        match super::recv_fd(sync) {
            Ok((tag, Some(fd))) if tag == [ROOT_MOUNT_TAG] => Some(fd),
            Ok(_) => return Err(Error::Spec("expected the root mount from the monitor".into())),
            Err(e) => return Err(Error::Sys { what: "receive the root mount".into(), source: e }),
        }
    } else {
        None
    };
    // SAFETY: plain syscalls; we hold every capability in the new namespace.
    unsafe {
        check(libc::setresgid(0, 0, 0), || "setresgid 0 in the user namespace".into())?;
        check(libc::setresuid(0, 0, 0), || "setresuid 0 in the user namespace".into())?;
        // Changing ids made us non-dumpable: /proc/self would belong to the host's root, out of
        // reach of the namespace's root (oom_score_adj, uid_map reads). execve sets it anew.
        check(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0), || "prctl(PR_SET_DUMPABLE)".into())?;
    }
    Ok(root)
}

/// Attach a detached mount at `target`.
fn attach_mount(fd: RawFd, target: &Path) -> Result<(), Error> {
    let t = cpath(target)?;
    // SAFETY: move_mount of our detached mount onto a valid path.
    let rc = unsafe { libc::syscall(libc::SYS_move_mount, fd, c"".as_ptr(), libc::AT_FDCWD, t.as_ptr(), MOVE_MOUNT_F_EMPTY_PATH) };
    check(rc as libc::c_int, || format!("attach the root mount at {}", target.display()))?;
    // SAFETY: closing the descriptor we received.
    unsafe { libc::close(fd) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = |v: &[&str]| parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (f, p, d) = o(&["nosuid", "noexec", "nodev", "mode=755", "size=65536k"]);
        assert_eq!(f, libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV);
        assert_eq!(p, 0);
        assert_eq!(d, vec!["mode=755", "size=65536k"]);
        let (f, p, _) = o(&["rbind", "ro", "rprivate"]);
        assert_eq!(f, libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY);
        assert_eq!(p, libc::MS_PRIVATE | libc::MS_REC);
        let (f, _, _) = o(&["ro", "rw"]);
        assert_eq!(f, 0);
    }

    #[test]
    fn symlinks_cannot_escape_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        symlink("/etc", root.join("a/abs")).unwrap();
        symlink("../../../../..", root.join("a/up")).unwrap();
        symlink("b", root.join("a/rel")).unwrap();
        let r = |p: &str| resolve_in_root(root, Path::new(p)).unwrap();
        assert_eq!(r("/a/abs/passwd"), root.join("etc/passwd"));
        assert_eq!(r("/a/up/etc"), root.join("etc"));
        assert_eq!(r("/a/rel/x"), root.join("a/b/x"));
        assert_eq!(r("/../../x"), root.join("x"));
    }
}
