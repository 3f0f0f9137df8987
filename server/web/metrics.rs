//! HTTP requests and their latency, by method, route and status.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::striped::{Count, Latency};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    /// The route's template (`/api/v1/bars/{bar_id}`), never the raw path.
    pub route: Cow<'static, str>,
    pub status: u16,
}

type LatencyFamily = Family<HttpLabels, Latency>;

/// Label sets that get a handle looked up without a lock: fixed routes × methods ×
/// statuses.
const MAX_HOT_LABELS: usize = 64;

pub struct HttpMetrics {
    /// Handles of the first label sets seen (the busiest routes answer first and most),
    /// so the hot path skips the families' lock and hashing. Filled once each, in order;
    /// `hot_len` says how many are filled.
    hot: [OnceLock<(HttpLabels, Count, Latency)>; MAX_HOT_LABELS],
    hot_len: AtomicUsize,
    /// Held while a handle is added to `hot`.
    adding: Mutex<()>,
    requests: Family<HttpLabels, Count>,
    latency: LatencyFamily,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<HttpLabels, Count>::default();
        let latency = LatencyFamily::default();
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
            hot: [const { OnceLock::new() }; MAX_HOT_LABELS],
            hot_len: AtomicUsize::new(0),
            adding: Mutex::new(()),
            requests,
            latency,
        }
    }

    pub fn observe(&self, labels: HttpLabels, took: Duration) {
        let filled = self.hot_len.load(Ordering::Acquire);
        let hot = self.hot[..filled].iter().filter_map(OnceLock::get);
        for (l, count, latency) in hot {
            if *l == labels {
                latency.observe(took);
                count.inc();
                return;
            }
        }
        let latency = self.latency.get_or_create(&labels).clone();
        let count = self.requests.get_or_create(&labels).clone();
        latency.observe(took);
        count.inc();
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let filled = self.hot_len.load(Ordering::Acquire);
        let known = self.hot[..filled]
            .iter()
            .filter_map(OnceLock::get)
            .any(|(l, _, _)| *l == labels);
        if filled < MAX_HOT_LABELS && !known {
            let _ = self.hot[filled].set((labels, count, latency));
            self.hot_len.store(filled + 1, Ordering::Release);
        }
    }
}
