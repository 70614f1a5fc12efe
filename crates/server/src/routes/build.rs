//! `/build` (the classic builder) and `/build/prune`.
//!
//! `POST /build` takes the context tar as its body and answers with the builder's JSON
//! messages as they come (`{"stream": "Step 1/3 : FROM busybox\n"}`, `{"aux": {"ID": ...}}`),
//! framed as pull's progress. A failure before the first message (a bad query, a Dockerfile
//! that does not parse) is a plain error status; later ones end the stream with an
//! `errorDetail` message.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_engine::service::BuildRequest;
use futures_util::StreamExt;

use super::images::progress_response;
use super::Shared;
use crate::error::ApiError;
use crate::params::{json, Params};

/// The header carrying registry credentials for the pulls of a build (base64url JSON of
/// auth configs by registry).
const REGISTRY_CONFIG: &str = "x-registry-config";

/// Query parameters passed on as run resources of RUN steps, as given.
const RESOURCE_KEYS: [&str; 9] =
    ["shmsize", "memory", "memswap", "cpushares", "cpusetcpus", "cpusetmems", "cpuquota", "cpuperiod", "cgroupparent"];

pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/build", post(build)).route("/build/prune", post(prune))
}

fn json_param<T: serde::de::DeserializeOwned + Default>(p: &Params, key: &str, what: &str) -> Result<T, ApiError> {
    match p.get(key) {
        None | Some("") | Some("null") => Ok(T::default()),
        Some(v) => serde_json::from_str(v).map_err(|e| ApiError::invalid(format!("error reading {what}: {e}"))),
    }
}

/// The [`BuildRequest`] of a query string and headers, with dockerd's rules: `rm` defaults to
/// true (and `forcerm` implies it), `buildargs`, `labels` and `cachefrom` are JSON,
/// `t` and `extrahosts` repeat; `version=2` (BuildKit) is refused.
pub(crate) fn build_request(p: &Params, headers: &HeaderMap) -> Result<BuildRequest, ApiError> {
    if p.get("version").is_some_and(|v| v == "2") {
        return Err(ApiError::new(
            berth_errdefs::Kind::NotImplemented,
            "BuildKit is not supported by berthd: build with DOCKER_BUILDKIT=0 (the classic builder)",
        ));
    }
    if p.get("remote").is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::new(berth_errdefs::Kind::NotImplemented, "remote build contexts are not supported"));
    }
    let force_rm = p.bool("forcerm");
    let rm = force_rm || p.get("rm").is_none_or(|v| v.is_empty()) || p.bool("rm");
    let mut resources = BTreeMap::new();
    for k in RESOURCE_KEYS {
        if let Some(v) = p.non_empty(k).filter(|v| v != "0") {
            resources.insert(k.to_string(), v);
        }
    }
    if let Some(s) = resources.get("shmsize") {
        s.parse::<i64>().map_err(|_| ApiError::invalid(format!("invalid shmsize: {s}")))?;
    }
    let extra_hosts = p.all("extrahosts").into_iter().filter(|h| !h.is_empty()).collect();
    Ok(BuildRequest {
        dockerfile: p.non_empty("dockerfile"),
        tags: p.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        build_args: json_param(p, "buildargs", "build args")?,
        target: p.non_empty("target"),
        no_cache: p.bool("nocache"),
        pull: p.bool("pull"),
        rm,
        force_rm,
        labels: json_param(p, "labels", "labels")?,
        network_mode: p.non_empty("networkmode"),
        platform: p.non_empty("platform"),
        quiet: p.bool("q"),
        extra_hosts,
        resources,
        cache_from: json_param(p, "cachefrom", "cache-from")?,
        registry_config: headers
            .get(REGISTRY_CONFIG)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
    })
}

async fn build(State(b): State<Shared>, p: Params, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let req = build_request(&p, &headers)?;
    let context = body.into_data_stream().map(|r| r.map_err(std::io::Error::other)).boxed();
    progress_response(move |tx| Box::pin(async move { b.build(req, context, tx).await })).await
}

async fn prune(State(b): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let report = b.build_prune(p.bool("all"), p.filters()?).await?;
    Ok(json(StatusCode::OK, &report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn req(pairs: &[(&str, &str)]) -> Result<BuildRequest, String> {
        build_request(&Params::from_pairs(pairs), &HeaderMap::new()).map_err(|e| e.message)
    }

    #[test]
    fn queries_parse_as_dockerd_does() {
        // What `DOCKER_BUILDKIT=0 docker build -t a:1 -t b --build-arg X=1 --build-arg Y .` sends.
        let got = req(&[
            ("buildargs", r#"{"X":"1","Y":null}"#),
            ("cachefrom", "[]"),
            ("cgroupparent", ""),
            ("cpuperiod", "0"),
            ("dockerfile", "Dockerfile"),
            ("labels", r#"{"l":"v"}"#),
            ("memory", "0"),
            ("networkmode", "default"),
            ("rm", "1"),
            ("shmsize", "0"),
            ("t", "a:1"),
            ("t", "b"),
            ("target", ""),
            ("ulimits", "null"),
            ("version", "1"),
        ])
        .unwrap();
        let want = BuildRequest {
            dockerfile: Some("Dockerfile".into()),
            tags: vec!["a:1".into(), "b".into()],
            build_args: BTreeMap::from([("X".into(), Some("1".into())), ("Y".into(), None)]),
            rm: true,
            labels: BTreeMap::from([("l".into(), "v".into())]),
            network_mode: Some("default".into()),
            ..BuildRequest::default()
        };
        assert_eq!(got, want);

        let cases: Vec<(Vec<(&str, &str)>, fn(&BuildRequest) -> bool)> = vec![
            (vec![], |r| r.rm && !r.force_rm && !r.no_cache && !r.quiet),
            (vec![("rm", "0")], |r| !r.rm),
            (vec![("rm", "false"), ("forcerm", "1")], |r| r.rm && r.force_rm),
            (vec![("nocache", "true"), ("pull", "1"), ("q", "1")], |r| r.no_cache && r.pull && r.quiet),
            (vec![("extrahosts", "a:1.2.3.4"), ("extrahosts", "b:::1")], |r| r.extra_hosts == ["a:1.2.3.4", "b:::1"]),
            (vec![("shmsize", "1048576"), ("memory", "0")], |r| {
                r.resources == BTreeMap::from([("shmsize".to_string(), "1048576".to_string())])
            }),
            (vec![("cachefrom", r#"["x:1"]"#)], |r| r.cache_from == ["x:1"]),
            (vec![("target", "build"), ("platform", "linux/amd64")], |r| {
                r.target.as_deref() == Some("build") && r.platform.as_deref() == Some("linux/amd64")
            }),
        ];
        for (pairs, check) in cases {
            let r = req(&pairs).unwrap();
            assert!(check(&r), "{pairs:?}: {r:?}");
        }
        for bad in [
            vec![("buildargs", "{not json")],
            vec![("labels", "[1]")],
            vec![("cachefrom", "{}")],
            vec![("shmsize", "lots")],
            vec![("version", "2")],
        ] {
            assert!(req(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_registry_config_header_is_kept() {
        let mut h = HeaderMap::new();
        h.insert(REGISTRY_CONFIG, HeaderValue::from_static("e30="));
        let r = build_request(&Params::from_pairs(&[]), &h).unwrap();
        assert_eq!(r.registry_config.as_deref(), Some("e30="));
    }
}
