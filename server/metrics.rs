//! Prometheus metrics: one registry for the process, served as text at `/metrics`.

use std::borrow::Cow;
use std::sync::RwLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    pub route: Cow<'static, str>,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// Labels with a fixed set of values: no allocation on the hot path.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StaticKind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StaticReason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StaticOutcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailFailureLabels {
    kind: String,
    gave_up: bool,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Fixed routes × methods × statuses that get a cached handle.
const MAX_HOT_LABELS: usize = 32;

pub struct Metrics {
    registry: Registry,
    /// Handles of the few label sets of fixed routes (the visitor endpoints), so the hot
    /// path skips the families' hashing.
    hot: RwLock<Vec<(HttpLabels, Counter, Histogram)>>,
    http_requests: Family<HttpLabels, Counter>,
    http_latency: HistogramFamily<HttpLabels>,
    mail_sent: Family<KindLabels, Counter>,
    mail_failures: Family<MailFailureLabels, Counter>,
    events_counted: Family<StaticKind, Counter>,
    events_not_counted: Family<StaticReason, Counter>,
    ingest_buffered: Gauge,
    ingest_writes: Family<StaticOutcome, Counter>,
    ingest_write_seconds: Histogram,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("barkeep");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_latency: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let mail_sent = Family::<KindLabels, Counter>::default();
        let mail_failures = Family::<MailFailureLabels, Counter>::default();
        let events_counted = Family::<StaticKind, Counter>::default();
        let events_not_counted = Family::<StaticReason, Counter>::default();
        let ingest_buffered = Gauge::default();
        let ingest_writes = Family::<StaticOutcome, Counter>::default();
        let ingest_write_seconds = latency_histogram();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route and status",
            http_latency.clone(),
        );
        registry.register(
            "mail_sent",
            "Emails handed to the transport",
            mail_sent.clone(),
        );
        registry.register(
            "mail_send_failures",
            "Failed send attempts; gave_up=true when the email will not be retried",
            mail_failures.clone(),
        );
        registry.register(
            "events_counted",
            "Visitor events counted, by kind",
            events_counted.clone(),
        );
        registry.register(
            "events_not_counted",
            "Visitor events not counted, by reason (none of them is an error for the visitor)",
            events_not_counted.clone(),
        );
        registry.register(
            "ingest_buffered_entries",
            "Counters, visitor hashes and leads held in memory, not yet written",
            ingest_buffered.clone(),
        );
        registry.register(
            "ingest_writes",
            "Batch writes of counted events, by outcome",
            ingest_writes.clone(),
        );
        registry.register(
            "ingest_write_duration_seconds",
            "Time to write one batch of counted events",
            ingest_write_seconds.clone(),
        );
        Metrics {
            registry,
            hot: RwLock::new(Vec::new()),
            http_requests,
            http_latency,
            mail_sent,
            mail_failures,
            events_counted,
            events_not_counted,
            ingest_buffered,
            ingest_writes,
            ingest_write_seconds,
        }
    }

    pub fn observe_request(&self, labels: HttpLabels, seconds: f64) {
        let fixed = matches!(labels.route, Cow::Borrowed(_));
        if fixed {
            let hot = self.hot.read().unwrap_or_else(|e| e.into_inner());
            if let Some((_, count, latency)) = hot.iter().find(|(l, _, _)| *l == labels) {
                latency.observe(seconds);
                count.inc();
                return;
            }
        }
        let latency = self.http_latency.get_or_create(&labels).clone();
        let count = self.http_requests.get_or_create(&labels).clone();
        latency.observe(seconds);
        count.inc();
        if fixed {
            let mut hot = self.hot.write().unwrap_or_else(|e| e.into_inner());
            if hot.len() < MAX_HOT_LABELS && !hot.iter().any(|(l, _, _)| *l == labels) {
                hot.push((labels, count, latency));
            }
        }
    }

    pub fn mail_sent(&self, kind: &str) {
        self.mail_sent
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc();
    }

    pub fn mail_failed(&self, kind: &str, gave_up: bool) {
        self.mail_failures
            .get_or_create(&MailFailureLabels {
                kind: kind.into(),
                gave_up,
            })
            .inc();
    }

    pub fn event_counted(&self, kind: &'static str) {
        self.events_counted
            .get_or_create(&StaticKind { kind })
            .inc();
    }

    pub fn event_not_counted(&self, reason: &'static str) {
        self.events_not_counted
            .get_or_create(&StaticReason { reason })
            .inc();
    }

    pub fn set_ingest_buffered(&self, entries: usize) {
        self.ingest_buffered
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    pub fn ingest_write(&self, outcome: &'static str, seconds: f64) {
        self.ingest_writes
            .get_or_create(&StaticOutcome { outcome })
            .inc();
        self.ingest_write_seconds.observe(seconds);
    }

    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
