//! Resource statistics, live updates of limits, and host devices for containers.
//!
//! - [`devices`] resolves `HostConfig.Devices` on the host for the spec.
//! - [`verify`] checks a `HostConfig`'s limits against what this host can honour, as dockerd's
//!   `verifyPlatformContainerResources` does at create and update time: impossible values are
//!   a 400, values the kernel cannot apply are dropped with Docker's warning.
//! - `GET /containers/{id}/stats` samples the container's cgroup ([`berth_cgroups::Manager::
//!   stats`]), the host's `/proc/stat` and the container's `/proc/<pid>/net/dev`; the pure
//!   conversions into Docker's wire types live here and are tested from fixture text.
//! - `POST /containers/{id}/update` merges new limits into the record (dockerd's
//!   `UpdateContainer` rules), applies them to the live cgroup and emits an `update` event.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_api::models as m;
use berth_cgroups::{Manager, Support};
use berth_errdefs::{Error, HasKind, Result};
use berth_runtime::spec::ResolvedDevice;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream, StreamExt};

use crate::containers::{Container, Record};
use crate::service::ResourceBackend;
use crate::Engine;

fn kinded<E: HasKind>(e: E) -> Error {
    Error::from_kind(&e)
}

/// `HostConfig.Devices` resolved on the host.
pub(crate) fn devices(_engine: &Engine, rec: &Record) -> Result<Vec<ResolvedDevice>> {
    let mut out = Vec::new();
    for d in rec.host_config.devices.iter().flatten() {
        let host = d.path_on_host.as_deref().unwrap_or_default();
        let inside = d.path_in_container.as_deref().unwrap_or_default();
        let perms = d.cgroup_permissions.as_deref().unwrap_or_default();
        let found = berth_runtime::spec::devices::resolve_device_mapping(host, inside, perms).map_err(kinded)?;
        out.extend(found);
    }
    Ok(out)
}

/// What [`verify`] needs to know about the host.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostLimits {
    /// What the cgroup hierarchies can limit (all false without cgroups).
    pub support: Support,
    /// Number of CPUs.
    pub ncpu: i64,
    /// The CPUs and memory nodes containers may use (list form, `0-1`).
    pub cpus: String,
    pub mems: String,
    /// The host's (soft, hard) rlimits by ulimit name.
    pub rlimits: HashMap<String, (u64, u64)>,
}

impl HostLimits {
    fn of(engine: &Engine) -> HostLimits {
        let support = engine.cgroups.as_ref().map(|l| l.support()).unwrap_or_default();
        let online = || std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default().trim().to_string();
        let cpus = if support.cpus.is_empty() { online() } else { support.cpus.clone() };
        let mems = if support.mems.is_empty() { "0".to_string() } else { support.mems.clone() };
        HostLimits { ncpu: engine.host.ncpu, cpus, mems, rlimits: engine.host.spec_facts.rlimits.clone(), support }
    }
}

/// A cpuset list (`0-2,4`) as a set; `None` when malformed.
fn parse_list(s: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    if s.trim().is_empty() {
        return Some(out);
    }
    for part in s.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                out.insert(part.parse().ok()?);
            }
        }
    }
    Some(out)
}

/// Whether every element of `requested` is in `available` (dockerd's `isCpusetListAvailable`).
fn cpuset_available(what: &str, requested: &str, available: &str) -> Result<()> {
    if requested.is_empty() {
        return Ok(());
    }
    let req = parse_list(requested)
        .ok_or_else(|| Error::invalid(format!("Invalid value {requested} for cpuset {what}: invalid format: {requested}")))?;
    let avail = parse_list(available).unwrap_or_default();
    if avail.is_empty() || req.is_subset(&avail) {
        return Ok(());
    }
    let noun = if what == "cpus" { "CPUs" } else { "memory nodes" };
    Err(Error::invalid(format!("Requested {noun} are not available - requested {requested}, available: {available}")))
}

