//! The people page: who is in the account and with which role, pending invitations, and
//! (for admins) inviting, changing roles and removing; leaving, handing ownership over,
//! switching accounts, and the page an invitation link opens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::Response;

use super::forms::{Errors, Fields};
use super::view::{Notice, done, message, render, see_other};
use crate::domain::{AccountId, Email, MemberId, Password, Role};
use crate::error::{Error, Result};
use crate::web::guards::{InvitationRef, PersonRef};
use crate::web::router::{AuditSubject, Req};

#[derive(Serialize)]
struct PersonRow {
    id: i64,
    email: String,
    name: Option<String>,
    role: &'static str,
    since: DateTime<Utc>,
    me: bool,
}

#[derive(Serialize)]
struct InvitationRow {
    id: i64,
    email: String,
    role: &'static str,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct Page {
    account: String,
    role: &'static str,
    admin: bool,
    owner: bool,
    people: Vec<PersonRow>,
    invitations: Vec<InvitationRow>,
    /// The roles an admin may give (never above their own, never owner).
    grantable: Vec<&'static str>,
    /// The same, as the form's select lists its options (`value=label|…`).
    grantable_options: String,
    /// The admins an owner may hand ownership to.
    heirs: Vec<PersonRow>,
    v: Fields,
    errors: Errors,
}

pub(super) async fn page(req: Req) -> Result<Response> {
    people_page(&req, Fields::default(), Errors::default()).await
}

async fn people_page(req: &Req, mut v: Fields, errors: Errors) -> Result<Response> {
    let acting = req.acting()?;
    let me = req.member()?.id;
    let account = req
        .state
        .accounts
        .account(acting.account)
        .await?
        .ok_or(Error::NotFound)?;
    if v.text("name").is_none() {
        v.set("name", account.name.clone());
    }
    let teams = &req.state.teams;
    let row = |p: crate::teams::Person| PersonRow {
        id: p.member.id.0,
        email: p.member.email,
        name: p.member.name,
        role: p.role.as_str(),
        since: p.since,
        me: p.member.id == me,
    };
    let people: Vec<PersonRow> = teams
        .people(acting.account)
        .await?
        .into_iter()
        .map(row)
        .collect();
    let admin = acting.role.allows(Role::Admin);
    let invitations = if admin {
        teams
            .invitations(acting.account)
            .await?
            .into_iter()
            .map(|i| InvitationRow {
                id: i.id.0,
                email: i.email,
                role: i.role.as_str(),
                expires_at: i.expires_at,
            })
            .collect()
    } else {
        Vec::new()
    };
    let heirs = teams
        .people(acting.account)
        .await?
        .into_iter()
        .filter(|p| p.role == Role::Admin)
        .map(row)
        .collect();
    let grantable: Vec<&'static str> = [Role::Viewer, Role::Editor, Role::Admin]
        .into_iter()
        .filter(|r| acting.role.allows(*r))
        .map(Role::as_str)
        .collect();
    let grantable_options = grantable
        .iter()
        .map(|r| format!("{r}={r}"))
        .collect::<Vec<_>>()
        .join("|");
    let status = errors.status();
    render(
        req,
        "pages/people.html",
        &Page {
            account: account.name,
            role: acting.role.as_str(),
            admin,
            owner: acting.role == Role::Owner,
            people,
            invitations,
            grantable,
            grantable_options,
            heirs,
            v,
            errors,
        },
        status,
    )
}

fn role_field(f: &Fields, field: &'static str) -> Result<Role> {
    match f.get(field) {
        "admin" => Ok(Role::Admin),
        "editor" => Ok(Role::Editor),
        "viewer" => Ok(Role::Viewer),
        _ => Err(Error::invalid(field, "choose admin, editor or viewer")),
    }
}

pub(super) async fn invite(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let sent = async {
        let email = Email::parse(f.get("email"))?;
        let role = role_field(&f, "role")?;
        req.state
            .teams
            .invite(req.acting()?, req.member()?, email, role)
            .await
    }
    .await;
    match sent {
        Ok(i) => {
            let mut res = done("/people#invitations", Notice::InvitationSent);
            res.extensions_mut().insert(AuditSubject(format!(
                "invited {} as {}",
                i.email,
                i.role.as_str()
            )));
            Ok(res)
        }
        Err(err @ (Error::Invalid(_) | Error::Conflict { .. })) => {
            let errors = Errors::of(err)?;
            people_page(&req, f, errors).await
        }
        Err(err) => Err(err),
    }
}

pub(super) async fn rename(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    match req.state.teams.rename(req.acting()?, f.get("name")).await {
        Ok(name) => {
            let mut res = done("/people", Notice::Renamed);
            res.extensions_mut()
                .insert(AuditSubject(format!("named {name}")));
            Ok(res)
        }
        Err(err @ Error::Invalid(_)) => {
            let errors = Errors::of(err)?;
            people_page(&req, f, errors).await
        }
        Err(err) => Err(err),
    }
}

pub(super) async fn revoke(req: Req, InvitationRef(id): InvitationRef) -> Result<Response> {
    req.state.teams.revoke(req.account()?, id).await?;
    Ok(done("/people#invitations", Notice::InvitationRevoked))
}

