//! `/_ping`, `/version`, `/info`, `/system/df`, `/events`.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;

use super::Shared;
use crate::error::ApiError;
use crate::params::{json, json_line, Params};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/_ping", get(ping).head(ping_head))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(df))
        .route("/events", get(events))
}

/// Headers of both ping methods.
fn ping_response(body: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

async fn ping() -> Response {
    ping_response("OK")
}

async fn ping_head() -> Response {
    let mut resp = ping_response("");
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

async fn version(State(b): State<Shared>) -> Result<Response, ApiError> {
    let mut v = b.version().await?;
    v.api_version = Some(berth_api::API_VERSION.to_owned());
    v.min_api_version = Some(berth_api::MIN_API_VERSION.to_owned());
    Ok(json(StatusCode::OK, &v))
}

async fn info(State(b): State<Shared>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &b.info().await?))
}

async fn df(State(b): State<Shared>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &b.df().await?))
}

/// Newline-delimited JSON events; each is sent (and flushed) as it comes.
async fn events(State(b): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let since = p.timestamp("since")?;
    let until = p.timestamp("until")?.filter(|u| *u != 0.0);
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(ApiError::invalid(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                p.get("since").unwrap_or(""),
                p.get("until").unwrap_or("")
            )));
        }
    }
    let filters = p.filters()?;
    let stream = b.events(since, until, filters).await?;
    let body = Body::from_stream(stream.map(|ev| Ok::<_, Infallible>(json_line(&ev))));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}
