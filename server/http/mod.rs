//! The HTTP surface, one file per audience: visitors (script, events), members (auth,
//! account, API), pages, operations (health). This module puts the warp routes together
//! and wraps every request in a request id, a tracing span, metrics and security headers;
//! `server` runs them, and answers the two busiest visitor requests itself through the
//! same `finish`.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use warp::filters::BoxedFilter;
use warp::http::header::{self, HeaderName};
use warp::http::{HeaderValue, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::error::{self, AppError};
use crate::metrics::{HttpLabels, Metrics};
use crate::state::AppState;

pub mod account;
pub mod auth;
pub mod bars;
pub mod events;
pub mod extract;
pub mod health;
pub mod pages;
pub mod script;
pub mod server;
pub mod sites;
pub mod stats;

/// Marks a response made because no route matched, so metrics do not grow a label per
/// unknown path.
#[derive(Clone, Copy)]
pub(crate) struct Unmatched;

/// The whole application as one filter.
pub fn app(state: &AppState) -> BoxedFilter<(Response,)> {
    // The bar script and `POST /e` never get here: `server` answers them straight from
    // hyper. The other visitor routes come first all the same.
    let visitors = events::routes(state);
    let members = auth::routes(state)
        .or(account::routes(state))
        .unify()
        .or(sites::routes(state))
        .unify()
        .or(bars::routes(state))
        .unify()
        .or(stats::routes(state))
        .unify()
        .boxed();
    let routes = visitors
        .or(members)
        .unify()
        .or(pages::routes(state))
        .unify()
        .or(health::routes(state))
        .unify();
    let metrics = state.metrics.clone();
    warp::header::optional::<RequestId>("x-request-id")
        .and(warp::method())
        .and(warp::path::full())
        .map(|incoming: Option<RequestId>, method: Method, path: warp::path::FullPath| {
            let ctx = RequestContext::new(incoming.and_then(|r| r.0), method, path.as_str());
            if let Some(id) = &ctx.id {
                tracing::Span::current().record("request_id", id.to_str().unwrap_or_default());
            }
            ctx
        })
        .and(routes.recover(recover).unify())
        .map(move |ctx: RequestContext, res: Response| finish(&metrics, ctx, res))
        .with(warp::trace(|info| {
            // Visitor requests come by the thousand: their spans exist only when debugging.
            if is_visitor_path(info.path()) {
                tracing::debug_span!("request", method = %info.method(), path = %info.path(), request_id = tracing::field::Empty)
            } else {
                tracing::info_span!("request", method = %info.method(), path = %info.path(), request_id = tracing::field::Empty)
            }
        }))
        .map(Reply::into_response)
        .boxed()
}

async fn recover(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    let unmatched = rejection.is_not_found();
    let mut res = error::recover(rejection).await?;
    if unmatched {
        res.extensions_mut().insert(Unmatched);
    }
    Ok(res)
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An incoming `X-Request-Id` (from a proxy), kept when it is a sane token.
struct RequestId(Option<HeaderValue>);

impl std::str::FromStr for RequestId {
    type Err = std::convert::Infallible;

    fn from_str(v: &str) -> Result<Self, Self::Err> {
        let sane = !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        Ok(RequestId(
            sane.then(|| HeaderValue::from_str(v).ok()).flatten(),
        ))
    }
}

pub(crate) struct RequestContext {
    id: Option<HeaderValue>,
    start: Instant,
    method: Method,
    route: Cow<'static, str>,
}

impl RequestContext {
    pub(crate) fn new(incoming: Option<HeaderValue>, method: Method, path: &str) -> Self {
        // Visitor requests come by the thousand and their logs are at debug level: they
        // get an id when a proxy sent one or debug logging is on, others always.
        let id = incoming.or_else(|| {
            (!is_visitor_path(path) || tracing::enabled!(tracing::Level::DEBUG))
                .then(next_request_id)
        });
        RequestContext {
            id,
            start: Instant::now(),
            method,
            route: route_of(path),
        }
    }
}

/// A sane `X-Request-Id` from the request's headers, if a proxy sent one.
pub(crate) fn incoming_request_id(headers: &warp::http::HeaderMap) -> Option<HeaderValue> {
    headers
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<RequestId>().ok())
        .and_then(|r| r.0)
}

/// A unique id per request: a random prefix per process and a counter, no system call.
fn next_request_id() -> HeaderValue {
    static PREFIX: LazyLock<u32> = LazyLock::new(rand::random);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    HeaderValue::from_str(&format!("{:08x}{n:012x}", *PREFIX))
        .unwrap_or(HeaderValue::from_static("0"))
}

pub(crate) fn finish(metrics: &Metrics, ctx: RequestContext, mut res: Response) -> Response {
    let status = res.status();
    let route = if res.extensions().get::<Unmatched>().is_some() {
        Cow::Borrowed("unmatched")
    } else {
        ctx.route
    };
    let elapsed = ctx.start.elapsed();
    let visitor = is_visitor_path(&route);

    let headers = res.headers_mut();
    if let Some(id) = ctx.id {
        headers.insert(X_REQUEST_ID, id);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !visitor {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(
                "default-src 'none'; frame-ancestors 'none'",
            ));
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }

    if visitor {
        tracing::debug!(status = status.as_u16(), %route, elapsed_ms = elapsed.as_secs_f64() * 1e3, "answered");
    } else if status.is_server_error() {
        tracing::error!(status = status.as_u16(), %route, elapsed_ms = elapsed.as_secs_f64() * 1e3, "answered");
    } else {
        tracing::info!(status = status.as_u16(), %route, elapsed_ms = elapsed.as_secs_f64() * 1e3, "answered");
    }
    metrics.observe_request(
        HttpLabels {
            method: method_label(&ctx.method),
            route,
            status: status.as_u16(),
        },
        elapsed.as_secs_f64(),
    );
    res
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn is_visitor_path(path: &str) -> bool {
    path.starts_with("/s/") || path == "/e" || path == "/l"
}

/// `/api/v1/sessions/42` → `/api/v1/sessions/{id}`; `/s/abc.js` → `/s/{key}.js`. The
/// visitor routes are constants, so the hot path allocates nothing here.
fn route_of(path: &str) -> Cow<'static, str> {
    match path {
        "/e" => return Cow::Borrowed("/e"),
        "/l" => return Cow::Borrowed("/l"),
        p if p.starts_with("/s/") => return Cow::Borrowed("/s/{key}.js"),
        _ => {}
    }
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/').skip(1) {
        out.push('/');
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{id}");
        } else {
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

/// JSON with a status code: the usual successful answer of the member API.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Runs a handler and turns its result, good or bad, into a response.
pub async fn handle<F, T>(f: F) -> Response
where
    F: std::future::Future<Output = Result<T, AppError>>,
    T: Reply,
{
    error::respond(f.await)
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn route_labels_hide_ids_and_keys() {
        assert_eq!(route_of("/api/v1/sessions/42"), "/api/v1/sessions/{id}");
        assert_eq!(route_of("/s/AbC_12.js"), "/s/{key}.js");
        assert_eq!(route_of("/"), "/");
        assert_eq!(route_of("/healthz"), "/healthz");
        assert_eq!(route_of("/e"), "/e");
    }
}
