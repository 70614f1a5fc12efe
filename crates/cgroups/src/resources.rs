//! Resource limits, in Docker's (cgroup v1) units, and their conversions to cgroup v2.

use crate::layout::Support;

/// The limits of one cgroup, in Docker's `HostConfig` units (which are cgroup v1's).
///
/// Every field is optional: `None` leaves the current value alone, so the same type serves
/// container creation (where "alone" means the kernel default, i.e. unlimited or inherited)
/// and `docker update` (where it means "unchanged"). Docker's own "unset" value `0` is treated
/// like `None` everywhere except for `pids_limit`, where `0` and `-1` mean unlimited as in
/// Docker's API. `-1` means unlimited where the field documents it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Memory limit in bytes; `-1` for unlimited.
    pub memory: Option<i64>,
    /// Memory plus swap limit in bytes (Docker's `MemorySwap`); `-1` for unlimited swap. Must
    /// be at least `memory`. On v2 it becomes `memory.swap.max = memory_swap - memory`.
    pub memory_swap: Option<i64>,
    /// Memory soft limit in bytes (v1 `memory.soft_limit_in_bytes`, v2 `memory.low`); `-1`
    /// for none.
    pub memory_reservation: Option<i64>,
    /// Swappiness 0..=100 (v1 only).
    pub memory_swappiness: Option<u64>,
    /// Disable the OOM killer (v1 only; `Some(false)` is accepted everywhere).
    pub oom_kill_disable: Option<bool>,
    /// CPU shares (2..=262144, default 1024). On v2 converted with [`shares_to_weight`].
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period; `-1` for unlimited.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (1000..=1000000).
    pub cpu_period: Option<u64>,
    /// CPUs to run on, in list form (`0-2,4`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to allocate from, in list form.
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes; `0` or `-1` for unlimited.
    pub pids_limit: Option<i64>,
    /// Block I/O weight, 10..=1000. On v2 written to `io.bfq.weight` as is, or converted to
    /// `io.weight` with [`blkio_weight_to_io_weight`].
    pub blkio_weight: Option<u16>,
    /// Per-device block I/O weights.
    pub blkio_weight_device: Vec<WeightDevice>,
    /// Per-device read limits in bytes per second.
    pub blkio_read_bps: Vec<ThrottleDevice>,
    /// Per-device write limits in bytes per second.
    pub blkio_write_bps: Vec<ThrottleDevice>,
    /// Per-device read limits in operations per second.
    pub blkio_read_iops: Vec<ThrottleDevice>,
    /// Per-device write limits in operations per second.
    pub blkio_write_iops: Vec<ThrottleDevice>,
    /// Device access rules, applied in order (the OCI spec's `linux.resources.devices`:
    /// usually a deny-all first, then allows). Empty leaves device access alone.
    pub devices: Vec<DeviceRule>,
}

/// A per-device block I/O weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightDevice {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// Weight, 10..=1000.
    pub weight: u16,
}

/// A per-device block I/O rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleDevice {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// The kind of device a [`DeviceRule`] matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// Every device (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

/// One device access rule: allow or deny `access` (a subset of `rwm`) to the devices matching
/// `kind`, `major` and `minor` (`None` is a wildcard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    /// Allow (else deny).
    pub allow: bool,
    /// The device type.
    pub kind: DeviceKind,
    /// Major number; `None` matches all.
    pub major: Option<i64>,
    /// Minor number; `None` matches all.
    pub minor: Option<i64>,
    /// A non-empty subset of `rwm`: read, write, mknod.
    pub access: String,
}

impl DeviceRule {
    /// The rule in the v1 `devices.allow`/`devices.deny` syntax: `c 1:3 rwm`, `a *:* rwm`.
    pub fn to_v1(&self) -> String {
        let t = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let n = |x: Option<i64>| {
            x.filter(|v| *v >= 0).map_or_else(|| "*".to_string(), |v| v.to_string())
        };
        format!("{t} {}:{} {}", n(self.major), n(self.minor), self.access)
    }

    /// Whether `access` is a non-empty subset of `rwm` without repeats.
    pub fn access_is_valid(&self) -> bool {
        !self.access.is_empty()
            && self.access.len() <= 3
            && self.access.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
            && !self.access.chars().enumerate().any(|(i, c)| self.access[i + 1..].contains(c))
    }
}

/// Convert cgroup v1 CPU shares (2..=262144, default 1024) to a cgroup v2 `cpu.weight`
/// (1..=10000, default 100), as runc does today: a quadratic fit in log space that maps the
/// minimum, the default and the maximum onto each other (2 -> 1, 1024 -> 100,
/// 262144 -> 10000). `0` (unset) stays `0`.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    10f64.powf(exponent).ceil() as u64
}

/// Convert a Docker/v1 block I/O weight (10..=1000) to a v2 `io.weight` (1..=10000), linearly
/// as runc does.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = weight.clamp(10, 1000) as u64;
    1 + (w - 10) * 9999 / 990
}

