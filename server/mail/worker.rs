//! The outbox worker: claims due emails with a lease, sends them, and records the
//! outcome. A claimed row is invisible to other workers (in this or another process)
//! until its lease runs out, so an email is never sent by two workers. The `mail` job
//! runs it in every process.
//!
//! Subscription mail is looked at once more just before it goes: a member who left the
//! list since it was queued, or an address that bounced, is skipped. Tracked mail gets
//! its click redirects and open pixel here, when its row id is known.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::links::{Links, List};
use super::transport::{Outgoing, SendError};
use super::{MailMetrics, Transport, tracking};
use crate::clock::Clock;
use crate::db::entities::email_event::EmailEventKind;
use crate::db::entities::outbox::{self, Stream};
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

/// The From addresses: transactional mail, and subscription mail (news, promotions,
/// the digest), which may come from another address so their reputations stay apart.
#[derive(Clone, Debug)]
pub struct Senders {
    pub transactional: String,
    pub subscription: String,
}

/// Emails sent side by side by one worker.
const CONCURRENT_SENDS: usize = 4;

pub struct MailWorker {
    db: Db,
    clock: Clock,
    transport: Transport,
    senders: Senders,
    links: Arc<Links>,
    tracking: bool,
    metrics: MailMetrics,
    pub settings: WorkerSettings,
}

