//! A tiny in-memory registry (distribution API v2) on 127.0.0.1 for the client's tests:
//! manifests, blobs, monolithic and chunked uploads, cross-repository mounts, basic or
//! bearer auth with its own token endpoint, and a "liar" mode that serves wrong or short
//! blobs. Every request is logged so tests can check what the client did.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use sha2::Digest as _;

#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Basic { user: String, pass: String },
    Bearer { user: String, pass: String },
}

#[derive(Clone, Debug)]
pub enum Lie {
    /// Serve other bytes for this digest.
    WrongBytes(String),
    /// Serve only half of this blob.
    Truncate(String),
    /// Redirect GETs of this blob to `<base>/v2/<name>/blobs/<digest>` (base: `http://host:port`).
    Redirect(String, String),
    /// Once: answer a GET of this blob with 503.
    Unavailable503Once(String),
    /// Once: serve only half of this blob.
    TruncateOnce(String),
    /// Once: keep only the first K bytes of the next PATCH, then drop the connection
    /// without answering.
    DropPatchAfter(usize),
    /// Once: as `DropPatchAfter`, and forget the upload session too.
    DropPatchAndForget(usize),
    /// Once: answer the next PATCH with 416 (without keeping any of it).
    Patch416Once,
}

/// Drop the connection the current request came on: unwinding the connection's task
/// closes its socket (`resume_unwind` skips the panic hook, so nothing is printed).
fn drop_connection() -> ! {
    std::panic::resume_unwind(Box::new("fake registry: connection dropped on purpose"))
}

/// Take the first once-only lie `pick` accepts out of the list.
fn take_lie<T>(lies: &mut Vec<Lie>, pick: impl Fn(&Lie) -> Option<T>) -> Option<T> {
    let i = lies.iter().position(|l| pick(l).is_some())?;
    pick(&lies.remove(i))
}

#[derive(Default)]
pub struct State_ {
    pub blobs: HashMap<String, Bytes>,
    pub blob_repos: HashMap<String, HashSet<String>>,
    pub manifests: HashMap<(String, String), (String, Bytes)>,
    pub uploads: HashMap<String, Vec<u8>>,
    pub log: Vec<String>,
    pub tokens_issued: usize,
    pub next: u64,
    pub lies: Vec<Lie>,
}

pub struct Fake {
    pub state: Mutex<State_>,
    pub auth: Auth,
    pub addr: Mutex<String>,
}

pub struct Server {
    pub fake: Arc<Fake>,
    pub addr: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

impl Server {
    pub async fn start(auth: Auth) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let fake = Arc::new(Fake {
            state: Mutex::new(State_::default()),
            auth,
            addr: Mutex::new(addr.clone()),
        });
        let app = axum::Router::new().fallback(handle).with_state(fake.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { fake, addr, task }
    }

    pub fn put_blob(&self, repo: &str, b: &[u8]) -> String {
        let d = sha(b);
        let mut st = self.fake.state.lock().unwrap();
        st.blobs.insert(d.clone(), Bytes::copy_from_slice(b));
        st.blob_repos.entry(d.clone()).or_default().insert(repo.to_string());
        d
    }

    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, b: &[u8]) -> String {
        let d = sha(b);
        let mut st = self.fake.state.lock().unwrap();
        let v = (media_type.to_string(), Bytes::copy_from_slice(b));
        st.manifests.insert((repo.to_string(), reference.to_string()), v.clone());
        st.manifests.insert((repo.to_string(), d.clone()), v);
        d
    }

    pub fn lie(&self, l: Lie) {
        self.fake.state.lock().unwrap().lies.push(l);
    }

    pub fn log(&self) -> Vec<String> {
        self.fake.state.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.fake.state.lock().unwrap().log.clear();
    }

    pub fn tokens_issued(&self) -> usize {
        self.fake.state.lock().unwrap().tokens_issued
    }

    pub fn has_blob(&self, d: &str) -> bool {
        self.fake.state.lock().unwrap().blobs.contains_key(d)
    }
}

