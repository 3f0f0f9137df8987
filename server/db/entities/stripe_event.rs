use sea_orm::entity::prelude::*;

use crate::domain::AccountId;

/// A Stripe webhook event, recorded by its id the first time it arrives.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stripe_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Stripe's event type, e.g. `invoice.paid`.
    pub kind: String,
    pub stripe_created_at: DateTimeUtc,
    /// The body as Stripe signed it, so a retry works from exactly what arrived.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub status: EventStatus,
    pub attempts: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub received_at: DateTimeUtc,
    pub processed_at: Option<DateTimeUtc>,
    pub next_attempt_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    /// The Stripe customer the event's object names, when it names one.
    pub stripe_customer_id: Option<String>,
    /// The member that customer belongs to, once barkeep knows (no foreign key: erasure
    /// deletes the member's events by this id).
    pub account_id: Option<AccountId>,
}

impl ActiveModelBehavior for ActiveModel {}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Recorded, not yet processed.
    Received,
    /// Its effect is committed.
    Processed,
    /// A type barkeep does not act on.
    Ignored,
    /// The last attempt failed; it is retried.
    Failed,
    /// Failed too often; an operator must look.
    GaveUp,
}
