//! Stats of a bar or a site: the numbers over a chosen range, hourly or daily, beside the
//! period before; one chosen number as a chart with its table and a sentence; per
//! variant, and each variant against the first with its always-valid interval drawn and
//! its verdict in words; a CSV download (the API's own).

use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::Response;

use super::chart::{self, LineChart, Series};
use super::forms::sentence;
use super::view::{percent, render, thousands};
use crate::error::{Error, Result};
use crate::reporting::verdict::{Bounds, signed_points};
use crate::reporting::{self, Interval, Numbers, Range, Report, Scope};
use crate::web::guards::{OwnedBar, OwnedSite};
use crate::web::router::Req;

/// What the range form asks for.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct Asked {
    /// `24h`, `7d`, `30d`, `90d`, `365d` or `custom`.
    range: String,
    from: String,
    to: String,
    interval: String,
    /// `on` to draw the previous period too.
    compare: String,
    /// The number the chart shows.
    metric: String,
}

const RANGES: [(&str, &str); 6] = [
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("365d", "Last 12 months"),
    ("custom", "Dates below"),
];

const METRICS: [(&str, &str); 6] = [
    ("views", "Views"),
    ("unique_visitors", "Unique visitors"),
    ("clicks", "Clicks"),
    ("dismissals", "Dismissals"),
    ("leads", "Leads"),
    ("ctr", "Click-through rate"),
];

fn value(n: &Numbers, metric: &str) -> Option<f64> {
    Some(match metric {
        "unique_visitors" => n.unique_visitors as f64,
        "clicks" => n.clicks as f64,
        "dismissals" => n.dismissals as f64,
        "leads" => n.leads as f64,
        "ctr" => return n.ctr,
        _ => n.views as f64,
    })
}

fn shown(v: Option<f64>, metric: &str) -> String {
    match (v, metric) {
        (None, _) => "–".into(),
        (Some(r), "ctr") => percent(r),
        (Some(n), _) => thousands(n as i64),
    }
}

impl Asked {
    /// The range to report, from a preset or the dates given.
    fn range(
        &mut self,
        now: chrono::DateTime<Utc>,
    ) -> std::result::Result<Range, crate::domain::Invalid> {
        if !RANGES.iter().any(|(k, _)| *k == self.range) {
            self.range = "7d".into();
        }
        if self.range != "custom" {
            let days = match self.range.as_str() {
                "24h" => 0,
                "30d" => 30,
                "90d" => 90,
                "365d" => 365,
                _ => 7,
            };
            if days == 0 {
                self.interval = "hour".into();
                self.from.clear();
                self.to.clear();
            } else {
                if self.interval != "hour" || days > 90 {
                    self.interval = "day".into();
                }
                let today = now.date_naive();
                self.to = today.format("%Y-%m-%d").to_string();
                self.from = (today - Duration::days(days - 1))
                    .format("%Y-%m-%d")
                    .to_string();
            }
        }
        if self.interval != "hour" {
            self.interval = "day".into();
        }
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let (from, to) = (opt(&self.from), opt(&self.to));
        Range::parse(from.as_deref(), to.as_deref(), Some(&self.interval), now)
    }
}

