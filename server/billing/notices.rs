//! The billing email a Stripe event sends, beside what applying its subscription sends:
//! the receipt of a paid invoice, a failed payment, a card that expires before the next
//! payment or at the end of the month, a trial that ends. Each is queued once per
//! invoice, attempt, card or trial, in the event's transaction.

use chrono::{DateTime, Datelike, Utc};
use sea_orm::ConnectionTrait;
use stripe_shared::Invoice;
use stripe_types::Currency;
use stripe_webhook::CustomerSourceExpiring;

use super::stripe::{SubscriptionState, timestamp};
use super::webhook::Event;
use super::{Billing, day};
use crate::db::billing as q;
use crate::domain::AccountId;
use crate::mail::{BillingCardExpiring, BillingPaymentFailed, BillingReceipt, BillingTrialEnding};

/// A card as the email about its expiry names it.
struct ExpiringCard<'a> {
    id: &'a str,
    brand: &'a str,
    last4: &'a str,
    month: i64,
    year: i64,
}

impl Billing {
    /// Emails `account` what `event` tells them; `state` is its subscription as read from
    /// Stripe, `event_id` names an invoice Stripe has not numbered yet.
    pub(super) async fn notify(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        event: &Event,
        state: Option<&SubscriptionState>,
        event_id: &str,
    ) -> anyhow::Result<()> {
        match event {
            Event::InvoicePaid(invoice) => {
                self.email_receipt(conn, account, invoice, state, event_id)
                    .await
            }
            Event::PaymentFailed(invoice) => {
                self.email_payment_failed(conn, account, invoice, state, event_id)
                    .await
            }
            Event::InvoiceUpcoming(invoice) => {
                self.warn_card_before_payment(conn, account, invoice, state)
                    .await
            }
            Event::SourceExpiring(source) => match source.as_ref() {
                CustomerSourceExpiring::Card(card) => {
                    let card = ExpiringCard {
                        id: card.id.as_str(),
                        brand: &card.brand,
                        last4: &card.last4,
                        month: card.exp_month,
                        year: card.exp_year,
                    };
                    self.email_card_expiring(conn, account, &card).await
                }
                // A source of the older Sources API names no expiry of its own.
                CustomerSourceExpiring::Source(_) => Ok(()),
            },
            Event::TrialWillEnd(_) => self.email_trial_ending(conn, account, state).await,
            Event::CheckoutCompleted(_) | Event::SubscriptionChanged(_) => Ok(()),
        }
    }

    /// The name of the plan an email speaks of: the subscription's, or the account's now.
    async fn plan_name(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        state: Option<&SubscriptionState>,
    ) -> anyhow::Result<String> {
        let plan = match state {
            Some(s) => s
                .price_id
                .as_deref()
                .and_then(|p| self.plans.by_price(p))
                .map(|(p, _)| p.id.clone())
                .or_else(|| s.metadata_plan.clone()),
            None => q::billing_account(conn, account).await?.map(|a| a.plan_id),
        };
        Ok(self.plan_named(plan.as_deref()).name)
    }

    async fn email_receipt(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        invoice: &Invoice,
        state: Option<&SubscriptionState>,
        event_id: &str,
    ) -> anyhow::Result<()> {
        let id = invoice.id.as_ref().map_or(event_id, |i| i.as_str());
        // The period paid for is the first line's; an invoice without lines has its own.
        let (start, end) = match invoice.lines.data.first() {
            Some(line) => (line.period.start, line.period.end),
            None => (invoice.period_start, invoice.period_end),
        };
        let receipt = BillingReceipt {
            plan_name: self.plan_name(conn, account, state).await?,
            amount: money(invoice.amount_paid, &invoice.currency),
            period_start: day(timestamp(start)),
            period_end: day(timestamp(end)),
            invoice_url: invoice.hosted_invoice_url.clone(),
            billing_url: self.billing_url(),
        };
        self.email(conn, account, &format!("billing_receipt:{id}"), &receipt)
            .await
    }

