//! Resources (`linux.resources`), rlimits and device cgroup rules (moby `daemon_unix.go`
//! `getMemoryResources`, `getCPUResources`, `getPidsLimit`, `verifyPlatformContainerResources`;
//! `oci/devices_linux.go`).

use std::collections::HashMap;

use bollard_stubs::models::{HostConfig, ResourcesUlimits, ThrottleDevice};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory,
    LinuxPids, LinuxThrottleDevice, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
    PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
};

use super::SpecError;

const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn invalid(msg: impl Into<String>) -> SpecError {
    SpecError::InvalidResources(msg.into())
}

/// `linux.resources.memory`, or `None` when nothing is limited.
pub(crate) fn memory(hc: &HostConfig) -> Result<Option<LinuxMemory>, SpecError> {
    let mem = hc.memory.unwrap_or(0);
    let swap = hc.memory_swap.unwrap_or(0);
    let reservation = hc.memory_reservation.unwrap_or(0);
    if mem > 0 && mem < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if mem > 0 && swap > 0 && swap < mem {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if mem == 0 && swap > 0 {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if mem > 0 && reservation > 0 && mem < reservation {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let mut m = LinuxMemory::default();
    let mut any = false;
    if mem > 0 {
        m.set_limit(Some(mem));
        any = true;
    }
    if reservation > 0 {
        m.set_reservation(Some(reservation));
        any = true;
    }
    if swap > 0 {
        m.set_swap(Some(swap));
        any = true;
    }
    match hc.memory_swappiness {
        None | Some(-1) => {}
        Some(s) if (0..=100).contains(&s) => {
            m.set_swappiness(Some(s as u64));
            any = true;
        }
        Some(s) => {
            return Err(invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )))
        }
    }
    if let Some(d) = hc.oom_kill_disable {
        m.set_disable_oom_killer(Some(d));
        any = true;
    }
    Ok(any.then_some(m))
}

/// `linux.resources.cpu`, or `None` when nothing is set. `NanoCpus` becomes a quota over a
/// 100ms period.
pub(crate) fn cpu(hc: &HostConfig) -> Result<Option<LinuxCpu>, SpecError> {
    let nano = hc.nano_cpus.unwrap_or(0);
    let period = hc.cpu_period.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    if nano < 0 {
        return Err(invalid(
            "Range of CPUs is from 0.01 to the number of CPUs available",
        ));
    }
    if nano > 0 && period > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    let mut c = LinuxCpu::default();
    let mut any = false;
    match hc.cpu_shares.unwrap_or(0) {
        0 => {}
        s if s < 0 => {
            return Err(invalid(format!(
                "invalid CPU shares ({s}): value must be a positive integer"
            )))
        }
        s => {
            c.set_shares(Some(s as u64));
            any = true;
        }
    }
    if let Some(cpus) = hc.cpuset_cpus.as_deref().filter(|s| !s.is_empty()) {
        c.set_cpus(Some(cpus.to_string()));
        any = true;
    }
    if let Some(mems) = hc.cpuset_mems.as_deref().filter(|s| !s.is_empty()) {
        c.set_mems(Some(mems.to_string()));
        any = true;
    }
    if nano > 0 {
        const PERIOD: u64 = 100_000;
        c.set_period(Some(PERIOD));
        c.set_quota(Some(nano * PERIOD as i64 / 1_000_000_000));
        any = true;
    }
    if period != 0 {
        c.set_period(Some(period as u64));
        any = true;
    }
    if quota != 0 {
        c.set_quota(Some(quota));
        any = true;
    }
    if let Some(p) = hc.cpu_realtime_period.filter(|p| *p != 0) {
        c.set_realtime_period(Some(p as u64));
        any = true;
    }
    if let Some(r) = hc.cpu_realtime_runtime.filter(|r| *r != 0) {
        c.set_realtime_runtime(Some(r));
        any = true;
    }
    Ok(any.then_some(c))
}

/// `linux.resources.pids`: `0` or negative means unlimited (`-1`).
pub(crate) fn pids(hc: &HostConfig) -> Option<LinuxPids> {
    let limit = hc.pids_limit?;
    let mut p = LinuxPids::default();
    p.set_limit(if limit <= 0 { -1 } else { limit });
    Some(p)
}

/// The device numbers of a block device path, for per-device weights and throttles (dockerd
/// stats the path the same way, in the daemon). The only host read of the limits.
fn device_numbers(path: &str) -> Result<(i64, i64), SpecError> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).map_err(|e| {
        let msg = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            _ => e.to_string(),
        };
        invalid(format!("stat {path}: {msg}"))
    })?;
    Ok((super::devices::major(md.rdev()), super::devices::minor(md.rdev())))
}

