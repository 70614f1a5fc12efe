//! `/build` (the classic builder) and `/build/prune`.

use axum::Router;

use super::Shared;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
}
