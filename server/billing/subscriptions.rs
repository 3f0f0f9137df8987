//! Applying a subscription as read from Stripe: its row is replaced only by a read that
//! began later, the account's plan is decided again from all their subscriptions, and
//! what changed (the plan, a payment falling behind, a cancellation for non-payment) is
//! acted on and emailed, all in the caller's transaction.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::Billing;
use super::stripe::SubscriptionState;
use crate::db::billing as q;
use crate::db::catalog::bump_scripts_of_account;
use crate::db::entities::subscription::{self, CancellationReason, SubscriptionStatus};
use crate::db::teams::{account_by_id, lock_account, owners_of};
use crate::domain::AccountId;
use crate::mail::{
    BillingCanceled, BillingDelinquent, BillingPlanChanged, EmailTemplate, Recipient,
};
use crate::plans::{FREE, Interval, Plans};

/// The subscription that decides the account's plan: the biggest plan among those that
/// entitle, the newest if two are alike.
pub(super) fn governing<'a>(
    plans: &Plans,
    subs: &'a [subscription::Model],
) -> Option<&'a subscription::Model> {
    subs.iter()
        .filter(|s| s.status.entitles())
        .filter(|s| s.plan_id.as_deref().is_some_and(|p| plans.get(p).is_some()))
        .max_by_key(|s| {
            (
                plans.rank(s.plan_id.as_deref().unwrap_or(FREE)),
                s.stripe_created_at,
            )
        })
}

/// The plan and interval a subscription's price stands for.
struct Priced {
    /// `None`: a price no plan names, and no plan named at checkout either.
    plan: Option<String>,
    /// `None`: a price no plan names.
    interval: Option<Interval>,
}

impl Billing {
    /// Queues a billing email to each owner of the account, once per `key` and owner.
    /// Billing email is transactional: no preference stops it.
    pub(super) async fn email<T: EmailTemplate>(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        key: &str,
        email: &T,
    ) -> anyhow::Result<()> {
        for owner in owners_of(conn, account).await? {
            self.mailer
                .enqueue(
                    conn,
                    Recipient {
                        address: &owner.email,
                        member_id: Some(owner.id),
                    },
                    &format!("{key}:to:{}", owner.id),
                    email,
                )
                .await?;
        }
        Ok(())
    }

    /// The account a subscription belongs to: through barkeep's record of the customer,
    /// or the account id barkeep wrote into its metadata at checkout.
    async fn owner(
        &self,
        conn: &impl ConnectionTrait,
        state: &SubscriptionState,
    ) -> anyhow::Result<Option<AccountId>> {
        if let Some(m) = q::account_of_customer(conn, &state.customer).await? {
            return Ok(Some(m));
        }
        let Some(m) = state.metadata_account else {
            return Ok(None);
        };
        if account_by_id(conn, m).await?.is_none() {
            return Ok(None);
        }
        q::insert_customer(conn, m, &state.customer, self.clock.now()).await?;
        Ok(Some(m))
    }

    /// Applies `state`, read from Stripe starting at `read_at`, because of event `cause`.
    /// Returns the account it belongs to (`None`: not a barkeep customer).
    pub(super) async fn apply_subscription(
        &self,
        conn: &impl ConnectionTrait,
        state: &SubscriptionState,
        read_at: DateTime<Utc>,
        cause: &str,
    ) -> anyhow::Result<Option<AccountId>> {
        let Some(account) = self.owner(conn, state).await? else {
            tracing::info!(subscription = %state.id, customer = %state.customer, "a subscription of a customer barkeep does not know; ignored");
            return Ok(None);
        };
        // One account's billing is changed by one transaction at a time.
        lock_account(conn, account).await?;
        let existing = q::subscription(conn, &state.id).await?;
        if existing.as_ref().is_some_and(|e| e.read_at > read_at) {
            tracing::debug!(subscription = %state.id, "a later read is applied already");
            return Ok(Some(account));
        }
        let now = self.clock.now();
        let priced = self.priced(state);
        save(conn, account, state, &priced, read_at, now).await?;
        if existing.map(|e| e.status) != Some(state.status) {
            self.email_status(conn, account, state, priced.plan.as_deref(), cause)
                .await?;
        }
        self.decide_plan(conn, account, cause, now).await?;
        Ok(Some(account))
    }