#[derive(Serialize)]
struct Kpi {
    key: &'static str,
    label: &'static str,
    value: String,
    previous: Option<String>,
    /// `up`, `down` or `flat`, with its text ("+12 %").
    change: Option<(String, &'static str)>,
}

#[derive(Serialize)]
struct Row {
    label: String,
    start: String,
    views: i64,
    unique_visitors: i64,
    clicks: i64,
    dismissals: i64,
    leads: i64,
    ctr: String,
    /// The chosen number in the previous period's matching bucket.
    previous: Option<String>,
}

#[derive(Serialize)]
struct MetricLink {
    key: &'static str,
    label: &'static str,
    current: bool,
    href: String,
}

#[derive(Serialize)]
struct VariantLine {
    name: String,
    views: i64,
    clicks: i64,
    leads: i64,
    dismissals: i64,
    ctr: String,
    /// "beats A" or "worse than A" when a comparison has called it.
    badge: Option<String>,
    /// Its share of new visitors now ("–" when not live).
    share: String,
}

/// A variant against the control, as the page shows it.
#[derive(Serialize)]
struct ComparisonLine {
    name: String,
    days: i64,
    ctr: String,
    control_ctr: String,
    difference: String,
    interval: String,
    p_value: String,
    significant: bool,
    verdict: String,
}

/// One site goal: visits shown the bar against visits held out.
#[derive(Serialize)]
struct GoalLine {
    name: String,
    reached_by: String,
    days: i64,
    shown: String,
    held_out: String,
    difference: String,
    interval: String,
    value_per_visit: String,
    significant: bool,
    verdict: String,
}

/// The bar against no bar: its holdout and the site's goals.
#[derive(Serialize, Default)]
struct GoalsPart {
    holdout: u8,
    shown_visits: i64,
    held_out_visits: i64,
    verdict: String,
    lines: Vec<GoalLine>,
    chart: Option<String>,
}

#[derive(Serialize)]
struct StatsPage {
    title: String,
    site_id: i64,
    site_name: String,
    bar: Option<(i64, String)>,
    asked: Asked,
    ranges: [(&'static str, &'static str); 6],
    error: Option<String>,
    kpis: Vec<Kpi>,
    metric: &'static str,
    metric_label: &'static str,
    metrics: Vec<MetricLink>,
    chart: String,
    caption: String,
    summary: String,
    comparing: bool,
    interval_label: &'static str,
    rows: Vec<Row>,
    variants: Vec<VariantLine>,
    verdict: Option<String>,
    control: String,
    comparisons: Vec<ComparisonLine>,
    intervals_chart: Option<String>,
    experiment_csv_url: String,
    /// The bar optimises (Thompson sampling) rather than tests.
    optimising: bool,
    goals: GoalsPart,
    csv_url: String,
    json_url: String,
}

fn change(now: Option<f64>, before: Option<f64>) -> Option<(String, &'static str)> {
    let (now, before) = (now?, before?);
    if before == 0.0 {
        return (now > 0.0).then(|| ("new".to_string(), "up"));
    }
    let pct = (now / before - 1.0) * 100.0;
    Some(if pct.abs() < 0.5 {
        ("±0 %".to_string(), "flat")
    } else if pct > 0.0 {
        (format!("+{pct:.0} %"), "up")
    } else {
        (format!("{pct:.0} %"), "down")
    })
}

fn bucket_label(report: &Report, start: chrono::DateTime<Utc>) -> String {
    match report.interval {
        Interval::Hour => start.format("%b %-d, %H:00").to_string(),
        Interval::Day => start.format("%a %b %-d, %Y").to_string(),
    }
}

fn axis_label(interval: Interval, start: chrono::DateTime<Utc>) -> String {
    match interval {
        Interval::Hour => start.format("%H:00").to_string(),
        Interval::Day => start.format("%b %-d").to_string(),
    }
}

struct Subject {
    scope: Scope,
    title: String,
    site_id: i64,
    site_name: String,
    bar: Option<(i64, String)>,
    api_path: String,
}

type Metric = (&'static str, &'static str);

/// The number the chart shows: the one asked for, or views.
fn chosen_metric(asked: &str) -> Metric {
    METRICS
        .iter()
        .find(|(k, _)| *k == asked)
        .copied()
        .unwrap_or(METRICS[0])
}

/// The page's own query for the same range with another metric.
fn query_of(a: &Asked, metric: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("range", &a.range);
    if a.range == "custom" {
        q.append_pair("from", &a.from);
        q.append_pair("to", &a.to);
    }
    q.append_pair("interval", &a.interval);
    if a.compare == "on" {
        q.append_pair("compare", "on");
    }
    q.append_pair("metric", metric);
    q.finish()
}

fn metric_links(path: &str, asked: &Asked, metric: Metric) -> Vec<MetricLink> {
    METRICS
        .iter()
        .map(|(k, label)| MetricLink {
            key: k,
            label,
            current: *k == metric.0,
            href: format!("{path}?{}", query_of(asked, k)),
        })
        .collect()
}

impl StatsPage {
    /// The page before any numbers: the subject, the form as asked, the metric links.
    fn empty(subject: Subject, asked: Asked, metric: Metric, metrics: Vec<MetricLink>) -> Self {
        StatsPage {
            title: subject.title,
            site_id: subject.site_id,
            site_name: subject.site_name,
            bar: subject.bar,
            ranges: RANGES,
            error: None,
            kpis: Vec::new(),
            metric: metric.0,
            metric_label: metric.1,
            metrics,
            chart: String::new(),
            caption: String::new(),
            summary: String::new(),
            comparing: asked.compare == "on",
            interval_label: "Day (UTC)",
            rows: Vec::new(),
            variants: Vec::new(),
            verdict: None,
            control: String::new(),
            comparisons: Vec::new(),
            intervals_chart: None,
            experiment_csv_url: String::new(),
            optimising: false,
            goals: GoalsPart::default(),
            csv_url: String::new(),
            json_url: String::new(),
            asked,
        }
    }
}

/// The API's address of the same numbers: as CSV, and as JSON.
fn api_urls(api_path: &str, range: &Range, interval: &str, comparing: bool) -> (String, String) {
    let api_query = format!(
        "from={}&to={}&interval={}",
        range
            .from
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        range.to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        interval
    );
    let api_query: String = api_query.replace('+', "%2B");
    (
        format!("{api_path}?{api_query}&format=csv"),
        format!(
            "{api_path}?{api_query}{}",
            if comparing { "&compare=previous" } else { "" }
        ),
    )
}

/// A bar's per-variant numbers and the comparison of its variants.
type Variants = (Vec<reporting::VariantNumbers>, reporting::Experiment);

/// The report of the subject over the range; for a bar, its variants too.
async fn load_report(
    req: &Req,
    scope: Scope,
    range: Range,
    comparing: bool,
) -> Result<(Report, Option<Variants>)> {
    Ok(match scope {
        Scope::Bar(bar) => {
            let r = reporting::bar_report(&req.state.db, bar, range, comparing).await?;
            (r.report, Some((r.variants, r.experiment)))
        }
        scope => (
            reporting::report_compared(&req.state.db, scope, range, comparing).await?,
            None,
        ),
    })
}

fn interval_label(interval: Interval) -> &'static str {
    match interval {
        Interval::Hour => "Hour (UTC)",
        Interval::Day => "Day (UTC)",
    }
}

