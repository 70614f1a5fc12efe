//! Host devices for the spec: the one part of spec generation that reads the host. The
//! caller runs these once per container start and passes the results in
//! [`super::SpecInput::devices`] and [`super::HostFacts::devices`]; [`super::build`] stays pure.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_errdefs::{HasKind, Kind};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::ResolvedDevice;

/// Why a `HostConfig.Devices` entry cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The host path does not exist or cannot be read.
    #[error("error gathering device information while adding custom device {path:?}: {source}")]
    Stat {
        /// The host path.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The host path is neither a device node nor a directory.
    #[error(
        "error gathering device information while adding custom device {0:?}: not a device node"
    )]
    NotADevice(String),
    /// The cgroup permissions are not a subset of `rwm`.
    #[error("invalid device mode: {0}")]
    InvalidPermissions(String),
}

impl HasKind for DeviceError {
    fn kind(&self) -> Kind {
        match self {
            DeviceError::Stat { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Kind::NotFound
            }
            DeviceError::Stat { .. } => Kind::Internal,
            DeviceError::NotADevice(_) | DeviceError::InvalidPermissions(_) => {
                Kind::InvalidArgument
            }
        }
    }
}

/// The major number of a `st_rdev` (glibc's `gnu_dev_major`).
pub(crate) fn major(rdev: u64) -> i64 {
    (((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)) as i64
}

/// The minor number of a `st_rdev` (glibc's `gnu_dev_minor`).
pub(crate) fn minor(rdev: u64) -> i64 {
    (((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff)) as i64
}

/// The device node at `path`, shown inside the container at `container_path`; `None` when the
/// path is not a character or block device.
fn device_at(path: &Path, container_path: &Path) -> std::io::Result<Option<LinuxDevice>> {
    let md = std::fs::metadata(path)?;
    let ft = md.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Ok(None);
    };
    let mut d = LinuxDevice::default();
    d.set_path(container_path.to_path_buf());
    d.set_typ(typ);
    d.set_major(major(md.rdev()));
    d.set_minor(minor(md.rdev()));
    d.set_file_mode(Some(md.mode() & 0o7777));
    d.set_uid(Some(md.uid()));
    d.set_gid(Some(md.gid()));
    Ok(Some(d))
}

/// Resolve one `HostConfig.Devices` entry (moby `DevicesFromPath`): a device node, or a
/// directory whose device nodes are all added under the container path. An empty container
/// path means the host path; empty permissions mean `rwm`.
pub fn resolve_device_mapping(
    path_on_host: &str,
    path_in_container: &str,
    permissions: &str,
) -> Result<Vec<ResolvedDevice>, DeviceError> {
    let permissions = if permissions.is_empty() {
        "rwm"
    } else {
        permissions
    };
    if permissions.len() > 3 || !permissions.bytes().all(|b| matches!(b, b'r' | b'w' | b'm')) {
        return Err(DeviceError::InvalidPermissions(permissions.to_string()));
    }
    let container = if path_in_container.is_empty() {
        path_on_host
    } else {
        path_in_container
    };
    let host = Path::new(path_on_host);
    let stat_err = |e| DeviceError::Stat {
        path: path_on_host.to_string(),
        source: e,
    };
    if let Some(d) = device_at(host, Path::new(container)).map_err(stat_err)? {
        return Ok(vec![ResolvedDevice {
            device: d,
            permissions: permissions.to_string(),
        }]);
    }
    if !std::fs::metadata(host).map_err(stat_err)?.is_dir() {
        return Err(DeviceError::NotADevice(path_on_host.to_string()));
    }
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![host.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if md.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(host).unwrap_or(&p);
            let target = Path::new(container).join(rel);
            if let Ok(Some(d)) = device_at(&p, &target) {
                out.push(ResolvedDevice {
                    device: d,
                    permissions: permissions.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// The host's device nodes under `/dev`, for privileged containers (containerd's
/// `HostDevices`): character and block devices, skipping `/dev/pts`, `/dev/shm`, `/dev/mqueue`,
/// `/dev/fd` and `/dev/console`. Nodes that vanish while walking are skipped.
pub fn host_devices() -> std::io::Result<Vec<LinuxDevice>> {
    host_devices_under(Path::new("/dev"))
}

fn host_devices_under(root: &Path) -> std::io::Result<Vec<LinuxDevice>> {
    const SKIP_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut first = true;
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if first => return Err(e),
            Err(_) => continue,
        };
        first = false;
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if md.is_dir() {
                if !(dir == root && SKIP_DIRS.contains(&name)) {
                    stack.push(p);
                }
                continue;
            }
            if p == root.join("console") {
                continue;
            }
            if let Ok(Some(d)) = device_at(&p, &p) {
                out.push(d);
            }
        }
    }
    Ok(out)
}
