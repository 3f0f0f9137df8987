//! Applying a subscription as read from Stripe: its row is replaced only by a read that
//! began later, the member's plan is decided again from all their subscriptions, and
//! what changed (the plan, a payment falling behind, a cancellation for non-payment) is
//! acted on and emailed, all in the caller's transaction.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::Billing;
use super::stripe::SubscriptionState;
use crate::db::accounts::{lock_member, member_by_id};
use crate::db::billing as q;
use crate::db::catalog::bump_scripts_of_member;
use crate::db::entities::subscription::{self, CancellationReason, SubscriptionStatus};
use crate::domain::MemberId;
use crate::mail::{
    BillingCanceled, BillingDelinquent, BillingPlanChanged, EmailTemplate, Recipient,
};
use crate::plans::{FREE, Interval, Plans};

/// The subscription that decides the member's plan: the biggest plan among those that
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
    /// Queues a billing email to the member, once per `key`. Billing email is
    /// transactional: no preference stops it.
    pub(super) async fn email<T: EmailTemplate>(
        &self,
        conn: &impl ConnectionTrait,
        member: MemberId,
        key: &str,
        email: &T,
    ) -> anyhow::Result<()> {
        let Some(m) = member_by_id(conn, member).await? else {
            return Ok(());
        };
        self.mailer
            .enqueue(
                conn,
                Recipient {
                    address: &m.email,
                    member_id: Some(member),
                },
                key,
                email,
            )
            .await
    }

    /// The member a subscription belongs to: through barkeep's record of the customer,
    /// or the member id barkeep wrote into its metadata at checkout.
    async fn owner(
        &self,
        conn: &impl ConnectionTrait,
        state: &SubscriptionState,
    ) -> anyhow::Result<Option<MemberId>> {
        if let Some(m) = q::member_of_customer(conn, &state.customer).await? {
            return Ok(Some(m));
        }
        let Some(m) = state.metadata_member else {
            return Ok(None);
        };
        if member_by_id(conn, m).await?.is_none() {
            return Ok(None);
        }
        q::insert_customer(conn, m, &state.customer, self.clock.now()).await?;
        Ok(Some(m))
    }

    /// Applies `state`, read from Stripe starting at `read_at`, because of event `cause`.
    /// Returns the member it belongs to (`None`: not a barkeep customer).
    pub(super) async fn apply_subscription(
        &self,
        conn: &impl ConnectionTrait,
        state: &SubscriptionState,
        read_at: DateTime<Utc>,
        cause: &str,
    ) -> anyhow::Result<Option<MemberId>> {
        let Some(member) = self.owner(conn, state).await? else {
            tracing::info!(subscription = %state.id, customer = %state.customer, "a subscription of a customer barkeep does not know; ignored");
            return Ok(None);
        };
        // One member's billing is changed by one transaction at a time.
        lock_member(conn, member).await?;
        let existing = q::subscription(conn, &state.id).await?;
        if existing.as_ref().is_some_and(|e| e.read_at > read_at) {
            tracing::debug!(subscription = %state.id, "a later read is applied already");
            return Ok(Some(member));
        }
        let now = self.clock.now();
        let priced = self.priced(state);
        save(conn, member, state, &priced, read_at, now).await?;
        if existing.map(|e| e.status) != Some(state.status) {
            self.email_status(conn, member, state, priced.plan.as_deref(), cause)
                .await?;
        }
        self.decide_plan(conn, member, cause, now).await?;
        Ok(Some(member))
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

    /// Emails what a new status asks of the member: a payment fallen behind, or a
    /// cancellation for non-payment.
    async fn email_status(
        &self,
        conn: &impl ConnectionTrait,
        member: MemberId,
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
                    member,
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
                    member,
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

    /// Decides the member's plan again from all their subscriptions, and changes it if it
    /// differs from the one applied.
    async fn decide_plan(
        &self,
        conn: &impl ConnectionTrait,
        member: MemberId,
        cause: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let subs = q::subscriptions_of(conn, member).await?;
        let new_plan = governing(&self.plans, &subs)
            .and_then(|s| s.plan_id.clone())
            .unwrap_or_else(|| FREE.to_string());
        let old_plan = q::account(conn, member)
            .await?
            .map(|a| a.plan_id)
            .unwrap_or_else(|| FREE.to_string());
        if new_plan == old_plan {
            return Ok(());
        }
        self.change_plan(conn, member, &old_plan, &new_plan, cause, now)
            .await
    }

    /// Puts the member on `new_plan`: what the plan has no room for is paused, every
    /// script is built again, and the member is emailed.
    async fn change_plan(
        &self,
        conn: &impl ConnectionTrait,
        member: MemberId,
        old_plan: &str,
        new_plan: &str,
        cause: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        q::set_plan(conn, member, new_plan, now).await?;
        let new = self.plan_named(Some(new_plan));
        let paused = crate::catalog::limits::pause_excess(conn, member, &new.limits, now).await?;
        // Branding and the monthly views may differ: every script is built again.
        bump_scripts_of_member(conn, member, now).await?;
        tracing::info!(member_id = %member, from = %old_plan, to = %new_plan, paused = paused.len(), "plan changed");
        self.email(
            conn,
            member,
            &format!("billing_plan_changed:{member}:{cause}"),
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
    member: MemberId,
    state: &SubscriptionState,
    priced: &Priced,
    read_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    q::save_subscription(
        conn,
        subscription::Model {
            id: state.id.clone(),
            member_id: member,
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
