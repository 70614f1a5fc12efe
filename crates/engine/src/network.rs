//! Networks on the engine (being built).

use berth_api::models as m;
use berth_errdefs::{Error, Result};

use crate::service::Filters;
use crate::Engine;

impl Engine {
    pub(crate) fn list_networks(&self, _filters: Filters) -> Result<Vec<m::NetworkInspect>> {
        Err(Error::not_implemented("networks are not supported yet"))
    }
    pub(crate) fn inspect_network(&self, id: &str, _verbose: bool) -> Result<m::NetworkInspect> {
        Err(Error::not_found(format!("network {id} not found")))
    }
    pub(crate) async fn create_network(&self, _req: m::NetworkCreateRequest) -> Result<m::NetworkCreateResponse> {
        Err(Error::not_implemented("networks are not supported yet"))
    }
    pub(crate) async fn remove_network(&self, id: &str) -> Result<()> {
        Err(Error::not_found(format!("network {id} not found")))
    }
    pub(crate) async fn connect_network(&self, id: &str, _req: m::NetworkConnectRequest) -> Result<()> {
        Err(Error::not_found(format!("network {id} not found")))
    }
    pub(crate) async fn disconnect_network(&self, id: &str, _req: m::NetworkDisconnectRequest) -> Result<()> {
        Err(Error::not_found(format!("network {id} not found")))
    }
    pub(crate) async fn prune_networks(&self, _filters: Filters) -> Result<m::NetworkPruneResponse> {
        Ok(m::NetworkPruneResponse::default())
    }
}