    /// The plan of the subscription's price; for a price no plan names, the plan barkeep
    /// wrote into its metadata at checkout, if that plan still exists.
    fn priced(&self, state: &SubscriptionState) -> Priced {
        let by_price = state
            .price_id
            .as_deref()
            .and_then(|p| self.plans.by_price(p));
        if let Some((plan, interval)) = by_price {
            return Priced {
                plan: Some(plan.id.clone()),
                interval: Some(interval),
            };
        }
        let fallback = state
            .metadata_plan
            .clone()
            .filter(|p| self.plans.get(p).is_some());
        tracing::error!(
            subscription = %state.id,
            price = ?state.price_id,
            fallback = ?fallback,
            "the subscription's price belongs to no configured plan; using the plan named at checkout"
        );
        Priced {
            plan: fallback,
            interval: None,
        }
    }

    /// Emails what a new status asks of the account: a payment fallen behind, or a
    /// cancellation for non-payment.
    async fn email_status(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        state: &SubscriptionState,
        plan: Option<&str>,
        cause: &str,
    ) -> anyhow::Result<()> {
        let plan_name = self.plan_named(plan).name;
        let billing_url = self.billing_url();
        match state.status {
            SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
                let status = state.status.as_str();
                self.email(
                    conn,
                    account,
                    &format!("billing_delinquent:{}:{status}:{cause}", state.id),
                    &BillingDelinquent {
                        plan_name,
                        status: status.to_string(),
                        billing_url,
                    },
                )
                .await
            }
            SubscriptionStatus::Canceled
                if state.cancellation_reason == Some(CancellationReason::PaymentFailed) =>
            {
                self.email(
                    conn,
                    account,
                    &format!("billing_canceled:{}", state.id),
                    &BillingCanceled {
                        plan_name,
                        billing_url,
                    },
                )
                .await
            }
            SubscriptionStatus::Incomplete
            | SubscriptionStatus::IncompleteExpired
            | SubscriptionStatus::Trialing
            | SubscriptionStatus::Active
            | SubscriptionStatus::Canceled
            | SubscriptionStatus::Paused => Ok(()),
        }
    }

    /// Decides the account's plan again from all their subscriptions, and changes it if it
    /// differs from the one applied.
    async fn decide_plan(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        cause: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let subs = q::subscriptions_of(conn, account).await?;
        let new_plan = governing(&self.plans, &subs)
            .and_then(|s| s.plan_id.clone())
            .unwrap_or_else(|| FREE.to_string());
        let old_plan = q::billing_account(conn, account)
            .await?
            .map(|a| a.plan_id)
            .unwrap_or_else(|| FREE.to_string());
        if new_plan == old_plan {
            return Ok(());
        }
        self.change_plan(conn, account, &old_plan, &new_plan, cause, now)
            .await
    }

    /// Puts the account on `new_plan`: what the plan has no room for is paused, every
    /// script is built again, and the account is emailed.
    async fn change_plan(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        old_plan: &str,
        new_plan: &str,
        cause: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        q::set_plan(conn, account, new_plan, now).await?;
        let new = self.plan_named(Some(new_plan));
        let paused = crate::catalog::limits::pause_excess(conn, account, &new.limits, now).await?;
        // Branding and the monthly views may differ: every script is built again.
        bump_scripts_of_account(conn, account, now).await?;
        tracing::info!(account_id = %account, from = %old_plan, to = %new_plan, paused = paused.len(), "plan changed");
        let change = crate::teams::Change {
            account,
            by: None,
            action: "billing.plan_changed",
            subject: format!("{old_plan} to {new_plan}"),
            ip: None,
        };
        crate::teams::record(conn, change, now).await?;
        self.email(
            conn,
            account,
            &format!("billing_plan_changed:{account}:{cause}"),
            &BillingPlanChanged {
                old_plan: self.plan_named(Some(old_plan)).name,
                new_plan: new.name,
                paused,
                billing_url: self.billing_url(),
            },
        )
        .await
    }
}

/// Writes the subscription's row as read.
async fn save(
    conn: &impl ConnectionTrait,
    account: AccountId,
    state: &SubscriptionState,
    priced: &Priced,
    read_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    q::save_subscription(
        conn,
        subscription::Model {
            id: state.id.clone(),
            account_id: account,
            stripe_customer_id: state.customer.clone(),
            plan_id: priced.plan.clone(),
            price_id: state.price_id.clone(),
            interval: priced.interval,
            status: state.status,
            current_period_end: state.current_period_end,
            cancel_at_period_end: state.cancel_at_period_end,
            trial_end: state.trial_end,
            cancellation_reason: state.cancellation_reason,
            stripe_created_at: state.created,
            read_at,
            updated_at: now,
        },
    )
    .await?;
    Ok(())
}
