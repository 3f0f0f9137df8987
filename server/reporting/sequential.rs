//! Always-valid inference on the difference of two click-through rates, for members who
//! read their stats every day: the mixture sequential probability ratio test (mSPRT) with
//! a normal mixture over the difference (Johari, Pekelis and Walsh, "Always Valid
//! Inference"), the confidence sequence it inverts to, and Benjamini–Hochberg across
//! several comparisons. docs/experiments.md explains the method and its parameters.
//!
//! A comparison is read look by look (one look per day, on the counts so far). The
//! always-valid p-value is the smallest `1/Λ` of any look and the interval the intersection
//! of every look's, so a verdict, once reached, stays: reading more often cannot make a
//! difference appear that is not there more than `ALPHA` of the time.

/// The error rate a verdict allows (a verdict is "95 % sure").
pub const ALPHA: f64 = 0.05;

/// The spread of the normal mixture over the difference in click-through rate: one
/// percentage point. Differences about this size are found soonest; any other size is
/// still found, later, and the error rate holds whatever the true difference.
pub const TAU: f64 = 0.01;

/// A look counts once each arm has this many clicks and this many views without one:
/// below that the normal approximation behind the test is not trusted.
pub const MIN_EACH: i64 = 5;

/// Views and clicks of one arm (a variant) so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Arm {
    pub views: i64,
    pub clicks: i64,
}

impl Arm {
    pub fn rate(self) -> Option<f64> {
        (self.views > 0).then(|| self.clicks as f64 / self.views as f64)
    }

    pub fn add(&mut self, other: Arm) {
        self.views += other.views;
        self.clicks += other.clicks;
    }

    /// Enough clicks and non-clicks for the normal approximation.
    pub fn enough(self) -> bool {
        self.clicks >= MIN_EACH && self.views - self.clicks >= MIN_EACH
    }
}

/// What one look sees: the difference in rate (variant − control) and the variance of
/// that estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub difference: f64,
    pub variance: f64,
}

impl Look {
    /// The look at these cumulative counts; `None` while either arm has too few clicks or
    /// non-clicks to be read.
    pub fn of(control: Arm, variant: Arm) -> Option<Look> {
        if !control.enough() || !variant.enough() {
            return None;
        }
        let var = |arm: Arm, p: f64| p * (1.0 - p) / arm.views as f64;
        let (a, b) = (control.rate()?, variant.rate()?);
        let variance = var(control, a) + var(variant, b);
        (variance > 0.0 && variance.is_finite()).then_some(Look {
            difference: b - a,
            variance,
        })
    }

    /// `ln Λ`: the mixture likelihood ratio of "some difference" against "none".
    pub fn log_ratio(self) -> f64 {
        let (v, t2) = (self.variance, TAU * TAU);
        0.5 * (v / (v + t2)).ln() + self.difference.powi(2) * t2 / (2.0 * v * (v + t2))
    }

    /// Half the width of this look's confidence interval at level `1 − alpha`: the
    /// differences the test at `alpha` would not reject.
    pub fn half_width(self, alpha: f64) -> f64 {
        let (v, t2) = (self.variance, TAU * TAU);
        ((v * (v + t2) / t2) * (2.0 * (1.0 / alpha).ln() + ((v + t2) / v).ln())).sqrt()
    }

    /// The same look with `factor` times the views in each arm at the same rates.
    fn scaled(self, factor: f64) -> Look {
        Look {
            variance: self.variance / factor,
            ..self
        }
    }
}

/// A comparison read look by look.
#[derive(Debug, Clone, Default)]
pub struct Sequence {
    looks: Vec<Look>,
}

impl Sequence {
    /// Reads the counts so far (a look that cannot be read yet is skipped).
    pub fn look(&mut self, control: Arm, variant: Arm) {
        if let Some(look) = Look::of(control, variant) {
            self.looks.push(look);
        }
    }

    pub fn last(&self) -> Option<Look> {
        self.looks.last().copied()
    }

    /// The always-valid p-value: the smallest `1/Λ` of any look, at most 1.
    pub fn p_value(&self) -> Option<f64> {
        self.looks
            .iter()
            .map(|l| (-l.log_ratio()).exp().min(1.0))
            .reduce(f64::min)
    }

    /// The always-valid interval for the difference at level `1 − alpha`: the
    /// intersection of every look's. Should the looks disagree entirely (the rates drifted
    /// far from the model's constant ones), the latest look's interval.
    pub fn interval(&self, alpha: f64) -> Option<(f64, f64)> {
        let last = self.last()?;
        let (mut low, mut high) = (f64::NEG_INFINITY, f64::INFINITY);
        for look in &self.looks {
            let w = look.half_width(alpha);
            low = low.max(look.difference - w);
            high = high.min(look.difference + w);
        }
        if low > high {
            let w = last.half_width(alpha);
            return Some((last.difference - w, last.difference + w));
        }
        Some((low, high))
    }
}

/// Benjamini–Hochberg at `alpha`: which of these p-values are discoveries, keeping the
/// expected share of false ones among them at most `alpha`.
pub fn benjamini_hochberg(p_values: &[f64], alpha: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let cut = (1..=m)
        .rev()
        .find(|&k| p_values[order[k - 1]] <= alpha * k as f64 / m as f64)
        .unwrap_or(0);
    let mut found = vec![false; m];
    for &i in &order[..cut] {
        found[i] = true;
    }
    found
}

