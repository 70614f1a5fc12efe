//! From a resolved Docker container configuration to an OCI runtime spec.
//!
//! [`build`] is pure: everything it needs from the host (limits, capabilities, devices, the
//! cgroup version) comes in through [`SpecInput`], probed once by the caller. The result is
//! what moby (`daemon/oci_linux.go` `createSpec` over `oci/defaults.go`) produces for the same
//! container, with these deliberate differences:
//!
//! - What runc adds implicitly is spelled out, so that Berth's own runtime (`crate::linux`)
//!   needs no hidden defaults: `linux.devices` lists the default devices
//!   ([`default_devices`]) and `linux.resources.devices` ends with runc's allowed-device rules
//!   ([`runtime_device_rules`]); `HOME` is added to the environment when missing.
//! - No AppArmor or SELinux settings.
//! - The time namespace is not used (Docker 28 does not either).
//!
//! The spec is valid `config.json` for runc 1.1 (`ociVersion` [`OCI_VERSION`]).
//!
//! Architecture invariant: this module does no IO; it knows the Docker API models and the OCI
//! spec, nothing of the engine, the image store or the network.

mod caps;
pub mod devices;
mod mounts;
mod resources;
pub mod seccomp;

use std::collections::HashMap;
use std::path::PathBuf;

use berth_errdefs::{HasKind, Kind};
use bollard_stubs::models::{
    ContainerConfig, HostConfig, HostConfigCgroupnsModeEnum, ResourcesUlimits,
};
use oci_spec::runtime::{
    BoxBuilder, Capability, Linux, LinuxCapabilities, LinuxDevice, LinuxDeviceCgroup,
    LinuxDeviceType, LinuxNamespace, LinuxNamespaceType, LinuxResources, Process, Root, Spec, User,
};

pub use caps::{all_capabilities, capability_name, effective_capabilities, DEFAULT_CAPABILITIES};
pub use mounts::{default_mounts, DEFAULT_SHM_SIZE, INIT_PATH};
pub use resources::{
    default_device_rules, default_devices, parse_device_rule, runtime_device_rules,
};

use crate::merge::{command_line, replace_or_append_env};
use crate::user::{with_home, ResolvedUser};

/// The `ociVersion` of the specs built here (what runc 1.1 implements).
pub const OCI_VERSION: &str = "1.0.2-dev";

/// The `PATH` a container gets when its image sets none.
pub const DEFAULT_PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why no spec can be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The resolved config has neither entrypoint nor command.
    #[error("no command specified")]
    NoCommand,
    /// A `CapAdd`/`CapDrop` name is no capability.
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    /// A known capability the host cannot grant.
    #[error("capability not supported by your kernel or not available in the current environment: {0:?}")]
    UnavailableCapability(String),
    /// A `Ulimits` entry is malformed or above the host's hard limit.
    #[error("{0}")]
    InvalidUlimit(String),
    /// A bind, tmpfs or API mount is malformed.
    #[error("{0}")]
    InvalidMount(String),
    /// A resource setting is out of range or conflicts with another.
    #[error("{0}")]
    InvalidResources(String),
    /// A `SecurityOpt` entry is not understood.
    #[error("invalid --security-opt: {0:?}")]
    InvalidSecurityOpt(String),
    /// A seccomp profile is malformed (Docker's messages).
    #[error("{0}")]
    InvalidSeccomp(String),
    /// A sysctl is not namespaced, or not in a namespace the container owns.
    #[error("{0}")]
    InvalidSysctl(String),
    /// A `DeviceCgroupRules` entry is malformed.
    #[error("{0}")]
    InvalidDeviceRule(String),
    /// An IPC, PID, UTS or cgroup namespace mode is not valid.
    #[error("{0}")]
    InvalidMode(String),
    /// A setting Berth does not support yet (named volumes, joining another container's
    /// namespaces, per-device block IO limits).
    #[error("{0}")]
    NotImplemented(String),
    /// The OCI types refused a value (a bug here, not a bad request).
    #[error("building the OCI spec: {0}")]
    Oci(String),
}

impl HasKind for SpecError {
    fn kind(&self) -> Kind {
        match self {
            SpecError::NotImplemented(_) => Kind::NotImplemented,
            SpecError::Oci(_) => Kind::Internal,
            _ => Kind::InvalidArgument,
        }
    }
}

