use sea_orm::entity::prelude::*;

use crate::domain::AccountId;

/// A REST hook: an automation tool (Zapier, Make, n8n) subscribed a URL to an event of
/// the account. Deliveries are signed with its secret.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hooks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: AccountId,
    /// `lead.created` or `bar.published`.
    pub event: String,
    #[sea_orm(column_type = "Text")]
    pub target_url: String,
    pub secret: String,
    pub created_at: DateTimeUtc,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub last_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
