//! Seccomp profiles: Docker's profile format and its default profile, turned into the OCI
//! `linux.seccomp` of one container.
//!
//! A Docker profile (`--security-opt seccomp=FILE`, whose content the CLI sends; the daemon's
//! `--seccomp-profile`; the built-in [`default_profile`]) is an OCI filter plus conditions:
//! each syscall rule may be limited to some architectures (`includes.arches`, Go's arch names
//! such as `amd64`), to containers holding (or lacking) capabilities (`includes.caps` /
//! `excludes.caps`, checked against the bounding set) and to kernels from a version on
//! (`minKernel`), and `archMap` lists the sub-architectures a filter covers on each native one.
//! [`Profile::to_oci`] resolves those conditions for one container on one host, as moby's
//! `setupSeccomp` does.
//!
//! Architecture invariant: no IO here. The host's architecture and kernel version come in
//! through [`Target`].

mod default_profile;

use std::sync::OnceLock;

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use serde::Deserialize;

use super::caps::capability_name;
use super::SpecError;

/// The host a filter is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The native architecture in Go's words, as profiles name it (`amd64`, `arm64`, ...).
    pub arch: &'static str,
    /// The running kernel's (version, major revision), e.g. `(6, 18)`.
    pub kernel: (u64, u64),
}

impl Target {
    /// The architecture this code was compiled for, with the given kernel version.
    pub fn native(kernel: (u64, u64)) -> Target {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "x86",
            "aarch64" => "arm64",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "loongarch64" => "loong64",
            "mips64" => "mips64",
            other => other,
        };
        Target { arch, kernel }
    }

    /// Parse a kernel release (`6.18.0-1-amd64`) into (version, major revision).
    pub fn parse_kernel(release: &str) -> Option<(u64, u64)> {
        let mut it = release.split(|c: char| !c.is_ascii_digit());
        let v = it.next()?.parse().ok()?;
        let m = it.next()?.parse().ok()?;
        Some((v, m))
    }
}

/// A condition of a profile rule (`includes` / `excludes`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileFilter {
    /// Capabilities (`CAP_SYS_ADMIN`) the bounding set must hold (includes: all of them;
    /// excludes: any of them).
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    /// Go architecture names (`amd64`, `arm64`, `s390x`, ...).
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    /// `"<kernel>.<major>"`.
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// One rule of a Docker profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileSyscall {
    /// The syscalls.
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// The old single-name form.
    #[serde(default)]
    pub name: Option<String>,
    /// What happens when the call (and the args) match.
    pub action: LinuxSeccompAction,
    /// The errno of an `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE` action.
    #[serde(default)]
    pub errno_ret: Option<u32>,
    /// Argument conditions.
    #[serde(default)]
    pub args: Option<Vec<LinuxSeccompArg>>,
    /// Only when this holds.
    #[serde(default)]
    pub includes: Option<ProfileFilter>,
    /// Not when this holds.
    #[serde(default)]
    pub excludes: Option<ProfileFilter>,
}

/// An `archMap` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileArch {
    /// `SCMP_ARCH_X86_64`, ...
    pub architecture: String,
    /// Covered alongside it (`SCMP_ARCH_X86`, `SCMP_ARCH_X32`).
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// A seccomp profile in Docker's JSON format.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The action for calls no rule matches; None with no rules means "no filter".
    #[serde(default)]
    pub default_action: Option<LinuxSeccompAction>,
    /// Its errno.
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// The architectures, when `archMap` is not used.
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    /// Architectures per native one.
    #[serde(default)]
    pub arch_map: Option<Vec<ProfileArch>>,
    /// `SECCOMP_FILTER_FLAG_*`.
    #[serde(default)]
    pub flags: Option<Vec<LinuxSeccompFilterFlag>>,
    /// The rules.
    #[serde(default)]
    pub syscalls: Option<Vec<ProfileSyscall>>,
    /// `SCMP_ACT_NOTIFY` listener: not supported by Berth's runtime.
    #[serde(default)]
    pub listener_path: Option<String>,
}

