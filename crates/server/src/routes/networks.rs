//! `/networks/...`: list, inspect, create, remove, connect, disconnect, prune.
//!
//! Moby's network router is the reference. Its version quirks that live here: lists for API
//! 1.28 and newer carry no endpoints (`"Containers": {}`, as Docker's summaries), and
//! `EnableIPv4` in a create request only counts from API 1.48.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_api::models as m;
use berth_engine::service::Filters;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Shared;
use crate::error::ApiError;
use crate::params::{empty, json, json_body, Id, Params};
use crate::version::ApiVersion;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

/// The filters `GET /networks` accepts; any other key is a 400, as Docker's router says.
const LIST_FILTERS: [&str; 7] = ["dangling", "driver", "id", "label", "name", "scope", "type"];

/// Refuse filter keys that network lists do not know (Docker: `invalid filter 'foo'`).
pub(crate) fn check_list_filters(filters: &Filters) -> Result<(), ApiError> {
    match filters.keys().find(|k| !LIST_FILTERS.contains(&k.as_str())) {
        Some(k) => Err(ApiError::invalid(format!("invalid filter '{k}'"))),
        None => Ok(()),
    }
}

/// Decode a request body the way Go decodes it into a struct: no body, or no `field`, leaves
/// that field empty (`""`). The generated models require the field, so it is filled in before
/// decoding; the handler then refuses the empty value with Docker's message.
pub(crate) fn decode_with_empty<T: DeserializeOwned>(
    body: Option<Value>,
    field: &str,
) -> Result<T, ApiError> {
    let mut body = body.unwrap_or_else(|| Value::Object(Default::default()));
    if let Some(obj) = body.as_object_mut() {
        if obj.get(field).is_none_or(Value::is_null) {
            obj.insert(field.to_owned(), Value::String(String::new()));
        }
    }
    serde_json::from_value(body).map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))
}

/// The container of a connect or disconnect must be named (Docker's daemon message).
fn require_container(container: &str) -> Result<(), ApiError> {
    if container.is_empty() {
        return Err(ApiError::invalid("invalid name or ID supplied: \"\""));
    }
    Ok(())
}

async fn list(State(b): State<Shared>, v: ApiVersion, p: Params) -> Result<Response, ApiError> {
    let filters = p.filters()?;
    check_list_filters(&filters)?;
    let mut networks = b.network_list(filters).await?;
    if v.at_least("1.28") {
        for n in &mut networks {
            n.containers = Some(HashMap::new());
        }
    }
    Ok(json(StatusCode::OK, &networks))
}

/// `scope` narrows the lookup: a network of another scope is not found.
async fn inspect(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    let verbose = p.strict_bool("verbose")?;
    let mut network = b.network_inspect(&id, verbose).await?;
    if let Some(scope) = p.non_empty("scope") {
        if network.scope.as_deref() != Some(scope.as_str()) {
            return Err(ApiError::new(
                berth_errdefs::Kind::NotFound,
                format!("network {id} not found"),
            ));
        }
    }
    network.containers.get_or_insert_with(HashMap::new);
    Ok(json(StatusCode::OK, &network))
}

async fn create(
    State(b): State<Shared>,
    v: ApiVersion,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut req: m::NetworkCreateRequest =
        decode_with_empty(json_body(&headers, body).await?, "Name")?;
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("invalid name: name is empty"));
    }
    if !v.at_least("1.48") {
        req.enable_ipv4 = None;
    }
    Ok(json(StatusCode::CREATED, &b.network_create(req).await?))
}

async fn remove(State(b): State<Shared>, Id(id): Id) -> Result<Response, ApiError> {
    b.network_remove(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn connect(
    State(b): State<Shared>,
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: m::NetworkConnectRequest =
        decode_with_empty(json_body(&headers, body).await?, "Container")?;
    require_container(&req.container)?;
    b.network_connect(&id, req).await?;
    Ok(empty(StatusCode::OK))
}

async fn disconnect(
    State(b): State<Shared>,
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: m::NetworkDisconnectRequest =
        decode_with_empty(json_body(&headers, body).await?, "Container")?;
    require_container(&req.container)?;
    b.network_disconnect(&id, req).await?;
    Ok(empty(StatusCode::OK))
}

/// `NetworksDeleted` is always an array, `[]` when nothing went.
async fn prune(State(b): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let mut report = b.network_prune(p.filters()?).await?;
    report.networks_deleted.get_or_insert_with(Vec::new);
    Ok(json(StatusCode::OK, &report))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn filters(keys: &[&str]) -> Filters {
        keys.iter().map(|k| (k.to_string(), vec!["x".to_string()])).collect()
    }

    #[test]
    fn list_filter_keys() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (&[], None),
            (&["dangling", "driver", "id", "label", "name", "scope", "type"], None),
            (&["status"], Some("invalid filter 'status'")),
            (&["name", "until"], Some("invalid filter 'until'")),
        ];
        for (keys, want) in cases {
            let got = check_list_filters(&filters(keys)).err().map(|e| e.message);
            assert_eq!(got.as_deref(), *want, "{keys:?}");
        }
    }

    #[test]
    fn bodies_decode_like_go_structs() {
        let cases: &[(Option<Value>, Result<&str, &str>)] = &[
            (None, Ok("")),
            (Some(json!({})), Ok("")),
            (Some(json!({"Name": null})), Ok("")),
            (Some(json!({"Name": "front", "Driver": "bridge"})), Ok("front")),
            (Some(json!({"Name": 5})), Err("invalid JSON: ")),
            (Some(json!(["front"])), Err("invalid JSON: ")),
        ];
        for (body, want) in cases {
            let got = decode_with_empty::<m::NetworkCreateRequest>(body.clone(), "Name");
            match (got, want) {
                (Ok(req), Ok(name)) => assert_eq!(req.name, *name, "{body:?}"),
                (Err(e), Err(prefix)) => {
                    assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body:?}");
                    assert!(e.message.starts_with(prefix), "{body:?}: {}", e.message);
                }
                (got, _) => panic!("{body:?}: unexpected {got:?}"),
            }
        }
        let req: m::NetworkDisconnectRequest =
            decode_with_empty(Some(json!({"Force": true})), "Container").unwrap();
        assert_eq!((req.container.as_str(), req.force), ("", Some(true)));
    }
}
