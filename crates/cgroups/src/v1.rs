//! The cgroup v1 manager: one directory per mounted hierarchy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::fsio::{self, Backoff};
use crate::layout::{Controller, Controllers, Layout};
use crate::manager::{self, FreezerState};
use crate::plan;
use crate::resources::Resources;
use crate::stats::{self, Stats};

/// One hierarchy: where it is mounted and our directory in it.
#[derive(Debug, Clone)]
struct Hier {
    mount: PathBuf,
    dir: PathBuf,
    controllers: Controllers,
}

#[derive(Debug, Clone)]
pub(crate) struct V1 {
    hiers: Vec<Hier>,
    /// Per controller, the index of its hierarchy in `hiers`.
    idx: [Option<u8>; 9],
}

impl V1 {
    pub(crate) fn new(layout: &Layout, rel: &str) -> V1 {
        let mut hiers: Vec<Hier> = Vec::with_capacity(9);
        let mut idx = [None; 9];
        for c in Controller::ALL {
            let Some(mount) = layout.mount(c) else { continue };
            let i = match hiers.iter().position(|h| h.mount == mount) {
                Some(i) => i,
                None => {
                    hiers.push(Hier {
                        mount: mount.to_path_buf(),
                        dir: mount.join(rel),
                        controllers: Controllers::EMPTY,
                    });
                    hiers.len() - 1
                }
            };
            hiers[i].controllers.insert(c);
            idx[c.index()] = Some(i as u8);
        }
        V1 { hiers, idx }
    }

    pub(crate) fn dir(&self, c: Controller) -> Option<&Path> {
        self.idx[c.index()].map(|i| self.hiers[i as usize].dir.as_path())
    }

