//! A recording [`Manager`] for other crates' unit tests: no kernel, no root.
//!
//! It keeps the state a real cgroup would (exists, members, frozen) so that misuse shows up
//! the same way: operations on a cgroup that was never created fail with `NotFound`,
//! `destroy` of a cgroup with members fails with `Conflict`, `kill_all(SIGKILL)` empties it.

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::manager::{FreezerState, Manager};
use crate::resources::Resources;
use crate::stats::Stats;

/// One call made on a [`FakeManager`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `create(res)`.
    Create(Resources),
    /// `add_pid(pid)`.
    AddPid(i32),
    /// `apply(res)`.
    Apply(Resources),
    /// `freeze()`.
    Freeze,
    /// `thaw()`.
    Thaw,
    /// `state()`.
    State,
    /// `pids()`.
    Pids,
    /// `stats()`.
    Stats,
    /// `kill_all(signal)`.
    KillAll(i32),
    /// `destroy()`.
    Destroy,
}

impl Call {
    fn name(&self) -> &'static str {
        match self {
            Call::Create(_) => "create",
            Call::AddPid(_) => "add_pid",
            Call::Apply(_) => "apply",
            Call::Freeze => "freeze",
            Call::Thaw => "thaw",
            Call::State => "state",
            Call::Pids => "pids",
            Call::Stats => "stats",
            Call::KillAll(_) => "kill_all",
            Call::Destroy => "destroy",
        }
    }
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<Call>,
    exists: bool,
    pids: Vec<i32>,
    frozen: bool,
    resources: Resources,
    stats: Stats,
    failures: Vec<(&'static str, Error)>,
}

/// A [`Manager`] that records its calls and simulates a cgroup in memory.
#[derive(Debug)]
pub struct FakeManager {
    path: String,
    state: Mutex<State>,
}

impl FakeManager {
    /// A fake cgroup at `path` that does not exist yet.
    pub fn new(path: impl Into<String>) -> FakeManager {
        FakeManager { path: path.into(), state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the calls from the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The names of the calls so far (`"create"`, `"add_pid"`, ...), in order.
    pub fn call_names(&self) -> Vec<&'static str> {
        self.lock().calls.iter().map(Call::name).collect()
    }

    /// Make the next call of `method` (`"create"`, `"freeze"`, ...) fail with `err`. The call
    /// is still recorded.
    pub fn fail_next(&self, method: &'static str, err: Error) {
        self.lock().failures.push((method, err));
    }

    /// The stats that [`Manager::stats`] returns (`pids.current` is filled in).
    pub fn set_stats(&self, stats: Stats) {
        self.lock().stats = stats;
    }

    /// Simulate process `pid` exiting.
    pub fn exit(&self, pid: i32) {
        self.lock().pids.retain(|p| *p != pid);
    }

    /// Whether the cgroup exists (created and not destroyed).
    pub fn exists(&self) -> bool {
        self.lock().exists
    }

    /// The resources applied so far, merged (later `Some` fields win).
    pub fn resources(&self) -> Resources {
        self.lock().resources.clone()
    }

    fn begin(&self, call: Call) -> Result<MutexGuard<'_, State>> {
        let mut s = self.lock();
        let name = call.name();
        s.calls.push(call);
        if let Some(i) = s.failures.iter().position(|(m, _)| *m == name) {
            return Err(s.failures.remove(i).1);
        }
        Ok(s)
    }

    fn not_found(&self) -> Error {
        Error::Read {
            path: PathBuf::from(&self.path),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        }
    }

    fn existing(&self, call: Call) -> Result<MutexGuard<'_, State>> {
        let s = self.begin(call)?;
        if !s.exists {
            return Err(self.not_found());
        }
        Ok(s)
    }
}

