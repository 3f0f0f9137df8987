//! Accounts and the people in them: the accounts a person is in, the people of the
//! account a request acts in, invitations, roles, leaving and handing ownership over.
//!
//! A request acts in one account: the one its API token was made in, else the one the
//! `Barkeep-Account` header names, else the one the dashboard's switcher chose, else
//! the person's first. Routes under `/api/v1/account/` are about that account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::db::entities::invitation;
use crate::domain::{AccountId, Email, InvitationId, MemberId, Password, Role};
use crate::error::Result;
use crate::teams::Person;
use crate::web::extract;
use crate::web::guards::{InvitationRef, PersonRef};
use crate::web::router::{AuditSubject, Req};
use crate::web::{json, no_content};

#[derive(Serialize, ToSchema)]
pub(crate) struct AccountView {
    pub id: AccountId,
    pub name: String,
    /// Your role there.
    pub role: Role,
    /// The account this request acts in.
    pub current: bool,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Accounts {
    pub accounts: Vec<AccountView>,
}

/// The accounts you are in, with your role in each. Send `Barkeep-Account: {id}` to act
/// in another than the current one.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "people",
    responses((status = 200, description = "Your accounts", body = Accounts)))]
pub(crate) async fn accounts(req: Req) -> Result<Response> {
    let current = req.auth()?.acting.map(|a| a.account);
    let accounts = req
        .state
        .accounts
        .accounts_of(req.member()?.id)
        .await?
        .into_iter()
        .map(|a| AccountView {
            current: Some(a.id) == current,
            id: a.id,
            name: a.name,
            role: a.role,
        })
        .collect();
    Ok(json(StatusCode::OK, &Accounts { accounts }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccount {
    /// 1 to 100 characters.
    pub name: String,
}

/// Create an account of which you are the owner.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "people", request_body = NewAccount,
    responses((status = 201, description = "Created", body = AccountView)))]
pub(crate) async fn create_account(req: Req) -> Result<Response> {
    let body: NewAccount = req.json()?;
    let account = req
        .state
        .teams
        .create_account(req.member()?, &body.name)
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &AccountView {
            id: account.id,
            name: account.name,
            role: Role::Owner,
            current: false,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rename {
    /// 1 to 100 characters.
    pub name: String,
}

/// Rename the account (admins); the switcher and the people page show the name.
#[utoipa::path(patch, path = "/api/v1/account", tag = "people", request_body = Rename,
    responses((status = 200, description = "Renamed", body = AccountView)))]
pub(crate) async fn rename(req: Req) -> Result<Response> {
    let body: Rename = req.json()?;
    let acting = req.acting()?;
    let name = req.state.teams.rename(acting, &body.name).await?;
    let mut res = json(
        StatusCode::OK,
        &AccountView {
            id: acting.account,
            name: name.clone(),
            role: acting.role,
            current: true,
        },
    );
    res.extensions_mut()
        .insert(AuditSubject(format!("named {name}")));
    Ok(res)
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PersonView {
    pub id: MemberId,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    /// When they joined the account.
    pub since: DateTime<Utc>,
}

impl From<Person> for PersonView {
    fn from(p: Person) -> Self {
        PersonView {
            id: p.member.id,
            email: p.member.email,
            name: p.member.name,
            role: p.role,
            since: p.since,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct People {
    pub people: Vec<PersonView>,
}

/// The people of the account, with their roles.
#[utoipa::path(get, path = "/api/v1/account/people", tag = "people",
    responses((status = 200, description = "People", body = People)))]
pub(crate) async fn people(req: Req) -> Result<Response> {
    let people = req
        .state
        .teams
        .people(req.account()?)
        .await?
        .into_iter()
        .map(PersonView::from)
        .collect();
    Ok(json(StatusCode::OK, &People { people }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Invite {
    pub email: String,
    /// `admin`, `editor` or `viewer`, at most your own.
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct InvitationView {
    pub id: InvitationId,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<invitation::Model> for InvitationView {
    fn from(i: invitation::Model) -> Self {
        InvitationView {
            id: i.id,
            email: i.email,
            role: i.role,
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Invitations {
    pub invitations: Vec<InvitationView>,
}

/// Invite an address into the account: a single-use link, valid 7 days, goes to it. At
/// most 20 invitations a day per account.
#[utoipa::path(post, path = "/api/v1/account/invitations", tag = "people", request_body = Invite,
    responses((status = 201, description = "Invited", body = InvitationView)))]
pub(crate) async fn invite(req: Req) -> Result<Response> {
    let body: Invite = req.json()?;
    let email = Email::parse(&body.email)?;
    let invitation = req
        .state
        .teams
        .invite(req.acting()?, req.member()?, email, body.role)
        .await?;
    let subject = format!(
        "invited {} as {}",
        invitation.email,
        invitation.role.as_str()
    );
    let mut res = json(StatusCode::CREATED, &InvitationView::from(invitation));
    res.extensions_mut().insert(AuditSubject(subject));
    Ok(res)
}

/// Invitations that can still be accepted, newest first.
#[utoipa::path(get, path = "/api/v1/account/invitations", tag = "people",
    responses((status = 200, description = "Pending invitations", body = Invitations)))]
pub(crate) async fn invitations(req: Req) -> Result<Response> {
    let invitations = req
        .state
        .teams
        .invitations(req.account()?)
        .await?
        .into_iter()
        .map(InvitationView::from)
        .collect();
    Ok(json(StatusCode::OK, &Invitations { invitations }))
}

/// Revoke an invitation: its link no longer works.
#[utoipa::path(delete, path = "/api/v1/account/invitations/{invitation_id}", tag = "people",
    params(("invitation_id" = i64, Path, description = "A pending invitation of the account")),
    responses((status = 204, description = "Revoked")))]
pub(crate) async fn revoke(req: Req, InvitationRef(id): InvitationRef) -> Result<Response> {
    req.state.teams.revoke(req.account()?, id).await?;
    Ok(no_content())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Accept {
    /// The token of the invitation link.
    pub token: String,
    /// For an address barkeep does not know: the password of the login made for it.
    /// Signed in (cookie or token), the account is added to your login instead.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AcceptedView {
    pub account_id: AccountId,
    pub account_name: String,
    pub member_id: MemberId,
    pub role: Role,
    /// A login was made for the invited address (log in with it and the password).
    pub created: bool,
}

/// Accept an invitation. Signed in, the account is added to your login; otherwise a
/// login is made for the invited address with the password given (an address that
/// already has one gets 401: log in first).
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "people", request_body = Accept,
    responses((status = 200, description = "Accepted", body = AcceptedView)))]
pub(crate) async fn accept(req: Req) -> Result<Response> {
    let body: Accept = req.json()?;
    let creds = extract::credentials(&req.state.web, &req.headers);
    let who = if creds.cookie.is_some() || creds.bearer.is_some() {
        Some(req.state.accounts.authenticate(&creds).await?.member)
    } else {
        None
    };
    let password = match (&who, body.password.as_deref()) {
        (None, Some(p)) => Some(Password::parse(p, "password", None)?),
        _ => None,
    };
    let accepted = req
        .state
        .teams
        .accept(&body.token, who.as_ref(), password)
        .await?;
    Ok(json(
        StatusCode::OK,
        &AcceptedView {
            account_id: accepted.account.id,
            account_name: accepted.account.name,
            member_id: accepted.member.id,
            role: accepted.role,
            created: accepted.created,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleChange {
    /// `admin`, `editor` or `viewer`, at most your own.
    pub role: Role,
}

/// Change a person's role (not an owner's: owners hand ownership over).
#[utoipa::path(put, path = "/api/v1/account/people/{member_id}/role", tag = "people", request_body = RoleChange,
    params(("member_id" = i64, Path, description = "A person of the account")),
    responses((status = 200, description = "Changed", body = PersonView)))]
pub(crate) async fn change_role(req: Req, PersonRef(member): PersonRef) -> Result<Response> {
    let body: RoleChange = req.json()?;
    let person = req
        .state
        .teams
        .change_role(req.acting()?, member, body.role)
        .await?;
    let subject = format!("{} is {} now", person.member.email, person.role.as_str());
    let mut res = json(StatusCode::OK, &PersonView::from(person));
    res.extensions_mut().insert(AuditSubject(subject));
    Ok(res)
}

/// Remove a person from the account (not an owner).
#[utoipa::path(delete, path = "/api/v1/account/people/{member_id}", tag = "people",
    params(("member_id" = i64, Path, description = "A person of the account")),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn remove(req: Req, PersonRef(member): PersonRef) -> Result<Response> {
    req.state
        .teams
        .remove(req.acting()?, req.member()?.id, member)
        .await?;
    Ok(no_content())
}

/// Leave the account (a sole owner hands ownership over first).
#[utoipa::path(post, path = "/api/v1/account/leave", tag = "people",
    responses((status = 204, description = "Left")))]
pub(crate) async fn leave(req: Req) -> Result<Response> {
    req.state
        .teams
        .leave(req.acting()?, req.member()?.id)
        .await?;
    Ok(no_content())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HandOver {
    /// An admin of the account; they become owner and you become admin.
    pub member_id: MemberId,
}

/// Hand ownership of the account to one of its admins; you become an admin.
#[utoipa::path(post, path = "/api/v1/account/owner", tag = "people", request_body = HandOver,
    responses((status = 204, description = "Handed over")))]
pub(crate) async fn hand_over(req: Req) -> Result<Response> {
    let body: HandOver = req.json()?;
    req.state
        .teams
        .hand_over(req.acting()?, req.member()?.id, body.member_id)
        .await?;
    Ok(no_content())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Entries older than this id (the last `id` of the previous page).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AuditEntryView {
    pub id: i64,
    /// Who did it: a person's address, or `null` for barkeep itself (a Stripe event) or a
    /// person since erased.
    pub by: Option<String>,
    /// A stable name: `bar.published`, `person.invited`, `data.exported`, …
    pub action: String,
    /// What it touched: `bar 12`, `invited ann@example.com as editor`, …
    pub subject: String,
    pub ip: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AuditLog {
    pub entries: Vec<AuditEntryView>,
}

/// Who did what in the account, newest first (kept 365 days; owners and admins).
#[utoipa::path(get, path = "/api/v1/account/audit", tag = "people", params(AuditQuery),
    responses((status = 200, description = "Newest first", body = AuditLog)))]
pub(crate) async fn audit(req: Req) -> Result<Response> {
    let q: AuditQuery = req.query()?;
    let entries = req
        .state
        .teams
        .audit_log(
            req.account()?,
            q.before,
            q.limit.unwrap_or(100).clamp(1, 500),
        )
        .await?
        .into_iter()
        .map(|e| AuditEntryView {
            id: e.id,
            by: e.by,
            action: e.action,
            subject: e.subject,
            ip: e.ip,
            at: e.at,
        })
        .collect();
    Ok(json(StatusCode::OK, &AuditLog { entries }))
}