fn query(q: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = q else { return Vec::new() };
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn errors(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn basic_of(h: &HeaderMap) -> Option<(String, String)> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(v.strip_prefix("Basic ")?).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// May this request do `action` (pull or push) on `repo`? `None`: yes; `Some(resp)`: no.
fn check(fake: &Fake, h: &HeaderMap, repo: Option<&str>, action: &str) -> Option<Response> {
    let addr = fake.addr.lock().unwrap().clone();
    match &fake.auth {
        Auth::None => None,
        Auth::Basic { user, pass } => {
            if basic_of(h) == Some((user.clone(), pass.clone())) {
                return None;
            }
            let mut r = errors(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required");
            r.headers_mut().insert(header::WWW_AUTHENTICATE, "Basic realm=\"fake\"".parse().unwrap());
            Some(r)
        }
        Auth::Bearer { .. } => {
            let token = h
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            let ok = match repo {
                None => token.starts_with("tok:user:") || token.starts_with("tok:anon:"),
                Some(repo) => token.starts_with("tok:user:") && token.split(' ').any(|sc| {
                    let sc = sc.trim_start_matches("tok:user:");
                    sc.strip_prefix(&format!("repository:{repo}:")).is_some_and(|a| a.split(',').any(|x| x == action))
                }),
            };
            if ok {
                return None;
            }
            let scope = repo.map(|r| format!(",scope=\"repository:{r}:{action}\"")).unwrap_or_default();
            let mut r = errors(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                format!("Bearer realm=\"http://{addr}/token\",service=\"fake\"{scope}").parse().unwrap(),
            );
            Some(r)
        }
    }
}

async fn handle(State(fake): State<Arc<Fake>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let q = query(req.uri().query());
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap_or_default();
    fake.state.lock().unwrap().log.push(format!(
        "{method} {path}{}{}",
        if q.is_empty() { String::new() } else { format!("?{}", q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")) },
        if headers.contains_key(header::AUTHORIZATION) { " [auth]" } else { "" }
    ));

    if path == "/token" {
        let Auth::Bearer { user, pass } = &fake.auth else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let who = match basic_of(&headers) {
            Some((u, p)) if &u == user && &p == pass => "user",
            Some(_) => {
                return (StatusCode::UNAUTHORIZED, r#"{"details":"incorrect username or password"}"#).into_response();
            }
            None => "anon",
        };
        let scopes: Vec<String> = q.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
        let mut st = fake.state.lock().unwrap();
        st.tokens_issued += 1;
        let mut body = serde_json::json!({"token": format!("tok:{who}:{}", scopes.join(" ")), "expires_in": 300});
        if q.iter().any(|(k, v)| k == "offline_token" && v == "true") && who == "user" {
            body["refresh_token"] = "refresh-me".into();
        }
        return (StatusCode::OK, body.to_string()).into_response();
    }

    if path == "/v2/" {
        if let Some(r) = check(&fake, &headers, None, "pull") {
            return r;
        }
        return (StatusCode::OK, "{}").into_response();
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // <name>/manifests/<ref> | <name>/blobs/<digest> | <name>/blobs/uploads/[<id>]
    let (name, kind, tail) = if let Some(i) = rest.find("/blobs/uploads/") {
        (&rest[..i], "uploads", &rest[i + "/blobs/uploads/".len()..])
    } else if let Some(i) = rest.rfind("/manifests/") {
        (&rest[..i], "manifests", &rest[i + "/manifests/".len()..])
    } else if let Some(i) = rest.rfind("/blobs/") {
        (&rest[..i], "blobs", &rest[i + "/blobs/".len()..])
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let write = !(method == Method::GET || method == Method::HEAD);
    if let Some(r) = check(&fake, &headers, Some(name), if write { "push" } else { "pull" }) {
        return r;
    }
    let mut st = fake.state.lock().unwrap();
    match (kind, method.clone()) {
        ("manifests", Method::GET) | ("manifests", Method::HEAD) => {
            match st.manifests.get(&(name.to_string(), tail.to_string())) {
                Some((mt, b)) => {
                    let body = if method == Method::HEAD { Body::empty() } else { Body::from(b.clone()) };
                    Response::builder()
                        .status(200)
                        .header(header::CONTENT_TYPE, mt)
                        .header("Docker-Content-Digest", sha(b))
                        .header(header::CONTENT_LENGTH, b.len())
                        .body(body)
                        .unwrap()
                }
                None => errors(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown"),
            }
        }
        ("manifests", Method::PUT) => {
            let mt = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let d = sha(&body);
            let v: serde_json::Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(_) => return errors(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "manifest invalid"),
            };
            let mut needed: Vec<String> = v["layers"].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str().map(String::from)).collect();
            needed.extend(v["config"]["digest"].as_str().map(String::from));
            if let Some(missing) = needed.iter().find(|d| !st.blob_repos.get(*d).is_some_and(|r| r.contains(name))) {
                return errors(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", &format!("blob unknown to registry: {missing}"));
            }
            st.manifests.insert((name.to_string(), tail.to_string()), (mt.clone(), body.clone()));
            st.manifests.insert((name.to_string(), d.clone()), (mt, body));
            Response::builder().status(201).header("Docker-Content-Digest", d).body(Body::empty()).unwrap()
        }
        ("blobs", Method::GET) | ("blobs", Method::HEAD) => {
            let in_repo = st.blob_repos.get(tail).is_some_and(|r| r.contains(name));
            let Some(b) = st.blobs.get(tail).cloned().filter(|_| in_repo) else {
                return errors(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown to registry");
            };
            let mut b = b;
            if method == Method::GET {
                let t = tail.to_string();
                if take_lie(&mut st.lies, |l| matches!(l, Lie::Unavailable503Once(d) if *d == t).then_some(())).is_some() {
                    return errors(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again later");
                }
                if take_lie(&mut st.lies, |l| matches!(l, Lie::TruncateOnce(d) if *d == t).then_some(())).is_some() {
                    b = b.slice(..b.len() / 2);
                }
            }
            for l in &st.lies {
                if let Lie::Redirect(d, base) = l {
                    if d == tail && method == Method::GET {
                        return Response::builder()
                            .status(307)
                            .header(header::LOCATION, format!("{base}/v2/{name}/blobs/{tail}"))
                            .body(Body::empty())
                            .unwrap();
                    }
                }
            }
            for l in &st.lies {
                match l {
                    Lie::WrongBytes(d) if d == tail => {
                        let mut v = b.to_vec();
                        v[0] ^= 0xff;
                        b = Bytes::from(v);
                    }
                    Lie::Truncate(d) if d == tail => b = b.slice(..b.len() / 2),
                    _ => {}
                }
            }
            let len = b.len();
            let body = if method == Method::HEAD { Body::empty() } else { Body::from(b) };
            Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header("Docker-Content-Digest", tail)
                .header(header::CONTENT_LENGTH, len)
                .body(body)
                .unwrap()
        }
        ("uploads", Method::POST) => {
            let mount = q.iter().find(|(k, _)| k == "mount").map(|(_, v)| v.clone());
            let from = q.iter().find(|(k, _)| k == "from").map(|(_, v)| v.clone());
            if let (Some(d), Some(from)) = (mount, from) {
                if st.blob_repos.get(&d).is_some_and(|r| r.contains(&from)) {
                    st.blob_repos.entry(d.clone()).or_default().insert(name.to_string());
                    return Response::builder()
                        .status(201)
                        .header(header::LOCATION, format!("/v2/{name}/blobs/{d}"))
                        .body(Body::empty())
                        .unwrap();
                }
            }
            st.next += 1;
            let id = format!("u{}", st.next);
            st.uploads.insert(id.clone(), Vec::new());
            Response::builder()
                .status(202)
                .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}?_state=x"))
                .header(header::RANGE, "0-0")
                .header("Docker-Upload-UUID", id)
                .body(Body::empty())
                .unwrap()
        }
        ("uploads", Method::GET) => match st.uploads.get(tail) {
            Some(buf) => Response::builder()
                .status(204)
                .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{tail}?_state=s"))
                .header(header::RANGE, format!("0-{}", buf.len().saturating_sub(1)))
                .header("Docker-Upload-UUID", tail)
                .body(Body::empty())
                .unwrap(),
            None => errors(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"),
        },
        ("uploads", Method::PATCH) => {
            if st.uploads.contains_key(tail) {
                if take_lie(&mut st.lies, |l| matches!(l, Lie::Patch416Once).then_some(())).is_some() {
                    return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                }
                let drop_after = take_lie(&mut st.lies, |l| match l {
                    Lie::DropPatchAfter(k) => Some((*k, false)),
                    Lie::DropPatchAndForget(k) => Some((*k, true)),
                    _ => None,
                });
                if let Some((k, forget)) = drop_after {
                    if forget {
                        st.uploads.remove(tail);
                    } else if let Some(buf) = st.uploads.get_mut(tail) {
                        buf.extend_from_slice(&body[..k.min(body.len())]);
                    }
                    drop(st);
                    drop_connection();
                }
            }
            let Some(buf) = st.uploads.get_mut(tail) else {
                return errors(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
            };
            if let Some(cr) = headers.get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()) {
                let start: usize = cr.split('-').next().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
                if start != buf.len() {
                    return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                }
            }
            buf.extend_from_slice(&body);
            let end = buf.len().saturating_sub(1);
            Response::builder()
                .status(202)
                .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{tail}?_state=y"))
                .header(header::RANGE, format!("0-{end}"))
                .body(Body::empty())
                .unwrap()
        }
        ("uploads", Method::PUT) => {
            let Some(mut buf) = st.uploads.remove(tail) else {
                return errors(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
            };
            buf.extend_from_slice(&body);
            let want = q.iter().find(|(k, _)| k == "digest").map(|(_, v)| v.clone()).unwrap_or_default();
            if sha(&buf) != want {
                return errors(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "provided digest did not match uploaded content");
            }
            st.blobs.insert(want.clone(), Bytes::from(buf));
            st.blob_repos.entry(want.clone()).or_default().insert(name.to_string());
            Response::builder()
                .status(201)
                .header(header::LOCATION, format!("/v2/{name}/blobs/{want}"))
                .header("Docker-Content-Digest", want)
                .body(Body::empty())
                .unwrap()
        }
        _ => errors(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "the operation is unsupported"),
    }
}