    pub(crate) fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.hiers.iter().map(|h| h.dir.as_path())
    }

    pub(crate) fn create(&self, res: &Resources) -> Result<()> {
        let steps = plan::v1(res)?;
        for h in &self.hiers {
            if !h.controllers.contains(Controller::Cpuset) {
                mkdir_p(&h.mount, &h.dir, &|_| Ok(()))?;
                continue;
            }
            // Tasks cannot join a cpuset with empty cpus or mems. Parents we create get the
            // values of their own parent and `cgroup.clone_children`, so the kernel fills
            // every later leaf itself; checking a leaf then costs two reads.
            mkdir_p(&h.mount, &h.dir, &|parent| {
                inherit_cpuset(&h.mount, parent, "cpuset.cpus")?;
                inherit_cpuset(&h.mount, parent, "cpuset.mems")?;
                fsio::write(parent, "cgroup.clone_children", "1")
            })?;
            let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
            for (file, given) in
                [("cpuset.cpus", given(&res.cpuset_cpus)), ("cpuset.mems", given(&res.cpuset_mems))]
            {
                // A given value is written later; its parent must be filled (rare: --cpuset-*).
                let dir = match h.dir.parent() {
                    Some(parent) if given => parent,
                    _ => h.dir.as_path(),
                };
                inherit_cpuset(&h.mount, dir, file)?;
            }
        }
        plan::run(&steps, |c| self.dir(c))
    }

    pub(crate) fn apply(&self, res: &Resources) -> Result<()> {
        let steps = plan::v1(res)?;
        plan::run(&steps, |c| self.dir(c))
    }

    pub(crate) fn add_pid(&self, pid: i32) -> Result<()> {
        let mut buf = itoa_buf();
        let pid = itoa(pid, &mut buf);
        for h in &self.hiers {
            manager::write_procs(&h.dir, pid)?;
        }
        Ok(())
    }

    fn freezer(&self) -> Result<&Path> {
        self.dir(Controller::Freezer).ok_or(Error::Unsupported("freezer"))
    }

    pub(crate) fn freeze(&self) -> Result<()> {
        let dir = self.freezer()?;
        fsio::write(dir, "freezer.state", "FROZEN")?;
        let mut backoff = Backoff::new(
            Duration::from_micros(100),
            Duration::from_millis(10),
            Duration::from_secs(5),
        );
        let mut n = 0u32;
        loop {
            if self.state()? == FreezerState::Frozen {
                return Ok(());
            }
            n += 1;
            // A task may have been forking while the freeze ran; ask again now and then.
            if n.is_multiple_of(16) {
                fsio::write(dir, "freezer.state", "FROZEN")?;
            }
            if !backoff.wait() {
                let _ = fsio::write(dir, "freezer.state", "THAWED");
                return Err(Error::FreezeTimeout { path: dir.to_path_buf() });
            }
        }
    }

    pub(crate) fn thaw(&self) -> Result<()> {
        let dir = self.freezer()?;
        fsio::write(dir, "freezer.state", "THAWED")?;
        let mut backoff = Backoff::new(
            Duration::from_micros(100),
            Duration::from_millis(10),
            Duration::from_secs(5),
        );
        while self.state()? != FreezerState::Thawed {
            if !backoff.wait() {
                return Err(Error::FreezeTimeout { path: dir.to_path_buf() });
            }
        }
        Ok(())
    }

    pub(crate) fn state(&self) -> Result<FreezerState> {
        let Some(dir) = self.dir(Controller::Freezer) else { return Ok(FreezerState::Thawed) };
        let mut buf = [0u8; 32];
        let s = fsio::read_small(dir, "freezer.state", &mut buf)?;
        match s {
            "THAWED" => Ok(FreezerState::Thawed),
            "FREEZING" => Ok(FreezerState::Freezing),
            "FROZEN" => Ok(FreezerState::Frozen),
            other => Err(Error::Parse {
                path: fsio::join(dir, "freezer.state"),
                content: other.to_string(),
            }),
        }
    }

    /// The hierarchy whose `cgroup.procs` we list: any will do, since we join them all.
    fn procs_dir(&self) -> Option<&Path> {
        [Controller::Pids, Controller::Freezer, Controller::Memory, Controller::Cpu]
            .into_iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.hiers.first().map(|h| h.dir.as_path()))
    }

    pub(crate) fn pids(&self) -> Result<Vec<i32>> {
        let dir = self.procs_dir().ok_or(Error::NotMounted)?;
        manager::read_procs_recursive(dir)
    }

    pub(crate) fn kill_all(&self, signal: i32) -> Result<()> {
        let froze = self.dir(Controller::Freezer).is_some()
            && self.state()? == FreezerState::Thawed
            && self.freeze().is_ok();
        let res = self.pids().and_then(|pids| manager::signal_all(&pids, signal));
        // Frozen tasks only act on a signal once thawed; a SIGKILL must always get through.
        if froze || (signal == libc::SIGKILL && self.dir(Controller::Freezer).is_some()) {
            self.thaw()?;
        }
        res
    }

    pub(crate) fn destroy(&self) -> Result<()> {
        let mut first = None;
        let mut backoff = fsio::removal_backoff();
        for h in &self.hiers {
            if let Err(e) = fsio::remove_tree_with(&h.dir, &mut backoff) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    pub(crate) fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(d) = self.dir(Controller::Cpuacct) {
            s.cpu.usage_ns = fsio::read_u64_or_max(d, "cpuacct.usage")?.unwrap_or(0);
            s.cpu.per_cpu_ns = stats::parse_list(&fsio::read(d, "cpuacct.usage_percpu")?);
            match (
                fsio::read_opt(d, "cpuacct.usage_user")?,
                fsio::read_opt(d, "cpuacct.usage_sys")?,
            ) {
                (Some(u), Some(k)) => {
                    s.cpu.user_ns = u.trim().parse().unwrap_or(0);
                    s.cpu.system_ns = k.trim().parse().unwrap_or(0);
                }
                _ => {
                    // Older kernels: cpuacct.stat in clock ticks.
                    let text = fsio::read(d, "cpuacct.stat")?;
                    // SAFETY: sysconf has no memory effects.
                    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
                    let ns = |t: u64| t.saturating_mul(1_000_000_000 / hz);
                    s.cpu.user_ns = ns(stats::keyed(&text, "user").unwrap_or(0));
                    s.cpu.system_ns = ns(stats::keyed(&text, "system").unwrap_or(0));
                }
            }
        }
        if let Some(d) = self.dir(Controller::Cpu) {
            if let Some(text) = fsio::read_opt(d, "cpu.stat")? {
                s.cpu.periods = stats::keyed(&text, "nr_periods").unwrap_or(0);
                s.cpu.throttled_periods = stats::keyed(&text, "nr_throttled").unwrap_or(0);
                s.cpu.throttled_ns = stats::keyed(&text, "throttled_time").unwrap_or(0);
            }
        }
        if let Some(d) = self.dir(Controller::Memory) {
            let m = &mut s.memory;
            m.usage = fsio::read_u64_or_max(d, "memory.usage_in_bytes")?.unwrap_or(0);
            m.max_usage = fsio::read_u64_or_max(d, "memory.max_usage_in_bytes")?;
            m.limit = fsio::read_u64_or_max(d, "memory.limit_in_bytes")?.and_then(stats::v1_limit);
            m.failcnt = fsio::read_u64_or_max(d, "memory.failcnt")?;
            let text = fsio::read(d, "memory.stat")?;
            m.stat = stats::parse_flat_keyed(&text).map(|(k, v)| (k.to_string(), v)).collect();
            if let Some(text) = fsio::read_opt(d, "memory.oom_control")? {
                m.oom_kills = stats::keyed(&text, "oom_kill").unwrap_or(0);
            }
        }
        if let Some(d) = self.dir(Controller::Pids) {
            s.pids.current = fsio::read_u64_or_max(d, "pids.current")?.unwrap_or(0);
            s.pids.limit = fsio::read_u64_or_max(d, "pids.max")?;
        }
        if let Some(d) = self.dir(Controller::Blkio) {
            let pick = |names: [&str; 2]| -> Result<Vec<stats::BlkioEntry>> {
                for n in names {
                    if let Some(text) = fsio::read_opt(d, n)? {
                        let v = stats::parse_blkio_v1(&text);
                        if !v.is_empty() {
                            return Ok(v);
                        }
                    }
                }
                Ok(Vec::new())
            };
            s.blkio.service_bytes = pick([
                "blkio.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes_recursive",
            ])?;
            s.blkio.serviced =
                pick(["blkio.io_serviced_recursive", "blkio.throttle.io_serviced_recursive"])?;
        }
        Ok(s)
    }
}

