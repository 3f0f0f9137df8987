//! The account page: profile and industry, which emails arrive, what becomes of leads,
//! the email address and password, sessions, API tokens, privacy-policy versions with the
//! objection button, and the data rights (export, restriction, deletion). Each section is
//! its own form; a refusal is shown in its section.

use chrono::{DateTime, Utc};
use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::forms::{Errors, FORM, Fields};
use super::view::{Notice, done, message, render};
use crate::accounts::{Auth, ProfileChange};
use crate::db::entities::member;
use crate::domain::{Email, INDUSTRIES, Role};
use crate::error::{Error, Result};
use crate::privacy::policies::MemberPolicy;
use crate::web::api::account::MemberView;
use crate::web::guards::{SessionRef, TokenRef};
use crate::web::router::Req;

#[derive(Serialize)]
struct SessionRow {
    id: i64,
    current: bool,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    ip: Option<String>,
    user_agent: Option<String>,
}

#[derive(Serialize)]
struct TokenRow {
    id: i64,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct PolicyRow {
    #[serde(flatten)]
    policy: MemberPolicy,
    /// The member may still object to it.
    open: bool,
}

#[derive(Serialize)]
struct AccountPage {
    me: MemberView,
    /// The account's own settings (industry, lead retention) are an admin's to change.
    account_admin: bool,
    industries: Vec<(&'static str, &'static str)>,
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
    policies: Vec<PolicyRow>,
    max_retention: Option<u64>,
    /// The section a refusal (or a new token) belongs to.
    section: &'static str,
    v: Fields,
    errors: Errors,
    /// A token just made: shown this once.
    new_token: Option<String>,
}

/// The member's sessions, the one making this request marked.
async fn session_rows(req: &Req, auth: &Auth) -> Result<Vec<SessionRow>> {
    Ok(req
        .state
        .accounts
        .sessions(auth)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.0,
            current: Some(s.id) == auth.session_id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect())
}

async fn token_rows(req: &Req, auth: &Auth) -> Result<Vec<TokenRow>> {
    Ok(req
        .state
        .accounts
        .api_tokens(auth)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.0,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        })
        .collect())
}

/// The policy versions the member was told of, open while they may still object.
async fn policy_rows(req: &Req, member: &member::Model) -> Result<Vec<PolicyRow>> {
    let now = req.state.clock.now();
    Ok(req
        .state
        .policy_versions
        .for_member(member)
        .await?
        .into_iter()
        .map(|p| PolicyRow {
            open: p.objected_at.is_none() && p.objection_deadline > now,
            policy: p,
        })
        .collect())
}

/// The profile form's values as stored.
fn profile_fields(member: &member::Model, me: &MemberView) -> Fields {
    let mut f = Fields::default();
    f.set("name", member.name.clone().unwrap_or_default());
    f.set("industry", me.industry.clone().unwrap_or_default());
    f.set("time_zone", member.time_zone.clone().unwrap_or_default());
    for (name, on) in [
        ("news_opt_in", member.news_opt_in),
        ("digest_opt_in", member.digest_opt_in),
        ("promo_opt_in", member.promo_opt_in),
        ("lead_email", member.lead_email),
    ] {
        if on {
            f.set(name, "on");
        }
    }
    f.set("lead_retention_days", me.lead_retention_days.to_string());
    f
}

/// Renders the page; `section` names the form the fields and errors belong to.
async fn account_page(
    req: &Req,
    section: &'static str,
    v: Option<Fields>,
    errors: Errors,
    new_token: Option<String>,
) -> Result<Response> {
    let auth = req.auth()?;
    // The member as stored now (a form may just have changed it).
    let member = req.state.accounts.current(auth.member.id).await?;
    let me = MemberView::current(req).await?;
    let sessions = session_rows(req, auth).await?;
    let tokens = token_rows(req, auth).await?;
    let policies = policy_rows(req, &member).await?;
    let limits = match auth.acting {
        Some(a) => {
            req.state
                .billing
                .limits_of(a.account)
                .await?
                .lead_retention_days
        }
        None => None,
    };
    let v = v.unwrap_or_else(|| profile_fields(&member, &me));
    let status = errors.status();
    let page = AccountPage {
        account_admin: auth.acting.is_some_and(|a| a.role.allows(Role::Admin)),
        me,
        industries: INDUSTRIES.to_vec(),
        sessions,
        tokens,
        policies,
        max_retention: limits,
        section,
        v,
        errors,
        new_token,
    };
    render(req, "pages/account.html", &page, status)
}

pub(super) async fn page(req: Req) -> Result<Response> {
    account_page(&req, "", None, Errors::default(), None).await
}

/// A section's form refused: the page again, with the message in that section.
async fn refused(
    req: &Req,
    section: &'static str,
    v: Option<Fields>,
    err: Error,
) -> Result<Response> {
    let errors = Errors::of(err)?;
    account_page(req, section, v, errors, None).await
}

fn optional(f: &Fields, name: &str) -> Option<Option<String>> {
    Some(f.text(name).map(str::to_string))
}

