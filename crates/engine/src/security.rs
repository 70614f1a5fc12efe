//! Isolation settings the engine decides per container: the seccomp filter.
//!
//! The choice is moby's (`berth_runtime::spec::seccomp::choose`): `--privileged` -> none
//! unless the container names a profile; `--security-opt seccomp=unconfined` -> none;
//! `seccomp=<profile JSON>` (the CLI sends the file's content) -> that profile; otherwise the
//! daemon's `--seccomp-profile` (a file, or `unconfined`) or Docker's default profile. The
//! profile is resolved for the container's bounding set, so e.g. `--cap-add SYS_ADMIN` also
//! allows `mount`/`unshare`/`setns`.
//!
//! The container start path is the hot path: the resolved filter of the default (or daemon)
//! profile is cached per capability set, so a start pays one clone of it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use berth_errdefs::{Error, Result};
use berth_runtime::spec::seccomp::{self as sc, Choice, DaemonProfile, Profile, Target};
use berth_runtime::spec::{capability_name, effective_capabilities};
use oci_spec::runtime::LinuxSeccomp;

use crate::containers::Record;
use crate::Engine;

/// Resolved filters by (profile source, sorted capability names).
type Cache = HashMap<(String, Vec<&'static str>), Arc<Option<LinuxSeccomp>>>;

fn cache() -> &'static Mutex<Cache> {
    static C: OnceLock<Mutex<Cache>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// The daemon's `--seccomp-profile`, read once per path.
fn daemon_profile(path: Option<&Path>) -> Result<DaemonProfile> {
    let Some(path) = path else { return Ok(DaemonProfile::Default) };
    match path.to_str() {
        Some("unconfined") => return Ok(DaemonProfile::Unconfined),
        Some("builtin") | Some("") => return Ok(DaemonProfile::Default),
        _ => {}
    }
    static PROFILES: OnceLock<Mutex<HashMap<PathBuf, Arc<Profile>>>> = OnceLock::new();
    let map = PROFILES.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = map.get(path) {
        return Ok(DaemonProfile::Custom(p.clone()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::internal(format!("read seccomp profile {}: {e}", path.display())))?;
    let p = Arc::new(Profile::parse(&text).map_err(|e| Error::from_kind(&e))?);
    map.insert(path.to_path_buf(), p.clone());
    Ok(DaemonProfile::Custom(p))
}

/// The seccomp filter for a container (None: unconfined).
pub(crate) fn seccomp(engine: &Engine, rec: &Record) -> Result<Option<LinuxSeccomp>> {
    let hc = &rec.host_config;
    let daemon = daemon_profile(engine.cfg.seccomp_profile.as_deref())?;
    let choice = sc::choose(hc, &daemon);
    if matches!(choice, Choice::Unconfined) {
        return Ok(None);
    }
    let caps = effective_capabilities(
        hc.cap_add.as_deref().unwrap_or_default(),
        hc.cap_drop.as_deref().unwrap_or_default(),
        hc.privileged.unwrap_or(false),
        &engine.host.spec_facts.capabilities,
    )
    .map_err(|e| Error::from_kind(&e))?;
    let target = Target::native(Target::parse_kernel(&engine.host.kernel).unwrap_or((0, 0)));
    let source = match &choice {
        Choice::Default => "builtin".to_string(),
        Choice::Daemon(_) => engine.cfg.seccomp_profile.as_deref().unwrap_or(Path::new("")).display().to_string(),
        // A container's own profile is not cached (rare, and its text is the key).
        _ => return sc::container_filter(hc, &daemon, &caps, &target).map_err(|e| Error::from_kind(&e)),
    };
    let mut names: Vec<&'static str> = caps.iter().map(|c| capability_name(*c)).collect();
    names.sort_unstable();
    let key = (source, names);
    if let Some(f) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(f.as_ref().clone());
    }
    let filter = sc::container_filter(hc, &daemon, &caps, &target).map_err(|e| Error::from_kind(&e))?;
    cache().lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::new(filter.clone()));
    Ok(filter)
}
