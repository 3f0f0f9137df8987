//! What the event pipeline reports to Prometheus.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use super::buffer::Buffer;
use crate::striped::Count;

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

/// The kinds an event is counted as.
const KINDS: [&str; 7] = [
    "view", "click", "dismiss", "shown", "held_out", "goal", "lead",
];

pub struct IngestMetrics {
    counted: Family<Kind, Count>,
    /// The family's handles, one per kind, in the order of [`KINDS`]: counting an event
    /// looks nothing up.
    counted_by_kind: [Count; KINDS.len()],
    not_counted: Family<Reason, Counter>,
    buffered: Buffered,
    writes: Family<Outcome, Counter>,
    write_seconds: Histogram,
}

impl IngestMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let counted = Family::<Kind, Count>::default();
        let m = IngestMetrics {
            counted_by_kind: KINDS.map(|kind| counted.get_or_create(&Kind { kind }).clone()),
            counted,
            not_counted: Family::default(),
            buffered: Buffered::default(),
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
        match KINDS.iter().position(|k| *k == kind) {
            Some(i) => self.counted_by_kind[i].inc(),
            None => self.counted.get_or_create(&Kind { kind }).inc(),
        }
    }

    pub fn not_counted(&self, reason: &'static str) {
        self.not_counted.get_or_create(&Reason { reason }).inc();
    }

    /// The buffer's size is read from it when scraped, rather than stored for every
    /// event.
    pub(super) fn watch_buffer(&self, buffer: &Arc<Mutex<Buffer>>) {
        let _ = self.buffered.0.set(Arc::downgrade(buffer));
    }

    pub fn write(&self, outcome: &'static str, seconds: f64) {
        self.writes.get_or_create(&Outcome { outcome }).inc();
        self.write_seconds.observe(seconds);
    }
}

/// `ingest_buffered_entries`: read from the buffer when scraped.
#[derive(Clone, Debug, Default)]
struct Buffered(Arc<OnceLock<Weak<Mutex<Buffer>>>>);

impl TypedMetric for Buffered {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Buffered {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let entries = self.0.get().and_then(Weak::upgrade).map_or(0, |buffer| {
            buffer.lock().unwrap_or_else(|e| e.into_inner()).entries()
        });
        ConstGauge::new(i64::try_from(entries).unwrap_or(i64::MAX)).encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}
