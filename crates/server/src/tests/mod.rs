//! Router tests over an in-memory backend; no root, no sockets (except `unix`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use berth_errdefs::Kind;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::{status_for, Server, ServerInfo};

mod docker_cli;
mod fake;
mod images;
mod networks;
mod unix;

use fake::Fake;

fn server(fake: &Fake) -> Router {
    Server::new(Arc::new(fake.clone()), ServerInfo::default()).router()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body))
        })
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
    fn message(&self) -> String {
        assert_eq!(self.header("content-type"), "application/json", "error content type");
        self.json()["message"].as_str().expect("message field").to_owned()
    }
}

async fn call_with(router: &Router, req: Request<Body>) -> Answer {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer { status, headers, body }
}

async fn call(router: &Router, method: Method, uri: &str) -> Answer {
    call_with(router, Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()).await
}

async fn post_json(router: &Router, uri: &str, body: &str) -> Answer {
    let req = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    call_with(router, req).await
}

#[tokio::test]
async fn ping_answers_ok_with_docker_headers() {
    let r = server(&Fake::new());
    for uri in ["/_ping", "/v1.47/_ping", "/v1.24/_ping"] {
        let a = call(&r, Method::GET, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(&a.body[..], b"OK");
        for (name, want) in [
            ("api-version", "1.47"),
            ("docker-experimental", "false"),
            ("ostype", "linux"),
            ("builder-version", "1"),
            ("swarm", "inactive"),
            ("cache-control", "no-cache, no-store, must-revalidate"),
            ("pragma", "no-cache"),
        ] {
            assert_eq!(a.header(name), want, "{uri} header {name}");
        }
        assert_eq!(a.header("server"), format!("Berth/{} (linux)", env!("CARGO_PKG_VERSION")));
    }
    let a = call(&r, Method::HEAD, "/_ping").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.is_empty());
    assert_eq!(a.header("content-length"), "0");
    assert_eq!(a.header("api-version"), "1.47");
    assert_eq!(a.header("swarm"), "inactive");
}

#[tokio::test]
async fn versions_outside_the_range_are_refused() {
    let r = server(&Fake::new());
    let a = call(&r, Method::GET, "/v1.99/info").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.message(),
        "client version 1.99 is too new. Maximum supported API version is 1.47"
    );
    assert_eq!(a.header("api-version"), "1.47", "common headers on errors too");
    let a = call(&r, Method::GET, "/v1.12/containers/json").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a
        .message()
        .starts_with("client version 1.12 is too old. Minimum supported API version is 1.24"));
    for uri in ["/info", "/v1.47/info", "/v1.24/info", "/v1.40/info"] {
        assert_eq!(call(&r, Method::GET, uri).await.status, StatusCode::OK, "{uri}");
    }
    // An unknown path is a 404 whatever its version.
    let a = call(&r, Method::GET, "/v1.99/nothing/here").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn version_reports_the_api_range() {
    let a = call(&server(&Fake::new()), Method::GET, "/version").await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["ApiVersion"], "1.47");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Version"], "0.1.0");
}

#[test]
fn kinds_map_to_statuses() {
    let cases = [
        (Kind::NotFound, 404),
        (Kind::Conflict, 409),
        (Kind::InvalidArgument, 400),
        (Kind::PermissionDenied, 403),
        (Kind::Unavailable, 503),
        (Kind::NotImplemented, 501),
        (Kind::NotModified, 304),
        (Kind::Internal, 500),
    ];
    for (kind, want) in cases {
        assert_eq!(status_for(kind).as_u16(), want, "{kind:?}");
    }
}

