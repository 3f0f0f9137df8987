//! Industry benchmarks: where a member's click-through rate (and, for email bars, lead
//! and dismissal rates) stands among comparable accounts. The `benchmarks` job computes
//! dated snapshots over a rolling window; the API only reads them. docs/industry-benchmarks.md
//! says in a member's words how the numbers are computed and protected.
//!
//! A cell is industry × goal × placement; the wider groups are every industry (goal ×
//! placement) and every account (goal). An account enters a cell with at least 500 views
//! in it. A member is compared with the *other* accounts only (leave-one-out), and a
//! distribution is shown only when at least `min_accounts` accounts stand behind it and
//! no one of them holds more than half of its views, no two more than three quarters.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use sea_orm::ActiveValue::Set;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::benchmarks as q;
use crate::db::entities::{benchmark_cell, benchmark_result, benchmark_snapshot};
use crate::domain::{BarId, MemberId};
use crate::error::{Error, Result};

pub mod stats;

use stats::{Cell, Entry, Quantiles, withheld};

/// An account enters a cell with at least this many views in it over the window.
pub const MIN_VIEWS: i64 = 500;
/// Snapshots are kept this long (the trend reads eight weeks back).
const KEEP_DAYS: i64 = 70;
/// The trend: one snapshot per week, this many weeks.
const TREND_WEEKS: usize = 8;
/// Result rows written per insert while computing.
const FLUSH_EVERY: usize = 1000;
/// Members whose counts are read per query while computing.
const MEMBERS_PER_READ: i64 = 2000;

/// How benchmarks are computed and protected (from the environment).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkSettings {
    /// Rolling windows, in days, computed each run; the first is the default.
    pub windows: Vec<i32>,
    /// Accounts a distribution needs before it is shown (never below 5).
    pub min_accounts: usize,
    /// Laplace noise on published quantiles, when set.
    pub epsilon: Option<f64>,
}

impl Default for BenchmarkSettings {
    fn default() -> Self {
        BenchmarkSettings {
            windows: vec![30],
            min_accounts: 10,
            epsilon: None,
        }
    }
}

/// The rates compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Metric {
    /// Clicks ÷ views, for every goal.
    Ctr,
    /// Leads ÷ views, for email bars.
    LeadRate,
    /// Dismissals ÷ views, for email bars.
    DismissRate,
}

impl Metric {
    fn as_str(self) -> &'static str {
        match self {
            Metric::Ctr => "ctr",
            Metric::LeadRate => "lead_rate",
            Metric::DismissRate => "dismiss_rate",
        }
    }

    fn of_goal(goal: &str) -> &'static [Metric] {
        if goal == "email" {
            &[Metric::Ctr, Metric::LeadRate, Metric::DismissRate]
        } else {
            &[Metric::Ctr]
        }
    }
}

/// The narrowest to the widest group a member is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Level {
    Industry,
    AllIndustries,
    All,
}

impl Level {
    const ORDER: [Level; 3] = [Level::Industry, Level::AllIndustries, Level::All];

    fn as_str(self) -> &'static str {
        match self {
            Level::Industry => "industry",
            Level::AllIndustries => "all_industries",
            Level::All => "all",
        }
    }

    /// A cell's key at this level: (industry, goal, placement), with what the level
    /// leaves out as `None`.
    fn key(self, industry: &str, goal: &str, placement: &str) -> CellKey {
        match self {
            Level::Industry => (
                self,
                Some(industry.to_string()),
                goal.to_string(),
                Some(placement.to_string()),
            ),
            Level::AllIndustries => (self, None, goal.to_string(), Some(placement.to_string())),
            Level::All => (self, None, goal.to_string(), None),
        }
    }

    fn describe(self, industry: &str, goal: &str, placement: &str) -> String {
        match self {
            Level::Industry => format!("{industry} × {goal} × {placement}"),
            Level::AllIndustries => format!("all industries × {goal} × {placement}"),
            Level::All => format!("every account × {goal}"),
        }
    }
}

type CellKey = (Level, Option<String>, String, Option<String>);

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    views: i64,
    clicks: i64,
    leads: i64,
    dismissals: i64,
}

impl Counts {
    fn add(&mut self, other: &q::BarCounts) {
        self.views += other.views;
        self.clicks += other.clicks;
        self.leads += other.leads;
        self.dismissals += other.dismissals;
    }

