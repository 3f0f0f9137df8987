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
use crate::db::entities::subscription;
use crate::domain::MemberId;
use crate::mail::{
    BillingCanceled, BillingDelinquent, BillingPlanChanged, EmailTemplate, Recipient,
};
use crate::plans::{FREE, Plans};

/// Statuses that keep the subscription's plan: `past_due` is the grace while Stripe
/// retries a payment.
const ENTITLING: [&str; 3] = ["active", "trialing", "past_due"];

/// The subscription that decides the member's plan: the biggest plan among those that
/// entitle, the newest if two are alike.
pub(super) fn governing<'a>(
    plans: &Plans,
    subs: &'a [subscription::Model],
) -> Option<&'a subscription::Model> {
    subs.iter()
        .filter(|s| ENTITLING.contains(&s.status.as_str()))
        .filter(|s| s.plan_id.as_deref().is_some_and(|p| plans.get(p).is_some()))
        .max_by_key(|s| {
            (
                plans.rank(s.plan_id.as_deref().unwrap_or(FREE)),
                s.stripe_created_at,
            )
        })
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
        let (plan_id, interval) = match state
            .price_id
            .as_deref()
            .and_then(|p| self.plans.by_price(p))
        {
            Some((plan, interval)) => (Some(plan.id.clone()), Some(interval.as_str().to_string())),
            None => {
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
                (fallback, None)
            }
        };
        q::save_subscription(
            conn,
            subscription::Model {
                id: state.id.clone(),
                member_id: member,
                stripe_customer_id: state.customer.clone(),
                plan_id: plan_id.clone(),
                price_id: state.price_id.clone(),
                interval,
                status: state.status.clone(),
                current_period_end: state.current_period_end,
                cancel_at_period_end: state.cancel_at_period_end,
                trial_end: state.trial_end,
                cancellation_reason: state.cancellation_reason.clone(),
                stripe_created_at: state.created,
                read_at,
                updated_at: now,
            },
        )
        .await?;

        let plan_name = self.plan_named(plan_id.as_deref()).name;
        let old_status = existing.as_ref().map(|e| e.status.as_str());
        let billing_url = self.billing_url();
        if old_status != Some(state.status.as_str()) {
            match state.status.as_str() {
                "past_due" | "unpaid" => {
                    self.email(
                        conn,
                        member,
                        &format!("billing_delinquent:{}:{}:{cause}", state.id, state.status),
                        &BillingDelinquent {
                            plan_name: plan_name.clone(),
                            status: state.status.clone(),
                            billing_url: billing_url.clone(),
                        },
                    )
                    .await?;
                }
                "canceled" if state.cancellation_reason.as_deref() == Some("payment_failed") => {
                    self.email(
                        conn,
                        member,
                        &format!("billing_canceled:{}", state.id),
                        &BillingCanceled {
                            plan_name: plan_name.clone(),
                            billing_url: billing_url.clone(),
                        },
                    )
                    .await?;
                }
                _ => {}
            }
        }

        let subs = q::subscriptions_of(conn, member).await?;
        let new_plan = governing(&self.plans, &subs)
            .and_then(|s| s.plan_id.clone())
            .unwrap_or_else(|| FREE.to_string());
        let old_plan = q::account(conn, member)
            .await?
            .map(|a| a.plan_id)
            .unwrap_or_else(|| FREE.to_string());
        if new_plan != old_plan {
            q::set_plan(conn, member, &new_plan, now).await?;
            let new = self.plan_named(Some(&new_plan));
            let paused =
                crate::catalog::limits::pause_excess(conn, member, &new.limits, now).await?;
            // Branding and the monthly views may differ: every script is built again.
            bump_scripts_of_member(conn, member, now).await?;
            tracing::info!(member_id = %member, from = %old_plan, to = %new_plan, paused = paused.len(), "plan changed");
            self.email(
                conn,
                member,
                &format!("billing_plan_changed:{member}:{cause}"),
                &BillingPlanChanged {
                    old_plan: self.plan_named(Some(&old_plan)).name,
                    new_plan: new.name,
                    paused,
                    billing_url,
                },
            )
            .await?;
        }
        Ok(Some(member))
    }
}
