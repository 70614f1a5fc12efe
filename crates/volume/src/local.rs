//! The `local` driver: a directory per volume under the data root, optionally backed by a
//! file system mounted from `type`/`device`/`o` options (moby `volume/local`).
//!
//! Words: a volume's *directory* is `<root>/<name>`; its *data path* (the `Mountpoint`) is
//! `<root>/<name>/_data`. With options, the data path is a mount point: [`Local::mount`] mounts
//! it and [`Local::unmount`] unmounts it; the caller calls them on a volume's first and last
//! use. Without options both only return or check the data path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::{io, Error};

/// The option keys the local driver accepts (`size` needs quotas, which we do not have).
const VALID_OPTIONS: [&str; 4] = ["type", "device", "o", "size"];

/// The local driver, rooted at `<data-root>/volumes`.
#[derive(Debug, Clone)]
pub struct Local {
    root: PathBuf,
}

/// What a volume's options ask to mount, if anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `type`: the file system type (`tmpfs`, `ext4`, `nfs`, `none` with `o=bind`, ...).
    pub typ: String,
    /// `device`: what is mounted (a device, a host path for binds, `tmpfs`).
    pub device: String,
    /// `o`: comma-separated mount options; flags become mount(2) flags, the rest data.
    pub o: String,
}

impl MountOptions {
    /// The options of a volume: None when it is a plain directory.
    pub fn from_driver_opts(opts: &HashMap<String, String>) -> Result<Option<MountOptions>, Error> {
        validate_options(opts)?;
        let get = |k: &str| opts.get(k).cloned().unwrap_or_default();
        let mo = MountOptions { typ: get("type"), device: get("device"), o: get("o") };
        if mo.typ.is_empty() && mo.device.is_empty() && mo.o.is_empty() {
            return Ok(None);
        }
        Ok(Some(mo))
    }
}

/// Docker's checks of a local volume's options.
pub fn validate_options(opts: &HashMap<String, String>) -> Result<(), Error> {
    let mut keys: Vec<&String> = opts.keys().collect();
    keys.sort();
    for k in keys {
        if !VALID_OPTIONS.contains(&k.as_str()) {
            return Err(Error::InvalidOption(format!("invalid option: {k:?}")));
        }
    }
    if opts.get("size").is_some_and(|s| !s.is_empty()) {
        return Err(Error::InvalidOption("quota size requested but no quota support".into()));
    }
    // moby's mandatoryOpts: an option that needs others.
    for (opt, needs) in [("device", &["type"][..]), ("o", &["device", "type"][..]), ("type", &["device"][..])] {
        if opts.contains_key(opt) {
            if let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n)) {
                return Err(Error::InvalidOption(format!("missing required option: {missing:?}")));
            }
        }
    }
    Ok(())
}

/// mount(2) flags named in an `o` option, and the remaining data (moby `mount.parseOptions`).
pub fn parse_mount_options(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            other => {
                data.push(other);
                continue;
            }
        };
        flags.insert(set);
        flags.remove(clear);
    }
    (flags, data.join(","))
}

impl Local {
    /// The driver with its volumes under `root` (`<data-root>/volumes`).
    pub fn new(root: impl Into<PathBuf>) -> Local {
        Local { root: root.into() }
    }

    /// The data path (`Mountpoint`) of volume `name`.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// Create the volume's directories (mode 0701 and 0755 as Docker's); an existing volume
    /// of that name is left as it is.
    pub fn create(&self, name: &str) -> Result<PathBuf, Error> {
        use std::os::unix::fs::PermissionsExt;
        crate::validate_local_name(name)?;
        let dir = self.root.join(name);
        let data = dir.join("_data");
        std::fs::create_dir_all(&data).map_err(io(format!("create {}", data.display())))?;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o701));
        Ok(data)
    }

    /// Remove the volume's directory and everything in it (unmounting its data path first
    /// if something is still mounted there).
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let dir = self.root.join(name);
        let data = dir.join("_data");
        if is_mount_point(&data) {
            let _ = umount2(&data, MntFlags::MNT_DETACH);
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("remove {}", dir.display()))(e)),
        }
    }

    /// Move the volume's directory to a new name.
    pub fn rename(&self, old: &str, new: &str) -> Result<PathBuf, Error> {
        crate::validate_local_name(new)?;
        let (from, to) = (self.root.join(old), self.root.join(new));
        if to.exists() {
            return Err(Error::InvalidName(format!("volume directory {} already exists", to.display())));
        }
        std::fs::rename(&from, &to).map_err(io(format!("rename {} to {}", from.display(), to.display())))?;
        Ok(to.join("_data"))
    }

    /// Make the data path usable: mount the options' file system on it when there are options
    /// (and nothing is mounted there yet). Returns the data path.
    pub fn mount(&self, name: &str, opts: Option<&MountOptions>) -> Result<PathBuf, Error> {
        let data = self.data_path(name);
        if !data.is_dir() {
            return Err(Error::NotFound(name.to_string()));
        }
        let Some(o) = opts else { return Ok(data) };
        if is_mount_point(&data) {
            return Ok(data);
        }
        let (flags, extra) = parse_mount_options(&o.o);
        let typ = (!o.typ.is_empty() && o.typ != "none").then_some(o.typ.as_str());
        let extra = (!extra.is_empty()).then_some(extra.as_str());
        mount(Some(o.device.as_str()), &data, typ, flags, extra).map_err(|e| Error::Io {
            what: format!("failed to mount local volume: mount {}:{}, flags: {:#x}, data: {}", o.device, data.display(), flags.bits(), extra.unwrap_or("")),
            source: std::io::Error::from(e),
        })?;
        if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
            let _ = mount(None::<&str>, &data, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>);
        }
        Ok(data)
    }

    /// Undo [`Local::mount`]: unmount the data path when the volume has options.
    pub fn unmount(&self, name: &str, opts: Option<&MountOptions>) -> Result<(), Error> {
        if opts.is_none() {
            return Ok(());
        }
        let data = self.data_path(name);
        if is_mount_point(&data) {
            umount2(&data, MntFlags::MNT_DETACH).map_err(|e| io(format!("unmount {}", data.display()))(std::io::Error::from(e)))?;
        }
        Ok(())
    }
}

