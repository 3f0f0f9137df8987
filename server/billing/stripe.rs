//! The calls barkeep makes to Stripe's API, through async-stripe: create an account's
//! customer, a Checkout Session and a customer-portal session, read a subscription as it
//! is now, cancel one. Every create carries an idempotency key; nothing here touches
//! the database, so no transaction is ever held across a call.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::{CancelSubscription, RetrieveSubscription};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;

use super::StripeConfig;
use crate::db::entities::subscription::{CancellationReason, SubscriptionStatus};
use crate::domain::AccountId;

/// Each call to Stripe gets this long.
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct StripeApi {
    client: Client,
}

/// What barkeep keeps of a subscription, read from Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub id: String,
    pub customer: String,
    pub status: SubscriptionStatus,
    pub price_id: Option<String>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancellation_reason: Option<CancellationReason>,
    pub created: DateTime<Utc>,
    /// The account and plan barkeep wrote into the subscription's metadata at checkout.
    pub metadata_account: Option<AccountId>,
    pub metadata_plan: Option<String>,
    /// The default card, when Stripe was asked to expand it.
    pub card: Option<Card>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

/// A subscription's status in barkeep's terms. Stripe adds a status only with a new API
/// version, and barkeep's requests name the version they were written for; a status it
/// does not know is an error, so no plan is decided from a guess.
fn status(status: &stripe_shared::SubscriptionStatus) -> anyhow::Result<SubscriptionStatus> {
    use stripe_shared::SubscriptionStatus as Stripe;
    Ok(match status {
        Stripe::Incomplete => SubscriptionStatus::Incomplete,
        Stripe::IncompleteExpired => SubscriptionStatus::IncompleteExpired,
        Stripe::Trialing => SubscriptionStatus::Trialing,
        Stripe::Active => SubscriptionStatus::Active,
        Stripe::PastDue => SubscriptionStatus::PastDue,
        Stripe::Unpaid => SubscriptionStatus::Unpaid,
        Stripe::Canceled => SubscriptionStatus::Canceled,
        Stripe::Paused => SubscriptionStatus::Paused,
        other => anyhow::bail!(
            "Stripe answered a subscription status barkeep does not know: {}",
            other.as_str()
        ),
    })
}

/// Why a subscription was canceled, in barkeep's terms; a reason barkeep does not know
/// is kept as none (it only decides whether the cancellation for non-payment is emailed).
fn cancellation_reason(
    reason: &stripe_shared::CancellationDetailsReason,
) -> Option<CancellationReason> {
    use stripe_shared::CancellationDetailsReason as Stripe;
    match reason {
        Stripe::CancellationRequested => Some(CancellationReason::CancellationRequested),
        Stripe::PaymentDisputed => Some(CancellationReason::PaymentDisputed),
        Stripe::PaymentFailed => Some(CancellationReason::PaymentFailed),
        Stripe::CanceledByRetentionPolicy => Some(CancellationReason::CanceledByRetentionPolicy),
        other => {
            tracing::warn!(reason = %other.as_str(), "a cancellation reason barkeep does not know");
            None
        }
    }
}

/// What a Checkout Session is made of.
pub struct CheckoutRequest<'a> {
    pub customer: &'a str,
    pub account: AccountId,
    pub plan: &'a str,
    pub price: &'a str,
    pub success_url: String,
    pub cancel_url: String,
}

pub fn timestamp(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).single().unwrap_or_default()
}

fn key(k: String) -> anyhow::Result<RequestStrategy> {
    Ok(RequestStrategy::Idempotent(
        IdempotencyKey::new(k).context("idempotency key")?,
    ))
}

impl StripeApi {
    pub fn new(config: &StripeConfig) -> anyhow::Result<StripeApi> {
        let mut builder = ClientBuilder::new(config.secret_key.expose().clone())
            .timeout(TIMEOUT)
            .app_info("barkeep", Some(env!("CARGO_PKG_VERSION").to_string()), None);
        if let Some(url) = &config.api_url {
            builder = builder.url(url.clone());
        }
        let client = builder.build().context("building the Stripe client")?;
        Ok(StripeApi { client })
    }

