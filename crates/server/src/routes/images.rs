//! `/images/...`. Image names contain slashes (`localhost:5000/team/app:1`), so everything
//! under `/images/` that is not a fixed route is matched as one tail and split by its last
//! segment, as Docker's `{name:.*}` routes do.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_engine::service::ImportRequest;
use futures_util::StreamExt;

use super::Shared;
use crate::error::ApiError;
use crate::params::{empty, json, Id, Params};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/prune", post(prune))
        .route("/images/{*rest}", get(get_named).post(post_named).delete(remove))
}

async fn list(State(b): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let mut filters = p.filters()?;
    // Old clients name a reference pattern with `filter`.
    if let Some(pattern) = p.non_empty("filter") {
        filters.entry("reference".to_owned()).or_insert_with(|| vec![pattern]);
    }
    let images = b.image_list(p.bool("all"), filters, p.bool("digests")).await?;
    Ok(json(StatusCode::OK, &images))
}

/// What a request under `/images/{name}/...` asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Named<'a> {
    /// `GET {name}/json`.
    Inspect(&'a str),
    /// `GET {name}/history`.
    History(&'a str),
    /// `GET {name}/get` (export).
    Export(&'a str),
    /// `POST {name}/tag`.
    Tag(&'a str),
    /// `POST {name}/push`.
    Push(&'a str),
}

/// Split the tail after `/images/` for GET (`json`, `history`, `get`) and POST (`tag`, `push`).
pub(crate) fn split_named(rest: &str, post: bool) -> Option<Named<'_>> {
    let (name, op) = rest.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    Some(match (post, op) {
        (false, "json") => Named::Inspect(name),
        (false, "history") => Named::History(name),
        (false, "get") => Named::Export(name),
        (true, "tag") => Named::Tag(name),
        (true, "push") => Named::Push(name),
        _ => return None,
    })
}

async fn get_named(State(b): State<Shared>, Id(rest): Id) -> Result<Response, ApiError> {
    match split_named(&rest, false) {
        Some(Named::Inspect(name)) => Ok(json(StatusCode::OK, &b.image_inspect(name).await?)),
        Some(Named::History(name)) => Ok(json(StatusCode::OK, &b.image_history(name).await?)),
        Some(Named::Export(_)) => Err(ApiError::new(
            berth_errdefs::Kind::NotImplemented,
            "exporting images is not supported yet",
        )),
        _ => Err(ApiError::page_not_found()),
    }
}

async fn post_named(
    State(b): State<Shared>,
    Id(rest): Id,
    p: Params,
) -> Result<Response, ApiError> {
    match split_named(&rest, true) {
        Some(Named::Tag(name)) => {
            let repo = p.non_empty("repo").ok_or_else(|| {
                ApiError::invalid("repository name must have at least one component")
            })?;
            b.image_tag(name, &repo, p.non_empty("tag").as_deref()).await?;
            Ok(empty(StatusCode::CREATED))
        }
        Some(Named::Push(_)) => Err(ApiError::new(
            berth_errdefs::Kind::NotImplemented,
            "pushing images is not supported yet",
        )),
        _ => Err(ApiError::page_not_found()),
    }
}

async fn remove(State(b): State<Shared>, Id(name): Id, p: Params) -> Result<Response, ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("image name cannot be blank"));
    }
    let deleted = b.image_remove(&name, p.bool("force"), p.bool("noprune")).await?;
    Ok(json(StatusCode::OK, &deleted))
}

async fn prune(State(b): State<Shared>, p: Params) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &b.image_prune(p.filters()?).await?))
}

/// `fromSrc=-`: import the request body as a root filesystem. The answer is Docker's JSON
/// progress stream, here just the final `{"status":"sha256:..."}`; errors before that are
/// proper statuses. Pulling (`fromImage`) is not built.
async fn create(State(b): State<Shared>, p: Params, body: Body) -> Result<Response, ApiError> {
    if let Some(image) = p.non_empty("fromImage") {
        return Err(ApiError::new(
            berth_errdefs::Kind::NotImplemented,
            format!("pulling images is not supported yet (cannot pull {image})"),
        ));
    }
    match p.get("fromSrc") {
        Some("-") => {}
        Some(src) if !src.is_empty() => {
            return Err(ApiError::new(
                berth_errdefs::Kind::NotImplemented,
                format!("importing from a URL is not supported yet (cannot import {src})"),
            ))
        }
        _ => return Err(ApiError::invalid("either fromImage or fromSrc is required")),
    }
    let req = ImportRequest {
        body: body.into_data_stream().map(|r| r.map_err(std::io::Error::other)).boxed(),
        repo: p.non_empty("repo"),
        tag: p.non_empty("tag"),
        message: Some(p.non_empty("message").unwrap_or_else(|| "Imported from -".to_owned())),
        changes: p.all("changes"),
    };
    let id = b.image_import(req).await?;
    let mut line = serde_json::to_vec(&serde_json::json!({ "status": id })).unwrap_or_default();
    line.extend_from_slice(b"\r\n");
    let mut resp = (StatusCode::OK, line).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_routes_split_on_last_segment() {
        let cases = [
            ("busybox/json", false, Some(Named::Inspect("busybox"))),
            (
                "localhost:5000/foo/bar:tag/json",
                false,
                Some(Named::Inspect("localhost:5000/foo/bar:tag")),
            ),
            ("a/b/history", false, Some(Named::History("a/b"))),
            ("sha256:abc/get", false, Some(Named::Export("sha256:abc"))),
            ("reg.io/x/y:1/tag", true, Some(Named::Tag("reg.io/x/y:1"))),
            ("x/push", true, Some(Named::Push("x"))),
            ("x/tag", false, None),
            ("x/json", true, None),
            ("json", false, None),
            ("/json", false, None),
            ("x/other", false, None),
        ];
        for (rest, post, want) in cases {
            assert_eq!(split_named(rest, post), want, "{rest} post={post}");
        }
    }
}
