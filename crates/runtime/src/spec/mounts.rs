//! Mounts: Docker's defaults, `Binds`, `Mounts` (bind and tmpfs), `Tmpfs`, the per-container
//! network files, and how `ReadonlyRootfs` and `Privileged` change them (moby
//! `daemon/oci_linux.go` `withMounts`, `volume/mounts/linux_parser.go`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bollard_stubs::models::{
    HostConfig, Mount as ApiMount, MountBindOptionsPropagationEnum, MountType,
};
use oci_spec::runtime::Mount;

use super::SpecError;
use crate::merge::clean_path;

/// Docker's default `/dev/shm` size: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// Where the init binary appears inside the container.
pub const INIT_PATH: &str = "/sbin/docker-init";

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|s| s.to_string()).collect()));
    m
}

/// Docker's default mounts, before `/dev/shm` gets its size.
pub fn default_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777"],
        ),
    ]
}

/// A mount the user (or the engine on the user's behalf) asked for.
#[derive(Debug, Clone)]
pub(crate) enum UserMount {
    Bind {
        source: String,
        dest: String,
        writable: bool,
        propagation: Option<String>,
        non_recursive: bool,
        ro_non_recursive: bool,
        ro_force_recursive: bool,
    },
    Tmpfs {
        dest: String,
        data: String,
    },
}

impl UserMount {
    fn dest(&self) -> &str {
        match self {
            UserMount::Bind { dest, .. } | UserMount::Tmpfs { dest, .. } => dest,
        }
    }
}

fn bind(source: &str, dest: &str, writable: bool) -> UserMount {
    UserMount::Bind {
        source: source.to_string(),
        dest: dest.to_string(),
        writable,
        propagation: Some("rprivate".into()),
        non_recursive: false,
        ro_non_recursive: false,
        ro_force_recursive: false,
    }
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn invalid_spec(raw: &str, why: impl std::fmt::Display) -> SpecError {
    SpecError::InvalidMount(format!("invalid volume specification: '{raw}': {why}"))
}

/// Parse one `Binds` entry: `host-src:container-dest[:options]`.
pub(crate) fn parse_bind(raw: &str) -> Result<UserMount, SpecError> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => {
            return Err(SpecError::NotImplemented(format!(
                "anonymous volumes are not supported yet: '{dst}'"
            )))
        }
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => {
            return Err(SpecError::InvalidMount(format!(
                "invalid volume specification: '{raw}'"
            )))
        }
    };
    if src.is_empty() {
        return Err(SpecError::InvalidMount(format!(
            "invalid volume specification: '{raw}'"
        )));
    }
    if !src.starts_with('/') {
        return Err(SpecError::NotImplemented(format!(
            "named volumes are not supported yet: '{src}'"
        )));
    }
    if !dst.starts_with('/') {
        return Err(invalid_spec(
            raw,
            format!("invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute"),
        ));
    }
    if clean_path(dst) == "/" {
        return Err(SpecError::InvalidMount(format!(
            "invalid specification: destination can't be '/' in '{raw}'"
        )));
    }
    let mut writable = true;
    let mut propagation: Option<String> = None;
    let mut rw_seen = false;
    if !mode.is_empty() {
        for m in mode.split(',') {
            match m {
                "rw" | "ro" => {
                    if rw_seen {
                        return Err(SpecError::InvalidMount(format!("invalid mode: {mode}")));
                    }
                    rw_seen = true;
                    writable = m == "rw";
                }
                "z" | "Z" | "consistent" | "cached" | "delegated" => {}
                p if PROPAGATIONS.contains(&p) => {
                    if propagation.is_some() {
                        return Err(SpecError::InvalidMount(format!("invalid mode: {mode}")));
                    }
                    propagation = Some(p.to_string());
                }
                _ => return Err(SpecError::InvalidMount(format!("invalid mode: {mode}"))),
            }
        }
    }
    Ok(UserMount::Bind {
        source: clean_path(src),
        dest: clean_path(dst),
        writable,
        propagation: Some(propagation.unwrap_or_else(|| "rprivate".into())),
        non_recursive: false,
        ro_non_recursive: false,
        ro_force_recursive: false,
    })
}

fn mount_config_err(typ: &str, why: impl std::fmt::Display) -> SpecError {
    SpecError::InvalidMount(format!("invalid mount config for type \"{typ}\": {why}"))
}

