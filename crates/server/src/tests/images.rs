//! Pull, push, save, load, commit, export and login over the fake backend: statuses, content
//! types, the shapes of the progress streams and where errors go.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::fake::Fake;
use super::{call, call_with, server, Answer};

/// The JSON lines of a progress stream; each must end with `\r\n`, as dockerd's do.
fn lines(a: &Answer) -> Vec<Value> {
    assert_eq!(a.header("content-type"), "application/json");
    let text = std::str::from_utf8(&a.body).unwrap();
    assert!(text.ends_with("\r\n"), "{text:?}");
    text.split_terminator("\r\n").map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri).body(body.into()).unwrap()
}

#[tokio::test]
async fn pull_streams_progress_as_json_lines() {
    let fake = Fake::new();
    let r = server(&fake);
    let req = Request::post("/v1.47/images/create?fromImage=busybox&tag=1.36&platform=linux%2Famd64")
        .header("X-Registry-Auth", "eyJ1c2VybmFtZSI6InUifQ")
        .body(Body::empty())
        .unwrap();
    let a = call_with(&r, req).await;
    assert_eq!(a.status, StatusCode::OK);
    let got = lines(&a);
    assert_eq!(got[0], json!({"status": "Pulling from library/busybox", "id": "1.36", "progressDetail": {}}));
    assert_eq!(got[1], json!({"status": "Pulling fs layer", "id": "abc123", "progressDetail": {}}));
    assert_eq!(got.last().unwrap(), &json!({"status": "Status: Downloaded newer image for busybox:1.36"}));
    assert_eq!(got.len(), 5);
    let pulled = fake.rec.lock().unwrap().pulled.take().unwrap();
    assert_eq!(pulled.image, "busybox");
    assert_eq!(pulled.tag.as_deref(), Some("1.36"));
    assert_eq!(pulled.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(pulled.registry_auth.as_deref(), Some("eyJ1c2VybmFtZSI6InUifQ"));

    // No platform, no auth: None, not empty strings.
    let a = call(&r, Method::POST, "/images/create?fromImage=busybox&tag=latest&platform=").await;
    assert_eq!(a.status, StatusCode::OK);
    let pulled = fake.rec.lock().unwrap().pulled.take().unwrap();
    assert_eq!((pulled.platform, pulled.registry_auth), (None, None));
}

#[tokio::test]
async fn a_pull_failing_before_any_progress_is_an_error_status() {
    let r = server(&Fake::new());
    let a = call(&r, Method::POST, "/images/create?fromImage=nope&tag=latest").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.message(), "manifest for nope:latest not found: manifest unknown: manifest unknown");
}

#[tokio::test]
async fn a_pull_failing_after_progress_ends_with_an_error_message() {
    let r = server(&Fake::new());
    let a = call(&r, Method::POST, "/images/create?fromImage=broken&tag=latest").await;
    assert_eq!(a.status, StatusCode::OK);
    let got = lines(&a);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["status"], "Pulling from library/broken");
    assert_eq!(got[1], json!({"errorDetail": {"message": "unexpected EOF"}, "error": "unexpected EOF"}));
}

#[tokio::test]
async fn create_needs_an_image_or_a_source() {
    let r = server(&Fake::new());
    let a = call(&r, Method::POST, "/images/create").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.message(), "either fromImage or fromSrc is required");
}

#[tokio::test]
async fn push_streams_progress_and_aux() {
    let fake = Fake::new();
    let r = server(&fake);
    let req = Request::post("/v1.47/images/localhost:5000/foo/bar/push?tag=tag")
        .header("X-Registry-Auth", "e30")
        .body(Body::empty())
        .unwrap();
    let a = call_with(&r, req).await;
    assert_eq!(a.status, StatusCode::OK);
    let got = lines(&a);
    assert_eq!(got[0], json!({"status": "The push refers to repository [localhost:5000/foo/bar]"}));
    assert_eq!(got[2]["aux"], json!({"Tag": "tag", "Digest": "sha256:0", "Size": 1}));
    let pushed = fake.rec.lock().unwrap().pushed.take().unwrap();
    assert_eq!(
        (pushed.name.as_str(), pushed.tag.as_deref(), pushed.registry_auth.as_deref()),
        ("localhost:5000/foo/bar", Some("tag"), Some("e30"))
    );

    // No tag: every tag of the repository (`--all-tags`).
    let a = call(&r, Method::POST, "/images/localhost:5000/foo/bar/push").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(fake.rec.lock().unwrap().pushed.take().unwrap().tag, None);
}

