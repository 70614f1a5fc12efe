//! Where the cgroup hierarchies are: probed once, passed around as a value or a short string.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::fsio;

/// The cgroup version berth drives on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// Legacy or hybrid: one hierarchy per controller (or group of co-mounted controllers).
    V1,
    /// Unified: one hierarchy, controllers enabled per subtree.
    V2,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "1",
            Version::V2 => "2",
        })
    }
}

/// A controller berth uses. On v1 each is a hierarchy of its own (or co-mounted with others);
/// on v2 only [`Cpu`](Controller::Cpu), [`Cpuset`](Controller::Cpuset),
/// [`Memory`](Controller::Memory), [`Pids`](Controller::Pids) and [`Blkio`](Controller::Blkio)
/// (called `io` there) are controllers; freezing and killing are built into v2 itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Controller {
    /// CPU shares and CFS quota.
    Cpu,
    /// CPU accounting (v1 only; v2 accounts in `cpu.stat` always).
    Cpuacct,
    /// CPU and memory-node pinning.
    Cpuset,
    /// Memory limits and accounting.
    Memory,
    /// Process-count limit.
    Pids,
    /// Block I/O weight and throttling (`io` on v2).
    Blkio,
    /// Device access rules (v1 only; v2 uses an eBPF program instead).
    Devices,
    /// Freezing for pause (v1 only; v2 has `cgroup.freeze`).
    Freezer,
    /// The named `name=systemd` hierarchy (v1 only): no limits, membership only.
    Systemd,
}

impl Controller {
    /// Every controller, in the order berth creates and joins them.
    pub const ALL: [Controller; 9] = [
        Controller::Cpuset,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Memory,
        Controller::Pids,
        Controller::Blkio,
        Controller::Devices,
        Controller::Freezer,
        Controller::Systemd,
    ];

    /// The short key used in the text form of a [`Layout`]: `cpu`, `memory`, ..., `systemd`.
    pub fn key(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Blkio => "blkio",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
            Controller::Systemd => "systemd",
        }
    }

    /// The mount option naming this hierarchy on v1 (`name=systemd` for the named one).
    pub fn v1_option(self) -> &'static str {
        match self {
            Controller::Systemd => "name=systemd",
            c => c.key(),
        }
    }

    /// The controller's name in v2's `cgroup.controllers`, if it is a v2 controller.
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Cpu => Some("cpu"),
            Controller::Cpuset => Some("cpuset"),
            Controller::Memory => Some("memory"),
            Controller::Pids => Some("pids"),
            Controller::Blkio => Some("io"),
            _ => None,
        }
    }

    fn from_key(s: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.key() == s)
    }

    fn from_v2_name(s: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.v2_name() == Some(s))
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A set of controllers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Controllers(u16);

impl Controllers {
    /// The empty set.
    pub const EMPTY: Controllers = Controllers(0);

    /// Whether `c` is in the set.
    pub fn contains(self, c: Controller) -> bool {
        self.0 & (1 << c.index()) != 0
    }

    /// Add `c`.
    pub fn insert(&mut self, c: Controller) {
        self.0 |= 1 << c.index();
    }

    /// The members, in [`Controller::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Controller> {
        Controller::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Controller> for Controllers {
    fn from_iter<I: IntoIterator<Item = Controller>>(iter: I) -> Self {
        let mut s = Controllers::EMPTY;
        for c in iter {
            s.insert(c);
        }
        s
    }
}

/// Where the cgroup hierarchies of this host are mounted.
///
/// Probed once by berthd ([`probe`]) and handed to each monitor in its text form
/// (`layout.to_string()`, parsed back with `str::parse`), so no monitor reads
/// `/proc/self/mountinfo`. The text form is one line of space-separated tokens:
///
/// ```text
/// v1 cpuset=/sys/fs/cgroup/cpuset cpu=/sys/fs/cgroup/cpu ... systemd=/sys/fs/cgroup/systemd
/// v2 root=/sys/fs/cgroup controllers=cpuset,cpu,memory,pids,blkio
/// ```
///
/// Paths escape space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134` (as
/// mountinfo does). Tests build layouts over a temporary directory with [`Layout::v1`] and
/// [`Layout::v2`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    version: Version,
    /// v1: the mount point of each controller's hierarchy, indexed by [`Controller::index`].
    mounts: [Option<PathBuf>; 9],
    /// v2: the root of the unified hierarchy.
    root: PathBuf,
    /// v1: the mounted controllers; v2: those listed in the root's `cgroup.controllers`.
    controllers: Controllers,
}

