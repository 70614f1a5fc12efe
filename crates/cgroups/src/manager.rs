//! The [`Manager`] trait and [`Cgroup`], its implementation over a [`Layout`].

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::fsio::{self, Backoff};
use crate::layout::{Controller, Layout, Version};
use crate::resources::Resources;
use crate::stats::Stats;
use crate::{v1, v2};

/// Whether the processes of a cgroup are frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FreezerState {
    /// Running normally.
    Thawed,
    /// Asked to freeze; some processes have not stopped yet.
    Freezing,
    /// Every process is stopped (Docker's "paused").
    Frozen,
}

/// One container's cgroup.
///
/// # Words
///
/// - A **hierarchy** is a mounted cgroup filesystem. cgroup v1 has one per controller (or per
///   group of co-mounted controllers, like `cpu,cpuacct`); v2 has exactly one.
/// - A cgroup's **path** is relative to the root of each hierarchy, the same in all of them:
///   `berth-1f2e3d4c/0123abcd...` is `/sys/fs/cgroup/memory/berth-1f2e3d4c/0123abcd...` on v1
///   and `/sys/fs/cgroup/berth-1f2e3d4c/0123abcd...` on v2.
/// - The **leaf** is the last component: the container's own cgroup, owned by the manager.
///   The levels above it are **parents**, shared by many containers: a manager creates them
///   when missing (copying cpuset values down on v1, enabling controllers in
///   `cgroup.subtree_control` on v2) but never removes them.
///
/// # Lifecycle
///
/// 1. berthd calls [`crate::probe`] once and passes the [`Layout`] to each monitor as text.
/// 2. The monitor (`berth-shim`) builds a manager for the container's path, calls
///    [`create`](Manager::create) with the container's limits, forks the container's init,
///    [`add_pid`](Manager::add_pid)s it and only then lets it `exec`, so nothing of the
///    container ever runs outside its limits.
/// 3. While it runs, berthd may [`apply`](Manager::apply) new limits (`docker update`),
///    [`freeze`](Manager::freeze)/[`thaw`](Manager::thaw) it (`docker pause`/`unpause`),
///    list its [`pids`](Manager::pids) (`docker top`) and read [`stats`](Manager::stats)
///    (`docker stats`).
/// 4. When the init exits, whoever reaps it calls [`kill_all`](Manager::kill_all) with
///    `SIGKILL` for any stragglers, reads the final [`stats`](Manager::stats) if it wants
///    `OOMKilled`, then [`destroy`](Manager::destroy)s the cgroup.
///
/// Every method is safe to call again: `create` on an existing cgroup re-applies the limits,
/// `destroy` of a missing cgroup succeeds. Methods other than `create` and `destroy` fail with
/// a [`Kind::NotFound`](berth_errdefs::Kind::NotFound) error when the cgroup does not exist.
pub trait Manager: Send + Sync {
    /// The cgroup's path, relative to each hierarchy's root.
    fn path(&self) -> &str;
    /// Create the cgroup (and missing parents) in every hierarchy and apply `res`.
    fn create(&self, res: &Resources) -> Result<()>;
    /// Move process `pid` (the whole thread group) into the cgroup, in every hierarchy.
    fn add_pid(&self, pid: i32) -> Result<()>;
    /// Apply limits to an existing cgroup; `None` fields are left alone.
    fn apply(&self, res: &Resources) -> Result<()>;
    /// Stop every process of the cgroup and wait until all are stopped.
    fn freeze(&self) -> Result<()>;
    /// Let the processes run again.
    fn thaw(&self) -> Result<()>;
    /// Whether the cgroup is frozen. Without a freezer, always [`FreezerState::Thawed`].
    fn state(&self) -> Result<FreezerState>;
    /// The processes in the cgroup and its descendants, sorted.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Usage statistics.
    fn stats(&self) -> Result<Stats>;
    /// Send `signal` to every process in the cgroup. Processes that already exited are not an
    /// error. A frozen cgroup is thawed afterwards for `SIGKILL` (so the processes can die),
    /// and left frozen for other signals.
    fn kill_all(&self, signal: i32) -> Result<()>;
    /// Remove the leaf (and any cgroups created below it) from every hierarchy. The cgroup
    /// must be empty: processes are never killed here. A missing cgroup is fine.
    fn destroy(&self) -> Result<()>;
}