/// Each number over the period, beside the period before when compared.
fn kpis(report: &Report) -> Vec<Kpi> {
    let previous = report.previous.as_ref();
    METRICS
        .iter()
        .map(|(k, label)| {
            let now = value(&report.totals, k);
            let before = previous.and_then(|p| value(&p.totals, k));
            Kpi {
                key: k,
                label,
                value: shown(now, k),
                previous: previous.map(|_| shown(before, k)),
                change: previous.and_then(|_| change(now, before)),
            }
        })
        .collect()
}

/// The chosen number per bucket, now and (when compared) in the period before, with
/// the buckets' axis labels.
struct Plotted {
    labels: Vec<String>,
    current: Vec<Option<f64>>,
    before: Vec<Option<f64>>,
}

impl Plotted {
    fn of(report: &Report, metric: &str) -> Plotted {
        let values = |series: &[reporting::Point]| {
            series
                .iter()
                .map(|p| value(&p.numbers, metric))
                .collect::<Vec<_>>()
        };
        Plotted {
            labels: report
                .series
                .iter()
                .map(|p| axis_label(report.interval, p.start))
                .collect(),
            current: values(&report.series),
            before: report
                .previous
                .as_ref()
                .map(|p| values(&p.series))
                .unwrap_or_default(),
        }
    }

