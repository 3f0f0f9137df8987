//! The operator's part of the API, under `/api/v1/admin`: only members with the operator
//! role (`barkeep admin grant EMAIL`) reach it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::alerts::{AudienceSpec, Draft, Kind, Report};
use crate::billing::AccountState;
use crate::db::entities::alert;
use crate::db::entities::stripe_event::{self, EventStatus};
use crate::domain::{AccountId, MemberId};
use crate::error::Result;
use crate::privacy::policies::{Objection, PolicyView};
use crate::web::guards::AlertRef;
use crate::web::router::Req;
use crate::web::{State, json};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only events of this status.
    pub status: Option<EventStatus>,
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct StripeEventView {
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
pub(crate) struct StripeEvents {
    pub events: Vec<StripeEventView>,
}

/// Recent Stripe webhook events and how their processing went.
#[utoipa::path(get, path = "/api/v1/admin/stripe-events", tag = "admin",
    params(EventsQuery),
    responses((status = 200, description = "Newest first", body = StripeEvents)))]
pub(crate) async fn stripe_events(req: Req) -> Result<Response> {
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
pub(crate) struct MembersQuery {
    /// Part of an email address.
    pub q: Option<String>,
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct MemberRow {
    pub id: MemberId,
    pub email: String,
    pub email_confirmed: bool,
    pub operator: bool,
    pub created_at: DateTime<Utc>,
    pub billing: AccountState,
    /// Subscription mail stopped for good: `hard_bounce` or `complaint`.
    pub email_suppressed: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Members {
    pub members: Vec<MemberRow>,
}

/// Members, newest first, with their plan, subscription status and whether their views
/// passed the plan's limit.
#[utoipa::path(get, path = "/api/v1/admin/members", tag = "admin",
    params(MembersQuery),
    responses((status = 200, description = "Newest first", body = Members)))]
pub(crate) async fn members(req: Req) -> Result<Response> {
    let q: MembersQuery = req.query()?;
    let members = member_rows(
        &req.state,
        q.q.as_deref(),
        q.limit.unwrap_or(50).clamp(1, 500),
    )
    .await?;
    Ok(json(StatusCode::OK, &Members { members }))
}

/// Members whose address contains `search`, newest first, with their billing state (the
/// operator pages list them too).
pub(crate) async fn member_rows(
    state: &State,
    search: Option<&str>,
    limit: u64,
) -> Result<Vec<MemberRow>> {
    let found = state.accounts.search(search, limit).await?;
    // Each person is shown with the billing of the first account they are in (no
    // account: none, shown as the free plan).
    let mut first = std::collections::HashMap::new();
    for m in &found {
        let account = state
            .accounts
            .accounts_of(m.id)
            .await?
            .first()
            .map_or(AccountId(0), |a| a.id);
        first.insert(m.id, account);
    }
    let accounts: Vec<AccountId> = first.values().copied().collect();
    let states = state.billing.states(&accounts).await?;
    let emails: Vec<String> = found.iter().map(|m| m.email.clone()).collect();
    // Suppressions are stored as hashes of the addresses; the members' are looked up so.
    let mut suppressed = crate::mail::suppressions::suppressed(
        &state.db,
        state.mailer.links().address_key(),
        &emails,
    )
    .await?;
    Ok(found
        .into_iter()
        .filter_map(|m| {
            Some(MemberRow {
                billing: states.get(first.get(&m.id)?)?.clone(),
                email_suppressed: suppressed.remove(&m.email),
                id: m.id,
                email: m.email,
                email_confirmed: m.email_confirmed_at.is_some(),
                operator: m.is_operator,
                created_at: m.created_at,
            })
        })
        .collect())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAlert {
    pub kind: Kind,
    /// `"all"`, `{"plan": ID}` or `{"member": ID}`.
    pub audience: AudienceSpec,
    /// Added below the kind's own text; blank lines separate paragraphs.
    #[serde(default)]
    pub message: Option<String>,
    /// The kind's fields, e.g. `starts_at`, `ends_at` (and optional `affected`) for a
    /// planned outage; see docs/alerts.md.
    #[serde(default = "empty_fields")]
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
}

fn empty_fields() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AlertView {
    pub id: i64,
    pub kind: String,
    #[schema(value_type = Object)]
    pub audience: serde_json::Value,
    pub message: Option<String>,
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
    /// `draft`, `sending` or `sent` (every email queued).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub send_requested_at: Option<DateTime<Utc>>,
    pub queued_at: Option<DateTime<Utc>>,
    pub queued: i64,
}

impl From<alert::Model> for AlertView {
    fn from(a: alert::Model) -> Self {
        AlertView {
            id: a.id,
            kind: a.kind.to_string(),
            audience: serde_json::to_value(&a.audience).unwrap_or_default(),
            message: a.message,
            fields: serde_json::from_str(&a.fields).unwrap_or_default(),
            status: a.status.to_string(),
            created_at: a.created_at,
            send_requested_at: a.send_requested_at,
            queued_at: a.queued_at,
            queued: a.queued,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AlertList {
    pub alerts: Vec<AlertView>,
}

/// Draft an alert.
#[utoipa::path(post, path = "/api/v1/admin/alerts", tag = "admin", request_body = NewAlert,
    responses((status = 201, description = "Drafted", body = AlertView)))]
pub(crate) async fn draft_alert(req: Req) -> Result<Response> {
    let body: NewAlert = req.json()?;
    let alert = req
        .state
        .alerts
        .draft(
            Some(req.member()?.id),
            Draft {
                kind: body.kind,
                audience: body.audience,
                message: body.message,
                fields: body.fields,
            },
        )
        .await?;
    Ok(json(StatusCode::CREATED, &AlertView::from(alert)))
}

/// Recent alerts, newest first.
#[utoipa::path(get, path = "/api/v1/admin/alerts", tag = "admin",
    responses((status = 200, description = "Newest first", body = AlertList)))]
pub(crate) async fn alerts(req: Req) -> Result<Response> {
    let alerts = req.state.alerts.recent(100).await?;
    Ok(json(
        StatusCode::OK,
        &AlertList {
            alerts: alerts.into_iter().map(AlertView::from).collect(),
        },
    ))
}

/// One alert.
#[utoipa::path(get, path = "/api/v1/admin/alerts/{alert_id}", tag = "admin",
    params(("alert_id" = i64, Path, description = "An alert")),
    responses((status = 200, description = "The alert", body = AlertView)))]
