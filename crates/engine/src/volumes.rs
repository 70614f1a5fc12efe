//! Volumes: records, the `local` driver and volume plugins, and how containers use them.

use berth_api::models as m;
use berth_errdefs::Result;

use crate::containers::Record;
use crate::service::VolumeBackend;
use crate::{Config, Engine};

/// The daemon's volumes.
#[allow(dead_code)] // filled in by the volumes work
pub(crate) struct Volumes {}

impl Volumes {
    /// Open the volume records under the data root.
    pub(crate) fn open(_cfg: &Config, _store: berth_metadata::Store) -> Result<Volumes> {
        Ok(Volumes {})
    }
}

/// The HostConfig the spec is built from: named and anonymous volumes resolved to host paths.
pub(crate) fn spec_host_config(_engine: &Engine, rec: &Record) -> Result<m::HostConfig> {
    Ok(rec.host_config.clone())
}

impl VolumeBackend for std::sync::Arc<Engine> {}
