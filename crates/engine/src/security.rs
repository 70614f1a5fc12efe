//! Isolation settings the engine decides per container: the seccomp filter and the user
//! namespace mappings of `--userns-remap`.

use berth_errdefs::Result;
use berth_runtime::spec::IdMappings;
use oci_spec::runtime::LinuxSeccomp;

use crate::containers::Record;
use crate::Engine;

/// The seccomp filter for a container: None (unconfined) for now.
pub(crate) fn seccomp(_engine: &Engine, _rec: &Record) -> Result<Option<LinuxSeccomp>> {
    Ok(None)
}

/// The daemon's user namespace mappings, when `--userns-remap` is on.
pub(crate) fn id_mappings(_engine: &Engine) -> Option<IdMappings> {
    None
}
