//! Visitors: the per-site script (`GET /s/{key}.js`), events (`POST /e` as `sendBeacon`
//! sends them, `GET /e` as an image for pages without beacons) and leads (`POST /l`).
//! They are the hot path: `server` hands them over straight from hyper, they answer at
//! once from memory, and they never answer with a server error.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use warp::http::request::Parts;
use warp::http::{Method, Request};
use warp::reply::Response;

use super::conn::RequestBody;
use super::{RequestContext, State, error, finish, incoming_request_id};
use crate::error::Error;

pub(crate) mod events;
pub(crate) mod script;

/// The visitor routes, all fixed.
pub(crate) const ROUTES: [(Method, &str); 5] = [
    (Method::GET, "/s/{key}.js"),
    (Method::HEAD, "/s/{key}.js"),
    (Method::POST, "/e"),
    (Method::GET, "/e"),
    (Method::POST, "/l"),
];

/// The route label of a visitor path, or `None` for every other path. A constant, so the
/// hot path allocates nothing for it.
pub(crate) fn route_of(path: &str) -> Option<&'static str> {
    match path {
        "/e" => Some("/e"),
        "/l" => Some("/l"),
        p if p
            .strip_prefix("/s/")
            .is_some_and(|file| !file.is_empty() && !file.contains('/')) =>
        {
            Some("/s/{key}.js")
        }
        _ => None,
    }
}

/// The answer to a request on a visitor `route` (see [`route_of`]). Its future holds
/// only the request's parts: a connection moves it about for every request, so it is kept
/// small (the script's lookup, which may wait for a build, is boxed).
pub(crate) fn handle(
    state: &Arc<State>,
    route: &'static str,
    req: Request<RequestBody>,
    peer: SocketAddr,
) -> impl Future<Output = Response> + Send + 'static + use<> {
    let (parts, body) = req.into_parts();
    let ctx = RequestContext::new(
        incoming_request_id(&parts.headers),
        parts.method.clone(),
        parts.uri.path(),
    );
    let state = state.clone();
    async move {
        let res = answer(&state, route, parts, body, peer).await;
        finish(&state.http, ctx, res)
    }
}

async fn answer(
    state: &State,
    route: &'static str,
    parts: Parts,
    body: RequestBody,
    peer: SocketAddr,
) -> Response {
    let trusted = &state.web.trusted_proxies;
    match (route, &parts.method) {
        ("/s/{key}.js", &Method::GET | &Method::HEAD) => {
            let file = &parts.uri.path()["/s/".len()..];
            Box::pin(script::serve(
                &state.live.scripts,
                file,
                &parts.headers,
                || super::extract::client_ip(Some(peer), &parts.headers, trusted),
            ))
            .await
        }
        ("/e", &Method::POST) => {
            let body = super::extract::read_body(&parts.headers, body, events::EVENT_LIMIT).await;
            let visitor = events::visitor(Some(peer), &parts.headers, trusted);
            events::post_event(&state.ingest, visitor, body)
        }
        ("/e", &Method::GET) => {
            let visitor = events::visitor(Some(peer), &parts.headers, trusted);
            events::pixel(&state.ingest, visitor, parts.uri.query().unwrap_or(""))
        }
        ("/l", &Method::POST) => {
            let body = super::extract::read_body(&parts.headers, body, events::LEAD_LIMIT).await;
            let visitor = events::visitor(Some(peer), &parts.headers, trusted);
            events::post_lead(&state.ingest, visitor, body)
        }
        (_, _) => {
            let allow = ROUTES
                .iter()
                .filter(|(_, path)| *path == route)
                .map(|(m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if allow.is_empty() {
                error::respond(Error::NotFound)
            } else {
                error::method_not_allowed(&allow)
            }
        }
    }
}
