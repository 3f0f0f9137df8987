//! Queries on members, sessions, API tokens, email tokens and the login log.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::email_token::Purpose;
use super::entities::login_attempt::Outcome;
use super::entities::{api_token, email_token, login_attempt, member, session};
use std::net::IpAddr;

use crate::domain::{AccountId, AddressBlock, MemberId, Role, SessionId, TokenId};

// ---- members ----

pub async fn member_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<member::Model>, DbErr> {
    member::Entity::find()
        .filter(member::Column::Email.eq(email))
        .one(db)
        .await
}

pub async fn member_by_id(
    db: &impl ConnectionTrait,
    id: MemberId,
) -> Result<Option<member::Model>, DbErr> {
    member::Entity::find_by_id(id).one(db).await
}

pub async fn insert_member(
    db: &impl ConnectionTrait,
    email: &str,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<member::Model, DbErr> {
    member::ActiveModel {
        email: Set(email.to_string()),
        email_confirmed_at: Set(None),
        password_hash: Set(password_hash),
        name: Set(None),
        promo_opt_in: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    hash: String,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    member::Entity::update_many()
        .col_expr(member::Column::PasswordHash, Expr::value(hash))
        .col_expr(member::Column::UpdatedAt, Expr::value(now))
        .filter(member::Column::Id.eq(member_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn confirm_email(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    member::Entity::update_many()
        .col_expr(member::Column::EmailConfirmedAt, Expr::value(now))
        .col_expr(member::Column::UpdatedAt, Expr::value(now))
        .filter(member::Column::Id.eq(member_id))
        .filter(member::Column::EmailConfirmedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Switches the address and marks it confirmed: the member proved they read it.
pub async fn set_email(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    member::Entity::update_many()
        .col_expr(member::Column::Email, Expr::value(email))
        .col_expr(member::Column::EmailConfirmedAt, Expr::value(now))
        .col_expr(member::Column::UpdatedAt, Expr::value(now))
        .filter(member::Column::Id.eq(member_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn update_profile(
    db: &impl ConnectionTrait,
    member: member::Model,
    name: Option<Option<String>>,
    now: DateTime<Utc>,
) -> Result<member::Model, DbErr> {
    let mut active: member::ActiveModel = member.into();
    if let Some(name) = name {
        active.name = Set(name);
    }
    active.updated_at = Set(now);
    active.update(db).await
}

// ---- email tokens ----

pub async fn insert_email_token(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    purpose: Purpose,
    token_hash: String,
    new_email: Option<String>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<email_token::Model, DbErr> {
    email_token::ActiveModel {
        member_id: Set(member_id),
        purpose: Set(purpose),
        token_hash: Set(token_hash),
        new_email: Set(new_email),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// When the member's newest token for `purpose` was made.
pub async fn latest_token_at(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    purpose: Purpose,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(email_token::Entity::find()
        .filter(email_token::Column::MemberId.eq(member_id))
        .filter(email_token::Column::Purpose.eq(purpose))
        .order_by_desc(email_token::Column::CreatedAt)
        .one(db)
        .await?
        .map(|t| t.created_at))
}

/// Marks a live token used and returns it; `None` if it is unknown, used or expired.
/// The conditional update makes it single-use even when two requests race.
pub async fn take_email_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    purposes: &[Purpose],
    now: DateTime<Utc>,
) -> Result<Option<email_token::Model>, DbErr> {
    let Some(token) = email_token::Entity::find()
        .filter(email_token::Column::TokenHash.eq(token_hash))
        .filter(email_token::Column::Purpose.is_in(purposes.iter().copied()))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let taken = email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::Id.eq(token.id))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok((taken.rows_affected == 1).then_some(token))
}

pub async fn count_tokens_since(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    purpose: Purpose,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    email_token::Entity::find()
        .filter(email_token::Column::MemberId.eq(member_id))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::CreatedAt.gt(since))
        .count(db)
        .await
}

/// Email-change links made since `since` that name `address`, by any member.
pub async fn count_changes_to_since(
    db: &impl ConnectionTrait,
    address: &str,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    email_token::Entity::find()
        .filter(email_token::Column::Purpose.eq(Purpose::ChangeEmail))
        .filter(email_token::Column::NewEmail.eq(address))
        .filter(email_token::Column::CreatedAt.gt(since))
        .count(db)
        .await
}

/// Voids every unused token of a purpose, e.g. other reset links once one was used.
pub async fn void_tokens(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::MemberId.eq(member_id))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

// ---- sessions ----

pub async fn insert_session(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    token_hash: String,
    ip: String,
    user_agent: Option<String>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<session::Model, DbErr> {
    session::ActiveModel {
        member_id: Set(member_id),
        token_hash: Set(token_hash),
        ip: Set(Some(ip)),
        user_agent: Set(user_agent),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(expires_at),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn live_session(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_hash))
        .filter(session::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

pub async fn set_session_account(
    db: &impl ConnectionTrait,
    id: SessionId,
    account: AccountId,
) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::AccountId, Expr::value(account.0))
        .filter(session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn touch_session(
    db: &impl ConnectionTrait,
    id: SessionId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(now))
        .filter(session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn sessions_of(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    now: DateTime<Utc>,
) -> Result<Vec<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::MemberId.eq(member_id))
        .filter(session::Column::ExpiresAt.gt(now))
        .order_by_desc(session::Column::LastSeenAt)
        .all(db)
        .await
}

/// Deletes one of the member's sessions; false if it is not theirs or does not exist.
pub async fn delete_session(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    id: SessionId,
) -> Result<bool, DbErr> {
    let r = session::Entity::delete_many()
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::MemberId.eq(member_id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Ends every session of the member except `keep`.
pub async fn delete_sessions_except(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    keep: Option<SessionId>,
) -> Result<u64, DbErr> {
    let mut q = session::Entity::delete_many().filter(session::Column::MemberId.eq(member_id));
    if let Some(keep) = keep {
        q = q.filter(session::Column::Id.ne(keep));
    }
    Ok(q.exec(db).await?.rows_affected)
}

// ---- API tokens ----

/// A token of `member`, acting in `account` with at most `role` (none: the person's).
pub async fn insert_api_token(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    account: Option<AccountId>,
    role: Option<Role>,
    name: String,
    token_hash: String,
    now: DateTime<Utc>,
) -> Result<api_token::Model, DbErr> {
    api_token::ActiveModel {
        member_id: Set(member_id),
        account_id: Set(account),
        role: Set(role),
        name: Set(name),
        token_hash: Set(token_hash),
        created_at: Set(now),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn api_token_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<api_token::Model>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

pub async fn touch_api_token(
    db: &impl ConnectionTrait,
    id: TokenId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn api_tokens_of(
    db: &impl ConnectionTrait,
    member_id: MemberId,
) -> Result<Vec<api_token::Model>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::MemberId.eq(member_id))
        .order_by_asc(api_token::Column::Id)
        .all(db)
        .await
}

pub async fn delete_api_token(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    id: TokenId,
) -> Result<bool, DbErr> {
    let r = api_token::Entity::delete_many()
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::MemberId.eq(member_id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Deletes the person's API tokens that act in `account` (they left it).
pub async fn delete_api_tokens_in(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    account: AccountId,
) -> Result<u64, DbErr> {
    let r = api_token::Entity::delete_many()
        .filter(api_token::Column::MemberId.eq(member_id))
        .filter(api_token::Column::AccountId.eq(account))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// Deletes every API token of the member (a password reset, a first confirmation).
pub async fn revoke_api_tokens(
    db: &impl ConnectionTrait,
    member_id: MemberId,
) -> Result<u64, DbErr> {
    Ok(api_token::Entity::delete_many()
        .filter(api_token::Column::MemberId.eq(member_id))
        .exec(db)
        .await?
        .rows_affected)
}

// ---- login attempts ----

/// Who tried to log in, from where: everything a login attempt records but its outcome.
pub struct Attempt<'a> {
    pub member_id: Option<MemberId>,
    pub email: &'a str,
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
    /// The device cookie's id, when it was one of this account.
    pub device: Option<&'a str>,
}

pub async fn record_login_attempt(
    db: &impl ConnectionTrait,
    a: &Attempt<'_>,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    login_attempt::ActiveModel {
        member_id: Set(a.member_id),
        email: Set(a.email.chars().take(254).collect()),
        ip: Set(a.ip.to_string()),
        ip_block: Set(AddressBlock::of(a.ip).to_string()),
        user_agent: Set(a.user_agent.map(|u| u.chars().take(512).collect())),
        device: Set(a.device.map(str::to_string)),
        outcome: Set(outcome),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Times of failed attempts from one address block since `since`, oldest first.
pub async fn ip_failures_since(
    db: &impl ConnectionTrait,
    block: AddressBlock,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, DbErr> {
    login_attempt::Entity::find()
        .select_only()
        .column(login_attempt::Column::CreatedAt)
        .filter(login_attempt::Column::IpBlock.eq(block.to_string()))
        .filter(login_attempt::Column::Outcome.is_in([Outcome::BadPassword, Outcome::UnknownEmail]))
        .filter(login_attempt::Column::CreatedAt.gt(since))
        .order_by_asc(login_attempt::Column::CreatedAt)
        .into_tuple()
        .all(db)
        .await
}

/// The member's successes and wrong passwords since `since`, newest first: (time,
/// outcome, device). Throttled attempts are left out, so however many a stranger sends,
/// they cannot push the failures that count out of these 100.
pub async fn member_attempts_since(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    since: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, Outcome, Option<String>)>, DbErr> {
    login_attempt::Entity::find()
        .select_only()
        .column(login_attempt::Column::CreatedAt)
        .column(login_attempt::Column::Outcome)
        .column(login_attempt::Column::Device)
        .filter(login_attempt::Column::MemberId.eq(member_id))
        .filter(login_attempt::Column::Outcome.is_in([Outcome::Success, Outcome::BadPassword]))
        .filter(login_attempt::Column::CreatedAt.gt(since))
        .order_by_desc(login_attempt::Column::CreatedAt)
        .limit(100)
        .into_tuple()
        .all(db)
        .await
}

/// Which email a member gets, and the time zone times in it are shown in; `None`
/// leaves a choice as it is.
#[derive(Debug, Clone, Default)]
pub struct Preferences {
    pub news: Option<bool>,
    pub digest: Option<bool>,
    pub promo: Option<bool>,
    pub time_zone: Option<Option<String>>,
}

pub async fn set_preferences(
    db: &impl ConnectionTrait,
    member: member::Model,
    p: Preferences,
    now: DateTime<Utc>,
) -> Result<member::Model, DbErr> {
    let mut active: member::ActiveModel = member.into();
    if let Some(v) = p.news {
        active.news_opt_in = Set(v);
    }
    if let Some(v) = p.digest {
        active.digest_opt_in = Set(v);
    }
    if let Some(v) = p.promo {
        active.promo_opt_in = Set(v);
    }
    if let Some(v) = p.time_zone {
        active.time_zone = Set(v);
    }
    active.updated_at = Set(now);
    active.update(db).await
}

/// Members whose address contains `search` (all without one), newest first.
pub async fn search_members(
    db: &impl ConnectionTrait,
    search: Option<&str>,
    limit: u64,
) -> Result<Vec<member::Model>, DbErr> {
    let mut q = member::Entity::find()
        .order_by_desc(member::Column::Id)
        .limit(limit);
    if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
        q = q.filter(member::Column::Email.contains(s.to_lowercase()));
    }
    q.all(db).await
}

/// Sets the person's own lead choice: each new lead emailed to them.
pub async fn set_lead_email(
    db: &impl ConnectionTrait,
    member: member::Model,
    email: bool,
    now: DateTime<Utc>,
) -> Result<member::Model, DbErr> {
    let mut active: member::ActiveModel = member.into();
    active.lead_email = Set(email);
    active.updated_at = Set(now);
    active.update(db).await
}

/// Deletes the person; their sessions, tokens, memberships and objections go with them
/// (foreign keys cascade). Accounts are the caller's to decide.
pub async fn delete_member(db: &impl ConnectionTrait, member: MemberId) -> Result<(), DbErr> {
    member::Entity::delete_by_id(member).exec(db).await?;
    Ok(())
}

/// Sessions and single-use email links past their expiry.
pub async fn purge_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let sessions = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    let links = email_token::Entity::delete_many()
        .filter(email_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    Ok(sessions + links)
}

pub async fn purge_login_attempts(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(login_attempt::Entity::delete_many()
        .filter(login_attempt::Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

/// Grants or takes away the operator role; false when no member has that address.
pub async fn set_operator(
    db: &impl ConnectionTrait,
    email: &str,
    operator: bool,
) -> Result<bool, DbErr> {
    let r = member::Entity::update_many()
        .col_expr(member::Column::IsOperator, Expr::value(operator))
        .filter(member::Column::Email.eq(email))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Locks the member's row until the transaction ends (PostgreSQL), so writes that count
/// what the member holds queue behind each other. On SQLite the write transaction already
/// holds the database's lock.
pub async fn lock_member(db: &impl ConnectionTrait, member_id: MemberId) -> Result<(), DbErr> {
    member::Entity::find_by_id(member_id)
        .lock_exclusive()
        .one(db)
        .await?;
    Ok(())
}
