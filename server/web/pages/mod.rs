//! Server-rendered pages that emailed links open: confirming an address, the
//! forgotten-password and reset-password forms, unsubscribing from a list (a GET only
//! shows the question; the POST, one click from a mail client, unsubscribes), and a
//! published privacy policy. They work without JavaScript.

use serde::{Deserialize, Serialize};
use warp::Reply;
use warp::http::{HeaderValue, Method, StatusCode};
use warp::reply::Response;

use super::router::{Access::Public, Req, Table, route};
use super::{State, error};
use crate::domain::{Email, PASSWORD_MIN_CHARS as MIN_CHARS};
use crate::error::{Error, Result};

/// Pages carry their own inline styles and post forms to barkeep only.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/// Forms are small.
const FORM_LIMIT: usize = 8 * 1024;

#[derive(Default, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub fn table() -> Table {
    Table::new(
        FORM_LIMIT,
        vec![
            route(Method::GET, "/confirm-email", Public, confirm_page),
            route(Method::GET, "/reset-password", Public, reset_page),
            route(Method::POST, "/reset-password", Public, reset_submit),
            route(Method::GET, "/forgot-password", Public, forgot_page),
            route(Method::POST, "/forgot-password", Public, forgot_submit),
            route(Method::GET, "/unsubscribe", Public, unsubscribe_page),
            route(Method::POST, "/unsubscribe", Public, unsubscribe),
            route(Method::GET, "/privacy-policy", Public, privacy_policy),
        ],
    )
}

pub(crate) fn page<T: Serialize>(
    state: &State,
    template: &str,
    ctx: &T,
    status: StatusCode,
) -> Response {
    match state.mailer.templates().render_page(template, ctx) {
        Ok(html) => {
            let mut res = warp::reply::with_status(warp::reply::html(html), status).into_response();
            res.headers_mut().insert(
                "content-security-policy",
                HeaderValue::from_static(PAGE_CSP),
            );
            res
        }
        Err(err) => error::respond(Error::Internal(err)),
    }
}

#[derive(Serialize)]
struct Message<'a> {
    title: &'a str,
    text: &'a str,
    error: bool,
}

pub(crate) fn message(state: &State, status: StatusCode, title: &str, text: &str) -> Response {
    page(
        state,
        "pages/message.html",
        &Message {
            title,
            text,
            error: !status.is_success(),
        },
        status,
    )
}

async fn confirm_page(req: Req) -> Result<Response> {
    let q: TokenQuery = req.query().unwrap_or_default();
    let state = &req.state;
    Ok(match state.accounts.confirm_email(&q.token).await {
        Ok(member) => message(
            state,
            StatusCode::OK,
            "Email address confirmed",
            &format!(
                "Thank you. {} is confirmed for your barkeep account.",
                member.email
            ),
        ),
        Err(err @ (Error::BadRequest { .. } | Error::Conflict { .. })) => message(
            state,
            error::status(&err),
            "This link does not work",
            &err.to_string(),
        ),
        Err(err) => error::respond(err),
    })
}

async fn reset_page(req: Req) -> Result<Response> {
    let q: TokenQuery = req.query().unwrap_or_default();
    Ok(reset_form(&req.state, &q.token, None, StatusCode::OK))
}

async fn forgot_page(req: Req) -> Result<Response> {
    Ok(forgot_form(&req.state, "", None, StatusCode::OK))
}

#[derive(Serialize)]
struct ResetForm<'a> {
    token: &'a str,
    error: Option<String>,
    min_chars: usize,
}

fn reset_form(state: &State, token: &str, error: Option<String>, status: StatusCode) -> Response {
    page(
        state,
        "pages/reset_password.html",
        &ResetForm {
            token,
            error,
            min_chars: MIN_CHARS,
        },
        status,
    )
}