pub(super) async fn change_role(req: Req, PersonRef(member): PersonRef) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let role = role_field(&f, "role")?;
    let person = req
        .state
        .teams
        .change_role(req.acting()?, member, role)
        .await?;
    let mut res = done("/people", Notice::RoleChanged);
    res.extensions_mut().insert(AuditSubject(format!(
        "{} is {} now",
        person.member.email,
        person.role.as_str()
    )));
    Ok(res)
}

pub(super) async fn remove(req: Req, PersonRef(member): PersonRef) -> Result<Response> {
    req.state
        .teams
        .remove(req.acting()?, req.member()?.id, member)
        .await?;
    Ok(done("/people", Notice::PersonRemoved))
}

pub(super) async fn leave(req: Req) -> Result<Response> {
    req.state
        .teams
        .leave(req.acting()?, req.member()?.id)
        .await?;
    Ok(done("/account", Notice::Left))
}

pub(super) async fn hand_over(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let to = f
        .get("member_id")
        .parse::<i64>()
        .map(MemberId)
        .map_err(|_| Error::invalid("member_id", "choose an admin of the account"))?;
    req.state
        .teams
        .hand_over(req.acting()?, req.member()?.id, to)
        .await?;
    Ok(done("/people", Notice::HandedOver))
}

/// The header's switcher: the session works in another of the person's accounts.
pub(super) async fn switch(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let account = f
        .get("account")
        .parse::<i64>()
        .map(AccountId)
        .map_err(|_| Error::invalid("account", "choose one of your accounts"))?;
    req.state
        .accounts
        .switch_account(req.auth()?, account)
        .await?;
    Ok(done("/sites", Notice::Switched))
}

#[derive(Default, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Serialize)]
struct AcceptForm<'a> {
    token: &'a str,
    /// Signed in: accepting adds the account to this login.
    signed_in_as: Option<&'a str>,
    v: Fields,
    errors: Errors,
    min_chars: usize,
}

fn accept_form(req: &Req, token: &str, errors: Errors) -> Result<Response> {
    let status = errors.status();
    render(
        req,
        "pages/accept_invitation.html",
        &AcceptForm {
            token,
            signed_in_as: req.signed_in().map(|a| a.member.email.as_str()),
            v: Fields::default(),
            errors,
            min_chars: crate::domain::PASSWORD_MIN_CHARS,
        },
        status,
    )
}

pub(super) async fn accept_page(req: Req) -> Result<Response> {
    let q: TokenQuery = req.query().unwrap_or_default();
    accept_form(&req, &q.token, Errors::default())
}

pub(super) async fn accept(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let token = f.get("token");
    let who = req.signed_in().map(|a| a.member.clone());
    let accepted = async {
        let password = match (&who, f.text("password")) {
            (None, Some(p)) => Some(Password::parse(p, "password", None)?),
            _ => None,
        };
        req.state.teams.accept(token, who.as_ref(), password).await
    }
    .await;
    match accepted {
        Ok(a) if a.created => message(
            &req,
            StatusCode::OK,
            "Welcome to barkeep",
            &format!(
                "You joined {} as {}. Log in with {} and the password you chose.",
                a.account.name,
                a.role.as_str(),
                a.member.email
            ),
        ),
        Ok(a) => {
            if let Ok(auth) = req.auth() {
                req.state
                    .accounts
                    .switch_account(auth, a.account.id)
                    .await?;
            }
            Ok(see_other(&format!("/sites?done={}", Notice::Joined.code())))
        }
        Err(Error::Unauthorized) => message(
            &req,
            StatusCode::UNAUTHORIZED,
            "Log in to accept",
            "That address already has a barkeep login: log in, then open the invitation link again.",
        ),
        Err(err @ Error::Invalid(_)) => accept_form(&req, token, Errors::of(err)?),
        Err(err @ (Error::BadRequest { .. } | Error::Conflict { .. })) => message(
            &req,
            crate::web::error::status(&err),
            "This invitation does not work",
            &err.to_string(),
        ),
        Err(err) => Err(err),
    }
}

#[derive(Serialize)]
struct AuditRow {
    by: Option<String>,
    action: String,
    subject: String,
    ip: Option<String>,
    at: DateTime<Utc>,
}

#[derive(Default, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    before: Option<i64>,
}

#[derive(Serialize)]
struct AuditPage {
    account: String,
    entries: Vec<AuditRow>,
    /// The id to ask for older entries with, when there may be more.
    older: Option<i64>,
}

/// The account's audit log, newest first, 100 entries a page (owners and admins).
pub(super) async fn audit(req: Req) -> Result<Response> {
    const PAGE: u64 = 100;
    let q: AuditQuery = req.query().unwrap_or_default();
    let account = req.account()?;
    let name = req
        .state
        .accounts
        .account(account)
        .await?
        .map(|a| a.name)
        .unwrap_or_default();
    let entries = req.state.teams.audit_log(account, q.before, PAGE).await?;
    let older = (entries.len() as u64 == PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let entries = entries
        .into_iter()
        .map(|e| AuditRow {
            by: e.by,
            action: e.action,
            subject: e.subject,
            ip: e.ip,
            at: e.at,
        })
        .collect();
    render(
        &req,
        "pages/audit.html",
        &AuditPage {
            account: name,
            entries,
            older,
        },
        StatusCode::OK,
    )
}