    fn chart(&self, report: &Report, metric: Metric) -> String {
        let mut series = vec![Series {
            class: "current",
            values: &self.current,
        }];
        if report.previous.is_some() {
            series.push(Series {
                class: "previous",
                values: &self.before,
            });
        }
        chart::line(&LineChart {
            labelled_by: "chart-caption",
            x_title: interval_label(report.interval),
            y_title: metric.1,
            labels: &self.labels,
            series: &series,
            percent: metric.0 == "ctr",
        })
    }
}

fn per(interval: Interval) -> &'static str {
    if interval == Interval::Hour {
        "hour"
    } else {
        "day"
    }
}

/// The period a report covers, in words.
fn span(r: &Report) -> String {
    let last = r.to - Duration::seconds(1);
    match r.interval {
        Interval::Hour => format!(
            "{} to {} UTC",
            r.from.format("%b %-d, %H:00"),
            r.to.format("%b %-d, %H:00")
        ),
        Interval::Day => format!(
            "{} to {}",
            r.from.format("%b %-d, %Y"),
            last.format("%b %-d, %Y")
        ),
    }
}

fn caption(report: &Report, metric: Metric) -> String {
    format!(
        "{} per {}, {}",
        metric.1,
        per(report.interval),
        span(report)
    )
}

/// The chart's table: every number per bucket, and the chosen one in the period before.
fn rows(report: &Report, metric: &str, before: &[Option<f64>]) -> Vec<Row> {
    let previous = report.previous.as_ref();
    report
        .series
        .iter()
        .enumerate()
        .map(|(i, p)| Row {
            label: bucket_label(report, p.start),
            start: p.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            views: p.numbers.views,
            unique_visitors: p.numbers.unique_visitors,
            clicks: p.numbers.clicks,
            dismissals: p.numbers.dismissals,
            leads: p.numbers.leads,
            ctr: p.numbers.ctr.map(percent).unwrap_or_else(|| "–".into()),
            previous: previous.map(|_| shown(before.get(i).copied().flatten(), metric)),
        })
        .collect()
}

fn comparison_line(c: &reporting::Comparison) -> ComparisonLine {
    use reporting::verdict::percent as rate;
    ComparisonLine {
        name: c.name.clone(),
        days: c.days,
        ctr: rate(c.clicks, c.views),
        control_ctr: rate(c.control_clicks, c.control_views),
        difference: points_text(c.difference),
        interval: interval_text(c.interval),
        p_value: p_value(c.p_value),
        significant: c.significant,
        verdict: c.verdict.clone(),
    }
}

fn p_value(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.0001 => "< 0.0001".into(),
        Some(p) => format!("{p:.4}"),
        None => "–".into(),
    }
}

fn interval_text(b: Option<Bounds>) -> String {
    b.map(|b| format!("{} to {}", signed_points(b.low), signed_points(b.high)))
        .unwrap_or_else(|| "–".into())
}

fn points_text(d: Option<f64>) -> String {
    d.map(signed_points).unwrap_or_else(|| "–".into())
}

/// The holdout against the site's goals, as the page shows it.
fn goals_part(g: &reporting::goals::GoalsReport) -> GoalsPart {
    use reporting::verdict::percent as rate;
    let lines = g
        .goals
        .iter()
        .map(|r| GoalLine {
            name: r.name.clone(),
            reached_by: match &r.path {
                Some(p) => format!("a page at {p}"),
                None => format!("barkeep.goal(\"{}\")", r.name),
            },
            days: r.days,
            shown: format!(
                "{} of {} ({})",
                r.shown_reached,
                r.shown_visits,
                rate(r.shown_reached, r.shown_visits)
            ),
            held_out: format!(
                "{} of {} ({})",
                r.held_out_reached,
                r.held_out_visits,
                rate(r.held_out_reached, r.held_out_visits)
            ),
            difference: points_text(r.difference),
            interval: interval_text(r.interval),
            value_per_visit: match (r.shown_value_per_visit, r.held_out_value_per_visit) {
                (Some(a), Some(b)) if r.shown_value > 0.0 || r.held_out_value > 0.0 => {
                    format!("{a:.2} / {b:.2}")
                }
                _ => "–".into(),
            },
            significant: r.significant,
            verdict: r.verdict.clone(),
        })
        .collect();
    GoalsPart {
        holdout: g.holdout,
        shown_visits: g.shown_visits,
        held_out_visits: g.held_out_visits,
        verdict: g.verdict.clone(),
        lines,
        chart: intervals_chart(
            "goals-caption",
            g.goals
                .iter()
                .map(|r| (r.name.as_str(), r.interval, r.difference)),
        ),
    }
}

