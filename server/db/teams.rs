//! Queries on accounts, the people in them and invitations.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::{account, account_member, audit_event, invitation, member};
use crate::domain::{AccountId, InvitationId, MemberId, Role};

// ---- accounts ----

pub(crate) async fn account_by_id(
    db: &impl ConnectionTrait,
    id: AccountId,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find_by_id(id).one(db).await
}

/// A new account with `owner` as its one owner.
pub(crate) async fn insert_account(
    db: &impl ConnectionTrait,
    name: &str,
    owner: MemberId,
    now: DateTime<Utc>,
) -> Result<account::Model, DbErr> {
    let account = account::ActiveModel {
        name: Set(name.to_string()),
        industry: Set(None),
        lead_retention_days: Set(0),
        restricted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    insert_membership(db, account.id, owner, Role::Owner, now).await?;
    Ok(account)
}

/// Holds the account's row until the transaction ends: writers of one account's billing
/// or people take turns.
pub(crate) async fn lock_account(db: &impl ConnectionTrait, id: AccountId) -> Result<(), DbErr> {
    account::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?;
    Ok(())
}

pub(crate) async fn delete_account(db: &impl ConnectionTrait, id: AccountId) -> Result<(), DbErr> {
    account::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

// ---- memberships ----

pub(crate) async fn insert_membership(
    db: &impl ConnectionTrait,
    account: AccountId,
    member: MemberId,
    role: Role,
    now: DateTime<Utc>,
) -> Result<account_member::Model, DbErr> {
    account_member::ActiveModel {
        account_id: Set(account),
        member_id: Set(member),
        role: Set(role),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// The person's role in the account, if they are in it.
pub(crate) async fn membership(
    db: &impl ConnectionTrait,
    account: AccountId,
    member: MemberId,
) -> Result<Option<account_member::Model>, DbErr> {
    account_member::Entity::find()
        .filter(account_member::Column::AccountId.eq(account))
        .filter(account_member::Column::MemberId.eq(member))
        .one(db)
        .await
}

/// The accounts a person is in, oldest membership first.
pub(crate) async fn memberships_of(
    db: &impl ConnectionTrait,
    member: MemberId,
) -> Result<Vec<(account_member::Model, account::Model)>, DbErr> {
    let rows = account_member::Entity::find()
        .filter(account_member::Column::MemberId.eq(member))
        .order_by_asc(account_member::Column::Id)
        .all(db)
        .await?;
    let accounts = account::Entity::find()
        .filter(account::Column::Id.is_in(rows.iter().map(|r| r.account_id)))
        .all(db)
        .await?;
    Ok(paired(rows, accounts, |r| r.account_id, |a| a.id))
}

/// The people of an account with their roles, in the order they joined.
pub(crate) async fn people_of(
    db: &impl ConnectionTrait,
    account: AccountId,
) -> Result<Vec<(account_member::Model, member::Model)>, DbErr> {
    let rows = account_member::Entity::find()
        .filter(account_member::Column::AccountId.eq(account))
        .order_by_asc(account_member::Column::Id)
        .all(db)
        .await?;
    let people = member::Entity::find()
        .filter(member::Column::Id.is_in(rows.iter().map(|r| r.member_id)))
        .all(db)
        .await?;
    Ok(paired(rows, people, |r| r.member_id, |m| m.id))
}

/// Each membership row with the row it names (read in a second query), in the rows'
/// order; a row whose other side is gone is left out.
fn paired<T, K: PartialEq>(
    rows: Vec<account_member::Model>,
    mut others: Vec<T>,
    names: impl Fn(&account_member::Model) -> K,
    key: impl Fn(&T) -> K,
) -> Vec<(account_member::Model, T)> {
    rows.into_iter()
        .filter_map(|row| {
            let at = others.iter().position(|o| key(o) == names(&row))?;
            Some((row, others.swap_remove(at)))
        })
        .collect()
}

/// The owners of an account (billing email goes to them).
pub(crate) async fn owners_of(
    db: &impl ConnectionTrait,
    account: AccountId,
) -> Result<Vec<member::Model>, DbErr> {
    Ok(people_of(db, account)
        .await?
        .into_iter()
        .filter(|(row, _)| row.role == Role::Owner)
        .map(|(_, m)| m)
        .collect())
}

pub(crate) async fn count_owners(
    db: &impl ConnectionTrait,
    account: AccountId,
) -> Result<u64, DbErr> {
    account_member::Entity::find()
        .filter(account_member::Column::AccountId.eq(account))
        .filter(account_member::Column::Role.eq(Role::Owner))
        .count(db)
        .await
}

pub(crate) async fn set_role(
    db: &impl ConnectionTrait,
    account: AccountId,
    member: MemberId,
    role: Role,
) -> Result<bool, DbErr> {
    let done = account_member::Entity::update_many()
        .col_expr(
            account_member::Column::Role,
            sea_orm::sea_query::Expr::value(role.as_str()),
        )
        .filter(account_member::Column::AccountId.eq(account))
        .filter(account_member::Column::MemberId.eq(member))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

pub(crate) async fn delete_membership(
    db: &impl ConnectionTrait,
    account: AccountId,
    member: MemberId,
) -> Result<bool, DbErr> {
    let done = account_member::Entity::delete_many()
        .filter(account_member::Column::AccountId.eq(account))
        .filter(account_member::Column::MemberId.eq(member))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Accounts in which `member` is the only person (they go with the person's erasure).
pub(crate) async fn accounts_only_of(
    db: &impl ConnectionTrait,
    member: MemberId,
) -> Result<Vec<AccountId>, DbErr> {
    let mut alone = Vec::new();
    for (row, _) in memberships_of(db, member).await? {
        let people = account_member::Entity::find()
            .filter(account_member::Column::AccountId.eq(row.account_id))
            .count(db)
            .await?;
        if people == 1 {
            alone.push(row.account_id);
        }
    }
    Ok(alone)
}

// ---- invitations ----

pub(crate) async fn insert_invitation(
    db: &impl ConnectionTrait,
    model: invitation::ActiveModel,
) -> Result<invitation::Model, DbErr> {
    model.insert(db).await
}

pub(crate) async fn invitation_by_hash(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<invitation::Model>, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(hash))
        .lock_exclusive()
        .one(db)
        .await
}

/// Invitations of the account that can still be accepted, newest first.
pub(crate) async fn pending_invitations(
    db: &impl ConnectionTrait,
    account: AccountId,
    now: DateTime<Utc>,
) -> Result<Vec<invitation::Model>, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::AccountId.eq(account))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .order_by_desc(invitation::Column::Id)
        .all(db)
        .await
}

/// Invitations sent from the account since `since` (for the throttle).
pub(crate) async fn invitations_since(
    db: &impl ConnectionTrait,
    account: AccountId,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::AccountId.eq(account))
        .filter(invitation::Column::CreatedAt.gt(since))
        .count(db)
        .await
}

pub(crate) async fn revoke_invitation(
    db: &impl ConnectionTrait,
    account: AccountId,
    id: InvitationId,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = invitation::Entity::update_many()
        .col_expr(
            invitation::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(invitation::Column::AccountId.eq(account))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

pub(crate) async fn mark_accepted(
    db: &impl ConnectionTrait,
    id: InvitationId,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = invitation::Entity::update_many()
        .col_expr(
            invitation::Column::AcceptedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Sets (or lifts, with `None`) the account's restriction of processing.
pub(crate) async fn set_restricted(
    db: &impl ConnectionTrait,
    id: AccountId,
    at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    account::Entity::update_many()
        .col_expr(
            account::Column::RestrictedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(account::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets what `Some` names of the account's settings.
pub(crate) async fn set_settings(
    db: &impl ConnectionTrait,
    account: account::Model,
    industry: Option<Option<String>>,
    lead_retention_days: Option<i32>,
    now: DateTime<Utc>,
) -> Result<account::Model, DbErr> {
    let mut active: account::ActiveModel = account.into();
    if let Some(industry) = industry {
        active.industry = Set(industry);
    }
    if let Some(days) = lead_retention_days {
        active.lead_retention_days = Set(days);
    }
    active.updated_at = Set(now);
    active.update(db).await
}

/// The account a site belongs to.
pub(crate) async fn account_of_site(
    db: &impl ConnectionTrait,
    site: crate::domain::SiteId,
) -> Result<Option<account::Model>, DbErr> {
    let Some(site) = super::entities::site::Entity::find_by_id(site)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    account_by_id(db, site.account_id).await
}

// ---- the audit log ----

pub(crate) async fn insert_audit(
    db: &impl ConnectionTrait,
    model: audit_event::ActiveModel,
) -> Result<(), DbErr> {
    audit_event::Entity::insert(model).exec(db).await?;
    Ok(())
}

/// The account's audit log, newest first, `limit` rows before `before` (an id).
pub(crate) async fn audit_of(
    db: &impl ConnectionTrait,
    account: AccountId,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<(audit_event::Model, Option<String>)>, DbErr> {
    let mut q = audit_event::Entity::find()
        .filter(audit_event::Column::AccountId.eq(account))
        .order_by_desc(audit_event::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        q = q.filter(audit_event::Column::Id.lt(before));
    }
    let rows = q.all(db).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let email = match row.member_id {
            Some(m) => member::Entity::find_by_id(m)
                .one(db)
                .await?
                .map(|m| m.email),
            None => None,
        };
        out.push((row, email));
    }
    Ok(out)
}

/// Audit rows older than `before` go.
pub(crate) async fn purge_audit(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(audit_event::Entity::delete_many()
        .filter(audit_event::Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

/// An erased person's address leaves the audit rows they made.
pub(crate) async fn forget_audit_addresses(
    db: &impl ConnectionTrait,
    member: MemberId,
) -> Result<(), DbErr> {
    audit_event::Entity::update_many()
        .col_expr(
            audit_event::Column::Ip,
            sea_orm::sea_query::Expr::value(Option::<String>::None),
        )
        .filter(audit_event::Column::MemberId.eq(member))
        .exec(db)
        .await?;
    Ok(())
}

/// The people of an account who get its lead notifications: editors and above who keep
/// "Email me new leads" on, the longest-standing first.
pub(crate) async fn lead_recipients(
    db: &impl ConnectionTrait,
    account: AccountId,
) -> Result<Vec<member::Model>, DbErr> {
    Ok(people_of(db, account)
        .await?
        .into_iter()
        .filter(|(row, m)| row.role != Role::Viewer && m.lead_email)
        .map(|(_, m)| m)
        .collect())
}

pub(crate) async fn rename_account(
    db: &impl ConnectionTrait,
    id: AccountId,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    account::Entity::update_many()
        .col_expr(account::Column::Name, sea_orm::sea_query::Expr::value(name))
        .col_expr(
            account::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(account::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
