//! `--userns-remap`: the daemon's subordinate id range and what containers need to live in it.
//!
//! As dockerd: the value names a user (`default` means `dockremap`, created with its ranges
//! when missing), optionally a group (`user:group`, `uid:gid`; the group defaults to the
//! user's name). The user's lines in `/etc/subuid` (by name or uid) and the group's in
//! `/etc/subgid`, in file order, become the container's maps: container id 0 at the first
//! range's start, the next range continuing where the first one ends.
//!
//! Everything else happens in the runtime: the monitor writes the maps of the container's new
//! user namespace, presents the image layers through idmapped mounts and hands the writable
//! layer to the remapped root.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use berth_errdefs::{HasKind, Kind};
use berth_runtime::spec::IdMappings;
use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};

use crate::Engine;

/// The user `--userns-remap=default` stands for.
pub const DEFAULT_REMAP_USER: &str = "dockremap";

/// How many ids dockerd gives `dockremap` when it allocates the range itself.
const DEFAULT_RANGE_SIZE: u64 = 65536;

/// Failures of resolving `--userns-remap`.
#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    /// The value is not `default`, `user[:group]` or `uid[:gid]`.
    #[error("invalid value {0:?}: expected default, USER[:GROUP] or UID[:GID]")]
    Invalid(String),
    /// The named user or group does not exist.
    #[error("{what} {name:?} not found")]
    Unknown {
        /// `user` or `group`.
        what: &'static str,
        /// The name or id as given.
        name: String,
    },
    /// No lines for the user or group in `/etc/subuid` / `/etc/subgid`.
    #[error("no subordinate {what} ranges found for {name:?} in {file}")]
    NoRanges {
        /// `uid` or `gid`.
        what: &'static str,
        /// The user or group name.
        name: String,
        /// The file searched.
        file: &'static str,
    },
    /// Creating the default user or its ranges failed.
    #[error("creating user {DEFAULT_REMAP_USER}: {0}")]
    CreateUser(String),
}

impl HasKind for UsernsError {
    fn kind(&self) -> Kind {
        match self {
            UsernsError::Invalid(_) | UsernsError::Unknown { .. } | UsernsError::NoRanges { .. } => Kind::InvalidArgument,
            UsernsError::CreateUser(_) => Kind::Internal,
        }
    }
}

/// One `/etc/passwd` or `/etc/group` entry: name and id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    id: u32,
}

/// Find `key` (a name, or a number) among `name:x:id:...` lines.
fn lookup(file: &str, key: &str) -> Option<Entry> {
    let entries = file.lines().filter_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?.to_string();
        let id = f.nth(1)?.parse().ok()?;
        Some(Entry { name, id })
    });
    let numeric = key.parse::<u32>().ok();
    let mut by_id = None;
    for e in entries {
        if e.name == key {
            return Some(e);
        }
        if by_id.is_none() && Some(e.id) == numeric {
            by_id = Some(e);
        }
    }
    by_id
}

/// `(start, count)` ranges of `name` (or its numeric `id`) in a subuid/subgid file, in order.
fn ranges(file: &str, name: &str, id: u32) -> Vec<(u64, u64)> {
    let id = id.to_string();
    file.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let owner = f.next()?;
            let start = f.next()?.parse().ok()?;
            let count: u64 = f.next()?.parse().ok()?;
            (owner == name || owner == id).then_some((start, count)).filter(|(_, c)| *c > 0)
        })
        .collect()
}

/// Consecutive ranges as OCI mappings: container ids from 0 upwards.
fn to_mappings(ranges: &[(u64, u64)]) -> Vec<LinuxIdMapping> {
    let mut next = 0u64;
    ranges
        .iter()
        .filter_map(|&(start, count)| {
            let m = LinuxIdMappingBuilder::default()
                .container_id(u32::try_from(next).ok()?)
                .host_id(u32::try_from(start).ok()?)
                .size(u32::try_from(count).ok()?)
                .build()
                .ok()?;
            next += count;
            Some(m)
        })
        .collect()
}

/// Split `user[:group]`; `default` is `dockremap`.
fn split_remap(remap: &str) -> Result<(String, Option<String>), UsernsError> {
    let (u, g) = match remap.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (remap, None),
    };
    if u.is_empty() || g.is_some_and(str::is_empty) || g.is_some_and(|g| g.contains(':')) {
        return Err(UsernsError::Invalid(remap.to_string()));
    }
    let u = if u == "default" { DEFAULT_REMAP_USER } else { u };
    Ok((u.to_string(), g.map(str::to_string)))
}

