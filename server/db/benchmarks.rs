//! Queries of the benchmarks: the window's counts per account, bar, element type, goal and
//! placement (summed in SQL, read from each deployment's frozen snapshot),
//! and the snapshots, cells and results the computation stores and the API reads.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, Statement,
};

use super::entities::{benchmark_cell, benchmark_result, benchmark_snapshot};
use crate::domain::bar::{Goal, Placement};
use crate::domain::element::ElementType;
use crate::domain::{AccountId, BarId};

/// One bar's counts over the window, with whose it is.
#[derive(Debug, Clone)]
pub(crate) struct BarCounts {
    pub account: AccountId,
    pub industry: Option<String>,
    pub bar: BarId,
    pub element: ElementType,
    pub goal: Goal,
    pub placement: Placement,
    pub views: i64,
    pub clicks: i64,
    pub leads: i64,
    pub dismissals: i64,
}

/// The element type, goal and placement as each backend reads them from the snapshot's
/// JSON (snapshots from before element types are bars).
fn snapshot_fields(backend: DbBackend) -> (&'static str, &'static str, &'static str) {
    match backend {
        DbBackend::Postgres => (
            "COALESCE(d.snapshot->>'element_type', 'bar')",
            "d.snapshot->>'goal'",
            "d.snapshot->>'placement'",
        ),
        _ => (
            "COALESCE(json_extract(d.snapshot, '$.element_type'), 'bar')",
            "json_extract(d.snapshot, '$.goal')",
            "json_extract(d.snapshot, '$.placement')",
        ),
    }
}

/// Every bar's counts within `[from, to)` (days' first seconds) for the members with ids
/// in `members`, one row per member, bar, goal and placement; bars live now but without
/// views come with zeros. Deployments whose snapshot names no goal or placement (or one
/// barkeep does not know) are left out. Read a range of members at a time, so the rows in
/// memory stay few.
pub(crate) async fn window_counts(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    members: std::ops::RangeInclusive<i64>,
) -> Result<Vec<BarCounts>, DbErr> {
    let backend = db.get_database_backend();
    let (element, goal, placement) = snapshot_fields(backend);
    let p = |n: usize| super::placeholder(backend, n);
    let (p1, p2, p3, p4, p5, p6) = (p(1), p(2), p(3), p(4), p(5), p(6));
    let sql = format!(
        "SELECT s.account_id, m.industry, d.bar_id, {goal} AS goal, {placement} AS placement, \
           {element} AS element_type, \
           CAST(SUM(c.views) AS BIGINT), CAST(SUM(c.clicks) AS BIGINT), \
           CAST(SUM(c.leads) AS BIGINT), CAST(SUM(c.dismissals) AS BIGINT) \
         FROM deployment_stats_daily c \
         JOIN deployments d ON d.id = c.deployment_id \
         JOIN sites s ON s.id = d.site_id \
         JOIN accounts m ON m.id = s.account_id \
         WHERE c.day >= {p1} AND c.day < {p2} AND s.account_id >= {p3} AND s.account_id <= {p4} \
         GROUP BY s.account_id, m.industry, d.bar_id, {goal}, {placement}, {element} \
         UNION ALL \
         SELECT DISTINCT s.account_id, m.industry, d.bar_id, {goal}, {placement}, {element}, \
           CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT) \
         FROM deployments d \
         JOIN sites s ON s.id = d.site_id \
         JOIN accounts m ON m.id = s.account_id \
         WHERE d.ended_at IS NULL AND s.account_id >= {p5} AND s.account_id <= {p6}"
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                from.timestamp().into(),
                to.timestamp().into(),
                (*members.start()).into(),
                (*members.end()).into(),
                (*members.start()).into(),
                (*members.end()).into(),
            ],
        ))
        .await?;
    rows.iter()
        .filter_map(|r| bar_counts(r).transpose())
        .collect()
}

