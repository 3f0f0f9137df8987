//! The HTTP server: accepts connections, serves them with hyper and shuts down gracefully.
//!
//! Visitor requests, which come by the thousand — the bar script (`GET /s/{key}.js`) and
//! events (`POST /e`) above all — are answered straight from hyper, without walking
//! warp's routing tree; that halves the work per request. Everything else goes through
//! warp ([`super::app`]). Both ways end in the same `finish`: request id, security
//! headers, metrics.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryFutureExt;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_service::Service;
use warp::http::Request;
use warp::reply::Response;

use super::conn::{InFlight, Paced, Repoll, RequestBody, Timeouts, contained};
use super::extract::Peer;
use super::{State, visitor};

/// Serves until `shutdown` completes, then stops accepting and waits for the requests in
/// flight (the caller bounds that wait).
pub(crate) async fn serve(
    listener: TcpListener,
    state: &State,
    shutdown: impl Future<Output = ()>,
) {
    let routes = warp::service(super::app(state));
    let lane = Arc::new(state.clone());
    let handler = move |req, peer| dispatch(req, peer, &lane, &routes);
    serve_with(listener, state.web.timeouts, handler, shutdown).await;
}

/// The connection loop, for any handler: each connection under the [`Timeouts`], each
/// request's body under the body limit, each answer [`contained`].
pub(crate) async fn serve_with<H, F>(
    listener: TcpListener,
    timeouts: Timeouts,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let connections = Arc::new(Connections::default());
    // The header and idle limits are kept by `Paced`, below hyper, at no timer cost
    // per request.
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
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
        let handler = handler.clone();
        let builder = builder.clone();
        let served = connections.open();
        tokio::spawn(async move {
            let in_flight = InFlight::default();
            let io = Paced::new(stream, timeouts, in_flight.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                let answering = in_flight.enter();
                let method = req.method().clone();
                let req = req.map(|body| RequestBody::new(body, timeouts.body_read));
                // Making the future runs none of the handler; all of it runs contained.
                let answer = handler(req, peer);
                async move {
                    let res = contained(answer, &method).await;
                    drop(answering);
                    Ok::<_, Infallible>(res)
                }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            if let Err(err) = served.serve(conn).await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close_all().await;
}

/// The connections being served, so that shutdown can ask each to finish the request it
/// is answering and close, and wait until all have. hyper-util's `GracefulShutdown`
/// does the same through one channel that every connection polls on every turn, under
/// a lock they all share: a cost per request, paid by all threads together. Here a
/// connection looks at a flag of its own.
#[derive(Default)]
struct Connections {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Closing>>>,
    all_closed: Notify,
}

/// One connection's side of a shutdown.
struct Closing {
    asked: AtomicBool,
    /// Woken to see `asked`.
    repoll: Repoll,
}

impl Connections {
    fn open(self: &Arc<Self>) -> Served {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let closing = Arc::new(Closing {
            asked: AtomicBool::new(false),
            repoll: Repoll::new(),
        });
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, closing.clone());
        Served {
            connections: self.clone(),
            id,
            closing,
        }
    }

    /// Asks every connection to close once its request is answered; done when all have.
    async fn close_all(&self) {
        for closing in self.open.lock().unwrap_or_else(|e| e.into_inner()).values() {
            closing.asked.store(true, Ordering::Release);
            closing.repoll.waker().wake_by_ref();
        }
        loop {
            let closed = self.all_closed.notified();
            let mut closed = std::pin::pin!(closed);
            closed.as_mut().enable();
            if self
                .open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                return;
            }
            closed.await;
        }
    }
}

/// A connection's place among the open ones, given up when it ends (or its task is
/// dropped).
struct Served {
    connections: Arc<Connections>,
    id: u64,
    closing: Arc<Closing>,
}

impl Served {
    async fn serve<C: GracefulConnection>(self, conn: C) -> C::Output {
        let mut conn = std::pin::pin!(conn);
        let mut asked = false;
        let closing = &self.closing;
        std::future::poll_fn(|cx| {
            closing.repoll.poll(cx, |cx| {
                if !asked && closing.asked.load(Ordering::Acquire) {
                    asked = true;
                    conn.as_mut().graceful_shutdown();
                }
                conn.as_mut().poll(cx)
            })
        })
        .await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        open.remove(&self.id);
        if open.is_empty() {
            self.connections.all_closed.notify_waiters();
        }
    }
}

/// Visitor requests to [`visitor`], everything else to warp. Not an `async fn`: its
/// future is whichever of the two it chose, no larger.
fn dispatch<S>(
    mut req: Request<RequestBody>,
    peer: SocketAddr,
    state: &Arc<State>,
    routes: &S,
) -> impl Future<Output = Response> + Send + 'static + use<S>
where
    S: Service<Request<RequestBody>, Response = Response, Error = Infallible> + Clone,
    S::Future: Send + 'static,
{
    match visitor::route_of(req.uri().path()) {
        Some(route) => Either::Left(visitor::handle(state, route, req, peer)),
        None => {
            req.extensions_mut().insert(Peer(peer));
            Either::Right(
                routes
                    .clone()
                    .call(req)
                    .unwrap_or_else(|never| match never {}),
            )
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use warp::Reply;
    use warp::http::StatusCode;

    use super::*;

    const BIG: usize = 32 << 20;

    /// A server whose handler panics on `/panic`, answers `BIG` bytes on `/big`, and
    /// otherwise echoes the body's length.
    async fn start(timeouts: Timeouts) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handler = |req: Request<RequestBody>, _peer: SocketAddr| async move {
            if req.uri().path() == "/panic" {
                panic!("a handler made to panic");
            }
            if req.uri().path() == "/big" {
                return vec![b'x'; BIG].into_response();
            }
            let (parts, body) = req.into_parts();
            match crate::web::extract::read_body(&parts.headers, body, 1 << 20).await {
                Ok(bytes) => format!("{} bytes", bytes.len()).into_response(),
                Err(err) => crate::web::error::respond(err),
            }
        };
        tokio::spawn(serve_with(listener, timeouts, handler, async {
            let _ = stopped.await;
        }));
        (address, stop)
    }

    fn quick() -> Timeouts {
        Timeouts {
            header_read: Duration::from_secs(1),
            body_read: Duration::from_secs(1),
            idle: Duration::from_secs(2),
        }
    }

    /// Reads until the server closes the connection; what it sent, and how long it took.
    async fn until_closed(mut stream: TcpStream) -> (String, Duration) {
        let started = Instant::now();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out));
        match read.await {
            Ok(_) => (
                String::from_utf8_lossy(&out).into_owned(),
                started.elapsed(),
            ),
            Err(_) => panic!("the server kept the connection open for 10 s"),
        }
    }

    #[tokio::test]
    async fn a_handler_that_panics_answers_500_and_the_server_goes_on() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (address, _stop) = start(Timeouts::default()).await;
        let client = reqwest::Client::new();
        let res = client
            .get(format!("http://{address}/panic"))
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "internal");
        let res = client
            .post(format!("http://{address}/ok"))
            .body("four")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.unwrap(), "4 bytes");
    }

    #[tokio::test]
    async fn a_client_that_never_sends_its_headers_is_cut_off() {
        let (address, _stop) = start(quick()).await;
        let silent = TcpStream::connect(address).await.unwrap();
        let (got, took) = until_closed(silent).await;
        assert!(took < Duration::from_secs(4), "closed after {took:?}");
        assert!(!got.contains("200"), "{got}");

        let mut half = TcpStream::connect(address).await.unwrap();
        half.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        let (got, took) = until_closed(half).await;
        assert!(took < Duration::from_secs(4), "closed after {took:?}");
        assert!(!got.contains("200"), "{got}");
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_is_refused_in_time() {
        let (address, _stop) = start(quick()).await;
        let mut slow = TcpStream::connect(address).await.unwrap();
        slow.write_all(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            .await
            .unwrap();
        let started = Instant::now();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        let got = String::from_utf8_lossy(&buf[..n]);
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
        assert!(got.contains("body_unreadable"), "{got}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_its_answer_is_cut_off() {
        let (address, _stop) = start(quick()).await;
        let mut reader = TcpStream::connect(address).await.unwrap();
        reader
            .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // The answer fills the socket's buffers and the server waits; past the idle
        // limit it gives up.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut got));
        let _ = read.await.expect("the connection was closed");
        assert!(got.len() < BIG, "all {} bytes were sent", got.len());
    }

    #[tokio::test]
    async fn a_kept_alive_connection_is_closed_when_it_goes_quiet() {
        let (address, _stop) = start(quick()).await;
        let mut conn = TcpStream::connect(address).await.unwrap();
        conn.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (got, took) = until_closed(conn).await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        assert!(took < Duration::from_secs(4), "closed after {took:?}");
    }
}
