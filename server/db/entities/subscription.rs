use sea_orm::entity::prelude::*;

use crate::domain::MemberId;

/// A Stripe subscription as barkeep last read it from Stripe. `read_at` is when that
/// read began: a state read earlier never replaces one read later.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub member_id: MemberId,
    pub stripe_customer_id: String,
    /// The barkeep plan its price belongs to; `None` for a price no plan names.
    pub plan_id: Option<String>,
    pub price_id: Option<String>,
    pub interval: Option<String>,
    /// Stripe's status: `active`, `trialing`, `past_due`, `unpaid`, `canceled`, …
    pub status: String,
    pub current_period_end: Option<DateTimeUtc>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<DateTimeUtc>,
    /// Stripe's `cancellation_details.reason`, e.g. `payment_failed`.
    pub cancellation_reason: Option<String>,
    pub stripe_created_at: DateTimeUtc,
    pub read_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
