//! What barkeep reads of a Stripe webhook event, as Stripe's types. On arrival: Stripe's
//! envelope ([`stripe_shared::Event`]: id, type, when) and the customer its object names.
//! When processed: the events barkeep acts on ([`EVENTS`]), each with its object read as
//! Stripe's type ([`Event`]). The object of any other type is never read further: it may
//! be of a type, or an API version, that barkeep's Stripe library does not know, and it
//! is still acknowledged and recorded.

use anyhow::Context;
use miniserde::json::Value;
use stripe_shared::{CheckoutSession, EventType, Invoice, Subscription};
use stripe_types::miniserde_helpers::FromValueOpt;
use stripe_webhook::CustomerSourceExpiring;

use crate::domain::AccountId;

/// The event types barkeep acts on, and what it does with each (see docs/billing.md).
pub const EVENTS: [EventType; 11] = [
    // Links the Stripe customer to the account and applies the new subscription.
    EventType::CheckoutSessionCompleted,
    // Each applies the subscription as Stripe has it now.
    EventType::CustomerSubscriptionCreated,
    EventType::CustomerSubscriptionUpdated,
    EventType::CustomerSubscriptionDeleted,
    EventType::CustomerSubscriptionPaused,
    EventType::CustomerSubscriptionResumed,
    // The same, and emails that the trial ends.
    EventType::CustomerSubscriptionTrialWillEnd,
    // The same for the invoice's subscription, and emails the receipt.
    EventType::InvoicePaid,
    // The same, and asks for a different card.
    EventType::InvoicePaymentFailed,
    // The same, and warns when the card on file expires before the payment.
    EventType::InvoiceUpcoming,
    // A card saved as a source expires at the end of the month.
    EventType::CustomerSourceExpiring,
];

/// Stripe's envelope of an event, its object not read yet; `None` when `payload` is not
/// one.
pub(super) fn envelope(payload: &str) -> Option<stripe_shared::Event> {
    miniserde::json::from_str(payload).ok()
}

