//! Billing through Stripe: which plan each account is on, Checkout and the customer
//! portal, the webhook events that keep the plan in step with the subscription, billing
//! email, and the monthly views each plan allows. With no Stripe key, billing is off:
//! every account is on the self-hosted plan, which has no limits.
//!
//! Stripe is the source of truth for a subscription. Whatever event arrives, barkeep
//! reads the subscription from Stripe's API and applies it, unless a later read has been
//! applied already; so the order and number of deliveries never matter.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use futures_util::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::billing as q;
use crate::db::entities::member;
use crate::db::entities::subscription::{self, SubscriptionStatus};
use crate::domain::{AccountId, Secret};
use crate::error::{Error, Result};
use crate::mail::{AddressKey, Mailer};
use crate::plans::{Interval, Limits, Overage, Plan, Plans};
use crate::scripts::{Policy, SitePolicy};

mod events;
mod notices;
pub mod stripe;
mod subscriptions;
mod usage;
mod webhook;

pub use events::Received;
pub use usage::PlanUsage;
pub use webhook::EVENTS;

use self::stripe::{CheckoutRequest, StripeApi};

/// How barkeep reaches Stripe and checks what Stripe sends.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: Secret<String>,
    /// One webhook signing secret, or two while they are rotated.
    pub webhook_secrets: Vec<Secret<String>>,
    /// Another base URL for the Stripe API (a mock); `None` for Stripe's own.
    pub api_url: Option<String>,
}

struct Stripe {
    api: StripeApi,
    webhook_secrets: Vec<Secret<String>>,
}

#[derive(Clone)]
pub struct Billing {
    db: Db,
    clock: Clock,
    mailer: Mailer,
    plans: Arc<Plans>,
    stripe: Option<Arc<Stripe>>,
    base_url: String,
    /// The key of erased customers' hashes ([`erased_customer_key`]).
    erased_key: Arc<str>,
}

/// The answer of every billing endpoint while billing is off.
pub fn billing_off() -> Error {
    Error::Disabled {
        code: "billing_off",
        message: "billing is switched off on this server: every account is on the self-hosted \
                  plan, without limits"
            .into(),
    }
}

impl Billing {
    pub fn new(
        db: Db,
        clock: Clock,
        mailer: Mailer,
        plans: Plans,
        stripe: Option<&StripeConfig>,
        base_url: &str,
    ) -> anyhow::Result<Billing> {
        let stripe = stripe
            .map(|config| {
                anyhow::Ok(Arc::new(Stripe {
                    api: StripeApi::new(config)?,
                    webhook_secrets: config.webhook_secrets.clone(),
                }))
            })
            .transpose()?;
        if stripe.is_some() {
            for plan in plans.all().iter().skip(1) {
                if plan.prices.is_empty() {
                    tracing::warn!(
                        plan = %plan.id,
                        "billing is on but this plan has no Stripe price, so it cannot be bought; set {} or a price in the plans file",
                        crate::plans::price_var(&plan.id, Interval::Month)
                    );
                }
            }
        }
        let erased_key = erased_customer_key(mailer.links().address_key()).into();
        Ok(Billing {
            db,
            clock,
            mailer,
            plans: Arc::new(plans),
            stripe,
            base_url: base_url.to_string(),
            erased_key,
        })
    }

    /// What erasure records for `customer`, an erased account's Stripe customer.
    pub fn erased_customer_hash(&self, customer: &str) -> String {
        erased_customer_hash(&self.erased_key, customer)
    }

    /// The hashes `customer` may be remembered by, if an erased account's: keyed, or
    /// unkeyed by an erasure from before the hashes were keyed.
    fn erased_customer_hashes(&self, customer: &str) -> Vec<String> {
        vec![
            self.erased_customer_hash(customer),
            unkeyed_erased_customer_hash(customer),
        ]
    }

    pub fn enabled(&self) -> bool {
        self.stripe.is_some()
    }

