//! `POST /commit`, `GET /containers/{id}/export` and `GET /containers/{id}/changes`: a
//! container's filesystem as an image, as a tar, and what it changed.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::models as m;
use berth_engine::service::CommitRequest;

use super::Shared;
use crate::error::ApiError;
use crate::params::{json, json_body, Id, Params};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/commit", post(commit))
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/changes", get(changes))
}

/// `201 {"Id":"sha256:..."}`. The body is an optional container config (`null` or empty
/// from the CLI) whose fields override the container's.
async fn commit(
    State(b): State<Shared>,
    p: Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let config = json_body::<Option<m::ContainerConfig>>(&headers, body).await?.flatten();
    let req = CommitRequest {
        container: p.get("container").unwrap_or("").to_owned(),
        repo: p.non_empty("repo"),
        tag: p.non_empty("tag"),
        comment: p.non_empty("comment"),
        author: p.non_empty("author"),
        // As dockerd: only an explicit false-y `pause` leaves the container running.
        pause: p.get("pause").is_none() || p.bool("pause"),
        changes: p.all("changes"),
        config,
    };
    let id = b.commit(req).await?;
    // The generated `IdResponse` serializes `id` in lower case; dockerd says `Id`.
    Ok(json(StatusCode::CREATED, &serde_json::json!({ "Id": id })))
}

async fn export(State(b): State<Shared>, Id(id): Id) -> Result<Response, ApiError> {
    let stream = b.container_export(&id).await?;
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(resp)
}

/// `[{"Path":"/etc","Kind":0},...]`: 0 modified, 1 added, 2 deleted.
async fn changes(State(b): State<Shared>, Id(id): Id) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &b.container_changes(&id).await?))
}
