//! The outbox worker: claims due emails with a lease, sends them, and records the
//! outcome. A claimed row is invisible to other workers (in this or another process)
//! until its lease runs out, so an email is never sent by two workers. The `mail` job
//! runs it in every process.

use std::time::Duration;

use super::{MailMetrics, Transport};
use crate::clock::Clock;
use crate::db::{Db, outbox as queries};

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// How often the worker looks for due email when nothing wakes it.
    pub poll: Duration,
    /// First retry delay; doubled on every further failure.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// After this many failed attempts the email is marked `failed`.
    pub max_attempts: i32,
    /// How long a claim keeps other workers away; longer than any send can take.
    pub lease: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            poll: Duration::from_secs(2),
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(3600),
            max_attempts: 10,
            lease: Duration::from_secs(300),
        }
    }
}

pub struct MailWorker {
    db: Db,
    clock: Clock,
    transport: Transport,
    from: String,
    metrics: MailMetrics,
    pub settings: WorkerSettings,
}

impl MailWorker {
    pub fn new(
        db: Db,
        clock: Clock,
        transport: Transport,
        from: String,
        metrics: MailMetrics,
        settings: WorkerSettings,
    ) -> Self {
        tracing::info!(transport = transport.describe(), "mail worker ready");
        MailWorker {
            db,
            clock,
            transport,
            from,
            metrics,
            settings,
        }
    }

    /// Sends everything that is due now; returns how many were attempted.
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        let mut attempted = 0;
        loop {
            let now = self.clock.now();
            let due = queries::due(&self.db, now, 20).await?;
            if due.is_empty() {
                return Ok(attempted);
            }
            let mut claimed_any = false;
            for row in due {
                let lease_end = now + chrono::Duration::from_std(self.settings.lease)?;
                if !queries::claim(&self.db, row.id, now, lease_end).await? {
                    continue; // another worker has it
                }
                claimed_any = true;
                attempted += 1;
                self.deliver(row).await;
            }
            if !claimed_any {
                return Ok(attempted);
            }
        }
    }

    async fn deliver(&self, row: crate::db::entities::outbox::Model) {
        let attempts = row.attempts + 1;
        let result = self.transport.send(&self.from, &row).await;
        let outcome = match result {
            Ok(()) => {
                self.metrics.sent(&row.kind);
                tracing::info!(outbox_id = row.id, kind = %row.kind, "email sent");
                queries::mark_sent(&self.db, row.id, attempts, self.clock.now()).await
            }
            Err(err) => {
                let give_up = attempts >= self.settings.max_attempts;
                let delay = self.backoff(attempts);
                self.metrics.failed(&row.kind, give_up);
                tracing::warn!(
                    outbox_id = row.id,
                    kind = %row.kind,
                    attempts,
                    give_up,
                    error = format!("{err:#}"),
                    "email not sent"
                );
                let next = self.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
                queries::mark_failed(
                    &self.db,
                    row.id,
                    attempts,
                    next,
                    &format!("{err:#}"),
                    give_up,
                )
                .await
            }
        };
        if let Err(err) = outcome {
            // The lease runs out and the row is retried; the file transport overwrites
            // and SMTP sees the same Message-ID.
            tracing::error!(outbox_id = row.id, error = %err, "could not record the outcome of a send");
        }
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).clamp(0, 20) as u32);
        self.settings
            .first_retry
            .saturating_mul(factor)
            .min(self.settings.max_retry)
    }
}
