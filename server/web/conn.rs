//! What one connection may cost the server, whoever is on the other end: how long its
//! request headers, its request bodies and its silences may take, and what becomes of a
//! handler that panics. `server` applies all of it to every connection.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::task::AtomicWaker;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use warp::http::Method;
use warp::reply::Response;

use super::error;
use crate::error::Error;

/// Limits on a client's pace. A client that breaks one is cut off; what it sent before
/// is unaffected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request's headers must be complete this long after their first byte arrived
    /// (for a connection's first request: after it opened).
    pub header_read: Duration,
    /// A request body must have arrived this long after the server began waiting for it.
    pub body_read: Duration,
    /// A connection on which nothing is read or written, and no request is being
    /// answered, is closed after this long: a kept-alive connection waiting for its next
    /// request, or a client that stops reading its answer.
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

/// The requests of one connection: how many have begun, and how many are being answered
/// now. While any is being answered the connection is not idle, however quiet it is.
#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<(AtomicUsize, AtomicU64)>);

impl InFlight {
    fn answering(&self) -> bool {
        self.0.0.load(Ordering::Acquire) > 0
    }

    fn begun(&self) -> u64 {
        self.0.1.load(Ordering::Acquire)
    }

    /// Marks one request as being answered until the guard is dropped (answered,
    /// panicked or cancelled alike).
    pub(crate) fn enter(&self) -> Answering {
        self.0.1.fetch_add(1, Ordering::AcqRel);
        self.0.0.fetch_add(1, Ordering::AcqRel);
        Answering(self.0.clone())
    }
}

pub(crate) struct Answering(Arc<(AtomicUsize, AtomicU64)>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection held to the [`Timeouts`] at the level of its bytes: a request's headers
/// must be complete within `header_read` (of the connection's opening for its first
/// request; for later ones, of the moment the server is left waiting for the rest of a
/// head), and a connection on which nothing is read or written while no request is being
/// answered is closed after `idle` (to twice that: activity is only noted, and looked at
/// when the timer fires). A read or a write costs a flag, never a clock reading or timer
/// work; the one timer is moved only when it fires or a head comes in pieces.
pub(crate) struct Paced<T> {
    io: T,
    limits: Timeouts,
    requests: InFlight,
    /// Something was read or written, or a request was being answered, since the timer
    /// was last set.
    active: bool,
    head: Head,
    /// Requests begun, as last seen.
    seen: u64,
    timer: Pin<Box<Sleep>>,
    /// The timer has been polled since it was last set, so it will wake this task when
    /// it fires; until then a glance at it is enough.
    armed: bool,
}

/// Where the head of the next request stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Head {
    /// Nothing of it has come.
    Awaited,
    /// Some of it came with the last read.
    Arriving,
    /// The server is waiting for the rest of it, since then.
    Incomplete(Instant),
}

impl<T> Paced<T> {
    pub(crate) fn new(io: T, limits: Timeouts, requests: InFlight) -> Self {
        let now = Instant::now();
        Paced {
            io,
            limits,
            requests,
            active: false,
            // A new connection is there to send a request.
            head: Head::Incomplete(now),
            seen: 0,
            timer: Box::pin(tokio::time::sleep_until(now + limits.header_read)),
            armed: false,
        }
    }

    /// A request that has begun ends the wait for its head.
    fn catch_up(&mut self) {
        let begun = self.requests.begun();
        if begun != self.seen {
            self.seen = begun;
            self.head = Head::Awaited;
        }
    }

    fn read_some(&mut self) {
        self.catch_up();
        self.active = true;
        if self.head == Head::Awaited && !self.requests.answering() {
            self.head = Head::Arriving;
        }
    }

    /// On a pending read or write: whether a limit has passed.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.catch_up();
        let answering = self.requests.answering();
        self.active |= answering;
        if self.head == Head::Arriving {
            // A head came in part and the rest is awaited: from now it is timed.
            let now = Instant::now();
            self.head = Head::Incomplete(now);
            if self.timer.deadline() > now + self.limits.header_read {
                self.timer.as_mut().reset(now + self.limits.header_read);
                self.armed = false;
            }
        }
        if self.armed && !self.timer.is_elapsed() {
            return false;
        }
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                self.armed = true;
                return false;
            }
            let now = Instant::now();
            let head_late = match self.head {
                Head::Incomplete(since) => now >= since + self.limits.header_read,
                _ => false,
            };
            if !answering && (head_late || !self.active) {
                return true;
            }
            self.active = false;
            let mut next = now + self.limits.idle;
            if let Head::Incomplete(since) = self.head {
                next = next.min(since + self.limits.header_read);
            }
            self.timer
                .as_mut()
                .reset(next.max(now + Duration::from_millis(1)));
        }
    }
}

