//! What of an account's catalogue exceeds their plan, and taking it off their sites. A
//! downgrade never deletes anything: sites past the plan's count (the newest first),
//! bars past a site's allowance and bars with more variants than allowed are paused,
//! each with the reason in words, and cannot be published again until they fit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::db::catalog as q;
use crate::db::entities::bar;
use crate::domain::{AccountId, BarId, SiteId};
use crate::error::{Error, Result};
use crate::plans::{Limits, past};

/// One bar that does not fit the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excess {
    pub bar: BarId,
    pub site: SiteId,
    /// `site_limit`, `bar_limit` or `variant_limit`.
    pub code: &'static str,
    pub limit: u64,
    pub current: u64,
    /// A sentence for the account.
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

/// Where one bar stands in its account's catalogue, as the limits see it.
struct Place<'a> {
    site_name: &'a str,
    /// 0 for the account's oldest site.
    site_index: u64,
    sites: u64,
    bar_name: &'a str,
    /// 0 for the site's oldest bar.
    bar_index: u64,
    bars: u64,
    variants: u64,
}

/// Whether the bar at `place` has no room under `limits`, and why. The oldest sites and
/// bars are the ones kept: a site or bar is past its limit when it and those older than
/// it are more than the limit allows.
fn judge(place: &Place<'_>, limits: &Limits) -> Option<(&'static str, u64, u64, String)> {
    let Place {
        site_name,
        site_index: i,
        sites: site_count,
        bar_index: j,
        bars: bar_count,
        variants: n_variants,
        ..
    } = *place;
    if let Some(limit) = past(limits.sites, i + 1) {
        return Some((
            "site_limit",
            limit,
            site_count,
            format!(
                "your plan allows {limit} site{} and \"{site_name}\" is site {} of {site_count}",
                plural(limit),
                i + 1
            ),
        ));
    }
    if let Some(limit) = past(limits.bars_per_site, j + 1) {
        return Some((
            "bar_limit",
            limit,
            bar_count,
            format!(
                "your plan allows {limit} bar{} per site and \"{site_name}\" has {bar_count}",
                plural(limit)
            ),
        ));
    }
    past(limits.variants_per_bar, n_variants).map(|limit| {
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
}

fn excess_at(place: &Place<'_>, bar: BarId, site: SiteId, limits: &Limits) -> Option<Excess> {
    judge(place, limits).map(|(code, limit, current, reason)| Excess {
        bar,
        site,
        code,
        limit,
        current,
        reason: format!("\"{}\" was paused: {reason}", place.bar_name),
    })
}

/// Every bar of the account that the limits leave no room for, oldest kept first.
pub async fn excess(
    db: &impl ConnectionTrait,
    account: AccountId,
    limits: &Limits,
) -> Result<Vec<Excess>> {
    let sites = q::sites_of(db, account).await?;
    let site_ids: Vec<SiteId> = sites.iter().map(|s| s.id).collect();
    let bars = q::bars_of_sites(db, &site_ids).await?;
    let bar_ids: Vec<BarId> = bars.iter().map(|b| b.id).collect();
    let mut variants: HashMap<BarId, u64> = HashMap::new();
    for v in q::variants_of(db, &bar_ids).await? {
        *variants.entry(v.bar_id).or_default() += 1;
    }
    let mut out = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let site_bars: Vec<_> = bars.iter().filter(|b| b.site_id == site.id).collect();
        let bar_count = site_bars.len() as u64;
        for (j, b) in site_bars.into_iter().enumerate() {
            let place = Place {
                site_name: &site.name,
                site_index: i as u64,
                sites: sites.len() as u64,
                bar_name: &b.name,
                bar_index: j as u64,
                bars: bar_count,
                variants: variants.get(&b.id).copied().unwrap_or(0),
            };
            out.extend(excess_at(&place, b.id, site.id, limits));
        }
    }
    Ok(out)
}

/// Whether one bar has room under the limits: the same answer as [`excess`] gives for
/// it, from a few counts rather than the account's whole catalogue (publishing asks this
/// while it holds the database's write lock).
pub async fn excess_of_bar(
    db: &impl ConnectionTrait,
    account: AccountId,
    bar: &bar::Model,
    limits: &Limits,
) -> Result<Option<Excess>> {
    if limits.sites.is_none() && limits.bars_per_site.is_none() && limits.variants_per_bar.is_none()
    {
        return Ok(None);
    }
    let Some(site) = q::site_by_id(db, bar.site_id).await? else {
        return Ok(None);
    };
    let place = Place {
        site_name: &site.name,
        site_index: q::count_sites_before(db, account, site.id).await?,
        sites: q::count_sites(db, account).await?,
        bar_name: &bar.name,
        bar_index: q::count_bars_before(db, site.id, bar.id).await?,
        bars: q::count_bars(db, site.id).await?,
        variants: q::count_variants(db, bar.id).await?,
    };
    Ok(excess_at(&place, bar.id, site.id, limits))
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Takes every live bar that exceeds the limits off its site, recording why, inside the
/// caller's transaction. Returns the reasons, one per bar paused.
pub async fn pause_excess(
    db: &impl ConnectionTrait,
    account: AccountId,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let mut paused = Vec::new();
    for e in excess(db, account, limits).await? {
        if q::end_deployments_of_bar(db, e.bar, now).await? > 0 {
            q::set_paused_reason(db, e.bar, Some(&e.reason)).await?;
            q::bump_script(db, e.site, now).await?;
            tracing::info!(bar_id = %e.bar, account_id = %account, code = e.code, "bar paused by the plan");
            paused.push(e.reason);
        }
    }
    Ok(paused)
}