impl MailWorker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        clock: Clock,
        transport: Transport,
        senders: Senders,
        links: Arc<Links>,
        tracking: bool,
        metrics: MailMetrics,
        settings: WorkerSettings,
    ) -> Self {
        tracing::info!(
            transport = transport.describe(),
            tracking,
            "mail worker ready"
        );
        MailWorker {
            db,
            clock,
            transport,
            senders,
            links,
            tracking,
            metrics,
            settings,
        }
    }

    /// Sends everything that is due now; returns how many were attempted.
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        let mut attempted = 0;
        loop {
            let now = self.clock.now();
            let due = queries::due(&self.db, now, 50).await?;
            if due.is_empty() {
                return Ok(attempted);
            }
            let lease_end = now + chrono::Duration::from_std(self.settings.lease)?;
            let mut claimed = Vec::with_capacity(due.len());
            for row in due {
                if queries::claim(&self.db, row.id, now, lease_end).await? {
                    claimed.push(row);
                }
            }
            if claimed.is_empty() {
                return Ok(attempted); // other workers have them
            }
            attempted += claimed.len();
            futures_util::stream::iter(claimed)
                .for_each_concurrent(CONCURRENT_SENDS, |row| self.deliver(row))
                .await;
        }
    }

    /// Why a subscription email should not go out now, if it should not.
    async fn hold_back(&self, row: &outbox::Model) -> anyhow::Result<Option<String>> {
        if row.stream != Stream::Subscription {
            return Ok(None);
        }
        if let Some(s) = queries::suppression(&self.db, &row.to_address).await? {
            return Ok(Some(format!("the address is suppressed ({})", s.reason)));
        }
        let (Some(member), Some(list)) = (row.member_id, row.list.as_deref().and_then(List::parse))
        else {
            return Ok(None);
        };
        let Some(m) = crate::db::accounts::member_by_id(&self.db, member).await? else {
            return Ok(Some("the member is gone".into()));
        };
        let on = match list {
            List::News => m.news_opt_in,
            List::Digest => m.digest_opt_in,
            List::Promo => m.promo_opt_in,
        };
        Ok((!on).then(|| format!("the member left the {} list", list.as_str())))
    }

    fn outgoing(&self, row: &outbox::Model) -> anyhow::Result<(Outgoing, Option<String>)> {
        let from = match row.stream {
            Stream::Transactional => &self.senders.transactional,
            Stream::Subscription => &self.senders.subscription,
        };
        let domain = from
            .rsplit('@')
            .next()
            .unwrap_or("localhost")
            .trim_end_matches('>')
            .to_string();
        let (html, links) = if row.tracked && self.tracking {
            let (html, links) = tracking::instrument(&row.body_html, row.id, &self.links);
            (html, Some(serde_json::to_string(&links)?))
        } else {
            (row.body_html.clone(), None)
        };
        let mut headers = Vec::new();
        if let (Some(list), Some(member)) =
            (row.list.as_deref().and_then(List::parse), row.member_id)
        {
            headers.push((
                "List-Id",
                format!("barkeep {} <{}.{domain}>", list.as_str(), list.as_str()),
            ));
            headers.push((
                "List-Unsubscribe",
                format!("<{}>", self.links.unsubscribe_url(member, list)),
            ));
            headers.push(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()));
        }
        Ok((
            Outgoing {
                outbox_id: row.id,
                kind: row.kind.clone(),
                created: row.created_at,
                from: from.clone(),
                to: row.to_address.clone(),
                subject: row.subject.clone(),
                text: row.body_text.clone(),
                html,
                // Stable per outbox row: if a retry after a lost reply does deliver
                // twice, the receiving side sees the same Message-ID.
                message_id: format!(
                    "<outbox-{}-{}@{domain}>",
                    row.id,
                    row.created_at.timestamp()
                ),
                date: self.clock.now(),
                headers,
                stream: row.stream,
            },
            links,
        ))
    }

    async fn deliver(&self, row: outbox::Model) {
        let outcome = self.try_deliver(&row).await;
        if let Err(err) = outcome {
            // The lease runs out and the row is retried; the file transport overwrites
            // and SMTP sees the same Message-ID.
            tracing::error!(
                outbox_id = row.id,
                error = format!("{err:#}"),
                "could not record the outcome of a send"
            );
        }
    }

    async fn try_deliver(&self, row: &outbox::Model) -> anyhow::Result<()> {
        if let Some(why) = self.hold_back(row).await? {
            tracing::info!(outbox_id = row.id, kind = %row.kind, why = %why, "email skipped");
            return Ok(queries::mark_skipped(&self.db, row.id, &why).await?);
        }
        let attempts = row.attempts + 1;
        let (email, links) = match self.outgoing(row) {
            Ok(e) => e,
            Err(err) => {
                self.metrics.failed(&row.kind, true);
                let next = self.clock.now();
                return Ok(queries::mark_failed(
                    &self.db,
                    row.id,
                    attempts,
                    next,
                    &format!("{err:#}"),
                    true,
                )
                .await?);
            }
        };
        match self.transport.send(&email).await {
            Ok(()) => {
                self.metrics.sent(&row.kind);
                tracing::info!(outbox_id = row.id, kind = %row.kind, "email sent");
                queries::mark_sent(&self.db, row.id, attempts, self.clock.now(), links).await?;
            }
            Err(err) => {
                let (give_up, address) = match &err {
                    SendError::Retry(_) => (attempts >= self.settings.max_attempts, false),
                    SendError::Refused { address, .. } => (true, *address),
                };
                let message = format!("{:#}", err.error());
                self.metrics.failed(&row.kind, give_up);
                tracing::warn!(outbox_id = row.id, kind = %row.kind, attempts, give_up, error = %message, "email not sent");
                let now = self.clock.now();
                let next =
                    now + chrono::Duration::from_std(self.backoff(attempts)).unwrap_or_default();
                queries::mark_failed(&self.db, row.id, attempts, next, &message, give_up).await?;
                if address {
                    // A hard bounce: no more subscription mail to it; transactional mail
                    // still tries, and the failure shows in reports.
                    queries::suppress(&self.db, &row.to_address, "hard_bounce", &message, now)
                        .await?;
                    queries::insert_event(
                        &self.db,
                        row.id,
                        EmailEventKind::Bounce,
                        None,
                        false,
                        Some(&message),
                        now,
                    )
                    .await?;
                    queries::mark_bounced(&self.db, row.id, now).await?;
                }
            }
        }
        Ok(())
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).clamp(0, 20) as u32);
        self.settings
            .first_retry
            .saturating_mul(factor)
            .min(self.settings.max_retry)
    }
}
