//! Webhooks other services send to barkeep: Stripe's, at `POST /stripe/webhook`. The
//! body is read raw, so its signature is checked on exactly the bytes that were signed.

use serde::Serialize;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::json;
use super::router::{Access::Public, Req, Table, route};
use crate::error::Result;

/// Stripe's events are JSON documents well under this.
const BODY_LIMIT: usize = 1024 * 1024;

pub fn table() -> Table {
    Table::new(
        BODY_LIMIT,
        vec![route(Method::POST, "/stripe/webhook", Public, stripe)],
    )
}

#[derive(Serialize)]
struct Ack {
    received: bool,
    /// `processed`, `duplicate`, `in_progress` or `ignored`.
    status: &'static str,
}

/// 200 once the event is recorded and processed (or was before); 400 for a bad
/// signature, a stale timestamp or a body that is not an event (nothing is written);
/// 500 when processing failed (Stripe retries, and so does barkeep).
async fn stripe(req: Req) -> Result<Response> {
    let received = req
        .state
        .billing
        .receive(req.header("stripe-signature"), req.body()?)
        .await?;
    Ok(json(
        StatusCode::OK,
        &Ack {
            received: true,
            status: received.as_str(),
        },
    ))
}
