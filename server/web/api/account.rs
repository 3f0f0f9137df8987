//! The member's own account: profile, password, email address, sessions and API tokens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

use super::Message;
use crate::accounts::ProfileChange;
use crate::db::entities::{account, api_token, member};
use crate::domain::{AccountId, Email, INDUSTRIES, MemberId, Role, SessionId, TokenId};
use crate::error::Result;
use crate::web::guards::{SessionRef, TokenRef};
use crate::web::router::Req;
use crate::web::{json, no_content};

/// A member as the API shows them: never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberView {
    pub id: MemberId,
    pub email: String,
    pub email_confirmed: bool,
    pub name: Option<String>,
    /// One of `GET /api/v1/industries`, or `null` for none picked.
    pub industry: Option<String>,
    /// Promotional email is sent only when this is on (off unless turned on).
    pub promo_opt_in: bool,
    /// New features and releases (on unless turned off).
    pub news_opt_in: bool,
    /// The weekly digest, Mondays 08:00 UTC (on unless turned off).
    pub digest_opt_in: bool,
    /// An IANA time zone such as `Europe/Berlin` for times in email; UTC when null.
    pub time_zone: Option<String>,
    /// Each new lead is emailed to you (batched: one email per bar every 10 minutes).
    pub lead_email: bool,
    /// Days the account keeps leads after delivery (0: deleted as soon as they are
    /// delivered).
    pub lead_retention_days: i32,
    /// The account's bars and lead processing are paused (restriction of processing).
    pub restricted: bool,
    /// Has the operator role.
    pub operator: bool,
    /// The account this request acts in (`null` for a person in none), and the role
    /// it acts with. `industry`, `lead_retention_days` and `restricted` are that
    /// account's.
    pub account_id: Option<AccountId>,
    pub role: Option<Role>,
    pub created_at: DateTime<Utc>,
}

impl MemberView {
    pub(crate) fn of(m: &member::Model, acting: Option<(&account::Model, Role)>) -> Self {
        MemberView {
            id: m.id,
            email: m.email.clone(),
            email_confirmed: m.email_confirmed_at.is_some(),
            name: m.name.clone(),
            industry: acting.and_then(|(a, _)| a.industry.clone()),
            promo_opt_in: m.promo_opt_in,
            news_opt_in: m.news_opt_in,
            digest_opt_in: m.digest_opt_in,
            time_zone: m.time_zone.clone(),
            lead_email: m.lead_email,
            lead_retention_days: acting.map_or(0, |(a, _)| a.lead_retention_days),
            restricted: acting.is_some_and(|(a, _)| a.restricted_at.is_some()),
            operator: m.is_operator,
            account_id: acting.map(|(a, _)| a.id),
            role: acting.map(|(_, r)| r),
            created_at: m.created_at,
        }
    }

    /// A person as just signed up, confirmed or logged in: in their first account.
    pub(crate) async fn in_first_account(
        state: &crate::web::State,
        m: &member::Model,
    ) -> Result<MemberView> {
        let first = state.accounts.accounts_of(m.id).await?.into_iter().next();
        let account = match &first {
            Some(c) => state.accounts.account(c.id).await?,
            None => None,
        };
        Ok(MemberView::of(
            m,
            account.as_ref().zip(first.map(|c| c.role)),
        ))
    }

    /// The signed-in person as they are now, in the account the request acts in.
    pub(crate) async fn current(req: &Req) -> Result<MemberView> {
        let member = req.state.accounts.current(req.member()?.id).await?;
        let acting = req.auth()?.acting;
        let account = match acting {
            Some(a) => req.state.accounts.account(a.account).await?,
            None => None,
        };
        Ok(MemberView::of(
            &member,
            account.as_ref().zip(acting.map(|a| a.role)),
        ))
    }
}

/// The signed-in member.
#[utoipa::path(get, path = "/api/v1/me", tag = "account",
    responses((status = 200, description = "The member", body = MemberView)))]
pub(crate) async fn get_me(req: Req) -> Result<Response> {
    Ok(json(StatusCode::OK, &MemberView::current(&req).await?))
}

/// Change the name, industry, time zone, which emails arrive (security, billing,
/// outage, abuse and policy mail always do) and what becomes of leads.
#[utoipa::path(patch, path = "/api/v1/me", tag = "account", request_body = ProfileChange,
    responses((status = 200, description = "The member as changed", body = MemberView)))]
