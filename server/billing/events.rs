//! Stripe webhook events: checked, recorded by id (insert-or-skip, so a duplicate, even
//! one arriving at the same moment, is never processed twice), then processed by
//! whoever holds the event's lease. An event's effect commits in the same transaction
//! as its "processed" mark; a failed event keeps its error and is tried again, by
//! Stripe's own retry and by the `stripe_events` job, with growing pauses.
//!
//! The events barkeep acts on are in [`EVENTS`]; every other type is recorded as
//! ignored and answered 200. Each event records the Stripe customer its object names and
//! that customer's member, so erasure and the export find a member's events by id; an
//! event that arrives for the customer of an erased account is recorded without its
//! content and not acted on.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::stripe::timestamp;
use super::{Billing, day};
use crate::db::billing::{self as q, EventOwner};
use crate::db::entities::stripe_event::{self, EventStatus};
use crate::domain::MemberId;
use crate::error::{Error, Result};
use crate::mail::{BillingCardExpiring, BillingPaymentFailed, BillingReceipt, BillingTrialEnding};
use crate::signature::{self, Refused};

/// The event types barkeep acts on, and what it does with each (see docs/billing.md).
pub const EVENTS: [&str; 11] = [
    // Links the Stripe customer to the member and applies the new subscription.
    "checkout.session.completed",
    // Each applies the subscription as Stripe has it now.
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    // The same, and emails that the trial ends.
    "customer.subscription.trial_will_end",
    // The same for the invoice's subscription, and emails the receipt.
    "invoice.paid",
    // The same, and asks for a different card.
    "invoice.payment_failed",
    // The same, and warns when the card on file expires before the payment.
    "invoice.upcoming",
    // A card saved as a source expires at the end of the month.
    "customer.source.expiring",
];

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

#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: Value,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// An id field that Stripe may send as a string or, expanded, as an object.
fn id_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Object(o) => o.get("id").and_then(Value::as_str),
        _ => None,
    }
}

/// The Stripe customer an event's object names: its `customer` (an id, or the expanded
/// object), or its own id when the object is a customer.
fn customer_of(object: &Value) -> Option<&str> {
    if text(object, "object") == Some("customer") {
        return text(object, "id");
    }
    id_of(object, "customer")
}

/// The member a completed Checkout Session is for, when barkeep created the session:
/// barkeep sets the member's id both as the client reference and in the session's
/// metadata. Anyone can put a client reference on a Payment Link's URL, but only the
/// holder of the API key can write metadata, so a session without a matching
/// `barkeep_member_id` is not barkeep's.
fn checkout_member(session: &Value) -> Option<MemberId> {
    let reference: i64 = text(session, "client_reference_id")?.parse().ok()?;
    let metadata: i64 = session
        .get("metadata")
        .and_then(|m| text(m, "barkeep_member_id"))?
        .parse()
        .ok()?;
    (reference == metadata).then_some(MemberId(reference))
}

/// What is kept of an event about the customer of an erased account: what it was and
/// when, nothing of what it said.
fn scrubbed(envelope: &Envelope) -> String {
    serde_json::json!({
        "id": envelope.id,
        "object": "event",
        "type": envelope.kind,
        "created": envelope.created,
        "data": {"object": {}},
        "barkeep_note": "recorded without its content: it named the Stripe customer of an erased account",
    })
    .to_string()
}

/// The subscription an invoice belongs to (the field moved under `parent` in 2025).
fn invoice_subscription(invoice: &Value) -> Option<&str> {
    id_of(invoice, "subscription").or_else(|| {
        invoice
            .get("parent")
            .and_then(|p| p.get("subscription_details"))
            .and_then(|d| id_of(d, "subscription"))
    })
}

/// An amount in the currency's minor unit, as a person reads it.
fn money(minor: i64, currency: &str) -> String {
    let currency = currency.to_ascii_lowercase();
    if ["jpy", "krw", "vnd", "clp", "isk", "ugx", "xof", "xaf"].contains(&currency.as_str()) {
        return format!(
            "{} {}",
            super::thousands(minor.unsigned_abs()),
            currency.to_uppercase()
        );
    }
    let major = format!(
        "{}.{:02}",
        super::thousands(minor.unsigned_abs() / 100),
        minor.unsigned_abs() % 100
    );
    let sign = if minor < 0 { "-" } else { "" };
    match currency.as_str() {
        "usd" => format!("{sign}${major}"),
        "eur" => format!("{sign}€{major}"),
        "gbp" => format!("{sign}£{major}"),
        other => format!("{sign}{major} {}", other.to_uppercase()),
    }
}