#[derive(Deserialize)]
struct ResetFields {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset_submit(req: Req) -> Result<Response> {
    let fields: ResetFields = req.form()?;
    let state = &req.state;
    Ok(
        match state
            .accounts
            .reset_password(&fields.token, &fields.password)
            .await
        {
            Ok(()) => message(
                state,
                StatusCode::OK,
                "Password changed",
                "Your new password is set and every session was logged out. Log in again with the new password.",
            ),
            Err(err @ Error::Invalid(_)) => reset_form(
                state,
                &fields.token,
                Some(err.to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Err(err @ Error::BadRequest { .. }) => message(
                state,
                error::status(&err),
                "This link does not work",
                &err.to_string(),
            ),
            Err(err) => error::respond(err),
        },
    )
}

#[derive(Serialize)]
struct ForgotForm<'a> {
    email: &'a str,
    error: Option<String>,
}

fn forgot_form(state: &State, email: &str, error: Option<String>, status: StatusCode) -> Response {
    page(
        state,
        "pages/forgot_password.html",
        &ForgotForm { email, error },
        status,
    )
}

#[derive(Deserialize)]
struct ForgotFields {
    #[serde(default)]
    email: String,
}

async fn forgot_submit(req: Req) -> Result<Response> {
    let fields: ForgotFields = req.form()?;
    let state = &req.state;
    Ok(match Email::parse(&fields.email) {
        Ok(email) => {
            state.accounts.clone().send_password_reset_detached(email);
            message(
                state,
                StatusCode::OK,
                "Check your email",
                "If an account uses that address, we sent it a link to choose a new password. The link works for one hour.",
            )
        }
        Err(err) => forgot_form(
            state,
            &fields.email,
            Some(err.to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    })
}

#[cfg(test)]
mod tests {
    use crate::mail::Templates;
    use std::collections::BTreeSet;

    #[test]
    fn every_page_template_renders() {
        let t = Templates::load("https://b.example").unwrap();
        let rendered = [
            (
                "pages/message.html",
                t.render_page(
                    "pages/message.html",
                    &serde_json::json!({"title": "T", "text": "x", "error": false}),
                ),
            ),
            (
                "pages/reset_password.html",
                t.render_page(
                    "pages/reset_password.html",
                    &super::ResetForm {
                        token: "tok",
                        error: None,
                        min_chars: 10,
                    },
                ),
            ),
            (
                "pages/forgot_password.html",
                t.render_page(
                    "pages/forgot_password.html",
                    &super::ForgotForm {
                        email: "",
                        error: Some("bad".into()),
                    },
                ),
            ),
            (
                "pages/unsubscribe.html",
                t.render_page(
                    "pages/unsubscribe.html",
                    &super::Unsubscribe {
                        list_name: "the weekly digest",
                        done: false,
                        all: false,
                        form_action: "/unsubscribe?t=x".into(),
                        preferences_url: "https://b.example/account#email".into(),
                    },
                ),
            ),
            (
                "pages/privacy_policy.html",
                t.render_page(
                    "pages/privacy_policy.html",
                    &super::PolicyPage {
                        version: "2026-12".into(),
                        effective_at: "1 January 2027".into(),
                        text: Some("We keep little.".into()),
                        url: None,
                    },
                ),
            ),
        ];
        let mut names = BTreeSet::new();
        for (name, html) in rendered {
            let html = html.unwrap();
            assert!(html.contains("<main>"), "{name} lacks the layout");
            names.insert(name.to_string());
        }
        let on_disk: BTreeSet<String> = crate::mail::TemplateFiles::iter()
            .filter(|f| f.starts_with("pages/") && !f.ends_with("layout.html"))
            .map(|f| f.to_string())
            .collect();
        assert_eq!(
            on_disk, names,
            "a page template exists that no test renders"
        );
    }
}

#[derive(Default, Deserialize)]
struct UnsubscribeQuery {
    #[serde(default)]
    t: String,
}

#[derive(Serialize)]
struct Unsubscribe<'a> {
    list_name: &'a str,
    done: bool,
    all: bool,
    form_action: String,
    preferences_url: String,
}

fn unsubscribe_answer(req: &Req, done: bool, all: bool) -> Result<Response> {
    let q: UnsubscribeQuery = req.query().unwrap_or_default();
    let links = req.state.mailer.links();
    let Some((_, list)) = links.parse_unsubscribe(&q.t) else {
        return Ok(message(
            &req.state,
            StatusCode::NOT_FOUND,
            "This link does not work",
            "The unsubscribe link is incomplete or was changed. Open it again from the email, or choose your emails on your account page.",
        ));
    };
    Ok(page(
        &req.state,
        "pages/unsubscribe.html",
        &Unsubscribe {
            list_name: list.title(),
            done,
            all,
            form_action: format!("/unsubscribe?t={}", q.t),
            preferences_url: links.preferences_url(),
        },
        StatusCode::OK,
    ))
}

/// The unsubscribe link's page: asks, changes nothing.
async fn unsubscribe_page(req: Req) -> Result<Response> {
    unsubscribe_answer(&req, false, false)
}

#[derive(Default, Deserialize)]
struct UnsubscribeForm {
    #[serde(default)]
    scope: Option<String>,
}

/// RFC 8058 one-click unsubscribe: a bare POST with the link's token, no cookie, leaves
/// the email's list; the page's second button (`scope=all`) leaves every subscription
/// list at once.
async fn unsubscribe(req: Req) -> Result<Response> {
    let q: UnsubscribeQuery = req.query().unwrap_or_default();
    let form: UnsubscribeForm = req.form().unwrap_or_default();
    let all = form.scope.as_deref() == Some("all");
    if let Some((member, list)) = req.state.mailer.links().parse_unsubscribe(&q.t) {
        let lists: &[crate::mail::List] = if all {
            &crate::mail::List::ALL
        } else {
            &[list]
        };
        for l in lists {
            req.state.accounts.unsubscribe(member, *l).await?;
        }
    }
    unsubscribe_answer(&req, true, all)
}

#[derive(Default, Deserialize)]
struct VersionQuery {
    #[serde(default)]
    version: String,
}

#[derive(Serialize)]
struct PolicyPage {
    version: String,
    effective_at: String,
    text: Option<String>,
    url: Option<String>,
}

/// A published privacy-policy version, for the link in the email that announced it.
async fn privacy_policy(req: Req) -> Result<Response> {
    let q: VersionQuery = req.query().unwrap_or_default();
    let p = req.state.alerts.policy(&q.version).await?;
    Ok(page(
        &req.state,
        "pages/privacy_policy.html",
        &PolicyPage {
            version: p.version,
            effective_at: crate::billing::day(p.effective_at),
            text: p.text,
            url: p.url,
        },
        StatusCode::OK,
    ))
}