/// A cgroup on this host's hierarchies: the real [`Manager`].
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: String,
    imp: Imp,
}

#[derive(Debug, Clone)]
enum Imp {
    V1(v1::V1),
    V2(v2::V2),
}

impl Cgroup {
    /// The cgroup at `path` (relative, `/`-separated, no `.` or `..` components, e.g.
    /// `berth-1f2e3d4c/<container id>`) in `layout`'s hierarchies. Touches nothing on disk.
    pub fn new(layout: &Layout, path: &str) -> Result<Cgroup> {
        validate_path(path)?;
        let imp = match layout.version() {
            Version::V1 => Imp::V1(v1::V1::new(layout, path)),
            Version::V2 => Imp::V2(v2::V2::new(layout, path)),
        };
        Ok(Cgroup { path: path.to_string(), imp })
    }

    /// The leaf directory holding `c`'s files, if the controller is available (v2: the one
    /// leaf directory, for v2 controllers).
    pub fn dir(&self, c: Controller) -> Option<&Path> {
        match &self.imp {
            Imp::V1(m) => m.dir(c),
            Imp::V2(m) => m.dir(c),
        }
    }

    /// Every leaf directory: one per v1 hierarchy, or the one v2 directory.
    pub fn dirs(&self) -> Vec<&Path> {
        match &self.imp {
            Imp::V1(m) => m.dirs().collect(),
            Imp::V2(m) => vec![m.leaf()],
        }
    }

    /// The files a newly forked, still single-threaded process writes `0` into to move
    /// itself into this cgroup (after [`Manager::create`]).
    ///
    /// Moving *another* process (writing its pid to `cgroup.procs`) takes the kernel's global
    /// threadgroup lock for writing, which waits for an RCU grace period when the lock was
    /// idle: tens of milliseconds per container start. On v1 a single thread moving itself
    /// through `tasks` skips that lock. (v2 has no such file; there `cgroup.procs` is used,
    /// and `CLONE_INTO_CGROUP` is the better road.)
    pub fn self_join_files(&self) -> Vec<std::path::PathBuf> {
        match &self.imp {
            Imp::V1(m) => m.dirs().map(|d| d.join("tasks")).collect(),
            Imp::V2(m) => vec![m.leaf().join("cgroup.procs")],
        }
    }
}

impl Manager for Cgroup {
    fn path(&self) -> &str {
        &self.path
    }
    fn create(&self, res: &Resources) -> Result<()> {
        match &self.imp {
            Imp::V1(m) => m.create(res),
            Imp::V2(m) => m.create(res),
        }
    }
    fn add_pid(&self, pid: i32) -> Result<()> {
        match &self.imp {
            Imp::V1(m) => m.add_pid(pid),
            Imp::V2(m) => m.add_pid(pid),
        }
    }
    fn apply(&self, res: &Resources) -> Result<()> {
        match &self.imp {
            Imp::V1(m) => m.apply(res),
            Imp::V2(m) => m.apply(res),
        }
    }
    fn freeze(&self) -> Result<()> {
        match &self.imp {
            Imp::V1(m) => m.freeze(),
            Imp::V2(m) => m.freeze(),
        }
    }
    fn thaw(&self) -> Result<()> {
        match &self.imp {
            Imp::V1(m) => m.thaw(),
            Imp::V2(m) => m.thaw(),
        }
    }
    fn state(&self) -> Result<FreezerState> {
        match &self.imp {
            Imp::V1(m) => m.state(),
            Imp::V2(m) => m.state(),
        }
    }
    fn pids(&self) -> Result<Vec<i32>> {
        match &self.imp {
            Imp::V1(m) => m.pids(),
            Imp::V2(m) => m.pids(),
        }
    }
    fn stats(&self) -> Result<Stats> {
        match &self.imp {
            Imp::V1(m) => m.stats(),
            Imp::V2(m) => m.stats(),
        }
    }
    fn kill_all(&self, signal: i32) -> Result<()> {
        match &self.imp {
            Imp::V1(m) => m.kill_all(signal),
            Imp::V2(m) => m.kill_all(signal),
        }
    }
    fn destroy(&self) -> Result<()> {
        match &self.imp {
            Imp::V1(m) => m.destroy(),
            Imp::V2(m) => m.destroy(),
        }
    }
}