/// Host paths of the per-container files bound over the image's. `None` leaves the image's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFiles {
    /// Bound at `/etc/hostname`.
    pub hostname: Option<PathBuf>,
    /// Bound at `/etc/hosts`.
    pub hosts: Option<PathBuf>,
    /// Bound at `/etc/resolv.conf`.
    pub resolv_conf: Option<PathBuf>,
}

/// Which network namespace the container's process lives in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// A new, empty namespace made by the runtime (`bridge` before networking is wired,
    /// `none`).
    #[default]
    New,
    /// The host's namespace (`NetworkMode=host`).
    Host,
    /// A namespace made for this container beforehand (e.g. by the network subsystem), joined
    /// by path. It counts as the container's own: network sysctls may be set in it.
    Owned(PathBuf),
    /// Another container's namespace (`NetworkMode=container:<id>`), joined by path. Network
    /// sysctls are left alone.
    Joined(PathBuf),
}

impl NetworkNamespace {
    fn is_private(&self) -> bool {
        matches!(self, NetworkNamespace::New | NetworkNamespace::Owned(_))
    }
}

/// A device of `HostConfig.Devices`, resolved on the host by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDevice {
    /// The device node to create inside the container (path in the container, type, numbers,
    /// mode, owner).
    pub device: LinuxDevice,
    /// Cgroup permissions, a subset of `rwm`.
    pub permissions: String,
}

/// What the caller learned about the host, once, at daemon start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// The host's (soft, hard) limit per ulimit name (`nofile`, `nproc`, ...). A name missing
    /// here is not limited by the host.
    pub rlimits: HashMap<String, (u64, u64)>,
    /// The capabilities the daemon can grant (its own bounding set): a privileged container
    /// gets all of them, `CapAdd=ALL` the ones not dropped.
    pub capabilities: Vec<Capability>,
    /// The host's devices, given to privileged containers.
    pub devices: Vec<LinuxDevice>,
    /// Paths masked on top of [`default_masked_paths`] (Docker adds each
    /// `/sys/devices/system/cpu/cpuN/thermal_throttle` that exists).
    pub extra_masked_paths: Vec<String>,
    /// Whether read-only binds can be made recursively read-only (`rro`, kernel >= 5.12 and a
    /// runtime that knows it).
    pub recursive_readonly: bool,
}

impl Default for HostFacts {
    fn default() -> Self {
        HostFacts {
            rlimits: HashMap::new(),
            capabilities: all_capabilities(),
            devices: Vec::new(),
            extra_masked_paths: Vec::new(),
            recursive_readonly: false,
        }
    }
}

/// Everything [`build`] needs.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    /// The container's full id.
    pub container_id: String,
    /// The resolved config ([`crate::merge::merge`]).
    pub config: ContainerConfig,
    /// The container's HostConfig.
    pub host_config: HostConfig,
    /// The root filesystem (absolute, or relative to the bundle for runc).
    pub rootfs: PathBuf,
    /// The process's identity ([`crate::user::resolve`]).
    pub user: ResolvedUser,
    /// The container's hostname (ignored with `UTSMode=host`).
    pub hostname: String,
    /// Per-container files bound in.
    pub files: ContainerFiles,
    /// The network namespace.
    pub network: NetworkNamespace,
    /// `linux.cgroupsPath` (e.g. `/berth/<id>`); empty leaves it to the runtime.
    pub cgroups_path: String,
    /// Whether the host uses cgroup v2 (then a private cgroup namespace is the default).
    pub cgroup_v2: bool,
    /// Run an init (`--init`): the host path of the init binary, bound read-only at
    /// [`INIT_PATH`]; the process becomes `[INIT_PATH, "--", args...]`. Ignored unless the
    /// container has its own PID namespace.
    pub init: Option<PathBuf>,
    /// Whether the process gets a terminal (`Tty`).
    pub terminal: bool,
    /// Annotations, on top of `HostConfig.Annotations`.
    pub annotations: HashMap<String, String>,
    /// The daemon's default ulimits (`default-ulimits`), for names the container does not set.
    pub default_ulimits: Vec<ResourcesUlimits>,
    /// `HostConfig.Devices`, resolved on the host.
    pub devices: Vec<ResolvedDevice>,
    /// Facts about the host.
    pub host: HostFacts,
    /// The seccomp filter (the default profile, a `seccomp=FILE` one), None for unconfined.
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// User namespace mappings (`--userns-remap`); None keeps the host's user namespace.
    pub id_mappings: Option<IdMappings>,
}