impl Layout {
    /// A v1 layout from the mount point of each controller's hierarchy. Co-mounted controllers
    /// (`cpu,cpuacct`) simply share a mount point.
    pub fn v1(mounts: impl IntoIterator<Item = (Controller, PathBuf)>) -> Layout {
        let mut l = Layout {
            version: Version::V1,
            mounts: Default::default(),
            root: PathBuf::new(),
            controllers: Controllers::EMPTY,
        };
        for (c, p) in mounts {
            l.controllers.insert(c);
            l.mounts[c.index()] = Some(p);
        }
        l
    }

    /// A v2 layout: the unified hierarchy at `root` with these controllers available.
    /// Controllers that are not v2 controllers are ignored.
    pub fn v2(
        root: impl Into<PathBuf>,
        controllers: impl IntoIterator<Item = Controller>,
    ) -> Layout {
        Layout {
            version: Version::V2,
            mounts: Default::default(),
            root: root.into(),
            controllers: controllers.into_iter().filter(|c| c.v2_name().is_some()).collect(),
        }
    }

    /// Choose the hierarchies from the text of `/proc/self/mountinfo`. If any v1 hierarchy
    /// with one of our controllers is mounted, the host is driven as v1 (hybrid hosts
    /// included); otherwise the cgroup2 mount is used and its `cgroup.controllers` is read.
    pub fn from_mountinfo(text: &str) -> Result<Layout> {
        let mounts = parse_mountinfo(text);
        match choose(&mounts)? {
            Choice::V1(m) => Ok(Layout::v1(m)),
            Choice::V2(root) => {
                let text = fsio::read(&root, "cgroup.controllers")?;
                let cs = text.split_whitespace().filter_map(Controller::from_v2_name);
                Ok(Layout::v2(root, cs.collect::<Vec<_>>()))
            }
        }
    }

    /// The cgroup version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether the controller is usable: mounted (v1) or available at the root (v2).
    pub fn has(&self, c: Controller) -> bool {
        self.controllers.contains(c)
    }

    /// The usable controllers.
    pub fn controllers(&self) -> Controllers {
        self.controllers
    }

    /// v1: the mount point of `c`'s hierarchy, if mounted. v2: the root for v2 controllers.
    pub fn mount(&self, c: Controller) -> Option<&Path> {
        match self.version {
            Version::V1 => self.mounts[c.index()].as_deref(),
            Version::V2 => self.controllers.contains(c).then_some(self.root.as_path()),
        }
    }

    /// v2: the root of the unified hierarchy (empty on v1).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What the hierarchies on this host can limit and do, for `docker info` and for
    /// discarding unsupported settings up front. Reads a few files: call it once at start.
    pub fn support(&self) -> Support {
        match self.version {
            Version::V1 => self.support_v1(),
            Version::V2 => self.support_v2(),
        }
    }

    fn support_v1(&self) -> Support {
        let has = |c: Controller, file: &str| {
            self.mounts[c.index()].as_deref().is_some_and(|m| fsio::join(m, file).exists())
        };
        let mut s = Support {
            memory: has(Controller::Memory, "memory.limit_in_bytes"),
            swap: has(Controller::Memory, "memory.memsw.limit_in_bytes"),
            memory_reservation: has(Controller::Memory, "memory.soft_limit_in_bytes"),
            memory_swappiness: has(Controller::Memory, "memory.swappiness"),
            oom_kill_disable: has(Controller::Memory, "memory.oom_control"),
            cpu_shares: has(Controller::Cpu, "cpu.shares"),
            cpu_cfs: has(Controller::Cpu, "cpu.cfs_quota_us")
                && has(Controller::Cpu, "cpu.cfs_period_us"),
            cpuset: self.has(Controller::Cpuset),
            pids: self.has(Controller::Pids),
            blkio_weight: has(Controller::Blkio, "blkio.weight")
                || has(Controller::Blkio, "blkio.bfq.weight"),
            blkio_weight_device: has(Controller::Blkio, "blkio.weight_device")
                || has(Controller::Blkio, "blkio.bfq.weight_device"),
            blkio_throttle: has(Controller::Blkio, "blkio.throttle.read_bps_device"),
            devices: self.has(Controller::Devices),
            freezer: self.has(Controller::Freezer),
            kill: false,
            cpus: String::new(),
            mems: String::new(),
        };
        if let Some(m) = self.mount(Controller::Cpuset) {
            s.cpus = read_first(m, &["cpuset.effective_cpus", "cpuset.cpus"]);
            s.mems = read_first(m, &["cpuset.effective_mems", "cpuset.mems"]);
        }
        s
    }

