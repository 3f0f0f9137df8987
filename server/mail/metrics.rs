//! What the mail worker reports to Prometheus.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::db::entities::outbox::EmailKind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Failure {
    kind: String,
    gave_up: bool,
}

#[derive(Clone)]
pub struct MailMetrics {
    sent: Family<KindLabel, Counter>,
    failures: Family<Failure, Counter>,
}

impl MailMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = MailMetrics {
            sent: Family::default(),
            failures: Family::default(),
        };
        registry.register(
            "mail_sent",
            "Emails handed to the transport",
            m.sent.clone(),
        );
        registry.register(
            "mail_send_failures",
            "Failed send attempts; gave_up=true when the email will not be retried",
            m.failures.clone(),
        );
        m
    }

    pub fn sent(&self, kind: EmailKind) {
        self.sent
            .get_or_create(&KindLabel {
                kind: kind.as_str().into(),
            })
            .inc();
    }

    pub fn failed(&self, kind: EmailKind, gave_up: bool) {
        self.failures
            .get_or_create(&Failure {
                kind: kind.as_str().into(),
                gave_up,
            })
            .inc();
    }
}
