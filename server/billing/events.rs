//! Stripe webhook events: checked, recorded by id (insert-or-skip, so a duplicate, even
//! one arriving at the same moment, is never processed twice), then processed by
//! whoever holds the event's lease. An event's effect commits in the same transaction
//! as its "processed" mark; a failed event keeps its error and is tried again, by
//! Stripe's own retry and by the `stripe_events` job, with growing pauses.
//!
//! The events barkeep acts on are in [`EVENTS`], read as Stripe's types
//! ([`super::webhook`]); every other type is recorded as ignored and answered 200. Each
//! event records the Stripe customer its object names and that customer's account, so
//! erasure and the export find an account's events by id; an event that arrives for the
//! customer of an erased account is recorded without its content and not acted on.

use chrono::{DateTime, Duration, Utc};

use super::Billing;
use super::stripe::{SubscriptionState, timestamp};
use super::webhook::{EVENTS, Event, checkout_account, customer_named, envelope};
use crate::db::billing::{self as q, EventOwner};
use crate::db::entities::stripe_event::{self, EventStatus};
use crate::domain::AccountId;
use crate::error::{Error, Result};
use crate::signature::{self, Refused};

/// A failed event is given up (left for an operator) after this many attempts.
const MAX_ATTEMPTS: i32 = 12;
/// How long a process may hold an event while processing it.
const LEASE_SECS: i64 = 120;

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Its effect is committed now.
    Processed,
    /// It was processed before (a duplicate delivery).
    Duplicate,
    /// Another delivery of it is being processed right now.
    InProgress,
    /// A type barkeep does not act on.
    Ignored,
}

impl Received {
    pub fn as_str(self) -> &'static str {
        match self {
            Received::Processed => "processed",
            Received::Duplicate => "duplicate",
            Received::InProgress => "in_progress",
            Received::Ignored => "ignored",
        }
    }
}

impl Billing {
    /// A delivery to `POST /stripe/webhook`. The signature is checked on the raw body
    /// before anything is parsed; a refused delivery writes nothing.
    pub async fn receive(&self, signature_header: Option<&str>, body: &[u8]) -> Result<Received> {
        self.check_signature(signature_header, body)?;
        let (payload, event) = read_envelope(body)?;
        let customer = customer_named(&event.data.object);
        let account = match customer {
            Some(c) => q::account_of_customer(&self.db, c).await?,
            None => None,
        };
        if account.is_none()
            && let Some(c) = customer
            && q::customer_erased(&self.db, &self.erased_customer_hashes(c)).await?
        {
            return self.record_without_content(&event).await;
        }
        let acted_on = EVENTS.contains(&event.type_);
        q::insert_event(
            &self.db,
            event.id.as_str(),
            event.type_.as_str(),
            timestamp(event.created),
            payload,
            if acted_on {
                EventStatus::Received
            } else {
                EventStatus::Ignored
            },
            EventOwner { customer, account },
            self.clock.now(),
        )
        .await?;
        if !acted_on {
            return Ok(Received::Ignored);
        }
        // A redelivery may revive an event that was given up on.
        self.run(event.id.as_str(), true).await
    }

    /// Stripe's signature on the raw body, with any of the endpoint's secrets.
    fn check_signature(&self, header: Option<&str>, body: &[u8]) -> Result<()> {
        let stripe = self.stripe()?;
        let secrets: Vec<&[u8]> = stripe
            .webhook_secrets
            .iter()
            .map(|s| s.expose().as_bytes())
            .collect();
        signature::verify(header, body, &secrets, self.clock.now().timestamp()).map_err(|r| {
            let code = match r {
                Refused::Stale => "stale_signature",
                _ => "invalid_signature",
            };
            tracing::warn!(reason = %r, "a Stripe webhook was refused");
            Error::bad_request(code, r.to_string())
        })
    }

    /// Records an event about the customer of an erased account: what it was and when,
    /// nothing of what it said.
    async fn record_without_content(&self, event: &stripe_shared::Event) -> Result<Received> {
        let scrubbed = serde_json::json!({
            "id": event.id.as_str(),
            "object": "event",
            "type": event.type_.as_str(),
            "created": event.created,
            "data": {"object": {}},
            "barkeep_note": "recorded without its content: it named the Stripe customer of an erased account",
        });
        q::insert_event(
            &self.db,
            event.id.as_str(),
            event.type_.as_str(),
            timestamp(event.created),
            &scrubbed.to_string(),
            EventStatus::Ignored,
            EventOwner::default(),
            self.clock.now(),
        )
        .await?;
        tracing::info!(event = %event.id.as_str(), kind = %event.type_, "a Stripe event about an erased account's customer was recorded without its content");
        Ok(Received::Ignored)
    }

