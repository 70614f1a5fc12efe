//! `/volumes`: create, list, inspect, remove, prune, and Berth's rename.
//!
//! Moby's volume router is the reference. Its version quirk that lives here: before API 1.42
//! a prune removes every unused volume, named ones too (the `all` filter is implied).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_api::models as m;
use berth_engine::service::Filters;

use super::Shared;
use crate::error::ApiError;
use crate::params::{empty, json, json_body, Id, Params};
use crate::version::ApiVersion;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
        .route("/volumes/{name}/rename", post(rename))
}

async fn list(State(b): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let mut resp = b.volume_list(p.filters()?).await?;
    resp.volumes.get_or_insert_with(Vec::new);
    Ok(json(StatusCode::OK, &resp))
}

async fn create(State(b): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let req: m::VolumeCreateRequest = json_body(&headers, body).await?.unwrap_or_default();
    Ok(json(StatusCode::CREATED, &b.volume_create(req).await?))
}

async fn inspect(State(b): State<Shared>, Id(name): Id) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &b.volume_inspect(&name).await?))
}

async fn remove(State(b): State<Shared>, Id(name): Id, p: Params) -> Result<Response, ApiError> {
    b.volume_remove(&name, p.strict_bool("force")?).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The filters a prune runs with at API version `v`.
fn prune_filters(mut f: Filters, v: &ApiVersion) -> Filters {
    if !v.at_least("1.42") {
        f.entry("all".into()).or_insert_with(|| vec!["true".into()]);
    }
    f
}

async fn prune(State(b): State<Shared>, v: ApiVersion, p: Params) -> Result<Response, ApiError> {
    let mut report = b.volume_prune(prune_filters(p.filters()?, &v)).await?;
    report.volumes_deleted.get_or_insert_with(Vec::new);
    Ok(json(StatusCode::OK, &report))
}

/// `POST /volumes/{name}/rename?name=NEW` (a Berth extension).
async fn rename(State(b): State<Shared>, Id(name): Id, p: Params) -> Result<Response, ApiError> {
    let new = p.non_empty("name").ok_or_else(|| ApiError::invalid("rename: the new name (query parameter name) is missing"))?;
    b.volume_rename(&name, &new).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_clients_prune_named_volumes_too() {
        let cases: &[(&str, &[(&str, &str)], &[(&str, &[&str])])] = &[
            ("1.47", &[], &[]),
            ("1.42", &[("label", "a")], &[("label", &["a"])]),
            ("1.41", &[], &[("all", &["true"])]),
            ("1.41", &[("all", "false")], &[("all", &["false"])]),
        ];
        for (v, given, want) in cases {
            let mut f = Filters::new();
            for (k, x) in *given {
                f.entry(k.to_string()).or_default().push(x.to_string());
            }
            let want: Filters = want.iter().map(|(k, xs)| (k.to_string(), xs.iter().map(|s| s.to_string()).collect())).collect();
            assert_eq!(prune_filters(f, &ApiVersion(v.to_string())), want, "{v} {given:?}");
        }
    }
}