/// The uid and gid maps of a container's user namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdMappings {
    /// `linux.uidMappings`.
    pub uids: Vec<oci_spec::runtime::LinuxIdMapping>,
    /// `linux.gidMappings`.
    pub gids: Vec<oci_spec::runtime::LinuxIdMapping>,
}

/// Docker's default masked paths (Docker 28), before host-specific additions.
pub fn default_masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Docker's default read-only paths.
pub fn default_readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Security options Berth understands.
#[derive(Debug, Default)]
struct SecurityOptions {
    no_new_privileges: bool,
    writable_cgroups: Option<bool>,
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn security_options(opts: &[String]) -> Result<SecurityOptions, SpecError> {
    let mut out = SecurityOptions::default();
    for opt in opts {
        match opt.as_str() {
            "no-new-privileges" => {
                out.no_new_privileges = true;
                continue;
            }
            "writable-cgroups" => {
                out.writable_cgroups = Some(true);
                continue;
            }
            "disable" => continue,
            _ => {}
        }
        let (k, v) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| SpecError::InvalidSecurityOpt(opt.clone()))?;
        match k {
            // Accepted and ignored: Berth applies no LSM profile.
            "label" | "apparmor" => {}
            // The filter itself comes in through `SpecInput::seccomp` (see `seccomp::choose`).
            "seccomp" => {}
            "no-new-privileges" => {
                out.no_new_privileges =
                    parse_bool(v).ok_or_else(|| SpecError::InvalidSecurityOpt(opt.clone()))?
            }
            "writable-cgroups" => {
                out.writable_cgroups =
                    Some(parse_bool(v).ok_or_else(|| SpecError::InvalidSecurityOpt(opt.clone()))?)
            }
            _ => return Err(SpecError::InvalidSecurityOpt(opt.clone())),
        }
    }
    Ok(out)
}

const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// runc's rule (and its messages, which Docker passes on): only sysctls of a namespace the
/// container has may be set. (The docker CLI already refuses anything but the IPC ones,
/// `fs.mqueue.*` and `net.*`; the API is checked here.)
fn check_sysctl(key: &str, own_ipc: bool, own_net: bool, own_uts: bool) -> Result<(), SpecError> {
    let err = |msg: String| Err(SpecError::InvalidSysctl(msg));
    if IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        return if own_ipc {
            Ok(())
        } else {
            err(format!("sysctl {key:?} is not allowed in the hosts ipc namespace"))
        };
    }
    if key.starts_with("net.") {
        return if own_net {
            Ok(())
        } else {
            err(format!("sysctl {key:?} not allowed in host network namespace"))
        };
    }
    if own_uts {
        match key {
            "kernel.domainname" => return Ok(()),
            "kernel.hostname" => {
                return err(format!(
                    "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
                ))
            }
            _ => {}
        }
    }
    err(format!("sysctl {key:?} is not in a separate kernel namespace"))
}

fn ns(typ: LinuxNamespaceType, path: Option<PathBuf>) -> LinuxNamespace {
    let mut n = LinuxNamespace::default();
    n.set_typ(typ);
    n.set_path(path);
    n
}