/// Differences with their intervals drawn on one scale (only those with an interval yet),
/// as (name, interval, difference); `caption` is the id of the chart's caption.
fn intervals_chart<'a>(
    caption: &str,
    estimates: impl Iterator<Item = (&'a str, Option<Bounds>, Option<f64>)>,
) -> Option<String> {
    let rows: Vec<chart::Estimate> = estimates
        .filter_map(|(name, interval, difference)| {
            let (b, d) = (interval?, difference?);
            Some(chart::Estimate {
                name,
                low: b.low,
                value: d,
                high: b.high,
            })
        })
        .collect();
    (!rows.is_empty()).then(|| chart::intervals(caption, &rows))
}

fn fill_variants(page: &mut StatsPage, (variants, experiment): Variants) {
    let control = experiment.control_name.clone().unwrap_or_default();
    let badge = |id| {
        let c = experiment
            .comparisons
            .iter()
            .find(|c| c.variant_id == id && c.significant)?;
        let better = c.difference.is_some_and(|d| d > 0.0);
        Some(format!(
            "{} {control}",
            if better { "beats" } else { "worse than" }
        ))
    };
    page.variants = variants
        .iter()
        .map(|v| VariantLine {
            badge: badge(v.variant_id),
            share: experiment
                .shares
                .iter()
                .find(|s| s.variant_id == v.variant_id)
                .map(|s| percent(s.share))
                .unwrap_or_else(|| "–".into()),
            name: v.name.clone(),
            views: v.numbers.views,
            clicks: v.numbers.clicks,
            leads: v.numbers.leads,
            dismissals: v.numbers.dismissals,
            ctr: v.numbers.ctr.map(percent).unwrap_or_else(|| "–".into()),
        })
        .collect();
    page.comparisons = experiment.comparisons.iter().map(comparison_line).collect();
    page.intervals_chart = intervals_chart(
        "intervals-caption",
        experiment
            .comparisons
            .iter()
            .map(|c| (c.name.as_str(), c.interval, c.difference)),
    );
    page.optimising = experiment.allocation == crate::domain::Allocation::Thompson;
    page.goals = goals_part(&experiment.goals);
    page.verdict = Some(experiment.verdict);
    page.control = control;
}

/// Fills the page with a report: numbers, chart, caption, sentence, table, variants.
fn fill(page: &mut StatsPage, metric: Metric, report: &Report, variants: Option<Variants>) {
    page.interval_label = interval_label(report.interval);
    page.kpis = kpis(report);
    let plotted = Plotted::of(report, metric.0);
    page.chart = plotted.chart(report, metric);
    page.caption = caption(report, metric);
    page.summary = summary(report, metric, &plotted.current, &plotted.labels);
    page.rows = rows(report, metric.0, &plotted.before);
    if let Some(variants) = variants {
        fill_variants(page, variants);
    }
}

