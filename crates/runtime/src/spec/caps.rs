//! Capabilities: Docker's default set and its `CapAdd`/`CapDrop`/`Privileged` rules
//! (moby `oci/caps`).

use oci_spec::runtime::Capability;

use super::SpecError;

/// Every capability this crate knows, in kernel order (`CAP_CHOWN` = 0 ...).
const KNOWN: &[(&str, Capability)] = &[
    ("CAP_CHOWN", Capability::Chown),
    ("CAP_DAC_OVERRIDE", Capability::DacOverride),
    ("CAP_DAC_READ_SEARCH", Capability::DacReadSearch),
    ("CAP_FOWNER", Capability::Fowner),
    ("CAP_FSETID", Capability::Fsetid),
    ("CAP_KILL", Capability::Kill),
    ("CAP_SETGID", Capability::Setgid),
    ("CAP_SETUID", Capability::Setuid),
    ("CAP_SETPCAP", Capability::Setpcap),
    ("CAP_LINUX_IMMUTABLE", Capability::LinuxImmutable),
    ("CAP_NET_BIND_SERVICE", Capability::NetBindService),
    ("CAP_NET_BROADCAST", Capability::NetBroadcast),
    ("CAP_NET_ADMIN", Capability::NetAdmin),
    ("CAP_NET_RAW", Capability::NetRaw),
    ("CAP_IPC_LOCK", Capability::IpcLock),
    ("CAP_IPC_OWNER", Capability::IpcOwner),
    ("CAP_SYS_MODULE", Capability::SysModule),
    ("CAP_SYS_RAWIO", Capability::SysRawio),
    ("CAP_SYS_CHROOT", Capability::SysChroot),
    ("CAP_SYS_PTRACE", Capability::SysPtrace),
    ("CAP_SYS_PACCT", Capability::SysPacct),
    ("CAP_SYS_ADMIN", Capability::SysAdmin),
    ("CAP_SYS_BOOT", Capability::SysBoot),
    ("CAP_SYS_NICE", Capability::SysNice),
    ("CAP_SYS_RESOURCE", Capability::SysResource),
    ("CAP_SYS_TIME", Capability::SysTime),
    ("CAP_SYS_TTY_CONFIG", Capability::SysTtyConfig),
    ("CAP_MKNOD", Capability::Mknod),
    ("CAP_LEASE", Capability::Lease),
    ("CAP_AUDIT_WRITE", Capability::AuditWrite),
    ("CAP_AUDIT_CONTROL", Capability::AuditControl),
    ("CAP_SETFCAP", Capability::Setfcap),
    ("CAP_MAC_OVERRIDE", Capability::MacOverride),
    ("CAP_MAC_ADMIN", Capability::MacAdmin),
    ("CAP_SYSLOG", Capability::Syslog),
    ("CAP_WAKE_ALARM", Capability::WakeAlarm),
    ("CAP_BLOCK_SUSPEND", Capability::BlockSuspend),
    ("CAP_AUDIT_READ", Capability::AuditRead),
    ("CAP_PERFMON", Capability::Perfmon),
    ("CAP_BPF", Capability::Bpf),
    ("CAP_CHECKPOINT_RESTORE", Capability::CheckpointRestore),
];

/// Docker's default capabilities, in Docker's order.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability known to this crate, in kernel order: what a privileged container gets
/// on a host that has them all. The daemon may pass fewer (see `HostFacts::capabilities`).
pub fn all_capabilities() -> Vec<Capability> {
    KNOWN.iter().map(|(_, c)| *c).collect()
}

/// The `CAP_` name of a capability.
pub fn capability_name(c: Capability) -> &'static str {
    KNOWN
        .iter()
        .find(|(_, k)| *k == c)
        .map(|(n, _)| *n)
        .unwrap_or("CAP_UNKNOWN")
}

fn lookup(name: &str) -> Option<Capability> {
    KNOWN.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// Upper-case, add `CAP_` when missing, keep `ALL`; unknown or unavailable names are errors.
fn normalize(list: &[String], available: &[Capability]) -> Result<Vec<String>, SpecError> {
    let mut out = Vec::with_capacity(list.len());
    for raw in list {
        let mut c = raw.to_ascii_uppercase();
        if c == "ALL" {
            out.push(c);
            continue;
        }
        if !c.starts_with("CAP_") {
            c = format!("CAP_{c}");
        }
        match lookup(&c) {
            None => return Err(SpecError::UnknownCapability(c)),
            Some(k) if !available.contains(&k) => return Err(SpecError::UnavailableCapability(c)),
            Some(_) => out.push(c),
        }
    }
    Ok(out)
}

/// The capabilities of a container's process (moby `TweakCapabilities`): all available ones
/// when privileged; else the defaults, minus `cap_drop`, plus `cap_add`, where `ALL` in
/// `cap_add` means every available capability except the dropped ones and `ALL` in `cap_drop`
/// means only `cap_add`. Names are case-insensitive, with or without `CAP_`.
pub fn effective_capabilities(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
    available: &[Capability],
) -> Result<Vec<Capability>, SpecError> {
    if privileged {
        return Ok(available.to_vec());
    }
    let defaults = || -> Vec<Capability> {
        DEFAULT_CAPABILITIES
            .iter()
            .filter_map(|n| lookup(n))
            .collect()
    };
    if cap_add.is_empty() && cap_drop.is_empty() {
        return Ok(defaults());
    }
    let drop = normalize(cap_drop, available)?;
    let add = normalize(cap_add, available)?;
    let mut names: Vec<String> = Vec::new();
    if add.iter().any(|c| c == "ALL") {
        for c in available {
            let n = capability_name(*c);
            if !drop.iter().any(|d| d == n) {
                names.push(n.to_string());
            }
        }
    } else if drop.iter().any(|c| c == "ALL") {
        names = add;
    } else {
        for n in DEFAULT_CAPABILITIES {
            if !drop.iter().any(|d| d == n) {
                names.push(n.to_string());
            }
        }
        names.extend(add);
    }
    let mut out: Vec<Capability> = Vec::new();
    for n in &names {
        if let Some(c) = lookup(n) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    Ok(out)
}
