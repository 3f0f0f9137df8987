//! A bar's A/B comparison: each variant's numbers, which one leads on click-through rate,
//! and whether the lead is real (a two-proportion z-test of the leader against the
//! runner-up).

use std::collections::HashMap;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr};
use serde::Serialize;
use utoipa::ToSchema;

use super::range::Range;
use super::report::{
    IDS_PER_QUERY, Numbers, Report, Scope, Source, counts, report_of, select_sums, within,
};
use crate::db::Db;
use crate::domain::{BarId, Counts, DeploymentId, VariantId};
use crate::error::Result;

/// A variant's numbers in a bar's A/B comparison.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantNumbers {
    pub variant_id: VariantId,
    pub name: String,
    #[serde(flatten)]
    pub numbers: Numbers,
}

/// Which variant leads on click-through rate, and whether the lead is real: a
/// two-proportion z-test of the leader against the runner-up.
#[derive(Debug, Serialize, PartialEq, ToSchema)]
pub struct AbTest {
    pub leader: Option<VariantId>,
    pub runner_up: Option<VariantId>,
    /// The lead is significant at this confidence (two-sided).
    pub confidence: f64,
    pub significant: bool,
    pub z: Option<f64>,
    pub p_value: Option<f64>,
    /// Relative difference in CTR, leader over runner-up.
    pub lift: Option<f64>,
    pub note: String,
    /// The result in one sentence: "B leads by 1.2 points; significant at 95 %", or
    /// "A leads by 0.3 points; not significant yet: about 4,100 more views needed".
    pub verdict: String,
    /// While the lead is not significant: about how many more views (of the two variants
    /// together) a difference this size needs to show at 95 % with 80 % power.
    pub more_views_needed: Option<i64>,
}

/// Views each of two variants needs for a difference between rates `p1` and `p2` to show
/// as significant at 95 % (two-sided) with 80 % power.
pub fn views_needed(p1: f64, p2: f64) -> Option<f64> {
    const Z_ALPHA: f64 = 1.959_964;
    const Z_POWER: f64 = 0.841_621;
    let d = (p1 - p2).abs();
    if d == 0.0 || !d.is_finite() {
        return None;
    }
    Some((Z_ALPHA + Z_POWER).powi(2) * (p1 * (1.0 - p1) + p2 * (1.0 - p2)) / (d * d))
}