    fn stripe(&self) -> Result<&Stripe> {
        self.stripe.as_deref().ok_or_else(billing_off)
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// Where accounts manage billing: the page with the plan, the usage and the portal.
    fn billing_url(&self) -> String {
        format!("{}/billing", self.base_url)
    }

    /// The plan barkeep applies to the account now.
    pub async fn plan_of(&self, account: AccountId) -> Result<Plan> {
        if !self.enabled() {
            return Ok(Plan::self_hosted());
        }
        let billing = q::billing_account(&self.db, account).await?;
        Ok(self.plan_named(billing.as_ref().map(|a| a.plan_id.as_str())))
    }

    /// A plan by id; an unknown or missing id (a plan removed from the configuration) is
    /// Free.
    fn plan_named(&self, id: Option<&str>) -> Plan {
        id.and_then(|id| self.plans.get(id))
            .unwrap_or_else(|| self.plans.free())
            .clone()
    }

    pub async fn limits_of(&self, account: AccountId) -> Result<Limits> {
        Ok(self.plan_of(account).await?.limits)
    }

    /// A Checkout Session for `plan` at `interval`; the account's Stripe customer is made
    /// the first time (with the address of `payer`, the owner who asked) and reused
    /// after.
    pub async fn checkout(
        &self,
        account: AccountId,
        payer: &member::Model,
        plan: &str,
        interval: Interval,
    ) -> Result<String> {
        let stripe = self.stripe()?;
        let chosen = self
            .plans
            .get(plan)
            .ok_or_else(|| Error::invalid("plan", format!("there is no plan `{plan}`")))?;
        let price = chosen.prices.get(&interval).ok_or_else(|| {
            Error::invalid(
                "interval",
                format!(
                    "the {} plan cannot be bought by the {}",
                    chosen.name,
                    interval.as_str()
                ),
            )
        })?;
        let customer = self.customer_for(stripe, account, &payer.email).await?;
        let url = stripe
            .api
            .checkout(CheckoutRequest {
                customer: &customer,
                account,
                plan: &chosen.id,
                price,
                success_url: format!("{}?checkout=success", self.billing_url()),
                cancel_url: format!("{}?checkout=canceled", self.billing_url()),
            })
            .await
            .map_err(unavailable)?;
        tracing::info!(account_id = %account, plan = %chosen.id, "checkout session created");
        Ok(url)
    }

    async fn customer_for(
        &self,
        stripe: &Stripe,
        account: AccountId,
        email: &str,
    ) -> Result<String> {
        if let Some(id) = q::customer_of(&self.db, account).await? {
            return Ok(id);
        }
        let created = stripe
            .api
            .create_customer(account, email)
            .await
            .map_err(unavailable)?;
        q::insert_customer(&self.db, account, &created, self.clock.now()).await?;
        // Whoever recorded one first wins; Stripe's idempotency makes them the same.
        Ok(q::customer_of(&self.db, account).await?.unwrap_or(created))
    }

    /// The customer-portal URL, where the account changes card, plan or cancels.
    pub async fn portal(&self, account: AccountId) -> Result<String> {
        let stripe = self.stripe()?;
        let customer = q::customer_of(&self.db, account).await?.ok_or_else(|| {
            Error::conflict(
                "no_billing_account",
                "there is no billing account yet: choose a plan first",
            )
        })?;
        stripe
            .api
            .portal(&customer, self.billing_url())
            .await
            .map_err(unavailable)
    }

    /// Cancels every subscription of the account at Stripe at once (an account being
    /// erased). Nothing to do with billing off.
    pub async fn cancel_all(&self, account: AccountId) -> Result<()> {
        let Some(stripe) = self.stripe.as_deref() else {
            return Ok(());
        };
        for s in q::subscriptions_of(&self.db, account).await? {
            if !s.status.has_ended() {
                stripe.api.cancel(&s.id).await.map_err(unavailable)?;
            }
        }
        Ok(())
    }

    /// Each account's plan, subscription status and the month their views last passed
    /// the plan's limit, for operators.
    pub async fn states(&self, accounts: &[AccountId]) -> Result<HashMap<AccountId, AccountState>> {
        if !self.enabled() {
            return Ok(accounts
                .iter()
                .map(|m| {
                    (
                        *m,
                        AccountState {
                            plan: crate::plans::SELF_HOSTED.into(),
                            status: BillingStatus::SelfHosted,
                            over_views_month: None,
                        },
                    )
                })
                .collect());
        }
        let plans: HashMap<AccountId, _> = q::accounts_of(&self.db, accounts)
            .await?
            .into_iter()
            .map(|a| (a.account_id, a))
            .collect();
        let mut subs: HashMap<AccountId, Vec<_>> = HashMap::new();
        for s in q::subscriptions_of_accounts(&self.db, accounts).await? {
            subs.entry(s.account_id).or_default().push(s);
        }
        Ok(accounts
            .iter()
            .map(|m| {
                let account = plans.get(m);
                let mine = subs.get(m).map(Vec::as_slice).unwrap_or_default();
                let status = subscriptions::governing(&self.plans, mine)
                    .or_else(|| mine.first())
                    .map_or(BillingStatus::Free, |s| {
                        BillingStatus::Subscription(s.status)
                    });
                (
                    *m,
                    AccountState {
                        plan: self.plan_named(account.map(|a| a.plan_id.as_str())).id,
                        status,
                        over_views_month: account.and_then(|a| a.over_views_month.clone()),
                    },
                )
            })
            .collect())
    }

    /// The plan, the subscription's state, the limits and this month's usage.
    pub async fn summary(&self, account: AccountId) -> Result<Summary> {
        self.stripe()?;
        let now = self.clock.now();
        let plan = self.plan_of(account).await?;
        let subs = q::subscriptions_of(&self.db, account).await?;
        let governing = subscriptions::governing(&self.plans, &subs);
        let usage = usage::usage_of(&self.db, account, &plan.limits, now).await?;
        let billing = q::billing_account(&self.db, account).await?;
        let month = usage::month_key(now);
        let over = billing.and_then(|a| a.over_views_month).as_deref() == Some(month.as_str());
        let serving_paused = over && plan.overage == Overage::Block;
        let paused_by_plan = crate::catalog::limits::excess(&self.db, account, &plan.limits)
            .await?
            .into_iter()
            .map(|e| PausedBar {
                bar_id: e.bar.0,
                reason: e.reason,
            })
            .collect();
        Ok(Summary {
            plan: plan.id.clone(),
            plan_name: plan.name.clone(),
            status: members_status(governing, &subs),
            interval: governing.and_then(|s| s.interval),
            current_period_end: governing.and_then(|s| s.current_period_end),
            cancel_at_period_end: governing.is_some_and(|s| s.cancel_at_period_end),
            limits: plan.limits.clone(),
            overage: plan.overage,
            usage,
            over_views_limit: over,
            serving_paused,
            at_limit: at_limit(&plan),
            paused_by_plan,
            plans: self.plans.all().iter().map(PlanView::of).collect(),
        })
    }
}

/// The status an account reads: their governing subscription's, else that of their newest
/// one if it is worth telling, else free.
fn members_status(
    governing: Option<&subscription::Model>,
    subs: &[subscription::Model],
) -> BillingStatus {
    governing
        .or_else(|| {
            subs.first()
                .filter(|s| worth_telling_without_a_plan(s.status))
        })
        .map_or(BillingStatus::Free, |s| {
            BillingStatus::Subscription(s.status)
        })
}

/// What happens at the plan's monthly view limit, in words.
fn at_limit(plan: &Plan) -> String {
    match (plan.limits.monthly_views, plan.overage) {
        (None, _) => "this plan has no monthly view limit".to_string(),
        (Some(l), Overage::Block) => format!(
            "past {} views in a calendar month (UTC) your bars stop showing until the 1st of the next month or an upgrade; you are emailed at 80 % and 100 %",
            thousands(l)
        ),
        (Some(l), Overage::Serve) => format!(
            "past {} views in a calendar month (UTC) your bars keep showing and the operator is told; nothing is billed for it; you are emailed at 80 % and 100 %",
            thousands(l)
        ),
    }
}

/// A status that keeps no plan but is worth telling the account: a payment that never went
/// through, or a trial that ended without a card.
fn worth_telling_without_a_plan(status: SubscriptionStatus) -> bool {
    match status {
        SubscriptionStatus::Unpaid
        | SubscriptionStatus::Incomplete
        | SubscriptionStatus::Paused => true,
        SubscriptionStatus::IncompleteExpired
        | SubscriptionStatus::Trialing
        | SubscriptionStatus::Active
        | SubscriptionStatus::PastDue
        | SubscriptionStatus::Canceled => false,
    }
}

fn unavailable(err: anyhow::Error) -> Error {
    tracing::error!(error = format!("{err:#}"), "a call to Stripe failed");
    Error::Unavailable
}

/// What the key of erased customers' hashes is derived with (see [`erased_customer_key`]).
/// It holds no `@`, so it is never the address of an account or of an email barkeep sent.
const ERASED_CUSTOMERS: &str = "barkeep erased stripe customers v1";

/// The key Stripe customers of erased accounts are hashed with, derived from the
/// server's secret: a subkey of the suppression key (itself an HMAC of the secret, see
/// `crate::mail::suppressions`) for [`ERASED_CUSTOMERS`], made so that no suppression hash
/// equals it whatever a bounce report names. Every process that shares the secret
/// derives the same key.
fn erased_customer_key(addresses: &AddressKey) -> String {
    addresses.subkey(ERASED_CUSTOMERS)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the Stripe customer of an erased account is remembered: an HMAC-SHA256 of its id
/// under `key` ([`erased_customer_key`]), enough to recognise an event that names it
/// later and keep nothing of that event, and useless to whoever reads the table without
/// the server's secret, even with a list of customer ids to try.
fn erased_customer_hash(key: &str, customer: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(customer.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// How erasures before the hashes were keyed remembered a customer: a plain SHA-256.
/// Only looked up, never written.
fn unkeyed_erased_customer_hash(customer: &str) -> String {
    hex(&Sha256::digest(
        format!("barkeep erased Stripe customer {customer}").as_bytes(),
    ))
}

/// `5000` as `5,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3 December 2026`
pub fn day(t: DateTime<Utc>) -> String {
    format!("{} {}", t.day(), t.format("%B %Y"))
}

/// Scripts of accounts over their views serve nothing; plans without removable
/// branding show the powered-by line.
impl Policy for Billing {
    fn for_account(&self, account: AccountId) -> BoxFuture<'_, anyhow::Result<SitePolicy>> {
        Box::pin(async move {
            if !self.enabled() {
                return Ok(SitePolicy::default());
            }
            let billing = q::billing_account(&self.db, account).await?;
            let plan = self.plan_named(billing.as_ref().map(|a| a.plan_id.as_str()));
            let month = usage::month_key(self.clock.now());
            let over = billing.and_then(|a| a.over_views_month).as_deref() == Some(month.as_str());
            Ok(SitePolicy {
                branding_required: !plan.limits.branding_removable,
                paused: (over && plan.overage == Overage::Block).then(|| {
                    format!(
                        "this account's {} plan has used its monthly views; bars show again next month or after an upgrade",
                        plan.name
                    )
                }),
            })
        })
    }
}

/// Where an account's billing stands, written as Stripe writes a subscription's status
/// (`active`, `past_due`, …), `free` or `self_hosted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingStatus {
    /// No subscription worth telling: the free plan.
    Free,
    /// Billing is off: every account is on the self-hosted plan.
    SelfHosted,
    /// The status of the subscription that decides the plan, or of the newest one.
    #[serde(untagged)]
    Subscription(SubscriptionStatus),
}

/// An account's billing as operators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountState {
    pub plan: String,
    /// The subscription's status with Stripe, `free`, or `self_hosted` with billing off.
    #[schema(value_type = String)]
    pub status: BillingStatus,
    /// The month (`2026-12`) in which the account's views last passed its plan's limit.
    pub over_views_month: Option<String>,
}

/// `GET /api/v1/billing`
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    /// The plan's id: `free`, `pro`, `business`, … (`self_hosted` never shows here:
    /// with billing off this answers 404).
    pub plan: String,
    pub plan_name: String,
    /// Stripe's subscription status (`active`, `trialing`, `past_due`, …), or `free`.
    #[schema(value_type = String)]
    pub status: BillingStatus,
    #[schema(value_type = Option<String>)]
    pub interval: Option<Interval>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub limits: Limits,
    pub overage: Overage,
    pub usage: PlanUsage,
    /// This month's views passed the plan's limit.
    pub over_views_limit: bool,
    /// …and the plan stops bars there: the scripts serve none until next month.
    pub serving_paused: bool,
    /// What happens at the monthly view limit, in words.
    pub at_limit: String,
    /// Bars the plan has no room for (paused if they were live), and why.
    pub paused_by_plan: Vec<PausedBar>,
    /// Every plan on offer, with the intervals it can be bought by.
    pub plans: Vec<PlanView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PausedBar {
    pub bar_id: i64,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub id: String,
    pub name: String,
    pub intervals: Vec<Interval>,
    pub limits: Limits,
    pub overage: Overage,
}

impl PlanView {
    fn of(plan: &Plan) -> PlanView {
        PlanView {
            id: plan.id.clone(),
            name: plan.name.clone(),
            intervals: plan.prices.keys().copied().collect(),
            limits: plan.limits.clone(),
            overage: plan.overage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_billing_status_reads_as_stripe_writes_a_subscription_status() {
        for (status, text) in [
            (BillingStatus::Free, "free"),
            (BillingStatus::SelfHosted, "self_hosted"),
            (
                BillingStatus::Subscription(SubscriptionStatus::PastDue),
                "past_due",
            ),
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), text);
        }
    }

