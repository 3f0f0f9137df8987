//! Leases of the jobs that run once across processes. A process runs such a job only
//! after a conditional update moved the job's next due time forward and named it the
//! holder; of several processes asking at once, exactly one update matches.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::job_lease::{self, Column};

/// Makes sure the job has its row; a new job is due at once.
pub(crate) async fn ensure(
    db: &impl ConnectionTrait,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    job_lease::Entity::insert(job_lease::ActiveModel {
        name: sea_orm::Set(name.to_string()),
        holder: sea_orm::Set(None),
        leased_until: sea_orm::Set(None),
        next_run_at: sea_orm::Set(now),
        runs: sea_orm::Set(0),
        last_started_at: sea_orm::Set(None),
        last_finished_at: sea_orm::Set(None),
        last_ok: sea_orm::Set(None),
        last_error: sea_orm::Set(None),
    })
    .on_conflict_do_nothing_on([Column::Name])
    .exec(db)
    .await?;
    Ok(())
}

fn free_at(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(Column::LeasedUntil.is_null())
        .add(Column::LeasedUntil.lt(now))
}

/// Takes the job for this period if it is due (or, with `force`, whenever no one holds
/// it). True when this process should run it now.
pub(crate) async fn claim(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    every: Duration,
    lease: Duration,
    force: bool,
) -> Result<bool, DbErr> {
    let mut update = job_lease::Entity::update_many()
        .col_expr(Column::Holder, Expr::value(holder))
        .col_expr(Column::LeasedUntil, Expr::value(now + lease))
        .col_expr(Column::NextRunAt, Expr::value(now + every))
        .col_expr(Column::Runs, Expr::col(Column::Runs).add(1))
        .col_expr(Column::LastStartedAt, Expr::value(now))
        .filter(Column::Name.eq(name))
        .filter(free_at(now));
    if !force {
        update = update.filter(Column::NextRunAt.lte(now));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Extends the lease of a run that is still going. False when this process no longer
/// holds it (another took it after it ran out).
pub(crate) async fn renew(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let update = job_lease::Entity::update_many()
        .col_expr(Column::LeasedUntil, Expr::value(until))
        .filter(Column::Name.eq(name))
        .filter(Column::Holder.eq(holder))
        .filter(Column::LeasedUntil.is_not_null());
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Records how a run ended and lets the lease go. A failed run is due again soon rather
/// than a whole period later.
pub(crate) async fn finish(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    error: Option<&str>,
    retry_after: Option<Duration>,
) -> Result<(), DbErr> {
    let mut update = job_lease::Entity::update_many()
        .col_expr(
            Column::LeasedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LastFinishedAt, Expr::value(now))
        .col_expr(Column::LastOk, Expr::value(error.is_none()))
        .col_expr(
            Column::LastError,
            Expr::value(error.map(|e| e.chars().take(2000).collect::<String>())),
        )
        .filter(Column::Name.eq(name))
        .filter(Column::Holder.eq(holder));
    if let Some(after) = retry_after {
        update = update.col_expr(Column::NextRunAt, Expr::value(now + after));
    }
    update.exec(db).await?;
    Ok(())
}

pub(crate) async fn all(db: &impl ConnectionTrait) -> Result<Vec<job_lease::Model>, DbErr> {
    job_lease::Entity::find()
        .order_by_asc(Column::Name)
        .all(db)
        .await
}