/// One row of [`window_counts`]; `None` without a goal or placement it knows.
fn bar_counts(r: &QueryResult) -> Result<Option<BarCounts>, DbErr> {
    let goal = r.try_get_by_index::<Option<String>>(3)?;
    let placement = r.try_get_by_index::<Option<String>>(4)?;
    let element = r.try_get_by_index::<Option<String>>(5)?;
    let (Some(Ok(goal)), Some(Ok(placement)), Some(Ok(element))) = (
        goal.map(|g| Goal::try_from_value(&g)),
        placement.map(|p| Placement::try_from_value(&p)),
        element.map(|e| ElementType::try_from_value(&e)),
    ) else {
        return Ok(None);
    };
    // A modal or a takeover sits in the middle of the screen, however it was placed: one
    // group for all of them.
    let placement = if element.is_modal() {
        Placement::Top
    } else {
        placement
    };
    Ok(Some(BarCounts {
        account: AccountId(r.try_get_by_index(0)?),
        industry: r.try_get_by_index(1)?,
        bar: BarId(r.try_get_by_index(2)?),
        element,
        goal,
        placement,
        views: r.try_get_by_index(6)?,
        clicks: r.try_get_by_index(7)?,
        leads: r.try_get_by_index(8)?,
        dismissals: r.try_get_by_index(9)?,
    }))
}

/// The highest member id there is (0 without members).
pub(crate) async fn last_account(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    use super::entities::account;
    let id: Option<Option<AccountId>> = account::Entity::find()
        .select_only()
        .column_as(account::Column::Id.max(), "max")
        .into_tuple()
        .one(db)
        .await?;
    Ok(id.flatten().map_or(0, |m| m.0))
}

pub(crate) async fn insert_snapshot(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    window_days: i32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    accounts: i32,
) -> Result<benchmark_snapshot::Model, DbErr> {
    benchmark_snapshot::ActiveModel {
        computed_at: Set(now),
        window_days: Set(window_days),
        window_start: Set(from),
        window_end: Set(to),
        accounts: Set(accounts),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Rows per insert statement (each row binds about twenty values).
const ROWS_PER_INSERT: usize = 1000;

pub(crate) async fn insert_cells(
    db: &impl ConnectionTrait,
    cells: Vec<benchmark_cell::ActiveModel>,
) -> Result<(), DbErr> {
    let mut cells = cells;
    while !cells.is_empty() {
        let rest = cells.split_off(cells.len().min(ROWS_PER_INSERT));
        benchmark_cell::Entity::insert_many(std::mem::replace(&mut cells, rest))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

pub(crate) async fn insert_results(
    db: &impl ConnectionTrait,
    results: Vec<benchmark_result::ActiveModel>,
) -> Result<(), DbErr> {
    let mut results = results;
    while !results.is_empty() {
        let rest = results.split_off(results.len().min(ROWS_PER_INSERT));
        benchmark_result::Entity::insert_many(std::mem::replace(&mut results, rest))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The newest snapshots over a window, newest first.
pub(crate) async fn snapshots(
    db: &impl ConnectionTrait,
    window_days: i32,
    limit: u64,
) -> Result<Vec<benchmark_snapshot::Model>, DbErr> {
    benchmark_snapshot::Entity::find()
        .filter(benchmark_snapshot::Column::WindowDays.eq(window_days))
        .order_by_desc(benchmark_snapshot::Column::ComputedAt)
        .order_by_desc(benchmark_snapshot::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// A member's rows (the account's, or one bar's) in some snapshots.
pub(crate) async fn results(
    db: &impl ConnectionTrait,
    snapshot_ids: &[i64],
    member: AccountId,
    bar: Option<BarId>,
) -> Result<Vec<benchmark_result::Model>, DbErr> {
    let mut q = benchmark_result::Entity::find()
        .filter(benchmark_result::Column::SnapshotId.is_in(snapshot_ids.iter().copied()))
        .filter(benchmark_result::Column::AccountId.eq(member));
    q = match bar {
        Some(b) => q.filter(benchmark_result::Column::BarId.eq(b)),
        None => q.filter(benchmark_result::Column::BarId.is_null()),
    };
    q.order_by_asc(benchmark_result::Column::ElementType)
        .order_by_asc(benchmark_result::Column::Goal)
        .order_by_asc(benchmark_result::Column::Placement)
        .order_by_asc(benchmark_result::Column::Metric)
        .all(db)
        .await
}

pub(crate) async fn cells(
    db: &impl ConnectionTrait,
    snapshot: i64,
) -> Result<Vec<benchmark_cell::Model>, DbErr> {
    benchmark_cell::Entity::find()
        .filter(benchmark_cell::Column::SnapshotId.eq(snapshot))
        .all(db)
        .await
}

/// Drops snapshots computed before `before` (their cells and results go with them).
pub(crate) async fn purge_snapshots(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let r = benchmark_snapshot::Entity::delete_many()
        .filter(benchmark_snapshot::Column::ComputedAt.lt(before))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}
