//! The HTTP server: accepts connections, serves them with hyper and shuts down gracefully.
//!
//! Visitor requests, which come by the thousand — the bar script (`GET /s/{key}.js`) and
//! events (`POST /e`) above all — are answered straight from hyper, without walking
//! warp's routing tree; that halves the work per request. Everything else goes through
//! warp ([`super::app`]). Both ways end in the same `finish`: request id, security
//! headers, metrics.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower_service::Service;
use warp::http::Request;
use warp::reply::Response;

use super::extract::Peer;
use super::{State, visitor};

/// Serves until `shutdown` completes, then stops accepting and waits for the requests in
/// flight (the caller bounds that wait).
pub async fn serve(listener: TcpListener, state: &State, shutdown: impl Future<Output = ()>) {
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
    req: Request<Incoming>,
    peer: SocketAddr,
    state: Arc<State>,
    mut routes: S,
) -> Result<Response, Infallible>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible>,
{
    match visitor::handle(&state, req, peer).await {
        Ok(res) => Ok(res),
        Err(mut req) => {
            req.extensions_mut().insert(Peer(peer));
            routes.call(req).await
        }
    }
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
