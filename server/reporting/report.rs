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
use crate::db::tables::{DeploymentStats as DS, Deployments, Sites};
use crate::domain::{BarId, Counts, DeploymentId, MemberId, SiteId, VariantId};
use crate::error::{Error, Result};

/// What a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Deployment(DeploymentId),
    Variant(VariantId),
    Bar(BarId),
    Site(SiteId),
    /// Every site of a member.
    Member(MemberId),
}

impl Scope {
    /// The ids of the deployments in scope, as a subquery.
    pub(super) fn deployments(self) -> SelectStatement {
        let mut q = Query::select();
        q.column(Deployments::Id).from(Deployments::Table);
        match self {
            Scope::Deployment(id) => q.and_where(Expr::col(Deployments::Id).eq(id)),
            Scope::Variant(id) => q.and_where(Expr::col(Deployments::VariantId).eq(id)),
            Scope::Bar(id) => q.and_where(Expr::col(Deployments::BarId).eq(id)),
            Scope::Site(id) => q.and_where(Expr::col(Deployments::SiteId).eq(id)),
            Scope::Member(id) => q.and_where(
                Expr::col(Deployments::SiteId).in_subquery(
                    Query::select()
                        .column(Sites::Id)
                        .from(Sites::Table)
                        .and_where(Expr::col(Sites::MemberId).eq(id))
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

/// `SUM(col)` as a 64-bit integer on both backends (PostgreSQL sums bigints as numeric).
pub(super) fn sum(col: DS) -> Expr {
    Expr::col((DS::Table, col)).sum().cast_as("bigint")
}

pub(super) fn select_sums(q: &mut SelectStatement) {
    for (col, name) in [
        (DS::Views, "views"),
        (DS::UniqueVisitors, "unique_visitors"),
        (DS::Clicks, "clicks"),
        (DS::Dismissals, "dismissals"),
        (DS::Leads, "leads"),
    ] {
        q.expr_as(sum(col), Alias::new(name));
    }
}

pub(super) fn counts(row: &QueryResult) -> Result<Counts, DbErr> {
    let get = |name: &str| -> Result<i64, DbErr> {
        Ok(row.try_get::<Option<i64>>("", name)?.unwrap_or(0))
    };
    Ok(Counts {
        views: get("views")?,
        unique_visitors: get("unique_visitors")?,
        clicks: get("clicks")?,
        dismissals: get("dismissals")?,
        leads: get("leads")?,
    })
}

/// Counter rows of `scope` within `[from, to)` (unix seconds).
pub(super) fn within(scope: Scope, from: i64, to: i64) -> SelectStatement {
    let mut q = Query::select();
    q.from(DS::Table)
        .and_where(Expr::col((DS::Table, DS::DeploymentId)).in_subquery(scope.deployments()))
        .and_where(Expr::col((DS::Table, DS::Hour)).gte(from))
        .and_where(Expr::col((DS::Table, DS::Hour)).lt(to));
    q
}

/// Totals and a zero-filled series over `range`.
pub async fn report(db: &Db, scope: Scope, range: Range) -> Result<Report> {
    let step = range.interval.seconds();
    let (from, to) = (range.from.timestamp(), range.to.timestamp());
    // The bucket's start, with the step written into the SQL: a bound parameter would
    // make PostgreSQL see the SELECT and GROUP BY expressions as different.
    let bucket = Expr::cust(format!("(hour / {step}) * {step}"));
    let mut q = within(scope, from, to);
    q.expr_as(bucket, Alias::new("bucket"));
    select_sums(&mut q);
    q.add_group_by([Expr::col(Alias::new("bucket"))]);
    let mut buckets: BTreeMap<i64, Counts> = BTreeMap::new();
    let mut t = from;
    while t < to {
        buckets.insert(t, Counts::default());
        t += step;
    }
    let mut totals = Counts::default();
    for row in db.query_all(&q).await? {
        let start: i64 = row.try_get("", "bucket")?;
        let c = counts(&row)?;
        totals.add(&c);
        buckets.entry(start).or_default().add(&c);
    }
    let series = buckets
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
    Ok(Report {
        from: range.from,
        to: range.to,
        interval: range.interval,
        totals: totals.into(),
        series,
    })
}

/// Totals of `scope` within `[from, to)`.
pub async fn totals(
    db: &impl ConnectionTrait,
    scope: Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Counts> {
    let mut q = within(scope, from.timestamp(), to.timestamp());
    select_sums(&mut q);
    match db.query_one(&q).await? {
        Some(row) => Ok(counts(&row)?),
        None => Ok(Counts::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    #[test]
    fn series_group_by_the_bucket_alias_on_both_backends() {
        let mut q = within(Scope::Bar(BarId(3)), 0, 86_400);
        q.expr_as(Expr::cust("(hour / 3600) * 3600"), Alias::new("bucket"));
        select_sums(&mut q);
        q.add_group_by([Expr::col(Alias::new("bucket"))]);
        let pg = q.to_string(PostgresQueryBuilder);
        assert!(pg.contains(r#"GROUP BY "bucket""#), "{pg}");
        assert!(
            pg.contains(r#"CAST(SUM("deployment_stats"."views") AS bigint)"#),
            "{pg}"
        );
        assert!(
            pg.contains(r#"SELECT "id" FROM "deployments" WHERE "bar_id" = 3"#),
            "{pg}"
        );
        let lite = q.to_string(SqliteQueryBuilder);
        assert!(lite.contains(r#"GROUP BY "bucket""#), "{lite}");
    }
}
