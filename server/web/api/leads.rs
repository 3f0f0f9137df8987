//! A site's leads and where they go: the lead webhook (its secret shown once), its
//! delivery attempts, a test post, and the leads barkeep holds for the member.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use crate::db::entities::{lead, lead_delivery, lead_webhook};
use crate::domain::SiteId;
use crate::error::{Error, Result};
use crate::leads::Attempt;
use crate::web::guards::{OwnedLead, OwnedSite};
use crate::web::router::Req;
use crate::web::{json, no_content};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutWebhook {
    /// Where each lead is posted: `https://…`.
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookView {
    pub site_id: SiteId,
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Shown once, when it is made: verify `Barkeep-Signature: t=…,v1=…`, an
    /// HMAC-SHA256 with it over `"<t>.<raw body>"` (as Stripe signs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// When you were told that deliveries keep failing (cleared by a success).
    pub failing_notified_at: Option<DateTime<Utc>>,
}

impl WebhookView {
    fn new(w: lead_webhook::Model, show_secret: bool) -> WebhookView {
        WebhookView {
            site_id: w.site_id,
            url: w.url,
            created_at: w.created_at,
            updated_at: w.updated_at,
            secret: show_secret.then_some(w.secret),
            failing_notified_at: w.failing_notified_at,
        }
    }
}

/// Post the site's leads to this URL; answers the new signing secret, once.
#[utoipa::path(put, path = "/api/v1/sites/{site_id}/lead-webhook", tag = "leads", request_body = PutWebhook,
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "Set, with its secret", body = WebhookView)))]
pub(crate) async fn put_webhook(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let body: PutWebhook = req.json()?;
    let hook = req.state.leads.set_webhook(site.id, &body.url).await?;
    Ok(json(StatusCode::OK, &WebhookView::new(hook, true)))
}

/// The site's lead webhook, without its secret.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/lead-webhook", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "The webhook", body = WebhookView)))]
pub(crate) async fn get_webhook(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let hook = req
        .state
        .leads
        .webhook(site.id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(json(StatusCode::OK, &WebhookView::new(hook, false)))
}

/// Stop posting leads; leads wait for the email forward (or are kept).
#[utoipa::path(delete, path = "/api/v1/sites/{site_id}/lead-webhook", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn delete_webhook(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    req.state.leads.delete_webhook(site.id).await?;
    Ok(no_content())
}

/// A new signing secret (the old one stops at once); answered once.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/lead-webhook/rotate", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "The webhook with its new secret", body = WebhookView)))]
pub(crate) async fn rotate(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let hook = req.state.leads.rotate_secret(site.id).await?;
    Ok(json(StatusCode::OK, &WebhookView::new(hook, true)))
}

/// Post a made-up lead (`"test": true`) to the webhook now, and say how it went. At most
/// 10 tests per member every 10 minutes (over all their sites); past that, 429 with
/// `Retry-After`.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/lead-webhook/test", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "How the post went", body = Attempt)))]
pub(crate) async fn test(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let attempt = req.state.leads.test(req.account()?, site.id).await?;
    Ok(json(StatusCode::OK, &attempt))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    pub id: i64,
    pub lead_id: Option<i64>,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub test: bool,
    /// `webhook`, or the list forward's provider.
    pub forward: String,
}

impl From<lead_delivery::Model> for DeliveryView {
    fn from(d: lead_delivery::Model) -> Self {
        DeliveryView {
            id: d.id,
            lead_id: d.lead_id,
            attempt: d.attempt,
            at: d.at,
            ok: d.ok,
            status_code: d.status_code,
            error: d.error,
            test: d.test,
            forward: d.forward,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Deliveries {
    pub deliveries: Vec<DeliveryView>,
}

/// The latest delivery attempts to the site's webhook (never the leads themselves).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/lead-webhook/deliveries", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "Newest first", body = Deliveries)))]
pub(crate) async fn deliveries(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let deliveries = req
        .state
        .leads
        .deliveries(site.id)
        .await?
        .into_iter()
        .map(DeliveryView::from)
        .collect();
    Ok(json(StatusCode::OK, &Deliveries { deliveries }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct LeadView {
    pub id: i64,
    pub email: String,
    pub deployment_id: i64,
    pub created_at: DateTime<Utc>,
    /// When every forward delivered it (it is kept for the days you chose).
    pub forwarded_at: Option<DateTime<Utc>>,
    /// Delivery to the webhook kept failing; it stays until you delete it.
    pub flagged_at: Option<DateTime<Utc>>,
}

impl From<lead::Model> for LeadView {
    fn from(l: lead::Model) -> Self {
        LeadView {
            id: l.id,
            email: l.email,
            deployment_id: l.deployment_id.0,
            created_at: l.created_at,
            forwarded_at: l.forwarded_at,
            flagged_at: l.flagged_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct LeadList {
    pub leads: Vec<LeadView>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LeadsQuery {
    /// `json` (the default) or `csv`.
    pub format: Option<String>,
}

/// The leads barkeep holds for the site: waiting for a forward, kept for the days you
/// chose, or flagged; as JSON or CSV.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/leads", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites"), LeadsQuery),
    responses((status = 200, description = "Newest first",
        content((LeadList = "application/json"), (String = "text/csv")))))]
pub(crate) async fn list(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let q: LeadsQuery = req.query()?;
    let site = site.id;
    let leads = req.state.leads.leads(site).await?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(Error::invalid(
                "format",
                format!("`{other}` is neither json nor csv"),
            ));
        }
    };
    if !csv {
        let leads = leads.into_iter().map(LeadView::from).collect();
        return Ok(json(StatusCode::OK, &LeadList { leads }));
    }
    let mut out = String::from("id,email,deployment_id,created_at,forwarded_at,flagged_at\n");
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    for l in leads {
        // A value starting with = + - @ could run as a formula in a spreadsheet.
        let email = if l.email.starts_with(['=', '+', '-', '@']) {
            format!("'{}", l.email)
        } else {
            l.email.clone()
        };
        out.push_str(&format!(
            "{},\"{}\",{},{},{},{}\n",
            l.id,
            email.replace('"', "\"\""),
            l.deployment_id,
            time(Some(l.created_at)),
            time(l.forwarded_at),
            time(l.flagged_at)
        ));
    }
    let mut res = Response::new(out.into());
    let h = res.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"barkeep-leads-site-{site}.csv\""
    )) {
        h.insert("content-disposition", v);
    }
    Ok(res)
}

/// Delete one lead now.
#[utoipa::path(delete, path = "/api/v1/sites/{site_id}/leads/{lead_id}", tag = "leads",
    params(
        ("site_id" = i64, Path, description = "One of your sites"),
        ("lead_id" = i64, Path, description = "One of the site's leads"),
    ),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete(req: Req, OwnedLead(lead): OwnedLead) -> Result<Response> {
    req.state.leads.delete_lead(&lead).await?;
    Ok(no_content())
}