    fn support_v2(&self) -> Support {
        // Most interface files exist only below the root: look at a non-root cgroup.
        let sample = v2_sample_dir(&self.root);
        let sample_has = |f: &str| sample.as_deref().is_some_and(|d| fsio::join(d, f).exists());
        let memory = self.has(Controller::Memory);
        let io = self.has(Controller::Blkio);
        Support {
            memory,
            swap: memory && (sample.is_none() || sample_has("memory.swap.max")),
            memory_reservation: memory,
            memory_swappiness: false,
            oom_kill_disable: false,
            cpu_shares: self.has(Controller::Cpu),
            cpu_cfs: self.has(Controller::Cpu),
            cpuset: self.has(Controller::Cpuset),
            pids: self.has(Controller::Pids),
            blkio_weight: io,
            blkio_weight_device: io,
            blkio_throttle: io,
            devices: crate::v2::DEVICE_FILTER_SUPPORTED,
            freezer: sample.is_none() || sample_has("cgroup.freeze"),
            kill: sample_has("cgroup.kill"),
            cpus: if self.has(Controller::Cpuset) {
                read_first(&self.root, &["cpuset.cpus.effective"])
            } else {
                String::new()
            },
            mems: if self.has(Controller::Cpuset) {
                read_first(&self.root, &["cpuset.mems.effective"])
            } else {
                String::new()
            },
        }
    }
}

fn read_first(dir: &Path, files: &[&str]) -> String {
    files
        .iter()
        .find_map(|f| {
            fsio::read(dir, f).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
        })
        .unwrap_or_default()
}

/// A non-root cgroup of the v2 hierarchy: ours (from `/proc/self/cgroup`) or else any child of
/// the root.
fn v2_sample_dir(root: &Path) -> Option<PathBuf> {
    if let Ok(text) = fs::read_to_string("/proc/self/cgroup") {
        if let Some(rel) = text.lines().find_map(|l| l.strip_prefix("0::")) {
            let rel = rel.trim_start_matches('/');
            let dir = root.join(rel);
            if !rel.is_empty() && dir.join("cgroup.procs").exists() {
                return Some(dir);
            }
        }
    }
    fs::read_dir(root)
        .ok()?
        .flatten()
        .find(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
}

/// What the cgroup hierarchies of this host support. `docker info` shows some of it, and the
/// daemon discards unsupported settings with Docker's warnings
/// ([`crate::Resources::discard_unsupported`]). All `false` means unsupported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Support {
    /// Memory limit.
    pub memory: bool,
    /// Swap limit (v1: `memory.memsw.*` needs swap accounting; v2: `memory.swap.max`).
    pub swap: bool,
    /// Memory soft limit (v1: `memory.soft_limit_in_bytes`; v2: `memory.low`).
    pub memory_reservation: bool,
    /// `memory.swappiness` (v1 only).
    pub memory_swappiness: bool,
    /// Disabling the OOM killer (v1 only).
    pub oom_kill_disable: bool,
    /// CPU shares (v2: converted to `cpu.weight`).
    pub cpu_shares: bool,
    /// CFS quota and period.
    pub cpu_cfs: bool,
    /// cpuset pinning.
    pub cpuset: bool,
    /// Process-count limit.
    pub pids: bool,
    /// Block I/O weight.
    pub blkio_weight: bool,
    /// Per-device block I/O weight.
    pub blkio_weight_device: bool,
    /// Per-device block I/O throttling (bps and iops).
    pub blkio_throttle: bool,
    /// Device access rules.
    pub devices: bool,
    /// Freezing (pause).
    pub freezer: bool,
    /// Killing the whole cgroup in one write (`cgroup.kill`, v2 on Linux 5.14+).
    pub kill: bool,
    /// The CPUs containers may use (`0-3`), empty if unknown.
    pub cpus: String,
    /// The memory nodes containers may use (`0`), empty if unknown.
    pub mems: String,
}