    fn rate(&self, m: Metric) -> Option<f64> {
        if self.views <= 0 {
            return None;
        }
        let n = match m {
            Metric::Ctr => self.clicks,
            Metric::LeadRate => self.leads,
            Metric::DismissRate => self.dismissals,
        };
        Some((n as f64 / self.views as f64).clamp(0.0, 1.0))
    }
}

/// The industry an account is grouped by; members who picked none form their own.
fn industry_of(i: &Option<String>) -> String {
    i.clone().unwrap_or_else(|| "unspecified".into())
}

#[derive(Clone)]
pub struct Benchmarks {
    db: Db,
    clock: Clock,
    settings: BenchmarkSettings,
}

/// One group of a member (or a bar) beside its comparison.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    pub goal: String,
    pub placement: String,
    /// `ctr` (clicks ÷ views), or for email bars also `lead_rate` and `dismiss_rate`.
    pub metric: String,
    /// Your rate over the window (`null` without views).
    pub own_rate: Option<f64>,
    pub own_views: i64,
    /// `industry`, `all_industries` or `all`; `null` when nothing could be shown.
    pub compared_with: Option<String>,
    /// The industry compared with, when `compared_with` is `industry`.
    pub industry: Option<String>,
    /// How many other accounts the distribution is made of.
    pub accounts: i32,
    pub p10: Option<f64>,
    pub p25: Option<f64>,
    pub median: Option<f64>,
    pub p75: Option<f64>,
    pub p90: Option<f64>,
    /// Of the other accounts, the share with a lower rate (ties count half), in percent.
    pub percentile: Option<f64>,
    /// Your percentile in the newest snapshot of each of the last eight weeks, oldest
    /// first.
    pub trend: Vec<TrendPoint>,
    /// Why a narrower group (or every group) could not be shown.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendPoint {
    pub computed_at: DateTime<Utc>,
    pub percentile: Option<f64>,
}

/// `GET /api/v1/benchmarks`
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberBenchmarks {
    /// `30d`
    pub window: String,
    pub computed_at: Option<DateTime<Utc>>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub groups: Vec<Group>,
    /// Why there are no groups, when there are none.
    pub note: Option<String>,
}

/// What one computation did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Computed {
    pub snapshot_id: i64,
    pub window_days: i32,
    pub accounts: i32,
    pub cells: usize,
    pub published_cells: usize,
    pub results: usize,
}

fn quantile_fields(q: Option<Quantiles>) -> [Option<f64>; 5] {
    match q {
        Some(q) => [
            Some(q.p10),
            Some(q.p25),
            Some(q.median),
            Some(q.p75),
            Some(q.p90),
        ],
        None => [None; 5],
    }
}

impl Benchmarks {
    pub fn new(db: Db, clock: Clock, settings: BenchmarkSettings) -> Benchmarks {
        Benchmarks {
            db,
            clock,
            settings,
        }
    }

    pub fn windows(&self) -> &[i32] {
        &self.settings.windows
    }

    /// The `benchmarks` job: one snapshot per configured window, and old snapshots go.
    pub async fn compute(&self) -> anyhow::Result<Vec<Computed>> {
        let mut out = Vec::new();
        for &days in &self.settings.windows {
            out.push(self.compute_window(days).await?);
        }
        let purged =
            q::purge_snapshots(&self.db, self.clock.now() - Duration::days(KEEP_DAYS)).await?;
        if purged > 0 {
            tracing::info!(purged, "old benchmark snapshots deleted");
        }
        Ok(out)
    }