pub(crate) async fn alert(req: Req, AlertRef(alert_id): AlertRef) -> Result<Response> {
    let alert = req.state.alerts.get(alert_id).await?;
    Ok(json(StatusCode::OK, &AlertView::from(alert)))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Preview {
    /// Whom the preview was rendered for (the audience's first member, or you).
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The alert exactly as a member of its audience gets it.
#[utoipa::path(get, path = "/api/v1/admin/alerts/{alert_id}/preview", tag = "admin",
    params(("alert_id" = i64, Path, description = "An alert")),
    responses((status = 200, description = "Subject, text and HTML", body = Preview)))]
pub(crate) async fn preview_alert(req: Req, AlertRef(alert_id): AlertRef) -> Result<Response> {
    let a = req.state.alerts.get(alert_id).await?;
    let (to, rendered) = req.state.alerts.preview(&a, Some(req.member()?)).await?;
    Ok(json(
        StatusCode::OK,
        &Preview {
            to,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        },
    ))
}

/// Send a drafted alert to its audience (once; 409 `alert_not_draft` after).
#[utoipa::path(post, path = "/api/v1/admin/alerts/{alert_id}/send", tag = "admin",
    params(("alert_id" = i64, Path, description = "An alert")),
    responses((status = 202, description = "Sending", body = AlertView)))]
pub(crate) async fn send_alert(req: Req, AlertRef(alert_id): AlertRef) -> Result<Response> {
    let alert = req.state.alerts.send(alert_id).await?;
    Ok(json(StatusCode::ACCEPTED, &AlertView::from(alert)))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AlertReport {
    pub alert: AlertView,
    /// Queued, not sent yet.
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    /// Not sent: the member left the list or the address is suppressed.
    pub skipped: i64,
    pub bounced: i64,
    pub complained: i64,
    /// Emails opened (or clicked) by people.
    pub opened: i64,
    /// Emails with a link clicked by people.
    pub clicked: i64,
    /// Opens by image proxies, scanners and privacy protection, kept apart.
    pub opened_by_machines: i64,
    pub clicked_by_machines: i64,
}

/// Delivery, bounces, opens and clicks of an alert, people apart from machines.
#[utoipa::path(get, path = "/api/v1/admin/alerts/{alert_id}/report", tag = "admin",
    params(("alert_id" = i64, Path, description = "An alert")),
    responses((status = 200, description = "The report", body = AlertReport)))]
pub(crate) async fn alert_report(req: Req, AlertRef(alert_id): AlertRef) -> Result<Response> {
    Ok(json(
        StatusCode::OK,
        &report_of(&req.state, alert_id).await?,
    ))
}