#[tokio::test]
async fn backend_errors_become_json_messages() {
    let fake = Fake::new();
    let r = server(&fake);
    let a = call(&r, Method::POST, "/containers/nope/start").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.json(), json!({"message": "No such container: nope"}));
    assert_eq!(a.header("content-type"), "application/json");

    let a = call(&r, Method::POST, "/containers/c1/kill").await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.message(), "container c1 is not running");

    // Starting a running container: 304 with no body.
    let a = call(&r, Method::POST, "/v1.47/containers/up/start").await;
    assert_eq!(a.status, StatusCode::NOT_MODIFIED);
    assert!(a.body.is_empty());

    let a = call(&r, Method::POST, "/containers/c1/start").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(a.body.is_empty());

    let a = post_json(&r, "/containers/create?name=c1", r#"{"Image":"busybox"}"#).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.message(), "the container name \"/c1\" is already in use");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_page_not_found() {
    let r = server(&Fake::new());
    for (method, uri) in [
        (Method::GET, "/nothing"),
        (Method::GET, "/v1.47/nothing"),
        (Method::GET, "/containers/create"),
        (Method::PUT, "/containers/c1/start"),
        (Method::GET, "/images/foo/tag"),
        (Method::GET, "/images/foo/bogus"),
    ] {
        let a = call(&r, method.clone(), uri).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(a.message(), "page not found", "{method} {uri}");
        assert_eq!(a.header("api-version"), "1.47");
    }
}

#[tokio::test]
async fn bad_requests_are_json_400s() {
    let r = server(&Fake::new());
    let a = post_json(&r, "/containers/create", "{not json").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().starts_with("invalid JSON: "), "{}", a.message());

    let a = post_json(&r, "/containers/create", r#"{"Image":"x"} trailing"#).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    let a = post_json(&r, "/containers/create", r#"{"Image": 5}"#).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().starts_with("invalid JSON: "), "{}", a.message());

    let a = post_json(&r, "/containers/create", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.message(), "config cannot be empty in order to create a container");

    let req = Request::post("/containers/create")
        .header("content-type", "text/plain")
        .body(Body::from(r#"{"Image":"x"}"#))
        .unwrap();
    let a = call_with(&r, req).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().contains("must be 'application/json'"), "{}", a.message());

    for uri in [
        "/containers/json?limit=many",
        "/containers/json?filters=%7Bbad",
        "/containers/up/stop?t=soon",
        "/containers/up/resize?h=24",
        "/containers/up/wait?condition=later",
        "/containers/up/logs",
        "/events?since=yesterday",
        "/events?since=20&until=10",
    ] {
        let method = if uri.contains("json") || uri.contains("logs") || uri.contains("events") {
            Method::GET
        } else {
            Method::POST
        };
        let a = call(&r, method, uri).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(!a.message().is_empty());
    }
}

#[tokio::test]
async fn filters_reach_the_backend_in_both_forms() {
    let fake = Fake::new();
    let r = server(&fake);
    let want: berth_engine::service::Filters =
        [("status".to_string(), vec!["running".to_string()])].into_iter().collect();
    for raw in [r#"{"status":["running"]}"#, r#"{"status":{"running":true}}"#] {
        let uri = format!("/containers/json?all=1&limit=3&filters={}", urlencode(raw));
        let a = call(&r, Method::GET, &uri).await;
        assert_eq!(a.status, StatusCode::OK, "{raw}");
        let opts = fake.rec.lock().unwrap().list_opts.take().unwrap();
        assert_eq!(opts.filters, want, "{raw}");
        assert!(opts.all);
        assert_eq!(opts.limit, Some(3));
        assert_eq!(a.json()[0]["Names"][0], "/c1");
    }
    let uri = format!("/images/prune?filters={}", urlencode(r#"{"dangling":{"true":true}}"#));
    assert_eq!(call(&r, Method::POST, &uri).await.status, StatusCode::OK);
    let got = fake.rec.lock().unwrap().filters.take().unwrap();
    assert_eq!(got.get("dangling"), Some(&vec!["true".to_string()]));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn wait_sends_headers_before_the_result() {
    let fake = Fake::new();
    let r = server(&fake);
    let resp = r
        .clone()
        .oneshot(
            Request::post("/containers/c1/wait?condition=next-exit").body(Body::empty()).unwrap(),
        )
        .await
        .unwrap();
    // The response (status and headers) exists while the container is still "running".
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(fake.pending_waits(), 1);
    let mut body = resp.into_body();
    let early = tokio::time::timeout(Duration::from_millis(100), body.frame()).await;
    assert!(early.is_err(), "no body before the container exits");
    fake.finish_waits(3);
    let frame =
        tokio::time::timeout(Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
    let data = frame.into_data().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&data).unwrap(), json!({"StatusCode": 3}));

    // An unknown container is a real 404, not a 200 with an error inside.
    let a = call(&r, Method::POST, "/containers/nope/wait").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.message(), "No such container: nope");
}

#[tokio::test]
async fn image_names_may_contain_slashes() {
    let fake = Fake::new();
    let r = server(&fake);
    for uri in
        ["/images/localhost:5000/foo/bar:tag/json", "/v1.47/images/localhost:5000/foo/bar:tag/json"]
    {
        let a = call(&r, Method::GET, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(a.json()["Id"], "localhost:5000/foo/bar:tag");
    }
    let a = call(&r, Method::GET, "/images/localhost:5000/foo/bar:tag/history").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), json!([]));

    let a = call(&r, Method::GET, "/images/no/such:thing/json").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.message(), "No such image: no/such:thing");

    let a = call(&r, Method::POST, "/images/localhost:5000/foo/bar:tag/tag?repo=other/name&tag=v2")
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let tagged = fake.rec.lock().unwrap().tagged.take().unwrap();
    assert_eq!(
        tagged,
        ("localhost:5000/foo/bar:tag".into(), "other/name".into(), Some("v2".into()))
    );

    let a = call(&r, Method::DELETE, "/v1.47/images/localhost:5000/foo/bar:tag?force=1").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), json!([{"Untagged": "localhost:5000/foo/bar:tag"}]));
    let removed = fake.rec.lock().unwrap().removed_image.take().unwrap();
    assert_eq!(removed, ("localhost:5000/foo/bar:tag".into(), true, false));

    // The fixed routes still win.
    assert_eq!(call(&r, Method::GET, "/images/json").await.json(), json!([]));
}