    async fn compute_window(&self, days: i32) -> anyhow::Result<Computed> {
        let now = self.clock.now();
        let today = Utc.from_utc_datetime(&now.date_naive().and_time(NaiveTime::MIN));
        let to = today + Duration::days(1);
        let from = to - Duration::days(i64::from(days));
        // Accounts per (member, goal, placement), and bars per (bar, goal, placement),
        // read a range of members at a time so few rows are held at once.
        let mut accounts: BTreeMap<(MemberId, String, String), (String, Counts)> = BTreeMap::new();
        let mut bars: BTreeMap<(BarId, String, String), (MemberId, Counts)> = BTreeMap::new();
        let last = q::last_member(&self.db).await?;
        let mut first = 1;
        while first <= last {
            let end = first + MEMBERS_PER_READ - 1;
            for r in q::window_counts(&self.db, from, to, first..=end).await? {
                if r.goal.is_empty() || r.placement.is_empty() {
                    continue;
                }
                let a = accounts
                    .entry((r.member, r.goal.clone(), r.placement.clone()))
                    .or_insert_with(|| (industry_of(&r.industry), Counts::default()));
                a.1.add(&r);
                bars.entry((r.bar, r.goal.clone(), r.placement.clone()))
                    .or_insert((r.member, Counts::default()))
                    .1
                    .add(&r);
            }
            first = end + 1;
        }
        let with_views: std::collections::HashSet<MemberId> = accounts
            .iter()
            .filter(|(_, (_, c))| c.views > 0)
            .map(|((m, _, _), _)| *m)
            .collect();

        // Each cell's entries: accounts with enough views, their rate and their views.
        let mut entries: HashMap<(CellKey, Metric), Vec<Entry>> = HashMap::new();
        for ((_, goal, placement), (industry, c)) in &accounts {
            if c.views < MIN_VIEWS {
                continue;
            }
            for &m in Metric::of_goal(goal) {
                let Some(rate) = c.rate(m) else { continue };
                let e = Entry {
                    rate,
                    views: c.views as u64,
                };
                for level in Level::ORDER {
                    entries
                        .entry((level.key(industry, goal, placement), m))
                        .or_default()
                        .push(e);
                }
            }
        }
        let cells: HashMap<(CellKey, Metric), Cell> = entries
            .into_iter()
            .map(|(k, v)| (k, Cell::new(v)))
            .collect();

        let k = self.settings.min_accounts;
        // A seeded generator of its own: the thread's cannot be held across an await.
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_rng(&mut rand::rng());
        let mut noise = |q: Option<Quantiles>, n: usize| match (q, self.settings.epsilon) {
            (Some(q), Some(eps)) => Some(stats::with_noise(q, eps, n, &mut rng)),
            (q, _) => q,
        };

        let txn = crate::db::begin(&self.db).await?;
        let snapshot = q::insert_snapshot(
            &txn,
            now,
            days,
            from,
            to,
            i32::try_from(with_views.len()).unwrap_or(i32::MAX),
        )
        .await?;

        // The cells, over every account in them, for members outside them.
        let mut cell_rows = Vec::with_capacity(cells.len());
        let mut published_cells = 0;
        for (((level, industry, goal, placement), m), cell) in &cells {
            let why = withheld(cell.count(None), cell.dominance(None), k);
            let qs = if why.is_none() {
                published_cells += 1;
                noise(cell.quantiles(None), cell.len())
            } else {
                None
            };
            let [p10, p25, median, p75, p90] = quantile_fields(qs);
            cell_rows.push(benchmark_cell::ActiveModel {
                snapshot_id: Set(snapshot.id),
                level: Set(level.as_str().into()),
                industry: Set(industry.clone()),
                goal: Set(goal.clone()),
                placement: Set(placement.clone()),
                metric: Set(m.as_str().into()),
                accounts: Set(i32::try_from(cell.len()).unwrap_or(i32::MAX)),
                p10: Set(p10),
                p25: Set(p25),
                median: Set(median),
                p75: Set(p75),
                p90: Set(p90),
                published: Set(why.is_none()),
                reason: Set(why.map(|w| w.reason())),
                ..Default::default()
            });
        }
        let cells_total = cell_rows.len();
        q::insert_cells(&txn, cell_rows).await?;

        // Each member's groups: the first group, narrowest first, that may be shown
        // without them in it.
        struct Chosen {
            level: Level,
            key: (CellKey, Metric),
            skip: Option<usize>,
            quantiles: Option<Quantiles>,
        }
        // Rows are written a thousand at a time rather than held: 10,000 accounts make
        // about 90,000 of them.
        let mut results = Vec::with_capacity(FLUSH_EVERY);
        let mut results_total = 0;
        let mut chosen: HashMap<(MemberId, String, String, Metric), Chosen> = HashMap::new();
        for ((member, goal, placement), (industry, c)) in &accounts {
            for &m in Metric::of_goal(goal) {
                let own = c.rate(m);
                let mut reasons = Vec::new();
                let mut picked = None;
                for level in Level::ORDER {
                    let key = (level.key(industry, goal, placement), m);
                    let Some(cell) = cells.get(&key) else {
                        reasons.push(format!(
                            "{}: no account has {MIN_VIEWS} views yet",
                            level.describe(industry, goal, placement)
                        ));
                        continue;
                    };
                    // Leave the member out of their own benchmark.
                    let skip = match own {
                        Some(rate) if c.views >= MIN_VIEWS => cell.position(Entry {
                            rate,
                            views: c.views as u64,
                        }),
                        _ => None,
                    };
                    match withheld(cell.count(skip), cell.dominance(skip), k) {
                        Some(w) => reasons.push(format!(
                            "{}: {}",
                            level.describe(industry, goal, placement),
                            w.reason()
                        )),
                        None => {
                            picked = Some(Chosen {
                                level,
                                key: key.clone(),
                                skip,
                                quantiles: noise(cell.quantiles(skip), cell.count(skip)),
                            });
                            break;
                        }
                    }
                }
                let cell = picked.as_ref().and_then(|p| cells.get(&p.key));
                let [p10, p25, median, p75, p90] =
                    quantile_fields(picked.as_ref().and_then(|p| p.quantiles));
                let percentile = match (own, cell, &picked) {
                    (Some(rate), Some(cell), Some(p)) => cell.percentile(rate, p.skip),
                    _ => None,
                };
                results.push(benchmark_result::ActiveModel {
                    snapshot_id: Set(snapshot.id),
                    member_id: Set(*member),
                    bar_id: Set(None),
                    goal: Set(goal.clone()),
                    placement: Set(placement.clone()),
                    metric: Set(m.as_str().into()),
                    own_rate: Set(own),
                    own_views: Set(c.views),
                    compared_with: Set(picked.as_ref().map(|p| p.level.as_str().into())),
                    industry: Set(picked
                        .as_ref()
                        .filter(|p| p.level == Level::Industry)
                        .map(|_| industry.clone())),
                    accounts: Set(cell
                        .zip(picked.as_ref())
                        .map(|(cell, p)| i32::try_from(cell.count(p.skip)).unwrap_or(i32::MAX))
                        .unwrap_or(0)),
                    p10: Set(p10),
                    p25: Set(p25),
                    median: Set(median),
                    p75: Set(p75),
                    p90: Set(p90),
                    percentile: Set(percentile),
                    reason: Set((!reasons.is_empty()).then(|| reasons.join("; "))),
                    ..Default::default()
                });
                if let Some(p) = picked {
                    chosen.insert((*member, goal.clone(), placement.clone(), m), p);
                }
                if results.len() >= FLUSH_EVERY {
                    results_total += results.len();
                    q::insert_results(&txn, std::mem::take(&mut results)).await?;
                }
            }
        }

        // Each bar beside the same comparison as its account's group.
        for ((bar, goal, placement), (member, c)) in &bars {
            for &m in Metric::of_goal(goal) {
                let Some(own) = c.rate(m) else { continue };
                let picked = chosen.get(&(*member, goal.clone(), placement.clone(), m));
                let cell = picked.and_then(|p| cells.get(&p.key));
                let [p10, p25, median, p75, p90] =
                    quantile_fields(picked.and_then(|p| p.quantiles));
                results.push(benchmark_result::ActiveModel {
                    snapshot_id: Set(snapshot.id),
                    member_id: Set(*member),
                    bar_id: Set(Some(*bar)),
                    goal: Set(goal.clone()),
                    placement: Set(placement.clone()),
                    metric: Set(m.as_str().into()),
                    own_rate: Set(Some(own)),
                    own_views: Set(c.views),
                    compared_with: Set(picked.map(|p| p.level.as_str().into())),
                    industry: Set(None),
                    accounts: Set(cell
                        .zip(picked)
                        .map(|(cell, p)| i32::try_from(cell.count(p.skip)).unwrap_or(i32::MAX))
                        .unwrap_or(0)),
                    p10: Set(p10),
                    p25: Set(p25),
                    median: Set(median),
                    p75: Set(p75),
                    p90: Set(p90),
                    percentile: Set(cell
                        .zip(picked)
                        .and_then(|(cell, p)| cell.percentile(own, p.skip))),
                    reason: Set(picked
                        .is_none()
                        .then(|| "the account's group has no benchmark that may be shown".into())),
                    ..Default::default()
                });
                if results.len() >= FLUSH_EVERY {
                    results_total += results.len();
                    q::insert_results(&txn, std::mem::take(&mut results)).await?;
                }
            }
        }
        results_total += results.len();
        q::insert_results(&txn, results).await?;
        txn.commit().await?;
        tracing::info!(
            snapshot = snapshot.id,
            window_days = days,
            accounts = with_views.len(),
            cells = cells_total,
            published_cells,
            results = results_total,
            "benchmarks computed"
        );
        Ok(Computed {
            snapshot_id: snapshot.id,
            window_days: days,
            accounts: snapshot.accounts,
            cells: cells_total,
            published_cells,
            results: results_total,
        })
    }

