//! Reading the counts: totals and hourly or daily series for a deployment, variant, bar
//! or site over a date range, the A/B comparison of a bar's variants, and a site's usage
//! this month. Unique visitors are counted once per visitor per UTC day (the salt that
//! recognises them changes daily), so a range's total is the sum of its days.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect};
use serde::Serialize;

use crate::db::Db;
use crate::db::entities::{deployment, site, variant};
use crate::error::AppError;
use crate::ingest::Counts;

/// Hourly series cover at most this many days; daily ones at most ten years.
pub const MAX_HOURLY_DAYS: i64 = 93;
pub const MAX_DAILY_DAYS: i64 = 3660;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Hour,
    Day,
}

impl Interval {
    fn seconds(self) -> i64 {
        match self {
            Interval::Hour => 3_600,
            Interval::Day => 86_400,
        }
    }
}

/// A half-open range `[from, to)` on bucket boundaries.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval: Interval,
}

fn floor(at: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let s = interval.seconds();
    Utc.timestamp_opt(at.timestamp().div_euclid(s) * s, 0)
        .single()
        .unwrap_or(at)
}

/// `2026-11-01` (a whole day) or an RFC 3339 time.
fn parse_time(raw: &str, field: &'static str, end: bool) -> Result<DateTime<Utc>, AppError> {
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        return Ok(Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            AppError::invalid(
                field,
                format!("`{raw}` is neither a date (2026-11-01) nor an RFC 3339 time"),
            )
        })
}

impl Range {
    /// From query parameters. `to` as a date includes that whole day. Defaults: the last
    /// 7 days by day, or the last 24 hours by hour.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        interval: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Range, AppError> {
        let interval = match interval.unwrap_or("day") {
            "day" => Interval::Day,
            "hour" => Interval::Hour,
            other => {
                return Err(AppError::invalid(
                    "interval",
                    format!("`{other}` is neither hour nor day"),
                ));
            }
        };
        let step = Duration::seconds(interval.seconds());
        let to = match to {
            Some(t) => parse_time(t, "to", true)?,
            None => floor(now, interval) + step,
        };
        let to = {
            let f = floor(to, interval);
            if f < to { f + step } else { f }
        };
        let from = match from {
            Some(f) => floor(parse_time(f, "from", false)?, interval),
            None => {
                to - if interval == Interval::Day {
                    Duration::days(7)
                } else {
                    Duration::hours(24)
                }
            }
        };
        if from >= to {
            return Err(AppError::invalid(
                "from",
                "the range must start before it ends",
            ));
        }
        let days = (to - from).num_days();
        let max = if interval == Interval::Hour {
            MAX_HOURLY_DAYS
        } else {
            MAX_DAILY_DAYS
        };
        if days > max {
            return Err(AppError::invalid(
                "from",
                format!("a {interval:?} series covers at most {max} days; ask for a shorter range"),
            ));
        }
        Ok(Range { from, to, interval })
    }
}

/// The numbers shown for anything: counts and click-through rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct Point {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub numbers: Numbers,
}

#[derive(Debug, Serialize)]
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

/// One row of `deployment_stats`.
struct Row {
    deployment_id: i64,
    hour: i64,
    counts: Counts,
}

async fn rows(db: &Db, deployments: &[i64], from: i64, to: i64) -> Result<Vec<Row>, AppError> {
    use crate::db::tables::DeploymentStats as DS;
    let mut out = Vec::new();
    for chunk in deployments.chunks(500) {
        let stmt = Query::select()
            .columns(DS::ROW)
            .from(DS::Table)
            .and_where(Expr::col(DS::DeploymentId).is_in(chunk.iter().copied()))
            .and_where(Expr::col(DS::Hour).gte(from))
            .and_where(Expr::col(DS::Hour).lt(to))
            .to_owned();
        for r in db.query_all(&stmt).await? {
            out.push(Row {
                deployment_id: r.try_get("", "deployment_id")?,
                hour: r.try_get("", "hour")?,
                counts: Counts {
                    views: r.try_get("", "views")?,
                    unique_visitors: r.try_get("", "unique_visitors")?,
                    clicks: r.try_get("", "clicks")?,
                    dismissals: r.try_get("", "dismissals")?,
                    leads: r.try_get("", "leads")?,
                },
            });
        }
    }
    Ok(out)
}