/// Convert one `Mount` of the API (bind and tmpfs; volumes are not built yet).
pub(crate) fn parse_api_mount(m: &ApiMount) -> Result<UserMount, SpecError> {
    let typ = m.typ.unwrap_or(MountType::BIND);
    let target = m.target.as_deref().unwrap_or("");
    let tname = typ.to_string();
    if target.is_empty() {
        return Err(mount_config_err(&tname, "field Target must not be empty"));
    }
    if !target.starts_with('/') {
        return Err(mount_config_err(
            &tname,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ));
    }
    let read_only = m.read_only.unwrap_or(false);
    match typ {
        MountType::BIND => {
            let source = m.source.as_deref().unwrap_or("");
            if source.is_empty() {
                return Err(mount_config_err("bind", "field Source must not be empty"));
            }
            if !source.starts_with('/') {
                return Err(mount_config_err(
                    "bind",
                    format!("invalid mount path: '{source}' mount path must be absolute"),
                ));
            }
            if m.tmpfs_options.is_some() {
                return Err(mount_config_err(
                    "bind",
                    "field TmpfsOptions must not be specified",
                ));
            }
            if m.volume_options.is_some() {
                return Err(mount_config_err(
                    "bind",
                    "field VolumeOptions must not be specified",
                ));
            }
            let bo = m.bind_options.clone().unwrap_or_default();
            let propagation = match bo.propagation {
                None | Some(MountBindOptionsPropagationEnum::EMPTY) => "rprivate".to_string(),
                Some(p) => p.to_string(),
            };
            let ro_nr = bo.read_only_non_recursive.unwrap_or(false);
            let ro_fr = bo.read_only_force_recursive.unwrap_or(false);
            if !read_only && ro_nr {
                return Err(SpecError::InvalidMount(
                    "mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive".into(),
                ));
            }
            if !read_only && ro_fr {
                return Err(SpecError::InvalidMount(
                    "mount options conflict: !ReadOnly && BindOptions.ReadOnlyForceRecursive"
                        .into(),
                ));
            }
            if ro_nr && ro_fr {
                return Err(SpecError::InvalidMount(
                    "mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive"
                        .into(),
                ));
            }
            Ok(UserMount::Bind {
                source: clean_path(source),
                dest: clean_path(target),
                writable: !read_only,
                propagation: Some(propagation),
                non_recursive: bo.non_recursive.unwrap_or(false),
                ro_non_recursive: ro_nr,
                ro_force_recursive: ro_fr,
            })
        }
        MountType::TMPFS => {
            if m.source.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(mount_config_err(
                    "tmpfs",
                    "field Source must not be specified",
                ));
            }
            if m.bind_options.is_some() {
                return Err(mount_config_err(
                    "tmpfs",
                    "field BindOptions must not be specified",
                ));
            }
            let mut raw: Vec<String> = Vec::new();
            if read_only {
                raw.push("ro".into());
            }
            if let Some(o) = &m.tmpfs_options {
                if let Some(mode) = o.mode.filter(|m| *m != 0) {
                    raw.push(format!("mode={mode:o}"));
                }
                if let Some(size) = o.size_bytes.filter(|s| *s != 0) {
                    if size < 0 {
                        return Err(mount_config_err("tmpfs", "invalid tmpfs size"));
                    }
                    raw.push(format!("size={}", size_with_suffix(size)));
                }
                for opt in o.options.iter().flatten() {
                    match opt.as_slice() {
                        [k] if k == "exec" || k == "noexec" => raw.push(k.clone()),
                        [k, v] if k == "exec" || k == "noexec" => raw.push(format!("{k}={v}")),
                        [_] | [_, _] => {
                            return Err(SpecError::InvalidMount(format!(
                                "invalid option: {}",
                                opt[0]
                            )))
                        }
                        _ => {
                            return Err(SpecError::InvalidMount(
                                "invalid option array length".into(),
                            ))
                        }
                    }
                }
            }
            Ok(UserMount::Tmpfs {
                dest: clean_path(target),
                data: raw.join(","),
            })
        }
        MountType::VOLUME => Err(SpecError::NotImplemented(
            "mounts of type volume are not supported yet".into(),
        )),
        other => Err(SpecError::NotImplemented(format!(
            "mounts of type {other} are not supported"
        ))),
    }
}

/// moby's tmpfs size rendering: the largest of g, m, k that divides the size evenly.
fn size_with_suffix(size: i64) -> String {
    for (suffix, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if size % div == 0 {
            return format!("{}{suffix}", size / div);
        }
    }
    size.to_string()
}

