//! `/containers/{id}/stats` and `/containers/{id}/update`.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::models as m;
use berth_engine::service::ResourceBackend;
use futures_util::StreamExt;

use super::Shared;
use crate::error::ApiError;
use crate::params::{json, json_body, json_line, Id, Params};
use crate::version::ApiVersion;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/update", post(update))
}

/// `stream` defaults to true; `one-shot` (API 1.41+) only goes with `stream=false`.
fn stats_params(p: &Params, v: &ApiVersion) -> Result<(bool, bool), ApiError> {
    let stream = match p.get("stream") {
        None | Some("") => true,
        Some(_) => p.bool("stream"),
    };
    let one_shot = v.at_least("1.41") && p.bool("one-shot");
    if stream && one_shot {
        return Err(ApiError::invalid("cannot have stream=true and one-shot=true"));
    }
    Ok((stream, one_shot))
}

/// One JSON document per sample, flushed as it is made.
async fn stats(State(b): State<Shared>, v: ApiVersion, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    let (stream, one_shot) = stats_params(&p, &v)?;
    let samples = ResourceBackend::stats(&*b, &id, stream, one_shot).await?;
    let body = Body::from_stream(samples.map(|s| Ok::<_, Infallible>(json_line(&s))));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

async fn update(State(b): State<Shared>, Id(id): Id, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let req: m::ContainerUpdateBody = json_body(&headers, body).await?.unwrap_or_default();
    let resp = ResourceBackend::update(&*b, &id, req).await?;
    Ok(json(StatusCode::OK, &resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_parameters_follow_docker() {
        let new = ApiVersion("1.47".into());
        let old = ApiVersion("1.40".into());
        let cases: &[(&[(&str, &str)], &ApiVersion, Result<(bool, bool), &str>)] = &[
            (&[], &new, Ok((true, false))),
            (&[("stream", "0")], &new, Ok((false, false))),
            (&[("stream", "false"), ("one-shot", "1")], &new, Ok((false, true))),
            (&[("stream", "false"), ("one-shot", "1")], &old, Ok((false, false))),
            (&[("one-shot", "true")], &new, Err("cannot have stream=true and one-shot=true")),
        ];
        for (pairs, v, want) in cases {
            let got = stats_params(&Params::from_pairs(pairs), v).map_err(|e| e.message);
            assert_eq!(got, want.map_err(String::from), "{pairs:?}");
        }
    }
}