/// Totals and a zero-filled series over `range` for a set of deployments.
pub async fn report(db: &Db, deployments: &[i64], range: Range) -> Result<Report, AppError> {
    let rows = rows(
        db,
        deployments,
        range.from.timestamp(),
        range.to.timestamp(),
    )
    .await?;
    Ok(build_report(&rows, range))
}

fn build_report(rows: &[Row], range: Range) -> Report {
    let step = range.interval.seconds();
    let mut buckets: BTreeMap<i64, Counts> = BTreeMap::new();
    let mut t = range.from.timestamp();
    while t < range.to.timestamp() {
        buckets.insert(t, Counts::default());
        t += step;
    }
    let mut total = Counts::default();
    for r in rows {
        total.add(&r.counts);
        let bucket = r.hour.div_euclid(step) * step;
        buckets.entry(bucket).or_default().add(&r.counts);
    }
    Report {
        from: range.from,
        to: range.to,
        interval: range.interval,
        totals: total.into(),
        series: buckets
            .into_iter()
            .map(|(start, c)| Point {
                start: Utc.timestamp_opt(start, 0).single().unwrap_or_default(),
                numbers: c.into(),
            })
            .collect(),
    }
}

/// A variant's numbers in a bar's A/B comparison.
#[derive(Debug, Serialize)]
pub struct VariantNumbers {
    pub variant_id: i64,
    pub name: String,
    #[serde(flatten)]
    pub numbers: Numbers,
}

/// Which variant leads on click-through rate, and whether the lead is real: a
/// two-proportion z-test of the leader against the runner-up.
#[derive(Debug, Serialize, PartialEq)]
pub struct AbTest {
    pub leader: Option<i64>,
    pub runner_up: Option<i64>,
    /// The lead is significant at this confidence (two-sided).
    pub confidence: f64,
    pub significant: bool,
    pub z: Option<f64>,
    pub p_value: Option<f64>,
    /// Relative difference in CTR, leader over runner-up.
    pub lift: Option<f64>,
    pub note: String,
}

/// Clicks and views of two variants → (z, two-sided p-value).
pub fn two_proportion_test(c1: i64, v1: i64, c2: i64, v2: i64) -> Option<(f64, f64)> {
    if v1 <= 0 || v2 <= 0 {
        return None;
    }
    let (c1, v1, c2, v2) = (c1 as f64, v1 as f64, c2 as f64, v2 as f64);
    let pooled = (c1 + c2) / (v1 + v2);
    let se = (pooled * (1.0 - pooled) * (1.0 / v1 + 1.0 / v2)).sqrt();
    if se == 0.0 || !se.is_finite() {
        return None;
    }
    let z = (c1 / v1 - c2 / v2) / se;
    Some((z, libm::erfc(z.abs() / std::f64::consts::SQRT_2)))
}