/// `mkdir -p dir`, but never above `mount`; `new_parent` runs on each missing parent right
/// after it was created, top-down.
fn mkdir_p(mount: &Path, dir: &Path, new_parent: &dyn Fn(&Path) -> Result<()>) -> Result<()> {
    match fsio::mkdir(dir) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir != mount => {
            if let Some(parent) = dir.parent().filter(|p| p.starts_with(mount) && *p != mount) {
                mkdir_p(mount, parent, new_parent)?;
                new_parent(parent)?;
            }
            fsio::mkdir(dir)
                .map(|_| ())
                .map_err(|source| Error::Create { path: dir.to_path_buf(), source })
        }
        Err(source) => Err(Error::Create { path: dir.to_path_buf(), source }),
    }
}

/// A short cgroup value held on the stack.
struct Small {
    buf: [u8; 256],
    len: usize,
}

impl Small {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("").trim()
    }
}

/// The value of `dir`'s `file` (cpuset.cpus or cpuset.mems); if it is empty, copy the parent's
/// (filling the parent first the same way, up to the hierarchy's mount point).
fn inherit_cpuset(mount: &Path, dir: &Path, file: &str) -> Result<Small> {
    let mut v = Small { buf: [0u8; 256], len: 0 };
    v.len = fsio::read_raw(dir, file, &mut v.buf)?;
    if !v.as_str().is_empty() || dir == mount || !dir.starts_with(mount) {
        return Ok(v);
    }
    let Some(parent) = dir.parent() else { return Ok(v) };
    let p = inherit_cpuset(mount, parent, file)?;
    fsio::write(dir, file, p.as_str())?;
    Ok(p)
}

pub(crate) type ItoaBuf = [u8; 12];

pub(crate) fn itoa_buf() -> ItoaBuf {
    [0u8; 12]
}