fn throttles(list: &Option<Vec<ThrottleDevice>>) -> Result<Option<Vec<LinuxThrottleDevice>>, SpecError> {
    let Some(list) = list.as_ref().filter(|l| !l.is_empty()) else { return Ok(None) };
    let mut out = Vec::with_capacity(list.len());
    for d in list {
        let (major, minor) = device_numbers(d.path.as_deref().unwrap_or_default())?;
        let t = LinuxThrottleDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .rate(d.rate.unwrap_or(0).max(0) as u64)
            .build()
            .map_err(|e| SpecError::Oci(e.to_string()))?;
        out.push(t);
    }
    Ok(Some(out))
}

/// `linux.resources.blockIO`: always present (as with Docker), with the weight when set and
/// the per-device weights and throttles, their paths resolved to device numbers.
pub(crate) fn block_io(hc: &HostConfig) -> Result<LinuxBlockIo, SpecError> {
    let mut b = LinuxBlockIo::default();
    match hc.blkio_weight.unwrap_or(0) {
        0 => {}
        w if !(10..=1000).contains(&w) => {
            return Err(invalid("Range of blkio weight is from 10 to 1000"))
        }
        w => {
            b.set_weight(Some(w));
        }
    }
    if let Some(list) = hc.blkio_weight_device.as_ref().filter(|l| !l.is_empty()) {
        let mut out = Vec::with_capacity(list.len());
        for d in list {
            let (major, minor) = device_numbers(d.path.as_deref().unwrap_or_default())?;
            let w = LinuxWeightDeviceBuilder::default()
                .major(major)
                .minor(minor)
                .weight(d.weight.unwrap_or(0) as u16)
                .build()
                .map_err(|e| SpecError::Oci(e.to_string()))?;
            out.push(w);
        }
        b.set_weight_device(Some(out));
    }
    b.set_throttle_read_bps_device(throttles(&hc.blkio_device_read_bps)?);
    b.set_throttle_write_bps_device(throttles(&hc.blkio_device_write_bps)?);
    b.set_throttle_read_iops_device(throttles(&hc.blkio_device_read_iops)?);
    b.set_throttle_write_iops_device(throttles(&hc.blkio_device_write_iops)?);
    Ok(b)
}

/// The `--ulimit` names Docker accepts, and their rlimit.
const ULIMITS: &[(&str, PosixRlimitType)] = &[
    ("core", PosixRlimitType::RlimitCore),
    ("cpu", PosixRlimitType::RlimitCpu),
    ("data", PosixRlimitType::RlimitData),
    ("fsize", PosixRlimitType::RlimitFsize),
    ("locks", PosixRlimitType::RlimitLocks),
    ("memlock", PosixRlimitType::RlimitMemlock),
    ("msgqueue", PosixRlimitType::RlimitMsgqueue),
    ("nice", PosixRlimitType::RlimitNice),
    ("nofile", PosixRlimitType::RlimitNofile),
    ("nproc", PosixRlimitType::RlimitNproc),
    ("rss", PosixRlimitType::RlimitRss),
    ("rtprio", PosixRlimitType::RlimitRtprio),
    ("rttime", PosixRlimitType::RlimitRttime),
    ("sigpending", PosixRlimitType::RlimitSigpending),
    ("stack", PosixRlimitType::RlimitStack),
];