/// An alert with what became of its emails.
pub(crate) async fn report_of(state: &State, id: i64) -> Result<AlertReport> {
    let counts = state.alerts.report(id).await?;
    let alert = state.alerts.get(id).await?;
    Ok(AlertReport::from((alert, counts)))
}

impl From<(alert::Model, Report)> for AlertReport {
    fn from((alert, r): (alert::Model, Report)) -> Self {
        let Report {
            queued,
            sent,
            failed,
            skipped,
            bounced,
            complained,
            opened,
            clicked,
            opened_by_machines,
            clicked_by_machines,
        } = r;
        AlertReport {
            alert: AlertView::from(alert),
            queued,
            sent,
            failed,
            skipped,
            bounced,
            complained,
            opened,
            clicked,
            opened_by_machines,
            clicked_by_machines,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPolicy {
    /// `2026-12`, `3.1`, …
    pub version: String,
    /// Where the policy is published; or give its `text`.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    /// No earlier than now.
    pub effective_at: DateTime<Utc>,
}

/// Publish a privacy-policy version: every member's current address is emailed, and
/// each may object within 20 days.
#[utoipa::path(post, path = "/api/v1/admin/policies", tag = "admin", request_body = NewPolicy,
    responses((status = 201, description = "Published", body = PolicyView)))]
pub(crate) async fn publish_policy(req: Req) -> Result<Response> {
    let body: NewPolicy = req.json()?;
    let policy = req
        .state
        .policy_versions
        .publish(
            req.member()?.id,
            &body.version,
            body.url,
            body.text,
            body.effective_at,
        )
        .await?;
    Ok(json(StatusCode::CREATED, &policy))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PolicyObjections {
    pub policy: PolicyView,
    pub objections: Vec<Objection>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PolicyList {
    pub policies: Vec<PolicyObjections>,
}

/// Every policy version, newest first, with who objected and when.
#[utoipa::path(get, path = "/api/v1/admin/policies", tag = "admin",
    responses((status = 200, description = "Versions", body = PolicyList)))]
pub(crate) async fn policies(req: Req) -> Result<Response> {
    let policies = req
        .state
        .policy_versions
        .with_objections()
        .await?
        .into_iter()
        .map(|(policy, objections)| PolicyObjections { policy, objections })
        .collect();
    Ok(json(StatusCode::OK, &PolicyList { policies }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BenchmarkRun {
    /// False when another process was computing at that moment.
    pub ran: bool,
}

/// Compute the benchmarks now (they are computed once a day anyway), once across
/// processes.
#[utoipa::path(post, path = "/api/v1/admin/benchmarks/run", tag = "admin",
    responses((status = 200, description = "Computed, or another process is at it", body = BenchmarkRun)))]
pub(crate) async fn run_benchmarks(req: Req) -> Result<Response> {
    let ran = req
        .state
        .jobs
        .run_now("benchmarks")
        .await
        .map_err(crate::error::Error::Internal)?;
    Ok(json(
        StatusCode::OK,
        &BenchmarkRun {
            ran: ran == crate::jobs::Ran::Yes,
        },
    ))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BenchmarkCell {
    pub level: crate::reporting::benchmarks::Level,
    pub industry: Option<String>,
    pub goal: crate::domain::bar::Goal,
    pub placement: Option<crate::domain::bar::Placement>,
    pub metric: crate::reporting::benchmarks::Metric,
    pub accounts: i32,
    pub published: bool,
    pub reason: Option<String>,
    pub p10: Option<f64>,
    pub p25: Option<f64>,
    pub median: Option<f64>,
    pub p75: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BenchmarkCells {
    pub cells: Vec<BenchmarkCell>,
}

/// Every cell of the newest snapshot: how many accounts, whether it may be published.
#[utoipa::path(get, path = "/api/v1/admin/benchmarks", tag = "admin",
    params(crate::web::api::benchmarks::WindowQuery),
    responses((status = 200, description = "Cells", body = BenchmarkCells)))]
pub(crate) async fn benchmark_cells(req: Req) -> Result<Response> {
    let q: crate::web::api::benchmarks::WindowQuery = req.query()?;
    let cells = req
        .state
        .benchmarks
        .cells(q.window.as_deref())
        .await?
        .into_iter()
        .map(|c| BenchmarkCell {
            level: c.level,
            industry: c.industry,
            goal: c.goal,
            placement: c.placement,
            metric: c.metric,
            accounts: c.accounts,
            published: c.published,
            reason: c.reason,
            p10: c.p10,
            p25: c.p25,
            median: c.median,
            p75: c.p75,
            p90: c.p90,
        })
        .collect();
    Ok(json(StatusCode::OK, &BenchmarkCells { cells }))
}