/// The collision key of a mount flag for tmpfs option merging; `None` for data options.
fn flag_key(opt: &str) -> Option<&'static str> {
    Some(match opt {
        "ro" | "rw" => "rdonly",
        "suid" | "nosuid" => "nosuid",
        "dev" | "nodev" => "nodev",
        "exec" | "noexec" => "noexec",
        "sync" | "async" => "sync",
        "dirsync" => "dirsync",
        "remount" => "remount",
        "mand" | "nomand" => "mand",
        "atime" | "noatime" => "noatime",
        "diratime" | "nodiratime" => "nodiratime",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        "bind" | "rbind" | "unbindable" | "runbindable" | "private" | "rprivate" | "shared"
        | "rshared" | "slave" | "rslave" => "propagation",
        _ => return None,
    })
}

/// moby's `MergeTmpfsOptions`: later options win over earlier ones of the same kind.
pub(crate) fn merge_tmpfs_options(options: &[String]) -> Result<Vec<String>, SpecError> {
    let mut seen_flags: HashSet<&str> = HashSet::new();
    let mut seen_data: HashSet<String> = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for opt in options.iter().rev() {
        if opt == "defaults" {
            continue;
        }
        if let Some(key) = flag_key(opt) {
            if seen_flags.insert(key) {
                out.push(opt.clone());
            }
            continue;
        }
        let valid = matches!(
            opt.split_once('='),
            Some((
                "" | "size" | "mode" | "uid" | "gid" | "nr_inodes" | "nr_blocks" | "mpol",
                _
            ))
        );
        if !valid {
            return Err(SpecError::InvalidMount(format!(
                "invalid tmpfs option {opt:?}"
            )));
        }
        let key = opt
            .split_once('=')
            .map(|(k, _)| k.to_string())
            .unwrap_or_default();
        if seen_data.insert(key) {
            out.push(opt.clone());
        }
    }
    out.reverse();
    Ok(out)
}

fn depth(dest: &str) -> usize {
    clean_path(dest).matches('/').count()
}

/// Everything [`assemble`] needs besides the HostConfig.
pub(crate) struct MountPlan<'a> {
    pub host_config: &'a HostConfig,
    pub ipc: IpcPlan,
    pub files: &'a super::ContainerFiles,
    pub init: Option<&'a Path>,
    pub recursive_readonly: bool,
}

/// What the IPC mode means for `/dev/shm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpcPlan {
    /// The container's own tmpfs at `/dev/shm`.
    Private,
    /// No `/dev/shm` at all (`IpcMode=none`).
    NoShm,
    /// The host's `/dev/shm` bound in (`IpcMode=host`).
    HostShm,
}