async fn stats_page(req: &Req, subject: Subject) -> Result<Response> {
    let mut asked: Asked = req.query().unwrap_or_default();
    let metric = chosen_metric(&asked.metric);
    asked.metric = metric.0.to_string();
    let comparing = asked.compare == "on";
    let range = asked.range(req.state.clock.now());
    let metrics = metric_links(&req.path, &asked, metric);
    let (scope, api_path) = (subject.scope, subject.api_path.clone());
    let mut page = StatsPage::empty(subject, asked, metric, metrics);
    let range = match range {
        Ok(r) => r,
        Err(invalid) => {
            page.error = Some(sentence(&invalid.message));
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(req, "pages/stats.html", &page, status);
        }
    };
    (page.csv_url, page.json_url) = api_urls(&api_path, &range, &page.asked.interval, comparing);
    if let Some((bar, _)) = &page.bar {
        let to = range.to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        page.experiment_csv_url = format!(
            "/api/v1/bars/{bar}/experiment?to={}&format=csv",
            to.replace('+', "%2B")
        );
    }
    let (report, variants) = load_report(req, scope, range, comparing).await?;
    fill(&mut page, metric, &report, variants);
    render(req, "pages/stats.html", &page, StatusCode::OK)
}

/// The chart in one or two sentences: the total (or the rate), the best bucket, and the
/// change on the previous period.
fn summary(report: &Report, metric: Metric, values: &[Option<f64>], labels: &[String]) -> String {
    let total = value(&report.totals, metric.0);
    let mut text = match metric.0 {
        "ctr" => format!(
            "The click-through rate over the period is {}.",
            shown(total, "ctr")
        ),
        _ => format!("{} in all: {}.", metric.1, shown(total, metric.0)),
    };
    let best = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal));
    match best {
        Some((i, v)) if v > 0.0 => {
            text.push_str(&format!(
                " The highest {} was {} ({}).",
                per(report.interval),
                labels.get(i).map(String::as_str).unwrap_or(""),
                shown(Some(v), metric.0)
            ));
        }
        _ => text.push_str(" Nothing was counted in this period yet."),
    }
    if let Some(p) = &report.previous {
        let before = value(&p.totals, metric.0);
        match change(total, before) {
            Some((c, _)) => text.push_str(&format!(
                " The period before had {} ({c}).",
                shown(before, metric.0)
            )),
            None => text.push_str(" The period before had nothing to compare with."),
        }
    }
    text
}

pub(super) async fn bar(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let b = bar.clone();
    let site = req
        .state
        .catalog
        .site_of(req.account()?, b.site_id)
        .await?
        .ok_or(Error::NotFound)?;
    stats_page(
        &req,
        Subject {
            scope: Scope::Bar(b.id),
            title: format!("Stats of {}", b.name),
            site_id: site.id.0,
            site_name: site.name,
            bar: Some((b.id.0, b.name.clone())),
            api_path: format!("/api/v1/bars/{}/stats", b.id),
        },
    )
    .await
}

pub(super) async fn site(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let s = site.clone();
    stats_page(
        &req,
        Subject {
            scope: Scope::Site(s.id),
            title: format!("Stats of {}", s.name),
            site_id: s.id.0,
            site_name: s.name.clone(),
            bar: None,
            api_path: format!("/api/v1/sites/{}/stats", s.id),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_become_ranges() {
        let mut a = Asked {
            range: "30d".into(),
            interval: "day".into(),
            ..Default::default()
        };
        let r = a.range(Utc::now()).unwrap();
        assert_eq!((r.to - r.from).num_days(), 30);
        let mut a = Asked {
            range: "365d".into(),
            interval: "hour".into(),
            ..Default::default()
        };
        let r = a.range(Utc::now()).unwrap();
        assert_eq!(r.interval, Interval::Day, "a year is never hourly");
        let mut a = Asked {
            range: "custom".into(),
            from: "2026-01-01".into(),
            to: "2026-12-31".into(),
            interval: "hour".into(),
            ..Default::default()
        };
        assert!(a.range(Utc::now()).is_err(), "an hourly year is refused");
    }

    #[test]
    fn changes_read_in_words() {
        assert_eq!(
            change(Some(112.0), Some(100.0)).unwrap(),
            ("+12 %".into(), "up")
        );
        assert_eq!(
            change(Some(50.0), Some(100.0)).unwrap(),
            ("-50 %".into(), "down")
        );
        assert_eq!(change(Some(3.0), Some(0.0)).unwrap(), ("new".into(), "up"));
        assert_eq!(change(Some(0.0), Some(0.0)), None);
    }
}