fn idle_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the client was too slow with its headers, or silent too long",
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for Paced<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.read_some();
                }
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Paced<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, data) {
            Poll::Ready(r) => {
                this.active = true;
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
                this.active = true;
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

/// A request body that must arrive within a time limit, counted from the first time the
/// server is left waiting for it. Most bodies come with their headers, and then no timer
/// is ever made.
pub(crate) struct RequestBody {
    inner: Incoming,
    /// Made the first time the body is not all there yet. In a mutex only so the body
    /// is `Sync`, as warp wants; it is never contended.
    timer: Option<std::sync::Mutex<Pin<Box<Sleep>>>>,
    limit: Duration,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, limit: Duration) -> Self {
        RequestBody {
            inner,
            timer: None,
            limit,
        }
    }
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive within {0:?}")]
pub(crate) struct BodyTimeout(Duration);

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
        let limit = this.limit;
        let timer = this
            .timer
            .get_or_insert_with(|| std::sync::Mutex::new(Box::pin(tokio::time::sleep(limit))))
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
) -> Response {
    match std::panic::AssertUnwindSafe(handler).catch_unwind().await {
        Ok(res) => res,
        Err(panic) => {
            tracing::error!(
                %method,
                panic = %crate::jobs::panic_message(panic.as_ref()),
                "a request handler panicked; answered 500"
            );
            error::respond(Error::Internal(anyhow::anyhow!("the handler panicked")))
        }
    }
}

/// A connection's waker that, when the connection wakes itself while it is being polled,
/// has it polled again at once instead of sending it back through the scheduler. hyper
/// does wake a connection from inside its own poll, once for every request whose body the
/// handler reads (taking the body's one piece wakes the connection that sent it); through
/// the scheduler that turn costs a trip through the run queue and, with the other worker
/// thread idle, a system call to wake it and a context switch: about a quarter of what an
/// event costs. Wakes from outside (the socket is ready, a timer fired) pass through.
pub(crate) struct Repoll {
    turn: Arc<Turn>,
    /// `turn`, as the waker the connection is polled with.
    waker: Waker,
}

#[derive(Default)]
struct Turn {
    state: AtomicU8,
    /// The connection's task.
    task: AtomicWaker,
}

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

/// At most this many polls in a row; a connection that keeps waking itself then goes
/// back through the scheduler, so it cannot hold a worker thread.
const MAX_REPOLLS: usize = 4;

impl Repoll {
    pub(crate) fn new() -> Repoll {
        let turn = Arc::new(Turn::default());
        Repoll {
            waker: Waker::from(turn.clone()),
            turn,
        }
    }

    /// What wakes the connection from outside (as its socket or a timer would).
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Polls `f` for the task of `cx`, again at once while it woke itself.
    pub(crate) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.turn.task.register(cx.waker());
        let mut inner = Context::from_waker(&self.waker);
        for _ in 0..MAX_REPOLLS {
            self.turn.state.store(POLLING, Ordering::Release);
            let polled = f(&mut inner);
            let woken = self.turn.state.swap(IDLE, Ordering::AcqRel) == WOKEN;
            if polled.is_ready() || !woken {
                return polled;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Wake for Turn {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            match state {
                POLLING => {
                    match self.state.compare_exchange_weak(
                        POLLING,
                        WOKEN,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return,
                        Err(now) => state = now,
                    }
                }
                WOKEN => return,
                _ => {
                    self.task.wake();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection's task: counts the times it is woken.
    #[derive(Default)]
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<Task>, Waker) {
        let task = Arc::new(Task::default());
        (task.clone(), Waker::from(task))
    }

    #[test]
    fn a_connection_that_wakes_itself_is_polled_again_at_once() {
        let (task, outer) = task();
        let repoll = Repoll::new();
        let mut polls = 0;
        let polled = repoll.poll(&mut Context::from_waker(&outer), |cx| {
            polls += 1;
            if polls == 1 {
                // As hyper's body channel does when the handler takes the body.
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        });
        assert_eq!(polled, Poll::Ready(2));
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            0,
            "the scheduler was not asked"
        );
    }

    #[test]
    fn a_connection_that_keeps_waking_itself_goes_back_to_the_scheduler() {
        let (task, outer) = task();
        let repoll = Repoll::new();
        let mut polls = 0;
        let polled: Poll<()> = repoll.poll(&mut Context::from_waker(&outer), |cx| {
            polls += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        assert_eq!(polled, Poll::Pending);
        assert_eq!(polls, MAX_REPOLLS);
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            1,
            "woken through the scheduler"
        );
    }

    #[test]
    fn wakes_from_outside_reach_the_task_once_each_poll() {
        let (task, outer) = task();
        let repoll = Repoll::new();
        let mut kept = None;
        let polled: Poll<()> = repoll.poll(&mut Context::from_waker(&outer), |cx| {
            // A socket or a timer keeps the waker for later.
            kept = Some(cx.waker().clone());
            Poll::Pending
        });
        assert_eq!(polled, Poll::Pending);
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
        let kept = kept.expect("the waker was kept");
        kept.wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
        // The task is on its way; it is woken again only once polled again.
        kept.wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
        let _: Poll<()> = repoll.poll(&mut Context::from_waker(&outer), |_| Poll::Pending);
        std::thread::spawn(move || kept.wake()).join().unwrap();
        assert_eq!(task.0.load(Ordering::SeqCst), 2);
    }
}
