//! The member's billing: the plan, its limits and this month's usage, Stripe Checkout to
//! choose a plan, and the Stripe customer portal. With billing off every route answers
//! 404 `billing_off`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::billing::Summary;
use crate::error::{Error, Result};
use crate::plans::Interval;
use crate::web::json;
use crate::web::router::Req;

/// The plan, the subscription, the limits and this month's usage.
#[utoipa::path(get, path = "/api/v1/billing", tag = "billing",
    responses((status = 200, description = "Billing", body = Summary)))]
pub(crate) async fn get(req: Req) -> Result<Response> {
    let summary = req.state.billing.summary(req.account()?).await?;
    Ok(json(StatusCode::OK, &summary))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Checkout {
    /// A plan's id from `GET /api/v1/billing` (`plans`).
    pub plan: String,
    /// `month` or `year`.
    pub interval: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Redirect {
    /// Send the member's browser here.
    pub url: String,
}

/// Start Stripe Checkout for a plan; answers the Checkout page's URL.
#[utoipa::path(post, path = "/api/v1/billing/checkout", tag = "billing", request_body = Checkout,
    responses((status = 200, description = "The Checkout Session's URL", body = Redirect)))]
pub(crate) async fn checkout(req: Req) -> Result<Response> {
    let body: Checkout = req.json()?;
    let interval = Interval::parse(&body.interval)
        .ok_or_else(|| Error::invalid("interval", "`month` or `year`"))?;
    let url = req
        .state
        .billing
        .checkout(req.account()?, req.member()?, &body.plan, interval)
        .await?;
    Ok(json(StatusCode::OK, &Redirect { url }))
}

/// The Stripe customer portal, where the card, the plan and invoices are managed.
#[utoipa::path(post, path = "/api/v1/billing/portal", tag = "billing",
    responses((status = 200, description = "The portal session's URL", body = Redirect)))]
pub(crate) async fn portal(req: Req) -> Result<Response> {
    let url = req.state.billing.portal(req.account()?).await?;
    Ok(json(StatusCode::OK, &Redirect { url }))
}