fn merge(into: &mut Resources, r: &Resources) {
    macro_rules! take {
        ($($f:ident),*) => {$(
            if r.$f.is_some() {
                into.$f = r.$f.clone();
            }
        )*};
    }
    take!(
        memory,
        memory_swap,
        memory_reservation,
        memory_swappiness,
        oom_kill_disable,
        cpu_shares,
        cpu_quota,
        cpu_period,
        cpuset_cpus,
        cpuset_mems,
        pids_limit,
        blkio_weight
    );
    macro_rules! replace {
        ($($f:ident),*) => {$(
            if !r.$f.is_empty() {
                into.$f = r.$f.clone();
            }
        )*};
    }
    replace!(
        blkio_weight_device,
        blkio_read_bps,
        blkio_write_bps,
        blkio_read_iops,
        blkio_write_iops,
        devices
    );
}

impl Manager for FakeManager {
    fn path(&self) -> &str {
        &self.path
    }

    fn create(&self, res: &Resources) -> Result<()> {
        let mut s = self.begin(Call::Create(res.clone()))?;
        s.exists = true;
        merge(&mut s.resources, res);
        Ok(())
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        let mut s = self.existing(Call::AddPid(pid))?;
        if !s.pids.contains(&pid) {
            s.pids.push(pid);
        }
        Ok(())
    }

    fn apply(&self, res: &Resources) -> Result<()> {
        let mut s = self.existing(Call::Apply(res.clone()))?;
        merge(&mut s.resources, res);
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        self.existing(Call::Freeze)?.frozen = true;
        Ok(())
    }

    fn thaw(&self) -> Result<()> {
        self.existing(Call::Thaw)?.frozen = false;
        Ok(())
    }

    fn state(&self) -> Result<FreezerState> {
        let s = self.existing(Call::State)?;
        Ok(if s.frozen { FreezerState::Frozen } else { FreezerState::Thawed })
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let s = self.existing(Call::Pids)?;
        let mut p = s.pids.clone();
        p.sort_unstable();
        Ok(p)
    }

    fn stats(&self) -> Result<Stats> {
        let s = self.existing(Call::Stats)?;
        let mut st = s.stats.clone();
        st.pids.current = s.pids.len() as u64;
        Ok(st)
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        let mut s = self.existing(Call::KillAll(signal))?;
        if signal == libc::SIGKILL {
            s.pids.clear();
            s.frozen = false;
        }
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        let mut s = self.begin(Call::Destroy)?;
        if !s.pids.is_empty() {
            return Err(Error::Busy { path: PathBuf::from(&self.path) });
        }
        s.exists = false;
        s.frozen = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_errdefs::{HasKind, Kind};

    #[test]
    fn fake_records_and_simulates() {
        let m = FakeManager::new("berth-x/c1");
        assert_eq!(m.add_pid(1).unwrap_err().kind(), Kind::NotFound);
        m.create(&Resources { memory: Some(100), ..Default::default() }).unwrap();
        m.add_pid(42).unwrap();
        m.apply(&Resources { pids_limit: Some(5), ..Default::default() }).unwrap();
        assert_eq!(
            m.resources(),
            Resources { memory: Some(100), pids_limit: Some(5), ..Default::default() }
        );
        m.freeze().unwrap();
        assert_eq!(m.state().unwrap(), FreezerState::Frozen);
        assert_eq!(m.destroy().unwrap_err().kind(), Kind::Conflict);
        m.kill_all(libc::SIGKILL).unwrap();
        assert_eq!(m.state().unwrap(), FreezerState::Thawed);
        assert!(m.pids().unwrap().is_empty());
        m.fail_next("destroy", Error::Unsupported("x"));
        assert_eq!(m.destroy().unwrap_err().kind(), Kind::NotImplemented);
        m.destroy().unwrap();
        m.destroy().unwrap();
        assert!(!m.exists());
        assert_eq!(
            m.call_names(),
            [
                "add_pid", "create", "add_pid", "apply", "freeze", "state", "destroy", "kill_all",
                "state", "pids", "destroy", "destroy", "destroy"
            ]
        );
        assert_eq!(m.calls()[2], Call::AddPid(42));
    }
}
