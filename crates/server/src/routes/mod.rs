//! One router per resource; each handler parses, calls the backend, encodes.

use std::sync::Arc;

use axum::Router;
use berth_engine::service::Backend;

use crate::error::ApiError;

pub(crate) mod archive;
pub(crate) mod auth;
pub(crate) mod build;
pub(crate) mod commit;
pub(crate) mod containers;
pub(crate) mod exec;
pub(crate) mod images;
pub(crate) mod networks;
pub(crate) mod resources;
pub(crate) mod system;
pub(crate) mod volumes;

/// The state every handler gets.
pub(crate) type Shared = Arc<dyn Backend>;

/// Every API route, unversioned paths only; version checks apply to matched routes, and
/// anything unmatched (path or method) is Docker's 404 `page not found`.
pub(crate) fn api(backend: Shared) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(exec::routes())
        .merge(images::routes())
        .merge(networks::routes())
        .merge(commit::routes())
        .merge(auth::routes())
        .merge(volumes::routes())
        .merge(archive::routes())
        .merge(resources::routes())
        .merge(build::routes())
        .route_layer(axum::middleware::from_fn(crate::drain::drain_unread_body))
        .route_layer(axum::middleware::from_fn(crate::version::check_version))
        .method_not_allowed_fallback(not_found)
        .fallback(not_found)
        .with_state(backend)
}

async fn not_found() -> ApiError {
    ApiError::page_not_found()
}
