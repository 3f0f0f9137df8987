//! HTTP requests and their latency, by method, route and status.

use std::borrow::Cow;
use std::sync::RwLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    /// The route's template (`/api/v1/bars/{bar_id}`), never the raw path.
    pub route: Cow<'static, str>,
    pub status: u16,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Label sets that get a cached handle: fixed routes × methods × statuses.
const MAX_HOT_LABELS: usize = 64;

fn latency_histogram() -> Histogram {
    // 0.1 ms to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

pub struct HttpMetrics {
    /// Handles of the few label sets of the busiest routes, so the hot path skips the
    /// families' hashing.
    hot: RwLock<Vec<(HttpLabels, Counter, Histogram)>>,
    requests: Family<HttpLabels, Counter>,
    latency: HistogramFamily<HttpLabels>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<HttpLabels, Counter>::default();
        let latency: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route and status",
            latency.clone(),
        );
        HttpMetrics {
            hot: RwLock::new(Vec::new()),
            requests,
            latency,
        }
    }

    pub fn observe(&self, labels: HttpLabels, seconds: f64) {
        {
            let hot = self.hot.read().unwrap_or_else(|e| e.into_inner());
            if let Some((_, count, latency)) = hot.iter().find(|(l, _, _)| *l == labels) {
                latency.observe(seconds);
                count.inc();
                return;
            }
        }
        let latency = self.latency.get_or_create(&labels).clone();
        let count = self.requests.get_or_create(&labels).clone();
        latency.observe(seconds);
        count.inc();
        let mut hot = self.hot.write().unwrap_or_else(|e| e.into_inner());
        if hot.len() < MAX_HOT_LABELS && !hot.iter().any(|(l, _, _)| *l == labels) {
            hot.push((labels, count, latency));
        }
    }
}