    async fn email_payment_failed(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        invoice: &Invoice,
        state: Option<&SubscriptionState>,
        event_id: &str,
    ) -> anyhow::Result<()> {
        let id = invoice.id.as_ref().map_or(event_id, |i| i.as_str());
        let failed = BillingPaymentFailed {
            plan_name: self.plan_name(conn, account, state).await?,
            amount: money(invoice.amount_due, &invoice.currency),
            next_attempt: invoice.next_payment_attempt.map(|t| day(timestamp(t))),
            billing_url: self.billing_url(),
        };
        let key = format!("billing_payment_failed:{id}:{}", invoice.attempt_count);
        self.email(conn, account, &key, &failed).await
    }

    /// Warns when the subscription's card expires before the upcoming payment.
    async fn warn_card_before_payment(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        invoice: &Invoice,
        state: Option<&SubscriptionState>,
    ) -> anyhow::Result<()> {
        let due = timestamp(invoice.next_payment_attempt.unwrap_or(invoice.period_end));
        let Some(card) = state.and_then(|s| s.card.as_ref()) else {
            return Ok(());
        };
        if !expires_before(card.exp_month, card.exp_year, due) {
            return Ok(());
        }
        let card = ExpiringCard {
            id: &card.id,
            brand: &card.brand,
            last4: &card.last4,
            month: card.exp_month,
            year: card.exp_year,
        };
        self.email_card_expiring(conn, account, &card).await
    }

    async fn email_card_expiring(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        card: &ExpiringCard<'_>,
    ) -> anyhow::Result<()> {
        let expires = format!("{:02}/{}", card.month, card.year);
        self.email(
            conn,
            account,
            &format!("billing_card_expiring:{}:{expires}", card.id),
            &BillingCardExpiring {
                brand: card.brand.to_string(),
                last4: card.last4.to_string(),
                expires,
                billing_url: self.billing_url(),
            },
        )
        .await
    }

    async fn email_trial_ending(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        state: Option<&SubscriptionState>,
    ) -> anyhow::Result<()> {
        let Some((s, end)) = state.and_then(|s| Some((s, s.trial_end?))) else {
            return Ok(());
        };
        let ending = BillingTrialEnding {
            plan_name: self.plan_name(conn, account, state).await?,
            trial_end: day(end),
            has_payment_method: s.card.is_some(),
            billing_url: self.billing_url(),
        };
        let key = format!("billing_trial_ending:{}:{}", s.id, end.timestamp());
        self.email(conn, account, &key, &ending).await
    }
}

/// A card valid through `month`/`year` cannot pay at `at`.
fn expires_before(month: i64, year: i64, at: DateTime<Utc>) -> bool {
    (year, month) < (i64::from(at.year()), i64::from(at.month()))
}

/// An amount in the currency's minor unit, as a person reads it.
fn money(minor: i64, currency: &Currency) -> String {
    let code = currency.to_string().to_ascii_uppercase();
    let zero_decimal = matches!(
        currency,
        Currency::JPY
            | Currency::KRW
            | Currency::VND
            | Currency::CLP
            | Currency::ISK
            | Currency::UGX
            | Currency::XOF
            | Currency::XAF
    );
    if zero_decimal {
        return format!("{} {code}", super::thousands(minor.unsigned_abs()));
    }
    let major = format!(
        "{}.{:02}",
        super::thousands(minor.unsigned_abs() / 100),
        minor.unsigned_abs() % 100
    );
    let sign = if minor < 0 { "-" } else { "" };
    match currency {
        Currency::USD => format!("{sign}${major}"),
        Currency::EUR => format!("{sign}€{major}"),
        Currency::GBP => format!("{sign}£{major}"),
        _ => format!("{sign}{major} {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_their_currency() {
        assert_eq!(money(2000, &Currency::USD), "$20.00");
        assert_eq!(money(123456, &Currency::EUR), "€1,234.56");
        assert_eq!(money(5, &Currency::GBP), "£0.05");
        assert_eq!(money(990, &Currency::CHF), "9.90 CHF");
        assert_eq!(money(1500, &Currency::JPY), "1,500 JPY");
        assert_eq!(money(-250, &Currency::Unknown("xyz".into())), "-2.50 XYZ");
    }

    #[test]
    fn a_card_expires_at_the_end_of_its_month() {
        let at: DateTime<Utc> = "2026-12-03T00:00:00Z".parse().unwrap();
        assert!(expires_before(11, 2026, at));
        assert!(!expires_before(12, 2026, at));
        assert!(!expires_before(1, 2027, at));
    }
}