#[tokio::test]
async fn pushing_a_missing_image_is_a_404() {
    let r = server(&Fake::new());
    let a = call(&r, Method::POST, "/images/localhost:5000/nope/push?tag=latest").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.message(), "An image does not exist locally with the tag: localhost:5000/nope:latest");
}

#[tokio::test]
async fn save_streams_a_tar_of_one_or_several_images() {
    let fake = Fake::new();
    let r = server(&fake);
    let a = call(&r, Method::GET, "/images/localhost:5000/foo/bar:tag/get").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/x-tar");
    assert_eq!(&a.body[..], b"tar of localhost:5000/foo/bar:tag");

    let a = call(&r, Method::GET, "/v1.47/images/get?names=localhost%3A5000%2Ffoo%2Fbar%3Atag&names=localhost%3A5000%2Ffoo%2Fbar%3Atag").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(fake.rec.lock().unwrap().saved.take().unwrap().len(), 2);

    for uri in ["/images/nope/get", "/images/get?names=localhost%3A5000%2Ffoo%2Fbar%3Atag&names=nope"] {
        let a = call(&r, Method::GET, uri).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(a.message(), "No such image: nope");
    }
    // An image named `get` is still an image name.
    let a = call(&r, Method::GET, "/images/get/json").await;
    assert_eq!(a.message(), "No such image: get");
}

#[tokio::test]
async fn load_answers_json_lines_and_reports_failures_in_band() {
    let fake = Fake::new();
    let r = server(&fake);
    let a = call_with(&r, post("/images/load?quiet=1", vec![1u8; 3000])).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        lines(&a),
        vec![
            json!({"stream": "Loaded image: loaded:latest\n"}),
            json!({"stream": format!("Loaded image ID: sha256:{}\n", "e".repeat(64))}),
        ]
    );
    assert_eq!(fake.rec.lock().unwrap().loaded.take().unwrap(), (vec![1u8; 3000], true));

    // dockerd's default is quiet; the CLI asks for progress with quiet=0.
    call_with(&r, post("/images/load", vec![1u8])).await;
    assert!(fake.rec.lock().unwrap().loaded.take().unwrap().1);
    call_with(&r, post("/images/load?quiet=0", vec![1u8])).await;
    assert!(!fake.rec.lock().unwrap().loaded.take().unwrap().1);

    // As dockerd: still a 200, the error is the stream's message.
    let a = call_with(&r, post("/images/load", Body::empty())).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(lines(&a), vec![json!({"errorDetail": {"message": "unexpected EOF"}, "error": "unexpected EOF"})]);
}

#[tokio::test]
async fn commit_passes_every_parameter_and_answers_201() {
    let fake = Fake::new();
    let r = server(&fake);
    let uri = "/v1.47/commit?container=c1&repo=app&tag=v1&comment=msg&author=me&pause=0&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3Db";
    let req = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(r#"{"Env":["X=1"],"Cmd":["top"]}"#))
        .unwrap();
    let a = call_with(&r, req).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.json(), json!({"Id": format!("sha256:{}", "c".repeat(64))}));
    let c = fake.rec.lock().unwrap().committed.take().unwrap();
    assert_eq!(c.container, "c1");
    assert_eq!((c.repo.as_deref(), c.tag.as_deref()), (Some("app"), Some("v1")));
    assert_eq!((c.comment.as_deref(), c.author.as_deref()), (Some("msg"), Some("me")));
    assert!(!c.pause);
    assert_eq!(c.changes, vec!["CMD [\"sh\"]".to_string(), "ENV A=b".to_string()]);
    let config = c.config.unwrap();
    assert_eq!((config.env, config.cmd), (Some(vec!["X=1".into()]), Some(vec!["top".into()])));

    // What the CLI sends: a `null` config (or none), pause by default.
    for body in ["null\n", ""] {
        let a = call_with(&r, post("/commit?container=up", body)).await;
        assert_eq!(a.status, StatusCode::CREATED, "{body:?}");
        let c = fake.rec.lock().unwrap().committed.take().unwrap();
        assert!(c.pause && c.config.is_none() && c.repo.is_none() && c.changes.is_empty(), "{c:?}");
    }
    let a = call_with(&r, post("/commit?container=up&pause=1", "")).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert!(fake.rec.lock().unwrap().committed.take().unwrap().pause);

    let a = call_with(&r, post("/commit?container=nope", "")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.message(), "No such container: nope");
    let a = call_with(&r, post("/commit?container=c1", "{bad")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn export_streams_a_tar() {
    let fake = Fake::new();
    let r = server(&fake);
    let a = call(&r, Method::GET, "/v1.47/containers/c1/export").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/x-tar");
    assert_eq!(&a.body[..], b"rootfs of id1");
    assert_eq!(fake.rec.lock().unwrap().exported.take().as_deref(), Some("id1"));

    let a = call(&r, Method::GET, "/containers/nope/export").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.message(), "No such container: nope");

    // A failure half way breaks the body: the client cannot take it for a whole archive.
    let req = Request::get("/containers/silent/export").body(Body::empty()).unwrap();
    let resp = r.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.into_body().collect().await.is_err());
}