pub(super) async fn profile(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    // The account's own fields come only from those who may change them (the page
    // shows them to admins alone).
    let admin = req
        .auth()?
        .acting
        .is_some_and(|a| a.role.allows(Role::Admin));
    let changed = async {
        let retention = match f.text("lead_retention_days").filter(|_| admin) {
            None => None,
            Some(d) => Some(d.parse::<u32>().map_err(|_| {
                Error::invalid("lead_retention_days", "a whole number of days, 0 or more")
            })?),
        };
        let change = ProfileChange {
            name: optional(&f, "name"),
            industry: optional(&f, "industry").filter(|_| admin),
            time_zone: optional(&f, "time_zone"),
            news_opt_in: Some(f.ticked("news_opt_in")),
            digest_opt_in: Some(f.ticked("digest_opt_in")),
            promo_opt_in: Some(f.ticked("promo_opt_in")),
            lead_email: Some(f.ticked("lead_email")),
            lead_retention_days: retention,
        };
        let acting = req.auth()?.acting;
        let limit = match acting {
            Some(a) => {
                req.state
                    .billing
                    .limits_of(a.account)
                    .await?
                    .lead_retention_days
            }
            None => None,
        };
        req.state
            .accounts
            .update_profile(req.member()?, acting, change, limit)
            .await
    }
    .await;
    match changed {
        Ok(_) => Ok(done("/account#profile", Notice::ProfileSaved)),
        Err(err) => refused(&req, "profile", Some(f), err).await,
    }
}

pub(super) async fn password(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    match req
        .state
        .accounts
        .change_password(
            req.auth()?,
            f.get("current_password"),
            f.get("new_password"),
        )
        .await
    {
        Ok(()) => Ok(done("/account#password", Notice::PasswordChanged)),
        Err(Error::BadCredentials) => {
            let mut errors = Errors::default();
            errors.add("current_password", "That is not your current password.");
            account_page(&req, "password", None, errors, None).await
        }
        Err(err) => refused(&req, "password", None, err).await,
    }
}

pub(super) async fn email(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let asked = async {
        let email = Email::parse(f.get("email"))?;
        req.state
            .accounts
            .request_email_change(req.auth()?, email, f.get("password"))
            .await
    }
    .await;
    match asked {
        Ok(()) => Ok(done("/account#email-address", Notice::EmailChangeSent)),
        Err(Error::BadCredentials) => {
            let mut errors = Errors::default();
            errors.add("password", "That is not your current password.");
            account_page(&req, "email", None, errors, None).await
        }
        Err(err) => refused(&req, "email", None, err).await,
    }
}

pub(super) async fn resend_confirmation(req: Req) -> Result<Response> {
    match req.state.accounts.resend_confirmation(req.member()?).await {
        Ok(()) => Ok(done("/account", Notice::ConfirmationSent)),
        Err(err) => refused(&req, "email", None, err).await,
    }
}

pub(super) async fn end_session(req: Req, SessionRef(session_id): SessionRef) -> Result<Response> {
    req.state
        .accounts
        .end_session(req.auth()?, session_id)
        .await?;
    Ok(done("/account#sessions", Notice::SessionEnded))
}

/// Makes an API token and shows it on the page this once (it is not kept in clear).
pub(super) async fn create_token(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    match req
        .state
        .accounts
        .create_api_token(req.auth()?, f.get("token_name"), None)
        .await
    {
        Ok(created) => {
            account_page(&req, "tokens", None, Errors::default(), Some(created.token)).await
        }
        Err(err) => {
            // The token's name is the only field: its refusal goes under the form.
            let mut errors = Errors::of(err)?;
            if let Some((_, m)) = errors.0.pop_first() {
                errors.add("token_name", m);
            }
            account_page(&req, "tokens", None, errors, None).await
        }
    }
}

pub(super) async fn delete_token(req: Req, TokenRef(token_id): TokenRef) -> Result<Response> {
    req.state
        .accounts
        .delete_api_token(req.auth()?, token_id)
        .await?;
    Ok(done("/account#tokens", Notice::TokenDeleted))
}

pub(super) async fn object(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    match req
        .state
        .policy_versions
        .object(req.member()?, f.text("version"))
        .await
    {
        Ok(_) => Ok(done("/account#policies", Notice::ObjectionRecorded)),
        Err(err) => refused(&req, "policies", None, err).await,
    }
}

pub(super) async fn restrict(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let on = f.get("restricted") == "true";
    req.state.privacy.restrict(req.account()?, on).await?;
    Ok(done(
        "/account#data",
        if on {
            Notice::Restricted
        } else {
            Notice::Unrestricted
        },
    ))
}

/// The data export: the same archive as the API's.
pub(super) async fn export(req: Req) -> Result<Response> {
    crate::web::api::account::export(req).await
}

/// Deletes the account after the password, once more; the session goes with it.
pub(super) async fn delete(mut req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    match req
        .state
        .privacy
        .erase(req.member()?, f.get("delete_password"))
        .await
    {
        Ok(()) => {
            req.sign_out();
            let mut res = message(
                &req,
                StatusCode::OK,
                "Your account is deleted",
                "Your sites, bars, leads and personal data are gone, and a last email confirms it. Thank you for using barkeep.",
            )?;
            res.headers_mut().append(
                "set-cookie",
                crate::web::cookies::session(&req.state.web, "", 0),
            );
            Ok(res)
        }
        Err(Error::BadCredentials) => {
            let mut errors = Errors::default();
            errors.add("delete_password", "That is not your password.");
            account_page(&req, "data", None, errors, None).await
        }
        Err(err) => {
            let mut errors = Errors::of(err)?;
            if let Some((_, m)) = errors.0.pop_first() {
                errors.add(FORM, m);
            }
            account_page(&req, "data", None, errors, None).await
        }
    }
}
