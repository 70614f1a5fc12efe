//! The container's filesystem: root overlay, spec mounts, devices, pivot_root, masked and
//! read-only paths. Runs in the init, inside its new mount namespace.

use std::collections::VecDeque;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceType, Mount};

use super::{check, cpath, cstr, Error, InitConfig};

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
            mount(None, &dest, None, libc::MS_BIND | libc::MS_REMOUNT | remount_flags, None)?;
        }
    } else {
        match typ {
            "sysfs" if !net_ns_new => {
                // Without its own network namespace the container may not mount sysfs: bind
                // the host's, read-only, as runc does.
                ensure_target(&dest, false)?;
                mount(Some(Path::new("/sys")), &dest, None, libc::MS_BIND | libc::MS_REC, None)?;
                mount(None, &dest, None, libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | (flags & (libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV)), None)?;
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
pub(crate) fn setup_rootfs(cfg: &InitConfig<'_>, net_ns_new: bool) -> Result<(), Error> {
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