/// A limit as the API gives it: `-1` (or any negative) is unlimited.
fn limit(v: i64) -> u64 {
    if v < 0 {
        u64::MAX
    } else {
        v as u64
    }
}

fn show(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// The process's rlimits: the container's `Ulimits` (each must fit under the host's hard
/// limit, else an invalid argument), then the daemon's defaults for the names the container
/// does not set (clamped to the host's hard limit). `host` maps ulimit names (`nofile`) to
/// the host's (soft, hard); a name missing there is not limited by the host.
pub(crate) fn rlimits(
    ulimits: &[ResourcesUlimits],
    defaults: &[ResourcesUlimits],
    host: &HashMap<String, (u64, u64)>,
) -> Result<Vec<PosixRlimit>, SpecError> {
    let mut out: Vec<PosixRlimit> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let lookup = |name: &str| -> Result<PosixRlimitType, SpecError> {
        ULIMITS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| SpecError::InvalidUlimit(format!("invalid ulimit type: {name}")))
    };
    let make = |typ: PosixRlimitType, soft: u64, hard: u64| {
        PosixRlimitBuilder::default()
            .typ(typ)
            .soft(soft)
            .hard(hard)
            .build()
            .map_err(|e| SpecError::Oci(e.to_string()))
    };
    for u in ulimits {
        let name = u.name.clone().unwrap_or_default();
        let typ = lookup(&name)?;
        if names.contains(&name) {
            return Err(SpecError::InvalidUlimit(format!(
                "duplicate ulimit: {name}"
            )));
        }
        let soft = limit(u.soft.unwrap_or(0));
        let hard = limit(u.hard.unwrap_or(0));
        if soft > hard {
            return Err(SpecError::InvalidUlimit(format!(
                "ulimit {name}: soft limit must be less than or equal to hard limit: {} > {}",
                show(soft),
                show(hard)
            )));
        }
        if let Some(&(_, host_hard)) = host.get(&name) {
            if hard > host_hard {
                return Err(SpecError::InvalidUlimit(format!(
                    "ulimit {name}: hard limit {} is above the host's hard limit {}",
                    show(hard),
                    show(host_hard)
                )));
            }
        }
        names.push(name);
        out.push(make(typ, soft, hard)?);
    }
    let mut defaults: Vec<&ResourcesUlimits> = defaults.iter().collect();
    defaults.sort_by(|a, b| a.name.cmp(&b.name));
    for d in defaults {
        let name = d.name.clone().unwrap_or_default();
        if names.contains(&name) {
            continue;
        }
        let typ = lookup(&name)?;
        let mut soft = limit(d.soft.unwrap_or(0));
        let mut hard = limit(d.hard.unwrap_or(0));
        if let Some(&(_, host_hard)) = host.get(&name) {
            hard = hard.min(host_hard);
        }
        soft = soft.min(hard);
        names.push(name);
        out.push(make(typ, soft, hard)?);
    }
    Ok(out)
}

fn device(path: &str, major: i64, minor: i64) -> LinuxDevice {
    let mut d = LinuxDevice::default();
    d.set_path(path.into());
    d.set_typ(LinuxDeviceType::C);
    d.set_major(major);
    d.set_minor(minor);
    d.set_file_mode(Some(0o666));
    d.set_uid(Some(0));
    d.set_gid(Some(0));
    d
}

/// The devices every container has (the OCI runtime spec's default devices). runc creates
/// them even when the spec does not list them; Berth lists them so that its own runtime needs
/// no hidden defaults (runc skips a default device the spec lists itself).
pub fn default_devices() -> Vec<LinuxDevice> {
    vec![
        device("/dev/null", 1, 3),
        device("/dev/zero", 1, 5),
        device("/dev/full", 1, 7),
        device("/dev/random", 1, 8),
        device("/dev/urandom", 1, 9),
        device("/dev/tty", 5, 0),
    ]
}

