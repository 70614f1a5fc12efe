//! The container's cgroup, from the monitor's point of view: created before the init runs,
//! destroyed after it exits. Translates the OCI spec's `linux.resources` into
//! `berth_cgroups::Resources`.

use berth_cgroups::{
    Cgroup, DeviceKind, DeviceRule, Layout, Manager, Resources, ThrottleDevice, Version, WeightDevice,
};
use berth_runtime::monitor::CgroupConfig;
use oci_spec::runtime::{LinuxDeviceType, LinuxResources};

pub struct Group {
    cg: Cgroup,
}

pub fn is_v2(c: &CgroupConfig) -> bool {
    c.layout.parse::<Layout>().map(|l| l.version() == Version::V2).unwrap_or(false)
}

fn resources(r: &LinuxResources) -> Resources {
    let mut out = Resources::default();
    if let Some(m) = r.memory() {
        out.memory = m.limit();
        out.memory_swap = m.swap();
        out.memory_reservation = m.reservation();
        out.memory_swappiness = m.swappiness();
        out.oom_kill_disable = m.disable_oom_killer();
    }
    if let Some(c) = r.cpu() {
        out.cpu_shares = c.shares();
        out.cpu_quota = c.quota();
        out.cpu_period = c.period();
        out.cpuset_cpus = c.cpus().clone().filter(|s| !s.is_empty());
        out.cpuset_mems = c.mems().clone().filter(|s| !s.is_empty());
    }
    if let Some(p) = r.pids() {
        out.pids_limit = Some(p.limit());
    }
    if let Some(b) = r.block_io() {
        out.blkio_weight = b.weight();
        for d in b.weight_device().as_deref().unwrap_or_default() {
            if let Some(weight) = d.weight() {
                out.blkio_weight_device.push(WeightDevice { major: d.major() as u64, minor: d.minor() as u64, weight });
            }
        }
        let throttles = |l: &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>| -> Vec<ThrottleDevice> {
            l.as_deref()
                .unwrap_or_default()
                .iter()
                .map(|d| ThrottleDevice { major: d.major() as u64, minor: d.minor() as u64, rate: d.rate() })
                .collect()
        };
        out.blkio_read_bps = throttles(b.throttle_read_bps_device());
        out.blkio_write_bps = throttles(b.throttle_write_bps_device());
        out.blkio_read_iops = throttles(b.throttle_read_iops_device());
        out.blkio_write_iops = throttles(b.throttle_write_iops_device());
    }
    for d in r.devices().as_deref().unwrap_or_default() {
        let kind = match d.typ() {
            Some(LinuxDeviceType::C) => DeviceKind::Char,
            Some(LinuxDeviceType::B) => DeviceKind::Block,
            _ => DeviceKind::All,
        };
        out.devices.push(DeviceRule {
            allow: d.allow(),
            kind,
            major: d.major(),
            minor: d.minor(),
            access: d.access().clone().unwrap_or_else(|| "rwm".into()),
        });
    }
    out
}

impl Group {
    pub fn open(c: &CgroupConfig) -> Result<Group, String> {
        let layout: Layout = c.layout.parse().map_err(|e| format!("cgroup layout: {e}"))?;
        let cg = Cgroup::new(&layout, &c.path).map_err(|e| e.to_string())?;
        Ok(Group { cg })
    }

    pub fn create(c: &CgroupConfig, res: Option<&LinuxResources>) -> Result<Group, String> {
        let g = Self::open(c)?;
        let r = res.map(resources).unwrap_or_default();
        g.cg.create(&r).map_err(|e| e.to_string())?;
        Ok(g)
    }

    pub fn join_files(&self) -> Vec<std::path::PathBuf> {
        self.cg.self_join_files()
    }

    pub fn oom_killed(&self) -> bool {
        self.cg.stats().map(|s| s.memory.oom_kills > 0).unwrap_or(false)
    }

    pub fn destroy(&self) {
        let _ = self.cg.destroy();
    }
}
