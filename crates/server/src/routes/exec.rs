//! Exec: `POST /containers/{id}/exec`, `/exec/{id}/start|json|resize`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_api::models as m;

use super::Shared;
use crate::error::ApiError;
use crate::params::{empty, json, json_body, Id, Params};
use crate::routes::containers::resize_params;
use crate::stream::hijack;
use crate::version::ApiVersion;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

async fn create(
    State(b): State<Shared>,
    Id(container): Id,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let config: m::ExecConfig = json_body(&headers, body).await?.unwrap_or_default();
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::invalid("No exec command specified"));
    }
    let id = b.exec_create(&container, config).await?;
    Ok(json(StatusCode::CREATED, &serde_json::json!({ "Id": id })))
}

/// Detached: 200 with no body once started. Attached: the session is hijacked like attach.
async fn start(
    State(b): State<Shared>,
    v: ApiVersion,
    Id(id): Id,
    mut req: Request,
) -> Result<Response, ApiError> {
    let headers = std::mem::take(req.headers_mut());
    let body = std::mem::take(req.body_mut());
    let opts: m::ExecStartConfig = json_body(&headers, body).await?.unwrap_or_default();
    *req.headers_mut() = headers;
    let detach = opts.detach.unwrap_or(false);
    let session = b.exec_start(&id, detach, opts.tty).await?;
    let Some(session) = session.filter(|_| !detach) else {
        return Ok(empty(StatusCode::OK));
    };
    // The start call has no console size of its own; apply the requested one right away.
    if let Some([h, w]) = opts.console_size.as_deref() {
        if session.tty && (*h > 0 || *w > 0) {
            let (h, w) =
                (u16::try_from(*h).unwrap_or(u16::MAX), u16::try_from(*w).unwrap_or(u16::MAX));
            if let Err(e) = b.exec_resize(&id, h, w).await {
                tracing::debug!(exec = %id, error = %e, "initial exec resize");
            }
        }
    }
    Ok(hijack(&mut req, session, &v))
}

async fn inspect(State(b): State<Shared>, Id(id): Id) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &b.exec_inspect(&id).await?))
}

async fn resize(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    let (h, w) = resize_params(&p)?;
    b.exec_resize(&id, h, w).await?;
    Ok(empty(StatusCode::OK))
}