fn backoff(attempts: i32) -> Duration {
    let secs = 30i64.saturating_mul(1 << attempts.clamp(1, 12).saturating_sub(1));
    Duration::seconds(secs.min(3600))
}

impl Billing {
    /// A delivery to `POST /stripe/webhook`. The signature is checked on the raw body
    /// before anything is parsed; a refused delivery writes nothing.
    pub async fn receive(&self, signature_header: Option<&str>, body: &[u8]) -> Result<Received> {
        let stripe = self.stripe()?;
        let now = self.clock.now();
        let secrets: Vec<&[u8]> = stripe
            .webhook_secrets
            .iter()
            .map(|s| s.expose().as_bytes())
            .collect();
        signature::verify(signature_header, body, &secrets, now.timestamp()).map_err(|r| {
            let code = match r {
                Refused::Stale => "stale_signature",
                _ => "invalid_signature",
            };
            tracing::warn!(reason = %r, "a Stripe webhook was refused");
            Error::bad_request(code, r.to_string())
        })?;
        let payload = std::str::from_utf8(body)
            .map_err(|_| Error::bad_request("invalid_event", "the body is not UTF-8"))?;
        let envelope: Envelope = serde_json::from_str(payload)
            .map_err(|e| Error::bad_request("invalid_event", format!("not a Stripe event: {e}")))?;
        if !envelope.id.starts_with("evt_") || envelope.id.len() > 255 {
            return Err(Error::bad_request(
                "invalid_event",
                "a Stripe event id starts with evt_",
            ));
        }
        let customer = customer_of(&envelope.data.object);
        let member = match customer {
            Some(c) => q::member_of_customer(&self.db, c).await?,
            None => None,
        };
        if member.is_none()
            && let Some(c) = customer
            && q::customer_erased(&self.db, &self.erased_customer_hashes(c)).await?
        {
            q::insert_event(
                &self.db,
                &envelope.id,
                &envelope.kind,
                timestamp(envelope.created),
                &scrubbed(&envelope),
                EventStatus::Ignored,
                EventOwner::default(),
                now,
            )
            .await?;
            tracing::info!(event = %envelope.id, kind = %envelope.kind, "a Stripe event about an erased account's customer was recorded without its content");
            return Ok(Received::Ignored);
        }
        let handled = EVENTS.contains(&envelope.kind.as_str());
        q::insert_event(
            &self.db,
            &envelope.id,
            &envelope.kind,
            timestamp(envelope.created),
            payload,
            if handled {
                EventStatus::Received
            } else {
                EventStatus::Ignored
            },
            EventOwner { customer, member },
            now,
        )
        .await?;
        if !handled {
            return Ok(Received::Ignored);
        }
        // A redelivery may revive an event that was given up on.
        self.run(&envelope.id, true).await
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
                _ => Received::InProgress,
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

    /// Reads from Stripe what the event is about, then commits its effect and the
    /// event's mark together; answers the mark.
    async fn process(&self, row: &stripe_event::Model) -> anyhow::Result<EventStatus> {
        let stripe = self.stripe()?;
        let envelope: Envelope = serde_json::from_str(&row.payload)?;
        let object = &envelope.data.object;
        let kind = envelope.kind.as_str();

        // A Checkout Session barkeep did not create links no customer and applies
        // nothing: it stays recorded, as ignored.
        let checkout = if kind == "checkout.session.completed" {
            let Some(member) = checkout_member(object) else {
                tracing::warn!(
                    event = %row.id,
                    session = text(object, "id").unwrap_or_default(),
                    "a completed Checkout Session without barkeep's metadata for its client reference; barkeep did not create it, so it is ignored"
                );
                let txn = crate::db::begin(&self.db).await?;
                q::finish_event(&txn, &row.id, EventStatus::Ignored, self.clock.now()).await?;
                txn.commit().await?;
                return Ok(EventStatus::Ignored);
            };
            Some(member)
        } else {
            None
        };

        // Every read from Stripe happens before the transaction begins.
        let subscription_id = match kind {
            "checkout.session.completed" => id_of(object, "subscription"),
            k if k.starts_with("customer.subscription.") => text(object, "id"),
            "invoice.paid" | "invoice.payment_failed" | "invoice.upcoming" => {
                invoice_subscription(object)
            }
            _ => None,
        };
        let read_at = self.clock.now();
        let state = match subscription_id {
            Some(id) => {
                let with_card = matches!(
                    kind,
                    "invoice.upcoming" | "customer.subscription.trial_will_end"
                );
                Some(stripe.api.subscription(id, with_card).await?)
            }
            None => None,
        };

        let txn = crate::db::begin(&self.db).await?;
        if let (Some(member), Some(customer)) = (checkout, id_of(object, "customer"))
            && crate::db::accounts::member_by_id(&txn, member)
                .await?
                .is_some()
        {
            q::insert_customer(&txn, member, customer, read_at).await?;
        }
        let mut member = None;
        if let Some(state) = &state {
            member = self
                .apply_subscription(&txn, state, read_at, &row.id)
                .await?;
        }
        if member.is_none()
            && let Some(customer) = id_of(object, "customer")
        {
            member = q::member_of_customer(&txn, customer).await?;
        }
        let plan_name = match &state {
            Some(s) => {
                self.plan_named(
                    s.price_id
                        .as_deref()
                        .and_then(|p| self.plans.by_price(p))
                        .map(|(p, _)| p.id.as_str())
                        .or(s.metadata_plan.as_deref()),
                )
                .name
            }
            None => match member {
                Some(m) => self.plan_of(m).await?.name,
                None => self.plans.free().name.clone(),
            },
        };

        if let Some(member) = member {
            let billing_url = self.billing_url();
            match kind {
                "invoice.paid" => {
                    let invoice = text(object, "id").unwrap_or(&row.id);
                    let line_period = object
                        .pointer("/lines/data/0/period")
                        .filter(|p| p.get("start").is_some());
                    let (start, end) = match line_period {
                        Some(p) => (p.get("start"), p.get("end")),
                        None => (object.get("period_start"), object.get("period_end")),
                    };
                    let date = |v: Option<&Value>| {
                        v.and_then(Value::as_i64)
                            .map(|t| day(timestamp(t)))
                            .unwrap_or_default()
                    };
                    self.email(
                        &txn,
                        member,
                        &format!("billing_receipt:{invoice}"),
                        &BillingReceipt {
                            plan_name,
                            amount: money(
                                object
                                    .get("amount_paid")
                                    .and_then(Value::as_i64)
                                    .unwrap_or(0),
                                text(object, "currency").unwrap_or("usd"),
                            ),
                            period_start: date(start),
                            period_end: date(end),
                            invoice_url: text(object, "hosted_invoice_url").map(str::to_string),
                            billing_url,
                        },
                    )
                    .await?;
                }
                "invoice.payment_failed" => {
                    let invoice = text(object, "id").unwrap_or(&row.id);
                    let attempt = object
                        .get("attempt_count")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    self.email(
                        &txn,
                        member,
                        &format!("billing_payment_failed:{invoice}:{attempt}"),
                        &BillingPaymentFailed {
                            plan_name,
                            amount: money(
                                object
                                    .get("amount_due")
                                    .and_then(Value::as_i64)
                                    .unwrap_or(0),
                                text(object, "currency").unwrap_or("usd"),
                            ),
                            next_attempt: object
                                .get("next_payment_attempt")
                                .and_then(Value::as_i64)
                                .map(|t| day(timestamp(t))),
                            billing_url,
                        },
                    )
                    .await?;
                }
                "invoice.upcoming" => {
                    let due = object
                        .get("next_payment_attempt")
                        .and_then(Value::as_i64)
                        .or_else(|| object.get("period_end").and_then(Value::as_i64))
                        .map(timestamp);
                    if let (Some(card), Some(due)) =
                        (state.as_ref().and_then(|s| s.card.as_ref()), due)
                        && expires_before(card.exp_month, card.exp_year, due)
                    {
                        self.card_email(
                            &txn,
                            member,
                            &card.id,
                            &card.brand,
                            &card.last4,
                            card.exp_month,
                            card.exp_year,
                        )
                        .await?;
                    }
                }
                "customer.source.expiring" => {
                    if let (Some(id), Some(month), Some(year)) = (
                        text(object, "id"),
                        object.get("exp_month").and_then(Value::as_i64),
                        object.get("exp_year").and_then(Value::as_i64),
                    ) {
                        self.card_email(
                            &txn,
                            member,
                            id,
                            text(object, "brand").unwrap_or("card"),
                            text(object, "last4").unwrap_or("????"),
                            month,
                            year,
                        )
                        .await?;
                    }
                }
                "customer.subscription.trial_will_end" => {
                    if let Some(s) = &state
                        && let Some(end) = s.trial_end
                    {
                        self.email(
                            &txn,
                            member,
                            &format!("billing_trial_ending:{}:{}", s.id, end.timestamp()),
                            &BillingTrialEnding {
                                plan_name,
                                trial_end: day(end),
                                has_payment_method: s.card.is_some(),
                                billing_url,
                            },
                        )
                        .await?;
                    }
                }
                _ => {}
            }
        }
        q::set_event_owner(
            &txn,
            &row.id,
            EventOwner {
                customer: customer_of(object).or(state.as_ref().map(|s| s.customer.as_str())),
                member,
            },
        )
        .await?;
        q::finish_event(&txn, &row.id, EventStatus::Processed, self.clock.now()).await?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(EventStatus::Processed)
    }

    #[allow(clippy::too_many_arguments)]
    async fn card_email(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        member: MemberId,
        card: &str,
        brand: &str,
        last4: &str,
        month: i64,
        year: i64,
    ) -> anyhow::Result<()> {
        let expires = format!("{month:02}/{year}");
        self.email(
            conn,
            member,
            &format!("billing_card_expiring:{card}:{expires}"),
            &BillingCardExpiring {
                brand: brand.to_string(),
                last4: last4.to_string(),
                expires,
                billing_url: self.billing_url(),
            },
        )
        .await
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

/// A card valid through `month`/`year` cannot pay at `at`.
fn expires_before(month: i64, year: i64, at: DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (year, month) < (i64::from(at.year()), i64::from(at.month()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_their_currency() {
        assert_eq!(money(2000, "usd"), "$20.00");
        assert_eq!(money(123456, "EUR"), "€1,234.56");
        assert_eq!(money(5, "gbp"), "£0.05");
        assert_eq!(money(990, "chf"), "9.90 CHF");
        assert_eq!(money(1500, "jpy"), "1,500 JPY");
    }

    #[test]
    fn a_card_expires_at_the_end_of_its_month() {
        let at: DateTime<Utc> = "2026-12-03T00:00:00Z".parse().unwrap();
        assert!(expires_before(11, 2026, at));
        assert!(!expires_before(12, 2026, at));
        assert!(!expires_before(1, 2027, at));
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(12), Duration::seconds(3600));
    }

    #[test]
    fn only_a_session_with_barkeeps_metadata_for_its_reference_is_barkeeps() {
        let ours =
            serde_json::json!({"client_reference_id": "7", "metadata": {"barkeep_member_id": "7"}});
        assert_eq!(checkout_member(&ours), Some(MemberId(7)));
        for other in [
            serde_json::json!({"client_reference_id": "7", "metadata": {}}),
            serde_json::json!({"client_reference_id": "7"}),
            serde_json::json!({"client_reference_id": "7", "metadata": {"barkeep_member_id": "8"}}),
            serde_json::json!({"client_reference_id": null, "metadata": {"barkeep_member_id": "7"}}),
            serde_json::json!({"client_reference_id": "7x", "metadata": {"barkeep_member_id": "7x"}}),
        ] {
            assert_eq!(checkout_member(&other), None, "{other}");
        }
    }

    #[test]
    fn an_event_names_its_customer_by_id_expanded_or_as_itself() {
        let plain = serde_json::json!({"object": "invoice", "customer": "cus_1"});
        let expanded = serde_json::json!({"object": "charge", "customer": {"id": "cus_2", "object": "customer"}});
        let itself = serde_json::json!({"object": "customer", "id": "cus_3"});
        let none = serde_json::json!({"object": "balance"});
        assert_eq!(customer_of(&plain), Some("cus_1"));
        assert_eq!(customer_of(&expanded), Some("cus_2"));
        assert_eq!(customer_of(&itself), Some("cus_3"));
        assert_eq!(customer_of(&none), None);
    }

    #[test]
    fn an_invoice_names_its_subscription_either_way() {
        let old: Value = serde_json::json!({"subscription": "sub_1"});
        let new: Value = serde_json::json!({"subscription": null, "parent": {"subscription_details": {"subscription": "sub_2"}}});
        assert_eq!(invoice_subscription(&old), Some("sub_1"));
        assert_eq!(invoice_subscription(&new), Some("sub_2"));
    }
}
