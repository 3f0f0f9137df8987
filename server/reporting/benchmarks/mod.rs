//! Industry benchmarks: where a member's click-through rate (and, for email bars, lead
//! and dismissal rates) stands among comparable accounts. The `benchmarks` job computes
//! dated snapshots over a rolling window; the API only reads them. docs/industry-benchmarks.md
//! says in a member's words how the numbers are computed and protected.
//!
//! A cell is industry × element type × goal × placement; the wider groups are every
//! industry (element type × goal × placement) and every account (element type × goal): a
//! modal's click rate is never compared with a bar's. An account enters a cell with at least 500 views
//! in it. A member is compared with the *other* accounts only (leave-one-out), and a
//! distribution is shown only when at least `min_accounts` accounts stand behind it and
//! no one of them holds more than half of its views, no two more than three quarters.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use sea_orm::ActiveValue::Set;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::benchmarks as q;
use crate::db::entities::{benchmark_cell, benchmark_result, benchmark_snapshot};
use crate::domain::bar::{Goal, Placement};
use crate::domain::element::ElementType;
use crate::domain::{AccountId, BarId};
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

pub use crate::db::entities::benchmark_cell::{Level, Metric};

impl Metric {
    /// The rates compared for bars of a goal.
    fn of_goal(goal: Goal) -> &'static [Metric] {
        match goal {
            Goal::Email => &[Metric::Ctr, Metric::LeadRate, Metric::DismissRate],
            Goal::Link | Goal::Announcement | Goal::Call => &[Metric::Ctr],
        }
    }
}

impl Level {
    /// The narrowest to the widest.
    const ORDER: [Level; 3] = [Level::Industry, Level::AllIndustries, Level::All];

    /// A cell's key at this level, with what the level leaves out as `None`.
    fn key(
        self,
        industry: &str,
        element: ElementType,
        goal: Goal,
        placement: Placement,
    ) -> CellKey {
        let (industry, placement) = match self {
            Level::Industry => (Some(industry.to_string()), Some(placement)),
            Level::AllIndustries => (None, Some(placement)),
            Level::All => (None, None),
        };
        CellKey {
            level: self,
            industry,
            element,
            goal,
            placement,
        }
    }

    fn describe(
        self,
        industry: &str,
        element: ElementType,
        goal: Goal,
        placement: Placement,
    ) -> String {
        match self {
            Level::Industry => format!("{industry} × {element} × {goal} × {placement}"),
            Level::AllIndustries => format!("all industries × {element} × {goal} × {placement}"),
            Level::All => format!("every account × {element} × {goal}"),
        }
    }
}

/// A cell: industry × element type × goal × placement, or a wider group that leaves
/// some out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CellKey {
    level: Level,
    industry: Option<String>,
    element: ElementType,
    goal: Goal,
    placement: Option<Placement>,
}

/// A cell and one of its rates: what a distribution is computed over.
type CellMetric = (CellKey, Metric);

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

    /// The account's entry in a cell's distribution, when it has the views to enter.
    fn entry(&self, rate: f64) -> Option<Entry> {
        (self.views >= MIN_VIEWS).then_some(Entry {
            rate,
            views: self.views as u64,
        })
    }
}

/// What a rate is compared within: the element type, the goal and the placement.
type Format = (ElementType, Goal, Placement);
/// Each account's counts per format, with its industry.
type AccountCounts = BTreeMap<(AccountId, Format), (String, Counts)>;
/// Each bar's counts per format, with its account.
type BarCountsByKey = BTreeMap<(BarId, Format), (AccountId, Counts)>;

/// The window's counts, summed per account and per bar.
#[derive(Default)]
struct WindowCounts {
    accounts: AccountCounts,
    bars: BarCountsByKey,
}

impl WindowCounts {
    fn add(&mut self, r: &q::BarCounts) {
        self.accounts
            .entry((r.account, (r.element, r.goal, r.placement)))
            .or_insert_with(|| (industry_of(&r.industry), Counts::default()))
            .1
            .add(r);
        self.bars
            .entry((r.bar, (r.element, r.goal, r.placement)))
            .or_insert((r.account, Counts::default()))
            .1
            .add(r);
    }

    /// Accounts with any views in the window.
    fn accounts_with_views(&self) -> usize {
        let members: HashSet<AccountId> = self
            .accounts
            .iter()
            .filter(|(_, (_, c))| c.views > 0)
            .map(|((m, _), _)| *m)
            .collect();
        members.len()
    }
}

/// Laplace noise on published quantiles, when the settings ask for it.
struct Noise {
    epsilon: Option<f64>,
    // A seeded generator of its own: the thread's cannot be held across an await.
    rng: rand::rngs::StdRng,
}

