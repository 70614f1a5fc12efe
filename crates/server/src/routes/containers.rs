//! `/containers/...`: create, list, inspect, lifecycle, wait, logs, attach, resize, prune.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use berth_api::models as m;
use berth_engine::service::{AttachOptions, ContainerListOptions, LogsOptions, WaitCondition};
use berth_errdefs::Kind;
use bytes::Bytes;

use super::Shared;
use crate::compat::{add_legacy_network_settings, LEGACY_NETWORK_SETTINGS_UNTIL};
use crate::error::ApiError;
use crate::params::{empty, json, json_body, json_line, Id, Params};
use crate::stream::{chunk_body, hijack, stream_content_type};
use crate::version::ApiVersion;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/containers/json", get(list))
        .route("/containers/create", post(create))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/resize", post(resize))
}

async fn create(
    State(b): State<Shared>,
    p: Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let config: m::ContainerCreateBody = json_body(&headers, body).await?.ok_or_else(|| {
        ApiError::invalid("config cannot be empty in order to create a container")
    })?;
    let resp = b.create(p.non_empty("name"), config).await?;
    Ok(json(StatusCode::CREATED, &resp))
}

async fn list(State(b): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let mut filters = p.filters()?;
    // Pre-filter clients sent `since` and `before` as plain parameters.
    for key in ["since", "before"] {
        if let Some(v) = p.non_empty(key) {
            filters.entry(key.to_owned()).or_default().push(v);
        }
    }
    let opts = ContainerListOptions {
        all: p.bool("all"),
        limit: p.parse::<i64>("limit")?.filter(|n| *n > 0).map(|n| n as usize),
        size: p.bool("size"),
        filters,
    };
    Ok(json(StatusCode::OK, &b.list(opts).await?))
}

/// Before API 1.52 `NetworkSettings` also carries the deprecated top-level fields (see
/// [`add_legacy_network_settings`]).
async fn inspect(
    State(b): State<Shared>,
    v: ApiVersion,
    Id(id): Id,
    p: Params,
) -> Result<Response, ApiError> {
    let resp = b.inspect(&id, p.bool("size")).await?;
    if v.at_least(LEGACY_NETWORK_SETTINGS_UNTIL) {
        return Ok(json(StatusCode::OK, &resp));
    }
    let mut value = serde_json::to_value(&resp)
        .map_err(|e| ApiError::new(Kind::Internal, format!("cannot encode container {id}: {e}")))?;
    add_legacy_network_settings(&mut value);
    Ok(json(StatusCode::OK, &value))
}

