//! Totals and zero-filled series over a range, summed by the database (`GROUP BY`), for
//! anything from one deployment to a member's whole account.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use serde::Serialize;
use utoipa::ToSchema;

use super::range::{Interval, Range};
use crate::db::Db;
use crate::db::entities::{deployment, site};
use crate::domain::{AccountId, BarId, Counts, DeploymentId, SiteId, VariantId};
use crate::error::{Error, Result};

/// What a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Deployment(DeploymentId),
    Variant(VariantId),
    Bar(BarId),
    Site(SiteId),
    /// Every site of an account.
    Account(AccountId),
}

impl Scope {
    /// The deployments in scope, with their variants. Read first, so the counter queries
    /// name their deployments outright and every backend looks them up by key, whatever
    /// its planner thinks of a subquery.
    pub(super) async fn deployments(
        self,
        db: &impl ConnectionTrait,
    ) -> Result<Vec<(DeploymentId, VariantId)>> {
        let mut out = Vec::new();
        for row in db.query_all(&self.select()).await? {
            out.push((row.try_get_by_index(0)?, row.try_get_by_index(1)?));
        }
        Ok(out)
    }

    fn select(self) -> SelectStatement {
        let mut q = Query::select();
        q.column(deployment::Column::Id)
            .column(deployment::Column::VariantId)
            .from(deployment::Entity);
        match self {
            Scope::Deployment(id) => q.and_where(Expr::col(deployment::Column::Id).eq(id)),
            Scope::Variant(id) => q.and_where(Expr::col(deployment::Column::VariantId).eq(id)),
            Scope::Bar(id) => q.and_where(Expr::col(deployment::Column::BarId).eq(id)),
            Scope::Site(id) => q.and_where(Expr::col(deployment::Column::SiteId).eq(id)),
            Scope::Account(id) => q.and_where(
                Expr::col(deployment::Column::SiteId).in_subquery(
                    Query::select()
                        .column(site::Column::Id)
                        .from(site::Entity)
                        .and_where(Expr::col(site::Column::AccountId).eq(id))
                        .to_owned(),
                ),
            ),
        };
        q
    }
}

/// The numbers shown for anything: counts and click-through rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Numbers {
    pub views: i64,
    pub unique_visitors: i64,
    pub clicks: i64,
    pub dismissals: i64,
    pub leads: i64,
    /// Clicks per view; `null` without views.
    pub ctr: Option<f64>,
}

impl From<Counts> for Numbers {
    fn from(c: Counts) -> Self {
        Numbers {
            views: c.views,
            unique_visitors: c.unique_visitors,
            clicks: c.clicks,
            dismissals: c.dismissals,
            leads: c.leads,
            ctr: (c.views > 0).then(|| c.clicks as f64 / c.views as f64),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Point {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub numbers: Numbers,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval: Interval,
    pub totals: Numbers,
    pub series: Vec<Point>,
    /// With `compare=previous`: the period of the same length before (by whole weeks
    /// for a series by day, so weekdays line up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Previous {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub totals: Numbers,
    pub series: Vec<Point>,
}

impl From<Report> for Previous {
    fn from(r: Report) -> Self {
        Previous {
            from: r.from,
            to: r.to,
            totals: r.totals,
            series: r.series,
        }
    }
}

impl Report {
    pub fn csv(&self) -> String {
        let mut out = String::from("start,views,unique_visitors,clicks,dismissals,leads,ctr\n");
        for p in &self.series {
            let n = &p.numbers;
            out.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                p.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                n.views,
                n.unique_visitors,
                n.clicks,
                n.dismissals,
                n.leads,
                n.ctr.map(|c| format!("{c:.6}")).unwrap_or_default()
            ));
        }
        out
    }
}

/// Where the counts of a range come from: the daily totals for a series by day (a year
/// is 365 rows per deployment), the hourly counters for one by hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Hourly,
    Daily,
}

impl Source {
    pub(super) fn of(interval: Interval) -> Source {
        match interval {
            Interval::Hour => Source::Hourly,
            Interval::Day => Source::Daily,
        }
    }

    /// The daily totals when `[from, to)` is whole days.
    fn spanning(from: DateTime<Utc>, to: DateTime<Utc>) -> Source {
        if from.timestamp() % 86_400 == 0 && to.timestamp() % 86_400 == 0 {
            Source::Daily
        } else {
            Source::Hourly
        }
    }

    fn table(self) -> Alias {
        Alias::new(match self {
            Source::Hourly => "deployment_stats",
            Source::Daily => "deployment_stats_daily",
        })
    }

    /// The start of the row's hour or day, in unix seconds.
    pub(super) fn time(self) -> (Alias, Alias) {
        let col = match self {
            Source::Hourly => "hour",
            Source::Daily => "day",
        };
        (self.table(), Alias::new(col))
    }
}

pub(super) const COUNT_COLUMNS: [&str; 5] =
    ["views", "unique_visitors", "clicks", "dismissals", "leads"];

/// `SUM(col)` of every count, each as a 64-bit integer on both backends (PostgreSQL sums
/// bigints as numeric).
pub(super) fn select_sums(q: &mut SelectStatement, source: Source) {
    for name in COUNT_COLUMNS {
        q.expr_as(
            Expr::col((source.table(), Alias::new(name)))
                .sum()
                .cast_as("bigint"),
            Alias::new(name),
        );
    }
}

