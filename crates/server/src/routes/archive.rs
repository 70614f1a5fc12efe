//! `/containers/{id}/archive`: HEAD (stat), GET (tar out), PUT (tar in) — `docker cp`.

use axum::Router;

use super::Shared;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
}