    fn window_of(&self, window: Option<&str>) -> Result<i32> {
        let Some(w) = window else {
            return Ok(self.settings.windows[0]);
        };
        let days = w
            .trim_end_matches('d')
            .parse::<i32>()
            .ok()
            .filter(|d| self.settings.windows.contains(d));
        days.ok_or_else(|| {
            let known: Vec<String> = self
                .settings
                .windows
                .iter()
                .map(|d| format!("{d}d"))
                .collect();
            Error::invalid(
                "window",
                format!("benchmarks are computed over {}", known.join(", ")),
            )
        })
    }

    /// The member's groups (or one bar's), from the newest snapshot, with the trend.
    pub async fn read(
        &self,
        member: MemberId,
        bar: Option<BarId>,
        window: Option<&str>,
    ) -> Result<MemberBenchmarks> {
        let days = self.window_of(window)?;
        let snapshots = q::snapshots(&self.db, days, (TREND_WEEKS * 8) as u64).await?;
        let Some(latest) = snapshots.first() else {
            return Ok(MemberBenchmarks {
                window: format!("{days}d"),
                computed_at: None,
                window_start: None,
                window_end: None,
                groups: Vec::new(),
                note: Some("benchmarks have not been computed yet; they are, once a day".into()),
            });
        };
        let weekly = weekly(&snapshots);
        let ids: Vec<i64> = weekly.iter().map(|s| s.id).collect();
        let rows = q::results(&self.db, &ids, member, bar).await?;
        let computed: HashMap<i64, DateTime<Utc>> =
            snapshots.iter().map(|s| (s.id, s.computed_at)).collect();
        let mut trends: HashMap<(String, String, String), Vec<TrendPoint>> = HashMap::new();
        for r in rows.iter().filter(|r| r.snapshot_id != latest.id) {
            trends
                .entry((r.goal.clone(), r.placement.clone(), r.metric.clone()))
                .or_default()
                .push(TrendPoint {
                    computed_at: computed.get(&r.snapshot_id).copied().unwrap_or_default(),
                    percentile: r.percentile,
                });
        }
        let groups: Vec<Group> = rows
            .into_iter()
            .filter(|r| r.snapshot_id == latest.id)
            .map(|r| {
                let key = (r.goal.clone(), r.placement.clone(), r.metric.clone());
                let mut trend = trends.remove(&key).unwrap_or_default();
                trend.push(TrendPoint {
                    computed_at: latest.computed_at,
                    percentile: r.percentile,
                });
                trend.sort_by_key(|t| t.computed_at);
                Group {
                    goal: r.goal,
                    placement: r.placement,
                    metric: r.metric,
                    own_rate: r.own_rate,
                    own_views: r.own_views,
                    compared_with: r.compared_with,
                    industry: r.industry,
                    accounts: r.accounts,
                    p10: r.p10,
                    p25: r.p25,
                    median: r.median,
                    p75: r.p75,
                    p90: r.p90,
                    percentile: r.percentile,
                    trend,
                    reason: r.reason,
                }
            })
            .collect();
        let note = groups.is_empty().then(|| {
            match bar {
                Some(_) => "this bar had no views in the window",
                None => "you had no live bar and no views in the window",
            }
            .to_string()
        });
        Ok(MemberBenchmarks {
            window: format!("{days}d"),
            computed_at: Some(latest.computed_at),
            window_start: Some(latest.window_start),
            window_end: Some(latest.window_end),
            groups,
            note,
        })
    }

    /// The cells of the newest snapshot of a window, for operators.
    pub async fn cells(&self, window: Option<&str>) -> Result<Vec<benchmark_cell::Model>> {
        let days = self.window_of(window)?;
        match q::snapshots(&self.db, days, 1).await?.first() {
            Some(s) => Ok(q::cells(&self.db, s.id).await?),
            None => Ok(Vec::new()),
        }
    }
}

/// The newest snapshot of each of the last weeks, newest first.
fn weekly(snapshots: &[benchmark_snapshot::Model]) -> Vec<&benchmark_snapshot::Model> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for s in snapshots {
        let week = s.computed_at.iso_week();
        let key = (week.year(), week.week());
        if !seen.contains(&key) {
            seen.push(key);
            out.push(s);
            if out.len() == TREND_WEEKS {
                break;
            }
        }
    }
    out
}