/// Probe this host: read `/proc/self/mountinfo` once and choose the hierarchies. Call it once
/// at daemon start; monitors get the result in text form.
pub fn probe() -> Result<Layout> {
    let path = Path::new("/proc/self/mountinfo");
    let text = fs::read_to_string(path)
        .map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    Layout::from_mountinfo(&text)
}

/// One cgroup mount from mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    /// The root of the mount within its hierarchy (`/` unless bind-mounted from below).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// cgroup2 (else cgroup v1).
    pub v2: bool,
    /// The super options (`rw,cpu,cpuacct`).
    pub options: String,
}

/// The cgroup and cgroup2 mounts in a mountinfo text, in order. Malformed lines are skipped.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let mut r = right.split(' ');
        let (Some(fstype), Some(_source), Some(options)) = (r.next(), r.next(), r.next()) else {
            continue;
        };
        let v2 = match fstype {
            "cgroup" => false,
            "cgroup2" => true,
            _ => continue,
        };
        let l: Vec<&str> = left.split(' ').collect();
        if l.len() < 6 {
            continue;
        }
        out.push(CgroupMount {
            root: unescape(l[3]),
            mount_point: PathBuf::from(unescape(l[4])),
            v2,
            options: options.to_string(),
        });
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    V1(Vec<(Controller, PathBuf)>),
    V2(PathBuf),
}

/// Decide between v1 and v2 and pick one mount per hierarchy (preferring mounts of the
/// hierarchy's root over bind mounts of a subtree).
pub(crate) fn choose(mounts: &[CgroupMount]) -> Result<Choice> {
    let mut v1: Vec<(Controller, PathBuf, bool)> = Vec::new();
    for m in mounts.iter().filter(|m| !m.v2) {
        for opt in m.options.split(',') {
            let Some(c) = Controller::ALL.into_iter().find(|c| c.v1_option() == opt) else {
                continue;
            };
            let at_root = m.root == "/";
            match v1.iter_mut().find(|(k, _, _)| *k == c) {
                Some(e) if !e.2 && at_root => *e = (c, m.mount_point.clone(), at_root),
                Some(_) => {}
                None => v1.push((c, m.mount_point.clone(), at_root)),
            }
        }
    }
    if v1.iter().any(|(c, _, _)| *c != Controller::Systemd) {
        let mut out: Vec<(Controller, PathBuf)> = v1.into_iter().map(|(c, p, _)| (c, p)).collect();
        out.sort_by_key(|(c, _)| Controller::ALL.iter().position(|x| x == c));
        return Ok(Choice::V1(out));
    }
    let v2: Vec<&CgroupMount> = mounts.iter().filter(|m| m.v2).collect();
    let best = v2
        .iter()
        .find(|m| m.mount_point == Path::new("/sys/fs/cgroup"))
        .or_else(|| v2.iter().find(|m| m.root == "/"))
        .or_else(|| v2.first());
    match best {
        Some(m) => Ok(Choice::V2(m.mount_point.clone())),
        None => Err(Error::NotMounted),
    }
}

/// Undo mountinfo's octal escapes (`\040` for a space).
pub(crate) fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if v <= 255 {
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(256);
        match self.version {
            Version::V1 => {
                s.push_str("v1");
                for c in self.controllers.iter() {
                    if let Some(p) = &self.mounts[c.index()] {
                        s.push(' ');
                        s.push_str(c.key());
                        s.push('=');
                        escape(&p.to_string_lossy(), &mut s);
                    }
                }
            }
            Version::V2 => {
                s.push_str("v2 root=");
                escape(&self.root.to_string_lossy(), &mut s);
                s.push_str(" controllers=");
                let mut first = true;
                for c in self.controllers.iter() {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    s.push_str(c.key());
                }
            }
        }
        f.write_str(&s)
    }
}