pub(crate) fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// Docker's device cgroup rules: deny everything, allow the default devices, deny fuse.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let c = Some(LinuxDeviceType::C);
    vec![
        rule(false, None, None, None, "rwm"),
        rule(true, c, Some(1), Some(5), "rwm"),
        rule(true, c, Some(1), Some(3), "rwm"),
        rule(true, c, Some(1), Some(9), "rwm"),
        rule(true, c, Some(1), Some(8), "rwm"),
        rule(true, c, Some(5), Some(0), "rwm"),
        rule(true, c, Some(5), Some(1), "rwm"),
        rule(false, c, Some(10), Some(229), "rwm"),
    ]
}

/// The rules runc appends to every container's device cgroup (its `AllowedDevices`): mknod of
/// anything, and the default devices plus `/dev/full`, `/dev/ptmx` and the ptys. Berth spells
/// them out in the spec so that its own runtime needs no hidden defaults.
pub fn runtime_device_rules() -> Vec<LinuxDeviceCgroup> {
    let c = Some(LinuxDeviceType::C);
    vec![
        rule(true, c, None, None, "m"),
        rule(true, Some(LinuxDeviceType::B), None, None, "m"),
        rule(true, c, Some(1), Some(3), "rwm"),
        rule(true, c, Some(1), Some(8), "rwm"),
        rule(true, c, Some(1), Some(7), "rwm"),
        rule(true, c, Some(5), Some(0), "rwm"),
        rule(true, c, Some(1), Some(5), "rwm"),
        rule(true, c, Some(1), Some(9), "rwm"),
        rule(true, c, Some(136), None, "rwm"),
        rule(true, c, Some(5), Some(2), "rwm"),
    ]
}

/// Parse one `DeviceCgroupRules` entry: `TYPE MAJOR:MINOR ACCESS`, e.g. `c 1:3 mr`, `a *:* rwm`.
pub fn parse_device_rule(raw: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let bad = || SpecError::InvalidDeviceRule(format!("invalid device cgroup format '{raw}'"));
    let fields: Vec<&str> = raw.split(' ').collect();
    let [typ, numbers, access] = fields.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |s: &str| -> Result<Option<i64>, SpecError> {
        if s == "*" {
            Ok(None)
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map(Some).map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (major, minor) = (number(major)?, number(minor)?);
    if access.is_empty()
        || access.len() > 3
        || !access.bytes().all(|b| matches!(b, b'r' | b'w' | b'm'))
    {
        return Err(bad());
    }
    Ok(rule(true, Some(typ), major, minor, access))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::ResourcesBlkioWeightDevice;

    fn t(path: &str, rate: i64) -> ThrottleDevice {
        ThrottleDevice { path: Some(path.into()), rate: Some(rate) }
    }

    #[test]
    fn per_device_block_io_resolves_paths_to_numbers() {
        let hc = HostConfig {
            blkio_device_read_bps: Some(vec![t("/dev/null", 1 << 20)]),
            blkio_device_write_iops: Some(vec![t("/dev/zero", 100), t("/dev/null", 5)]),
            blkio_weight_device: Some(vec![ResourcesBlkioWeightDevice { path: Some("/dev/null".into()), weight: Some(200) }]),
            ..Default::default()
        };
        let b = block_io(&hc).unwrap();
        let j = serde_json::to_value(&b).unwrap();
        assert_eq!(j["throttleReadBpsDevice"], serde_json::json!([{"major": 1, "minor": 3, "rate": 1048576}]));
        assert_eq!(
            j["throttleWriteIOPSDevice"],
            serde_json::json!([{"major": 1, "minor": 5, "rate": 100}, {"major": 1, "minor": 3, "rate": 5}])
        );
        assert_eq!(j["weightDevice"], serde_json::json!([{"major": 1, "minor": 3, "weight": 200}]));
        assert!(j.get("throttleWriteBpsDevice").is_none());
        let hc = HostConfig { blkio_device_write_bps: Some(vec![t("/dev/nope-nope", 1)]), ..Default::default() };
        assert_eq!(block_io(&hc).unwrap_err().to_string().contains("stat /dev/nope-nope: no such file or directory"), true);
    }
}
