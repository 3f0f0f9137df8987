//! Queries of the weekly digest: its checkpoint per week, and the week's counts per
//! bar.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entities::digest_week;
use crate::domain::MemberId;

pub(crate) async fn digest_week(
    db: &impl ConnectionTrait,
    week: &str,
) -> Result<digest_week::Model, DbErr> {
    digest_week::Entity::insert(digest_week::ActiveModel {
        week: Set(week.to_string()),
        cursor: Set(0),
        queued: Set(0),
        done_at: Set(None),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    digest_week::Entity::find_by_id(week.to_string())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(week.to_string()))
}

pub(crate) async fn advance_digest(
    db: &impl ConnectionTrait,
    week: &str,
    cursor: i64,
    added: i64,
    done: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let mut update = digest_week::Entity::update_many()
        .col_expr(digest_week::Column::Cursor, Expr::value(cursor))
        .col_expr(
            digest_week::Column::Queued,
            Expr::col(digest_week::Column::Queued).add(added),
        )
        .filter(digest_week::Column::Week.eq(week));
    if let Some(at) = done {
        update = update.col_expr(digest_week::Column::DoneAt, Expr::value(at));
    }
    update.exec(db).await?;
    Ok(())
}

/// One bar's counts over a range, with its member, for the digest.
#[derive(Debug, Clone)]
pub(crate) struct BarWeek {
    pub member: MemberId,
    pub bar: String,
    pub site: String,
    pub views: i64,
    pub clicks: i64,
    pub leads: i64,
}

/// Every bar's counts between `from` and `to` (days' first seconds) for the members
/// with ids in `[first, last]`, summed in SQL.
pub(crate) async fn bar_weeks(
    db: &impl ConnectionTrait,
    first: MemberId,
    last: MemberId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<BarWeek>, DbErr> {
    let backend = db.get_database_backend();
    let ph = |n: usize| super::placeholder(backend, n);
    let sql = format!(
        "SELECT am.member_id, b.name, s.name, \
           CAST(SUM(c.views) AS BIGINT), CAST(SUM(c.clicks) AS BIGINT), CAST(SUM(c.leads) AS BIGINT) \
         FROM deployment_stats_daily c \
         JOIN deployments d ON d.id = c.deployment_id \
         JOIN bars b ON b.id = d.bar_id \
         JOIN sites s ON s.id = d.site_id \
         JOIN account_members am ON am.account_id = s.account_id \
         WHERE c.day >= {} AND c.day < {} AND am.member_id >= {} AND am.member_id <= {} \
         GROUP BY am.member_id, b.id, b.name, s.name",
        ph(1),
        ph(2),
        ph(3),
        ph(4)
    );
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [
                from.timestamp().into(),
                to.timestamp().into(),
                first.0.into(),
                last.0.into(),
            ],
        ))
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(BarWeek {
                member: MemberId(r.try_get_by_index(0)?),
                bar: r.try_get_by_index(1)?,
                site: r.try_get_by_index(2)?,
                views: r.try_get_by_index(3)?,
                clicks: r.try_get_by_index(4)?,
                leads: r.try_get_by_index(5)?,
            })
        })
        .collect()
}

/// Which of `members` are in an account with at least one site.
pub(crate) async fn members_with_sites(
    db: &impl ConnectionTrait,
    members: &[MemberId],
) -> Result<Vec<MemberId>, DbErr> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let ids: Vec<String> = members.iter().map(|m| m.0.to_string()).collect();
    let sql = format!(
        "SELECT DISTINCT am.member_id FROM account_members am \
         JOIN sites s ON s.account_id = am.account_id WHERE am.member_id IN ({})",
        ids.join(", ")
    );
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(backend, sql))
        .await?;
    rows.into_iter()
        .map(|r| Ok(MemberId(r.try_get_by_index(0)?)))
        .collect()
}
