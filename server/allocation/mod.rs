//! Bars that optimise rather than test: instead of splitting new visitors by fixed
//! weights, they send most of them to the variant doing best, by Thompson sampling on
//! click-through. Once an hour the `allocation` job (one process at a time, under the job
//! lease) computes each such bar's shares from its live deployments' views and clicks,
//! stores them beside the deployments, and bumps the site's script version, so every
//! process serves the new shares within about a second. A visitor keeps the variant first
//! shown (the runtime remembers it in their own storage); only new visitors follow the
//! shares. docs/experiments.md says why such a bar claims no winner.

use std::collections::{BTreeMap, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clock::Clock;
use crate::db::Db;
use crate::db::allocations;
use crate::db::catalog::bump_script;
use crate::domain::{Allocation, BarId, DeploymentId};

/// Every variant keeps at least this share of new visitors, so one that started unlucky
/// can still show what it is worth.
pub const FLOOR: f64 = 0.05;
/// Shares add up to this weight in the script.
const TOTAL_WEIGHT: f64 = 1000.0;
/// Draws from the posteriors per computation: shares within about a point of exact.
const DRAWS: usize = 10_000;
/// Above this many clicks and non-clicks a posterior is drawn from its normal
/// approximation (as exact here, and far cheaper).
const NORMAL_FROM: f64 = 30.0;

/// Views and clicks of one variant's live deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub views: i64,
    pub clicks: i64,
}