impl Resources {
    /// Drop the settings this host cannot apply, returning Docker's warning for each (the
    /// daemon returns them in the create/update response), so that applying the rest cannot
    /// fail with [`crate::Error::Unsupported`]. Device rules are never dropped: a host without
    /// device control must refuse containers rather than run them unconfined.
    pub fn discard_unsupported(&mut self, s: &Support) -> Vec<&'static str> {
        let mut w = Vec::new();
        let set = |v: Option<i64>| v.is_some_and(|v| v != 0);
        if set(self.memory) && !s.memory {
            w.push("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.");
            self.memory = None;
            self.memory_swap = None;
        }
        if set(self.memory_swap) && !s.swap {
            w.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.");
            self.memory_swap = None;
        }
        if self.memory_swappiness.is_some() && !s.memory_swappiness {
            w.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.");
            self.memory_swappiness = None;
        }
        if set(self.memory_reservation) && !s.memory_reservation {
            w.push("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.");
            self.memory_reservation = None;
        }
        if self.oom_kill_disable.is_some() && !s.oom_kill_disable {
            if self.oom_kill_disable == Some(true) {
                w.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.");
            }
            self.oom_kill_disable = None;
        }
        if self.pids_limit.is_some() && !s.pids {
            if self.pids_limit != Some(0) {
                w.push("Your kernel does not support pids limit capabilities or the cgroup is not mounted. PIDs limit discarded.");
            }
            self.pids_limit = None;
        }
        if self.cpu_shares.is_some_and(|v| v != 0) && !s.cpu_shares {
            w.push("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.");
            self.cpu_shares = None;
        }
        if self.cpu_period.is_some_and(|v| v != 0) && !s.cpu_cfs {
            w.push("Your kernel does not support CPU cfs period or the cgroup is not mounted. Period discarded.");
            self.cpu_period = None;
        }
        if set(self.cpu_quota) && !s.cpu_cfs {
            w.push("Your kernel does not support CPU cfs quota or the cgroup is not mounted. Quota discarded.");
            self.cpu_quota = None;
        }
        let nonempty = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        if (nonempty(&self.cpuset_cpus) || nonempty(&self.cpuset_mems)) && !s.cpuset {
            w.push("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.");
            self.cpuset_cpus = None;
            self.cpuset_mems = None;
        }
        if self.blkio_weight.is_some_and(|v| v != 0) && !s.blkio_weight {
            w.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.");
            self.blkio_weight = None;
        }
        if !self.blkio_weight_device.is_empty() && !s.blkio_weight_device {
            w.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.");
            self.blkio_weight_device.clear();
        }
        let throttles: [(&mut Vec<ThrottleDevice>, &'static str); 4] = [
            (&mut self.blkio_read_bps, "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded."),
            (&mut self.blkio_write_bps, "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded."),
            (&mut self.blkio_read_iops, "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded."),
            (&mut self.blkio_write_iops, "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded."),
        ];
        for (v, msg) in throttles {
            if !v.is_empty() && !s.blkio_throttle {
                w.push(msg);
                v.clear();
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_fits_min_default_max() {
        let cases = [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (512, 59),
            (1024, 100),
            (2048, 174),
            (102_400, 4429),
            (262_143, 10_000),
            (262_144, 10_000),
            (1 << 30, 10_000),
        ];
        for (shares, weight) in cases {
            assert_eq!(shares_to_weight(shares), weight, "shares {shares}");
        }
        // Monotonic over the whole range.
        let mut last = 0;
        for s in 2..=262_144u64 {
            let w = shares_to_weight(s);
            assert!(w >= last, "{s}");
            last = w;
        }
    }

    #[test]
    fn blkio_weight_maps_linearly() {
        let cases = [(0, 0), (10, 1), (500, 4950), (1000, 10_000), (5, 1), (2000, 10_000)];
        for (w, io) in cases {
            assert_eq!(blkio_weight_to_io_weight(w), io, "weight {w}");
        }
    }

    #[test]
    fn device_rules_format_like_v1() {
        let r = |allow, kind, major, minor, access: &str| DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.into(),
        };
        let cases = [
            (r(false, DeviceKind::All, None, None, "rwm"), "a *:* rwm"),
            (r(true, DeviceKind::Char, Some(1), Some(3), "rwm"), "c 1:3 rwm"),
            (r(true, DeviceKind::Char, Some(136), None, "rw"), "c 136:* rw"),
            (r(true, DeviceKind::Block, Some(-1), Some(-1), "m"), "b *:* m"),
        ];
        for (rule, want) in cases {
            assert_eq!(rule.to_v1(), want);
        }
        assert!(r(true, DeviceKind::All, None, None, "rw").access_is_valid());
        for bad in ["", "x", "rr", "rwmr"] {
            assert!(!r(true, DeviceKind::All, None, None, bad).access_is_valid(), "{bad}");
        }
    }

    #[test]
    fn discard_unsupported_drops_with_docker_warnings() {
        let mut r = Resources {
            memory: Some(1 << 20),
            memory_swap: Some(2 << 20),
            blkio_weight: Some(300),
            pids_limit: Some(0),
            oom_kill_disable: Some(false),
            cpu_shares: Some(512),
            ..Default::default()
        };
        let s = Support { memory: true, cpu_shares: true, ..Default::default() };
        let w = r.discard_unsupported(&s);
        assert_eq!(
            w,
            vec![
                "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
                "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
            ]
        );
        assert_eq!(
            r,
            Resources { memory: Some(1 << 20), cpu_shares: Some(512), ..Default::default() },
            "unset-ish values are dropped silently"
        );
        // Everything supported: nothing changes.
        let mut r2 =
            Resources { memory: Some(1 << 20), memory_swap: Some(-1), ..Default::default() };
        let all = Support { memory: true, swap: true, ..Default::default() };
        assert!(r2.discard_unsupported(&all).is_empty());
        assert_eq!(r2.memory_swap, Some(-1));
    }
}
