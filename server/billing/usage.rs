//! This month's usage against the plan, and the `plan_usage` job that watches monthly
//! views: it emails at 80 % and at 100 % of the limit (once each per account and month),
//! records the month in which an account went over, and rebuilds the account's scripts
//! when that changes whether they serve bars (plans that stop at the limit) — at the
//! limit, after an upgrade, and when a new month begins.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Billing, thousands};
use crate::db::billing as q;
use crate::db::catalog::{self as catalog_q, bump_scripts_of_account};
use crate::domain::{AccountId, BarId, SiteId};
use crate::error::Result;
use crate::mail::UsageWarning;
use crate::plans::{Limits, Overage, Plan};
use crate::reporting::report::Scope;
use crate::reporting::usage::{month_of, usage};

/// Something used against the plan's allowance (`limit: null`: no limit).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Meter {
    pub used: u64,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanUsage {
    /// The calendar month (UTC) the views are counted in: `2026-12`.
    pub month: String,
    pub sites: Meter,
    /// The most bars on any one site.
    pub bars_per_site: Meter,
    /// The most variants on any one bar.
    pub variants_per_bar: Meter,
    pub monthly_views: Meter,
}

/// `2026-12`
pub(super) fn month_key(now: DateTime<Utc>) -> String {
    now.format("%Y-%m").to_string()
}

pub(super) async fn usage_of(
    db: &impl ConnectionTrait,
    account: AccountId,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<PlanUsage> {
    let sites = catalog_q::sites_of(db, account).await?;
    let site_ids: Vec<SiteId> = sites.iter().map(|s| s.id).collect();
    let bars = catalog_q::bars_of_sites(db, &site_ids).await?;
    let mut per_site: HashMap<SiteId, u64> = HashMap::new();
    for b in &bars {
        *per_site.entry(b.site_id).or_default() += 1;
    }
    let bar_ids: Vec<BarId> = bars.iter().map(|b| b.id).collect();
    let mut per_bar: HashMap<BarId, u64> = HashMap::new();
    for v in catalog_q::variants_of(db, &bar_ids).await? {
        *per_bar.entry(v.bar_id).or_default() += 1;
    }
    let views = usage(db, Scope::Account(account), now).await?.views;
    Ok(PlanUsage {
        month: month_key(now),
        sites: Meter {
            used: sites.len() as u64,
            limit: limits.sites,
        },
        bars_per_site: Meter {
            used: per_site.values().copied().max().unwrap_or(0),
            limit: limits.bars_per_site,
        },
        variants_per_bar: Meter {
            used: per_bar.values().copied().max().unwrap_or(0),
            limit: limits.variants_per_bar,
        },
        monthly_views: Meter {
            used: u64::try_from(views).unwrap_or(0),
            limit: limits.monthly_views,
        },
    })
}

impl Billing {
    /// The `plan_usage` job: one pass over every account with views this month, and
    /// over every account recorded as over its limit.
    pub async fn check_usage(&self) -> anyhow::Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let now = self.clock.now();
        let (start, _) = month_of(now)?;
        let views: HashMap<AccountId, i64> = q::views_by_account(&self.db, start)
            .await?
            .into_iter()
            .collect();
        let plans: HashMap<AccountId, (String, Option<String>)> = q::accounts(&self.db)
            .await?
            .into_iter()
            .map(|a| (a.account_id, (a.plan_id, a.over_views_month)))
            .collect();
        let mut accounts: HashSet<AccountId> = views.keys().copied().collect();
        accounts.extend(plans.iter().filter(|(_, a)| a.1.is_some()).map(|(m, _)| *m));
        for account in accounts {
            let (plan_id, marked) = plans.get(&account).cloned().unwrap_or_default();
            let plan = self.plan_named(Some(plan_id.as_str()).filter(|p| !p.is_empty()));
            let used = views
                .get(&account)
                .and_then(|v| u64::try_from(*v).ok())
                .unwrap_or(0);
            self.check_member_usage(account, &plan, used, marked.as_deref(), now)
                .await?;
        }
        self.mailer.wake();
        Ok(())
    }

    /// One account's `used` views in the month of `now` against its plan: records
    /// whether it is over (`marked`: the month recorded so far), rebuilds its scripts
    /// when that changes, and emails at 80 % and 100 %.
    async fn check_member_usage(
        &self,
        account: AccountId,
        plan: &Plan,
        used: u64,
        marked: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let month = month_key(now);
        let limit = plan.limits.monthly_views;
        let over = limit.is_some_and(|l| used >= l);
        let percent = match limit {
            Some(_) if over => 100,
            Some(l) if used.saturating_mul(100) >= l.saturating_mul(80) => 80,
            _ => 0,
        };
        let mark = over.then_some(month.as_str());
        if percent == 0 && marked == mark {
            return Ok(());
        }
        let txn = crate::db::begin(&self.db).await?;
        if q::set_over_views(&txn, account, &plan.id, mark, now).await? {
            // Whether the scripts serve bars may have changed either way.
            bump_scripts_of_account(&txn, account, now).await?;
            if over {
                tracing::warn!(account_id = %account, plan = %plan.id, views = used, blocks = plan.overage == Overage::Block, "an account passed its monthly views");
            } else {
                tracing::info!(account_id = %account, "an account's monthly views are within its plan again");
            }
        }
        if let Some(limit) = limit.filter(|_| percent > 0) {
            let (_, end) = month_of(now)?;
            self.email(
                &txn,
                account,
                &format!("usage_warning:{account}:{month}:{percent}"),
                &UsageWarning {
                    percent,
                    views: thousands(used),
                    limit: thousands(limit),
                    month: now.format("%B %Y").to_string(),
                    blocks: plan.overage == Overage::Block,
                    resets_on: super::day(end),
                    billing_url: self.billing_url(),
                },
            )
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}
