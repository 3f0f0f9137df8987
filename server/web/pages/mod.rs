//! The dashboard: server-rendered pages for members (sites, the bar editor with its live
//! preview, stats, benchmarks, billing, the account) and for operators, plus the pages
//! that emailed links open. Every page works without JavaScript; `/assets/app.js` only
//! adds the live preview, contrast feedback and copy buttons. Every form carries a CSRF
//! token (checked by the router), every page is sent with a strict Content-Security-Policy,
//! and a member page asked for without a session sends the browser to log in.
//!
//! Handlers call the same subsystems as the member API and reuse its checks, so a form
//! is refused for exactly the reasons the API would refuse the same change, with the
//! message shown next to its field.

use warp::http::StatusCode;
use warp::reply::Response;

use super::router::{Req, Route, Table, route};
use crate::error::Result;

mod account;
mod admin;
mod assets;
mod bar_options;
mod bars;
mod benchmarks;
mod billing;
mod chart;
mod forms;
mod lists;
mod people;
mod preview;
mod public;
mod sites;
mod stats;
mod view;

pub(crate) use view::{Views, message};

/// After every route table: a browser asking for a page that does not exist gets one
/// saying so; anything else falls through to the JSON 404.
pub(crate) fn not_found(state: &crate::web::State) -> warp::filters::BoxedFilter<(Response,)> {
    use warp::Filter;
    let state = state.clone();
    warp::get()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and_then(
            move |path: warp::path::FullPath, headers: warp::http::HeaderMap| {
                let state = state.clone();
                async move {
                    let wants_html = headers
                        .get(warp::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|a| a.contains("text/html"));
                    if !wants_html || path.as_str().starts_with("/api/") {
                        return Err(warp::reject::not_found());
                    }
                    view::not_found_page(&state, &headers).ok_or_else(warp::reject::not_found)
                }
            },
        )
        .boxed()
}

/// Forms are small.
const FORM_LIMIT: usize = 16 * 1024;

pub fn table() -> Table {
    let areas = [
        public_rows(),
        site_rows(),
        bar_rows(),
        preview_rows(),
        member_rows(),
        operator_rows(),
    ];
    Table::pages(
        FORM_LIMIT,
        areas.into_iter().flatten().collect(),
        view::error_page,
    )
}

/// The address, the assets, signing up and in, and the pages emailed links open.
fn public_rows() -> Vec<Route> {
    vec![
        route!(GET "/", Public, home),
        route!(GET "/assets/app.css", Public, css),
        route!(GET "/assets/app.js", Public, js),
        route!(GET "/signup", Public, public::signup_page),
        route!(POST "/signup", Public, public::signup),
        route!(GET "/login", Public, public::login_page),
        route!(POST "/login", Public, public::login),
        route!(POST "/logout", Member, public::logout),
        route!(GET "/confirm-email", Public, public::confirm_page),
        route!(GET "/forgot-password", Public, public::forgot_page),
        route!(POST "/forgot-password", Public, public::forgot_submit),
        route!(GET "/reset-password", Public, public::reset_page),
        route!(POST "/reset-password", Public, public::reset_submit),
        route!(GET "/unsubscribe", Public, public::unsubscribe_page),
        route!(POST "/unsubscribe", Public, public::unsubscribe).without_csrf(),
        route!(GET "/privacy-policy", Public, public::privacy_policy),
        route!(GET "/invitations/accept", Public, people::accept_page),
        route!(POST "/invitations/accept", Public, people::accept),
    ]
}

fn site_rows() -> Vec<Route> {
    vec![
        route!(GET "/sites", Viewer, sites::list),
        route!(POST "/sites", Editor, sites::create).audited("site.created"),
        route!(GET "/sites/{site_id}", Viewer, sites::show),
        route!(POST "/sites/{site_id}", Editor, sites::save).audited("site.changed"),
        route!(POST "/sites/{site_id}/delete", Editor, sites::delete).audited("site.deleted"),
        route!(POST "/sites/{site_id}/goals", Editor, sites::add_goal).audited("goal.created"),
        route!(POST "/sites/{site_id}/goals/{goal_id}/delete", Editor, sites::delete_goal)
            .audited("goal.deleted"),
        route!(GET "/sites/{site_id}/lists", Editor, lists::show),
        route!(POST "/sites/{site_id}/lists/check", Editor, lists::check),
        route!(POST "/sites/{site_id}/lists", Editor, lists::save).audited("list_forward.set"),
        route!(POST "/sites/{site_id}/lists/test", Editor, lists::test),
        route!(POST "/sites/{site_id}/lists/delete", Editor, lists::delete)
            .audited("list_forward.deleted"),
        route!(GET "/sites/{site_id}/stats", Viewer, stats::site),
    ]
}

