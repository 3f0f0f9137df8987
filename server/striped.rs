//! Metrics that the visitor hot path updates on every request. prometheus-client's own
//! counter is one atomic and its histogram a mutex, each shared by every thread: two
//! threads answering events at once then pass the same cache lines back and forth for
//! every event. These keep a stripe per thread (threads beyond [`STRIPES`] share) and add
//! the stripes up when scraped; they encode exactly as a `Counter` and a `Histogram` do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

const STRIPES: usize = 8;

/// The latency buckets' upper bounds: 0.1 ms doubling to about 6.5 s, then +Inf.
const BOUNDS: usize = 17;
const FIRST_BOUND_NANOS: u64 = 100_000;

/// This thread's stripe.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

/// A stripe on cache lines of its own.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Padded<T>(T);

/// A counter.
#[derive(Clone, Debug, Default)]
pub struct Count(Arc<[Padded<AtomicU64>; STRIPES]>);

impl Count {
    pub fn inc(&self) {
        self.0[stripe()].0.fetch_add(1, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Relaxed)).sum()
    }
}

impl TypedMetric for Count {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Count {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[derive(Debug, Default)]
struct LatencyStripe {
    sum_nanos: AtomicU64,
    /// Observations per bucket (not cumulative); the last is above every bound.
    buckets: [AtomicU64; BOUNDS + 1],
}

/// A histogram of durations, over 0.1 ms doubling 17 times.
#[derive(Clone, Debug, Default)]
pub struct Latency(Arc<[Padded<LatencyStripe>; STRIPES]>);

impl Latency {
    pub fn observe(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = (0..BOUNDS)
            .find(|i| nanos <= FIRST_BOUND_NANOS << i)
            .unwrap_or(BOUNDS);
        let stripe = &self.0[stripe()].0;
        stripe.buckets[bucket].fetch_add(1, Relaxed);
        stripe.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// The number of observations, the sum of their seconds, and the observations per
    /// bucket with each bucket's upper bound.
    fn snapshot(&self) -> (u64, f64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = (0..=BOUNDS)
            .map(|i| {
                let bound = if i < BOUNDS {
                    (FIRST_BOUND_NANOS << i) as f64 / 1e9
                } else {
                    f64::INFINITY
                };
                (bound, 0)
            })
            .collect();
        let mut sum_nanos = 0u64;
        for stripe in self.0.iter() {
            sum_nanos = sum_nanos.saturating_add(stripe.0.sum_nanos.load(Relaxed));
            for (i, n) in stripe.0.buckets.iter().enumerate() {
                buckets[i].1 += n.load(Relaxed);
            }
        }
        let count = buckets.iter().map(|(_, n)| n).sum();
        (count, sum_nanos as f64 / 1e9, buckets)
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (count, sum, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
    use prometheus_client::registry::Registry;

    use super::*;

    fn text(register: impl FnOnce(&mut Registry)) -> String {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut out = String::new();
        encode(&mut out, &registry).unwrap();
        out
    }

    /// From several threads, the same text as prometheus-client's own metrics given the
    /// same observations.
    #[test]
    fn encodes_as_the_libraries_own_counter_and_histogram() {
        let (count, latency) = (Count::default(), Latency::default());
        let (counter, histogram) = (
            Counter::<u64>::default(),
            Histogram::new(exponential_buckets(0.0001, 2.0, 17)),
        );
        // Whole microseconds, so both sums are exact in binary.
        let took = |i: u64| Duration::from_micros((i * 7919) % 9_000_000);
        std::thread::scope(|s| {
            for t in 0..12u64 {
                let (count, latency) = (count.clone(), latency.clone());
                let (counter, histogram) = (counter.clone(), histogram.clone());
                s.spawn(move || {
                    for i in t * 1000..(t + 1) * 1000 {
                        count.inc();
                        counter.inc();
                        latency.observe(took(i));
                        histogram.observe(took(i).as_secs_f64());
                    }
                });
            }
        });
        assert_eq!(count.get(), 12_000);
        let ours = text(|r| {
            r.register("requests", "requests", count);
            r.register("took_seconds", "time", latency);
        });
        let theirs = text(|r| {
            r.register("requests", "requests", counter);
            r.register("took_seconds", "time", histogram);
        });
        // Sums agree to rounding: one adds nanoseconds, the other seconds.
        let sum = |t: &str| -> f64 {
            t.lines()
                .find_map(|l| l.strip_prefix("took_seconds_sum "))
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!((sum(&ours) - sum(&theirs)).abs() < 1e-6);
        let without_sum = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.contains("_sum"))
                .map(String::from)
                .collect()
        };
        assert_eq!(without_sum(&ours), without_sum(&theirs));
    }

    #[test]
    fn bounds_hold_what_they_bound() {
        let latency = Latency::default();
        latency.observe(Duration::from_nanos(100_000));
        latency.observe(Duration::from_nanos(100_001));
        latency.observe(Duration::from_secs(60));
        let (count, _, buckets) = latency.snapshot();
        assert_eq!(count, 3);
        assert_eq!(buckets[0], (0.0001, 1));
        assert_eq!(buckets[1], (0.0002, 1));
        assert_eq!(buckets[BOUNDS], (f64::INFINITY, 1));
    }
}
