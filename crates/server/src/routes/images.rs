//! `/images/...`. Image names contain slashes (`localhost:5000/team/app:1`), so everything
//! under `/images/` that is not a fixed route is matched as one tail and split by its last
//! segment, as Docker's `{name:.*}` routes do.
//!
//! Pull and push answer with Docker's progress stream: JSON messages, one per line, flushed
//! as they come ([`progress_response`]). A failure before the first message is a plain error
//! status, which the CLI prints as `Error response from daemon: ...`; after it, the stream
//! ends with an `errorDetail` message. Save streams a tar; load answers JSON lines.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::JsonMessage;
use berth_engine::service::{ByteStream, ImportRequest, ProgressSender, PullRequest, PushRequest};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::Shared;
use crate::error::ApiError;
use crate::params::{empty, json, Id, Params};
use crate::version::ApiVersion;

/// The header carrying registry credentials (base64url JSON of Docker's `AuthConfig`).
const REGISTRY_AUTH: &str = "x-registry-auth";

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/prune", post(prune))
        .route("/images/get", get(save_many))
        .route("/images/load", post(load))
        .route("/images/{*rest}", get(get_named).post(post_named).delete(remove))
}

/// One line of a JSON progress stream, as dockerd's stream formatter ends them.
fn progress_line(m: &JsonMessage) -> bytes::Bytes {
    let mut line = serde_json::to_vec(m).unwrap_or_else(|_| b"{}".to_vec());
    line.extend_from_slice(b"\r\n");
    line.into()
}

/// A `200 application/json` answer streaming `body`.
fn json_stream(body: Body) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A `200 application/x-tar` answer streaming `stream`; an error item breaks the connection.
fn tar_stream(stream: ByteStream) -> Response {
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    resp
}

/// Run a pull or push (`run` gets the progress sender) in its own task and answer with its
/// progress: the error status when it fails before saying anything, else a stream of its
/// messages, ended by an error message when it fails later. The task goes on if the client
/// leaves (its messages are then dropped).
pub(crate) async fn progress_response<F>(run: F) -> Result<Response, ApiError>
where
    F: FnOnce(ProgressSender) -> BoxFuture<'static, berth_errdefs::Result<()>>,
{
    let (tx, mut rx) = mpsc::channel::<JsonMessage>(64);
    let task = tokio::spawn(run(tx));
    let finish = |task: tokio::task::JoinHandle<berth_errdefs::Result<()>>| async move {
        match task.await {
            Ok(r) => r,
            Err(e) => Err(berth_errdefs::Error::internal(format!("task failed: {e}"))),
        }
    };
    let Some(first) = rx.recv().await else {
        // Over without a word: a plain status.
        finish(task).await?;
        return Ok(json_stream(Body::empty()));
    };
    let rest = futures_util::stream::unfold(Some((rx, task)), move |state| async move {
        let (mut rx, task) = state?;
        match rx.recv().await {
            Some(m) => Some((progress_line(&m), Some((rx, task)))),
            None => match finish(task).await {
                Ok(()) => None,
                Err(e) => Some((progress_line(&JsonMessage::error(e.message())), None)),
            },
        }
    });
    let lines = futures_util::stream::once(async move { progress_line(&first) }).chain(rest);
    Ok(json_stream(Body::from_stream(lines.map(Ok::<_, Infallible>))))
}

fn registry_auth(headers: &HeaderMap) -> Option<String> {
    headers.get(REGISTRY_AUTH).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).map(str::to_owned)
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

/// The API version from which image inspect leaves out the deprecated `Parent` and
/// `DockerVersion` when they are empty (the generated model no longer has them).
const LEGACY_IMAGE_FIELDS_UNTIL: &str = "1.52";

/// The API version from which image inspect has no `Container` and `ContainerConfig`.
const LEGACY_CONTAINER_CONFIG_UNTIL: &str = "1.45";