/// Each arm's share of new visitors: its probability of having the highest click-through
/// rate under a uniform prior (Beta(1 + clicks, 1 + views − clicks)), estimated from
/// `DRAWS` joint draws, with every arm kept at `FLOOR` at least. The same seed gives the
/// same shares.
pub fn shares(arms: &[Counted], seed: u64) -> Vec<f64> {
    let k = arms.len();
    if k < 2 {
        return vec![1.0; k];
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut wins = vec![0usize; k];
    for _ in 0..DRAWS {
        let mut best = (0, f64::NEG_INFINITY);
        for (i, arm) in arms.iter().enumerate() {
            let clicks = arm.clicks.clamp(0, arm.views.max(0)) as f64;
            let misses = arm.views.max(0) as f64 - clicks;
            let draw = beta(1.0 + clicks, 1.0 + misses, &mut rng);
            if draw > best.1 {
                best = (i, draw);
            }
        }
        wins[best.0] += 1;
    }
    let floor = FLOOR.min(1.0 / k as f64);
    wins.iter()
        .map(|w| floor + (1.0 - k as f64 * floor) * (*w as f64 / DRAWS as f64))
        .collect()
}

/// Shares as the runtime's weights (at least 1 each, so no live variant disappears).
pub fn weights(shares: &[f64]) -> Vec<u16> {
    shares
        .iter()
        .map(|s| (s * TOTAL_WEIGHT).round().clamp(1.0, TOTAL_WEIGHT) as u16)
        .collect()
}

/// A draw from Beta(a, b), a and b at least 1.
fn beta(a: f64, b: f64, rng: &mut StdRng) -> f64 {
    if a > NORMAL_FROM && b > NORMAL_FROM {
        let n = a + b;
        let mean = a / n;
        return mean + (mean * (1.0 - mean) / (n + 1.0)).sqrt() * normal(rng);
    }
    let x = gamma(a, rng);
    x / (x + gamma(b, rng))
}

/// A draw from Gamma(shape, 1) for shape ≥ 1 (Marsaglia and Tsang).
fn gamma(shape: f64, rng: &mut StdRng) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[derive(Clone)]
pub struct Allocator {
    db: Db,
    clock: Clock,
}

impl Allocator {
    pub fn new(db: Db, clock: Clock) -> Self {
        Allocator { db, clock }
    }

    /// One round of the `allocation` job: every optimised bar's shares from its live
    /// deployments' counts. Sites whose shares changed serve them at once.
    pub async fn run(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let live = allocations::candidates(&self.db).await?;
        let mut bars: BTreeMap<BarId, Vec<(DeploymentId, crate::domain::SiteId)>> = BTreeMap::new();
        for d in live
            .iter()
            .filter(|d| d.snapshot.settings.allocation == Allocation::Thompson)
        {
            bars.entry(d.bar_id).or_default().push((d.id, d.site_id));
        }
        let ids: Vec<DeploymentId> = bars.values().flatten().map(|(d, _)| *d).collect();
        let counted = allocations::totals(&self.db, &ids).await?;
        // The same bar in the same hour draws the same shares, whichever process runs it.
        let hour = now.timestamp() / 3600;
        let mut weights = Vec::with_capacity(ids.len());
        for (bar, list) in &bars {
            let arms: Vec<Counted> = list
                .iter()
                .map(|(d, _)| {
                    let (views, clicks) = counted.get(d).copied().unwrap_or_default();
                    Counted { views, clicks }
                })
                .collect();
            let seed = (bar.0 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hour as u64;
            let arms_weights = weights_for(&arms, seed).await?;
            weights.extend(list.iter().map(|(d, _)| *d).zip(arms_weights));
        }
        let changed: HashSet<DeploymentId> = allocations::store(&self.db, &weights, now)
            .await?
            .into_iter()
            .collect();
        let sites: HashSet<crate::domain::SiteId> = bars
            .values()
            .flatten()
            .filter(|(d, _)| changed.contains(d))
            .map(|(_, site)| *site)
            .collect();
        for site in sites {
            bump_script(&self.db, site, now).await?;
        }
        Ok(())
    }
}

/// The draws are CPU work: off the async workers.
async fn weights_for(arms: &[Counted], seed: u64) -> anyhow::Result<Vec<u16>> {
    let arms = arms.to_vec();
    Ok(tokio::task::spawn_blocking(move || weights(&shares(&arms, seed))).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(views: i64, clicks: i64) -> Counted {
        Counted { views, clicks }
    }

    #[test]
    fn without_data_the_shares_are_even() {
        let s = shares(&[arm(0, 0), arm(0, 0)], 1);
        assert!(
            (s[0] - 0.5).abs() < 0.02 && (s[1] - 0.5).abs() < 0.02,
            "{s:?}"
        );
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(shares(&[arm(10, 1)], 1), vec![1.0]);
    }

    #[test]
    fn the_better_variant_gets_most_visitors_and_the_other_keeps_the_floor() {
        // 3 % against 6 % over 2,000 views each: B is best in nearly every draw.
        let s = shares(&[arm(2000, 60), arm(2000, 120)], 7);
        assert!(s[1] > 0.9 && (s[0] - FLOOR).abs() < 0.01, "{s:?}");
        assert_eq!(weights(&s).iter().map(|w| u32::from(*w)).sum::<u32>(), 1000);
        // Close rates with little data: shares stay near even.
        let s = shares(&[arm(100, 3), arm(100, 4)], 7);
        assert!(s[1] > s[0] && s[1] < 0.75, "{s:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_shares() {
        let arms = [arm(500, 10), arm(500, 14), arm(500, 12)];
        assert_eq!(shares(&arms, 99), shares(&arms, 99));
    }

    #[test]
    fn beta_draws_have_the_right_mean_and_spread() {
        let mut rng = StdRng::seed_from_u64(3);
        for (a, b) in [(2.0, 8.0), (13.0, 390.0), (300.0, 9700.0)] {
            let n = 40_000;
            let draws: Vec<f64> = (0..n).map(|_| beta(a, b, &mut rng)).collect();
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let (m, v) = (a / (a + b), a * b / ((a + b).powi(2) * (a + b + 1.0)));
            assert!((mean - m).abs() < 0.02 * m + 1e-4, "{a},{b}: {mean} vs {m}");
            assert!((var - v).abs() < 0.05 * v, "{a},{b}: {var} vs {v}");
        }
    }
}