fn grouped(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The comparison in words, and the views still needed while it is not significant.
fn verdict(
    a: &VariantNumbers,
    b: &VariantNumbers,
    significant: bool,
    enough: bool,
) -> (String, Option<i64>) {
    let (ra, rb) = (a.numbers.ctr.unwrap_or(0.0), b.numbers.ctr.unwrap_or(0.0));
    let points = (ra - rb) * 100.0;
    if points.abs() < 0.005 {
        return (
            format!(
                "{} and {} are level so far ({:.2} %).",
                a.name,
                b.name,
                ra * 100.0
            ),
            None,
        );
    }
    let lead = format!("{} leads {} by {:.2} points", a.name, b.name, points);
    if significant {
        return (format!("{lead}; significant at 95 %."), None);
    }
    let more = views_needed(ra, rb).map(|n| {
        let n = n.ceil() as i64;
        (n - a.numbers.views).max(0) + (n - b.numbers.views).max(0)
    });
    match more {
        Some(m) if m > 0 => (
            format!(
                "{lead}; not significant yet: about {} more views needed.",
                grouped(m)
            ),
            Some(m),
        ),
        _ if !enough => (
            format!("{lead}; not significant yet: each variant needs at least 5 clicks."),
            None,
        ),
        _ => (format!("{lead}; not significant at 95 %."), None),
    }
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
    let none = |note: &str, verdict: &str| AbTest {
        leader: ranked.first().map(|v| v.variant_id),
        runner_up: None,
        confidence: CONFIDENCE,
        significant: false,
        z: None,
        p_value: None,
        lift: None,
        note: note.to_string(),
        verdict: verdict.to_string(),
        more_views_needed: None,
    };
    if variants.len() < 2 {
        return none(
            "only one variant: nothing to compare",
            "One variant: add another to run an A/B test.",
        );
    }
    let (Some(a), Some(b)) = (ranked.first(), ranked.get(1)) else {
        return none(
            "fewer than two variants have views yet",
            "Not enough data yet: at least two variants need views.",
        );
    };
    let (na, nb) = (&a.numbers, &b.numbers);
    let Some((z, p)) = two_proportion_test(na.clicks, na.views, nb.clicks, nb.views) else {
        return AbTest {
            runner_up: Some(b.variant_id),
            ..none(
                "no clicks yet, or no difference to test",
                "Not enough data yet: no clicks to compare.",
            )
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
    let (verdict, more_views_needed) = verdict(a, b, significant, enough);
    AbTest {
        verdict,
        more_views_needed,
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
#[derive(Debug, Serialize, ToSchema)]
pub struct BarReport {
    #[serde(flatten)]
    pub report: Report,
    pub variants: Vec<VariantNumbers>,
    pub ab_test: AbTest,
}

/// The bar's report with each variant's numbers (every variant it has or had that was
/// counted) and the comparison, from one query grouped by variant and bucket.
pub async fn bar_report(db: &Db, bar: BarId, range: Range, compare: bool) -> Result<BarReport> {
    let source = Source::of(range.interval);
    let deployments = Scope::Bar(bar).deployments(db).await?;
    let ids: Vec<DeploymentId> = deployments.iter().map(|(d, _)| *d).collect();
    let variant_of: HashMap<DeploymentId, VariantId> = deployments.into_iter().collect();
    // Each deployment's totals, grouped in SQL, then added up per variant.
    let mut per_variant: HashMap<VariantId, Counts> = HashMap::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut q = within(chunk, source, range.from.timestamp(), range.to.timestamp());
        let (table, _) = source.time();
        q.expr_as(
            Expr::col((table, Alias::new("deployment_id"))),
            Alias::new("deployment_id"),
        );
        select_sums(&mut q, source);
        q.add_group_by([Expr::col(Alias::new("deployment_id"))]);
        for row in db.query_all(&q).await? {
            let deployment: DeploymentId = row.try_get_by_index(0)?;
            if let Some(variant) = variant_of.get(&deployment) {
                per_variant
                    .entry(*variant)
                    .or_default()
                    .add(&counts(&row, 1)?);
            }
        }
    }
    let variants: Vec<VariantNumbers> = crate::db::catalog::all_variants_of(db, bar)
        .await?
        .into_iter()
        .filter(|v| v.deleted_at.is_none() || per_variant.contains_key(&v.id))
        .map(|v| VariantNumbers {
            numbers: per_variant.get(&v.id).copied().unwrap_or_default().into(),
            variant_id: v.id,
            name: v.name,
        })
        .collect();
    let ab_test = ab_test(&variants);
    let mut report = report_of(db, &ids, range).await?;
    if compare {
        report.previous = Some(report_of(db, &ids, range.previous()).await?.into());
    }
    Ok(BarReport {
        report,
        variants,
        ab_test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            variant_id: VariantId(id),
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
            (Some(VariantId(2)), Some(VariantId(1)), true)
        );
        assert!(clear.lift.unwrap() > 0.33 && clear.lift.unwrap() < 0.34);
        let close = ab_test(&[v(1, 50, 1000), v(2, 52, 1000)]);
        assert_eq!(
            (close.leader, close.significant),
            (Some(VariantId(2)), false)
        );
        let tiny = ab_test(&[v(1, 3, 10), v(2, 0, 10)]);
        assert!(!tiny.significant && tiny.note.contains("too few"));
        assert_eq!(
            clear.verdict,
            "V2 leads V1 by 5.00 points; significant at 95 %."
        );
        assert!(
            close
                .verdict
                .starts_with("V2 leads V1 by 0.20 points; not significant yet: about "),
            "{}",
            close.verdict
        );
        // 5.0 % against 5.2 %: about 188,000 views each, so about 374,000 more in all.
        let more = close.more_views_needed.unwrap();
        assert!((370_000..380_000).contains(&more), "{more}");
        let single = ab_test(&[v(1, 3, 10)]);
        assert!(single.verdict.starts_with("One variant"));
        assert_eq!(
            (single.leader, single.significant),
            (Some(VariantId(1)), false)
        );
    }
}