/// The sums of a row whose first `at` columns are something else (a bucket, a variant).
/// Read by position: a series can be thousands of rows.
pub(super) fn counts(row: &QueryResult, at: usize) -> Result<Counts, DbErr> {
    let get = |i: usize| -> Result<i64, DbErr> {
        Ok(row.try_get_by_index::<Option<i64>>(at + i)?.unwrap_or(0))
    };
    Ok(Counts {
        views: get(0)?,
        unique_visitors: get(1)?,
        clicks: get(2)?,
        dismissals: get(3)?,
        leads: get(4)?,
    })
}

/// Deployments per counter query: well under every backend's limit on bound values.
pub(super) const IDS_PER_QUERY: usize = 500;

/// Count rows of some deployments within `[from, to)` (unix seconds).
pub(super) fn within(
    deployments: &[DeploymentId],
    source: Source,
    from: i64,
    to: i64,
) -> SelectStatement {
    let time = source.time();
    let mut q = Query::select();
    q.from(source.table())
        .and_where(
            Expr::col((source.table(), Alias::new("deployment_id")))
                .is_in(deployments.iter().copied()),
        )
        .and_where(Expr::col(time.clone()).gte(from))
        .and_where(Expr::col(time).lt(to));
    q
}

/// Buckets of a range, zero-filled, and their totals.
fn series(
    range: Range,
    rows: impl IntoIterator<Item = (i64, Counts)>,
) -> Result<(Numbers, Vec<Point>)> {
    let step = range.interval.seconds();
    let (from, to) = (range.from.timestamp(), range.to.timestamp());
    let mut buckets: BTreeMap<i64, Counts> = BTreeMap::new();
    let mut t = from;
    while t < to {
        buckets.insert(t, Counts::default());
        t += step;
    }
    let mut totals = Counts::default();
    for (start, c) in rows {
        totals.add(&c);
        buckets.entry(start).or_default().add(&c);
    }
    let points = buckets
        .into_iter()
        .map(|(start, c)| {
            Ok(Point {
                start: DateTime::from_timestamp(start, 0).ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!("a bucket start out of range: {start}"))
                })?,
                numbers: c.into(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((totals.into(), points))
}

/// Totals and a zero-filled series over `range`.
pub async fn report(db: &Db, scope: Scope, range: Range) -> Result<Report> {
    report_compared(db, scope, range, false).await
}

/// The report of `scope`, with the previous period's when `compare` is set.
pub async fn report_compared(db: &Db, scope: Scope, range: Range, compare: bool) -> Result<Report> {
    let ids: Vec<DeploymentId> = scope
        .deployments(db)
        .await?
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    let mut report = report_of(db, &ids, range).await?;
    if compare {
        report.previous = Some(report_of(db, &ids, range.previous()).await?.into());
    }
    Ok(report)
}

/// The report of these deployments.
pub(super) async fn report_of(db: &Db, ids: &[DeploymentId], range: Range) -> Result<Report> {
    let source = Source::of(range.interval);
    let mut rows = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut q = within(chunk, source, range.from.timestamp(), range.to.timestamp());
        q.expr_as(Expr::col(source.time()), Alias::new("bucket"));
        select_sums(&mut q, source);
        q.add_group_by([Expr::col(source.time())]);
        for row in db.query_all(&q).await? {
            rows.push((row.try_get_by_index::<i64>(0)?, counts(&row, 1)?));
        }
    }
    let (totals, series) = series(range, rows)?;
    Ok(Report {
        from: range.from,
        to: range.to,
        interval: range.interval,
        totals,
        series,
        previous: None,
    })
}

/// Totals of `scope` within `[from, to)`.
pub async fn totals(
    db: &impl ConnectionTrait,
    scope: Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Counts> {
    let source = Source::spanning(from, to);
    let mut total = Counts::default();
    let ids: Vec<DeploymentId> = scope
        .deployments(db)
        .await?
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut q = within(chunk, source, from.timestamp(), to.timestamp());
        select_sums(&mut q, source);
        if let Some(row) = db.query_one(&q).await? {
            total.add(&counts(&row, 0)?);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    #[test]
    fn a_series_by_day_reads_the_daily_totals() {
        let mut q = within(
            &[DeploymentId(3), DeploymentId(4)],
            Source::Daily,
            0,
            86_400,
        );
        q.expr_as(Expr::col(Source::Daily.time()), Alias::new("bucket"));
        select_sums(&mut q, Source::Daily);
        q.add_group_by([Expr::col(Source::Daily.time())]);
        let pg = q.to_string(PostgresQueryBuilder);
        assert!(pg.contains(r#"FROM "deployment_stats_daily""#), "{pg}");
        assert!(
            pg.contains(r#"GROUP BY "deployment_stats_daily"."day""#),
            "{pg}"
        );
        assert!(
            pg.contains(r#"CAST(SUM("deployment_stats_daily"."views") AS bigint)"#),
            "{pg}"
        );
        assert!(pg.contains(r#""deployment_id" IN (3, 4)"#), "{pg}");
        let lite = q.to_string(SqliteQueryBuilder);
        assert!(lite.contains("GROUP BY"), "{lite}");
    }
}
