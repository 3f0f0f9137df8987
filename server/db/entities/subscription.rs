use sea_orm::entity::prelude::*;

use crate::domain::AccountId;
use crate::plans::Interval;

/// A Stripe subscription as barkeep last read it from Stripe. `read_at` is when that
/// read began: a state read earlier never replaces one read later.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: AccountId,
    pub stripe_customer_id: String,
    /// The barkeep plan its price belongs to; `None` for a price no plan names.
    pub plan_id: Option<String>,
    pub price_id: Option<String>,
    /// How often its price renews; `None` for a price no plan names.
    pub interval: Option<Interval>,
    pub status: SubscriptionStatus,
    pub current_period_end: Option<DateTimeUtc>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<DateTimeUtc>,
    pub cancellation_reason: Option<CancellationReason>,
    pub stripe_created_at: DateTimeUtc,
    pub read_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

/// A subscription's status with Stripe, stored as Stripe writes it (`past_due`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// The first payment has not gone through yet (23 hours to complete it).
    Incomplete,
    /// The first payment never went through; the subscription is over.
    IncompleteExpired,
    Trialing,
    Active,
    /// A renewal failed and Stripe is retrying it.
    PastDue,
    /// Stripe stopped retrying; the invoices stay open.
    Unpaid,
    Canceled,
    /// A trial ended without a payment method.
    Paused,
}

impl SubscriptionStatus {
    /// Whether the subscription keeps its plan: `past_due` is the grace while Stripe
    /// retries a payment.
    pub fn entitles(self) -> bool {
        match self {
            Self::Trialing | Self::Active | Self::PastDue => true,
            Self::Incomplete
            | Self::IncompleteExpired
            | Self::Unpaid
            | Self::Canceled
            | Self::Paused => false,
        }
    }

    /// A payment is behind: the member is asked to update their card.
    pub fn is_delinquent(self) -> bool {
        match self {
            Self::PastDue | Self::Unpaid => true,
            Self::Incomplete
            | Self::IncompleteExpired
            | Self::Trialing
            | Self::Active
            | Self::Canceled
            | Self::Paused => false,
        }
    }

    /// The subscription is over for good: there is nothing left to cancel.
    pub fn has_ended(self) -> bool {
        match self {
            Self::IncompleteExpired | Self::Canceled => true,
            Self::Incomplete
            | Self::Trialing
            | Self::Active
            | Self::PastDue
            | Self::Unpaid
            | Self::Paused => false,
        }
    }

    /// As Stripe writes it: `past_due`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Unpaid => "unpaid",
            Self::Canceled => "canceled",
            Self::Paused => "paused",
        }
    }
}

/// Why Stripe canceled a subscription (`cancellation_details.reason`), stored as Stripe
/// writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum CancellationReason {
    /// The customer, or the account's owner, asked.
    CancellationRequested,
    PaymentDisputed,
    /// Every retry of a payment failed.
    PaymentFailed,
    CanceledByRetentionPolicy,
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;

    use super::*;

    #[test]
    fn statuses_are_stored_as_stripe_writes_them() {
        for status in SubscriptionStatus::iter() {
            assert_eq!(status.to_value(), status.as_str());
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(
            CancellationReason::PaymentFailed.to_value(),
            "payment_failed"
        );
    }
}
