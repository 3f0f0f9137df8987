//! Pages anyone may open: signing up, logging in and out, and what emailed links open
//! (confirming an address, choosing a new password, unsubscribing, a published privacy
//! policy).

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::Response;

use super::forms::{Errors, FORM, Fields};
use super::view::{self, Notice, done, local_path, message, render, see_other};
use crate::domain::{Email, PASSWORD_MIN_CHARS, Password};
use crate::error::{Error, Result};
use crate::web::cookies;
use crate::web::router::Req;

#[derive(Default, Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Serialize)]
struct AuthForm<'a> {
    v: Fields,
    next: &'a str,
    errors: Errors,
    min_chars: usize,
}

fn auth_form(
    req: &Req,
    template: &str,
    email: &str,
    next: &str,
    errors: Errors,
) -> Result<Response> {
    let status = errors.status();
    render(
        req,
        template,
        &AuthForm {
            v: {
                let mut v = Fields::default();
                v.set("email", email);
                v
            },
            next,
            errors,
            min_chars: PASSWORD_MIN_CHARS,
        },
        status,
    )
}

/// A signed-in member has nothing to do on the login and signup pages.
fn already_in(req: &Req) -> Option<Response> {
    req.signed_in().map(|_| see_other("/sites"))
}

pub(super) async fn signup_page(req: Req) -> Result<Response> {
    if let Some(res) = already_in(&req) {
        return Ok(res);
    }
    auth_form(&req, "pages/signup.html", "", "", Errors::default())
}

/// Creates the account and signs it in at once; the confirmation link is emailed.
pub(super) async fn signup(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let (email, password) = (f.get("email").trim(), f.get("password"));
    let created = async {
        let parsed = Email::parse(email)?;
        let password = Password::parse(password, "password", Some(parsed.as_str()))?;
        req.state.accounts.signup(parsed, password).await
    }
    .await;
    if let Err(err) = created {
        return auth_form(&req, "pages/signup.html", email, "", Errors::of(err)?);
    }
    sign_in(
        &req,
        email,
        password,
        &format!("/sites?done={}", Notice::SignedUp.code()),
    )
    .await
}

async fn sign_in(req: &Req, email: &str, password: &str, to: &str) -> Result<Response> {
    let done = req.log_in(email, password).await?;
    let mut res = see_other(to);
    cookies::logged_in(&req.state.web, res.headers_mut(), &done);
    Ok(res)
}

pub(super) async fn login_page(req: Req) -> Result<Response> {
    if let Some(res) = already_in(&req) {
        return Ok(res);
    }
    let q: NextQuery = req.query().unwrap_or_default();
    let next = local_path(&q.next, &req.state.web.base_url).unwrap_or_default();
    auth_form(&req, "pages/login.html", "", &next, Errors::default())
}

pub(super) async fn login(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let email = f.get("email").trim();
    let next =
        local_path(f.get("next"), &req.state.web.base_url).unwrap_or_else(|| "/sites".to_string());
    let next = next.as_str();
    match sign_in(&req, email, f.get("password"), next).await {
        Ok(res) => Ok(res),
        Err(Error::BadCredentials) => {
            let mut errors = Errors::default();
            errors.add(
                FORM,
                "That email address and password do not match an account.",
            );
            auth_form(&req, "pages/login.html", email, next, errors)
        }
        Err(err) => auth_form(&req, "pages/login.html", email, next, Errors::of(err)?),
    }
}

pub(super) async fn logout(req: Req) -> Result<Response> {
    req.state.accounts.logout(req.auth()?).await?;
    let mut res = done("/login", Notice::LoggedOut);
    res.headers_mut()
        .append("set-cookie", cookies::session(&req.state.web, "", 0));
    Ok(res)
}

