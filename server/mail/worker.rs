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
use super::{MailMetrics, Transport, suppressions, tracking};
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

/// Emails sent side by side by one worker. An SMTP exchange is mostly waiting for the
/// server's replies, so many go at once (each on a connection of the transport's pool).
const CONCURRENT_SENDS: usize = 16;
/// Emails claimed at once (and whose outcomes are written in one transaction).
const BATCH: u64 = 50;

/// What became of one attempt.
enum Outcome {
    Sent(Option<String>),
    Skipped(String),
    Failed(SendError),
}

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

    /// Sends everything that is due now; returns how many were attempted. Rows are
    /// claimed a batch at a time, sent side by side, and their outcomes written in one
    /// transaction, so sending is not held up by one write per email.
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        let mut attempted = 0;
        loop {
            let now = self.clock.now();
            let lease_end = now + chrono::Duration::from_std(self.settings.lease)?;
            let claimed = queries::claim_due(&self.db, now, lease_end, BATCH).await?;
            if claimed.is_empty() {
                return Ok(attempted);
            }
            attempted += claimed.len();
            let outcomes: Vec<(outbox::Model, Outcome)> = futures_util::stream::iter(claimed)
                .map(|row| async move {
                    let outcome = self.attempt(&row).await;
                    (row, outcome)
                })
                .buffer_unordered(CONCURRENT_SENDS)
                .collect()
                .await;
            if let Err(err) = self.record(&outcomes).await {
                // The leases run out and the rows are tried again; the folder transport
                // overwrites and the receiving side sees the same Message-ID.
                tracing::error!(
                    error = format!("{err:#}"),
                    emails = outcomes.len(),
                    "could not record the outcome of sends"
                );
                return Err(err);
            }
        }
    }

    /// Sends one email; says what became of it (nothing is written yet).
    async fn attempt(&self, row: &outbox::Model) -> Outcome {
        match self.hold_back(row).await {
            Ok(Some(why)) => return Outcome::Skipped(why),
            Ok(None) => {}
            Err(err) => return Outcome::Failed(SendError::Retry(err)),
        }
        let (email, links) = match self.outgoing(row) {
            Ok(e) => e,
            Err(err) => {
                return Outcome::Failed(SendError::Refused {
                    error: err,
                    address: false,
                });
            }
        };
        match self.transport.send(&email).await {
            Ok(()) => Outcome::Sent(links),
            Err(err) => Outcome::Failed(err),
        }
    }

    async fn record(&self, outcomes: &[(outbox::Model, Outcome)]) -> anyhow::Result<()> {
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        for (row, outcome) in outcomes {
            let attempts = row.attempts + 1;
            match outcome {
                Outcome::Skipped(why) => {
                    tracing::info!(outbox_id = row.id, kind = %row.kind, why = %why, "email skipped");
                    queries::mark_skipped(&txn, row.id, why).await?;
                    queries::after_given_up(&txn, row.id, row.after_send).await?;
                }
                Outcome::Sent(links) => {
                    self.metrics.sent(row.kind);
                    tracing::info!(outbox_id = row.id, kind = %row.kind, "email sent");
                    queries::mark_sent(&txn, row.id, attempts, now, links.clone()).await?;
                    queries::after_sent(&txn, row.id, row.after_send).await?;
                }
                Outcome::Failed(err) => {
                    let (give_up, address) = match err {
                        SendError::Retry(_) => (attempts >= self.settings.max_attempts, false),
                        SendError::Refused { address, .. } => (true, *address),
                    };
                    // What the server answered may name the recipient; that stays in
                    // `to_address` only, which an erasure deletes or blanks.
                    let message =
                        suppressions::redact(&format!("{:#}", err.error()), &row.to_address);
                    self.metrics.failed(row.kind, give_up);
                    tracing::warn!(outbox_id = row.id, kind = %row.kind, attempts, give_up, error = %message, "email not sent");
                    let next = now
                        + chrono::Duration::from_std(self.backoff(attempts)).unwrap_or_default();
                    queries::mark_failed(&txn, row.id, attempts, next, &message, give_up).await?;
                    if address {
                        // A hard bounce: no more subscription mail to it; transactional
                        // mail still tries, and the failure shows in reports.
                        suppressions::suppress(
                            &txn,
                            self.links.address_key(),
                            &row.to_address,
                            "hard_bounce",
                            &message,
                            now,
                        )
                        .await?;
                        queries::insert_event(
                            &txn,
                            row.id,
                            EmailEventKind::Bounce,
                            None,
                            false,
                            Some(&message),
                            now,
                        )
                        .await?;
                        queries::mark_bounced(&txn, row.id, now).await?;
                    }
                    if give_up {
                        queries::after_given_up(&txn, row.id, row.after_send).await?;
                    }
                }
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// Why a subscription email should not go out now, if it should not.
    async fn hold_back(&self, row: &outbox::Model) -> anyhow::Result<Option<String>> {
        if row.stream != Stream::Subscription {
            return Ok(None);
        }
        if let Some(s) =
            suppressions::suppression(&self.db, self.links.address_key(), &row.to_address).await?
        {
            return Ok(Some(format!("the address is suppressed ({})", s.reason)));
        }
        let (Some(member), Some(list)) = (row.member_id, row.list) else {
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
        if let (Some(list), Some(member)) = (row.list, row.member_id) {
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
                kind: row.kind,
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

    fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).clamp(0, 20) as u32);
        self.settings
            .first_retry
            .saturating_mul(factor)
            .min(self.settings.max_retry)
    }
}
