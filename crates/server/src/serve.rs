//! Serving a router on a unix socket (or any listener) with HTTP/1.1 and upgrades (attach and exec hijack).

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long requests in flight may take to finish once shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serve `router` on `listener` until `shutdown` completes.
///
/// Each connection is HTTP/1.1 with upgrades enabled. On shutdown the listener stops
/// accepting, idle connections close, and requests in flight get a short grace period
/// (long-lived streams such as `/events` are then cut). Hijacked (upgraded) connections are
/// no longer HTTP and live on until their session ends. Accept errors are logged and retried.
pub async fn serve_unix(
    listener: UnixListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve(listener, router, shutdown).await
}

/// Serve `router` on any [`Listener`] (a TCP listener, or one handing out TLS streams) until
/// `shutdown` completes, with the same connection handling as [`serve_unix`]. The listener
/// deals with its own accept errors (axum's listeners log and retry).
pub async fn serve<L: Listener>(
    mut listener: L,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            (stream, _) = listener.accept() => {
                conns.spawn(serve_connection(stream, router.clone(), stop_rx.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(SHUTDOWN_GRACE, async { while conns.join_next().await.is_some() {} })
            .await;
    if drained.is_err() {
        tracing::debug!(
            left = conns.len(),
            "closing API connections still busy after grace period"
        );
        conns.abort_all();
    }
    Ok(())
}

async fn serve_connection<I>(
    stream: I,
    router: Router,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        router.clone().oneshot(req.map(Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let stopping = async {
        // Err means the server is gone: stop as well.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let finished = tokio::select! {
        r = conn.as_mut() => Some(r),
        () = stopping => None,
    };
    let result = match finished {
        Some(r) => r,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "API connection ended with an error");
    }
}
