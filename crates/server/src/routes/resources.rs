//! `/containers/{id}/stats` and `/containers/{id}/update`.

use axum::Router;

use super::Shared;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
}