/// The user mounts, in the order moby hands them to the spec: IPC, tmpfs, binds and API
/// mounts, then the network files; sorted by depth (stable) so that parents come first.
pub(crate) fn user_mounts(plan: &MountPlan<'_>) -> Result<Vec<UserMount>, SpecError> {
    let hc = plan.host_config;
    let mut ms: Vec<UserMount> = Vec::new();
    let mut tmpfs: Vec<(&String, &String)> = hc.tmpfs.iter().flatten().collect();
    tmpfs.sort();
    for (dest, data) in tmpfs {
        if !dest.starts_with('/') {
            return Err(SpecError::InvalidMount(format!(
                "invalid tmpfs destination: '{dest}' mount path must be absolute"
            )));
        }
        ms.push(UserMount::Tmpfs {
            dest: clean_path(dest),
            data: data.clone(),
        });
    }
    for b in hc.binds.iter().flatten() {
        ms.push(parse_bind(b)?);
    }
    for m in hc.mounts.iter().flatten() {
        ms.push(parse_api_mount(m)?);
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for m in &ms {
        if !seen.insert(m.dest()) {
            return Err(SpecError::InvalidMount(format!(
                "duplicate mount point: {}",
                m.dest()
            )));
        }
    }
    // With the host's IPC namespace the host's /dev/shm is bound in, unless the user mounts
    // something there.
    if plan.ipc == IpcPlan::HostShm && !ms.iter().any(|m| m.dest() == "/dev/shm") {
        ms.insert(0, bind("/dev/shm", "/dev/shm", true));
    }
    let writable_files = !hc.readonly_rootfs.unwrap_or(false);
    for (path, dest) in [
        (&plan.files.resolv_conf, "/etc/resolv.conf"),
        (&plan.files.hostname, "/etc/hostname"),
        (&plan.files.hosts, "/etc/hosts"),
    ] {
        if let Some(p) = path {
            if !ms.iter().any(|m| m.dest() == dest) {
                ms.push(bind(&p.to_string_lossy(), dest, writable_files));
            }
        }
    }
    ms.sort_by_key(|m| depth(m.dest()));
    Ok(ms)
}

fn clear_ro(m: &mut Mount) {
    if let Some(o) = m.options().clone() {
        m.set_options(Some(o.into_iter().filter(|x| x != "ro").collect()));
    }
}

/// All mounts of the spec, as moby's `withMounts` builds them.
pub(crate) fn assemble(
    plan: &MountPlan<'_>,
    privileged: bool,
    writable_cgroups: bool,
) -> Result<(Vec<Mount>, Option<String>), SpecError> {
    let hc = plan.host_config;
    let user = user_mounts(plan)?;
    let user_dests: HashSet<&str> = user.iter().map(|m| m.dest()).collect();
    let user_dev = user_dests.contains("/dev");
    let shm_size = match hc.shm_size {
        None | Some(0) => DEFAULT_SHM_SIZE,
        Some(s) if s < 0 => {
            return Err(SpecError::InvalidResources(
                "SHM size can not be less than 0".into(),
            ))
        }
        Some(s) => s,
    };

    let mut out: Vec<Mount> = Vec::new();
    for mut m in default_mounts() {
        let dest = m.destination().to_string_lossy().to_string();
        if user_dests.contains(dest.as_str()) || (user_dev && dest.starts_with("/dev/")) {
            continue;
        }
        if dest == "/dev/shm" {
            if plan.ipc != IpcPlan::Private {
                continue;
            }
            let mut o = m.options().clone().unwrap_or_default();
            o.push(format!("size={shm_size}"));
            m.set_options(Some(o));
        }
        out.push(m);
    }
    if let Some(init) = plan.init {
        out.push(mount(
            INIT_PATH,
            "bind",
            &init.to_string_lossy(),
            &["bind", "ro"],
        ));
    }
    let n_defaults = out.len();

    let mut rootfs_propagation: Option<String> = None;
    for um in &user {
        match um {
            UserMount::Tmpfs { dest, data } => {
                let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                if !data.is_empty() {
                    opts.extend(data.split(',').map(str::to_string));
                }
                let merged = merge_tmpfs_options(&opts)?;
                let refs: Vec<&str> = merged.iter().map(String::as_str).collect();
                out.push(mount(dest, "tmpfs", "tmpfs", &refs));
            }
            UserMount::Bind {
                source,
                dest,
                writable,
                propagation,
                non_recursive,
                ro_non_recursive,
                ro_force_recursive,
            } => {
                let mut opts: Vec<&str> = vec![if *non_recursive { "bind" } else { "rbind" }];
                if !writable {
                    let mut rro = !ro_non_recursive;
                    if !plan.recursive_readonly {
                        if *ro_force_recursive {
                            return Err(SpecError::NotImplemented(
                                "recursively read-only mounts are not supported on this host"
                                    .into(),
                            ));
                        }
                        rro = false;
                    }
                    opts.push(if rro { "rro" } else { "ro" });
                }
                if let Some(p) = propagation.as_deref() {
                    match p {
                        "shared" | "rshared" => rootfs_propagation = Some("shared".into()),
                        "slave" | "rslave" if rootfs_propagation.as_deref() != Some("shared") => {
                            rootfs_propagation = Some("rslave".into())
                        }
                        _ => {}
                    }
                    opts.push(p);
                }
                out.push(mount(dest, "bind", source, &opts));
            }
        }
    }

    if hc.readonly_rootfs.unwrap_or(false) {
        for m in out.iter_mut().take(n_defaults) {
            let dest = m.destination().to_string_lossy();
            if matches!(
                dest.as_ref(),
                "/proc" | "/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev"
            ) {
                continue;
            }
            let mut o = m.options().clone().unwrap_or_default();
            if !o.iter().any(|x| x == "ro") {
                o.push("ro".into());
                m.set_options(Some(o));
            }
        }
    }
    if privileged {
        for m in out.iter_mut() {
            if m.destination() == Path::new("/sys") {
                clear_ro(m);
            }
        }
    }
    if writable_cgroups {
        for m in out.iter_mut() {
            if m.typ().as_deref() == Some("cgroup") {
                clear_ro(m);
            }
        }
    }
    Ok((out, rootfs_propagation))
}