pub fn ab_test(variants: &[VariantNumbers]) -> AbTest {
    const CONFIDENCE: f64 = 0.95;
    let mut ranked: Vec<&VariantNumbers> =
        variants.iter().filter(|v| v.numbers.views > 0).collect();
    ranked.sort_by(|a, b| {
        b.numbers
            .ctr
            .partial_cmp(&a.numbers.ctr)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let none = |note: &str| AbTest {
        leader: ranked.first().map(|v| v.variant_id),
        runner_up: None,
        confidence: CONFIDENCE,
        significant: false,
        z: None,
        p_value: None,
        lift: None,
        note: note.to_string(),
    };
    if variants.len() < 2 {
        return none("only one variant: nothing to compare");
    }
    let (Some(a), Some(b)) = (ranked.first(), ranked.get(1)) else {
        return none("fewer than two variants have views yet");
    };
    let (na, nb) = (&a.numbers, &b.numbers);
    let Some((z, p)) = two_proportion_test(na.clicks, na.views, nb.clicks, nb.views) else {
        return AbTest {
            runner_up: Some(b.variant_id),
            ..none("no clicks yet, or no difference to test")
        };
    };
    // The normal approximation behind the test needs a few clicks and non-clicks on each side.
    let enough = [na, nb]
        .iter()
        .all(|n| n.clicks >= 5 && n.views - n.clicks >= 5);
    let significant = enough && p < 1.0 - CONFIDENCE && na.ctr > nb.ctr;
    let note = if !enough {
        "too few clicks to tell yet (each variant needs at least 5 clicks and 5 views without one)"
            .to_string()
    } else if significant {
        format!(
            "{} leads, and the lead is significant at {:.0}%",
            a.name,
            CONFIDENCE * 100.0
        )
    } else {
        format!(
            "{} leads, but the lead is not significant at {:.0}%",
            a.name,
            CONFIDENCE * 100.0
        )
    };
    AbTest {
        leader: Some(a.variant_id),
        runner_up: Some(b.variant_id),
        confidence: CONFIDENCE,
        significant,
        z: Some(z),
        p_value: Some(p),
        lift: match (na.ctr, nb.ctr) {
            (Some(x), Some(y)) if y > 0.0 => Some(x / y - 1.0),
            _ => None,
        },
        note,
    }
}

/// A bar's report with each variant's numbers and the A/B comparison.
#[derive(Debug, Serialize)]
pub struct BarReport {
    #[serde(flatten)]
    pub report: Report,
    pub variants: Vec<VariantNumbers>,
    pub ab_test: AbTest,
}

pub async fn bar_report(db: &Db, bar_id: i64, range: Range) -> Result<BarReport, AppError> {
    let deployments: Vec<(i64, i64)> = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Id)
        .column(deployment::Column::VariantId)
        .filter(deployment::Column::BarId.eq(bar_id))
        .into_tuple()
        .all(db)
        .await?;
    let ids: Vec<i64> = deployments.iter().map(|(d, _)| *d).collect();
    let rows = rows(db, &ids, range.from.timestamp(), range.to.timestamp()).await?;
    let variant_of: HashMap<i64, i64> = deployments.into_iter().collect();
    let mut per_variant: BTreeMap<i64, Counts> = BTreeMap::new();
    for r in &rows {
        if let Some(v) = variant_of.get(&r.deployment_id) {
            per_variant.entry(*v).or_default().add(&r.counts);
        }
    }
    // Every variant the bar has or had, even those without counts yet.
    let all: Vec<variant::Model> = variant::Entity::find()
        .filter(variant::Column::BarId.eq(bar_id))
        .all(db)
        .await?;
    let variants: Vec<VariantNumbers> = all
        .into_iter()
        .filter(|v| v.deleted_at.is_none() || per_variant.contains_key(&v.id))
        .map(|v| VariantNumbers {
            numbers: per_variant.get(&v.id).copied().unwrap_or_default().into(),
            variant_id: v.id,
            name: v.name,
        })
        .collect();
    let ab_test = ab_test(&variants);
    Ok(BarReport {
        report: build_report(&rows, range),
        variants,
        ab_test,
    })
}

async fn deployment_ids(db: &Db, filter: Expr) -> Result<Vec<i64>, AppError> {
    Ok(deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Id)
        .filter(filter)
        .into_tuple()
        .all(db)
        .await?)
}

