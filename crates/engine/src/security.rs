//! Isolation settings the engine decides per container: the seccomp filter.

use berth_errdefs::Result;
use oci_spec::runtime::LinuxSeccomp;

use crate::containers::Record;
use crate::Engine;

/// The seccomp filter for a container: None (unconfined) for now.
pub(crate) fn seccomp(_engine: &Engine, _rec: &Record) -> Result<Option<LinuxSeccomp>> {
    Ok(None)
}
