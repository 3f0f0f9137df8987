//! The operator's part of the API, under `/api/v1/admin`: only members with the operator
//! role (`barkeep admin grant EMAIL`) reach it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::billing::AccountState;
use crate::db::entities::stripe_event::{self, EventStatus};
use crate::domain::MemberId;
use crate::error::Result;
use crate::web::json;
use crate::web::router::Req;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events of this status.
    pub status: Option<EventStatus>,
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct StripeEventView {
    pub id: String,
    /// Stripe's event type.
    #[serde(rename = "type")]
    pub kind: String,
    pub status: EventStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    /// When a failed event is tried again.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl From<stripe_event::Model> for StripeEventView {
    fn from(e: stripe_event::Model) -> Self {
        let retrying = e.status == EventStatus::Failed;
        StripeEventView {
            id: e.id,
            kind: e.kind,
            status: e.status,
            attempts: e.attempts,
            last_error: e.last_error,
            created_at: e.stripe_created_at,
            received_at: e.received_at,
            processed_at: e.processed_at,
            next_attempt_at: retrying.then_some(e.next_attempt_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StripeEvents {
    pub events: Vec<StripeEventView>,
}

/// Recent Stripe webhook events and how their processing went.
#[utoipa::path(get, path = "/api/v1/admin/stripe-events", tag = "admin",
    params(EventsQuery),
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "Newest first", body = StripeEvents)))]
pub async fn stripe_events(req: Req) -> Result<Response> {
    let q: EventsQuery = req.query()?;
    let events = req
        .state
        .billing
        .recent_events(q.status, q.limit.unwrap_or(50).clamp(1, 500))
        .await?
        .into_iter()
        .map(StripeEventView::from)
        .collect();
    Ok(json(StatusCode::OK, &StripeEvents { events }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// Part of an email address.
    pub q: Option<String>,
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberRow {
    pub id: MemberId,
    pub email: String,
    pub email_confirmed: bool,
    pub operator: bool,
    pub created_at: DateTime<Utc>,
    pub billing: AccountState,
}

#[derive(Serialize, ToSchema)]
pub struct Members {
    pub members: Vec<MemberRow>,
}

/// Members, newest first, with their plan, subscription status and whether their views
/// passed the plan's limit.
#[utoipa::path(get, path = "/api/v1/admin/members", tag = "admin",
    params(MembersQuery),
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "Newest first", body = Members)))]
pub async fn members(req: Req) -> Result<Response> {
    let q: MembersQuery = req.query()?;
    let found = crate::db::accounts::search_members(
        &req.state.db,
        q.q.as_deref(),
        q.limit.unwrap_or(50).clamp(1, 500),
    )
    .await?;
    let ids: Vec<MemberId> = found.iter().map(|m| m.id).collect();
    let mut states = req.state.billing.states(&ids).await?;
    let members = found
        .into_iter()
        .filter_map(|m| {
            Some(MemberRow {
                billing: states.remove(&m.id)?,
                id: m.id,
                email: m.email,
                email_confirmed: m.email_confirmed_at.is_some(),
                operator: m.is_operator,
                created_at: m.created_at,
            })
        })
        .collect();
    Ok(json(StatusCode::OK, &Members { members }))
}