/// Image inspect; before API 1.52 with `Parent` (the image a commit was made from, or `""`)
/// and `DockerVersion` (`""`: we do not write it into configs), as dockerd always sent them;
/// before 1.45 also with `Container` and `ContainerConfig` (the image's own config stands in for
/// the config of the container it was made from), which docker-compose 1.29 reads to recreate.
async fn inspect(b: &Shared, v: &ApiVersion, name: &str) -> Result<Response, ApiError> {
    let resp = b.image_inspect(name).await?;
    let parent = b.image_parent(name).await?;
    let before_1_52 = !v.at_least(LEGACY_IMAGE_FIELDS_UNTIL);
    let before_1_45 = !v.at_least(LEGACY_CONTAINER_CONFIG_UNTIL);
    if !before_1_52 && parent.is_empty() {
        return Ok(json(StatusCode::OK, &resp));
    }
    let mut value = serde_json::to_value(&resp).map_err(|e| {
        ApiError::new(berth_errdefs::Kind::Internal, format!("cannot encode image {name}: {e}"))
    })?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("Parent".into(), parent.into());
        if before_1_52 {
            obj.entry("DockerVersion").or_insert_with(|| "".into());
        }
        if before_1_45 {
            obj.entry("Container").or_insert_with(|| "".into());
            let config = obj.get("Config").cloned().unwrap_or(serde_json::Value::Null);
            obj.entry("ContainerConfig").or_insert(config);
        }
    }
    Ok(json(StatusCode::OK, &value))
}

async fn get_named(
    State(b): State<Shared>,
    v: ApiVersion,
    Id(rest): Id,
) -> Result<Response, ApiError> {
    match split_named(&rest, false) {
        Some(Named::Inspect(name)) => inspect(&b, &v, name).await,
        Some(Named::History(name)) => Ok(json(StatusCode::OK, &b.image_history(name).await?)),
        Some(Named::Export(name)) => Ok(tar_stream(b.image_save(vec![name.to_owned()]).await?)),
        _ => Err(ApiError::page_not_found()),
    }
}

async fn post_named(
    State(b): State<Shared>,
    Id(rest): Id,
    p: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match split_named(&rest, true) {
        Some(Named::Tag(name)) => {
            let repo = p.non_empty("repo").ok_or_else(|| {
                ApiError::invalid("repository name must have at least one component")
            })?;
            b.image_tag(name, &repo, p.non_empty("tag").as_deref()).await?;
            Ok(empty(StatusCode::CREATED))
        }
        Some(Named::Push(name)) => {
            let req = PushRequest {
                name: name.to_owned(),
                tag: p.non_empty("tag"),
                registry_auth: registry_auth(&headers),
            };
            progress_response(move |tx| Box::pin(async move { b.image_push(req, tx).await })).await
        }
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

/// `GET /images/get?names=a&names=b`: one archive of several images.
async fn save_many(State(b): State<Shared>, p: Params) -> Result<Response, ApiError> {
    Ok(tar_stream(b.image_save(p.all("names")).await?))
}

/// `POST /images/load`: as dockerd, always a `200` JSON stream; a failure is its last message.
async fn load(State(b): State<Shared>, p: Params, body: Body) -> Response {
    // dockerd's default is quiet; the CLI says `quiet=0` on a terminal (no progress bars here).
    let quiet = p.get("quiet").is_none_or(|_| p.bool("quiet"));
    let body = body.into_data_stream().map(|r| r.map_err(std::io::Error::other)).boxed();
    let out: Vec<u8> = match b.image_load(body, quiet).await {
        Ok(lines) => lines
            .iter()
            .flat_map(|l| {
                let m = serde_json::json!({ "stream": format!("{l}\n") });
                let mut line = serde_json::to_vec(&m).unwrap_or_default();
                line.extend_from_slice(b"\r\n");
                line
            })
            .collect(),
        Err(e) => progress_line(&JsonMessage::error(e.message())).to_vec(),
    };
    json_stream(Body::from(out))
}

/// `fromImage`: pull from a registry (see [`progress_response`]). `fromSrc=-`: import the
/// request body as a root filesystem; the answer is the final `{"status":"sha256:..."}`, and
/// errors are proper statuses.
async fn create(
    State(b): State<Shared>,
    p: Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(image) = p.non_empty("fromImage") {
        let req = PullRequest {
            image,
            tag: p.non_empty("tag"),
            platform: p.non_empty("platform"),
            registry_auth: registry_auth(&headers),
        };
        return progress_response(move |tx| Box::pin(async move { b.image_pull(req, tx).await }))
            .await;
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
    Ok(json_stream(Body::from(progress_line(&JsonMessage::status(id)))))
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