/// Format `n` into `buf` without allocating.
pub(crate) fn itoa(n: i32, buf: &mut ItoaBuf) -> &str {
    let mut i = buf.len();
    let neg = n < 0;
    let mut v = (n as i64).unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    // Only ASCII digits and '-' were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fake v1 host under a temp dir: one directory per hierarchy, with the files the kernel
    /// would show in the root and in `berth/c1` (the tests pre-create what mkdir would).
    fn fake_host(root: &Path, leaf_files: &[(&str, &str)]) -> Layout {
        let mut mounts = Vec::new();
        for c in Controller::ALL {
            let m = root.join(c.key());
            fs::create_dir_all(m.join("berth/c1")).unwrap();
            fs::write(m.join("berth/c1/cgroup.procs"), "").unwrap();
            mounts.push((c, m));
        }
        fs::write(root.join("cpuset/cpuset.cpus"), "0-3\n").unwrap();
        fs::write(root.join("cpuset/cpuset.mems"), "0\n").unwrap();
        for dir in ["cpuset/berth", "cpuset/berth/c1"] {
            fs::write(root.join(dir).join("cpuset.cpus"), "").unwrap();
            fs::write(root.join(dir).join("cpuset.mems"), "\n").unwrap();
        }
        for (f, v) in leaf_files {
            fs::write(root.join(f), v).unwrap();
        }
        Layout::v1(mounts)
    }

    fn read(root: &Path, f: &str) -> String {
        fs::read_to_string(root.join(f)).unwrap()
    }

    #[test]
    fn create_writes_limits_and_inherits_cpuset_in_a_fake_hierarchy() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let files = [
            ("memory/berth/c1/memory.limit_in_bytes", ""),
            ("memory/berth/c1/memory.memsw.limit_in_bytes", ""),
            ("cpu/berth/c1/cpu.shares", ""),
            ("cpu/berth/c1/cpu.cfs_quota_us", ""),
            ("pids/berth/c1/pids.max", ""),
        ];
        let layout = fake_host(root, &files);
        let m = V1::new(&layout, "berth/c1");
        let res = Resources {
            memory: Some(1 << 20),
            memory_swap: Some(2 << 20),
            cpu_shares: Some(256),
            cpu_quota: Some(-1),
            pids_limit: Some(7),
            cpuset_mems: Some("0".into()),
            ..Default::default()
        };
        m.create(&res).unwrap();
        let want = [
            ("memory/berth/c1/memory.limit_in_bytes", "1048576"),
            ("memory/berth/c1/memory.memsw.limit_in_bytes", "2097152"),
            ("cpu/berth/c1/cpu.shares", "256"),
            ("cpu/berth/c1/cpu.cfs_quota_us", "-1"),
            ("pids/berth/c1/pids.max", "7"),
            // Parent and leaf inherit cpus; mems is given, so only the parent inherits it.
            ("cpuset/berth/cpuset.cpus", "0-3"),
            ("cpuset/berth/c1/cpuset.cpus", "0-3"),
            ("cpuset/berth/cpuset.mems", "0"),
            ("cpuset/berth/c1/cpuset.mems", "0"),
        ];
        for (f, v) in want {
            assert_eq!(read(root, f).trim(), v, "{f}");
        }

        m.add_pid(4321).unwrap();
        for c in Controller::ALL {
            assert_eq!(read(root, &format!("{}/berth/c1/cgroup.procs", c.key())), "4321");
        }
    }

    #[test]
    fn missing_files_and_controllers_are_unsupported() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = fake_host(tmp.path(), &[]);
        let m = V1::new(&layout, "berth/c1");
        let cases = [
            (Resources { blkio_weight: Some(100), ..Default::default() }, "blkio weight"),
            (Resources { memory: Some(1 << 20), ..Default::default() }, "memory limit"),
            (Resources { memory_swappiness: Some(1), ..Default::default() }, "memory swappiness"),
        ];
        for (res, what) in cases {
            match m.apply(&res) {
                Err(Error::Unsupported(w)) => assert_eq!(w, what),
                other => panic!("{what}: {other:?}"),
            }
        }
        // A controller that is not mounted at all.
        let only_memory = Layout::v1([(Controller::Memory, tmp.path().join("memory"))]);
        let m = V1::new(&only_memory, "berth/c1");
        match m.apply(&Resources { pids_limit: Some(1), ..Default::default() }) {
            Err(Error::Unsupported(w)) => assert_eq!(w, "pids limit"),
            other => panic!("{other:?}"),
        }
        // Implied settings are skipped quietly: lifting memory lifts swap if it can.
        fs::write(tmp.path().join("memory/berth/c1/memory.limit_in_bytes"), "").unwrap();
        m.apply(&Resources { memory: Some(-1), ..Default::default() }).unwrap();
        assert_eq!(read(tmp.path(), "memory/berth/c1/memory.limit_in_bytes"), "-1");
    }

    #[test]
    fn missing_cgroup_is_not_found_and_destroy_is_idempotent() {
        use berth_errdefs::{HasKind, Kind};
        let tmp = tempfile::tempdir().unwrap();
        let layout = fake_host(tmp.path(), &[]);
        let m = V1::new(&layout, "berth/nope");
        let e = m.apply(&Resources { pids_limit: Some(1), ..Default::default() }).unwrap_err();
        assert_eq!(e.kind(), Kind::NotFound, "{e}");
        assert_eq!(m.pids().unwrap_err().kind(), Kind::NotFound);
        m.destroy().unwrap();
        // Co-mounted controllers share one directory.
        let co = Layout::v1([
            (Controller::Cpu, tmp.path().join("cpu")),
            (Controller::Cpuacct, tmp.path().join("cpu")),
        ]);
        assert_eq!(V1::new(&co, "x").dirs().count(), 1);
    }

    #[test]
    fn itoa_formats() {
        for n in [0, 7, 42, -1, 123_456, i32::MAX, i32::MIN] {
            let mut b = itoa_buf();
            assert_eq!(itoa(n, &mut b), n.to_string());
        }
    }
}