/// Docker's default profile, built once.
pub fn default_profile() -> &'static Profile {
    static PROFILE: OnceLock<Profile> = OnceLock::new();
    PROFILE.get_or_init(|| {
        let strings = |l: &[&str]| -> Option<Vec<String>> {
            if l.is_empty() {
                None
            } else {
                Some(l.iter().map(|s| s.to_string()).collect())
            }
        };
        let filter = |c: &Cond| -> Option<ProfileFilter> {
            if c.caps.is_empty() && c.arches.is_empty() && c.min_kernel.is_none() {
                return None;
            }
            Some(ProfileFilter {
                caps: strings(c.caps),
                arches: strings(c.arches),
                min_kernel: c.min_kernel.map(|(a, b)| format!("{a}.{b}")),
            })
        };
        let syscalls = default_profile::RULES
            .iter()
            .map(|r| {
                let (action, errno_ret) = match r.action {
                    RuleAction::Allow => (LinuxSeccompAction::ScmpActAllow, None),
                    RuleAction::Errno(e) => (LinuxSeccompAction::ScmpActErrno, Some(e)),
                };
                let args = (!r.args.is_empty()).then(|| r.args.iter().map(Arg::to_oci).collect());
                ProfileSyscall {
                    names: strings(r.names),
                    name: None,
                    action,
                    errno_ret,
                    args,
                    includes: filter(&r.includes),
                    excludes: filter(&r.excludes),
                }
            })
            .collect();
        Profile {
            default_action: Some(LinuxSeccompAction::ScmpActErrno),
            default_errno_ret: Some(default_profile::DEFAULT_ERRNO),
            architectures: None,
            arch_map: Some(
                default_profile::ARCH_MAP
                    .iter()
                    .map(|(a, subs)| ProfileArch {
                        architecture: a.to_string(),
                        sub_architectures: strings(subs),
                    })
                    .collect(),
            ),
            flags: None,
            syscalls: Some(syscalls),
            listener_path: None,
        }
    })
}

/// A rule of the built-in profile (the data in `default_profile.rs`).
struct Rule {
    names: &'static [&'static str],
    action: RuleAction,
    args: &'static [Arg],
    includes: Cond,
    excludes: Cond,
}

enum RuleAction {
    Allow,
    Errno(u32),
}

struct Cond {
    caps: &'static [&'static str],
    arches: &'static [&'static str],
    min_kernel: Option<(u64, u64)>,
}

struct Arg {
    index: usize,
    value: u64,
    value_two: u64,
    op: Op,
}

enum Op {
    Eq,
    Lt,
    Gt,
    MaskedEq,
}

impl Arg {
    fn to_oci(&self) -> LinuxSeccompArg {
        let op = match self.op {
            Op::Eq => LinuxSeccompOperator::ScmpCmpEq,
            Op::Lt => LinuxSeccompOperator::ScmpCmpLt,
            Op::Gt => LinuxSeccompOperator::ScmpCmpGt,
            Op::MaskedEq => LinuxSeccompOperator::ScmpCmpMaskedEq,
        };
        let mut b = LinuxSeccompArgBuilder::default().index(self.index).value(self.value).op(op);
        if self.value_two != 0 || matches!(self.op, Op::MaskedEq) {
            b = b.value_two(self.value_two);
        }
        // Every field is set: the builder cannot fail.
        b.build().unwrap_or_default()
    }
}

fn invalid(msg: impl Into<String>) -> SpecError {
    SpecError::InvalidSeccomp(msg.into())
}

/// `"<kernel>.<major>"` as moby parses it.
fn parse_min_kernel(s: &str) -> Result<Option<(u64, u64)>, SpecError> {
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || invalid(format!("invalid kernel version: {s:?}, expected \"<kernel>.<major>\""));
    let (a, b) = s.split_once('.').ok_or_else(bad)?;
    let a: u8 = a.parse().map_err(|_| bad())?;
    let b: u8 = b.parse().map_err(|_| bad())?;
    if a == 0 && b == 0 {
        return Err(bad());
    }
    Ok(Some((a as u64, b as u64)))
}

/// An architecture name as the OCI types know it; None for those they do not (e.g.
/// `SCMP_ARCH_LOONGARCH64`), which are left out.
fn oci_arch(name: &str) -> Option<Arch> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

fn native_scmp_arch(go: &str) -> Option<&'static str> {
    Some(match go {
        "x86" => "SCMP_ARCH_X86",
        "amd64" => "SCMP_ARCH_X86_64",
        "arm" => "SCMP_ARCH_ARM",
        "arm64" => "SCMP_ARCH_AARCH64",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mipsel64" => "SCMP_ARCH_MIPSEL64",
        "ppc64" => "SCMP_ARCH_PPC64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        _ => return None,
    })
}

impl Profile {
    /// Parse a profile as `--security-opt seccomp=...` carries it (the file's content).
    pub fn parse(json: &str) -> Result<Profile, SpecError> {
        serde_json::from_str(json).map_err(|e| invalid(format!("Decoding seccomp profile failed: {e}")))
    }

