//! The member API under `/api/v1`: JSON in and out, a session cookie or a bearer token,
//! described by the OpenAPI document it serves at `/api/v1/openapi.json`. Every route is
//! in the table below, with who may call it; its method and path are written once, in its
//! handler's `#[utoipa::path]`, and the document is made from this table.

use serde::Serialize;
use utoipa::ToSchema;

use super::router::{Table, api_route, route};

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
            // The document itself, which it does not describe.
            route!(GET "/api/v1/openapi.json", Public, super::openapi::serve),
            // Signing up and in.
            api_route!(Public, auth::signup),
            api_route!(Public, auth::confirm),
            api_route!(Public, auth::login),
            api_route!(Member, auth::logout),
            api_route!(Public, auth::forgot),
            api_route!(Public, auth::reset),
            // The member's own account.
            api_route!(Member, account::get_me),
            api_route!(Member, account::patch_me),
            api_route!(Member, account::change_password),
            api_route!(Member, account::change_email),
            api_route!(Member, account::list_sessions),
            api_route!(Member, account::end_session),
            api_route!(Member, account::list_tokens),
            api_route!(Member, account::create_token),
            api_route!(Member, account::delete_token),
            api_route!(Member, account::delete_me),
            api_route!(Member, account::export),
            api_route!(Member, account::restrict),
            api_route!(Member, account::policies),
            api_route!(Member, account::object),
            api_route!(Public, account::industries),
            // Sites.
            api_route!(Member, sites::list),
            api_route!(Member, sites::create),
            api_route!(Member, sites::get),
            api_route!(Member, sites::patch),
            api_route!(Member, sites::delete),
            // Leads.
            api_route!(Member, leads::get_webhook),
            api_route!(Member, leads::put_webhook),
            api_route!(Member, leads::delete_webhook),
            api_route!(Member, leads::rotate),
            api_route!(Member, leads::test),
            api_route!(Member, leads::deliveries),
            api_route!(Member, leads::list),
            api_route!(Member, leads::delete),
            // Bars, variants, publishing.
            api_route!(Member, bars::list),
            api_route!(Member, bars::create),
            api_route!(Member, bars::get),
            api_route!(Member, bars::patch),
            api_route!(Member, bars::delete),
            api_route!(Member, bars::publish),
            api_route!(Member, bars::pause),
            api_route!(Member, bars::deployments),
            api_route!(Member, bars::list_variants),
            api_route!(Member, bars::create_variant),
            api_route!(Member, bars::get_variant),
            api_route!(Member, bars::patch_variant),
            api_route!(Member, bars::delete_variant),
            // Counts.
            api_route!(Member, stats::deployment),
            api_route!(Member, stats::variant),
            api_route!(Member, stats::bar),
            api_route!(Member, stats::site),
            api_route!(Member, stats::usage),
            // Benchmarks.
            api_route!(Member, benchmarks::mine),
            api_route!(Member, benchmarks::bar),
            // Billing.
            api_route!(Member, billing::get),
            api_route!(Member, billing::checkout),
            api_route!(Member, billing::portal),
            // Operators.
            api_route!(Operator, admin::alerts),
            api_route!(Operator, admin::draft_alert),
            api_route!(Operator, admin::alert),
            api_route!(Operator, admin::preview_alert),
            api_route!(Operator, admin::send_alert),
            api_route!(Operator, admin::alert_report),
            api_route!(Operator, admin::policies),
            api_route!(Operator, admin::publish_policy),
            api_route!(Operator, admin::benchmark_cells),
            api_route!(Operator, admin::run_benchmarks),
            api_route!(Operator, admin::members),
            api_route!(Operator, admin::stripe_events),
        ],
    )
}