pub(crate) async fn patch_me(req: Req) -> Result<Response> {
    let change: ProfileChange = req.json()?;
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
        .await?;
    Ok(json(StatusCode::OK, &MemberView::current(&req).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Change the password; every other session ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "account", request_body = ChangePassword,
    responses((status = 204, description = "Changed")))]
pub(crate) async fn change_password(req: Req) -> Result<Response> {
    let body: ChangePassword = req.json()?;
    req.state
        .accounts
        .change_password(req.auth()?, &body.current_password, &body.new_password)
        .await?;
    Ok(no_content())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeEmail {
    pub email: String,
    /// The current password.
    pub password: String,
}

/// Change the email address: a link goes to the new address, and the change happens
/// when it is opened.
#[utoipa::path(post, path = "/api/v1/me/email", tag = "account", request_body = ChangeEmail,
    responses((status = 202, description = "A link went to the new address", body = Message)))]
pub(crate) async fn change_email(req: Req) -> Result<Response> {
    let body: ChangeEmail = req.json()?;
    let email = Email::parse(&body.email)?;
    req.state
        .accounts
        .request_email_change(req.auth()?, email, &body.password)
        .await?;
    Ok(json(
        StatusCode::ACCEPTED,
        &Message::new("we sent a link to the new address; the change happens when it is opened"),
    ))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SessionView {
    pub id: SessionId,
    /// The session this request came with.
    pub current: bool,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Sessions {
    pub sessions: Vec<SessionView>,
}

/// The member's live sessions, most recently used first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "account",
    responses((status = 200, description = "Live sessions", body = Sessions)))]
pub(crate) async fn list_sessions(req: Req) -> Result<Response> {
    let auth = req.auth()?;
    let sessions = req
        .state
        .accounts
        .sessions(auth)
        .await?
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            current: Some(s.id) == auth.session_id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(json(StatusCode::OK, &Sessions { sessions }))
}

/// End one of the member's sessions.
#[utoipa::path(delete, path = "/api/v1/sessions/{session_id}", tag = "account",
    params(("session_id" = i64, Path, description = "One of your sessions")),
    responses((status = 204, description = "Ended")))]
