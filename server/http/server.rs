//! The HTTP server: accepts connections, serves them with hyper and shuts down gracefully.
//!
//! The two requests that come by the thousand — the bar script (`GET /s/{key}.js`) and
//! events (`POST /e`) — are answered here straight from hyper, without walking warp's
//! routing tree; that halves the work per request. Everything else goes through warp
//! ([`super::app`]). Both ways end in the same [`finish`]: request id, security headers,
//! metrics.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower_service::Service;
use warp::http::{Method, Request};
use warp::reply::Response;

use super::extract::{self, Peer};
use super::{RequestContext, events, finish, incoming_request_id, script};
use crate::state::AppState;

/// Serves until `shutdown` completes, then stops accepting and waits for the requests in
/// flight (the caller bounds that wait).
pub async fn serve(listener: TcpListener, state: &AppState, shutdown: impl Future<Output = ()>) {
    let routes = warp::service(super::app(state));
    let lane = Arc::new(state.clone());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let lane = lane.clone();
        let routes = routes.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = service_fn(move |req| dispatch(req, peer, lane.clone(), routes.clone()));
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(err) = watcher.watch(conn).await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn dispatch<S>(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    state: Arc<AppState>,
    mut routes: S,
) -> Result<Response, Infallible>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible>,
{
    let path = req.uri().path();
    if req.method() == Method::POST && path == "/e" {
        return Ok(event(&state, req, peer).await);
    }
    if matches!(*req.method(), Method::GET | Method::HEAD)
        && path
            .strip_prefix("/s/")
            .is_some_and(|file| !file.is_empty() && !file.contains('/'))
    {
        return Ok(bar_script(&state, req).await);
    }
    req.extensions_mut().insert(Peer(peer));
    routes.call(req).await
}

async fn event(state: &AppState, req: Request<Incoming>, peer: SocketAddr) -> Response {
    let (parts, body) = req.into_parts();
    let ctx = RequestContext::new(incoming_request_id(&parts.headers), parts.method, "/e");
    let body = extract::read_limited(
        &parts.headers,
        BodyDataStream::new(body),
        events::EVENT_LIMIT,
    )
    .await;
    let visitor = events::visitor(Some(peer), &parts.headers, &state.config.trusted_proxies);
    let res = events::post_event(&state.ingest, visitor, body);
    finish(&state.metrics, ctx, res)
}

async fn bar_script(state: &AppState, req: Request<Incoming>) -> Response {
    let path = req.uri().path();
    let ctx = RequestContext::new(
        incoming_request_id(req.headers()),
        req.method().clone(),
        path,
    );
    let res = script::serve(&state.scripts, &path["/s/".len()..], req.headers()).await;
    finish(&state.metrics, ctx, res)
}

/// Connection errors concern one client; others (out of file descriptors, say) would
/// spin, so they pause the loop for a moment.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "cannot accept connections; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