/// The maps from the files' texts (pure).
fn mappings_from(remap: &str, passwd: &str, group: &str, subuid: &str, subgid: &str) -> Result<IdMappings, UsernsError> {
    let (user, grp) = split_remap(remap)?;
    let u = lookup(passwd, &user).ok_or(UsernsError::Unknown { what: "user", name: user.clone() })?;
    // The group defaults to the user's name (dockerd's rule); a group that does not exist
    // under that name may still have ranges under the name in /etc/subgid.
    let (gname, gid) = match &grp {
        Some(g) => {
            let e = lookup(group, g).ok_or(UsernsError::Unknown { what: "group", name: g.clone() })?;
            (e.name, e.id)
        }
        None => match lookup(group, &u.name) {
            Some(e) => (e.name, e.id),
            None => (u.name.clone(), u32::MAX),
        },
    };
    let uids = ranges(subuid, &u.name, u.id);
    if uids.is_empty() {
        return Err(UsernsError::NoRanges { what: "uid", name: u.name, file: "/etc/subuid" });
    }
    let gids = ranges(subgid, &gname, gid);
    if gids.is_empty() {
        return Err(UsernsError::NoRanges { what: "gid", name: gname, file: "/etc/subgid" });
    }
    Ok(IdMappings { uids: to_mappings(&uids), gids: to_mappings(&gids) })
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The first `size` ids at or above 100000 that no line of `files` uses.
fn free_range(files: &[&str], size: u64) -> u64 {
    let mut used: Vec<(u64, u64)> = files
        .iter()
        .flat_map(|f| f.lines())
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let _ = f.next()?;
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .collect();
    used.sort();
    let mut start = 100_000u64;
    for (s, c) in used {
        if s < start + size && start < s + c {
            start = s + c;
        }
    }
    start
}

/// `default`: create `dockremap` (a system user without a shell) and its ranges, as dockerd.
fn ensure_default_user() -> Result<(), UsernsError> {
    let run = |cmd: &mut std::process::Command| -> Result<(), UsernsError> {
        let out = cmd.output().map_err(|e| UsernsError::CreateUser(e.to_string()))?;
        if !out.status.success() {
            return Err(UsernsError::CreateUser(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        Ok(())
    };
    if lookup(&read("/etc/passwd"), DEFAULT_REMAP_USER).is_none() {
        run(std::process::Command::new("useradd").args(["--system", "--shell", "/bin/false", "--no-create-home", "--user-group", DEFAULT_REMAP_USER]))?;
    }
    let (subuid, subgid) = (read("/etc/subuid"), read("/etc/subgid"));
    let u = lookup(&read("/etc/passwd"), DEFAULT_REMAP_USER).ok_or(UsernsError::Unknown { what: "user", name: DEFAULT_REMAP_USER.into() })?;
    if ranges(&subuid, &u.name, u.id).is_empty() || ranges(&subgid, &u.name, u32::MAX).is_empty() {
        let start = free_range(&[&subuid, &subgid], DEFAULT_RANGE_SIZE);
        let range = format!("{start}-{}", start + DEFAULT_RANGE_SIZE - 1);
        run(std::process::Command::new("usermod").args(["--add-subuids", &range, "--add-subgids", &range, DEFAULT_REMAP_USER]))?;
    }
    Ok(())
}

/// Resolve a `--userns-remap` value to the container maps, reading `/etc/passwd`, `/etc/group`,
/// `/etc/subuid` and `/etc/subgid` (for `default`, creating `dockremap` and its ranges first).
/// berthd calls this at start so that a bad value stops it.
pub fn userns_mappings(remap: &str) -> Result<IdMappings, UsernsError> {
    if split_remap(remap)?.0 == DEFAULT_REMAP_USER && remap.starts_with("default") {
        ensure_default_user()?;
    }
    mappings_from(remap, &read("/etc/passwd"), &read("/etc/group"), &read("/etc/subuid"), &read("/etc/subgid"))
}

/// The daemon's user namespace mappings, when `--userns-remap` is on. Resolved once per value
/// (berthd already resolved it at start, so a failure here means the files changed since; the
/// container then runs without remapping and the error is logged).
pub(crate) fn id_mappings(engine: &Engine) -> Option<IdMappings> {
    static CACHE: OnceLock<Mutex<HashMap<String, IdMappings>>> = OnceLock::new();
    let remap = engine.cfg.userns_remap.as_deref()?;
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = cache.get(remap) {
        return Some(m.clone());
    }
    match userns_mappings(remap) {
        Ok(m) => {
            cache.insert(remap.to_string(), m.clone());
            Some(m)
        }
        Err(e) => {
            tracing::error!(error = %e, "--userns-remap {remap}: container runs without remapping");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\ndockremap:x:998:998::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\nalice:x:1000:\nstaff:x:50:\ndockremap:x:998:\n";

    fn m(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default().container_id(c).host_id(h).size(n).build().unwrap()
    }

    #[test]
    fn resolves_remap_values() {
        let subuid = "alice:100000:65536\ndockremap:200000:1000\ndockremap:300000:5\n1000:900000:10\n";
        let subgid = "alice:110000:65536\nstaff:120000:100\ndockremap:210000:1000\n";
        let cases: &[(&str, Vec<LinuxIdMapping>, Vec<LinuxIdMapping>)] = &[
            ("alice", vec![m(0, 100000, 65536), m(65536, 900000, 10)], vec![m(0, 110000, 65536)]),
            ("1000", vec![m(0, 100000, 65536), m(65536, 900000, 10)], vec![m(0, 110000, 65536)]),
            ("alice:staff", vec![m(0, 100000, 65536), m(65536, 900000, 10)], vec![m(0, 120000, 100)]),
            ("1000:50", vec![m(0, 100000, 65536), m(65536, 900000, 10)], vec![m(0, 120000, 100)]),
            ("dockremap", vec![m(0, 200000, 1000), m(1000, 300000, 5)], vec![m(0, 210000, 1000)]),
            ("default", vec![m(0, 200000, 1000), m(1000, 300000, 5)], vec![m(0, 210000, 1000)]),
        ];
        for (remap, uids, gids) in cases {
            let got = mappings_from(remap, PASSWD, GROUP, subuid, subgid).unwrap();
            assert_eq!(&got.uids, uids, "{remap}");
            assert_eq!(&got.gids, gids, "{remap}");
        }
    }

    #[test]
    fn bad_remap_values() {
        let subuid = "alice:100000:65536\n";
        let subgid = "alice:100000:65536\n";
        let cases = [
            ("", "invalid value"),
            ("alice:", "invalid value"),
            ("a:b:c", "invalid value"),
            ("bob", "user \"bob\" not found"),
            ("alice:nogroup", "group \"nogroup\" not found"),
            ("root", "no subordinate uid ranges found for \"root\""),
            ("alice:staff", "no subordinate gid ranges found for \"staff\""),
        ];
        for (remap, want) in cases {
            let e = mappings_from(remap, PASSWD, GROUP, subuid, subgid).unwrap_err();
            assert!(e.to_string().contains(want), "{remap}: {e}");
            assert_eq!(e.kind(), Kind::InvalidArgument);
        }
    }

    #[test]
    fn free_range_skips_used_ids() {
        assert_eq!(free_range(&[""], 65536), 100000);
        assert_eq!(free_range(&["a:100000:65536\n", "b:165536:10\n"], 65536), 165546);
        assert_eq!(free_range(&["a:300000:10\n"], 65536), 100000);
        assert_eq!(free_range(&["a:150000:10\n"], 65536), 150010);
    }
}

/// The host id a container id maps to, if the maps cover it.
pub(crate) fn to_host(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter().find(|m| id >= m.container_id() && id - m.container_id() < m.size()).map(|m| m.host_id() + (id - m.container_id()))
}

/// Hand a volume's data directory to the remapped root, as dockerd does for volumes of remapped
/// containers: the directory itself when it is still the host root's, and with `shift_all`
/// (content just copied up from the image) every entry below it, each id moved into the range.
pub(crate) fn remap_volume(maps: &IdMappings, dir: &std::path::Path, shift_all: bool) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let shift = |p: &std::path::Path| -> std::io::Result<()> {
        let m = std::fs::symlink_metadata(p)?;
        let uid = to_host(&maps.uids, m.uid()).unwrap_or(m.uid());
        let gid = to_host(&maps.gids, m.gid()).unwrap_or(m.gid());
        std::os::unix::fs::lchown(p, Some(uid), Some(gid))
    };
    let top = std::fs::metadata(dir)?;
    if top.uid() == 0 && top.gid() == 0 {
        shift(dir)?;
    }
    if shift_all {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let entry = entry?;
                let path = entry.path();
                shift(&path)?;
                if entry.file_type()?.is_dir() {
                    stack.push(path);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod remap_tests {
    use super::*;

    fn map(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default().container_id(c).host_id(h).size(n).build().unwrap()
    }

    #[test]
    fn ids_map_into_their_ranges() {
        let maps = [map(0, 100000, 1000), map(1000, 300000, 10)];
        for (id, want) in [(0, Some(100000)), (999, Some(100999)), (1000, Some(300000)), (1009, Some(300009)), (1010, None)] {
            assert_eq!(to_host(&maps, id), want, "{id}");
        }
    }
}
