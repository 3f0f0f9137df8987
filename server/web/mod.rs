//! The HTTP surface, one folder per audience: `visitor/` (the bar script, events and
//! leads: the hot path), `api/` (the member API), `pages/` (server-rendered pages),
//! `tracking/` (the open pixel and click redirects in emails), `hooks/` (webhooks from
//! Stripe and the email API), `ops/` (health, readiness, metrics). Each audience has one
//! route table (`router`), whose rows name who may call them (a role in the account, for
//! account routes); `server` runs them all and answers the busiest visitor requests
//! straight from hyper.
//! Every answer, whichever way it came, ends in [`finish`]: a request id, a tracing span,
//! metrics and security headers.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ipnet::IpNet;
use warp::filters::BoxedFilter;
use warp::http::header::{self, HeaderName};
use warp::http::{HeaderValue, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::accounts::Accounts;
use crate::alerts::Alerts;
use crate::billing::Billing;
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::db::Db;
use crate::hooks::Hooks;
use crate::ingest::Ingest;
use crate::jobs::Jobs;
use crate::leads::Leads;
use crate::mail::{Mailer, Tracker};
use crate::privacy::Privacy;
use crate::privacy::policies::PolicyVersions;
use crate::reporting::benchmarks::Benchmarks;
use crate::scripts::Live;
use crate::teams::Teams;

pub mod api;
pub(crate) mod conn;
pub(crate) mod cookies;
pub(crate) mod csrf;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod guards;
pub(crate) mod hooks;
mod metrics;
pub(crate) mod openapi;
pub(crate) mod ops;
pub mod pages;
pub mod router;
pub(crate) mod server;
pub(crate) mod tracking;
pub(crate) mod visitor;

pub use metrics::{HttpLabels, HttpMetrics};

/// What the web layer is told of the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Public URL without a trailing slash, e.g. `https://bars.example.com`.
    pub base_url: String,
    pub secure_cookies: bool,
    pub trusted_proxies: Vec<IpNet>,
    /// What the email API's bounce and complaint webhook must present.
    pub mail_webhook_secret: Option<crate::domain::Secret<String>>,
    /// Where email is written when it is only written to a folder (development): the
    /// operator pages then show each email, links included.
    pub mail_folder: Option<std::path::PathBuf>,
    /// How long a client may take over its headers, its body and its silences.
    pub timeouts: conn::Timeouts,
    /// What signs form tokens and device cookies.
    pub keys: cookies::Keys,
    /// What `/metrics` asks for as a bearer token, when set.
    pub metrics_token: Option<crate::domain::Secret<String>>,
}

#[cfg(test)]
impl Settings {
    /// Settings for unit tests: `base_url`, cookies secure when it is https.
    pub fn for_tests(base_url: &str) -> Settings {
        Settings {
            base_url: base_url.to_string(),
            secure_cookies: base_url.starts_with("https://"),
            trusted_proxies: Vec::new(),
            mail_webhook_secret: None,
            mail_folder: None,
            timeouts: Default::default(),
            keys: cookies::Keys::derive(b"a secret of more than thirty-two bytes!"),
            metrics_token: None,
        }
    }
}

/// Everything a handler can reach.
#[derive(Clone)]
pub struct State {
    pub web: Arc<Settings>,
    pub db: Db,
    pub clock: Clock,
    pub accounts: Accounts,
    pub alerts: Alerts,
    /// Privacy-policy versions and objections to them.
    pub policy_versions: PolicyVersions,
    pub benchmarks: Benchmarks,
    pub billing: Billing,
    pub catalog: Catalog,
    pub leads: Leads,
    pub hooks: Hooks,
    pub privacy: Privacy,
    pub teams: Teams,
    pub tracker: Tracker,
    pub live: Arc<Live>,
    pub ingest: Arc<Ingest>,
    pub mailer: Mailer,
    pub jobs: Arc<Jobs>,
    pub metrics: Arc<prometheus_client::registry::Registry>,
    pub http: Arc<HttpMetrics>,
    pub views: Arc<pages::Views>,
}

/// The template of the route that answered, put on the response by the router so metrics
/// and logs name routes, not paths.
#[derive(Clone, Copy)]
pub(crate) struct RouteLabel(pub &'static str);

/// Every audience that warp routes, as one filter. Visitor requests never get here:
/// `server` answers them straight from hyper.
pub fn app(state: &State) -> BoxedFilter<(Response,)> {
    let routes = api::table()
        .filter(state)
        .or(pages::table().filter(state))
        .unify()
        .or(hooks::table().filter(state))
        .unify()
        .or(tracking::table().filter(state))
        .unify()
        .or(ops::table().filter(state))
        .unify()
        .or(pages::not_found(state))
        .unify();
    let http = state.http.clone();
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
        .and(routes.recover(error::recover).unify())
        .map(move |ctx: RequestContext, res: Response| finish(&http, ctx, res))
        .with(warp::trace(|info| {
            tracing::info_span!("request", method = %info.method(), path = %info.path(), request_id = tracing::field::Empty)
        }))
        .map(Reply::into_response)
        .boxed()
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
    /// Known up front for the visitor routes; otherwise the router's label decides.
    route: Option<&'static str>,
}

impl RequestContext {
    pub(crate) fn new(incoming: Option<HeaderValue>, method: Method, path: &str) -> Self {
        let route = visitor::route_of(path);
        // Visitor requests come by the thousand and their logs are at debug level: they
        // get an id when a proxy sent one or debug logging is on, others always.
        let id = incoming.or_else(|| {
            (route.is_none() || tracing::enabled!(tracing::Level::DEBUG)).then(next_request_id)
        });
        RequestContext {
            id,
            start: Instant::now(),
            method,
            route,
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

pub(crate) fn finish(metrics: &HttpMetrics, ctx: RequestContext, mut res: Response) -> Response {
    let status = res.status();
    let visitor = ctx.route.is_some();
    let route = ctx
        .route
        .or_else(|| res.extensions().get::<RouteLabel>().map(|l| l.0))
        .unwrap_or("unmatched");
    let elapsed = ctx.start.elapsed();

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
        headers
            .entry(header::X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(
                "default-src 'none'; frame-ancestors 'none'",
            ));
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }

    let ms = elapsed.as_secs_f64() * 1e3;
    if visitor {
        tracing::debug!(status = status.as_u16(), route, elapsed_ms = ms, "answered");
    } else if status.is_server_error() {
        tracing::error!(status = status.as_u16(), route, elapsed_ms = ms, "answered");
    } else {
        tracing::info!(status = status.as_u16(), route, elapsed_ms = ms, "answered");
    }
    metrics.observe(
        HttpLabels {
            method: method_label(&ctx.method),
            route: Cow::Borrowed(route),
            status: status.as_u16(),
        },
        elapsed,
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

/// JSON with a status code: the usual successful answer.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