/// The member's deployment ids for what they asked about; `NotFound` for anything not theirs.
pub async fn deployments_of_site(
    db: &Db,
    member_id: i64,
    site_id: i64,
) -> Result<Vec<i64>, AppError> {
    site::Entity::find_by_id(site_id)
        .filter(site::Column::MemberId.eq(member_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    deployment_ids(db, deployment::Column::SiteId.eq(site_id)).await
}

pub async fn deployments_of_variant(
    db: &Db,
    member_id: i64,
    bar_id: i64,
    variant_id: i64,
) -> Result<Vec<i64>, AppError> {
    crate::db::sites::bar_of(db, member_id, bar_id)
        .await?
        .ok_or(AppError::NotFound)?;
    variant::Entity::find_by_id(variant_id)
        .filter(variant::Column::BarId.eq(bar_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    deployment_ids(db, deployment::Column::VariantId.eq(variant_id)).await
}

pub async fn owned_deployment(
    db: &Db,
    member_id: i64,
    deployment_id: i64,
) -> Result<deployment::Model, AppError> {
    deployment::Entity::find_by_id(deployment_id)
        .join(JoinType::InnerJoin, deployment_site())
        .filter(site::Column::MemberId.eq(member_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

fn deployment_site() -> sea_orm::RelationDef {
    deployment::Entity::belongs_to(site::Entity)
        .from(deployment::Column::SiteId)
        .to(site::Column::Id)
        .into()
}

/// Views this calendar month (UTC), for plan limits and billing.
#[derive(Debug, Serialize)]
pub struct Usage {
    pub month: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub views: i64,
}

pub async fn usage(db: &Db, deployments: &[i64], now: DateTime<Utc>) -> Result<Usage, AppError> {
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let end = if now.month() == 12 {
        Utc.with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0)
    } else {
        Utc.with_ymd_and_hms(now.year(), now.month() + 1, 1, 0, 0, 0)
    }
    .single()
    .unwrap_or(now);
    let rows = rows(db, deployments, start.timestamp(), end.timestamp()).await?;
    Ok(Usage {
        month: start.format("%Y-%m").to_string(),
        period_start: start,
        period_end: end,
        views: rows.iter().map(|r| r.counts.views).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_default_to_the_last_week_by_day() {
        let r = Range::parse(None, None, None, at("2026-11-22T13:20:00Z")).unwrap();
        assert_eq!(r.from, at("2026-11-16T00:00:00Z"));
        assert_eq!(r.to, at("2026-11-23T00:00:00Z"));
        let r = Range::parse(
            Some("2026-11-01"),
            Some("2026-11-01"),
            Some("hour"),
            at("2026-11-22T13:20:00Z"),
        )
        .unwrap();
        assert_eq!(
            (r.from, r.to),
            (at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z"))
        );
        assert!(Range::parse(Some("2026-11-03"), Some("2026-11-01"), None, Utc::now()).is_err());
        assert!(Range::parse(Some("yesterday"), None, None, Utc::now()).is_err());
        assert!(Range::parse(None, None, Some("week"), Utc::now()).is_err());
        assert!(
            Range::parse(
                Some("2020-01-01"),
                Some("2026-01-01"),
                Some("hour"),
                Utc::now()
            )
            .is_err()
        );
    }

    #[test]
    fn series_are_zero_filled_and_sum_to_the_totals() {
        let range = Range::parse(
            Some("2026-11-01"),
            Some("2026-11-03"),
            Some("day"),
            Utc::now(),
        )
        .unwrap();
        let h = at("2026-11-02T05:00:00Z").timestamp();
        let rows = vec![
            Row {
                deployment_id: 1,
                hour: h,
                counts: Counts {
                    views: 10,
                    clicks: 2,
                    ..Default::default()
                },
            },
            Row {
                deployment_id: 2,
                hour: h + 3600,
                counts: Counts {
                    views: 30,
                    clicks: 1,
                    ..Default::default()
                },
            },
        ];
        let r = build_report(&rows, range);
        assert_eq!(r.series.len(), 3);
        assert_eq!(r.series[0].numbers.views, 0);
        assert_eq!(r.series[0].numbers.ctr, None);
        assert_eq!(r.series[1].numbers.views, 40);
        assert_eq!(r.totals.clicks, 3);
        assert_eq!(r.totals.ctr, Some(3.0 / 40.0));
        assert!(
            r.csv()
                .lines()
                .nth(2)
                .unwrap()
                .starts_with("2026-11-02T00:00:00Z,40,0,3,0,0,0.075")
        );
    }

    #[test]
    fn the_z_test_matches_a_worked_example() {
        // 200/1000 against 150/1000: z ≈ 2.94, p ≈ 0.0033.
        let (z, p) = two_proportion_test(200, 1000, 150, 1000).unwrap();
        assert!((z - 2.936).abs() < 0.01, "{z}");
        assert!((p - 0.00332).abs() < 0.0002, "{p}");
        let (z, p) = two_proportion_test(52, 1000, 50, 1000).unwrap();
        assert!(z.abs() < 0.5 && p > 0.5);
        assert!(two_proportion_test(0, 0, 1, 10).is_none());
    }

    #[test]
    fn the_ab_test_names_a_significant_leader_only_with_enough_data() {
        let v = |id, clicks, views| VariantNumbers {
            variant_id: id,
            name: format!("V{id}"),
            numbers: Counts {
                views,
                clicks,
                ..Default::default()
            }
            .into(),
        };
        let clear = ab_test(&[v(1, 150, 1000), v(2, 200, 1000)]);
        assert_eq!(
            (clear.leader, clear.runner_up, clear.significant),
            (Some(2), Some(1), true)
        );
        assert!(clear.lift.unwrap() > 0.33 && clear.lift.unwrap() < 0.34);
        let close = ab_test(&[v(1, 50, 1000), v(2, 52, 1000)]);
        assert_eq!((close.leader, close.significant), (Some(2), false));
        let tiny = ab_test(&[v(1, 3, 10), v(2, 0, 10)]);
        assert!(!tiny.significant && tiny.note.contains("too few"));
        let single = ab_test(&[v(1, 3, 10)]);
        assert_eq!((single.leader, single.significant), (Some(1), false));
    }
}