/// About how many more days (at most `max`) until a look at `alpha` would call `look`'s
/// difference, if both arms keep their rates and get views at the pace of the `days` so
/// far. `None` without a difference or beyond `max`.
pub fn days_to_call(look: Look, days: u32, alpha: f64, max: u32) -> Option<u32> {
    if days == 0 || look.difference == 0.0 {
        return None;
    }
    let needed = (1.0 / alpha).ln();
    (1..=max).find(|&more| {
        look.scaled(f64::from(days + more) / f64::from(days))
            .log_ratio()
            >= needed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(views: i64, clicks: i64) -> Arm {
        Arm { views, clicks }
    }

    #[test]
    fn a_look_needs_enough_clicks_and_non_clicks_on_both_sides() {
        assert!(Look::of(arm(100, 4), arm(100, 10)).is_none());
        assert!(Look::of(arm(100, 10), arm(8, 5)).is_none());
        let look = Look::of(arm(1000, 30), arm(1000, 42)).unwrap();
        assert!((look.difference - 0.012).abs() < 1e-12);
        let v = 0.03 * 0.97 / 1000.0 + 0.042 * 0.958 / 1000.0;
        assert!((look.variance - v).abs() < 1e-15);
    }

    #[test]
    fn the_interval_excludes_zero_exactly_when_the_ratio_passes_one_over_alpha() {
        // Inverting the test: the interval's edge is where Λ = 1/α.
        for (c, v) in [(300, 420), (3000, 3300), (150, 200), (50, 52)] {
            let look = Look::of(arm(10_000, c), arm(10_000, v)).unwrap();
            let rejects = look.log_ratio() >= (1.0 / ALPHA).ln();
            let w = look.half_width(ALPHA);
            assert_eq!(rejects, look.difference.abs() >= w, "{c} vs {v}");
            let edge = Look {
                difference: w,
                ..look
            };
            assert!((edge.log_ratio() - (1.0 / ALPHA).ln()).abs() < 1e-9);
        }
    }

    #[test]
    fn a_sequence_keeps_its_smallest_p_value_and_narrowest_interval() {
        let mut s = Sequence::default();
        assert_eq!((s.p_value(), s.interval(ALPHA)), (None, None));
        s.look(arm(2000, 60), arm(2000, 100));
        let (p1, i1) = (s.p_value().unwrap(), s.interval(ALPHA).unwrap());
        // A later look with the difference gone: the p-value and interval keep what was seen.
        s.look(arm(4000, 120), arm(4000, 121));
        assert_eq!(s.p_value().unwrap(), p1.min(s.p_value().unwrap()));
        let i2 = s.interval(ALPHA).unwrap();
        assert!(i2.0 >= i1.0 && i2.1 <= i1.1, "{i1:?} then {i2:?}");
    }

    #[test]
    fn benjamini_hochberg_matches_a_worked_example() {
        // m = 5 at 0.05: sorted, the p-values meet the thresholds k·α/m = 0.01, 0.02,
        // 0.03 for k = 1..3 (0.001, 0.012, 0.029) and miss 0.04 and 0.05 (0.045, 0.5):
        // the three smallest are discoveries.
        let p = [0.045, 0.001, 0.5, 0.029, 0.012];
        assert_eq!(
            benjamini_hochberg(&p, 0.05),
            vec![false, true, false, true, true]
        );
        assert_eq!(benjamini_hochberg(&[0.04], 0.05), vec![true]);
        assert_eq!(benjamini_hochberg(&[0.2, 0.3], 0.05), vec![false, false]);
        assert!(benjamini_hochberg(&[], 0.05).is_empty());
    }

    #[test]
    fn days_to_call_grows_as_the_difference_shrinks() {
        let big = Look::of(arm(4000, 120), arm(4000, 160)).unwrap();
        let small = Look::of(arm(4000, 120), arm(4000, 130)).unwrap();
        let (b, s) = (
            days_to_call(big, 10, ALPHA, 3650).unwrap(),
            days_to_call(small, 10, ALPHA, 3650).unwrap(),
        );
        assert!(b < s, "{b} {s}");
        // At the projected day the look passes; the day before it does not.
        let at = |d: u32| big.scaled(f64::from(10 + d) / 10.0).log_ratio();
        assert!(at(b) >= (1.0 / ALPHA).ln() && (b == 1 || at(b - 1) < (1.0 / ALPHA).ln()));
        let none = Look {
            difference: 0.0,
            ..big
        };
        assert_eq!(days_to_call(none, 10, ALPHA, 3650), None);
    }
}

/// Planted populations for the simulation tests of the comparisons.
#[cfg(test)]
pub(crate) mod simulation {
    /// splitmix64: a fixed seed gives the same populations on every machine.
    pub(crate) struct Rng(pub u64);

    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Successes out of `n` trials at `p`.
        pub(crate) fn binomial(&mut self, n: i64, p: f64) -> i64 {
            let below = (p * (1u64 << 53) as f64) as u64;
            (0..n).filter(|_| self.next() >> 11 < below).count() as i64
        }
    }
}