async fn start(State(b): State<Shared>, Id(id): Id) -> Result<Response, ApiError> {
    b.start(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `signal` (API 1.42+) and `t` of stop and restart.
fn stop_params(p: &Params, v: &ApiVersion) -> Result<(Option<String>, Option<i64>), ApiError> {
    let signal = if v.at_least("1.42") { p.non_empty("signal") } else { None };
    Ok((signal, p.parse::<i64>("t")?))
}

async fn stop(
    State(b): State<Shared>,
    v: ApiVersion,
    Id(id): Id,
    p: Params,
) -> Result<Response, ApiError> {
    let (signal, t) = stop_params(&p, &v)?;
    b.stop(&id, signal, t).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn restart(
    State(b): State<Shared>,
    v: ApiVersion,
    Id(id): Id,
    p: Params,
) -> Result<Response, ApiError> {
    let (signal, t) = stop_params(&p, &v)?;
    b.restart(&id, signal, t).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn kill(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    b.kill(&id, p.non_empty("signal")).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn pause(State(b): State<Shared>, Id(id): Id) -> Result<Response, ApiError> {
    b.pause(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn unpause(State(b): State<Shared>, Id(id): Id) -> Result<Response, ApiError> {
    b.unpause(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Parse the `condition` of wait (empty: `not-running`).
pub(crate) fn wait_condition(raw: Option<&str>) -> Result<WaitCondition, ApiError> {
    match raw.unwrap_or("") {
        "" | "not-running" => Ok(WaitCondition::NotRunning),
        "next-exit" => Ok(WaitCondition::NextExit),
        "removed" => Ok(WaitCondition::Removed),
        other => Err(ApiError::invalid(format!("invalid condition: {other:?}"))),
    }
}

/// The container is resolved first (a 404 comes as a proper 404); then the 200 and its headers
/// go out at once, and the body follows when the condition is met. The CLI relies on this: it
/// waits before it starts the container.
async fn wait(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    let condition = wait_condition(p.get("condition"))?;
    let fut = b.wait(&id, condition).await?;
    let body = Body::from_stream(futures_util::stream::once(async move {
        let resp: m::ContainerWaitResponse = fut.await;
        Ok::<_, Infallible>(Bytes::from(json_line(&resp)))
    }));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

async fn remove(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    b.remove(&id, p.bool("force"), p.bool("v")).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn rename(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    let new_name = p
        .non_empty("name")
        .ok_or_else(|| ApiError::invalid("Neither old nor new names may be empty"))?;
    b.rename(&id, &new_name).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn top(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &b.top(&id, p.non_empty("ps_args")).await?))
}

/// Parse `tail`: `all`, empty, negative or garbage mean everything (as Docker does).
pub(crate) fn parse_tail(raw: Option<&str>) -> Option<usize> {
    raw.and_then(|t| t.trim().parse::<i64>().ok()).filter(|n| *n >= 0).map(|n| n as usize)
}

async fn logs(
    State(b): State<Shared>,
    v: ApiVersion,
    Id(id): Id,
    p: Params,
) -> Result<Response, ApiError> {
    let (stdout, stderr) = (p.bool("stdout"), p.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::invalid("must specify at least one of 'stdout' or 'stderr'"));
    }
    let opts = LogsOptions {
        follow: p.bool("follow"),
        stdout,
        stderr,
        since: p.timestamp("since")?.filter(|s| *s != 0.0),
        until: p.timestamp("until")?.filter(|u| *u != 0.0),
        timestamps: p.bool("timestamps"),
        tail: parse_tail(p.get("tail")),
    };
    let log = b.logs(&id, opts).await?;
    let mut resp = (StatusCode::OK, chunk_body(log.tty, log.chunks)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(stream_content_type(log.tty, &v)));
    Ok(resp)
}

async fn attach(
    State(b): State<Shared>,
    v: ApiVersion,
    Id(id): Id,
    p: Params,
    mut req: Request,
) -> Result<Response, ApiError> {
    let opts = AttachOptions {
        stdin: p.bool("stdin"),
        stdout: p.bool("stdout"),
        stderr: p.bool("stderr"),
        stream: p.bool("stream"),
        logs: p.bool("logs"),
        detach_keys: p.non_empty("detachKeys"),
    };
    let session = b.attach(&id, opts).await?;
    Ok(hijack(&mut req, session, &v))
}

/// Parse the `h` and `w` of a resize.
pub(crate) fn resize_params(p: &Params) -> Result<(u16, u16), ApiError> {
    let dim = |key: &str, what: &str| -> Result<u16, ApiError> {
        let raw = p.get(key).unwrap_or("");
        raw.trim()
            .parse::<u16>()
            .map_err(|_| ApiError::invalid(format!("invalid resize {what} {raw:?}")))
    };
    Ok((dim("h", "height")?, dim("w", "width")?))
}

/// Docker answers a resize with 200 and an empty body.
async fn resize(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    let (h, w) = resize_params(&p)?;
    b.resize(&id, h, w).await?;
    Ok(empty(StatusCode::OK))
}

async fn prune(State(b): State<Shared>, p: Params) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &b.prune(p.filters()?).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_values() {
        let cases = [
            (None, None),
            (Some("all"), None),
            (Some(""), None),
            (Some("-1"), None),
            (Some("junk"), None),
            (Some("0"), Some(0)),
            (Some("10"), Some(10)),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_tail(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn wait_conditions() {
        assert_eq!(wait_condition(None).unwrap(), WaitCondition::NotRunning);
        assert_eq!(wait_condition(Some("")).unwrap(), WaitCondition::NotRunning);
        assert_eq!(wait_condition(Some("not-running")).unwrap(), WaitCondition::NotRunning);
        assert_eq!(wait_condition(Some("next-exit")).unwrap(), WaitCondition::NextExit);
        assert_eq!(wait_condition(Some("removed")).unwrap(), WaitCondition::Removed);
        assert_eq!(wait_condition(Some("soon")).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn resize_dimensions() {
        assert_eq!(
            resize_params(&Params::from_pairs(&[("h", "24"), ("w", "80")])).unwrap(),
            (24, 80)
        );
        for bad in [&[("h", "24")][..], &[("h", "-1"), ("w", "80")], &[("h", "x"), ("w", "80")]] {
            let e = resize_params(&Params::from_pairs(bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
    }
}
