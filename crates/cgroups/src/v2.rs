//! The cgroup v2 manager: one directory in the unified hierarchy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bpf;
use crate::error::{Error, Result};
use crate::fsio::{self, Backoff};
use crate::layout::{Controller, Controllers, Layout};
use crate::manager::{self, FreezerState};
use crate::plan;
use crate::resources::Resources;
use crate::stats::{self, Stats};

/// Device rules are enforced on v2 with an eBPF program attached to the cgroup.
pub(crate) const DEVICE_FILTER_SUPPORTED: bool = true;

#[derive(Debug, Clone)]
pub(crate) struct V2 {
    root: PathBuf,
    dir: PathBuf,
    controllers: Controllers,
    /// `+cpu +memory ...`: what we enable in each parent's `cgroup.subtree_control`.
    enable: String,
}

impl V2 {
    pub(crate) fn new(layout: &Layout, rel: &str) -> V2 {
        let controllers = layout.controllers();
        let mut enable = String::new();
        for c in controllers.iter() {
            if let Some(name) = c.v2_name() {
                if !enable.is_empty() {
                    enable.push(' ');
                }
                enable.push('+');
                enable.push_str(name);
            }
        }
        V2 { root: layout.root().to_path_buf(), dir: layout.root().join(rel), controllers, enable }
    }

