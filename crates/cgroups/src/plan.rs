//! From [`Resources`] to an ordered list of cgroup file writes (pure), and running such a
//! list against directories.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fsio;
use crate::layout::Controller;
use crate::resources::{blkio_weight_to_io_weight, shares_to_weight, Resources, ThrottleDevice};

/// One value for one file of one controller's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    pub ctrl: Controller,
    pub file: &'static str,
    pub value: String,
}

/// One step of applying resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write it; `what` names the setting for [`Error::Unsupported`] if the file is missing.
    One(Write, &'static str),
    /// Like `One`, but a missing file or controller is fine (an implied setting).
    Optional(Write),
    /// Write both, in order; if the first fails with `EINVAL` (it would cross the second's
    /// current value, as memory vs memory+swap, or CFS period vs quota), write the second first.
    Pair(Write, Write, &'static str),
    /// Write the first of these whose file exists.
    FirstOf(Vec<Write>, &'static str),
}

fn w(ctrl: Controller, file: &'static str, value: impl ToString) -> Write {
    Write { ctrl, file, value: value.to_string() }
}

/// A byte/µs value: `Some(n > 0)` as is, `-1` as unlimited (`None` inside), `0`/`None` unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Unset,
    Unlimited,
    Value(i64),
}

fn limit(v: Option<i64>, what: &'static str) -> Result<Limit> {
    match v {
        None | Some(0) => Ok(Limit::Unset),
        Some(-1) => Ok(Limit::Unlimited),
        Some(n) if n > 0 => Ok(Limit::Value(n)),
        Some(_) => Err(Error::Invalid(what)),
    }
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn check_common(r: &Resources) -> Result<()> {
    if let Some(s) = r.memory_swappiness {
        if s > 100 {
            return Err(Error::Invalid("memory swappiness must be between 0 and 100"));
        }
    }
    if let Some(w) = r.blkio_weight {
        if w != 0 && !(10..=1000).contains(&w) {
            return Err(Error::Invalid("blkio weight must be between 10 and 1000"));
        }
    }
    if r.blkio_weight_device.iter().any(|d| !(10..=1000).contains(&d.weight)) {
        return Err(Error::Invalid("blkio device weight must be between 10 and 1000"));
    }
    if r.devices.iter().any(|d| !d.access_is_valid()) {
        return Err(Error::Invalid("device access must be a non-empty subset of rwm"));
    }
    for v in [&r.cpuset_cpus, &r.cpuset_mems].into_iter().flatten() {
        if !v.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '-' || c == ' ') {
            return Err(Error::Invalid("cpuset lists may only hold digits, ',' and '-'"));
        }
    }
    Ok(())
}

fn memory_pair(r: &Resources) -> Result<(Limit, Limit)> {
    let mem = limit(r.memory, "memory limit must be positive or -1")?;
    let mut swap = limit(r.memory_swap, "memory+swap limit must be positive or -1")?;
    if let (Limit::Value(m), Limit::Value(s)) = (mem, swap) {
        if s < m {
            return Err(Error::Invalid(
                "memory+swap limit should be larger than or equal to the memory limit",
            ));
        }
    }
    // Lifting the memory limit lifts swap with it unless swap is given (runc does the same):
    // on v1 memory.memsw must stay >= memory.
    if mem == Limit::Unlimited && swap == Limit::Unset {
        swap = Limit::Unlimited;
    }
    Ok((mem, swap))
}

/// The writes for a v1 hierarchy set, in order: cpuset first (tasks need it), then memory,
/// cpu, pids, blkio and device rules.
pub(crate) fn v1(r: &Resources) -> Result<Vec<Step>> {
    use Controller::*;
    check_common(r)?;
    let mut steps = Vec::new();
    if let Some(v) = nonempty(&r.cpuset_cpus) {
        steps.push(Step::One(w(Cpuset, "cpuset.cpus", v), "cpuset"));
    }
    if let Some(v) = nonempty(&r.cpuset_mems) {
        steps.push(Step::One(w(Cpuset, "cpuset.mems", v), "cpuset"));
    }

    let (mem, swap) = memory_pair(r)?;
    let v1val = |l: Limit| match l {
        Limit::Value(n) => n.to_string(),
        _ => "-1".to_string(),
    };
    let implied_swap = r.memory_swap.is_none() || r.memory_swap == Some(0);
    match (mem, swap) {
        (Limit::Unset, Limit::Unset) => {}
        (m, Limit::Unset) => {
            steps.push(Step::One(w(Memory, "memory.limit_in_bytes", v1val(m)), "memory limit"))
        }
        (Limit::Unset, s) => {
            steps.push(Step::One(w(Memory, "memory.memsw.limit_in_bytes", v1val(s)), "swap limit"))
        }
        (m, s) if implied_swap => {
            steps.push(Step::Optional(w(Memory, "memory.memsw.limit_in_bytes", v1val(s))));
            steps.push(Step::One(w(Memory, "memory.limit_in_bytes", v1val(m)), "memory limit"));
        }
        (m, s) => steps.push(Step::Pair(
            w(Memory, "memory.limit_in_bytes", v1val(m)),
            w(Memory, "memory.memsw.limit_in_bytes", v1val(s)),
            "swap limit",
        )),
    }
    match limit(r.memory_reservation, "memory reservation must be positive or -1")? {
        Limit::Unset => {}
        l => steps.push(Step::One(
            w(Memory, "memory.soft_limit_in_bytes", v1val(l)),
            "memory reservation",
        )),
    }
    if let Some(s) = r.memory_swappiness {
        steps.push(Step::One(w(Memory, "memory.swappiness", s), "memory swappiness"));
    }
    if let Some(d) = r.oom_kill_disable {
        steps.push(Step::One(
            w(Memory, "memory.oom_control", if d { "1" } else { "0" }),
            "oom kill disable",
        ));
    }

    if let Some(s) = r.cpu_shares.filter(|s| *s != 0) {
        steps.push(Step::One(w(Cpu, "cpu.shares", s), "cpu shares"));
    }
    let quota = limit(r.cpu_quota, "cpu quota must be positive or -1")?;
    let period = r.cpu_period.filter(|p| *p != 0);
    match (period, quota) {
        (None, Limit::Unset) => {}
        (Some(p), Limit::Unset) => {
            steps.push(Step::One(w(Cpu, "cpu.cfs_period_us", p), "cpu cfs period"))
        }
        (None, q) => steps.push(Step::One(w(Cpu, "cpu.cfs_quota_us", v1val(q)), "cpu cfs quota")),
        (Some(p), q) => steps.push(Step::Pair(
            w(Cpu, "cpu.cfs_period_us", p),
            w(Cpu, "cpu.cfs_quota_us", v1val(q)),
            "cpu cfs quota",
        )),
    }

    if let Some(p) = r.pids_limit {
        let v = if p > 0 { p.to_string() } else { "max".to_string() };
        steps.push(Step::One(w(Pids, "pids.max", v), "pids limit"));
    }

    if let Some(bw) = r.blkio_weight.filter(|w| *w != 0) {
        steps.push(Step::FirstOf(
            vec![w(Blkio, "blkio.weight", bw), w(Blkio, "blkio.bfq.weight", bw)],
            "blkio weight",
        ));
    }
    for d in &r.blkio_weight_device {
        let v = format!("{}:{} {}", d.major, d.minor, d.weight);
        steps.push(Step::FirstOf(
            vec![w(Blkio, "blkio.weight_device", &v), w(Blkio, "blkio.bfq.weight", &v)],
            "blkio weight device",
        ));
    }
    let throttles: [(&Vec<ThrottleDevice>, &'static str); 4] = [
        (&r.blkio_read_bps, "blkio.throttle.read_bps_device"),
        (&r.blkio_write_bps, "blkio.throttle.write_bps_device"),
        (&r.blkio_read_iops, "blkio.throttle.read_iops_device"),
        (&r.blkio_write_iops, "blkio.throttle.write_iops_device"),
    ];
    for (list, file) in throttles {
        for d in list {
            steps.push(Step::One(
                w(Blkio, file, format!("{}:{} {}", d.major, d.minor, d.rate)),
                "blkio throttle",
            ));
        }
    }

    for d in &r.devices {
        let file = if d.allow { "devices.allow" } else { "devices.deny" };
        steps.push(Step::One(w(Devices, file, d.to_v1()), "device rules"));
    }
    Ok(steps)
}

/// The writes for a v2 cgroup, in order. Device rules are not files on v2 (they are an eBPF
/// program) and are left to the caller.
pub(crate) fn v2(r: &Resources) -> Result<Vec<Step>> {
    use Controller::*;
    check_common(r)?;
    let mut steps = Vec::new();
    if let Some(v) = nonempty(&r.cpuset_cpus) {
        steps.push(Step::One(w(Cpuset, "cpuset.cpus", v), "cpuset"));
    }
    if let Some(v) = nonempty(&r.cpuset_mems) {
        steps.push(Step::One(w(Cpuset, "cpuset.mems", v), "cpuset"));
    }

    let (mem, swap) = memory_pair(r)?;
    let implied_swap = r.memory_swap.is_none() || r.memory_swap == Some(0);
    // v2 swap is separate from memory: memory.swap.max = (memory+swap) - memory.
    let swap_v2 = match (mem, swap) {
        (_, Limit::Unset) => None,
        (_, Limit::Unlimited) => Some("max".to_string()),
        (Limit::Value(m), Limit::Value(s)) => Some((s - m).to_string()),
        (_, Limit::Value(_)) => return Err(Error::Invalid("a swap limit needs a memory limit")),
    };
    if let Some(v) = swap_v2 {
        let write = w(Memory, "memory.swap.max", v);
        steps.push(if implied_swap {
            Step::Optional(write)
        } else {
            Step::One(write, "swap limit")
        });
    }
    let v2val = |l: Limit| match l {
        Limit::Value(n) => n.to_string(),
        _ => "max".to_string(),
    };
    if mem != Limit::Unset {
        steps.push(Step::One(w(Memory, "memory.max", v2val(mem)), "memory limit"));
    }
    match limit(r.memory_reservation, "memory reservation must be positive or -1")? {
        Limit::Unset => {}
        Limit::Unlimited => {
            steps.push(Step::One(w(Memory, "memory.low", "0"), "memory reservation"))
        }
        l => steps.push(Step::One(w(Memory, "memory.low", v2val(l)), "memory reservation")),
    }
    if r.memory_swappiness.is_some() {
        return Err(Error::Unsupported("memory swappiness"));
    }
    if r.oom_kill_disable == Some(true) {
        return Err(Error::Unsupported("oom kill disable"));
    }

    if let Some(s) = r.cpu_shares.filter(|s| *s != 0) {
        steps.push(Step::One(w(Cpu, "cpu.weight", shares_to_weight(s)), "cpu shares"));
    }
    let quota = limit(r.cpu_quota, "cpu quota must be positive or -1")?;
    let period = r.cpu_period.filter(|p| *p != 0);
    if quota != Limit::Unset || period.is_some() {
        // "max" keeps the period; a period alone lifts the quota (cpu.max holds both).
        let mut v = v2val(quota);
        if let Some(p) = period {
            v.push(' ');
            v.push_str(&p.to_string());
        }
        steps.push(Step::One(w(Cpu, "cpu.max", v), "cpu cfs quota"));
    }

    if let Some(p) = r.pids_limit {
        let v = if p > 0 { p.to_string() } else { "max".to_string() };
        steps.push(Step::One(w(Pids, "pids.max", v), "pids limit"));
    }

    if let Some(bw) = r.blkio_weight.filter(|w| *w != 0) {
        steps.push(Step::FirstOf(
            vec![
                w(Blkio, "io.bfq.weight", bw),
                w(Blkio, "io.weight", blkio_weight_to_io_weight(bw)),
            ],
            "blkio weight",
        ));
    }
    for d in &r.blkio_weight_device {
        steps.push(Step::FirstOf(
            vec![
                w(Blkio, "io.bfq.weight", format!("{}:{} {}", d.major, d.minor, d.weight)),
                w(
                    Blkio,
                    "io.weight",
                    format!("{}:{} {}", d.major, d.minor, blkio_weight_to_io_weight(d.weight)),
                ),
            ],
            "blkio weight device",
        ));
    }
    // io.max takes all four limits of a device in one line.
    let mut devs: Vec<(u64, u64)> = Vec::new();
    let lists = [
        (&r.blkio_read_bps, "rbps"),
        (&r.blkio_write_bps, "wbps"),
        (&r.blkio_read_iops, "riops"),
        (&r.blkio_write_iops, "wiops"),
    ];
    for (list, _) in lists {
        for d in list {
            if !devs.contains(&(d.major, d.minor)) {
                devs.push((d.major, d.minor));
            }
        }
    }
    for (major, minor) in devs {
        let mut line = format!("{major}:{minor}");
        for (list, key) in lists {
            if let Some(d) = list.iter().rev().find(|d| d.major == major && d.minor == minor) {
                line.push_str(&format!(" {key}={}", d.rate));
            }
        }
        steps.push(Step::One(w(Blkio, "io.max", line), "blkio throttle"));
    }
    Ok(steps)
}

/// Run `steps`; `dir(c)` is the directory holding controller `c`'s files, `None` if the
/// controller is not available.
pub(crate) fn run<'a>(steps: &[Step], dir: impl Fn(Controller) -> Option<&'a Path>) -> Result<()> {
    let write = |wr: &Write, what: &'static str| -> Result<()> {
        let d = dir(wr.ctrl).ok_or(Error::Unsupported(what))?;
        fsio::write(d, wr.file, &wr.value).map_err(|e| {
            if fsio::enoent(&e) && d.is_dir() {
                Error::Unsupported(what)
            } else {
                e
            }
        })
    };
    for step in steps {
        match step {
            Step::One(wr, what) => write(wr, what)?,
            Step::Optional(wr) => match write(wr, "") {
                Err(Error::Unsupported(_)) => {}
                r => r?,
            },
            Step::Pair(a, b, what) => match write(a, what) {
                Ok(()) => write(b, what)?,
                Err(e) if fsio::errno(&e) == Some(libc::EINVAL) => {
                    write(b, what)?;
                    write(a, what)?;
                }
                Err(e) => return Err(e),
            },
            Step::FirstOf(list, what) => {
                let d = list.first().and_then(|wr| dir(wr.ctrl)).ok_or(Error::Unsupported(what))?;
                let wr = list
                    .iter()
                    .find(|wr| fsio::join(d, wr.file).exists())
                    .ok_or(Error::Unsupported(what))?;
                write(wr, what)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{DeviceKind, DeviceRule, WeightDevice};

    /// Render steps compactly: `file=value`, `?file=value` (optional), `a=1 <> b=2` (pair),
    /// `a=1 | b=2` (first of).
    fn render(steps: &[Step]) -> Vec<String> {
        let one = |w: &Write| format!("{}={}", w.file, w.value);
        steps
            .iter()
            .map(|s| match s {
                Step::One(w, _) => one(w),
                Step::Optional(w) => format!("?{}", one(w)),
                Step::Pair(a, b, _) => format!("{} <> {}", one(a), one(b)),
                Step::FirstOf(l, _) => l.iter().map(one).collect::<Vec<_>>().join(" | "),
            })
            .collect()
    }

    fn mib(n: i64) -> Option<i64> {
        Some(n << 20)
    }

    #[test]
    fn v1_and_v2_writes_for_resources() {
        let cases: Vec<(&str, Resources, Vec<&str>, Vec<&str>)> = vec![
            ("nothing", Resources::default(), vec![], vec![]),
            (
                "zeros are unset",
                Resources {
                    memory: Some(0),
                    memory_swap: Some(0),
                    cpu_shares: Some(0),
                    cpu_quota: Some(0),
                    ..Default::default()
                },
                vec![],
                vec![],
            ),
            (
                "memory with swap",
                Resources { memory: mib(64), memory_swap: mib(128), ..Default::default() },
                vec!["memory.limit_in_bytes=67108864 <> memory.memsw.limit_in_bytes=134217728"],
                vec!["memory.swap.max=67108864", "memory.max=67108864"],
            ),
            (
                "memory without swap given",
                Resources { memory: mib(64), ..Default::default() },
                vec!["memory.limit_in_bytes=67108864"],
                vec!["memory.max=67108864"],
            ),
            (
                "memory equal to memory+swap: no swap",
                Resources { memory: mib(64), memory_swap: mib(64), ..Default::default() },
                vec!["memory.limit_in_bytes=67108864 <> memory.memsw.limit_in_bytes=67108864"],
                vec!["memory.swap.max=0", "memory.max=67108864"],
            ),
            (
                "unlimited swap",
                Resources { memory: mib(64), memory_swap: Some(-1), ..Default::default() },
                vec!["memory.limit_in_bytes=67108864 <> memory.memsw.limit_in_bytes=-1"],
                vec!["memory.swap.max=max", "memory.max=67108864"],
            ),
            (
                "lifting memory lifts swap",
                Resources { memory: Some(-1), ..Default::default() },
                vec!["?memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"],
                vec!["?memory.swap.max=max", "memory.max=max"],
            ),
            (
                "reservation, swappiness-free",
                Resources { memory_reservation: mib(32), ..Default::default() },
                vec!["memory.soft_limit_in_bytes=33554432"],
                vec!["memory.low=33554432"],
            ),
            (
                "cpu shares, quota and period",
                Resources {
                    cpu_shares: Some(512),
                    cpu_quota: Some(50_000),
                    cpu_period: Some(100_000),
                    ..Default::default()
                },
                vec!["cpu.shares=512", "cpu.cfs_period_us=100000 <> cpu.cfs_quota_us=50000"],
                vec!["cpu.weight=59", "cpu.max=50000 100000"],
            ),
            (
                "quota alone, unlimited quota",
                Resources { cpu_quota: Some(-1), ..Default::default() },
                vec!["cpu.cfs_quota_us=-1"],
                vec!["cpu.max=max"],
            ),
            (
                "period alone",
                Resources { cpu_period: Some(20_000), ..Default::default() },
                vec!["cpu.cfs_period_us=20000"],
                vec!["cpu.max=max 20000"],
            ),
            (
                "cpuset",
                Resources {
                    cpuset_cpus: Some("0-1".into()),
                    cpuset_mems: Some(" 0 ".into()),
                    ..Default::default()
                },
                vec!["cpuset.cpus=0-1", "cpuset.mems=0"],
                vec!["cpuset.cpus=0-1", "cpuset.mems=0"],
            ),
            (
                "empty cpuset strings are unset",
                Resources { cpuset_cpus: Some(String::new()), ..Default::default() },
                vec![],
                vec![],
            ),
            (
                "pids limit",
                Resources { pids_limit: Some(100), ..Default::default() },
                vec!["pids.max=100"],
                vec!["pids.max=100"],
            ),
            (
                "pids unlimited (0)",
                Resources { pids_limit: Some(0), ..Default::default() },
                vec!["pids.max=max"],
                vec!["pids.max=max"],
            ),
            (
                "pids unlimited (-1)",
                Resources { pids_limit: Some(-1), ..Default::default() },
                vec!["pids.max=max"],
                vec!["pids.max=max"],
            ),
            (
                "blkio weight",
                Resources {
                    blkio_weight: Some(500),
                    blkio_weight_device: vec![WeightDevice { major: 8, minor: 0, weight: 100 }],
                    ..Default::default()
                },
                vec![
                    "blkio.weight=500 | blkio.bfq.weight=500",
                    "blkio.weight_device=8:0 100 | blkio.bfq.weight=8:0 100",
                ],
                vec![
                    "io.bfq.weight=500 | io.weight=4950",
                    "io.bfq.weight=8:0 100 | io.weight=8:0 910",
                ],
            ),
            (
                "blkio throttles",
                Resources {
                    blkio_read_bps: vec![ThrottleDevice { major: 8, minor: 0, rate: 1000 }],
                    blkio_write_iops: vec![
                        ThrottleDevice { major: 8, minor: 16, rate: 10 },
                        ThrottleDevice { major: 8, minor: 0, rate: 20 },
                    ],
                    ..Default::default()
                },
                vec![
                    "blkio.throttle.read_bps_device=8:0 1000",
                    "blkio.throttle.write_iops_device=8:16 10",
                    "blkio.throttle.write_iops_device=8:0 20",
                ],
                vec!["io.max=8:0 rbps=1000 wiops=20", "io.max=8:16 wiops=10"],
            ),
            (
                "device rules (v1 files; v2 uses eBPF)",
                Resources {
                    devices: vec![
                        DeviceRule {
                            allow: false,
                            kind: DeviceKind::All,
                            major: None,
                            minor: None,
                            access: "rwm".into(),
                        },
                        DeviceRule {
                            allow: true,
                            kind: DeviceKind::Char,
                            major: Some(1),
                            minor: Some(3),
                            access: "rwm".into(),
                        },
                    ],
                    ..Default::default()
                },
                vec!["devices.deny=a *:* rwm", "devices.allow=c 1:3 rwm"],
                vec![],
            ),
            (
                "oom kill disable false is fine everywhere",
                Resources { oom_kill_disable: Some(false), ..Default::default() },
                vec!["memory.oom_control=0"],
                vec![],
            ),
        ];
        for (name, res, want_v1, want_v2) in cases {
            assert_eq!(render(&v1(&res).unwrap()), want_v1, "v1: {name}");
            assert_eq!(render(&v2(&res).unwrap()), want_v2, "v2: {name}");
        }
    }

    #[test]
    fn invalid_and_unsupported_resources() {
        let cases: Vec<(&str, Resources, &str, &str)> = vec![
            (
                "swap below memory",
                Resources { memory: mib(64), memory_swap: mib(32), ..Default::default() },
                "invalid resources: memory+swap limit should be larger than or equal to the memory limit",
                "invalid resources: memory+swap limit should be larger than or equal to the memory limit",
            ),
            (
                "negative memory",
                Resources { memory: Some(-5), ..Default::default() },
                "invalid resources: memory limit must be positive or -1",
                "invalid resources: memory limit must be positive or -1",
            ),
            (
                "blkio weight range",
                Resources { blkio_weight: Some(5), ..Default::default() },
                "invalid resources: blkio weight must be between 10 and 1000",
                "invalid resources: blkio weight must be between 10 and 1000",
            ),
            (
                "cpuset garbage",
                Resources { cpuset_cpus: Some("0\n1".into()), ..Default::default() },
                "invalid resources: cpuset lists may only hold digits, ',' and '-'",
                "invalid resources: cpuset lists may only hold digits, ',' and '-'",
            ),
            (
                "swappiness range",
                Resources { memory_swappiness: Some(101), ..Default::default() },
                "invalid resources: memory swappiness must be between 0 and 100",
                "invalid resources: memory swappiness must be between 0 and 100",
            ),
        ];
        for (name, res, e1, e2) in cases {
            assert_eq!(v1(&res).unwrap_err().to_string(), e1, "v1: {name}");
            assert_eq!(v2(&res).unwrap_err().to_string(), e2, "v2: {name}");
        }
        let v2_only: Vec<(Resources, &str)> = vec![
            (
                Resources { memory_swappiness: Some(10), ..Default::default() },
                "memory swappiness is not supported by the cgroup hierarchy on this host",
            ),
            (
                Resources { oom_kill_disable: Some(true), ..Default::default() },
                "oom kill disable is not supported by the cgroup hierarchy on this host",
            ),
            (
                Resources { memory_swap: mib(10), ..Default::default() },
                "invalid resources: a swap limit needs a memory limit",
            ),
        ];
        for (res, e) in v2_only {
            assert!(v1(&res).is_ok());
            assert_eq!(v2(&res).unwrap_err().to_string(), e);
        }
    }
}