    #[test]
    fn numbers_and_days_read_as_people_write_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(5000), "5,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            day("2026-12-03T10:00:00Z".parse().unwrap()),
            "3 December 2026"
        );
    }

    #[test]
    fn an_erased_customer_is_remembered_by_a_keyed_hash_that_does_not_hold_its_id() {
        let key = erased_customer_key(&AddressKey::derive(b"a secret of the server, long enough"));
        let hash = erased_customer_hash(&key, "cus_NffrFeUfNV2Hib");
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("NffrFeUfNV2Hib"));
        assert_eq!(hash, erased_customer_hash(&key, "cus_NffrFeUfNV2Hib"));
        // Stripe's ids are case-sensitive, and so is the hash.
        assert_ne!(hash, erased_customer_hash(&key, "cus_NffrFeUfNV2Hic"));
        assert_ne!(hash, erased_customer_hash(&key, "cus_nffrfeufnv2hib"));
        // Without the server's secret, the hash cannot be made from the id.
        let other = erased_customer_key(&AddressKey::derive(b"another secret of another server"));
        assert_ne!(hash, erased_customer_hash(&other, "cus_NffrFeUfNV2Hib"));
        assert_ne!(hash, unkeyed_erased_customer_hash("cus_NffrFeUfNV2Hib"));
        // No bounce report can make the key a stored suppression: it is not the
        // suppression hash of its own label (nor, by construction, of any other text).
        let addresses = AddressKey::derive(b"a secret of the server, long enough");
        assert_ne!(
            erased_customer_key(&addresses),
            addresses.hash(ERASED_CUSTOMERS)
        );
    }
}