/// Bars: the editor, variants, publishing, stats.
fn bar_rows() -> Vec<Route> {
    vec![
        route!(GET "/sites/{site_id}/bars/new", Editor, bars::new_page),
        route!(POST "/sites/{site_id}/bars", Editor, bars::create).audited("bar.created"),
        route!(GET "/bars/{bar_id}", Viewer, bars::edit_page),
        route!(POST "/bars/{bar_id}", Editor, bars::save).audited("bar.changed"),
        route!(POST "/bars/{bar_id}/publish", Editor, bars::publish).audited("bar.published"),
        route!(POST "/bars/{bar_id}/pause", Editor, bars::pause).audited("bar.paused"),
        route!(POST "/bars/{bar_id}/delete", Editor, bars::delete).audited("bar.deleted"),
        route!(POST "/bars/{bar_id}/variants", Editor, bars::add_variant)
            .audited("variant.created"),
        route!(GET "/bars/{bar_id}/variants/{variant_id}", Viewer, bars::variant_page),
        route!(POST "/bars/{bar_id}/variants/{variant_id}", Editor, bars::save_variant)
            .audited("variant.changed"),
        route!(POST "/bars/{bar_id}/variants/{variant_id}/delete", Editor, bars::delete_variant)
            .audited("variant.deleted"),
        route!(GET "/bars/{bar_id}/stats", Viewer, stats::bar),
    ]
}

/// The editor's preview frame, and where its runtime's beacons go (nowhere).
fn preview_rows() -> Vec<Route> {
    vec![
        route!(GET "/preview", Member, preview::page),
        route!(POST "/preview/e", Public, preview::beacon).without_csrf(),
        route!(POST "/preview/l", Public, preview::beacon).without_csrf(),
    ]
}

/// Benchmarks, billing, the account.
fn member_rows() -> Vec<Route> {
    vec![
        route!(GET "/benchmarks", Viewer, benchmarks::page),
        route!(GET "/billing", Admin, billing::page),
        route!(POST "/billing/checkout", Owner, billing::checkout)
            .audited("billing.checkout_started"),
        route!(POST "/billing/portal", Owner, billing::portal).audited("billing.portal_opened"),
        route!(GET "/account", Member, account::page),
        route!(GET "/people", Viewer, people::page),
        route!(GET "/people/audit", Admin, people::audit),
        route!(POST "/people/name", Admin, people::rename).audited("account.renamed"),
        route!(POST "/people/invitations", Admin, people::invite).audited("person.invited"),
        route!(POST "/people/invitations/{invitation_id}/revoke", Admin, people::revoke)
            .audited("invitation.revoked"),
        route!(POST "/people/{member_id}/role", Admin, people::change_role)
            .audited("person.role_changed"),
        route!(POST "/people/{member_id}/remove", Admin, people::remove).audited("person.removed"),
        route!(POST "/people/leave", Viewer, people::leave).audited("person.left"),
        route!(POST "/people/owner", Owner, people::hand_over).audited("ownership.handed_over"),
        route!(POST "/switch", Member, people::switch),
        route!(POST "/account/profile", Member, account::profile),
        route!(POST "/account/password", Member, account::password),
        route!(POST "/account/email", Member, account::email),
        route!(POST "/account/confirmation", Member, account::resend_confirmation),
        route!(POST "/account/sessions/{session_id}/end", Member, account::end_session),
        route!(POST "/account/tokens", Member, account::create_token),
        route!(POST "/account/tokens/{token_id}/delete", Member, account::delete_token),
        route!(POST "/account/objection", Member, account::object),
        route!(POST "/account/restriction", Owner, account::restrict)
            .audited("processing.restriction_changed"),
        route!(GET "/account/export", Member, account::export).audited("data.exported"),
        route!(POST "/account/delete", Member, account::delete),
    ]
}

fn operator_rows() -> Vec<Route> {
    vec![
        route!(GET "/admin", Operator, admin::overview),
        route!(GET "/admin/members", Operator, admin::members),
        route!(GET "/admin/alerts", Operator, admin::alerts),
        route!(POST "/admin/alerts", Operator, admin::draft_alert),
        route!(GET "/admin/alerts/{alert_id}", Operator, admin::alert),
        route!(POST "/admin/alerts/{alert_id}/send", Operator, admin::send_alert),
        route!(GET "/admin/policies", Operator, admin::policies),
        route!(POST "/admin/policies", Operator, admin::publish_policy),
        route!(GET "/admin/stripe-events", Operator, admin::stripe_events),
        route!(POST "/admin/benchmarks", Operator, admin::run_benchmarks),
        route!(GET "/admin/mail", Operator, admin::mail),
        route!(GET "/admin/mail/{mail_id}", Operator, admin::mail_one),
    ]
}

/// The address alone: members go to their sites, everyone else to the login page.
async fn home(req: Req) -> Result<Response> {
    Ok(view::see_other(if req.signed_in().is_some() {
        "/sites"
    } else {
        "/login"
    }))
}

async fn css(req: Req) -> Result<Response> {
    Ok(assets::CSS.answer(&req.headers, &req.query))
}

async fn js(req: Req) -> Result<Response> {
    Ok(assets::JS.answer(&req.headers, &req.query))
}

/// A page of the member's own, with a status: the usual successful render.
fn ok<T: serde::Serialize>(req: &Req, template: &str, ctx: &T) -> Result<Response> {
    view::render(req, template, ctx, StatusCode::OK)
}
