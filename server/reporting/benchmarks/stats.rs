//! The arithmetic of benchmarks: a cell's distribution of click-through rates with any one
//! account left out (type-7 quantiles, mid-rank percentiles, view dominance), the rule
//! that withholds a distribution from members, and the Laplace noise added to the
//! quantiles that are published.

/// One account in a cell: its click-through rate and its views.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub rate: f64,
    pub views: u64,
}

/// The five published quantiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiles {
    pub p10: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub p90: f64,
}

/// A cell's accounts, sorted by rate once, so that the distribution without any one of
/// them (leave-one-out) is read in O(1) per quantile.
///
/// A `skip` past the end leaves nothing out.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Sorted by rate, ascending.
    entries: Vec<Entry>,
    /// Wide enough that no number of `u64` views can overflow it.
    total_views: u128,
    /// Positions of the (up to) three accounts with the most views, most first: with any
    /// one of them skipped, the other two are still the top two.
    top: Vec<usize>,
}

impl Cell {
    pub fn new(mut entries: Vec<Entry>) -> Cell {
        entries.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        let total_views = entries.iter().map(|e| u128::from(e.views)).sum();
        let mut top: Vec<usize> = Vec::with_capacity(4);
        for (i, e) in entries.iter().enumerate() {
            let at = top.partition_point(|&t| entries[t].views >= e.views);
            if at < 3 {
                top.insert(at, i);
                top.truncate(3);
            }
        }
        Cell {
            entries,
            total_views,
            top,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Position in sorted order of some entry equal to `e` (same rate and same views), if
    /// present.
    pub fn position(&self, e: Entry) -> Option<usize> {
        let start = self.entries.partition_point(|x| x.rate < e.rate);
        self.entries[start..]
            .iter()
            .take_while(|x| x.rate == e.rate)
            .position(|x| x.views == e.views)
            .map(|i| start + i)
    }

    /// Quantiles of all entries except the one at sorted position `skip` (None: all).
    /// None when fewer than 1 entry remains.
    pub fn quantiles(&self, skip: Option<usize>) -> Option<Quantiles> {
        let skip = self.valid(skip);
        let n = self.count(skip);
        if n == 0 {
            return None;
        }
        let q = |p| self.quantile(p, n, skip);
        Some(Quantiles {
            p10: q(0.10),
            p25: q(0.25),
            median: q(0.50),
            p75: q(0.75),
            p90: q(0.90),
        })
    }

    /// How many accounts remain without `skip`.
    pub fn count(&self, skip: Option<usize>) -> usize {
        self.len() - usize::from(self.valid(skip).is_some())
    }

    /// Shares of all remaining views (without `skip`) held by the biggest account and by
    /// the biggest two together, as (top1, top2) in [0,1]. With 0 total views return
    /// (1.0, 1.0) if any account remains else (0,0).
    pub fn dominance(&self, skip: Option<usize>) -> (f64, f64) {
        let skip = self.valid(skip);
        if self.count(skip) == 0 {
            return (0.0, 0.0);
        }
        let views = |i: usize| u128::from(self.entries[i].views);
        let total = self.total_views - skip.map_or(0, views);
        if total == 0 {
            // Nobody has any views, so nothing shows that the views are spread out.
            return (1.0, 1.0);
        }
        let mut rest = self.top.iter().copied().filter(|&i| Some(i) != skip);
        let first = rest.next().map_or(0, views);
        let second = rest.next().map_or(0, views);
        // Integer sums before one division each, so that shares exactly at a limit
        // (1/2, 3/4) come out exactly and pass.
        let total = total as f64;
        (first as f64 / total, (first + second) as f64 / total)
    }

    /// Percentile of `rate` among the remaining accounts: 100 × (number below + half the
    /// number equal) / count. None when no account remains.
    pub fn percentile(&self, rate: f64, skip: Option<usize>) -> Option<f64> {
        let skip = self.valid(skip);
        let n = self.count(skip);
        if n == 0 {
            return None;
        }
        let mut below = self.entries.partition_point(|e| e.rate < rate);
        let upto = self.entries.partition_point(|e| e.rate <= rate);
        let mut equal = upto - below;
        match skip {
            Some(s) if s < below => below -= 1,
            Some(s) if s < upto => equal -= 1,
            _ => {}
        }
        Some(100.0 * (below as f64 + equal as f64 / 2.0) / n as f64)
    }

    fn valid(&self, skip: Option<usize>) -> Option<usize> {
        skip.filter(|&s| s < self.len())
    }

    /// Rate at position `i` of the sorted list with `skip` removed, without copying it.
    fn rate_at(&self, i: usize, skip: Option<usize>) -> f64 {
        self.entries[i + usize::from(skip.is_some_and(|s| i >= s))].rate
    }

    /// Type 7 (numpy's, R's and Excel's PERCENTILE.INC default): linear interpolation
    /// between the closest ranks. Members are told this definition, so it must not change.
    fn quantile(&self, p: f64, n: usize, skip: Option<usize>) -> f64 {
        let h = (n - 1) as f64 * p;
        let lo = h.floor();
        let below = self.rate_at(lo as usize, skip);
        let above = self.rate_at(h.ceil() as usize, skip);
        below + (h - lo) * (above - below)
    }
}

/// Why a distribution may not be shown, if it may not: fewer than `min_accounts`
/// accounts, one account over 50 % of the views, or two over 75 %.
pub fn withheld(count: usize, dominance: (f64, f64), min_accounts: usize) -> Option<Withheld> {
    let (top1, top2) = dominance;
    if count < min_accounts {
        Some(Withheld::TooFew {
            count,
            needed: min_accounts,
        })
    } else if top1 > ONE_LIMIT {
        Some(Withheld::OneDominates { share: top1 })
    } else if top2 > TWO_LIMIT {
        Some(Withheld::TwoDominate { share: top2 })
    } else {
        None
    }
}

const ONE_LIMIT: f64 = 0.50;
const TWO_LIMIT: f64 = 0.75;

/// Why a distribution is withheld.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Withheld {
    TooFew { count: usize, needed: usize },
    OneDominates { share: f64 },
    TwoDominate { share: f64 },
}

impl Withheld {
    /// A sentence for a member.
    pub fn reason(&self) -> String {
        match *self {
            Withheld::TooFew { count, needed } => {
                let have = match count {
                    0 => "no accounts".to_string(),
                    1 => "only 1 account".to_string(),
                    n => format!("only {n} accounts"),
                };
                let are = if needed == 1 { "is" } else { "are" };
                format!("{have} (at least {needed} {are} needed so that no one can be picked out)")
            }
            Withheld::OneDominates { share } => format!(
                "one account has {:.0} % of the views",
                whole_percent(share, ONE_LIMIT)
            ),
            Withheld::TwoDominate { share } => format!(
                "two accounts have {:.0} % of the views",
                whole_percent(share, TWO_LIMIT)
            ),
        }
    }
}

/// A share over `limit` as a whole percent above it: 50.2 % would otherwise round to
/// "50 %" and read as within the limit of 50 %.
fn whole_percent(share: f64, limit: f64) -> f64 {
    (share * 100.0).round().max(limit * 100.0 + 1.0)
}

/// The quantiles with Laplace noise of scale 1 / (epsilon × count) added to each, then
/// clamped to [0, 1] and put back in order (each at least the one before). `epsilon`
/// must be positive.
pub fn with_noise(q: Quantiles, epsilon: f64, count: usize, rng: &mut impl rand::Rng) -> Quantiles {
    let scale = 1.0 / (epsilon * count.max(1) as f64);
    let mut floor = 0.0_f64;
    let mut noisy = |x: f64| {
        // A NaN (only from an infinite scale) clamps to NaN and `max` then drops it, so
        // every value stays a number in [0, 1].
        floor = (x + laplace(scale, rng)).clamp(0.0, 1.0).max(floor);
        floor
    };
    Quantiles {
        p10: noisy(q.p10),
        p25: noisy(q.p25),
        median: noisy(q.median),
        p75: noisy(q.p75),
        p90: noisy(q.p90),
    }
}

/// A draw from the Laplace distribution with mean 0 and scale `b`, by inverting its CDF.
fn laplace(b: f64, rng: &mut impl rand::Rng) -> f64 {
    loop {
        let u = rng.random::<f64>() - 0.5;
        // At u = −0.5 the logarithm is of 0; drawing again keeps the distribution exact.
        if u > -0.5 {
            return -b * u.signum() * (1.0 - 2.0 * u.abs()).ln();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn entry(rate: f64, views: u64) -> Entry {
        Entry { rate, views }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn close_q(a: Quantiles, b: Quantiles) -> bool {
        close(a.p10, b.p10)
            && close(a.p25, b.p25)
            && close(a.median, b.median)
            && close(a.p75, b.p75)
            && close(a.p90, b.p90)
    }

    /// Type 7 on a plain sorted list, written independently of `Cell`.
    fn type7(sorted: &[f64], p: f64) -> f64 {
        let h = (sorted.len() - 1) as f64 * p;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        sorted[lo] + (h - h.floor()) * (sorted[hi] - sorted[lo])
    }

    /// Twelve accounts with ties in rate, and in views among the biggest.
    fn twelve() -> Vec<Entry> {
        [
            (0.05, 40),
            (0.02, 900),
            (0.05, 10),
            (0.10, 300),
            (0.00, 0),
            (0.02, 900),
            (0.07, 55),
            (0.05, 40),
            (0.31, 1),
            (0.10, 120),
            (0.07, 300),
            (0.01, 75),
        ]
        .into_iter()
        .map(|(r, v)| entry(r, v))
        .collect()
    }

    #[test]
    fn type_7_quantiles_of_a_known_list() {
        let cell = Cell::new((1..=11).rev().map(|i| entry(i as f64 / 100.0, 1)).collect());
        let q = cell.quantiles(None).unwrap();
        assert!(close(q.p10, 0.02), "{q:?}");
        assert!(close(q.p25, 0.035), "{q:?}");
        assert!(close(q.median, 0.06), "{q:?}");
        assert!(close(q.p75, 0.085), "{q:?}");
        assert!(close(q.p90, 0.10), "{q:?}");
    }

    #[test]
    fn one_entry_is_every_quantile_and_none_is_none() {
        let cell = Cell::new(vec![entry(0.3, 5)]);
        let q = cell.quantiles(None).unwrap();
        assert_eq!([q.p10, q.p25, q.median, q.p75, q.p90], [0.3; 5]);
        assert_eq!(cell.quantiles(Some(0)), None);
        assert_eq!(cell.count(Some(0)), 0);
        assert_eq!(cell.percentile(0.3, Some(0)), None);
        assert_eq!(cell.dominance(Some(0)), (0.0, 0.0));
        assert!(Cell::new(Vec::new()).is_empty());
        assert_eq!(Cell::new(Vec::new()).quantiles(None), None);
    }

    #[test]
    fn leave_one_out_equals_the_list_without_that_entry() {
        let cell = Cell::new(twelve());
        let mut sorted = twelve();
        sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        for skip in 0..sorted.len() {
            let mut rest = sorted.clone();
            rest.remove(skip);
            let rates: Vec<f64> = rest.iter().map(|e| e.rate).collect();
            let want = Quantiles {
                p10: type7(&rates, 0.10),
                p25: type7(&rates, 0.25),
                median: type7(&rates, 0.50),
                p75: type7(&rates, 0.75),
                p90: type7(&rates, 0.90),
            };
            let got = cell.quantiles(Some(skip)).unwrap();
            assert!(close_q(got, want), "skip {skip}: {got:?} != {want:?}");
            assert_eq!(cell.count(Some(skip)), 11);

            let mut views: Vec<u64> = rest.iter().map(|e| e.views).collect();
            views.sort_unstable_by(|a, b| b.cmp(a));
            let total: u64 = views.iter().sum();
            let (top1, top2) = cell.dominance(Some(skip));
            assert!(close(top1, views[0] as f64 / total as f64), "skip {skip}");
            assert!(
                close(top2, (views[0] + views[1]) as f64 / total as f64),
                "skip {skip}"
            );

            for probe in [0.0, 0.02, 0.04, 0.05, 0.10, 0.31, 0.5] {
                let below = rates.iter().filter(|&&r| r < probe).count() as f64;
                let equal = rates.iter().filter(|&&r| r == probe).count() as f64;
                let want = 100.0 * (below + equal / 2.0) / rates.len() as f64;
                let got = cell.percentile(probe, Some(skip)).unwrap();
                assert!(
                    close(got, want),
                    "skip {skip}, rate {probe}: {got} != {want}"
                );
            }
        }
    }

    #[test]
    fn position_finds_an_equal_entry() {
        let cell = Cell::new(twelve());
        for e in twelve() {
            let at = cell.position(e).unwrap();
            assert_eq!(cell.entries[at], e);
        }
        assert_eq!(cell.position(entry(0.05, 41)), None);
        assert_eq!(cell.position(entry(0.06, 40)), None);
    }

    #[test]
    fn percentile_counts_ties_as_half() {
        let cell = Cell::new(vec![
            entry(0.1, 1),
            entry(0.2, 1),
            entry(0.2, 1),
            entry(0.3, 1),
        ]);
        // One below, two equal: (1 + 1) / 4.
        assert_eq!(cell.percentile(0.2, None), Some(50.0));
        assert_eq!(cell.percentile(0.05, None), Some(0.0));
        assert_eq!(cell.percentile(0.9, None), Some(100.0));
        // Without one of the ties: (1 + 0.5) / 3.
        let tie = cell.position(entry(0.2, 1)).unwrap();
        assert!(close(cell.percentile(0.2, Some(tie)).unwrap(), 50.0));
        // Without the one below: (0 + 1) / 3.
        assert!(close(cell.percentile(0.2, Some(0)).unwrap(), 100.0 / 3.0));
        // Without the one above: (1 + 1) / 3.
        assert!(close(cell.percentile(0.2, Some(3)).unwrap(), 200.0 / 3.0));
    }

    #[test]
    fn dominance_with_and_without_skip() {
        let cell = Cell::new(vec![entry(0.3, 100), entry(0.1, 600), entry(0.2, 300)]);
        assert_eq!(cell.dominance(None), (0.6, 0.9));
        let biggest = cell.position(entry(0.1, 600)).unwrap();
        assert_eq!(cell.dominance(Some(biggest)), (0.75, 1.0));
        let smallest = cell.position(entry(0.3, 100)).unwrap();
        assert!(close(cell.dominance(Some(smallest)).0, 600.0 / 900.0));
        assert_eq!(cell.dominance(Some(smallest)).1, 1.0);

        let idle = Cell::new(vec![entry(0.0, 0), entry(0.0, 0)]);
        assert_eq!(idle.dominance(None), (1.0, 1.0));
        assert_eq!(idle.dominance(Some(0)), (1.0, 1.0));
    }

    #[test]
    fn withheld_limits_are_inclusive() {
        assert_eq!(
            withheld(9, (0.1, 0.2), 10),
            Some(Withheld::TooFew {
                count: 9,
                needed: 10
            })
        );
        assert_eq!(
            withheld(10, (0.51, 0.6), 10),
            Some(Withheld::OneDominates { share: 0.51 })
        );
        assert_eq!(
            withheld(10, (0.4, 0.76), 10),
            Some(Withheld::TwoDominate { share: 0.76 })
        );
        assert_eq!(withheld(10, (0.5, 0.75), 10), None);

        // Exactly at the limits from real views.
        let cell = Cell::new(
            [500, 250, 50, 50, 50, 50, 50]
                .into_iter()
                .map(|v| entry(0.1, v))
                .collect(),
        );
        assert_eq!(withheld(cell.count(None), cell.dominance(None), 7), None);
    }

    #[test]
    fn reasons_read_as_sentences() {
        let few = Withheld::TooFew {
            count: 7,
            needed: 10,
        };
        assert_eq!(
            few.reason(),
            "only 7 accounts (at least 10 are needed so that no one can be picked out)"
        );
        assert_eq!(
            Withheld::OneDominates { share: 0.62 }.reason(),
            "one account has 62 % of the views"
        );
        assert_eq!(
            Withheld::TwoDominate { share: 0.81 }.reason(),
            "two accounts have 81 % of the views"
        );
        // Just over a limit never reads as the limit itself.
        assert_eq!(
            Withheld::OneDominates { share: 0.502 }.reason(),
            "one account has 51 % of the views"
        );
    }

    #[test]
    fn noise_keeps_order_and_the_unit_interval() {
        let mut rng = StdRng::seed_from_u64(7);
        let q = Quantiles {
            p10: 0.0,
            p25: 0.01,
            median: 0.5,
            p75: 0.99,
            p90: 1.0,
        };
        let mut moved = false;
        for _ in 0..1000 {
            let n = with_noise(q, 0.5, 4, &mut rng);
            let all = [n.p10, n.p25, n.median, n.p75, n.p90];
            assert!(all.iter().all(|x| (0.0..=1.0).contains(x)), "{n:?}");
            assert!(all.windows(2).all(|w| w[0] <= w[1]), "{n:?}");
            moved |= n != q;
        }
        assert!(moved);
    }

    #[test]
    fn laplace_has_the_right_scale() {
        let mut rng = StdRng::seed_from_u64(7);
        let b = 0.02;
        let draws: Vec<f64> = (0..20_000).map(|_| laplace(b, &mut rng)).collect();
        // Mean 0 and mean absolute deviation b; the tolerances are several standard errors.
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let spread = draws.iter().map(|x| x.abs()).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.05 * b, "mean {mean}");
        assert!((spread / b - 1.0).abs() < 0.05, "spread {spread}");
    }

    /// Yields the given words, then repeats the last.
    struct Script(Vec<u64>);

    impl rand::RngCore for Script {
        fn next_u32(&mut self) -> u32 {
            (self.next_u64() >> 32) as u32
        }

        fn next_u64(&mut self) -> u64 {
            if self.0.len() > 1 {
                self.0.remove(0)
            } else {
                self.0[0]
            }
        }

        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for chunk in dst.chunks_mut(8) {
                let word = self.next_u64().to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
        }
    }

    #[test]
    fn laplace_draws_again_at_the_edge() {
        // A zero word is u = −0.5; the next, 2^63, is u = 0 and so no noise.
        let mut rng = Script(vec![0, 1 << 63]);
        assert_eq!(laplace(1.0, &mut rng), 0.0);
    }
}