impl FromStr for Layout {
    type Err = Error;

    fn from_str(text: &str) -> Result<Layout> {
        let bad = |reason| Error::Layout { text: text.to_string(), reason };
        let mut tokens = text.split(' ').filter(|t| !t.is_empty());
        match tokens.next() {
            Some("v1") => {
                let mut mounts = Vec::new();
                for t in tokens {
                    let (k, v) =
                        t.split_once('=').ok_or_else(|| bad("expected controller=path"))?;
                    let c = Controller::from_key(k).ok_or_else(|| bad("unknown controller"))?;
                    if !v.starts_with('/') {
                        return Err(bad("mount point must be absolute"));
                    }
                    mounts.push((c, PathBuf::from(unescape(v))));
                }
                if mounts.is_empty() {
                    return Err(bad("no hierarchies"));
                }
                Ok(Layout::v1(mounts))
            }
            Some("v2") => {
                let mut root = None;
                let mut controllers = Controllers::EMPTY;
                for t in tokens {
                    match t.split_once('=') {
                        Some(("root", v)) if v.starts_with('/') => {
                            root = Some(PathBuf::from(unescape(v)))
                        }
                        Some(("root", _)) => return Err(bad("root must be absolute")),
                        Some(("controllers", v)) => {
                            for name in v.split(',').filter(|n| !n.is_empty()) {
                                let c = Controller::from_key(name)
                                    .ok_or_else(|| bad("unknown controller"))?;
                                if c.v2_name().is_none() {
                                    return Err(bad("not a v2 controller"));
                                }
                                controllers.insert(c);
                            }
                        }
                        _ => return Err(bad("unknown token")),
                    }
                }
                let root = root.ok_or_else(|| bad("missing root"))?;
                Ok(Layout { version: Version::V2, mounts: Default::default(), root, controllers })
            }
            _ => Err(bad("must start with v1 or v2")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    // A classic Debian/Ubuntu v1 host: co-mounted cpu,cpuacct, optional fields, a bind mount
    // of a subtree that must lose against the real one.
    const LEGACY: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
90 80 0:27 /docker/abc /mnt/memory\\040copy rw,relatime - cgroup cgroup rw,memory
";

    const UNIFIED: &str = "\
22 1 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
77 30 0:24 /system.slice /mnt/elsewhere rw,relatime - cgroup2 cgroup2 rw
";

    fn v1(pairs: &[(Controller, &str)]) -> Choice {
        Choice::V1(pairs.iter().map(|(c, p)| (*c, PathBuf::from(p))).collect())
    }

    #[test]
    fn choose_picks_hierarchies_from_mountinfo() {
        use Controller::*;
        let cases: Vec<(&str, &str, Result<Choice, ()>)> = vec![
            (
                "hybrid: v1 wins, unified ignored",
                HYBRID,
                Ok(v1(&[
                    (Cpuset, "/sys/fs/cgroup/cpuset"),
                    (Cpu, "/sys/fs/cgroup/cpu"),
                    (Cpuacct, "/sys/fs/cgroup/cpuacct"),
                    (Memory, "/sys/fs/cgroup/memory"),
                    (Pids, "/sys/fs/cgroup/pids"),
                    (Blkio, "/sys/fs/cgroup/blkio"),
                    (Devices, "/sys/fs/cgroup/devices"),
                    (Freezer, "/sys/fs/cgroup/freezer"),
                    (Systemd, "/sys/fs/cgroup/systemd"),
                ])),
            ),
            (
                "legacy: co-mounted cpu,cpuacct share a path; root mount beats bind mount",
                LEGACY,
                Ok(v1(&[
                    (Cpu, "/sys/fs/cgroup/cpu,cpuacct"),
                    (Cpuacct, "/sys/fs/cgroup/cpu,cpuacct"),
                    (Memory, "/sys/fs/cgroup/memory"),
                    (Systemd, "/sys/fs/cgroup/systemd"),
                ])),
            ),
            (
                "unified: /sys/fs/cgroup preferred",
                UNIFIED,
                Ok(Choice::V2(PathBuf::from("/sys/fs/cgroup"))),
            ),
            (
                "only name=systemd on v1 does not make a v1 host",
                "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
                 41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
                Ok(Choice::V2(PathBuf::from("/sys/fs/cgroup/unified"))),
            ),
            ("nothing mounted", "22 1 0:20 / /proc rw - proc proc rw\n", Err(())),
            ("garbage lines are skipped", "garbage\n1 2 3\n - cgroup\n", Err(())),
        ];
        for (name, text, want) in cases {
            let got = choose(&parse_mountinfo(text)).map_err(|_| ());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn parse_mountinfo_unescapes_and_keeps_root() {
        let m = parse_mountinfo(LEGACY);
        let last = m.last().unwrap();
        assert_eq!(last.root, "/docker/abc");
        assert_eq!(last.mount_point, PathBuf::from("/mnt/memory copy"));
        assert!(!last.v2);
        assert_eq!(m.len(), 5);
        assert_eq!(parse_mountinfo(UNIFIED).len(), 2);
    }

    #[test]
    fn text_form_round_trips() {
        use Controller::*;
        let layouts = [
            Layout::v1([
                (Cpu, "/sys/fs/cgroup/cpu,cpuacct".into()),
                (Cpuacct, "/sys/fs/cgroup/cpu,cpuacct".into()),
            ]),
            Layout::v1([(Memory, PathBuf::from("/tmp/a b\\c")), (Systemd, "/x".into())]),
            Layout::v2("/sys/fs/cgroup", [Cpu, Memory, Pids, Blkio, Cpuset]),
            Layout::v2("/sys/fs/cgroup/unified", []),
        ];
        let texts = [
            "v1 cpu=/sys/fs/cgroup/cpu,cpuacct cpuacct=/sys/fs/cgroup/cpu,cpuacct",
            "v1 memory=/tmp/a\\040b\\134c systemd=/x",
            "v2 root=/sys/fs/cgroup controllers=cpuset,cpu,memory,pids,blkio",
            "v2 root=/sys/fs/cgroup/unified controllers=",
        ];
        for (l, t) in layouts.iter().zip(texts) {
            assert_eq!(l.to_string(), t);
            assert_eq!(&t.parse::<Layout>().unwrap(), l, "{t}");
        }
    }

    #[test]
    fn bad_text_forms_are_rejected() {
        let cases = [
            ("", "must start with v1 or v2"),
            ("v3", "must start with v1 or v2"),
            ("v1", "no hierarchies"),
            ("v1 cpu", "expected controller=path"),
            ("v1 net_cls=/x", "unknown controller"),
            ("v1 cpu=relative", "mount point must be absolute"),
            ("v2 controllers=cpu", "missing root"),
            ("v2 root=x", "root must be absolute"),
            ("v2 root=/x controllers=freezer", "not a v2 controller"),
            ("v2 root=/x foo=bar", "unknown token"),
        ];
        for (text, reason) in cases {
            match text.parse::<Layout>() {
                Err(Error::Layout { reason: r, .. }) => assert_eq!(r, reason, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn v2_layout_reads_controllers_under_injected_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        )
        .unwrap();
        let text = format!("26 22 0:24 / {} rw - cgroup2 cgroup2 rw\n", dir.path().display());
        let l = Layout::from_mountinfo(&text).unwrap();
        assert_eq!(l.version(), Version::V2);
        assert_eq!(l.root(), dir.path());
        let got: Vec<_> = l.controllers().iter().collect();
        use Controller::*;
        assert_eq!(got, vec![Cpuset, Cpu, Memory, Pids, Blkio]);
        assert!(!l.has(Freezer));
    }

    #[test]
    fn unescape_handles_octal_and_stray_backslashes() {
        let cases = [
            ("a\\040b", "a b"),
            ("a\\", "a\\"),
            ("a\\9x", "a\\9x"),
            ("\\134\\011", "\\\t"),
            ("plain", "plain"),
        ];
        for (i, o) in cases {
            assert_eq!(unescape(i), o, "{i}");
        }
    }
}
