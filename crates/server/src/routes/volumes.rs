//! `/volumes`: create, list, inspect, remove, prune, rename.

use axum::Router;

use super::Shared;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
}
