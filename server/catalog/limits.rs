//! What of a member's catalogue exceeds their plan, and taking it off their sites. A
//! downgrade never deletes anything: sites past the plan's count (the newest first),
//! bars past a site's allowance and bars with more variants than allowed are paused,
//! each with the reason in words, and cannot be published again until they fit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::db::catalog as q;
use crate::domain::{BarId, MemberId, SiteId};
use crate::error::{Error, Result};
use crate::plans::Limits;

/// One bar that does not fit the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excess {
    pub bar: BarId,
    pub site: SiteId,
    /// `site_limit`, `bar_limit` or `variant_limit`.
    pub code: &'static str,
    pub limit: u64,
    pub current: u64,
    /// A sentence for the member.
    pub reason: String,
}

impl Excess {
    pub fn error(&self) -> Error {
        Error::Limit {
            code: self.code,
            message: self.reason.clone(),
            limit: self.limit,
            current: self.current,
        }
    }
}

/// Every bar of the member that the limits leave no room for, oldest kept first.
pub async fn excess(
    db: &impl ConnectionTrait,
    member: MemberId,
    limits: &Limits,
) -> Result<Vec<Excess>> {
    let sites = q::sites_of(db, member).await?;
    let site_ids: Vec<SiteId> = sites.iter().map(|s| s.id).collect();
    let bars = q::bars_of_sites(db, &site_ids).await?;
    let bar_ids: Vec<BarId> = bars.iter().map(|b| b.id).collect();
    let mut variants: HashMap<BarId, u64> = HashMap::new();
    for v in q::variants_of(db, &bar_ids).await? {
        *variants.entry(v.bar_id).or_default() += 1;
    }
    let site_count = sites.len() as u64;
    let mut out = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let site_bars: Vec<_> = bars.iter().filter(|b| b.site_id == site.id).collect();
        let bar_count = site_bars.len() as u64;
        for (j, b) in site_bars.into_iter().enumerate() {
            let n_variants = variants.get(&b.id).copied().unwrap_or(0);
            let found = if let Some(limit) = limits.sites.filter(|l| i as u64 >= *l) {
                Some((
                    "site_limit",
                    limit,
                    site_count,
                    format!(
                        "your plan allows {limit} site{} and \"{}\" is site {} of {site_count}",
                        plural(limit),
                        site.name,
                        i + 1
                    ),
                ))
            } else if let Some(limit) = limits.bars_per_site.filter(|l| j as u64 >= *l) {
                Some((
                    "bar_limit",
                    limit,
                    bar_count,
                    format!(
                        "your plan allows {limit} bar{} per site and \"{}\" has {bar_count}",
                        plural(limit),
                        site.name
                    ),
                ))
            } else {
                limits
                    .variants_per_bar
                    .filter(|l| n_variants > *l)
                    .map(|limit| {
                        (
                            "variant_limit",
                            limit,
                            n_variants,
                            format!(
                                "your plan allows {limit} variant{} per bar and this bar has {n_variants}; delete variants to publish it",
                                plural(limit)
                            ),
                        )
                    })
            };
            if let Some((code, limit, current, reason)) = found {
                out.push(Excess {
                    bar: b.id,
                    site: site.id,
                    code,
                    limit,
                    current,
                    reason: format!("\"{}\" was paused: {reason}", b.name),
                });
            }
        }
    }
    Ok(out)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Takes every live bar that exceeds the limits off its site, recording why, inside the
/// caller's transaction. Returns the reasons, one per bar paused.
pub async fn pause_excess(
    db: &impl ConnectionTrait,
    member: MemberId,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let mut paused = Vec::new();
    for e in excess(db, member, limits).await? {
        if q::end_deployments_of_bar(db, e.bar, now).await? > 0 {
            q::set_paused_reason(db, e.bar, Some(&e.reason)).await?;
            q::bump_script(db, e.site, now).await?;
            tracing::info!(bar_id = %e.bar, member_id = %member, code = e.code, "bar paused by the plan");
            paused.push(e.reason);
        }
    }
    Ok(paused)
}