    /// Creates the account's customer. The key is the account's, so two requests at once
    /// (two checkouts in two tabs) get one customer from Stripe.
    pub async fn create_customer(&self, account: AccountId, email: &str) -> anyhow::Result<String> {
        let customer = CreateCustomer::new()
            .email(email)
            .metadata(HashMap::from([(
                ACCOUNT_KEY.to_string(),
                account.to_string(),
            )]))
            .customize()
            .request_strategy(key(format!("barkeep-customer-{account}"))?)
            .send(&self.client)
            .await
            .context("creating the Stripe customer")?;
        Ok(customer.id.as_str().to_string())
    }

    /// Creates a subscription-mode Checkout Session and returns its URL.
    pub async fn checkout(&self, r: CheckoutRequest<'_>) -> anyhow::Result<String> {
        let metadata = HashMap::from([
            (ACCOUNT_KEY.to_string(), r.account.to_string()),
            ("barkeep_plan".to_string(), r.plan.to_string()),
        ]);
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(r.price.to_string());
        item.quantity = Some(1);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(metadata.clone());
        let session = CreateCheckoutSession::new()
            .mode(stripe_checkout::CheckoutSessionMode::Subscription)
            .customer(r.customer)
            .client_reference_id(r.account.to_string())
            .metadata(metadata)
            .line_items(vec![item])
            .subscription_data(subscription)
            .success_url(r.success_url)
            .cancel_url(r.cancel_url)
            .customize()
            .request_strategy(key(format!(
                "barkeep-checkout-{}-{}",
                r.account,
                uuid::Uuid::new_v4().simple()
            ))?)
            .send(&self.client)
            .await
            .context("creating the Checkout Session")?;
        session
            .url
            .context("Stripe returned a Checkout Session without a URL")
    }

    /// Creates a customer-portal session and returns its URL.
    pub async fn portal(&self, customer: &str, return_url: String) -> anyhow::Result<String> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .customize()
            .request_strategy(key(format!(
                "barkeep-portal-{customer}-{}",
                uuid::Uuid::new_v4().simple()
            ))?)
            .send(&self.client)
            .await
            .context("creating the customer-portal session")?;
        Ok(session.url)
    }

    /// The subscription as Stripe has it now; with `card`, its default card too.
    pub async fn subscription(&self, id: &str, card: bool) -> anyhow::Result<SubscriptionState> {
        let mut request = RetrieveSubscription::new(id);
        if card {
            request = request.expand(vec!["default_payment_method".to_string()]);
        }
        let s = request
            .send(&self.client)
            .await
            .with_context(|| format!("reading subscription {id} from Stripe"))?;
        let item = s.items.data.first();
        Ok(SubscriptionState {
            id: s.id.as_str().to_string(),
            customer: s.customer.id().as_str().to_string(),
            status: status(&s.status)?,
            price_id: item.map(|i| i.price.id.as_str().to_string()),
            current_period_end: item.map(|i| timestamp(i.current_period_end)),
            cancel_at_period_end: s.cancel_at_period_end,
            trial_end: s.trial_end.map(timestamp),
            cancellation_reason: s
                .cancellation_details
                .as_ref()
                .and_then(|d| d.reason.as_ref())
                .and_then(cancellation_reason),
            created: timestamp(s.created),
            metadata_account: metadata_account(&s.metadata).map(AccountId),
            metadata_plan: s.metadata.get("barkeep_plan").cloned(),
            card: s
                .default_payment_method
                .as_ref()
                .and_then(|pm| pm.as_object())
                .and_then(|pm| {
                    pm.card.as_ref().map(|c| Card {
                        id: pm.id.as_str().to_string(),
                        brand: c.brand.clone(),
                        last4: c.last4.clone(),
                        exp_month: c.exp_month,
                        exp_year: c.exp_year,
                    })
                }),
        })
    }

    /// Cancels a subscription at once (an account being erased).
    pub async fn cancel(&self, id: &str) -> anyhow::Result<()> {
        CancelSubscription::new(id)
            .send(&self.client)
            .await
            .with_context(|| format!("canceling subscription {id}"))?;
        Ok(())
    }
}

/// The metadata key barkeep writes the account's id under, on customers and checkouts.
pub(super) const ACCOUNT_KEY: &str = "barkeep_account_id";

/// The account barkeep wrote into Stripe metadata. Before accounts were shared the key
/// was `barkeep_member_id`, whose ids are the accounts' ids since.
pub(super) fn metadata_account(metadata: &HashMap<String, String>) -> Option<i64> {
    metadata
        .get(ACCOUNT_KEY)
        .or_else(|| metadata.get("barkeep_member_id"))
        .and_then(|v| v.parse().ok())
}
