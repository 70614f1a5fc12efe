//! Reading what a client still sends after an error answer.
//!
//! A handler that fails before it has read the request body (say `PUT /containers/x/archive`
//! for a path that does not exist) answers at once; a connection closed with unread input is
//! reset, and a client still writing its body (the docker CLI streaming a tar) then sees
//! `broken pipe` instead of the answer. As Go's HTTP server does for dockerd, what is left of
//! the body is read and dropped (up to [`DRAIN_LIMIT`], for at most [`DRAIN_TIME`]) before an
//! error answer goes out.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;

/// At most this much unread input is read after an error.
pub(crate) const DRAIN_LIMIT: usize = 4 << 20;
/// For at most this long.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The request body, shared between the handler and this layer.
struct Shared(Arc<Mutex<Body>>);

impl http_body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let mut body = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Pin::new(&mut *body).poll_frame(cx)
    }
}

/// Middleware: run the handler; on a 4xx/5xx answer, first read the rest of the body.
pub(crate) async fn drain_unread_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let shared = Arc::new(Mutex::new(body));
    let resp = next.run(Request::from_parts(parts, Body::new(Shared(shared.clone())))).await;
    if resp.status().is_client_error() || resp.status().is_server_error() {
        let mut rest = std::mem::replace(&mut *shared.lock().unwrap_or_else(|p| p.into_inner()), Body::empty());
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            let mut read = 0;
            while let Some(Ok(frame)) = rest.frame().await {
                read += frame.data_ref().map_or(0, Bytes::len);
                if read > DRAIN_LIMIT {
                    break;
                }
            }
        })
        .await;
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::put;
    use axum::Router;
    use tower::ServiceExt;

    /// A body that counts how much of it was read.
    fn counted(chunks: usize) -> (Body, Arc<std::sync::atomic::AtomicUsize>) {
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = n.clone();
        let s = futures_util::stream::iter((0..chunks).map(move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from_static(&[0u8; 1024]))
        }));
        (Body::from_stream(s), n)
    }

    fn app() -> Router {
        Router::new()
            .route("/fail", put(|| async { StatusCode::NOT_FOUND }))
            .route("/ok", put(|| async { StatusCode::OK }))
            .layer(axum::middleware::from_fn(drain_unread_body))
    }

    #[tokio::test]
    async fn unread_input_is_read_before_an_error_but_not_beyond_the_limit() {
        let cases: &[(&str, usize, usize)] = &[
            // path, chunks of 1 KiB sent, chunks read
            ("/fail", 10, 10),
            ("/ok", 10, 0),
            ("/fail", DRAIN_LIMIT / 1024 + 100, DRAIN_LIMIT / 1024 + 1),
        ];
        for (path, sent, want) in cases {
            let (body, read) = counted(*sent);
            let req = Request::builder().method("PUT").uri(*path).body(body).unwrap();
            let resp = app().oneshot(req).await.unwrap();
            assert_ne!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(read.load(std::sync::atomic::Ordering::SeqCst), *want, "{path} with {sent} chunks");
        }
    }
}