/// Build the OCI runtime spec of a container.
pub fn build(input: &SpecInput) -> Result<Spec, SpecError> {
    let hc = &input.host_config;
    let cfg = &input.config;
    let privileged = hc.privileged.unwrap_or(false);
    let secopts = security_options(hc.security_opt.as_deref().unwrap_or_default())?;

    // Namespaces, in moby's order: mount, network, uts, pid, ipc, then cgroup.
    let ipc_mode = hc.ipc_mode.as_deref().unwrap_or("");
    let (ipc_ns, ipc_plan) = match ipc_mode {
        "" | "private" | "shareable" => (true, mounts::IpcPlan::Private),
        "none" => (true, mounts::IpcPlan::NoShm),
        "host" => (false, mounts::IpcPlan::HostShm),
        m if m.starts_with("container:") => {
            return Err(SpecError::NotImplemented(
                "joining another container's IPC namespace is not supported yet".into(),
            ))
        }
        m => return Err(SpecError::InvalidMode(format!("invalid IPC mode: {m}"))),
    };
    let pid_ns = match hc.pid_mode.as_deref().unwrap_or("") {
        "" | "private" => true,
        "host" => false,
        m if m.starts_with("container:") => {
            return Err(SpecError::NotImplemented(
                "joining another container's PID namespace is not supported yet".into(),
            ))
        }
        m => return Err(SpecError::InvalidMode(format!("invalid PID mode: {m}"))),
    };
    let uts_ns = match hc.uts_mode.as_deref().unwrap_or("") {
        "" => true,
        "host" => false,
        m => return Err(SpecError::InvalidMode(format!("invalid UTS mode: {m}"))),
    };
    let cgroup_ns = match hc.cgroupns_mode {
        None | Some(HostConfigCgroupnsModeEnum::EMPTY) => input.cgroup_v2,
        Some(HostConfigCgroupnsModeEnum::PRIVATE) => true,
        Some(HostConfigCgroupnsModeEnum::HOST) => false,
    };
    let mut namespaces = vec![ns(LinuxNamespaceType::Mount, None)];
    match &input.network {
        NetworkNamespace::New => namespaces.push(ns(LinuxNamespaceType::Network, None)),
        NetworkNamespace::Host => {}
        NetworkNamespace::Owned(p) | NetworkNamespace::Joined(p) => {
            namespaces.push(ns(LinuxNamespaceType::Network, Some(p.clone())))
        }
    }
    if uts_ns {
        namespaces.push(ns(LinuxNamespaceType::Uts, None));
    }
    if pid_ns {
        namespaces.push(ns(LinuxNamespaceType::Pid, None));
    }
    if ipc_ns {
        namespaces.push(ns(LinuxNamespaceType::Ipc, None));
    }
    if cgroup_ns {
        namespaces.push(ns(LinuxNamespaceType::Cgroup, None));
    }
    // `--userns-remap` (unless `--userns=host`): a user namespace with the daemon's mappings.
    let userns = input.id_mappings.as_ref().filter(|_| hc.userns_mode.as_deref() != Some("host"));
    if userns.is_some() {
        namespaces.push(ns(LinuxNamespaceType::User, None));
    }

    // Process.
    let mut args = command_line(cfg);
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    let init = input.init.as_deref().filter(|_| pid_ns);
    if init.is_some() {
        let mut with_init = vec![INIT_PATH.to_string(), "--".to_string()];
        with_init.extend(args);
        args = with_init;
    }
    let mut base_env = vec![
        format!("PATH={DEFAULT_PATH_ENV}"),
        format!("HOSTNAME={}", cfg.hostname.as_deref().unwrap_or("")),
    ];
    if input.terminal {
        base_env.push("TERM=xterm".into());
    }
    let env = replace_or_append_env(&base_env, cfg.env.as_deref().unwrap_or_default());
    let env = with_home(&env, &input.user.home);
    let cwd = cfg
        .working_dir
        .as_deref()
        .filter(|w| !w.is_empty())
        .unwrap_or("/");

    let caps = effective_capabilities(
        hc.cap_add.as_deref().unwrap_or_default(),
        hc.cap_drop.as_deref().unwrap_or_default(),
        privileged,
        &input.host.capabilities,
    )?;
    let cap_set: oci_spec::runtime::Capabilities = caps.iter().copied().collect();
    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(cap_set.clone()));
    capabilities.set_effective(Some(cap_set.clone()));
    capabilities.set_permitted(Some(cap_set));
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    let mut user = User::default();
    user.set_uid(input.user.uid);
    user.set_gid(input.user.gid);
    user.set_umask(None);
    user.set_additional_gids(Some(input.user.additional_gids.clone()));

    let rlimits = resources::rlimits(
        hc.ulimits.as_deref().unwrap_or_default(),
        &input.default_ulimits,
        &input.host.rlimits,
    )?;

    let oom = hc.oom_score_adj.unwrap_or(0);
    if !(-1000..=1000).contains(&oom) {
        return Err(SpecError::InvalidResources(format!(
            "Invalid value {oom}, range for oom score adj is [-1000, 1000]"
        )));
    }

    let console_size = match hc.console_size.as_deref() {
        Some([h, w]) if input.terminal && (*h != 0 || *w != 0) => {
            let b = BoxBuilder::default()
                .height(*h as u64)
                .width(*w as u64)
                .build()
                .map_err(|e| SpecError::Oci(e.to_string()))?;
            Some(b)
        }
        _ => None,
    };

    let mut process = Process::default();
    process.set_terminal(Some(input.terminal));
    process.set_console_size(console_size);
    process.set_user(user);
    process.set_args(Some(args));
    process.set_command_line(None);
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(cwd));
    process.set_capabilities(Some(capabilities));
    process.set_rlimits(if rlimits.is_empty() {
        None
    } else {
        Some(rlimits)
    });
    process.set_no_new_privileges(secopts.no_new_privileges.then_some(true));
    process.set_apparmor_profile(None);
    process.set_oom_score_adj(Some(oom as i32));
    process.set_selinux_label(None);
    process.set_io_priority(None);
    process.set_scheduler(None);
    process.set_exec_cpu_affinity(None);

    // Mounts.
    let writable_cgroups = secopts.writable_cgroups.unwrap_or(privileged);
    let plan = mounts::MountPlan {
        host_config: hc,
        ipc: ipc_plan,
        files: &input.files,
        init,
        recursive_readonly: input.host.recursive_readonly,
    };
    let (mount_list, rootfs_propagation) = mounts::assemble(&plan, privileged, writable_cgroups)?;

    // Devices and their cgroup rules.
    let mut devices: Vec<LinuxDevice> = Vec::new();
    let mut device_rules: Vec<LinuxDeviceCgroup>;
    if privileged {
        devices.extend(input.host.devices.iter().cloned());
        for d in &input.devices {
            if !devices.iter().any(|h| h.path() == d.device.path()) {
                devices.push(d.device.clone());
            }
        }
        device_rules = vec![resources::rule(true, None, None, None, "rwm")];
    } else {
        devices.extend(default_devices());
        device_rules = default_device_rules();
        for d in &input.devices {
            devices.retain(|x| x.path() != d.device.path());
            devices.push(d.device.clone());
            let mut r = resources::rule(
                true,
                Some(d.device.typ()),
                Some(d.device.major()),
                Some(d.device.minor()),
                &d.permissions,
            );
            if d.device.typ() == LinuxDeviceType::U {
                r.set_typ(Some(LinuxDeviceType::C));
            }
            device_rules.push(r);
        }
        for raw in hc.device_cgroup_rules.iter().flatten() {
            device_rules.push(parse_device_rule(raw)?);
        }
        device_rules.extend(runtime_device_rules());
    }
    if hc.device_requests.as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(SpecError::NotImplemented(
            "device requests (--gpus) are not supported".into(),
        ));
    }

    let mut res = LinuxResources::default();
    res.set_devices(Some(device_rules));
    res.set_memory(resources::memory(hc)?);
    res.set_cpu(resources::cpu(hc)?);
    res.set_pids(resources::pids(hc));
    res.set_block_io(Some(resources::block_io(hc)?));

    // Sysctls: Docker's network defaults in a private network namespace, the domain name,
    // then the user's.
    let mut sysctl: HashMap<String, String> = HashMap::new();
    // A user namespace cannot write the sysctls of a network namespace the host made (it
    // belongs to the host's user namespace): those defaults only go with a namespace of its own.
    let netns_writable = userns.is_none() || matches!(input.network, NetworkNamespace::New);
    if input.network.is_private() && netns_writable {
        // In a user namespace the range must be mapped there: all of its gids.
        let range = match userns {
            Some(m) => format!("0 {}", m.gids.iter().map(|g| u64::from(g.size())).sum::<u64>().saturating_sub(1)),
            None => "0 2147483647".into(),
        };
        sysctl.insert("net.ipv4.ping_group_range".into(), range);
        sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
    }
    if let Some(d) = cfg.domainname.as_deref().filter(|d| !d.is_empty()) {
        sysctl.insert("kernel.domainname".into(), d.to_string());
    }
    // A joined namespace (`--network container:X`) is not the host's: runc allows it too.
    let own_net = !matches!(input.network, NetworkNamespace::Host);
    for (k, v) in hc.sysctls.iter().flatten() {
        check_sysctl(k, ipc_ns, own_net, uts_ns)?;
        sysctl.insert(k.clone(), v.clone());
    }

    let (masked, readonly) = if privileged {
        (None, None)
    } else {
        let mut m = default_masked_paths();
        m.extend(input.host.extra_masked_paths.iter().cloned());
        (Some(m), Some(default_readonly_paths()))
    };
    let masked = hc.masked_paths.clone().or(masked);
    let readonly = hc.readonly_paths.clone().or(readonly);

    let mut linux = Linux::default();
    linux.set_net_devices(None);
    linux.set_uid_mappings(userns.map(|m| m.uids.clone()));
    linux.set_gid_mappings(userns.map(|m| m.gids.clone()));
    linux.set_sysctl(if sysctl.is_empty() {
        None
    } else {
        Some(sysctl)
    });
    linux.set_resources(Some(res));
    linux.set_cgroups_path(if input.cgroups_path.is_empty() {
        None
    } else {
        Some(PathBuf::from(&input.cgroups_path))
    });
    linux.set_namespaces(Some(namespaces));
    linux.set_devices(Some(devices));
    linux.set_seccomp(input.seccomp.clone());
    linux.set_rootfs_propagation(rootfs_propagation);
    linux.set_masked_paths(masked);
    linux.set_readonly_paths(readonly);
    linux.set_mount_label(None);
    linux.set_intel_rdt(None);
    linux.set_memory_policy(None);
    linux.set_personality(None);
    linux.set_time_offsets(None);

    let mut root = Root::default();
    root.set_path(input.rootfs.clone());
    root.set_readonly(hc.readonly_rootfs.unwrap_or(false).then_some(true));

    let mut annotations: HashMap<String, String> = hc.annotations.clone().unwrap_or_default();
    annotations.extend(
        input
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );

    let hostname = if uts_ns && !input.hostname.is_empty() {
        Some(input.hostname.clone())
    } else {
        None
    };

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mount_list));
    spec.set_process(Some(process));
    spec.set_hostname(hostname);
    spec.set_domainname(None);
    spec.set_hooks(None);
    spec.set_annotations(if annotations.is_empty() {
        None
    } else {
        Some(annotations)
    });
    spec.set_linux(Some(linux));
    spec.set_solaris(None);
    spec.set_windows(None);
    spec.set_vm(None);
    spec.set_zos(None);
    spec.set_uid_mappings(None);
    spec.set_gid_mappings(None);
    Ok(spec)
}