    /// The OCI filter for a container whose bounding set is `caps`, on `target` (moby's
    /// `setupSeccomp`). None when the profile has neither a default action nor rules.
    pub fn to_oci(&self, caps: &[Capability], target: &Target) -> Result<Option<LinuxSeccomp>, SpecError> {
        let rules = self.syscalls.as_deref().unwrap_or_default();
        let Some(default_action) = self.default_action else {
            if rules.is_empty() {
                return Ok(None);
            }
            return Err(invalid("the seccomp profile has rules but no defaultAction"));
        };
        if self.architectures.as_ref().is_some_and(|a| !a.is_empty())
            && self.arch_map.as_ref().is_some_and(|a| !a.is_empty())
        {
            return Err(invalid(
                "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
            ));
        }
        if self.listener_path.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(SpecError::NotImplemented("seccomp notify listeners are not supported".into()));
        }
        let mut arches: Vec<Arch> = self.architectures.iter().flatten().filter_map(|a| oci_arch(a)).collect();
        if let Some(native) = native_scmp_arch(target.arch) {
            if let Some(m) = self.arch_map.iter().flatten().find(|m| m.architecture == native) {
                arches.extend(oci_arch(&m.architecture));
                arches.extend(m.sub_architectures.iter().flatten().filter_map(|a| oci_arch(a)));
            }
        }
        let holds = |c: &String| caps.iter().any(|k| capability_name(*k) == c);
        let mut syscalls = Vec::new();
        for r in rules {
            if r.name.as_ref().is_some_and(|n| !n.is_empty()) && r.names.as_ref().is_some_and(|n| !n.is_empty()) {
                return Err(invalid(
                    "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'",
                ));
            }
            if let Some(x) = &r.excludes {
                if x.arches.iter().flatten().any(|a| a == target.arch) || x.caps.iter().flatten().any(holds) {
                    continue;
                }
                if let Some(k) = parse_min_kernel(x.min_kernel.as_deref().unwrap_or(""))? {
                    if target.kernel >= k {
                        continue;
                    }
                }
            }
            if let Some(i) = &r.includes {
                if let Some(a) = i.arches.as_ref().filter(|a| !a.is_empty()) {
                    if !a.iter().any(|a| a == target.arch) {
                        continue;
                    }
                }
                if !i.caps.iter().flatten().all(holds) {
                    continue;
                }
                if let Some(k) = parse_min_kernel(i.min_kernel.as_deref().unwrap_or(""))? {
                    if target.kernel < k {
                        continue;
                    }
                }
            }
            let names = match (&r.name, &r.names) {
                (Some(n), _) if !n.is_empty() => vec![n.clone()],
                (_, Some(n)) => n.clone(),
                _ => Vec::new(),
            };
            let mut s = LinuxSyscall::default();
            s.set_names(names);
            s.set_action(r.action);
            s.set_errno_ret(r.errno_ret);
            s.set_args(r.args.clone());
            syscalls.push(s);
        }
        let mut out = LinuxSeccomp::default();
        out.set_default_action(default_action);
        out.set_default_errno_ret(self.default_errno_ret);
        out.set_architectures((!arches.is_empty()).then_some(arches));
        out.set_flags(self.flags.clone().filter(|f| !f.is_empty()));
        out.set_listener_path(None);
        out.set_listener_metadata(None);
        out.set_syscalls((!syscalls.is_empty()).then_some(syscalls));
        Ok(Some(out))
    }
}

/// The daemon's choice for containers that name no profile (`--seccomp-profile`).
#[derive(Debug, Clone, Default)]
pub enum DaemonProfile {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter (`--seccomp-profile unconfined`).
    Unconfined,
    /// A profile read from the daemon's `--seccomp-profile` file.
    Custom(std::sync::Arc<Profile>),
}

/// The profile a container asked for with `--security-opt seccomp=...` (or `seccomp:...`):
/// None when it named none; `unconfined`, `builtin` or the profile's JSON otherwise.
pub fn requested(host_config: &HostConfig) -> Option<&str> {
    host_config.security_opt.iter().flatten().rev().find_map(|o| {
        o.strip_prefix("seccomp=").or_else(|| o.strip_prefix("seccomp:"))
    })
}

