//! Webhooks other services send to barkeep: Stripe's, at `POST /stripe/webhook` (the body
//! is read raw, so its signature is checked on exactly the bytes that were signed), and
//! the email API's bounces and complaints at `POST /mail/webhook`.

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::json;
use super::router::{Req, Table, route};
use crate::error::{Error, Result};
use crate::mail::feedback::{self, Feedback, Recorded};

/// Stripe's events are JSON documents well under this.
const BODY_LIMIT: usize = 1024 * 1024;

pub(crate) fn table() -> Table {
    Table::new(
        BODY_LIMIT,
        vec![
            route!(POST "/stripe/webhook", Public, stripe),
            route!(POST "/mail/webhook", Public, mail),
        ],
    )
}

#[derive(Serialize)]
struct Ack {
    received: bool,
    /// `processed`, `duplicate`, `in_progress` or `ignored` (Stripe); `suppressed` or
    /// `ignored` (the email API).
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

/// Bounces and spam complaints from the email API (Postmark's JSON). Postmark
/// authenticates its webhooks with HTTP Basic credentials written into the webhook URL;
/// the password must be `BARKEEP_MAIL_WEBHOOK_SECRET`, compared in constant time.
async fn mail(req: Req) -> Result<Response> {
    let Some(secret) = req.state.web.mail_webhook_secret.as_ref() else {
        return Err(Error::Disabled {
            code: "mail_webhook_off",
            message: "set BARKEEP_MAIL_WEBHOOK_SECRET to take the email API's bounce webhook"
                .into(),
        });
    };
    let presented = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|d| String::from_utf8(d).ok())
        .and_then(|d| d.split_once(':').map(|(_, p)| p.to_string()))
        .unwrap_or_default();
    if !constant_eq(presented.as_bytes(), secret.expose().as_bytes()) {
        return Err(Error::Unauthorized);
    }
    let report: Feedback = crate::web::extract::parse_json(req.body()?)?;
    let recorded = feedback::record(
        &req.state.db,
        req.state.mailer.links().address_key(),
        req.state.clock.now(),
        &report,
    )
    .await?;
    Ok(json(
        StatusCode::OK,
        &Ack {
            received: true,
            status: match recorded {
                Recorded::Suppressed => "suppressed",
                Recorded::Ignored => "ignored",
            },
        },
    ))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