#[tokio::test]
async fn logs_are_multiplexed_without_tty_and_raw_with() {
    let fake = Fake::new();
    let r = server(&fake);
    let a = call(
        &r,
        Method::GET,
        "/containers/c1/logs?stdout=1&stderr=1&tail=all&since=10.5&timestamps=1",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/vnd.docker.multiplexed-stream");
    assert_eq!(
        &a.body[..],
        b"\x01\x00\x00\x00\x00\x00\x00\x04out\n\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    );
    let opts = fake.rec.lock().unwrap().logs_opts.take().unwrap();
    assert!(opts.stdout && opts.stderr && opts.timestamps && !opts.follow);
    assert_eq!((opts.tail, opts.since, opts.until), (None, Some(10.5), None));

    let a = call(&r, Method::GET, "/containers/tty/logs?stdout=1&tail=5").await;
    assert_eq!(a.header("content-type"), "application/vnd.docker.raw-stream");
    assert_eq!(&a.body[..], b"out\nerr\n");
    assert_eq!(fake.rec.lock().unwrap().logs_opts.take().unwrap().tail, Some(5));

    // Before 1.42 Docker called every stream raw, though it is framed.
    let a = call(&r, Method::GET, "/v1.41/containers/c1/logs?stdout=1").await;
    assert_eq!(a.header("content-type"), "application/vnd.docker.raw-stream");
    assert_eq!(a.body[0], 1);
}

#[tokio::test]
async fn lifecycle_statuses_follow_docker() {
    let fake = Fake::new();
    let r = server(&fake);
    let a = post_json(
        &r,
        "/containers/create?name=web",
        r#"{"Image":"busybox","Cmd":["true"],"Tty":false}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.json(), json!({"Id": "id-web", "Warnings": []}));

    let cases = [
        (Method::POST, "/containers/web/start", StatusCode::NO_CONTENT),
        (Method::POST, "/containers/web/stop?t=3&signal=SIGTERM", StatusCode::NO_CONTENT),
        (Method::POST, "/containers/web/stop", StatusCode::NOT_MODIFIED),
        (Method::POST, "/containers/web/restart?t=1", StatusCode::NO_CONTENT),
        (Method::POST, "/containers/up/kill?signal=HUP", StatusCode::NO_CONTENT),
        (Method::POST, "/containers/web/pause", StatusCode::NO_CONTENT),
        (Method::POST, "/containers/web/unpause", StatusCode::NO_CONTENT),
        (Method::POST, "/containers/web/rename?name=web2", StatusCode::NO_CONTENT),
        (Method::POST, "/containers/web/rename", StatusCode::BAD_REQUEST),
        (Method::POST, "/containers/web/resize?h=24&w=80", StatusCode::OK),
        (Method::GET, "/containers/web/top?ps_args=aux", StatusCode::OK),
        (Method::GET, "/containers/web/json?size=1", StatusCode::OK),
        (Method::POST, "/containers/prune", StatusCode::OK),
        (Method::DELETE, "/containers/web?force=1&v=1", StatusCode::NO_CONTENT),
        (Method::DELETE, "/containers/web", StatusCode::NOT_FOUND),
        (Method::GET, "/system/df", StatusCode::OK),
    ];
    for (method, uri, want) in cases {
        let a = call(&r, method.clone(), uri).await;
        assert_eq!(a.status, want, "{method} {uri}: {:?}", String::from_utf8_lossy(&a.body));
    }
    let stopped = fake.rec.lock().unwrap().stopped_with.take().unwrap();
    assert_eq!(stopped, (Some("SIGTERM".into()), Some(3)));
}

#[tokio::test]
async fn exec_create_start_inspect() {
    let fake = Fake::new();
    let r = server(&fake);
    let a = post_json(&r, "/containers/up/exec", r#"{"Cmd":["ls"],"AttachStdout":true}"#).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.json(), json!({"Id": "exec1"}));

    let a = post_json(&r, "/containers/up/exec", r#"{"Cmd":[]}"#).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.message(), "No exec command specified");

    let a = post_json(&r, "/containers/c1/exec", r#"{"Cmd":["ls"]}"#).await;
    assert_eq!(a.status, StatusCode::CONFLICT);

    let a = post_json(&r, "/exec/exec1/start", r#"{"Detach":true,"Tty":false}"#).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.is_empty());
    assert_eq!(
        fake.rec.lock().unwrap().exec_start.take(),
        Some(("exec1".into(), true, Some(false)))
    );

    let a = post_json(&r, "/exec/nope/start", r#"{"Detach":true}"#).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // Without an upgradable connection the output comes as the body.
    let a = post_json(&r, "/exec/exec1/start", r#"{}"#).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/vnd.docker.raw-stream");
    assert_eq!(&a.body[..8], b"\x01\x00\x00\x00\x00\x00\x00\x06");
    assert_eq!(fake.rec.lock().unwrap().exec_start.take(), Some(("exec1".into(), false, None)));

    let a = call(&r, Method::GET, "/exec/exec1/json").await;
    assert_eq!((a.status, a.json()["ID"].clone()), (StatusCode::OK, json!("exec1")));
    let a = call(&r, Method::POST, "/exec/exec1/resize?h=10&w=20").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(fake.rec.lock().unwrap().exec_resized, Some((10, 20)));
}

#[tokio::test]
async fn import_reads_the_body_and_reports_the_id() {
    let fake = Fake::new();
    let r = server(&fake);
    let req = Request::post("/images/create?fromSrc=-&repo=imported%2Fbase&tag=1&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3Db")
        .header("content-type", "application/x-tar")
        .body(Body::from(vec![7u8; 1000]))
        .unwrap();
    let a = call_with(&r, req).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/json");
    assert!(a.body.ends_with(b"\r\n"));
    assert_eq!(a.json(), json!({"status": format!("sha256:{:064x}", 1000)}));
    let (data, repo, tag, message, changes) = fake.rec.lock().unwrap().imported.take().unwrap();
    assert_eq!(data.len(), 1000);
    assert_eq!((repo.as_deref(), tag.as_deref()), (Some("imported/base"), Some("1")));
    assert_eq!(message.as_deref(), Some("Imported from -"));
    assert_eq!(changes, vec!["CMD [\"sh\"]".to_string(), "ENV A=b".to_string()]);
}

#[tokio::test]
async fn events_are_newline_delimited_json() {
    let fake = Fake::new();
    let r = server(&fake);
    let uri = format!(
        "/events?since=100&until=200.5&filters={}",
        urlencode(r#"{"type":{"container":true}}"#)
    );
    let a = call(&r, Method::GET, &uri).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/json");
    let lines: Vec<Value> = a
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["Action"], "start");
    let rec = fake.rec.lock().unwrap();
    assert_eq!(rec.events_args, Some((Some(100.0), Some(200.5))));
    assert_eq!(rec.filters.as_ref().unwrap()["type"], vec!["container".to_string()]);
}
