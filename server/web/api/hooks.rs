//! REST hooks for automation tools (Zapier, Make, n8n): subscribe a URL to an event,
//! unsubscribe it, and read what each event looks like. Deliveries are signed with the
//! hook's secret, answered once when it is made.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::db::entities::hook;
use crate::error::{Error, Result};
use crate::hooks::Event;
use crate::web::guards::HookRef;
use crate::web::router::Req;
use crate::web::{json, no_content};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Subscribe {
    /// `lead.created` or `bar.published`.
    pub event: String,
    /// Where each event is posted: `https://…`.
    pub target_url: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct HookView {
    pub id: i64,
    pub event: String,
    pub target_url: String,
    pub created_at: DateTime<Utc>,
    /// Shown once, when the hook is made: verify `Barkeep-Signature: t=…,v1=…`, an
    /// HMAC-SHA256 with it over `"<t>.<raw body>"` (as Stripe signs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
}

impl HookView {
    fn new(h: hook::Model, show_secret: bool) -> HookView {
        HookView {
            id: h.id,
            event: h.event,
            target_url: h.target_url,
            created_at: h.created_at,
            secret: show_secret.then_some(h.secret),
            last_attempt_at: h.last_attempt_at,
            last_status: h.last_status,
            last_error: h.last_error,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct HookList {
    pub hooks: Vec<HookView>,
}

/// Subscribe a URL to an event of the account. Answers the hook with its id (to
/// unsubscribe) and its signing secret, once. A delivery the target answers with 410
/// Gone unsubscribes it.
#[utoipa::path(post, path = "/api/v1/hooks", tag = "hooks", request_body = Subscribe,
    responses((status = 201, description = "Subscribed", body = HookView)))]
pub(crate) async fn subscribe(req: Req) -> Result<Response> {
    let body: Subscribe = req.json()?;
    let hook = req
        .state
        .hooks
        .subscribe(req.account()?, &body.event, &body.target_url)
        .await?;
    Ok(json(StatusCode::CREATED, &HookView::new(hook, true)))
}

/// The account's hooks, without their secrets, with how the last delivery went.
#[utoipa::path(get, path = "/api/v1/hooks", tag = "hooks",
    responses((status = 200, description = "Oldest first", body = HookList)))]
pub(crate) async fn list(req: Req) -> Result<Response> {
    let hooks = req
        .state
        .hooks
        .list(req.account()?)
        .await?
        .into_iter()
        .map(|h| HookView::new(h, false))
        .collect();
    Ok(json(StatusCode::OK, &HookList { hooks }))
}

/// Unsubscribe; events waiting for it are dropped.
#[utoipa::path(delete, path = "/api/v1/hooks/{hook_id}", tag = "hooks",
    params(("hook_id" = i64, Path, description = "One of the account's hooks")),
    responses((status = 204, description = "Unsubscribed")))]
pub(crate) async fn unsubscribe(req: Req, HookRef(hook_id): HookRef) -> Result<Response> {
    req.state.hooks.unsubscribe(req.account()?, hook_id).await?;
    Ok(no_content())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SampleQuery {
    /// `lead.created` or `bar.published`.
    pub event: String,
}

/// What a delivery of the event looks like, as a list of one (the shape automation
/// tools ask for when a step is set up).
#[utoipa::path(get, path = "/api/v1/hooks/sample", tag = "hooks", params(SampleQuery),
    responses((status = 200, description = "One made-up event", body = Vec<Object>)))]
pub(crate) async fn sample(req: Req) -> Result<Response> {
    let q: SampleQuery = req.query()?;
    let event = Event::parse(&q.event)
        .ok_or_else(|| Error::invalid("event", "one of lead.created, bar.published"))?;
    let sample: Vec<Value> = vec![event.sample()];
    Ok(json(StatusCode::OK, &sample))
}