const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn show_limit(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// Check `hc`'s limits as dockerd does (`verifyPlatformContainerResources`), dropping what the
/// host cannot apply with Docker's warnings (returned). `update` relaxes the checks that only
/// apply to a new container (swap without memory) and skips the ulimit check (ulimits cannot
/// be updated).
pub(crate) fn verify(host: &HostLimits, hc: &mut m::HostConfig, update: bool) -> Result<Vec<String>> {
    let s = &host.support;
    let mut w: Vec<String> = Vec::new();
    let memory = hc.memory.unwrap_or(0);
    if memory != 0 && memory < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if memory > 0 && !s.memory {
        w.push("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
        hc.memory = Some(0);
        hc.memory_swap = Some(-1);
    }
    let memory = hc.memory.unwrap_or(0);
    let swap = hc.memory_swap.unwrap_or(0);
    if swap > 0 && !s.swap {
        w.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
        hc.memory_swap = Some(-1);
    }
    let swap = hc.memory_swap.unwrap_or(0);
    if memory > 0 && swap > 0 && swap < memory {
        return Err(Error::invalid("Minimum memoryswap limit should be larger than memory limit, see usage"));
    }
    if memory == 0 && swap > 0 && !update {
        return Err(Error::invalid("You should always set the Memory limit when using Memoryswap limit, see usage"));
    }
    if let Some(sw) = hc.memory_swappiness {
        if sw != -1 && !s.memory_swappiness {
            w.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".into());
            hc.memory_swappiness = None;
        } else if !(-1..=100).contains(&sw) {
            return Err(Error::invalid(format!("Invalid value: {sw}, valid memory swappiness range is 0-100")));
        }
    }
    let reservation = hc.memory_reservation.unwrap_or(0);
    if reservation > 0 && !s.memory_reservation {
        w.push("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
        hc.memory_reservation = Some(0);
    }
    let reservation = hc.memory_reservation.unwrap_or(0);
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(Error::invalid("Minimum memory limit can not be less than memory reservation limit, see usage"));
    }
    if hc.oom_kill_disable == Some(true) && !s.oom_kill_disable {
        w.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".into());
        hc.oom_kill_disable = Some(false);
    }
    if hc.oom_kill_disable == Some(true) && memory == 0 {
        w.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".into());
    }
    if let Some(p) = hc.pids_limit {
        if !s.pids {
            if p > 0 {
                w.push("Your kernel does not support pids limit capabilities or the cgroup is not mounted. PIDs limit discarded.".into());
            }
            hc.pids_limit = None;
        }
    }

    // cpu
    let nano = hc.nano_cpus.unwrap_or(0);
    let period = hc.cpu_period.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    if nano > 0 && period > 0 {
        return Err(Error::invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set"));
    }
    if nano > 0 && quota > 0 {
        return Err(Error::invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set"));
    }
    if nano > 0 && !s.cpu_cfs {
        return Err(Error::invalid("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted"));
    }
    if nano < 0 || nano > host.ncpu * 1_000_000_000 {
        return Err(Error::invalid(format!(
            "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available",
            n = host.ncpu
        )));
    }
    let shares = hc.cpu_shares.unwrap_or(0);
    if shares < 0 {
        return Err(Error::invalid(format!("invalid CPU shares ({shares}): value must be a positive integer")));
    }
    if shares > 0 && !s.cpu_shares {
        w.push("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.".into());
        hc.cpu_shares = Some(0);
    }
    if (period != 0 || quota != 0) && !s.cpu_cfs {
        w.push("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.".into());
        hc.cpu_period = Some(0);
        hc.cpu_quota = Some(0);
    }
    let period = hc.cpu_period.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(Error::invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"));
    }
    if quota > 0 && quota < 1000 {
        return Err(Error::invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    if hc.cpu_percent.unwrap_or(0) > 0 {
        w.push("linux does not support CPU percent. Percent discarded.".into());
        hc.cpu_percent = Some(0);
    }

    // cpuset
    let cpus = hc.cpuset_cpus.clone().unwrap_or_default();
    let mems = hc.cpuset_mems.clone().unwrap_or_default();
    if (!cpus.is_empty() || !mems.is_empty()) && !s.cpuset {
        w.push("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.".into());
        hc.cpuset_cpus = Some(String::new());
        hc.cpuset_mems = Some(String::new());
    } else {
        cpuset_available("cpus", &cpus, &host.cpus)?;
        cpuset_available("mems", &mems, &host.mems)?;
    }

    // blkio
    let bw = hc.blkio_weight.unwrap_or(0);
    if bw > 0 && !s.blkio_weight {
        w.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into());
        hc.blkio_weight = Some(0);
    }
    let bw = hc.blkio_weight.unwrap_or(0);
    if bw > 0 && !(10..=1000).contains(&bw) {
        return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
    }
    if hc.io_maximum_bandwidth.unwrap_or(0) != 0 || hc.io_maximum_iops.unwrap_or(0) != 0 {
        return Err(Error::invalid("Invalid QoS settings: linux does not support configuration of maximum bandwidth or maximum IOPs"));
    }
    if hc.blkio_weight_device.as_ref().is_some_and(|v| !v.is_empty()) && !s.blkio_weight_device {
        w.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.".into());
        hc.blkio_weight_device = Some(Vec::new());
    }
    let throttles: [(&mut Option<Vec<m::ThrottleDevice>>, &str); 4] = [
        (&mut hc.blkio_device_read_bps, "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded."),
        (&mut hc.blkio_device_write_bps, "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded."),
        (&mut hc.blkio_device_read_iops, "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded."),
        (&mut hc.blkio_device_write_iops, "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded."),
    ];
    for (v, msg) in throttles {
        if v.as_ref().is_some_and(|v| !v.is_empty()) && !s.blkio_throttle {
            w.push(msg.into());
            *v = Some(Vec::new());
        }
    }

    if !update {
        // Ulimits the daemon itself cannot grant are refused here, before a container exists,
        // rather than when its process fails to start.
        for u in hc.ulimits.iter().flatten() {
            let name = u.name.clone().unwrap_or_default();
            let lim = |v: Option<i64>| v.filter(|v| *v >= 0).map_or(u64::MAX, |v| v as u64);
            let (soft, hard) = (lim(u.soft), lim(u.hard));
            if soft > hard {
                return Err(Error::invalid(format!(
                    "ulimit {name}: soft limit must be less than or equal to hard limit: {} > {}",
                    show_limit(soft),
                    show_limit(hard)
                )));
            }
            if let Some(&(_, host_hard)) = host.rlimits.get(&name) {
                if hard > host_hard {
                    return Err(Error::invalid(format!(
                        "ulimit {name}: hard limit {} is above the host's hard limit {}",
                        show_limit(hard),
                        show_limit(host_hard)
                    )));
                }
            }
        }
        // dockerd's adaptContainerSettings: swap defaults to twice the memory.
        if hc.memory.unwrap_or(0) > 0 && hc.memory_swap.unwrap_or(0) == 0 {
            hc.memory_swap = Some(hc.memory.unwrap_or(0) * 2);
        }
    }
    Ok(w)
}

/// The create-time check of a new container's host config (called by `create_container`).
pub(crate) fn verify_create(engine: &Engine, hc: &mut m::HostConfig) -> Result<Vec<String>> {
    verify(&HostLimits::of(engine), hc, false)
}

/// Merge an update into the container's host config, as dockerd's `UpdateContainer` does:
/// zero (or absent) values leave the current setting alone.
pub(crate) fn merge_update(hc: &mut m::HostConfig, u: &m::ContainerUpdateBody) -> Result<()> {
    let nz = |v: Option<i64>| v.filter(|v| *v != 0);
    let cur_nano = hc.nano_cpus.unwrap_or(0);
    let conflict = |what: &str| Err(Error::conflict(format!("Conflicting options: {what} cannot be updated as NanoCPUs has already been set")));
    if u.nano_cpus.unwrap_or(0) > 0 && hc.cpu_period.unwrap_or(0) > 0 {
        return Err(Error::conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"));
    }
    if u.nano_cpus.unwrap_or(0) > 0 && hc.cpu_quota.unwrap_or(0) > 0 {
        return Err(Error::conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"));
    }
    if u.cpu_period.unwrap_or(0) > 0 && cur_nano > 0 {
        return conflict("CPU Period");
    }
    if u.cpu_quota.unwrap_or(0) > 0 && cur_nano > 0 {
        return conflict("CPU Quota");
    }
    if let Some(v) = u.blkio_weight.filter(|v| *v != 0) {
        hc.blkio_weight = Some(v);
    }
    if let Some(v) = nz(u.cpu_shares) {
        hc.cpu_shares = Some(v);
    }
    if let Some(v) = nz(u.nano_cpus) {
        hc.nano_cpus = Some(v);
    }
    if let Some(v) = nz(u.cpu_period) {
        hc.cpu_period = Some(v);
    }
    if let Some(v) = nz(u.cpu_quota) {
        hc.cpu_quota = Some(v);
    }
    if let Some(v) = u.cpuset_cpus.clone().filter(|v| !v.is_empty()) {
        hc.cpuset_cpus = Some(v);
    }
    if let Some(v) = u.cpuset_mems.clone().filter(|v| !v.is_empty()) {
        hc.cpuset_mems = Some(v);
    }
    if let Some(mem) = nz(u.memory) {
        if mem > hc.memory_swap.unwrap_or(0) && u.memory_swap.unwrap_or(0) == 0 {
            return Err(Error::conflict(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
        hc.memory = Some(mem);
    }
    if let Some(v) = nz(u.memory_swap) {
        hc.memory_swap = Some(v);
    }
    if let Some(v) = nz(u.memory_reservation) {
        hc.memory_reservation = Some(v);
    }
    if let Some(v) = u.pids_limit {
        hc.pids_limit = Some(v);
    }
    if let Some(p) = u.restart_policy.as_ref().filter(|p| p.name.is_some_and(|n| n != m::RestartPolicyNameEnum::EMPTY)) {
        if p.name != Some(m::RestartPolicyNameEnum::NO) && hc.auto_remove.unwrap_or(false) {
            return Err(Error::conflict("Restart policy cannot be updated because AutoRemove is enabled for the container"));
        }
        hc.restart_policy = Some(p.clone());
    }
    Ok(())
}

/// The limits of an update, for the live cgroup: only what the update sets.
fn update_resources(hc: &m::HostConfig, u: &m::ContainerUpdateBody) -> berth_cgroups::Resources {
    let nz = |v: Option<i64>| v.filter(|v| *v != 0);
    let mut r = berth_cgroups::Resources::default();
    if nz(u.memory).is_some() || nz(u.memory_swap).is_some() {
        r.memory = nz(hc.memory);
        r.memory_swap = nz(hc.memory_swap);
    }
    r.memory_reservation = nz(u.memory_reservation);
    r.cpu_shares = nz(u.cpu_shares).map(|v| v as u64);
    if let Some(nano) = nz(u.nano_cpus) {
        r.cpu_period = Some(100_000);
        r.cpu_quota = Some(nano * 100_000 / 1_000_000_000);
    }
    if let Some(p) = nz(u.cpu_period) {
        r.cpu_period = Some(p as u64);
    }
    if let Some(q) = nz(u.cpu_quota) {
        r.cpu_quota = Some(q);
    }
    r.cpuset_cpus = u.cpuset_cpus.clone().filter(|v| !v.is_empty());
    r.cpuset_mems = u.cpuset_mems.clone().filter(|v| !v.is_empty());
    r.pids_limit = u.pids_limit.map(|p| if p <= 0 { -1 } else { p });
    r.blkio_weight = u.blkio_weight.filter(|v| *v != 0);
    r
}

// ---------------------------------------------------------------------------------------------
// Stats: pure conversions
// ---------------------------------------------------------------------------------------------

/// The host's total CPU time in nanoseconds from `/proc/stat` (dockerd's `getSystemCPUUsage`:
/// user, nice, system, idle, iowait, irq and softirq of the `cpu` line).
pub(crate) fn parse_system_cpu(proc_stat: &str, ticks_per_sec: u64) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).take(7).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    if fields.len() < 7 {
        return None;
    }
    let ticks: u64 = fields.iter().sum();
    Some(ticks.saturating_mul(1_000_000_000) / ticks_per_sec.max(1))
}

/// Per-interface counters from `/proc/<pid>/net/dev`, without the loopback.
pub(crate) fn parse_net_dev(text: &str) -> HashMap<String, m::ContainerNetworkStats> {
    let mut out = HashMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else { continue };
        let name = name.trim();
        if name == "lo" || name.is_empty() {
            continue;
        }
        let v: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        if v.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            m::ContainerNetworkStats {
                rx_bytes: Some(v[0]),
                rx_packets: Some(v[1]),
                rx_errors: Some(v[2]),
                rx_dropped: Some(v[3]),
                tx_bytes: Some(v[8]),
                tx_packets: Some(v[9]),
                tx_errors: Some(v[10]),
                tx_dropped: Some(v[11]),
                ..Default::default()
            },
        );
    }
    out
}

/// One sample in Docker's shape (without name, id and the `pre*` fields).
pub(crate) fn to_api(s: &berth_cgroups::Stats, v2: bool, mem_total: u64, system_ns: u64, online_cpus: u32) -> m::ContainerStatsResponse {
    let cpu = m::ContainerCpuStats {
        cpu_usage: Some(m::ContainerCpuUsage {
            total_usage: Some(s.cpu.usage_ns),
            percpu_usage: (!v2 && !s.cpu.per_cpu_ns.is_empty()).then(|| s.cpu.per_cpu_ns.clone()),
            usage_in_kernelmode: Some(s.cpu.system_ns),
            usage_in_usermode: Some(s.cpu.user_ns),
        }),
        system_cpu_usage: Some(system_ns),
        online_cpus: Some(online_cpus),
        throttling_data: Some(m::ContainerThrottlingData {
            periods: Some(s.cpu.periods),
            throttled_periods: Some(s.cpu.throttled_periods),
            throttled_time: Some(s.cpu.throttled_ns),
        }),
    };
    let mut limit = s.memory.limit.unwrap_or(u64::MAX);
    if mem_total > 0 && limit > mem_total {
        limit = mem_total;
    }
    let memory = m::ContainerMemoryStats {
        usage: Some(s.memory.usage),
        max_usage: if v2 { None } else { s.memory.max_usage },
        stats: Some(s.memory.stat.iter().cloned().collect()),
        failcnt: if v2 { None } else { s.memory.failcnt },
        limit: Some(limit),
        ..Default::default()
    };
    let entries = |v: &[berth_cgroups::BlkioEntry]| -> Vec<m::ContainerBlkioStatEntry> {
        v.iter()
            .map(|e| m::ContainerBlkioStatEntry { major: Some(e.major), minor: Some(e.minor), op: Some(e.op.clone()), value: Some(e.value) })
            .collect()
    };
    let blkio = m::ContainerBlkioStats {
        io_service_bytes_recursive: Some(entries(&s.blkio.service_bytes)),
        io_serviced_recursive: if v2 { None } else { Some(entries(&s.blkio.serviced)) },
        ..Default::default()
    };
    m::ContainerStatsResponse {
        cpu_stats: Some(cpu),
        memory_stats: Some(memory),
        pids_stats: Some(m::ContainerPidsStats { current: Some(s.pids.current), limit: s.pids.limit }),
        blkio_stats: Some(blkio),
        num_procs: Some(0),
        storage_stats: Some(m::ContainerStorageStats::default()),
        ..Default::default()
    }
}

/// Go's zero time, which dockerd sends for a `read`/`preread` that did not happen.
fn zero_time() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn online_cpus() -> u32 {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1) as u32
}

fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no memory effects.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as u64
}

/// A stats frame for a container that is not running: names and zeros, as dockerd sends.
fn empty_frame(rec: &Record) -> m::ContainerStatsResponse {
    m::ContainerStatsResponse {
        name: Some(rec.name.clone()),
        id: Some(rec.id.clone()),
        read: Some(zero_time()),
        preread: Some(zero_time()),
        cpu_stats: Some(m::ContainerCpuStats { cpu_usage: Some(m::ContainerCpuUsage::default()), throttling_data: Some(Default::default()), ..Default::default() }),
        precpu_stats: Some(m::ContainerCpuStats { cpu_usage: Some(m::ContainerCpuUsage::default()), throttling_data: Some(Default::default()), ..Default::default() }),
        memory_stats: Some(m::ContainerMemoryStats::default()),
        pids_stats: Some(m::ContainerPidsStats::default()),
        blkio_stats: Some(m::ContainerBlkioStats::default()),
        num_procs: Some(0),
        storage_stats: Some(m::ContainerStorageStats::default()),
        ..Default::default()
    }
}

impl Engine {
    /// One sample of a running container; `None` when it is not running (or its cgroup is
    /// gone).
    fn sample(&self, rec: &Record) -> Option<m::ContainerStatsResponse> {
        if !rec.state.running() {
            return None;
        }
        let layout = self.cgroups.as_ref()?;
        let cfg = self.cgroup_config(&rec.id, rec)?;
        let cg = berth_cgroups::Cgroup::new(layout, &cfg.path).ok()?;
        let st = cg.stats().ok()?;
        let v2 = layout.version() == berth_cgroups::Version::V2;
        let system = std::fs::read_to_string("/proc/stat").ok().and_then(|t| parse_system_cpu(&t, ticks_per_sec())).unwrap_or(0);
        let mut out = to_api(&st, v2, self.host.mem_total.max(0) as u64, system, online_cpus());
        out.read = Some(Utc::now());
        out.name = Some(rec.name.clone());
        out.id = Some(rec.id.clone());
        if rec.host_config.network_mode.as_deref() != Some("host") && rec.state.pid > 0 {
            if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/net/dev", rec.state.pid)) {
                let nets = parse_net_dev(&text);
                if !nets.is_empty() {
                    out.networks = Some(nets);
                }
            }
        }
        Some(out)
    }
}

/// State of a streaming stats request.
struct StatsStream {
    engine: Arc<Engine>,
    c: Arc<Container>,
    prev: Option<(m::ContainerCpuStats, DateTime<Utc>)>,
    first: bool,
    seen_running: bool,
}

impl StatsStream {
    fn with_pre(&mut self, mut s: m::ContainerStatsResponse) -> m::ContainerStatsResponse {
        match self.prev.take() {
            Some((cpu, t)) => {
                s.precpu_stats = Some(cpu);
                s.preread = Some(t);
            }
            None => {
                s.precpu_stats = Some(m::ContainerCpuStats::default());
                s.preread = Some(zero_time());
            }
        }
        self.prev = s.cpu_stats.clone().zip(s.read);
        s
    }

    async fn next(mut self) -> Option<(m::ContainerStatsResponse, StatsStream)> {
        loop {
            if !self.first {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            self.first = false;
            if self.c.life.borrow().removed {
                return None;
            }
            let rec = self.c.record();
            match self.engine.sample(&rec) {
                Some(s) => {
                    self.seen_running = true;
                    let s = self.with_pre(s);
                    return Some((s, self));
                }
                // It stopped: the stream ends, as dockerd's does.
                None if self.seen_running => return None,
                // Not started yet: wait for it.
                None => continue,
            }
        }
    }
}

#[async_trait]
impl ResourceBackend for Arc<Engine> {
    async fn stats(&self, id: &str, stream: bool, one_shot: bool) -> Result<BoxStream<'static, m::ContainerStatsResponse>> {
        let c = self.get(id)?;
        let rec = c.record();
        if !stream {
            let Some(first) = self.sample(&rec) else {
                return Ok(stream::once(async move { empty_frame(&rec) }).boxed());
            };
            let mut st = StatsStream { engine: self.clone(), c, prev: None, first: true, seen_running: true };
            if one_shot {
                let s = st.with_pre(first);
                return Ok(stream::once(async move { s }).boxed());
            }
            // Prime the CPU numbers with a sample a second earlier, as dockerd does.
            let _ = st.with_pre(first);
            let fut = async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let rec = st.c.record();
                match st.engine.sample(&rec) {
                    Some(s) => st.with_pre(s),
                    None => empty_frame(&rec),
                }
            };
            return Ok(stream::once(fut).boxed());
        }
        let st = StatsStream { engine: self.clone(), c, prev: None, first: true, seen_running: false };
        Ok(stream::unfold(st, |st| st.next()).boxed())
    }

    async fn update(&self, id: &str, req: m::ContainerUpdateBody) -> Result<m::ContainerUpdateResponse> {
        let c = self.get(id)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        if rec.state.status == "removing" || rec.state.status == "dead" {
            return Err(Error::conflict(format!("Cannot update container {}: container is marked for removal and cannot be \"update\"", rec.id)));
        }
        let mut hc = rec.host_config.clone();
        merge_update(&mut hc, &req)
            .map_err(|e| Error::new(e.kind(), format!("Cannot update container {}: {}", rec.id, e.message())))?;
        let limits = HostLimits::of(self);
        let warnings = verify(&limits, &mut hc, true)
            .map_err(|e| Error::new(e.kind(), format!("Cannot update container {}: {}", rec.id, e.message())))?;
        if rec.state.running() {
            let mut res = update_resources(&hc, &req);
            let _ = res.discard_unsupported(&limits.support);
            if let (Some(layout), Some(cfg)) = (self.cgroups.as_ref(), self.cgroup_config(&rec.id, &rec)) {
                let cg = berth_cgroups::Cgroup::new(layout, &cfg.path).map_err(kinded)?;
                cg.apply(&res).map_err(|e| {
                    let e = kinded(e);
                    Error::new(e.kind(), format!("Cannot update container {}: {}", rec.id, e.message()))
                })?;
            }
        }
        c.update(|r| r.host_config = hc);
        self.persist(&c)?;
        self.emit_container("update", &c.record(), &[]);
        Ok(m::ContainerUpdateResponse { warnings: Some(warnings) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostLimits {
        HostLimits {
            support: Support {
                memory: true,
                swap: true,
                memory_reservation: true,
                memory_swappiness: true,
                oom_kill_disable: true,
                cpu_shares: true,
                cpu_cfs: true,
                cpuset: true,
                pids: true,
                ..Default::default()
            },
            ncpu: 2,
            cpus: "0-1".into(),
            mems: "0".into(),
            rlimits: HashMap::from([("nofile".to_string(), (1024, 20000))]),
        }
    }

    fn ulimit(name: &str, soft: i64, hard: i64) -> m::ResourcesUlimits {
        m::ResourcesUlimits { name: Some(name.into()), soft: Some(soft), hard: Some(hard) }
    }

    #[test]
    fn bad_limits_are_refused_with_dockers_messages() {
        let cases: Vec<(m::HostConfig, &str)> = vec![
            (m::HostConfig { memory: Some(1024), ..Default::default() }, "Minimum memory limit allowed is 6MB"),
            (m::HostConfig { nano_cpus: Some(99_000_000_000), ..Default::default() }, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
            (m::HostConfig { cpuset_cpus: Some("7".into()), ..Default::default() }, "Requested CPUs are not available - requested 7, available: 0-1"),
            (m::HostConfig { cpuset_cpus: Some("0-".into()), ..Default::default() }, "Invalid value 0- for cpuset cpus: invalid format: 0-"),
            (m::HostConfig { cpuset_mems: Some("3".into()), ..Default::default() }, "Requested memory nodes are not available - requested 3, available: 0"),
            (m::HostConfig { ulimits: Some(vec![ulimit("nofile", 999999, 999999)]), ..Default::default() }, "ulimit nofile: hard limit 999999 is above the host's hard limit 20000"),
            (m::HostConfig { ulimits: Some(vec![ulimit("nofile", 10, 5)]), ..Default::default() }, "ulimit nofile: soft limit must be less than or equal to hard limit: 10 > 5"),
            (m::HostConfig { memory: Some(64 << 20), memory_swap: Some(32 << 20), ..Default::default() }, "Minimum memoryswap limit should be larger than memory limit, see usage"),
            (m::HostConfig { memory_swap: Some(32 << 20), ..Default::default() }, "You should always set the Memory limit when using Memoryswap limit, see usage"),
            (m::HostConfig { memory_reservation: Some(1 << 20), ..Default::default() }, "Minimum memory reservation allowed is 6MB"),
            (m::HostConfig { memory: Some(8 << 20), memory_reservation: Some(16 << 20), ..Default::default() }, "Minimum memory limit can not be less than memory reservation limit, see usage"),
            (m::HostConfig { memory_swappiness: Some(101), ..Default::default() }, "Invalid value: 101, valid memory swappiness range is 0-100"),
            (m::HostConfig { nano_cpus: Some(1), cpu_period: Some(1000), ..Default::default() }, "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
            (m::HostConfig { cpu_period: Some(10), ..Default::default() }, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
            (m::HostConfig { cpu_quota: Some(10), ..Default::default() }, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
            (m::HostConfig { cpu_shares: Some(-1), ..Default::default() }, "invalid CPU shares (-1): value must be a positive integer"),
        ];
        for (mut hc, want) in cases {
            let err = verify(&host(), &mut hc, false).unwrap_err();
            assert_eq!(err.message(), want);
            assert_eq!(err.kind(), berth_errdefs::Kind::InvalidArgument, "{want}");
        }
    }

    #[test]
    fn unsupported_limits_are_dropped_with_warnings_and_swap_defaults_to_twice_memory() {
        let mut hc = m::HostConfig { memory: Some(32 << 20), blkio_weight: Some(300), ..Default::default() };
        let w = verify(&host(), &mut hc, false).unwrap();
        assert_eq!(w, vec!["Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."]);
        assert_eq!(hc.blkio_weight, Some(0));
        assert_eq!(hc.memory_swap, Some(64 << 20));
        // Fine values pass untouched.
        let mut hc = m::HostConfig { nano_cpus: Some(500_000_000), cpuset_cpus: Some("0-1".into()), pids_limit: Some(10), ..Default::default() };
        assert!(verify(&host(), &mut hc, false).unwrap().is_empty());
        assert_eq!((hc.nano_cpus, hc.pids_limit), (Some(500_000_000), Some(10)));
    }

    #[test]
    fn updates_merge_as_dockerd() {
        let mut hc = m::HostConfig { memory: Some(32 << 20), memory_swap: Some(64 << 20), nano_cpus: Some(500_000_000), ..Default::default() };
        let u = m::ContainerUpdateBody { memory: Some(48 << 20), cpu_shares: Some(512), pids_limit: Some(20), ..Default::default() };
        merge_update(&mut hc, &u).unwrap();
        assert_eq!((hc.memory, hc.memory_swap, hc.cpu_shares, hc.pids_limit), (Some(48 << 20), Some(64 << 20), Some(512), Some(20)));
        let r = update_resources(&hc, &u);
        assert_eq!((r.memory, r.memory_swap, r.cpu_shares, r.pids_limit, r.cpu_quota), (Some(48 << 20), Some(64 << 20), Some(512), Some(20), None));
        let cases: Vec<(m::ContainerUpdateBody, &str)> = vec![
            (m::ContainerUpdateBody { memory: Some(128 << 20), ..Default::default() }, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"),
            (m::ContainerUpdateBody { cpu_quota: Some(50_000), ..Default::default() }, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"),
        ];
        for (u, want) in cases {
            let mut h = hc.clone();
            assert_eq!(merge_update(&mut h, &u).unwrap_err().message(), want);
        }
        let u = m::ContainerUpdateBody { memory: Some(128 << 20), memory_swap: Some(256 << 20), nano_cpus: Some(1_000_000_000), ..Default::default() };
        merge_update(&mut hc, &u).unwrap();
        let r = update_resources(&hc, &u);
        assert_eq!((r.memory, r.memory_swap, r.cpu_period, r.cpu_quota), (Some(128 << 20), Some(256 << 20), Some(100_000), Some(100_000)));
        let mut rm = m::HostConfig { auto_remove: Some(true), ..Default::default() };
        let u = m::ContainerUpdateBody {
            restart_policy: Some(m::RestartPolicy { name: Some(m::RestartPolicyNameEnum::ALWAYS), maximum_retry_count: None }),
            ..Default::default()
        };
        assert_eq!(merge_update(&mut rm, &u).unwrap_err().message(), "Restart policy cannot be updated because AutoRemove is enabled for the container");
    }

    #[test]
    fn system_cpu_and_net_dev_parse() {
        let stat = "cpu  100 20 30 400 5 6 7 8 0 0\ncpu0 50 10 15 200 2 3 3 4 0 0\n";
        assert_eq!(parse_system_cpu(stat, 100), Some(568 * 10_000_000));
        assert_eq!(parse_system_cpu("intr 1 2\n", 100), None);
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    1296      16    1    2    0     0          0         0      656       8    3    4    0     0       0          0\n";
        let n = parse_net_dev(dev);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!((e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped), (Some(1296), Some(16), Some(1), Some(2)));
        assert_eq!((e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped), (Some(656), Some(8), Some(3), Some(4)));
    }

    #[test]
    fn stats_convert_to_dockers_shape() {
        let mut s = berth_cgroups::Stats::default();
        s.cpu.usage_ns = 5_000;
        s.cpu.per_cpu_ns = vec![2_000, 3_000];
        s.memory.usage = 4096;
        s.memory.limit = None;
        s.memory.max_usage = Some(8192);
        s.memory.stat = vec![("inactive_file".into(), 1024)];
        s.pids.current = 3;
        let v1 = to_api(&s, false, 1 << 30, 99, 2);
        let j = serde_json::to_value(&v1).unwrap();
        assert_eq!(j["cpu_stats"]["cpu_usage"]["percpu_usage"], serde_json::json!([2000, 3000]));
        assert_eq!(j["cpu_stats"]["system_cpu_usage"], 99);
        assert_eq!(j["cpu_stats"]["online_cpus"], 2);
        assert_eq!(j["memory_stats"]["limit"], 1u64 << 30, "unlimited reports the host's memory");
        assert_eq!(j["memory_stats"]["max_usage"], 8192);
        assert_eq!(j["memory_stats"]["stats"]["inactive_file"], 1024);
        assert_eq!(j["pids_stats"]["current"], 3);
        let v2 = serde_json::to_value(to_api(&s, true, 1 << 30, 99, 2)).unwrap();
        assert!(v2["cpu_stats"]["cpu_usage"].get("percpu_usage").is_none());
        assert!(v2["memory_stats"].get("max_usage").is_none());
        assert!(v2["blkio_stats"].get("io_serviced_recursive").is_none());
    }
}