impl Noise {
    fn new(epsilon: Option<f64>) -> Noise {
        Noise {
            epsilon,
            rng: <rand::rngs::StdRng as rand::SeedableRng>::from_rng(&mut rand::rng()),
        }
    }

    fn apply(&mut self, q: Option<Quantiles>, count: usize) -> Option<Quantiles> {
        match (q, self.epsilon) {
            (Some(q), Some(eps)) => Some(stats::with_noise(q, eps, count, &mut self.rng)),
            (q, _) => q,
        }
    }
}

/// The group a member's rate is compared with: the first, narrowest first, that may be
/// shown without them in it.
struct Chosen {
    level: Level,
    key: CellMetric,
    /// The member's own entry in the cell, left out.
    skip: Option<usize>,
    quantiles: Option<Quantiles>,
}

/// The groups chosen per account, format and rate; a bar is compared with its account's.
type ChosenGroups = HashMap<(AccountId, Format, Metric), Chosen>;

/// Result rows are written a thousand at a time rather than held: 10,000 accounts make
/// about 90,000 of them.
struct ResultRows<'t> {
    txn: &'t crate::db::Write,
    snapshot: i64,
    rows: Vec<benchmark_result::ActiveModel>,
    written: usize,
}

impl<'t> ResultRows<'t> {
    fn new(txn: &'t crate::db::Write, snapshot: i64) -> ResultRows<'t> {
        ResultRows {
            txn,
            snapshot,
            rows: Vec::with_capacity(FLUSH_EVERY),
            written: 0,
        }
    }

    async fn push(&mut self, row: benchmark_result::ActiveModel) -> anyhow::Result<()> {
        self.rows.push(benchmark_result::ActiveModel {
            snapshot_id: Set(self.snapshot),
            ..row
        });
        if self.rows.len() >= FLUSH_EVERY {
            self.written += self.rows.len();
            q::insert_results(self.txn, std::mem::take(&mut self.rows)).await?;
        }
        Ok(())
    }

    /// Writes what is left; how many rows were written in all.
    async fn finish(mut self) -> anyhow::Result<usize> {
        self.written += self.rows.len();
        q::insert_results(self.txn, self.rows).await?;
        Ok(self.written)
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
    /// `bar`, `modal`, `slider` or `takeover`: each is compared only with its own kind.
    pub element_type: ElementType,
    pub goal: Goal,
    pub placement: Placement,
    /// `ctr` (clicks ÷ views), or for email bars also `lead_rate` and `dismiss_rate`.
    pub metric: Metric,
    /// Your rate over the window (`null` without views).
    pub own_rate: Option<f64>,
    pub own_views: i64,
    /// `industry`, `all_industries` or `all`; `null` when nothing could be shown.
    pub compared_with: Option<Level>,
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

/// The window of `days` whole days that ends with today: `[from, to)`, days' first
/// seconds.
fn window_bounds(now: DateTime<Utc>, days: i32) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = Utc.from_utc_datetime(&now.date_naive().and_time(NaiveTime::MIN));
    let to = today + Duration::days(1);
    (to - Duration::days(i64::from(days)), to)
}

/// Each cell's distribution: the accounts with enough views in it, their rate and their
/// views, at every level.
fn cells_of(accounts: &AccountCounts) -> HashMap<CellMetric, Cell> {
    let mut entries: HashMap<CellMetric, Vec<Entry>> = HashMap::new();
    for ((_, (element, goal, placement)), (industry, c)) in accounts {
        for &m in Metric::of_goal(*goal) {
            let Some(e) = c.rate(m).and_then(|rate| c.entry(rate)) else {
                continue;
            };
            for level in Level::ORDER {
                entries
                    .entry((level.key(industry, *element, *goal, *placement), m))
                    .or_default()
                    .push(e);
            }
        }
    }
    entries
        .into_iter()
        .map(|(k, v)| (k, Cell::new(v)))
        .collect()
}

/// Writes the cells, over every account in them (for members outside them); how many
/// may be published.
async fn write_cells(
    txn: &crate::db::Write,
    snapshot: i64,
    cells: &HashMap<CellMetric, Cell>,
    min_accounts: usize,
    noise: &mut Noise,
) -> anyhow::Result<usize> {
    let mut rows = Vec::with_capacity(cells.len());
    let mut published = 0;
    for ((key, metric), cell) in cells {
        let why = withheld(cell.count(None), cell.dominance(None), min_accounts);
        let qs = if why.is_none() {
            published += 1;
            noise.apply(cell.quantiles(None), cell.len())
        } else {
            None
        };
        let [p10, p25, median, p75, p90] = quantile_fields(qs);
        rows.push(benchmark_cell::ActiveModel {
            snapshot_id: Set(snapshot),
            level: Set(key.level),
            industry: Set(key.industry.clone()),
            element_type: Set(key.element),
            goal: Set(key.goal),
            placement: Set(key.placement),
            metric: Set(*metric),
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
    q::insert_cells(txn, rows).await?;
    Ok(published)
}

/// Writes each account's groups beside their comparison; the groups chosen, for the bars.
async fn write_account_results(
    results: &mut ResultRows<'_>,
    accounts: &AccountCounts,
    cells: &HashMap<CellMetric, Cell>,
    min_accounts: usize,
    noise: &mut Noise,
) -> anyhow::Result<ChosenGroups> {
    let mut chosen = ChosenGroups::new();
    for (&(member, format), (industry, c)) in accounts {
        for &m in Metric::of_goal(format.1) {
            let group = AccountGroup::new(industry, format, m, c);
            let (picked, reasons) = group.choose(cells, min_accounts, noise);
            results
                .push(group.account_row(member, cells, picked.as_ref(), reasons))
                .await?;
            if let Some(p) = picked {
                chosen.insert((member, format, m), p);
            }
        }
    }
    Ok(chosen)
}

/// Writes each bar beside the same comparison as its account's group.
async fn write_bar_results(
    results: &mut ResultRows<'_>,
    bars: &BarCountsByKey,
    cells: &HashMap<CellMetric, Cell>,
    chosen: &ChosenGroups,
) -> anyhow::Result<()> {
    for (&(bar, format), (member, c)) in bars {
        let (element, goal, placement) = format;
        for &m in Metric::of_goal(goal) {
            let Some(own) = c.rate(m) else { continue };
            let picked = chosen.get(&(*member, format, m));
            let cell = picked.and_then(|p| cells.get(&p.key));
            let [p10, p25, median, p75, p90] = quantile_fields(picked.and_then(|p| p.quantiles));
            results
                .push(benchmark_result::ActiveModel {
                    account_id: Set(*member),
                    bar_id: Set(Some(bar)),
                    element_type: Set(element),
                    goal: Set(goal),
                    placement: Set(placement),
                    metric: Set(m),
                    own_rate: Set(Some(own)),
                    own_views: Set(c.views),
                    compared_with: Set(picked.map(|p| p.level)),
                    industry: Set(None),
                    accounts: Set(accounts_behind(cell, picked)),
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
                })
                .await?;
        }
    }
    Ok(())
}

/// How many other accounts stand behind the comparison chosen.
fn accounts_behind(cell: Option<&Cell>, picked: Option<&Chosen>) -> i32 {
    cell.zip(picked)
        .map(|(cell, p)| i32::try_from(cell.count(p.skip)).unwrap_or(i32::MAX))
        .unwrap_or(0)
}

/// One account's rate in one element type × goal × placement group.
struct AccountGroup<'a> {
    industry: &'a str,
    element: ElementType,
    goal: Goal,
    placement: Placement,
    metric: Metric,
    counts: &'a Counts,
    own: Option<f64>,
}

impl<'a> AccountGroup<'a> {
    fn new(
        industry: &'a str,
        (element, goal, placement): Format,
        metric: Metric,
        counts: &'a Counts,
    ) -> AccountGroup<'a> {
        AccountGroup {
            industry,
            element,
            goal,
            placement,
            metric,
            counts,
            own: counts.rate(metric),
        }
    }

    /// The first level, narrowest first, whose cell may be shown without the account in
    /// it; and why each narrower one may not.
    fn choose(
        &self,
        cells: &HashMap<CellMetric, Cell>,
        min_accounts: usize,
        noise: &mut Noise,
    ) -> (Option<Chosen>, Vec<String>) {
        let mut reasons = Vec::new();
        for level in Level::ORDER {
            let described =
                || level.describe(self.industry, self.element, self.goal, self.placement);
            let key = (
                level.key(self.industry, self.element, self.goal, self.placement),
                self.metric,
            );
            let Some(cell) = cells.get(&key) else {
                reasons.push(format!(
                    "{}: no account has {MIN_VIEWS} views yet",
                    described()
                ));
                continue;
            };
            // Leave the account out of its own benchmark.
            let skip = self
                .own
                .and_then(|rate| self.counts.entry(rate))
                .and_then(|e| cell.position(e));
            match withheld(cell.count(skip), cell.dominance(skip), min_accounts) {
                Some(w) => reasons.push(format!("{}: {}", described(), w.reason())),
                None => {
                    let chosen = Chosen {
                        level,
                        key,
                        skip,
                        quantiles: noise.apply(cell.quantiles(skip), cell.count(skip)),
                    };
                    return (Some(chosen), reasons);
                }
            }
        }
        (None, reasons)
    }

    fn account_row(
        &self,
        member: AccountId,
        cells: &HashMap<CellMetric, Cell>,
        picked: Option<&Chosen>,
        reasons: Vec<String>,
    ) -> benchmark_result::ActiveModel {
        let cell = picked.and_then(|p| cells.get(&p.key));
        let [p10, p25, median, p75, p90] = quantile_fields(picked.and_then(|p| p.quantiles));
        let percentile = match (self.own, cell, picked) {
            (Some(rate), Some(cell), Some(p)) => cell.percentile(rate, p.skip),
            _ => None,
        };
        benchmark_result::ActiveModel {
            account_id: Set(member),
            bar_id: Set(None),
            element_type: Set(self.element),
            goal: Set(self.goal),
            placement: Set(self.placement),
            metric: Set(self.metric),
            own_rate: Set(self.own),
            own_views: Set(self.counts.views),
            compared_with: Set(picked.map(|p| p.level)),
            industry: Set(picked
                .filter(|p| p.level == Level::Industry)
                .map(|_| self.industry.to_string())),
            accounts: Set(accounts_behind(cell, picked)),
            p10: Set(p10),
            p25: Set(p25),
            median: Set(median),
            p75: Set(p75),
            p90: Set(p90),
            percentile: Set(percentile),
            reason: Set((!reasons.is_empty()).then(|| reasons.join("; "))),
            ..Default::default()
        }
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

    /// One snapshot over the last `days` whole days: the cells, then each account's
    /// groups, then each bar's, in one transaction.
    async fn compute_window(&self, days: i32) -> anyhow::Result<Computed> {
        let now = self.clock.now();
        let (from, to) = window_bounds(now, days);
        let counts = self.read_counts(from, to).await?;
        let cells = cells_of(&counts.accounts);
        let min_accounts = self.settings.min_accounts;
        let mut noise = Noise::new(self.settings.epsilon);

        let txn = crate::db::begin(&self.db).await?;
        let accounts = i32::try_from(counts.accounts_with_views()).unwrap_or(i32::MAX);
        let snapshot = q::insert_snapshot(&txn, now, days, from, to, accounts).await?;
        let published_cells =
            write_cells(&txn, snapshot.id, &cells, min_accounts, &mut noise).await?;
        let mut results = ResultRows::new(&txn, snapshot.id);
        let chosen = write_account_results(
            &mut results,
            &counts.accounts,
            &cells,
            min_accounts,
            &mut noise,
        )
        .await?;
        write_bar_results(&mut results, &counts.bars, &cells, &chosen).await?;
        let results = results.finish().await?;
        txn.commit().await?;

        let computed = Computed {
            snapshot_id: snapshot.id,
            window_days: days,
            accounts: snapshot.accounts,
            cells: cells.len(),
            published_cells,
            results,
        };
        tracing::info!(
            snapshot = computed.snapshot_id,
            window_days = days,
            accounts = computed.accounts,
            cells = computed.cells,
            published_cells,
            results,
            "benchmarks computed"
        );
        Ok(computed)
    }

    /// Accounts per (account, format), and bars per (bar, format), read
    /// a range of members at a time so few rows are held at once.
    async fn read_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<WindowCounts> {
        let mut counts = WindowCounts::default();
        let last = q::last_account(&self.db).await?;
        let mut first = 1;
        while first <= last {
            let end = first + MEMBERS_PER_READ - 1;
            for r in q::window_counts(&self.db, from, to, first..=end).await? {
                counts.add(&r);
            }
            first = end + 1;
        }
        Ok(counts)
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
        member: AccountId,
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
        let (latest_rows, older): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|r| r.snapshot_id == latest.id);
        let mut trends = trends(&snapshots, &older);
        let groups: Vec<Group> = latest_rows
            .into_iter()
            .map(|r| {
                let mut trend = trends
                    .remove(&(r.element_type, r.goal, r.placement, r.metric))
                    .unwrap_or_default();
                trend.push(TrendPoint {
                    computed_at: latest.computed_at,
                    percentile: r.percentile,
                });
                trend.sort_by_key(|t| t.computed_at);
                group(r, trend)
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

/// The percentiles of older snapshots, per format and rate.
type TrendKey = (ElementType, Goal, Placement, Metric);

fn trends(
    snapshots: &[benchmark_snapshot::Model],
    older: &[benchmark_result::Model],
) -> HashMap<TrendKey, Vec<TrendPoint>> {
    let computed: HashMap<i64, DateTime<Utc>> =
        snapshots.iter().map(|s| (s.id, s.computed_at)).collect();
    let mut trends: HashMap<TrendKey, Vec<TrendPoint>> = HashMap::new();
    for r in older {
        trends
            .entry((r.element_type, r.goal, r.placement, r.metric))
            .or_default()
            .push(TrendPoint {
                computed_at: computed.get(&r.snapshot_id).copied().unwrap_or_default(),
                percentile: r.percentile,
            });
    }
    trends
}

/// A result row as the API shows it, with its trend.
fn group(r: benchmark_result::Model, trend: Vec<TrendPoint>) -> Group {
    Group {
        element_type: r.element_type,
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