pub(crate) async fn end_session(req: Req, SessionRef(session_id): SessionRef) -> Result<Response> {
    req.state
        .accounts
        .end_session(req.auth()?, session_id)
        .await?;
    Ok(no_content())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TokenView {
    pub id: TokenId,
    pub name: String,
    /// The account the token acts in.
    pub account_id: Option<AccountId>,
    /// The narrower role it was made with (`null`: its person's role in the account).
    pub role: Option<Role>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&api_token::Model> for TokenView {
    fn from(t: &api_token::Model) -> Self {
        TokenView {
            id: t.id,
            name: t.name.clone(),
            account_id: t.account_id,
            role: t.role,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Tokens {
    pub tokens: Vec<TokenView>,
}

/// The member's API tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "account",
    responses((status = 200, description = "API tokens", body = Tokens)))]
pub(crate) async fn list_tokens(req: Req) -> Result<Response> {
    let tokens = req
        .state
        .accounts
        .api_tokens(req.auth()?)
        .await?
        .iter()
        .map(TokenView::from)
        .collect();
    Ok(json(StatusCode::OK, &Tokens { tokens }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// 1 to 100 characters, to tell tokens apart.
    pub name: String,
    /// A role narrower than yours in the account (`viewer` for a reporting tool); the
    /// token acts with the lesser of this and your role there. Yours when left out.
    #[serde(default)]
    pub role: Option<Role>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TokenCreated {
    pub id: TokenId,
    pub name: String,
    pub account_id: Option<AccountId>,
    pub role: Option<Role>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Shown once; only its hash is kept. Send it as `Authorization: Bearer …`.
    pub token: String,
}

/// Create an API token.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "account", request_body = CreateToken,
    responses((status = 201, description = "Created; the token is shown this once", body = TokenCreated)))]
pub(crate) async fn create_token(req: Req) -> Result<Response> {
    let body: CreateToken = req.json()?;
    let created = req
        .state
        .accounts
        .create_api_token(req.auth()?, &body.name, body.role)
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &TokenCreated {
            id: created.row.id,
            name: created.row.name,
            account_id: created.row.account_id,
            role: created.row.role,
            created_at: created.row.created_at,
            last_used_at: created.row.last_used_at,
            token: created.token,
        },
    ))
}

/// Delete an API token.
#[utoipa::path(delete, path = "/api/v1/tokens/{token_id}", tag = "account",
    params(("token_id" = i64, Path, description = "One of your API tokens")),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete_token(req: Req, TokenRef(token_id): TokenRef) -> Result<Response> {
    req.state
        .accounts
        .delete_api_token(req.auth()?, token_id)
        .await?;
    Ok(no_content())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct IndustryView {
    pub code: &'static str,
    pub label: &'static str,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Industries {
    pub industries: Vec<IndustryView>,
}

/// The industries a member can pick; benchmarks compare accounts within them.
#[utoipa::path(get, path = "/api/v1/industries", tag = "account",
    responses((status = 200, description = "Industries", body = Industries)))]
pub(crate) async fn industries(_req: Req) -> Result<Response> {
    let industries = INDUSTRIES
        .iter()
        .map(|(code, label)| IndustryView { code, label })
        .collect();
    Ok(json(StatusCode::OK, &Industries { industries }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Policies {
    pub policies: Vec<crate::privacy::policies::MemberPolicy>,
}

/// Every privacy-policy version, newest first, with your objection deadline and whether
/// you objected.
#[utoipa::path(get, path = "/api/v1/me/policies", tag = "account",
    responses((status = 200, description = "Versions", body = Policies)))]
pub(crate) async fn policies(req: Req) -> Result<Response> {
    let policies = req.state.policy_versions.for_member(req.member()?).await?;
    Ok(json(StatusCode::OK, &Policies { policies }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObjectTo {
    /// The version objected to; the newest when left out.
    #[serde(default)]
    pub version: Option<String>,
}

/// Object to a privacy-policy version, within 20 days of the email that announced it (or
/// of its publication, if later); 409 `objection_window_closed` with the deadline after.
#[utoipa::path(post, path = "/api/v1/me/policy-objection", tag = "account", request_body = ObjectTo,
    responses((status = 201, description = "Recorded", body = crate::privacy::policies::MemberPolicy)))]
pub(crate) async fn object(req: Req) -> Result<Response> {
    let body: ObjectTo = req.json()?;
    let recorded = req
        .state
        .policy_versions
        .object(req.member()?, body.version.as_deref())
        .await?;
    Ok(json(StatusCode::CREATED, &recorded))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Restriction {
    /// True pauses every bar and all lead processing; false resumes them.
    pub restricted: bool,
}

/// Restrict processing: no bar of the account is served and no lead processed until
/// lifted (owners).
#[utoipa::path(post, path = "/api/v1/me/restriction", tag = "account", request_body = Restriction,
    responses((status = 200, description = "The member as changed", body = MemberView)))]
pub(crate) async fn restrict(req: Req) -> Result<Response> {
    let body: Restriction = req.json()?;
    req.state
        .privacy
        .restrict(req.account()?, body.restricted)
        .await?;
    Ok(json(StatusCode::OK, &MemberView::current(&req).await?))
}

/// Everything barkeep holds about you, at once: a zip of JSON files with a README.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "account",
    responses((status = 200, description = "The archive", content_type = "application/zip", body = Vec<u8>)))]
pub(crate) async fn export(req: Req) -> Result<Response> {
    let member = req.member()?;
    let archive = req.state.privacy.export(member).await?;
    let mut res = Response::new(archive.into());
    let h = res.headers_mut();
    h.insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = warp::http::HeaderValue::from_str(&format!(
        "attachment; filename=\"barkeep-export-{}-{}.zip\"",
        member.id,
        req.state.clock.now().format("%Y-%m-%d")
    )) {
        h.insert("content-disposition", v);
    }
    Ok(res)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteAccount {
    /// Your password, once more.
    pub password: String,
}

/// Delete your account: your sites, bars, leads, sessions and personal data go, a
/// Stripe subscription is canceled, and a last email confirms it. Counts stay only as
/// totals linked to no one.
#[utoipa::path(delete, path = "/api/v1/me", tag = "account", request_body = DeleteAccount,
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete_me(req: Req) -> Result<Response> {
    let body: DeleteAccount = req.json()?;
    req.state
        .privacy
        .erase(req.member()?, &body.password)
        .await?;
    Ok(no_content())
}
