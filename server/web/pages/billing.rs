//! Billing: the plan, its limits with this month's usage as meters, what happens at the
//! limit, and the buttons to Stripe's Checkout and customer portal. With billing off the
//! page says so.

use serde::Serialize;
use warp::reply::Response;

use super::forms::{Errors, Fields};
use super::view::{redirect_out, render};
use crate::billing::{BillingStatus, Summary};
use crate::error::{Error, Result};
use crate::plans::Interval;
use crate::web::router::Req;

#[derive(Serialize)]
struct Meter {
    label: &'static str,
    used: u64,
    limit: Option<u64>,
    /// Where the meter turns to a warning: 80 % of the limit.
    high: Option<u64>,
}

#[derive(Serialize)]
struct BillingPage {
    off: Option<String>,
    summary: Option<Summary>,
    meters: Vec<Meter>,
    /// `success` or `canceled` after Checkout.
    checkout: String,
    errors: Errors,
    has_customer: bool,
}

#[derive(serde::Deserialize, Default)]
struct CheckoutQuery {
    #[serde(default)]
    checkout: String,
}

async fn billing_page(req: &Req, errors: Errors) -> Result<Response> {
    let account = req.account()?;
    let q: CheckoutQuery = req.query().unwrap_or_default();
    let (off, summary) = match req.state.billing.summary(account).await {
        Ok(s) => (None, Some(s)),
        Err(Error::Disabled { message, .. }) => (Some(super::forms::sentence(&message)), None),
        Err(err) => return Err(err),
    };
    let meters = summary
        .as_ref()
        .map(|s| {
            let u = &s.usage;
            [
                ("Views this month", &u.monthly_views),
                ("Sites", &u.sites),
                ("Bars on your fullest site", &u.bars_per_site),
                ("Variants on your fullest bar", &u.variants_per_bar),
            ]
            .into_iter()
            .map(|(label, m)| Meter {
                label,
                used: m.used,
                limit: m.limit,
                high: m.limit.map(|l| l * 8 / 10),
            })
            .collect()
        })
        .unwrap_or_default();
    let has_customer = summary
        .as_ref()
        .is_some_and(|s| s.plan != crate::plans::FREE || s.status != BillingStatus::Free);
    let status = errors.status();
    render(
        req,
        "pages/billing.html",
        &BillingPage {
            off,
            summary,
            meters,
            checkout: q.checkout,
            errors,
            has_customer,
        },
        status,
    )
}

pub(super) async fn page(req: Req) -> Result<Response> {
    billing_page(&req, Errors::default()).await
}

/// Starts Stripe Checkout for the plan and interval of the button pressed.
pub(super) async fn checkout(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let started = async {
        let interval = Interval::parse(f.get("interval"))
            .ok_or_else(|| Error::invalid("interval", "`month` or `year`"))?;
        req.state
            .billing
            .checkout(req.account()?, req.member()?, f.get("plan"), interval)
            .await
    }
    .await;
    match started {
        Ok(url) => redirect_out(&url),
        Err(err) => billing_page(&req, refusal(err)?).await,
    }
}

pub(super) async fn portal(req: Req) -> Result<Response> {
    match req.state.billing.portal(req.account()?).await {
        Ok(url) => redirect_out(&url),
        Err(err) => billing_page(&req, refusal(err)?).await,
    }
}

/// Stripe out of reach is worth a sentence on the page, not an error page.
fn refusal(err: Error) -> Result<Errors> {
    match err {
        Error::Unavailable => {
            let mut e = Errors::default();
            e.add(
                super::forms::FORM,
                "Stripe cannot be reached right now. Nothing was charged; try again in a minute.",
            );
            Ok(e)
        }
        Error::Invalid(i) => {
            let mut e = Errors::default();
            e.add(super::forms::FORM, super::forms::sentence(&i.message));
            Ok(e)
        }
        other => Errors::of(other),
    }
}
