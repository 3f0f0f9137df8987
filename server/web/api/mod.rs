//! The member API under `/api/v1`: JSON in and out, a session cookie or a bearer token,
//! described by the OpenAPI document it serves at `/api/v1/openapi.json`. Every route is
//! in the table below, with who may call it.

use serde::Serialize;
use utoipa::ToSchema;

use super::router::{Table, route};

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod bars;
pub(crate) mod benchmarks;
pub(crate) mod billing;
pub(crate) mod leads;
pub(crate) mod sites;
pub(crate) mod stats;

/// Member API bodies are small JSON documents.
pub const BODY_LIMIT: usize = 64 * 1024;

/// An answer that is only a sentence.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn new(message: impl Into<String>) -> Message {
        Message {
            message: message.into(),
        }
    }
}

/// Every route of the member API.
pub fn table() -> Table {
    Table::new(
        BODY_LIMIT,
        vec![
            route!(GET "/api/v1/openapi.json", Public, super::openapi::serve),
            // Signing up and in.
            route!(POST "/api/v1/signup", Public, auth::signup),
            route!(POST "/api/v1/email/confirm", Public, auth::confirm),
            route!(POST "/api/v1/login", Public, auth::login),
            route!(POST "/api/v1/logout", Member, auth::logout),
            route!(POST "/api/v1/password/forgot", Public, auth::forgot),
            route!(POST "/api/v1/password/reset", Public, auth::reset),
            // The member's own account.
            route!(GET "/api/v1/me", Member, account::get_me),
            route!(PATCH "/api/v1/me", Member, account::patch_me),
            route!(POST "/api/v1/me/password", Member, account::change_password),
            route!(POST "/api/v1/me/email", Member, account::change_email),
            route!(GET "/api/v1/sessions", Member, account::list_sessions),
            route!(DELETE "/api/v1/sessions/{session_id}", Member, account::end_session),
            route!(GET "/api/v1/tokens", Member, account::list_tokens),
            route!(POST "/api/v1/tokens", Member, account::create_token),
            route!(DELETE "/api/v1/tokens/{token_id}", Member, account::delete_token),
            route!(DELETE "/api/v1/me", Member, account::delete_me),
            route!(GET "/api/v1/me/export", Member, account::export),
            route!(POST "/api/v1/me/restriction", Member, account::restrict),
            route!(GET "/api/v1/me/policies", Member, account::policies),
            route!(POST "/api/v1/me/policy-objection", Member, account::object),
            route!(GET "/api/v1/industries", Public, account::industries),
            // Sites.
            route!(GET "/api/v1/sites", Member, sites::list),
            route!(POST "/api/v1/sites", Member, sites::create),
            route!(GET "/api/v1/sites/{site_id}", Member, sites::get),
            route!(PATCH "/api/v1/sites/{site_id}", Member, sites::patch),
            route!(DELETE "/api/v1/sites/{site_id}", Member, sites::delete),
            // Leads.
            route!(GET "/api/v1/sites/{site_id}/lead-webhook", Member, leads::get_webhook),
            route!(PUT "/api/v1/sites/{site_id}/lead-webhook", Member, leads::put_webhook),
            route!(DELETE "/api/v1/sites/{site_id}/lead-webhook", Member, leads::delete_webhook),
            route!(POST "/api/v1/sites/{site_id}/lead-webhook/rotate", Member, leads::rotate),
            route!(POST "/api/v1/sites/{site_id}/lead-webhook/test", Member, leads::test),
            route!(GET "/api/v1/sites/{site_id}/lead-webhook/deliveries", Member, leads::deliveries),
            route!(GET "/api/v1/sites/{site_id}/leads", Member, leads::list),
            route!(DELETE "/api/v1/sites/{site_id}/leads/{lead_id}", Member, leads::delete),
            // Bars, variants, publishing.
            route!(GET "/api/v1/sites/{site_id}/bars", Member, bars::list),
            route!(POST "/api/v1/sites/{site_id}/bars", Member, bars::create),
            route!(GET "/api/v1/bars/{bar_id}", Member, bars::get),
            route!(PATCH "/api/v1/bars/{bar_id}", Member, bars::patch),
            route!(DELETE "/api/v1/bars/{bar_id}", Member, bars::delete),
            route!(POST "/api/v1/bars/{bar_id}/publish", Member, bars::publish),
            route!(POST "/api/v1/bars/{bar_id}/pause", Member, bars::pause),
            route!(GET "/api/v1/bars/{bar_id}/deployments", Member, bars::deployments),
            route!(GET "/api/v1/bars/{bar_id}/variants", Member, bars::list_variants),
            route!(POST "/api/v1/bars/{bar_id}/variants", Member, bars::create_variant),
            route!(GET "/api/v1/bars/{bar_id}/variants/{variant_id}", Member, bars::get_variant),
            route!(PATCH "/api/v1/bars/{bar_id}/variants/{variant_id}", Member, bars::patch_variant),
            route!(DELETE "/api/v1/bars/{bar_id}/variants/{variant_id}", Member, bars::delete_variant),
            // Counts.
            route!(GET "/api/v1/deployments/{deployment_id}/stats", Member, stats::deployment),
            route!(GET "/api/v1/bars/{bar_id}/variants/{variant_id}/stats", Member, stats::variant),
            route!(GET "/api/v1/bars/{bar_id}/stats", Member, stats::bar),
            route!(GET "/api/v1/sites/{site_id}/stats", Member, stats::site),
            route!(GET "/api/v1/sites/{site_id}/usage", Member, stats::usage),
            // Benchmarks.
            route!(GET "/api/v1/benchmarks", Member, benchmarks::mine),
            route!(GET "/api/v1/bars/{bar_id}/benchmark", Member, benchmarks::bar),
            // Billing.
            route!(GET "/api/v1/billing", Member, billing::get),
            route!(POST "/api/v1/billing/checkout", Member, billing::checkout),
            route!(POST "/api/v1/billing/portal", Member, billing::portal),
            // Operators.
            route!(GET "/api/v1/admin/alerts", Operator, admin::alerts),
            route!(POST "/api/v1/admin/alerts", Operator, admin::draft_alert),
            route!(GET "/api/v1/admin/alerts/{alert_id}", Operator, admin::alert),
            route!(GET "/api/v1/admin/alerts/{alert_id}/preview", Operator, admin::preview_alert),
            route!(POST "/api/v1/admin/alerts/{alert_id}/send", Operator, admin::send_alert),
            route!(GET "/api/v1/admin/alerts/{alert_id}/report", Operator, admin::alert_report),
            route!(GET "/api/v1/admin/policies", Operator, admin::policies),
            route!(POST "/api/v1/admin/policies", Operator, admin::publish_policy),
            route!(GET "/api/v1/admin/benchmarks", Operator, admin::benchmark_cells),
            route!(POST "/api/v1/admin/benchmarks/run", Operator, admin::run_benchmarks),
            route!(GET "/api/v1/admin/members", Operator, admin::members),
            route!(GET "/api/v1/admin/stripe-events", Operator, admin::stripe_events),
        ],
    )
}
