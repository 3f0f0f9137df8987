//! What one connection may cost the server, whoever is on the other end: how long its
//! request headers, its request bodies and its silences may take, and what becomes of a
//! handler that panics. `server` applies all of it to every connection.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use warp::http::{Method, Uri};
use warp::reply::Response;

use super::error;
use crate::error::Error;

/// Limits on a client's pace. A client that breaks one is cut off; what it sent before
/// is unaffected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request's headers must have arrived this long after the connection became
    /// ready for them (on a kept-alive HTTP/1.1 connection: after the last answer).
    pub header_read: Duration,
    /// A request body must have arrived this long after its headers.
    pub body_read: Duration,
    /// A connection on which nothing is read or written, and no request is being
    /// answered, is closed after this long.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            idle: Duration::from_secs(60),
        }
    }
}

/// Requests of one connection being answered now; while there are any, the connection
/// is not idle however quiet it is.
#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn is_idle(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }

    /// Marks one request as being answered until the guard is dropped (answered,
    /// panicked or cancelled alike).
    pub(crate) fn enter(&self) -> Answering {
        self.0.fetch_add(1, Ordering::AcqRel);
        Answering(self.0.clone())
    }
}

pub(crate) struct Answering(Arc<AtomicUsize>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection that is closed once it has been idle too long: no byte read or written
/// and no request in flight. It counts from the last byte, so a slow but steady client
/// is not idle; the header and body limits bound those.
pub(crate) struct IdleLimited<T> {
    io: T,
    idle: Duration,
    in_flight: InFlight,
    /// The last byte read or written. Noting it is all a read or write costs; the timer
    /// is only looked at (and moved on) while the connection waits.
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> IdleLimited<T> {
    pub(crate) fn new(io: T, idle: Duration, in_flight: InFlight) -> Self {
        IdleLimited {
            io,
            idle,
            in_flight,
            last: Instant::now(),
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn active(&mut self) {
        self.last = Instant::now();
    }

    /// On a pending read or write: whether the connection has been idle too long. While
    /// a request is in flight the clock starts again from now.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.in_flight.is_idle() {
            self.active();
            return false;
        }
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let deadline = self.last + self.idle;
            if Instant::now() >= deadline {
                return true;
            }
            // Something happened since the timer was set: wait from then instead.
            self.timer.as_mut().reset(deadline);
        }
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the connection was idle too long")
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleLimited<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.active();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleLimited<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, data) {
            Poll::Ready(r) => {
                this.active();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.active();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A request body that must arrive within a time limit counted from the request's
/// headers. Most bodies come with their headers, and then no timer is ever made.
pub struct RequestBody {
    inner: Incoming,
    deadline: Instant,
    /// Made the first time the body is not all there yet. In a mutex only so the body
    /// is `Sync`, as warp wants; it is never contended.
    timer: Option<std::sync::Mutex<Pin<Box<Sleep>>>>,
    limit: Duration,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, limit: Duration) -> Self {
        RequestBody {
            inner,
            deadline: Instant::now() + limit,
            timer: None,
            limit,
        }
    }
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| {
                std::sync::Mutex::new(Box::pin(tokio::time::sleep_until(deadline)))
            })
            .get_mut()
            .unwrap_or_else(|e| e.into_inner());
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Runs a handler; if it panics, the client still gets a 500 with the usual error body
/// and the panic is logged, instead of a dropped connection.
pub(crate) async fn contained(
    handler: impl Future<Output = Response>,
    method: &Method,
    uri: &Uri,
) -> Response {
    match std::panic::AssertUnwindSafe(handler).catch_unwind().await {
        Ok(res) => res,
        Err(panic) => {
            tracing::error!(
                %method,
                path = uri.path(),
                panic = %crate::jobs::panic_message(panic.as_ref()),
                "a request handler panicked; answered 500"
            );
            error::respond(Error::Internal(anyhow::anyhow!("the handler panicked")))
        }
    }
}
