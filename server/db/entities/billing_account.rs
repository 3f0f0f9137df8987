use sea_orm::entity::prelude::*;

use crate::domain::AccountId;

/// The plan barkeep applies to a member, decided from their subscriptions, and the month
/// (`2026-12`) in which their views last ran past the plan's limit.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: AccountId,
    pub plan_id: String,
    pub over_views_month: Option<String>,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
