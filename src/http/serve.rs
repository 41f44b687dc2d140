//! Serving a router on a listener, one hyper connection per client, with the limits a
//! server on the open internet needs before any route runs.
//!
//! `axum::serve` exposes none of hyper's connection settings, so each accepted connection
//! is served here with hyper's HTTP/1 builder:
//!
//! - **header timeout**: a client must send its start line and headers within
//!   `http.header_timeout_s`, or the connection is closed (a slowloris client trickling
//!   header bytes holds nothing for long); the same timer closes kept-alive connections
//!   that stay idle that long;
//! - **header count and size**: more than `http.max_headers` lines, or more than
//!   `http.max_header_bytes` bytes, and hyper answers 431 itself, before anything is
//!   routed.
//!
//! Everything a request passes after that is in [`super::guard`]. A refusal here (431, a
//! header timeout on a connection that never completed a request, a request hyper could not
//! parse) is logged and counted like the guard's.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tracing::{debug, warn};

use super::guard::Guard;
use crate::metrics::http::Refusal;
use crate::pii::Pii;

/// Serves `app` on `listener` behind `guard` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, guard: Arc<Guard>) {
    let app = super::guard::wrap(app, Arc::clone(&guard));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                warn!(
                    listener = guard.listener.as_str(),
                    "HTTP accept failed: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        let guard = Arc::clone(&guard);
        tokio::spawn(async move { connection(stream, peer, app, guard).await });
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    guard: Arc<Guard>,
) {
    let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = Arc::clone(&served);
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let res = tower::ServiceExt::oneshot(app, req).await;
            Ok::<_, Infallible>(match res {
                Ok(r) => r,
                Err(never) => match never {},
            })
        }
    });
    let limits = &guard.limits;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes);
    let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await else {
        return;
    };
    let listener = guard.listener.as_str();
    let requests = served.load(std::sync::atomic::Ordering::Relaxed);
    if e.is_parse_too_large() {
        guard.refused(Refusal::HeadersTooLarge);
        warn!(listener, src = %Pii(peer.ip()), "HTTP request refused with 431: too many or too large headers");
    } else if e.is_timeout() && requests == 0 {
        guard.refused(Refusal::HeaderTimeout);
        warn!(listener, src = %Pii(peer.ip()), timeout_s = limits.header_timeout.as_secs(),
              "HTTP connection closed: no complete request head within the header timeout");
    } else if e.is_timeout() {
        debug!(listener, requests, "idle kept-alive HTTP connection closed");
    } else if e.is_parse() {
        guard.refused(Refusal::Malformed);
        warn!(listener, src = %Pii(peer.ip()), "HTTP request refused with 400: not HTTP/1.1 as expected: {e}");
    } else {
        debug!(listener, "HTTP connection ended: {e}");
    }
}
