//! Queries on the email outbox, the events of sent email (opens, clicks, bounces,
//! complaints) and suppressed addresses.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::Db;
use super::entities::email_event::{self, EmailEventKind};
use super::entities::email_suppression;
use super::entities::outbox::{self, Column, Status};
use crate::domain::MemberId;

fn free_at(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(Column::LockedUntil.is_null())
        .add(Column::LockedUntil.lt(now))
}

/// Takes the lease on up to `limit` due rows at once and returns them; rows another
/// worker took first are not among them.
pub(crate) async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<outbox::Model>, DbErr> {
    let due = sea_orm::sea_query::Query::select()
        .column(Column::Id)
        .from(outbox::Entity)
        .and_where(Column::Status.eq(Status::Pending))
        .and_where(Column::NextAttemptAt.lte(now))
        .cond_where(free_at(now))
        .order_by(Column::NextAttemptAt, sea_orm::Order::Asc)
        .order_by(Column::Id, sea_orm::Order::Asc)
        .limit(limit)
        .to_owned();
    let mut rows = outbox::Entity::update_many()
        .col_expr(Column::LockedUntil, Expr::value(until))
        .filter(Column::Id.in_subquery(due))
        .filter(Column::Status.eq(Status::Pending))
        .filter(free_at(now))
        .exec_with_returning(db)
        .await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Records a delivery, with the links the HTML part carried as sent (tracked mail).
pub(crate) async fn mark_sent(
    db: &impl ConnectionTrait,
    id: i64,
    attempts: i32,
    at: DateTime<Utc>,
    links: Option<String>,
) -> Result<(), sea_orm::DbErr> {
    outbox::Entity::update_many()
        .col_expr(Column::Status, Expr::value(Status::Sent))
        .col_expr(Column::SentAt, Expr::value(at))
        .col_expr(Column::Links, Expr::value(links))
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LastError, Expr::value(Option::<String>::None))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) async fn mark_failed(
    db: &impl ConnectionTrait,
    id: i64,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    error: &str,
    give_up: bool,
) -> Result<(), sea_orm::DbErr> {
    let error: String = error.chars().take(2000).collect();
    outbox::Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(if give_up {
                Status::Failed
            } else {
                Status::Pending
            }),
        )
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(Column::NextAttemptAt, Expr::value(next_attempt_at))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LastError, Expr::value(error))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records that an email was not sent, and why (the member left its list, or the
/// address is suppressed).
pub(crate) async fn mark_skipped(
    db: &impl ConnectionTrait,
    id: i64,
    why: &str,
) -> Result<(), DbErr> {
    outbox::Entity::update_many()
        .col_expr(Column::Status, Expr::value(Status::Skipped))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LastError, Expr::value(why))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The links a sent email carried (JSON), if it was tracked.
pub(crate) async fn sent_links(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<String>, DbErr> {
    let row: Option<Option<String>> = outbox::Entity::find_by_id(id)
        .select_only()
        .column(Column::Links)
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.flatten())
}

pub(crate) async fn sent_at(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let row: Option<Option<DateTime<Utc>>> = outbox::Entity::find_by_id(id)
        .select_only()
        .column(Column::SentAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.flatten())
}

pub(crate) async fn insert_event(
    db: &impl ConnectionTrait,
    outbox_id: i64,
    kind: EmailEventKind,
    link: Option<i32>,
    machine: bool,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    email_event::Entity::insert(email_event::ActiveModel {
        outbox_id: Set(outbox_id),
        kind: Set(kind),
        link: Set(link),
        machine: Set(machine),
        reason: Set(reason.map(|r| r.chars().take(500).collect())),
        at: Set(at),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub(crate) async fn row_exists(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    Ok(outbox::Entity::find_by_id(id)
        .select_only()
        .column(Column::Id)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

pub(crate) async fn mark_bounced(
    db: &impl ConnectionTrait,
    id: i64,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let r = outbox::Entity::update_many()
        .col_expr(Column::BouncedAt, Expr::value(at))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// No more subscription mail to the address whose hash this is (see
/// `crate::mail::suppressions`); the first reason stays.
pub(crate) async fn suppress(
    db: &impl ConnectionTrait,
    hash: &str,
    reason: &str,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    email_suppression::Entity::insert(email_suppression::ActiveModel {
        address: Set(hash.to_string()),
        reason: Set(reason.to_string()),
        detail: Set(Some(detail.chars().take(1000).collect())),
        at: Set(at),
    })
    .on_conflict(
        OnConflict::column(email_suppression::Column::Address)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub(crate) async fn suppression(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<email_suppression::Model>, DbErr> {
    email_suppression::Entity::find_by_id(hash.to_string())
        .one(db)
        .await
}

pub(crate) async fn suppressions_of(
    db: &impl ConnectionTrait,
    hashes: &[String],
) -> Result<Vec<email_suppression::Model>, DbErr> {
    email_suppression::Entity::find()
        .filter(email_suppression::Column::Address.is_in(hashes.iter().cloned()))
        .all(db)
        .await
}

/// Suppressions still stored with their address rather than its hash (a hash has no `@`).
pub(crate) async fn plain_suppressions(
    db: &impl ConnectionTrait,
) -> Result<Vec<email_suppression::Model>, DbErr> {
    email_suppression::Entity::find()
        .filter(email_suppression::Column::Address.contains("@"))
        .all(db)
        .await
}

/// Puts `hashed` in place of the row stored under `plain` (if the hash is there already,
/// that row stays).
pub(crate) async fn replace_suppression(
    db: &impl ConnectionTrait,
    plain: &str,
    hashed: email_suppression::Model,
) -> Result<(), DbErr> {
    email_suppression::Entity::insert(email_suppression::ActiveModel {
        address: Set(hashed.address),
        reason: Set(hashed.reason),
        detail: Set(hashed.detail),
        at: Set(hashed.at),
    })
    .on_conflict(
        OnConflict::column(email_suppression::Column::Address)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    email_suppression::Entity::delete_by_id(plain.to_string())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the outbox rows of `member` or to `address` (lowercased); their events go
/// with them.
pub(crate) async fn delete_rows_to(
    db: &impl ConnectionTrait,
    address: &str,
    member: MemberId,
) -> Result<u64, DbErr> {
    Ok(outbox::Entity::delete_many()
        .filter(
            Condition::any()
                .add(Column::MemberId.eq(member))
                .add(ExprTrait::eq(
                    Func::lower(Expr::col(Column::ToAddress)),
                    address,
                )),
        )
        .exec(db)
        .await?
        .rows_affected)
}

/// Blanks the bodies of emails queued before `before`; who, what and when stay.
pub(crate) async fn purge_bodies(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(outbox::Entity::update_many()
        .col_expr(Column::BodyText, Expr::value(""))
        .col_expr(Column::BodyHtml, Expr::value(""))
        .filter(Column::CreatedAt.lt(before))
        .filter(Column::Status.ne(Status::Pending))
        .filter(
            Condition::any()
                .add(Column::BodyText.ne(""))
                .add(Column::BodyHtml.ne("")),
        )
        .exec(db)
        .await?
        .rows_affected)
}

/// What an email's row becomes once it is sent (see [`outbox::AfterSend`]).
pub(crate) async fn after_sent(
    db: &impl ConnectionTrait,
    id: i64,
    after: outbox::AfterSend,
) -> Result<(), DbErr> {
    match after {
        outbox::AfterSend::Keep => {}
        outbox::AfterSend::PurgeBody => {
            outbox::Entity::update_many()
                .col_expr(Column::BodyText, Expr::value(""))
                .col_expr(Column::BodyHtml, Expr::value(""))
                .filter(Column::Id.eq(id))
                .exec(db)
                .await?;
        }
        outbox::AfterSend::Delete => {
            outbox::Entity::delete_by_id(id).exec(db).await?;
        }
    }
    Ok(())
}

/// What an email's row becomes once it is given up or skipped: a row that must not
/// outlive its sending (an erased account's last email) keeps no address, subject or
/// body; the row stays so the failure shows.
pub(crate) async fn after_given_up(
    db: &impl ConnectionTrait,
    id: i64,
    after: outbox::AfterSend,
) -> Result<(), DbErr> {
    if after == outbox::AfterSend::Delete {
        outbox::Entity::update_many()
            .col_expr(Column::ToAddress, Expr::value(""))
            .col_expr(Column::Subject, Expr::value(""))
            .col_expr(Column::BodyText, Expr::value(""))
            .col_expr(Column::BodyHtml, Expr::value(""))
            .col_expr(Column::Links, Expr::value(Option::<String>::None))
            .filter(Column::Id.eq(id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The newest emails of the outbox, for the operator's mail page.
pub(crate) async fn recent(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<outbox::Model>, DbErr> {
    outbox::Entity::find()
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub(crate) async fn by_id(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<outbox::Model>, DbErr> {
    outbox::Entity::find_by_id(id).one(db).await
}