    pub(crate) fn leaf(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn dir(&self, c: Controller) -> Option<&Path> {
        self.controllers.contains(c).then_some(self.dir.as_path())
    }

    pub(crate) fn create(&self, res: &Resources) -> Result<()> {
        let steps = plan::v2(res)?;
        let parent = self.dir.parent().unwrap_or(&self.root);
        self.mkdir_p(parent)?;
        self.enable_in(parent)?;
        fsio::mkdir(&self.dir)
            .map_err(|source| Error::Create { path: self.dir.clone(), source })?;
        plan::run(&steps, |c| self.dir(c))?;
        self.apply_devices(res)
    }

    pub(crate) fn apply(&self, res: &Resources) -> Result<()> {
        let steps = plan::v2(res)?;
        plan::run(&steps, |c| self.dir(c))?;
        self.apply_devices(res)
    }

    fn apply_devices(&self, res: &Resources) -> Result<()> {
        if res.devices.is_empty() {
            return Ok(());
        }
        bpf::set_device_filter(&self.dir, &res.devices)
    }

    /// Create `dir` and missing parents (never above the root).
    fn mkdir_p(&self, dir: &Path) -> Result<()> {
        if dir == self.root || !dir.starts_with(&self.root) {
            return Ok(());
        }
        match fsio::mkdir(dir) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(p) = dir.parent() {
                    self.mkdir_p(p)?;
                    self.enable_in(p)?;
                }
                fsio::mkdir(dir)
                    .map(|_| ())
                    .map_err(|source| Error::Create { path: dir.to_path_buf(), source })
            }
            Err(source) => Err(Error::Create { path: dir.to_path_buf(), source }),
        }
    }

    /// Make sure `dir`'s `cgroup.subtree_control` enables our controllers for its children,
    /// enabling them in its parents first when needed. One read when all is in place.
    fn enable_in(&self, dir: &Path) -> Result<()> {
        if self.enable.is_empty() {
            return Ok(());
        }
        let mut buf = [0u8; 256];
        let current = fsio::read_small(dir, "cgroup.subtree_control", &mut buf)?;
        let missing = self
            .controllers
            .iter()
            .filter_map(Controller::v2_name)
            .any(|n| !current.split_whitespace().any(|c| c == n));
        if !missing {
            return Ok(());
        }
        if dir != self.root {
            if let Some(p) = dir.parent() {
                self.enable_in(p)?;
            }
        }
        if fsio::write(dir, "cgroup.subtree_control", &self.enable).is_err() {
            // One at a time, so one controller that cannot be enabled (say cpuset, held by a
            // partition) does not keep the others off.
            for token in self.enable.split(' ') {
                let _ = fsio::write(dir, "cgroup.subtree_control", token);
            }
        }
        Ok(())
    }

    pub(crate) fn add_pid(&self, pid: i32) -> Result<()> {
        let mut buf = crate::v1::itoa_buf();
        manager::write_procs(&self.dir, crate::v1::itoa(pid, &mut buf))
    }

    fn write_freeze(&self, v: &str) -> Result<()> {
        fsio::write(&self.dir, "cgroup.freeze", v).map_err(|e| {
            if fsio::enoent(&e) && self.dir.is_dir() {
                Error::Unsupported("freezer")
            } else {
                e
            }
        })
    }

    fn events_frozen(&self) -> Result<bool> {
        let mut buf = [0u8; 128];
        let text = fsio::read_small(&self.dir, "cgroup.events", &mut buf)?;
        Ok(stats::keyed(text, "frozen") == Some(1))
    }

    fn wait_frozen(&self, want: bool) -> Result<()> {
        let mut backoff = Backoff::new(
            Duration::from_micros(100),
            Duration::from_millis(10),
            Duration::from_secs(5),
        );
        while self.events_frozen()? != want {
            if !backoff.wait() {
                if want {
                    let _ = self.write_freeze("0");
                }
                return Err(Error::FreezeTimeout { path: self.dir.clone() });
            }
        }
        Ok(())
    }

    pub(crate) fn freeze(&self) -> Result<()> {
        self.write_freeze("1")?;
        self.wait_frozen(true)
    }

    pub(crate) fn thaw(&self) -> Result<()> {
        self.write_freeze("0")?;
        self.wait_frozen(false)
    }

    pub(crate) fn state(&self) -> Result<FreezerState> {
        let mut buf = [0u8; 16];
        let want = match fsio::read_small(&self.dir, "cgroup.freeze", &mut buf) {
            Ok(s) => s == "1",
            Err(e) if fsio::enoent(&e) && self.dir.is_dir() => return Ok(FreezerState::Thawed),
            Err(e) => return Err(e),
        };
        if !want {
            return Ok(FreezerState::Thawed);
        }
        Ok(if self.events_frozen()? { FreezerState::Frozen } else { FreezerState::Freezing })
    }

    pub(crate) fn pids(&self) -> Result<Vec<i32>> {
        manager::read_procs_recursive(&self.dir)
    }

    pub(crate) fn kill_all(&self, signal: i32) -> Result<()> {
        if signal == libc::SIGKILL {
            match fsio::write(&self.dir, "cgroup.kill", "1") {
                Ok(()) => {}
                // Before Linux 5.14: one by one (fatal signals reach frozen tasks on v2).
                Err(e) if fsio::enoent(&e) && self.dir.is_dir() => {
                    self.pids().and_then(|p| manager::signal_all(&p, signal))?;
                }
                Err(e) => return Err(e),
            }
            // The cgroup stays frozen after its tasks died: thaw it, as the contract says.
            if self.state()? != FreezerState::Thawed {
                self.thaw()?;
            }
            return Ok(());
        }
        let froze = self.state()? == FreezerState::Thawed && self.freeze().is_ok();
        let res = self.pids().and_then(|p| manager::signal_all(&p, signal));
        if froze {
            self.thaw()?;
        }
        res
    }

    pub(crate) fn destroy(&self) -> Result<()> {
        fsio::remove_tree(&self.dir)
    }

    pub(crate) fn stats(&self) -> Result<Stats> {
        let d = self.dir.as_path();
        let mut s = Stats::default();
        // cpu.stat exists even without the cpu controller (usage, user, system).
        let text = fsio::read(d, "cpu.stat")?;
        let us = |k: &str| stats::keyed(&text, k).unwrap_or(0).saturating_mul(1000);
        s.cpu.usage_ns = us("usage_usec");
        s.cpu.user_ns = us("user_usec");
        s.cpu.system_ns = us("system_usec");
        s.cpu.periods = stats::keyed(&text, "nr_periods").unwrap_or(0);
        s.cpu.throttled_periods = stats::keyed(&text, "nr_throttled").unwrap_or(0);
        s.cpu.throttled_ns = us("throttled_usec");
        if self.controllers.contains(Controller::Memory) {
            let m = &mut s.memory;
            m.usage = fsio::read_u64_or_max(d, "memory.current")?.unwrap_or(0);
            m.limit = fsio::read_u64_or_max(d, "memory.max")?;
            m.max_usage = match fsio::read_opt(d, "memory.peak")? {
                Some(t) => stats::parse_u64_or_max(&t).flatten(),
                None => None,
            };
            let text = fsio::read(d, "memory.stat")?;
            m.stat = stats::parse_flat_keyed(&text).map(|(k, v)| (k.to_string(), v)).collect();
            if let Some(text) = fsio::read_opt(d, "memory.events")? {
                m.oom_events = stats::keyed(&text, "oom").unwrap_or(0);
                m.oom_kills = stats::keyed(&text, "oom_kill").unwrap_or(0);
            }
        }
        if self.controllers.contains(Controller::Pids) {
            s.pids.current = fsio::read_u64_or_max(d, "pids.current")?.unwrap_or(0);
            s.pids.limit = fsio::read_u64_or_max(d, "pids.max")?;
        }
        if self.controllers.contains(Controller::Blkio) {
            if let Some(text) = fsio::read_opt(d, "io.stat")? {
                let (bytes, ios) = stats::parse_io_stat(&text);
                s.blkio.service_bytes = bytes;
                s.blkio.serviced = ios;
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn create_enables_controllers_in_parents_and_writes_v2_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("berth/c1")).unwrap();
        for f in ["cgroup.subtree_control", "berth/cgroup.subtree_control"] {
            fs::write(root.join(f), "").unwrap();
        }
        for f in ["memory.max", "memory.swap.max", "cpu.weight", "cpu.max", "pids.max", "io.weight"]
        {
            fs::write(root.join("berth/c1").join(f), "").unwrap();
        }
        use Controller::*;
        let layout = Layout::v2(root, [Cpu, Memory, Pids, Blkio]);
        let m = V2::new(&layout, "berth/c1");
        let res = Resources {
            memory: Some(1 << 20),
            memory_swap: Some(3 << 20),
            cpu_shares: Some(1024),
            cpu_quota: Some(20_000),
            cpu_period: Some(100_000),
            pids_limit: Some(0),
            blkio_weight: Some(1000),
            ..Default::default()
        };
        m.create(&res).unwrap();
        let want = [
            ("cgroup.subtree_control", "+cpu +memory +pids +io"),
            ("berth/cgroup.subtree_control", "+cpu +memory +pids +io"),
            ("berth/c1/memory.max", "1048576"),
            ("berth/c1/memory.swap.max", "2097152"),
            ("berth/c1/cpu.weight", "100"),
            ("berth/c1/cpu.max", "20000 100000"),
            ("berth/c1/pids.max", "max"),
            ("berth/c1/io.weight", "10000"),
        ];
        for (f, v) in want {
            assert_eq!(fs::read_to_string(root.join(f)).unwrap(), v, "{f}");
        }
        // Once enabled, a second container only reads the parent's subtree_control.
        fs::write(root.join("cgroup.subtree_control"), "cpu memory pids io").unwrap();
        fs::write(root.join("berth/cgroup.subtree_control"), "cpu io memory pids").unwrap();
        fs::create_dir_all(root.join("berth/c2")).unwrap();
        V2::new(&layout, "berth/c2").create(&Resources::default()).unwrap();
        assert_eq!(
            fs::read_to_string(root.join("berth/cgroup.subtree_control")).unwrap(),
            "cpu io memory pids"
        );
    }

    #[test]
    fn controllers_that_are_not_available_are_unsupported() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("c1")).unwrap();
        let layout = Layout::v2(tmp.path(), [Controller::Memory]);
        let m = V2::new(&layout, "c1");
        match m.apply(&Resources { cpuset_cpus: Some("1".into()), ..Default::default() }) {
            Err(Error::Unsupported(w)) => assert_eq!(w, "cpuset"),
            other => panic!("{other:?}"),
        }
        match m.freeze() {
            Err(Error::Unsupported(w)) => assert_eq!(w, "freezer"),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.state().unwrap(), FreezerState::Thawed);
    }
}