/// Whether `p` is a mount point (its device differs from its parent's, or /proc says so).
pub fn is_mount_point(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(a), Some(Ok(b))) = (p.symlink_metadata(), p.parent().map(|q| q.symlink_metadata())) else { return false };
    if a.dev() != b.dev() {
        return true;
    }
    // A bind mount of a directory on the same file system keeps the device: ask the kernel.
    let want = p.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|s| s.lines().any(|l| l.split(' ').nth(4).is_some_and(|mp| unescape(mp) == want)))
        .unwrap_or(false)
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_are_checked_as_docker() {
        let cases: &[(&[(&str, &str)], Result<Option<(&str, &str, &str)>, &str>)] = &[
            (&[], Ok(None)),
            (&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")], Ok(Some(("tmpfs", "tmpfs", "size=1m")))),
            (&[("type", "none"), ("device", "/srv"), ("o", "bind")], Ok(Some(("none", "/srv", "bind")))),
            (&[("foo", "bar")], Err("invalid option: \"foo\"")),
            (&[("size", "1g")], Err("quota size requested but no quota support")),
            (&[("type", "tmpfs")], Err("missing required option: \"device\"")),
            (&[("device", "tmpfs")], Err("missing required option: \"type\"")),
            (&[("o", "size=1m")], Err("missing required option: \"device\"")),
        ];
        for (kv, want) in cases {
            let got = MountOptions::from_driver_opts(&opts(kv));
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w.map(|(t, d, o)| MountOptions { typ: t.into(), device: d.into(), o: o.into() }), "{kv:?}"),
                (Err(e), Err(w)) => assert!(e.to_string().starts_with(w), "{kv:?}: {e}"),
                (g, w) => panic!("{kv:?}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn mount_options_split_into_flags_and_data() {
        let cases = [
            ("size=1m", MsFlags::empty(), "size=1m"),
            ("ro,nosuid,size=1m,mode=700", MsFlags::MS_RDONLY | MsFlags::MS_NOSUID, "size=1m,mode=700"),
            ("bind", MsFlags::MS_BIND, ""),
            ("rbind,ro,rw", MsFlags::MS_BIND | MsFlags::MS_REC, ""),
            ("addr=1.2.3.4,nfsvers=4", MsFlags::empty(), "addr=1.2.3.4,nfsvers=4"),
            ("", MsFlags::empty(), ""),
        ];
        for (o, flags, data) in cases {
            assert_eq!(parse_mount_options(o), (flags, data.to_string()), "{o}");
        }
    }

    #[test]
    fn create_rename_remove_dirs() {
        let t = tempfile::tempdir().unwrap();
        let l = Local::new(t.path());
        let p = l.create("data").unwrap();
        assert_eq!(p, t.path().join("data/_data"));
        assert!(p.is_dir());
        std::fs::write(p.join("f"), "x").unwrap();
        assert!(l.create("a/b").is_err());
        assert_eq!(l.mount("data", None).unwrap(), p);
        let q = l.rename("data", "other").unwrap();
        assert_eq!(std::fs::read_to_string(q.join("f")).unwrap(), "x");
        assert!(matches!(l.mount("data", None), Err(Error::NotFound(_))));
        l.remove("other").unwrap();
        assert!(!t.path().join("other").exists());
        l.remove("other").unwrap();
    }

    #[test]
    fn tmpfs_options_mount_on_first_use() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED tmpfs_options_mount_on_first_use: needs root (mount)");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let l = Local::new(t.path());
        let p = l.create("tv").unwrap();
        let o = MountOptions { typ: "tmpfs".into(), device: "tmpfs".into(), o: "size=1m".into() };
        l.mount("tv", Some(&o)).unwrap();
        assert!(is_mount_point(&p));
        l.mount("tv", Some(&o)).unwrap();
        l.unmount("tv", Some(&o)).unwrap();
        assert!(!is_mount_point(&p));
        l.remove("tv").unwrap();
    }
}