#[tokio::test]
async fn auth_answers_login_succeeded_or_401() {
    let fake = Fake::new();
    let r = server(&fake);
    let login = |body: &str| {
        Request::post("/v1.47/auth").header("content-type", "application/json").body(Body::from(body.to_owned())).unwrap()
    };
    let a = call_with(&r, login(r#"{"username":"u","password":"p","serveraddress":"localhost:5000"}"#)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), json!({"Status": "Login Succeeded", "IdentityToken": ""}));
    let req = fake.rec.lock().unwrap().login.take().unwrap();
    assert_eq!((req.username.as_str(), req.password.as_str()), ("u", "p"));
    assert_eq!(req.server_address, "localhost:5000");

    let a = call_with(&r, login(r#"{"username":"token","password":"p","serveraddress":"r"}"#)).await;
    assert_eq!(a.json(), json!({"Status": "Login Succeeded", "IdentityToken": "refresh-me"}));

    let a = call_with(&r, login(r#"{"username":"u","password":"wrong","serveraddress":"localhost:5000"}"#)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.message(), "login attempt to http://localhost:5000/v2/ failed with status: 401 Unauthorized");

    for bad in ["[1]", "{nope", ""] {
        let a = call_with(&r, login(bad)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
}

#[tokio::test]
async fn inspect_has_parent_and_docker_version_before_1_52() {
    let fake = Fake::new();
    fake.rec.lock().unwrap().images.push("child:1".into());
    let r = server(&fake);
    let parent = format!("sha256:{}", "f".repeat(64));
    let cases = [
        ("/v1.47/images/child:1/json", json!(parent), json!("")),
        ("/images/localhost:5000/foo/bar:tag/json", json!(""), json!("")),
        ("/v1.24/images/localhost:5000/foo/bar:tag/json", json!(""), json!("")),
    ];
    for (uri, want_parent, want_version) in cases {
        let a = call(&r, Method::GET, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        let v = a.json();
        assert_eq!((&v["Parent"], &v["DockerVersion"]), (&want_parent, &want_version), "{uri}");
        assert!(v["Id"].is_string(), "{uri}");
    }
}

#[tokio::test]
async fn inspect_has_container_config_before_1_45() {
    let r = server(&Fake::new());
    let a = call(&r, Method::GET, "/v1.38/images/localhost:5000/foo/bar:tag/json").await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["Container"], json!(""));
    assert!(v.get("ContainerConfig").is_some(), "docker-compose 1.29 reads it: {v}");
    assert_eq!(v["ContainerConfig"], v["Config"]);
    let v = call(&r, Method::GET, "/v1.45/images/localhost:5000/foo/bar:tag/json").await.json();
    assert!(v.get("ContainerConfig").is_none() && v.get("Container").is_none(), "{v}");
}

#[tokio::test]
async fn changes_are_a_json_list_of_kinds() {
    let r = server(&Fake::new());
    let a = call(&r, Method::GET, "/v1.47/containers/c1/changes").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json(),
        json!([{"Path": "/etc", "Kind": 0}, {"Path": "/etc/group", "Kind": 2}, {"Path": "/made.txt", "Kind": 1}])
    );
    let a = call(&r, Method::GET, "/containers/nope/changes").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.message(), "No such container: nope");
}