/// Which profile applies to a container, as moby's `WithSeccomp` decides: `seccomp=unconfined`
/// -> none; a privileged container -> none unless it names a profile; `seccomp=builtin` ->
/// Docker's default; a profile of its own; else the daemon's choice.
pub enum Choice<'a> {
    /// No filter.
    Unconfined,
    /// Docker's default profile.
    Default,
    /// The daemon's `--seccomp-profile`.
    Daemon(&'a Profile),
    /// The container's own profile, as JSON.
    Json(&'a str),
}

/// Decide the profile of a container (see [`Choice`]).
pub fn choose<'a>(host_config: &'a HostConfig, daemon: &'a DaemonProfile) -> Choice<'a> {
    let privileged = host_config.privileged.unwrap_or(false);
    match requested(host_config) {
        Some("unconfined") => Choice::Unconfined,
        Some("builtin") if !privileged => Choice::Default,
        Some(j) if !j.is_empty() && j != "builtin" => Choice::Json(j),
        _ if privileged => Choice::Unconfined,
        _ => match daemon {
            DaemonProfile::Default => Choice::Default,
            DaemonProfile::Unconfined => Choice::Unconfined,
            DaemonProfile::Custom(p) => Choice::Daemon(p),
        },
    }
}

/// The OCI filter of a container: [`choose`] then [`Profile::to_oci`] for its bounding set.
pub fn container_filter(
    host_config: &HostConfig,
    daemon: &DaemonProfile,
    caps: &[Capability],
    target: &Target,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    match choose(host_config, daemon) {
        Choice::Unconfined => Ok(None),
        Choice::Default => default_profile().to_oci(caps, target),
        Choice::Daemon(p) => p.to_oci(caps, target),
        Choice::Json(j) => Profile::parse(j)?.to_oci(caps, target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{all_capabilities, effective_capabilities};

    const AMD64: Target = Target { arch: "amd64", kernel: (6, 18) };

    fn names(s: &LinuxSeccomp) -> Vec<(String, LinuxSeccompAction, Option<u32>, usize)> {
        s.syscalls()
            .iter()
            .flatten()
            .flat_map(|r| {
                r.names().iter().map(move |n| (n.clone(), r.action(), r.errno_ret(), r.args().as_ref().map_or(0, |a| a.len())))
            })
            .collect()
    }

    fn allowed(s: &LinuxSeccomp, name: &str) -> bool {
        names(s).iter().any(|(n, a, _, _)| n == name && *a == LinuxSeccompAction::ScmpActAllow)
    }

    fn default_caps() -> Vec<Capability> {
        effective_capabilities(&[], &[], false, &all_capabilities()).expect("caps")
    }

    #[test]
    fn default_profile_per_capability() {
        let base = default_profile().to_oci(&default_caps(), &AMD64).expect("ok").expect("some");
        assert_eq!(base.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(base.default_errno_ret(), Some(1));
        assert_eq!(
            base.architectures().clone().unwrap_or_default(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        // (syscall, extra capability that enables it)
        let table: &[(&str, Option<&str>)] = &[
            ("read", None),
            ("execve", None),
            ("arch_prctl", None),
            ("chroot", None), // CAP_SYS_CHROOT is a default capability
            ("mount", Some("SYS_ADMIN")),
            ("unshare", Some("SYS_ADMIN")),
            ("setns", Some("SYS_ADMIN")),
            ("sethostname", Some("SYS_ADMIN")),
            ("ptrace", None), // from kernel 4.8 on
            ("process_vm_readv", None),
            ("kcmp", Some("SYS_PTRACE")),
            ("pidfd_getfd", Some("SYS_PTRACE")),
            ("finit_module", Some("SYS_MODULE")),
            ("init_module", Some("SYS_MODULE")),
            ("reboot", Some("SYS_BOOT")),
            ("acct", Some("SYS_PACCT")),
            ("iopl", Some("SYS_RAWIO")),
            ("settimeofday", Some("SYS_TIME")),
            ("syslog", Some("SYSLOG")),
            ("bpf", Some("BPF")),
            ("perf_event_open", Some("PERFMON")),
            ("open_by_handle_at", Some("DAC_READ_SEARCH")),
            ("mbind", Some("SYS_NICE")),
            ("vhangup", Some("SYS_TTY_CONFIG")),
        ];
        for (call, cap) in table {
            match cap {
                None => assert!(allowed(&base, call), "{call} allowed by default"),
                Some(c) => {
                    assert!(!allowed(&base, call), "{call} denied by default");
                    let caps = effective_capabilities(&[c.to_string()], &[], false, &all_capabilities()).expect("caps");
                    let f = default_profile().to_oci(&caps, &AMD64).expect("ok").expect("some");
                    assert!(allowed(&f, call), "{call} allowed with {c}");
                }
            }
        }
        // Arch-only calls of other architectures are left out.
        assert!(!names(&base).iter().any(|(n, ..)| n == "s390_runtime_instr" || n == "set_tls"));
    }

    #[test]
    fn clone_is_filtered_without_sys_admin() {
        let base = default_profile().to_oci(&default_caps(), &AMD64).expect("ok").expect("some");
        let clones: Vec<_> = names(&base).into_iter().filter(|(n, ..)| n == "clone" || n == "clone3").collect();
        assert_eq!(
            clones,
            vec![
                ("clone".to_string(), LinuxSeccompAction::ScmpActAllow, None, 1),
                ("clone3".to_string(), LinuxSeccompAction::ScmpActErrno, Some(38), 0),
            ]
        );
        let caps = effective_capabilities(&["SYS_ADMIN".into()], &[], false, &all_capabilities()).expect("caps");
        let admin = default_profile().to_oci(&caps, &AMD64).expect("ok").expect("some");
        let clones: Vec<_> = names(&admin).into_iter().filter(|(n, ..)| n == "clone" || n == "clone3").collect();
        assert_eq!(
            clones,
            vec![
                ("clone".to_string(), LinuxSeccompAction::ScmpActAllow, None, 0),
                ("clone3".to_string(), LinuxSeccompAction::ScmpActAllow, None, 0),
            ]
        );
    }

    #[test]
    fn min_kernel_gates_ptrace() {
        let old = Target { arch: "amd64", kernel: (4, 4) };
        let f = default_profile().to_oci(&default_caps(), &old).expect("ok").expect("some");
        assert!(!allowed(&f, "ptrace"));
        let f = default_profile().to_oci(&default_caps(), &AMD64).expect("ok").expect("some");
        assert!(allowed(&f, "ptrace"));
    }

    #[test]
    fn parse_profiles() {
        let table: &[(&str, Result<usize, &str>)] = &[
            // (profile JSON, number of rules in the OCI filter or the error)
            (r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#, Ok(0)),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","chmod"],"action":"SCMP_ACT_ERRNO"}]}"#,
                Ok(1),
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO"}]}"#,
                Ok(1),
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#,
                Ok(0),
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","excludes":{"arches":["amd64"]}}]}"#,
                Ok(0),
            ),
            (r#"{}"#, Err("none")),
            (r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#, Err("Decoding seccomp profile failed: ")),
            (r#"not json"#, Err("Decoding seccomp profile failed: ")),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
                Err("both 'architectures' and 'archMap' are specified"),
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}"#,
                Err("both 'name' and 'names' are specified"),
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}"#,
                Err("invalid kernel version"),
            ),
        ];
        for (json, want) in table {
            let got = Profile::parse(json).and_then(|p| p.to_oci(&default_caps(), &AMD64));
            match (got, want) {
                (Ok(Some(f)), Ok(n)) => assert_eq!(f.syscalls().as_ref().map_or(0, |s| s.len()), *n, "{json}"),
                (Ok(None), Err("none")) => {}
                (Err(e), Err(w)) => assert!(e.to_string().starts_with(w) || e.to_string().contains(w), "{json}: {e}"),
                (got, want) => panic!("{json}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn choices() {
        let hc = |opts: &[&str], privileged: bool| HostConfig {
            security_opt: Some(opts.iter().map(|s| s.to_string()).collect()),
            privileged: Some(privileged),
            ..Default::default()
        };
        let custom = DaemonProfile::Custom(std::sync::Arc::new(Profile::default()));
        let table: &[(&[&str], bool, &DaemonProfile, &str)] = &[
            (&[], false, &DaemonProfile::Default, "default"),
            (&[], true, &DaemonProfile::Default, "unconfined"),
            (&["seccomp=unconfined"], false, &DaemonProfile::Default, "unconfined"),
            (&["seccomp:unconfined"], false, &DaemonProfile::Default, "unconfined"),
            (&["seccomp=builtin"], false, &DaemonProfile::Unconfined, "default"),
            (&["seccomp={}"], false, &DaemonProfile::Default, "json"),
            (&["seccomp={}"], true, &DaemonProfile::Default, "json"),
            (&[], false, &DaemonProfile::Unconfined, "unconfined"),
            (&[], false, &custom, "daemon"),
            (&[], true, &custom, "unconfined"),
            (&["no-new-privileges"], false, &DaemonProfile::Default, "default"),
        ];
        for (opts, privileged, daemon, want) in table {
            let h = hc(opts, *privileged);
            let got = match choose(&h, daemon) {
                Choice::Unconfined => "unconfined",
                Choice::Default => "default",
                Choice::Daemon(_) => "daemon",
                Choice::Json(_) => "json",
            };
            assert_eq!(got, *want, "{opts:?} privileged={privileged}");
        }
    }

    #[test]
    fn kernel_release() {
        assert_eq!(Target::parse_kernel("6.18.0-1-amd64"), Some((6, 18)));
        assert_eq!(Target::parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(Target::parse_kernel("x"), None);
    }
}
