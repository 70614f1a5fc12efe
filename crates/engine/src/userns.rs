//! `--userns-remap`: the daemon's subordinate id range and what containers need to live in it.

use berth_runtime::spec::IdMappings;

use crate::Engine;

/// The daemon's user namespace mappings, when `--userns-remap` is on.
pub(crate) fn id_mappings(_engine: &Engine) -> Option<IdMappings> {
    None
}
