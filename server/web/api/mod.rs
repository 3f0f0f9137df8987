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
pub(crate) mod goals;
pub(crate) mod hooks;
pub(crate) mod leads;
pub(crate) mod lists;
pub(crate) mod sites;
pub(crate) mod stats;
pub(crate) mod teams;

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
            api_route!(Member, account::export).audited("data.exported"),
            api_route!(Owner, account::restrict).audited("processing.restriction_changed"),
            api_route!(Member, account::policies),
            api_route!(Member, account::object),
            api_route!(Public, account::industries),
            // Accounts and the people in them.
            api_route!(Member, teams::accounts),
            api_route!(Member, teams::create_account),
            api_route!(Admin, teams::rename).audited("account.renamed"),
            api_route!(Viewer, teams::people),
            api_route!(Admin, teams::invite).audited("person.invited"),
            api_route!(Admin, teams::invitations),
            api_route!(Admin, teams::audit),
            api_route!(Admin, teams::revoke).audited("invitation.revoked"),
            api_route!(Public, teams::accept),
            api_route!(Admin, teams::change_role).audited("person.role_changed"),
            api_route!(Admin, teams::remove).audited("person.removed"),
            api_route!(Viewer, teams::leave).audited("person.left"),
            api_route!(Owner, teams::hand_over).audited("ownership.handed_over"),
            // Sites.
            api_route!(Viewer, sites::list),
            api_route!(Editor, sites::create).audited("site.created"),
            api_route!(Viewer, sites::get),
            api_route!(Editor, sites::patch).audited("site.changed"),
            api_route!(Editor, sites::delete).audited("site.deleted"),
            api_route!(Viewer, goals::list),
            api_route!(Editor, goals::create).audited("goal.created"),
            api_route!(Editor, goals::delete).audited("goal.deleted"),
            // Leads.
            api_route!(Editor, leads::get_webhook),
            api_route!(Editor, leads::put_webhook).audited("lead_webhook.set"),
            api_route!(Editor, leads::delete_webhook).audited("lead_webhook.deleted"),
            api_route!(Editor, leads::rotate).audited("lead_webhook.secret_rotated"),
            api_route!(Editor, leads::test),
            api_route!(Editor, leads::deliveries),
            api_route!(Editor, leads::list),
            api_route!(Editor, leads::delete).audited("lead.deleted"),
            api_route!(Member, lists::providers),
            api_route!(Editor, lists::lists),
            api_route!(Editor, lists::get),
            api_route!(Editor, lists::put).audited("list_forward.set"),
            api_route!(Editor, lists::delete).audited("list_forward.deleted"),
            api_route!(Editor, lists::test),
            api_route!(Editor, lists::deliveries),
            // REST hooks for automation tools.
            api_route!(Editor, hooks::list),
            api_route!(Editor, hooks::subscribe).audited("hook.subscribed"),
            api_route!(Editor, hooks::sample),
            api_route!(Editor, hooks::unsubscribe).audited("hook.unsubscribed"),
            // Bars, variants, publishing.
            api_route!(Viewer, bars::list),
            api_route!(Editor, bars::create).audited("bar.created"),
            api_route!(Viewer, bars::get),
            api_route!(Editor, bars::patch).audited("bar.changed"),
            api_route!(Editor, bars::delete).audited("bar.deleted"),
            api_route!(Editor, bars::publish).audited("bar.published"),
            api_route!(Editor, bars::pause).audited("bar.paused"),
            api_route!(Viewer, bars::deployments),
            api_route!(Viewer, bars::list_variants),
            api_route!(Editor, bars::create_variant).audited("variant.created"),
            api_route!(Viewer, bars::get_variant),
            api_route!(Editor, bars::patch_variant).audited("variant.changed"),
            api_route!(Editor, bars::delete_variant).audited("variant.deleted"),
            // Counts.
            api_route!(Viewer, stats::deployment),
            api_route!(Viewer, stats::variant),
            api_route!(Viewer, stats::bar),
            api_route!(Viewer, stats::experiment),
            api_route!(Viewer, stats::site),
            api_route!(Viewer, stats::usage),
            // Benchmarks.
            api_route!(Viewer, benchmarks::mine),
            api_route!(Viewer, benchmarks::bar),
            // Billing.
            api_route!(Admin, billing::get),
            api_route!(Owner, billing::checkout).audited("billing.checkout_started"),
            api_route!(Owner, billing::portal).audited("billing.portal_opened"),
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