#[derive(Default, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub(super) async fn confirm_page(req: Req) -> Result<Response> {
    let q: TokenQuery = req.query().unwrap_or_default();
    match req.state.accounts.confirm_email(&q.token).await {
        Ok(member) => message(
            &req,
            StatusCode::OK,
            "Email address confirmed",
            &format!(
                "Thank you. {} is confirmed for your barkeep account.",
                member.email
            ),
        ),
        Err(err @ (Error::BadRequest { .. } | Error::Conflict { .. })) => message(
            &req,
            crate::web::error::status(&err),
            "This link does not work",
            &err.to_string(),
        ),
        Err(err) => Err(err),
    }
}

#[derive(Serialize)]
struct ResetForm<'a> {
    token: &'a str,
    v: Fields,
    errors: Errors,
    min_chars: usize,
}

fn reset_form(req: &Req, token: &str, errors: Errors) -> Result<Response> {
    let status = errors.status();
    render(
        req,
        "pages/reset_password.html",
        &ResetForm {
            token,
            v: Fields::default(),
            errors,
            min_chars: PASSWORD_MIN_CHARS,
        },
        status,
    )
}

pub(super) async fn reset_page(req: Req) -> Result<Response> {
    let q: TokenQuery = req.query().unwrap_or_default();
    reset_form(&req, &q.token, Errors::default())
}

pub(super) async fn reset_submit(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let token = f.get("token");
    match req
        .state
        .accounts
        .reset_password(token, f.get("password"))
        .await
    {
        Ok(()) => message(
            &req,
            StatusCode::OK,
            "Password changed",
            "Your new password is set and every session was logged out. Log in again with the new password.",
        ),
        Err(err @ Error::Invalid(_)) => reset_form(&req, token, Errors::of(err)?),
        Err(err @ Error::BadRequest { .. }) => message(
            &req,
            crate::web::error::status(&err),
            "This link does not work",
            &err.to_string(),
        ),
        Err(err) => Err(err),
    }
}

pub(super) async fn forgot_page(req: Req) -> Result<Response> {
    auth_form(
        &req,
        "pages/forgot_password.html",
        "",
        "",
        Errors::default(),
    )
}

pub(super) async fn forgot_submit(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let email = f.get("email").trim();
    match Email::parse(email) {
        Ok(email) => {
            // Detached: the answer must not depend on whether the address has an account.
            req.state
                .accounts
                .clone()
                .send_password_reset_detached(email);
            message(
                &req,
                StatusCode::OK,
                "Check your email",
                "If an account uses that address, we sent it a link to choose a new password. The link works for one hour.",
            )
        }
        Err(err) => auth_form(
            &req,
            "pages/forgot_password.html",
            email,
            "",
            Errors::of(err.into())?,
        ),
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
        return message(
            req,
            StatusCode::NOT_FOUND,
            "This link does not work",
            "The unsubscribe link is incomplete or was changed. Open it again from the email, or choose your emails on your account page.",
        );
    };
    render(
        req,
        "pages/unsubscribe.html",
        &Unsubscribe {
            list_name: list.title(),
            done,
            all,
            form_action: format!("/unsubscribe?t={}", q.t),
            preferences_url: links.preferences_url(),
        },
        StatusCode::OK,
    )
}

/// The unsubscribe link's page: asks, changes nothing.
pub(super) async fn unsubscribe_page(req: Req) -> Result<Response> {
    unsubscribe_answer(&req, false, false)
}

#[derive(Default, Deserialize)]
struct UnsubscribeForm {
    #[serde(default)]
    scope: Option<String>,
}

/// RFC 8058 one-click unsubscribe: a bare POST with the link's token, no cookie, leaves
/// the email's list; the page's second button (`scope=all`) leaves every subscription
/// list at once. The token in the link is the proof, so no CSRF token is asked for.
pub(super) async fn unsubscribe(req: Req) -> Result<Response> {
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
pub(super) async fn privacy_policy(req: Req) -> Result<Response> {
    let q: VersionQuery = req.query().unwrap_or_default();
    let p = req.state.policy_versions.published(&q.version).await?;
    view::render(
        &req,
        "pages/privacy_policy.html",
        &PolicyPage {
            version: p.version,
            effective_at: crate::billing::day(p.effective_at),
            text: p.text,
            url: p.url,
        },
        StatusCode::OK,
    )
}