#[cfg(test)]
mod sysctl_tests {
    use super::check_sysctl;

    #[test]
    fn namespaced_sysctls_only() {
        // (key, own ipc, own net, own uts, error or "")
        let table: &[(&str, bool, bool, bool, &str)] = &[
            ("kernel.shmmax", true, true, true, ""),
            ("kernel.msgmax", true, false, false, ""),
            ("fs.mqueue.msg_max", true, true, true, ""),
            ("kernel.sem", false, true, true, "sysctl \"kernel.sem\" is not allowed in the hosts ipc namespace"),
            ("net.ipv4.ip_forward", true, true, true, ""),
            ("net.ipv4.ip_forward", true, false, true, "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"),
            ("kernel.domainname", true, true, true, ""),
            ("kernel.domainname", true, true, false, "sysctl \"kernel.domainname\" is not in a separate kernel namespace"),
            (
                "kernel.hostname",
                true,
                true,
                true,
                "sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI \"hostname\" field",
            ),
            ("kernel.pid_max", true, true, true, "sysctl \"kernel.pid_max\" is not in a separate kernel namespace"),
            ("vm.swappiness", true, true, true, "sysctl \"vm.swappiness\" is not in a separate kernel namespace"),
        ];
        for (key, ipc, net, uts, want) in table {
            let got = check_sysctl(key, *ipc, *net, *uts).err().map(|e| e.to_string()).unwrap_or_default();
            assert_eq!(got, *want, "{key} ipc={ipc} net={net} uts={uts}");
        }
    }
}