    /// The `stripe_events` job: tries again every event that failed (or was left by a
    /// process that died holding it) and is due.
    pub async fn retry_events(&self) -> anyhow::Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let now = self.clock.now();
        let due = q::due_events(&self.db, now, 200).await?;
        let mut failed = 0;
        for id in due {
            if let Err(err) = self.run(&id, false).await {
                failed += 1;
                tracing::warn!(event = %id, error = %err, "a Stripe event failed again");
            }
        }
        if failed > 0 {
            anyhow::bail!("{failed} Stripe event(s) failed again; they stay queued");
        }
        Ok(())
    }

    /// Claims one event and processes it; records the failure if it fails.
    async fn run(&self, id: &str, redelivery: bool) -> Result<Received> {
        let now = self.clock.now();
        let claimed = q::claim_event(
            &self.db,
            id,
            now,
            now + Duration::seconds(LEASE_SECS),
            redelivery,
        )
        .await?;
        let row = q::event(&self.db, id)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("event {id} vanished")))?;
        if !claimed {
            return Ok(match row.status {
                EventStatus::Processed => Received::Duplicate,
                EventStatus::Ignored => Received::Ignored,
                EventStatus::Received | EventStatus::Failed | EventStatus::GaveUp => {
                    Received::InProgress
                }
            });
        }
        match self.process(&row).await {
            Ok(EventStatus::Ignored) => Ok(Received::Ignored),
            Ok(_) => {
                tracing::info!(event = %row.id, kind = %row.kind, "Stripe event processed");
                Ok(Received::Processed)
            }
            Err(err) => {
                let give_up = row.attempts >= MAX_ATTEMPTS;
                let next = self.clock.now() + backoff(row.attempts);
                let message = format!("{err:#}");
                tracing::error!(event = %row.id, kind = %row.kind, attempts = row.attempts, give_up, error = %message, "Stripe event failed");
                q::fail_event(&self.db, &row.id, &message, next, give_up).await?;
                Err(Error::Internal(err))
            }
        }
    }

    /// Reads the event as Stripe's types and what it is about from Stripe, then commits
    /// its effect and the event's mark together; answers the mark.
    async fn process(&self, row: &stripe_event::Model) -> anyhow::Result<EventStatus> {
        let Some(event) = Event::read(&row.payload)? else {
            // A type acted on when it arrived, and not by this version of barkeep.
            return self.finish_ignored(row).await;
        };
        if let Event::CheckoutCompleted(session) = &event
            && checkout_account(session).is_none()
        {
            tracing::warn!(
                event = %row.id,
                session = %session.id.as_str(),
                "a completed Checkout Session without barkeep's metadata for its client reference; barkeep did not create it, so it is ignored"
            );
            return self.finish_ignored(row).await;
        }

        // Every read from Stripe happens before the transaction begins.
        let read_at = self.clock.now();
        let state = self.read_subscription(&event).await?;

        let txn = crate::db::begin(&self.db).await?;
        let account = self
            .apply(&txn, &event, state.as_ref(), read_at, &row.id)
            .await?;
        if let Some(account) = account {
            self.notify(&txn, account, &event, state.as_ref(), &row.id)
                .await?;
        }
        let customer = event
            .customer()
            .or(state.as_ref().map(|s| s.customer.as_str()));
        q::set_event_owner(&txn, &row.id, EventOwner { customer, account }).await?;
        q::finish_event(&txn, &row.id, EventStatus::Processed, self.clock.now()).await?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(EventStatus::Processed)
    }

    /// Marks an event barkeep does not act on as ignored; it stays recorded.
    async fn finish_ignored(&self, row: &stripe_event::Model) -> anyhow::Result<EventStatus> {
        let txn = crate::db::begin(&self.db).await?;
        q::finish_event(&txn, &row.id, EventStatus::Ignored, self.clock.now()).await?;
        txn.commit().await?;
        Ok(EventStatus::Ignored)
    }

    /// The subscription the event is about, as Stripe has it now.
    async fn read_subscription(&self, event: &Event) -> anyhow::Result<Option<SubscriptionState>> {
        let Some(id) = event.subscription() else {
            return Ok(None);
        };
        let stripe = self.stripe()?;
        Ok(Some(stripe.api.subscription(id, event.needs_card()).await?))
    }

    /// The event's effect on barkeep's records: a completed checkout links its customer
    /// to the account, and the subscription read is applied. Answers the account the event
    /// is about, if barkeep knows them.
    async fn apply(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        event: &Event,
        state: Option<&SubscriptionState>,
        read_at: DateTime<Utc>,
        cause: &str,
    ) -> anyhow::Result<Option<AccountId>> {
        if let Event::CheckoutCompleted(session) = event
            && let (Some(account), Some(customer)) = (checkout_account(session), event.customer())
            && crate::db::teams::account_by_id(conn, account)
                .await?
                .is_some()
        {
            q::insert_customer(conn, account, customer, read_at).await?;
        }
        if let Some(state) = state
            && let Some(account) = self.apply_subscription(conn, state, read_at, cause).await?
        {
            return Ok(Some(account));
        }
        match event.customer() {
            Some(customer) => Ok(q::account_of_customer(conn, customer).await?),
            None => Ok(None),
        }
    }

    /// The newest webhook events, for operators.
    pub async fn recent_events(
        &self,
        status: Option<EventStatus>,
        limit: u64,
    ) -> Result<Vec<stripe_event::Model>> {
        self.stripe()?;
        Ok(q::recent_events(&self.db, status, limit).await?)
    }
}

/// The body as Stripe's event envelope, and as text (recorded as it arrived).
fn read_envelope(body: &[u8]) -> Result<(&str, stripe_shared::Event)> {
    let payload = std::str::from_utf8(body)
        .map_err(|_| Error::bad_request("invalid_event", "the body is not UTF-8"))?;
    let event = envelope(payload).ok_or_else(|| {
        Error::bad_request(
            "invalid_event",
            "not a Stripe event: one has an id, a type, created, livemode, pending_webhooks and data.object",
        )
    })?;
    let id = event.id.as_str();
    if !id.starts_with("evt_") || id.len() > 255 {
        return Err(Error::bad_request(
            "invalid_event",
            "a Stripe event id starts with evt_",
        ));
    }
    Ok((payload, event))
}

fn backoff(attempts: i32) -> Duration {
    let secs = 30i64.saturating_mul(1 << attempts.clamp(1, 12).saturating_sub(1));
    Duration::seconds(secs.min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(12), Duration::seconds(3600));
    }
}