/// Check that `path` is a clean relative cgroup path.
pub(crate) fn validate_path(path: &str) -> Result<()> {
    let bad = |reason| Err(Error::Path { path: path.to_string(), reason });
    if path.is_empty() {
        return bad("empty");
    }
    if path.starts_with('/') {
        return bad("must be relative to the hierarchy root");
    }
    if path.len() > 1024 {
        return bad("too long");
    }
    for comp in path.split('/') {
        match comp {
            "" => return bad("empty component"),
            "." | ".." => return bad("dot components are not allowed"),
            c if c.bytes().any(|b| b == 0 || b == b'\n') => {
                return bad("control characters are not allowed")
            }
            _ => {}
        }
    }
    Ok(())
}

/// Write `pid` to `dir/cgroup.procs`. `EINVAL` can mean the task is still being created
/// (`TASK_NEW`): retry briefly.
pub(crate) fn write_procs(dir: &Path, pid: &str) -> Result<()> {
    let mut backoff = Backoff::new(
        Duration::from_millis(1),
        Duration::from_millis(10),
        Duration::from_millis(100),
    );
    loop {
        match fsio::write(dir, "cgroup.procs", pid) {
            Err(e) if fsio::errno(&e) == Some(libc::EINVAL) && backoff.wait() => continue,
            r => return r,
        }
    }
}

/// The pids in `dir/cgroup.procs` and those of every cgroup below `dir`, sorted.
pub(crate) fn read_procs_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut out = Vec::new();
    collect_procs(dir, &mut out)?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn collect_procs(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let text = fsio::read(dir, "cgroup.procs")?;
    out.extend(text.split_whitespace().filter_map(|s| s.parse::<i32>().ok()));
    let rd = fs::read_dir(dir).map_err(|source| Error::Read { path: dir.to_path_buf(), source })?;
    for ent in rd.flatten() {
        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            match collect_procs(&ent.path(), out) {
                // A child cgroup removed while we walk is fine.
                Err(e) if e.is_not_found() => {}
                r => r?,
            }
        }
    }
    Ok(())
}

/// Send `signal` to each pid; `ESRCH` (already gone) is fine.
pub(crate) fn signal_all(pids: &[i32], signal: i32) -> Result<()> {
    for &pid in pids {
        if pid <= 0 {
            continue;
        }
        // SAFETY: kill(2) has no memory effects; pid > 0 targets one process.
        if unsafe { libc::kill(pid, signal) } != 0 {
            let source = io::Error::last_os_error();
            if source.raw_os_error() != Some(libc::ESRCH) {
                return Err(Error::Signal { pid, signal, source });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_validated() {
        let cases = [
            ("berth-1/abc", None),
            ("abc", None),
            ("a b/c.d-e_f", None),
            ("", Some("empty")),
            ("/abs", Some("must be relative to the hierarchy root")),
            ("a//b", Some("empty component")),
            ("a/", Some("empty component")),
            ("a/../b", Some("dot components are not allowed")),
            ("./a", Some("dot components are not allowed")),
            ("a\nb", Some("control characters are not allowed")),
        ];
        for (p, want) in cases {
            let got = match validate_path(p) {
                Ok(()) => None,
                Err(Error::Path { reason, .. }) => Some(reason),
                Err(e) => panic!("{p:?}: {e}"),
            };
            assert_eq!(got, want, "{p:?}");
        }
    }
}
