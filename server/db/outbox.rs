//! Queries on the email outbox.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Db;
use super::entities::outbox::{self, Column, Status};

/// Pending rows whose time has come and that no live lease holds.
pub async fn due(
    db: &Db,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<outbox::Model>, sea_orm::DbErr> {
    outbox::Entity::find()
        .filter(Column::Status.eq(Status::Pending))
        .filter(Column::NextAttemptAt.lte(now))
        .filter(free_at(now))
        .order_by_asc(Column::NextAttemptAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await
}

fn free_at(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(Column::LockedUntil.is_null())
        .add(Column::LockedUntil.lt(now))
}

/// Takes the lease on one row; false when another worker got there first.
pub async fn claim(
    db: &Db,
    id: i64,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let result = outbox::Entity::update_many()
        .col_expr(Column::LockedUntil, Expr::value(until))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Pending))
        .filter(free_at(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn mark_sent(
    db: &Db,
    id: i64,
    attempts: i32,
    at: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    outbox::Entity::update_many()
        .col_expr(Column::Status, Expr::value(Status::Sent))
        .col_expr(Column::SentAt, Expr::value(at))
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

pub async fn mark_failed(
    db: &Db,
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
