//! What the event pipeline reports to Prometheus.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels with a fixed set of values: no allocation on the hot path.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

pub struct IngestMetrics {
    counted: Family<Kind, Counter>,
    not_counted: Family<Reason, Counter>,
    buffered: Gauge,
    writes: Family<Outcome, Counter>,
    write_seconds: Histogram,
}

impl IngestMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = IngestMetrics {
            counted: Family::default(),
            not_counted: Family::default(),
            buffered: Gauge::default(),
            writes: Family::default(),
            // 0.1 ms to about 6.5 s.
            write_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 17)),
        };
        registry.register(
            "events_counted",
            "Visitor events counted, by kind",
            m.counted.clone(),
        );
        registry.register(
            "events_not_counted",
            "Visitor events not counted, by reason (none of them is an error for the visitor)",
            m.not_counted.clone(),
        );
        registry.register(
            "ingest_buffered_entries",
            "Counters, visitor hashes and leads held in memory, not yet written",
            m.buffered.clone(),
        );
        registry.register(
            "ingest_writes",
            "Batch writes of counted events, by outcome",
            m.writes.clone(),
        );
        registry.register(
            "ingest_write_duration_seconds",
            "Time to write one batch of counted events",
            m.write_seconds.clone(),
        );
        m
    }

    pub fn counted(&self, kind: &'static str) {
        self.counted.get_or_create(&Kind { kind }).inc();
    }

    pub fn not_counted(&self, reason: &'static str) {
        self.not_counted.get_or_create(&Reason { reason }).inc();
    }

    pub fn buffered(&self, entries: usize) {
        self.buffered
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    pub fn write(&self, outcome: &'static str, seconds: f64) {
        self.writes.get_or_create(&Outcome { outcome }).inc();
        self.write_seconds.observe(seconds);
    }
}
