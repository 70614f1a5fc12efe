//! `/containers/{id}/archive`: HEAD (stat), GET (tar out), PUT (tar in) — `docker cp`.
//!
//! HEAD and GET describe the path in the `X-Docker-Container-Path-Stat` header: the base64
//! (standard alphabet, padded) of the JSON `PathStat`. PUT answers 200 with no body, as
//! dockerd.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use berth_engine::service::{ArchivePut, PathStat};
use futures_util::StreamExt;

use super::Shared;
use crate::error::ApiError;
use crate::params::{Id, Params};

/// The header carrying the stat of the path.
const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/containers/{id}/archive", get(get_archive).head(head_archive).put(put_archive))
}

/// The `path` query parameter, required as dockerd requires it.
fn path_param(p: &Params) -> Result<String, ApiError> {
    match p.get("path") {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        // dockerd's words, missing space included.
        _ => Err(ApiError::invalid("bad parameter: pathcannot be empty")),
    }
}

/// Standard base64 with padding (Go's `base64.StdEncoding`).
fn base64_std(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

fn with_stat(mut resp: Response, stat: &PathStat) -> Result<Response, ApiError> {
    let json = serde_json::to_vec(stat).map_err(|e| ApiError::new(berth_errdefs::Kind::Internal, e.to_string()))?;
    let value = HeaderValue::from_str(&base64_std(&json))
        .map_err(|e| ApiError::new(berth_errdefs::Kind::Internal, e.to_string()))?;
    resp.headers_mut().insert(STAT_HEADER, value);
    Ok(resp)
}

async fn head_archive(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    let path = path_param(&p)?;
    let stat = b.archive_stat(&id, &path).await?;
    with_stat(StatusCode::OK.into_response(), &stat)
}

async fn get_archive(State(b): State<Shared>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    let path = path_param(&p)?;
    let (stat, stream) = b.archive_get(&id, &path).await?;
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    with_stat(resp, &stat)
}

async fn put_archive(State(b): State<Shared>, Id(id): Id, p: Params, body: Body) -> Result<Response, ApiError> {
    let path = path_param(&p)?;
    let req = ArchivePut {
        path,
        no_overwrite_dir_non_dir: p.bool("noOverwriteDirNonDir"),
        copy_uid_gid: p.bool("copyUIDGID"),
    };
    let body = body.into_data_stream().map(|r| r.map_err(std::io::Error::other)).boxed();
    b.archive_put(&id, req, body).await?;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_gos_std_encoding() {
        let cases: [(&str, &str); 6] = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            (r#"{"name":"sh","size":7}"#, "eyJuYW1lIjoic2giLCJzaXplIjo3fQ=="),
        ];
        for (input, want) in cases {
            assert_eq!(base64_std(input.as_bytes()), want, "{input:?}");
        }
    }
}