/// The Stripe customer an event's object names, whatever its type: its `customer` (an
/// id, or the customer expanded), or its own id when the object is a customer. Stripe
/// names a customer so in every object that has one.
pub(super) fn customer_named(object: &Value) -> Option<&str> {
    fn text(v: Option<&Value>) -> Option<&str> {
        match v {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
    let Value::Object(fields) = object else {
        return None;
    };
    if text(fields.get("object")) == Some("customer") {
        return text(fields.get("id"));
    }
    match fields.get("customer") {
        Some(Value::Object(expanded)) => text(expanded.get("id")),
        customer => text(customer),
    }
}

/// An event barkeep acts on, its object read as Stripe's type.
pub(super) enum Event {
    /// `checkout.session.completed`
    CheckoutCompleted(Box<CheckoutSession>),
    /// `customer.subscription.` `created`, `updated`, `deleted`, `paused` or `resumed`.
    SubscriptionChanged(Box<Subscription>),
    /// `customer.subscription.trial_will_end`
    TrialWillEnd(Box<Subscription>),
    /// `invoice.paid`
    InvoicePaid(Box<Invoice>),
    /// `invoice.payment_failed`
    PaymentFailed(Box<Invoice>),
    /// `invoice.upcoming`
    InvoiceUpcoming(Box<Invoice>),
    /// `customer.source.expiring`: a card, or a source of the older Sources API.
    SourceExpiring(Box<CustomerSourceExpiring>),
}

impl Event {
    /// Reads a recorded event; `None` for a type barkeep does not act on.
    pub(super) fn read(payload: &str) -> anyhow::Result<Option<Event>> {
        let envelope = envelope(payload).context("the recorded payload is not a Stripe event")?;
        Event::of(&envelope.type_, envelope.data.object)
    }

    fn of(kind: &EventType, object: Value) -> anyhow::Result<Option<Event>> {
        use EventType as T;
        Ok(Some(match kind {
            T::CheckoutSessionCompleted => Event::CheckoutCompleted(typed(kind, object)?),
            T::CustomerSubscriptionCreated
            | T::CustomerSubscriptionUpdated
            | T::CustomerSubscriptionDeleted
            | T::CustomerSubscriptionPaused
            | T::CustomerSubscriptionResumed => Event::SubscriptionChanged(typed(kind, object)?),
            T::CustomerSubscriptionTrialWillEnd => Event::TrialWillEnd(typed(kind, object)?),
            T::InvoicePaid => Event::InvoicePaid(typed(kind, object)?),
            T::InvoicePaymentFailed => Event::PaymentFailed(typed(kind, object)?),
            T::InvoiceUpcoming => Event::InvoiceUpcoming(typed(kind, object)?),
            T::CustomerSourceExpiring => Event::SourceExpiring(typed(kind, object)?),
            _ => return Ok(None),
        }))
    }

    /// The Stripe customer the event's object names.
    pub(super) fn customer(&self) -> Option<&str> {
        match self {
            Event::CheckoutCompleted(session) => session.customer.as_ref().map(|c| c.id().as_str()),
            Event::SubscriptionChanged(s) | Event::TrialWillEnd(s) => {
                Some(s.customer.id().as_str())
            }
            Event::InvoicePaid(invoice)
            | Event::PaymentFailed(invoice)
            | Event::InvoiceUpcoming(invoice) => invoice.customer.as_ref().map(|c| c.id().as_str()),
            Event::SourceExpiring(source) => match source.as_ref() {
                CustomerSourceExpiring::Card(card) => {
                    card.customer.as_ref().map(|c| c.id().as_str())
                }
                CustomerSourceExpiring::Source(source) => source.customer.as_deref(),
            },
        }
    }

    /// The subscription the event is about, which barkeep reads again from Stripe.
    pub(super) fn subscription(&self) -> Option<&str> {
        match self {
            Event::CheckoutCompleted(session) => {
                session.subscription.as_ref().map(|s| s.id().as_str())
            }
            Event::SubscriptionChanged(s) | Event::TrialWillEnd(s) => Some(s.id.as_str()),
            Event::InvoicePaid(invoice)
            | Event::PaymentFailed(invoice)
            | Event::InvoiceUpcoming(invoice) => invoice_subscription(invoice),
            Event::SourceExpiring(_) => None,
        }
    }

    /// Whether what the event leads to needs the subscription's card: a trial ending, or
    /// a payment the card may not live to make.
    pub(super) fn needs_card(&self) -> bool {
        match self {
            Event::TrialWillEnd(_) | Event::InvoiceUpcoming(_) => true,
            Event::CheckoutCompleted(_)
            | Event::SubscriptionChanged(_)
            | Event::InvoicePaid(_)
            | Event::PaymentFailed(_)
            | Event::SourceExpiring(_) => false,
        }
    }
}

/// `object` read as Stripe's type `T`.
fn typed<T: FromValueOpt>(kind: &EventType, object: Value) -> anyhow::Result<Box<T>> {
    T::from_value(object).map(Box::new).with_context(|| {
        format!(
            "the object of the {kind} event does not read as Stripe's {} (barkeep reads Stripe's API version {})",
            std::any::type_name::<T>(),
            stripe_shared::version::VERSION
        )
    })
}

/// The subscription an invoice belongs to (the field moved under `parent` in 2025).
fn invoice_subscription(invoice: &Invoice) -> Option<&str> {
    let parent = invoice
        .parent
        .as_ref()
        .and_then(|p| p.subscription_details.as_ref())
        .map(|d| &d.subscription);
    invoice
        .subscription
        .as_ref()
        .or(parent)
        .map(|s| s.id().as_str())
}

/// The account a completed Checkout Session is for, when barkeep created the session:
/// barkeep sets the account's id both as the client reference and in the session's
/// metadata. Anyone can put a client reference on a Payment Link's URL, but only the
/// holder of the API key can write metadata, so a session without a matching
/// account id is not barkeep's.
pub(super) fn checkout_account(session: &CheckoutSession) -> Option<AccountId> {
    let reference: i64 = session.client_reference_id.as_deref()?.parse().ok()?;
    let metadata = super::stripe::metadata_account(session.metadata.as_ref()?)?;
    (reference == metadata).then_some(AccountId(reference))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// One of Stripe's example objects (tests/fixtures/stripe), changed by `edit`.
    fn fixture(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Value {
        let path = format!(
            "{}/tests/fixtures/stripe/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut object: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        edit(&mut object);
        value(object)
    }

    fn value(object: serde_json::Value) -> Value {
        miniserde::json::from_str(&object.to_string()).unwrap()
    }

    fn card() -> serde_json::Value {
        json!({
            "id": "card_1", "object": "card", "brand": "Visa", "last4": "4242",
            "exp_month": 12, "exp_year": 2026, "customer": "cus_1", "country": "US",
            "funding": "credit", "fingerprint": "f", "metadata": {},
            "address_city": null, "address_country": null, "address_line1": null,
            "address_line1_check": null, "address_line2": null, "address_state": null,
            "address_zip": null, "address_zip_check": null, "cvc_check": "pass",
            "dynamic_last4": null, "name": null, "tokenization_method": null,
            "wallet": null
        })
    }

    fn object_for(kind: &EventType) -> Value {
        let name = match kind {
            EventType::CheckoutSessionCompleted => "checkout.session",
            EventType::InvoicePaid
            | EventType::InvoicePaymentFailed
            | EventType::InvoiceUpcoming => "invoice",
            EventType::CustomerSourceExpiring => return value(card()),
            _ => "subscription",
        };
        fixture(name, |_| {})
    }

    #[test]
    fn every_event_barkeep_acts_on_reads_as_stripes_types() {
        for kind in &EVENTS {
            let event = Event::of(kind, object_for(kind));
            assert!(matches!(event, Ok(Some(_))), "{kind}: {:?}", event.err());
        }
        let ignored = Event::of(&EventType::ChargeRefunded, value(json!({"id": "ch_1"})));
        assert!(matches!(ignored, Ok(None)));
        let broken = Event::of(&EventType::InvoicePaid, value(json!({"id": "in_1"})));
        assert!(broken.is_err());
    }

    #[test]
    fn only_a_session_with_barkeeps_metadata_for_its_reference_is_barkeeps() {
        let session = |reference: serde_json::Value, metadata: serde_json::Value| {
            let object = fixture("checkout.session", |s| {
                s["client_reference_id"] = reference;
                s["metadata"] = metadata;
            });
            *typed::<CheckoutSession>(&EventType::CheckoutSessionCompleted, object).unwrap()
        };
        let ours = session(json!("7"), json!({"barkeep_account_id": "7"}));
        assert_eq!(checkout_account(&ours), Some(AccountId(7)));
        // Sessions made before accounts were shared name the same id the old way.
        let older = session(json!("7"), json!({"barkeep_member_id": "7"}));
        assert_eq!(checkout_account(&older), Some(AccountId(7)));
        for (reference, metadata) in [
            (json!("7"), json!({})),
            (json!("7"), json!(null)),
            (json!("7"), json!({"barkeep_member_id": "8"})),
            (json!(null), json!({"barkeep_member_id": "7"})),
            (json!("7x"), json!({"barkeep_member_id": "7x"})),
        ] {
            let other = session(reference.clone(), metadata.clone());
            assert_eq!(checkout_account(&other), None, "{reference} {metadata}");
        }
    }

    #[test]
    fn an_event_names_its_customer_by_id_expanded_or_as_itself() {
        let plain = value(json!({"object": "invoice", "customer": "cus_1"}));
        let expanded =
            value(json!({"object": "charge", "customer": {"id": "cus_2", "object": "customer"}}));
        let itself = value(json!({"object": "customer", "id": "cus_3"}));
        let none = value(json!({"object": "balance"}));
        assert_eq!(customer_named(&plain), Some("cus_1"));
        assert_eq!(customer_named(&expanded), Some("cus_2"));
        assert_eq!(customer_named(&itself), Some("cus_3"));
        assert_eq!(customer_named(&none), None);
    }

    #[test]
    fn an_invoice_names_its_subscription_either_way() {
        let read = |edit: fn(&mut serde_json::Value)| {
            let object = fixture("invoice", edit);
            typed::<Invoice>(&EventType::InvoicePaid, object).unwrap()
        };
        let old = read(|i| {
            i["subscription"] = json!("sub_1");
            i["parent"] = json!(null);
        });
        let new = read(|i| {
            i["subscription"] = json!(null);
            i["parent"] = json!({"type": "subscription_details", "quote_details": null,
                "subscription_details": {"metadata": {}, "subscription": "sub_2"}});
        });
        assert_eq!(invoice_subscription(&old), Some("sub_1"));
        assert_eq!(invoice_subscription(&new), Some("sub_2"));
    }
}
