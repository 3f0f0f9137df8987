//! Benchmarks: for each kind of bar the member runs, their rate drawn on the distribution
//! of comparable accounts and marked "you", with the group, how many accounts stand behind
//! it and the percentile, in a chart, a table and a sentence.

use serde::Serialize;
use warp::reply::Response;

use super::chart::{self, Distribution};
use super::ok;
use super::view::{percent, thousands};
use crate::domain::element::ElementType;
use crate::error::Result;
use crate::reporting::benchmarks::{Group, Level, Metric};
use crate::web::router::Req;

#[derive(Serialize)]
struct GroupView {
    id: String,
    title: String,
    metric: &'static str,
    group: Group,
    compared: String,
    chart: Option<String>,
    summary: String,
    quantiles: Vec<(&'static str, String)>,
    own: String,
    /// "the 62nd percentile"; none without a rate of your own.
    rank: Option<String>,
    trend: Vec<(String, String)>,
}

/// 1 → 1st, 2 → 2nd, 13 → 13th, 62 → 62nd.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[derive(Serialize)]
struct BenchmarksPage {
    groups: Vec<GroupView>,
    note: Option<String>,
    computed_at: Option<String>,
    window: String,
}

fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::LeadRate => "lead rate",
        Metric::DismissRate => "dismissal rate",
        Metric::Ctr => "click-through rate",
    }
}

/// `link bars at the top`, `email modals`: what a group is about, in words.
fn kind(g: &Group, with_placement: bool) -> String {
    let plural = match g.element_type {
        ElementType::Bar => "bars",
        ElementType::Modal => "modals",
        ElementType::Slider => "sliders",
        ElementType::Takeover => "takeovers",
    };
    // Modals and takeovers sit in the middle of the screen, wherever they were placed.
    if with_placement && !g.element_type.is_modal() {
        format!("{} {plural} at the {}", g.goal, g.placement)
    } else {
        format!("{} {plural}", g.goal)
    }
}

fn compared(g: &Group) -> String {
    match (g.compared_with, g.industry.as_deref()) {
        (Some(Level::Industry), Some(industry)) => {
            format!("{} in your industry ({industry})", kind(g, true))
        }
        (Some(Level::AllIndustries), _) => format!("{} in every industry", kind(g, true)),
        (Some(Level::All), _) if g.element_type.is_modal() => {
            format!("{} in every industry", kind(g, false))
        }
        (Some(Level::All), _) => {
            format!("{} anywhere on the page, in every industry", kind(g, false))
        }
        _ => kind(g, true),
    }
}

/// The group's five points, when it has them all.
fn distribution_of(g: &Group) -> Option<Distribution> {
    match (g.p10, g.p25, g.median, g.p75, g.p90) {
        (Some(p10), Some(p25), Some(median), Some(p75), Some(p90)) => Some(Distribution {
            p10,
            p25,
            median,
            p75,
            p90,
        }),
        _ => None,
    }
}

/// The chart in a sentence: where the member's rate stands among the others', or why
/// there is no chart.
fn summary(g: &Group, q: Option<&Distribution>, metric: &str, compared: &str) -> String {
    match (q, g.own_rate, g.percentile) {
        (Some(q), Some(rate), Some(pct)) => format!(
            "Your {metric} of {} is higher than {:.0} % of the {} other accounts with {compared}; their median is {}.",
            percent(rate),
            pct,
            thousands(i64::from(g.accounts)),
            percent(q.median)
        ),
        (Some(q), None, _) => format!(
            "You have no views in this group yet. The {} other accounts with {compared} have a median {metric} of {}.",
            thousands(i64::from(g.accounts)),
            percent(q.median)
        ),
        _ => g
            .reason
            .clone()
            .unwrap_or_else(|| "Not enough comparable accounts to show this group yet.".into()),
    }
}

/// The chart's table.
fn quantiles(d: &Distribution) -> Vec<(&'static str, String)> {
    vec![
        ("10th percentile", percent(d.p10)),
        ("25th percentile", percent(d.p25)),
        ("Median", percent(d.median)),
        ("75th percentile", percent(d.p75)),
        ("90th percentile", percent(d.p90)),
    ]
}

/// The member's percentile at each earlier computation.
fn trend(g: &Group) -> Vec<(String, String)> {
    g.trend
        .iter()
        .map(|t| {
            (
                t.computed_at.format("%b %-d").to_string(),
                t.percentile
                    .map(|p| format!("{p:.0}"))
                    .unwrap_or_else(|| "–".into()),
            )
        })
        .collect()
}

fn rank(g: &Group) -> Option<String> {
    g.percentile.filter(|_| g.own_rate.is_some()).map(|p| {
        format!(
            "the {} percentile",
            ordinal(p.round().clamp(0.0, 100.0) as u32)
        )
    })
}

fn view(i: usize, g: Group) -> GroupView {
    let id = format!("bench-{i}");
    let metric = metric_name(g.metric);
    let title = format!(
        "{} of your {}",
        super::forms::sentence(metric).trim_end_matches('.'),
        kind(&g, true)
    );
    let q = distribution_of(&g);
    let compared = compared(&g);
    GroupView {
        summary: summary(&g, q.as_ref(), metric, &compared),
        chart: q
            .as_ref()
            .map(|d| chart::distribution(&format!("{id}-title"), d, g.own_rate)),
        quantiles: q.as_ref().map(quantiles).unwrap_or_default(),
        own: g.own_rate.map(percent).unwrap_or_else(|| "–".into()),
        trend: trend(&g),
        rank: rank(&g),
        id,
        title,
        metric,
        compared,
        group: g,
    }
}

pub(super) async fn page(req: Req) -> Result<Response> {
    let b = req
        .state
        .benchmarks
        .read(req.account()?, None, None)
        .await?;
    ok(
        &req,
        "pages/benchmarks.html",
        &BenchmarksPage {
            computed_at: b
                .computed_at
                .map(|d| d.format("%b %-d, %Y %H:%M UTC").to_string()),
            window: b.window,
            note: b.note,
            groups: b
                .groups
                .into_iter()
                .enumerate()
                .map(|(i, g)| view(i, g))
                .collect(),
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn ordinals_read_as_words() {
        let got: Vec<String> = [0, 1, 2, 3, 4, 11, 12, 13, 21, 62, 100]
            .into_iter()
            .map(super::ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "0th", "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "62nd", "100th"
            ]
        );
    }
}
