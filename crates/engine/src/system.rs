//! System information: `/info`, `/version`, `/system/df`, and facts probed once at start.

use std::collections::HashMap;

use berth_api::models as m;
use berth_errdefs::Result;

use crate::Engine;

/// Facts about the host, probed once when the engine opens.
pub(crate) struct HostFacts {
    pub hostname: String,
    pub kernel: String,
    pub os_name: String,
    pub ncpu: i64,
    pub mem_total: i64,
    pub spec_facts: berth_runtime::spec::HostFacts,
}

fn rlimit(res: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit fills a valid struct.
    unsafe { libc::getrlimit(res, &mut r) };
    (r.rlim_cur, r.rlim_max)
}

impl HostFacts {
    pub(crate) fn probe() -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
        let os_name = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
            .unwrap_or_else(|| "Linux".into());
        let ncpu = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1);
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())))
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        let mut rl = HashMap::new();
        for (name, res) in [
            ("nofile", libc::RLIMIT_NOFILE),
            ("nproc", libc::RLIMIT_NPROC),
            ("core", libc::RLIMIT_CORE),
            ("memlock", libc::RLIMIT_MEMLOCK),
            ("stack", libc::RLIMIT_STACK),
            ("msgqueue", libc::RLIMIT_MSGQUEUE),
            ("sigpending", libc::RLIMIT_SIGPENDING),
            ("nice", libc::RLIMIT_NICE),
            ("rtprio", libc::RLIMIT_RTPRIO),
        ] {
            rl.insert(name.to_string(), rlimit(res));
        }
        // Only what the daemon itself holds can be granted (this host, say, may lack
        // CAP_SYS_RESOURCE): read our bounding set once.
        let capabilities: Vec<oci_spec::runtime::Capability> = caps::read(None, caps::CapSet::Bounding)
            .map(|set| {
                set.iter()
                    .filter_map(|c| serde_json::from_value(serde_json::Value::String(c.to_string())).ok())
                    .collect()
            })
            .unwrap_or_else(|_| berth_runtime::spec::all_capabilities());
        let spec_facts = berth_runtime::spec::HostFacts { rlimits: rl, capabilities, ..Default::default() };
        HostFacts { hostname, kernel, os_name, ncpu, mem_total, spec_facts }
    }
}

impl Engine {
    pub(crate) fn info(&self) -> Result<m::SystemInfo> {
        let all = self.all();
        let mut running = 0;
        let mut paused = 0;
        let mut stopped = 0;
        for c in &all {
            match c.record().state.status.as_str() {
                "running" => running += 1,
                "paused" => paused += 1,
                _ => stopped += 1,
            }
        }
        let cgroup_version = match self.cgroups.as_ref().map(|l| l.version()) {
            Some(berth_cgroups::Version::V2) => "2",
            _ => "1",
        };
        let mut runtimes = HashMap::new();
        runtimes.insert(crate::BUILTIN_RUNTIME.to_string(), m::Runtime { path: Some(self.cfg.shim.display().to_string()), ..Default::default() });
        for (name, path) in &self.cfg.runtimes {
            runtimes.insert(name.clone(), m::Runtime { path: Some(path.display().to_string()), ..Default::default() });
        }
        Ok(m::SystemInfo {
            id: Some(crate::short_hash(&self.cfg.data_root.display().to_string())),
            containers: Some(all.len() as i64),
            containers_running: Some(running),
            containers_paused: Some(paused),
            containers_stopped: Some(stopped),
            images: Some(self.images.count() as i64),
            driver: Some("overlay2".into()),
            driver_status: Some(vec![vec!["Backing Filesystem".into(), "extfs".into()]]),
            docker_root_dir: Some(self.cfg.data_root.display().to_string()),
            plugins: Some(m::PluginsInfo {
                volume: Some(vec!["local".into()]),
                network: Some(vec!["host".into(), "none".into()]),
                authorization: None,
                log: Some(vec!["json-file".into(), "local".into(), "none".into()]),
            }),
            memory_limit: Some(true),
            swap_limit: Some(true),
            cpu_cfs_period: Some(true),
            cpu_cfs_quota: Some(true),
            cpu_shares: Some(true),
            cpu_set: Some(true),
            pids_limit: Some(true),
            oom_kill_disable: Some(cgroup_version == "1"),
            ipv4_forwarding: Some(true),
            debug: Some(false),
            nfd: Some(std::fs::read_dir("/proc/self/fd").map(|d| d.count() as i64).unwrap_or(0)),
            n_goroutines: Some(0),
            system_time: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            logging_driver: Some("json-file".into()),
            cgroup_driver: Some(m::SystemInfoCgroupDriverEnum::CGROUPFS),
            cgroup_version: serde_json::from_value(serde_json::json!(cgroup_version)).ok(),
            n_events_listener: Some(0),
            kernel_version: Some(self.host.kernel.clone()),
            operating_system: Some(self.host.os_name.clone()),
            os_version: Some(String::new()),
            os_type: Some("linux".into()),
            architecture: Some(std::env::consts::ARCH.into()),
            ncpu: Some(self.host.ncpu),
            mem_total: Some(self.host.mem_total),
            index_server_address: Some("https://index.docker.io/v1/".into()),
            name: Some(self.host.hostname.clone()),
            labels: Some(Vec::new()),
            experimental_build: Some(false),
            server_version: Some(self.cfg.version.clone()),
            runtimes: Some(runtimes),
            default_runtime: Some(self.cfg.default_runtime.clone()),
            swarm: Some(m::SwarmInfo {
                local_node_state: Some(m::LocalNodeState::INACTIVE),
                control_available: Some(false),
                ..Default::default()
            }),
            live_restore_enabled: Some(true),
            isolation: Some(m::SystemInfoIsolationEnum::DEFAULT),
            init_binary: Some("berth-shim".into()),
            security_options: Some(vec![
                format!(
                    "name=seccomp,profile={}",
                    self.cfg.seccomp_profile.as_deref().map_or("builtin".into(), |p| p.display().to_string())
                ),
                "name=cgroupns".into(),
            ]),
            warnings: Some(Vec::new()),
            ..Default::default()
        })
    }

    pub(crate) fn version_info(&self) -> m::SystemVersion {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            a => a,
        };
        let mut details = HashMap::new();
        details.insert("ApiVersion".to_string(), berth_api::API_VERSION.to_string());
        details.insert("MinAPIVersion".to_string(), berth_api::MIN_API_VERSION.to_string());
        details.insert("Os".to_string(), "linux".to_string());
        details.insert("Arch".to_string(), arch.to_string());
        details.insert("KernelVersion".to_string(), self.host.kernel.clone());
        m::SystemVersion {
            platform: Some(m::SystemVersionPlatform { name: "Berth Engine".into() }),
            components: Some(vec![m::SystemVersionComponents {
                name: "Engine".into(),
                version: self.cfg.version.clone(),
                details: Some(details),
            }]),
            version: Some(self.cfg.version.clone()),
            api_version: Some(berth_api::API_VERSION.into()),
            min_api_version: Some(berth_api::MIN_API_VERSION.into()),
            git_commit: Some(option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown").into()),
            go_version: Some("n/a (rust)".into()),
            os: Some("linux".into()),
            arch: Some(arch.into()),
            kernel_version: Some(self.host.kernel.clone()),
            experimental: Some(false),
            build_time: Some(String::new()),
        }
    }
}
