use sea_orm::entity::prelude::*;

use crate::domain::AccountId;

/// An account: what sites, billing and benchmark results belong to, shared by the
/// people of `account_members`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: AccountId,
    pub name: String,
    pub industry: Option<String>,
    /// How long leads are kept after delivery, in days (0: deleted once delivered).
    pub lead_retention_days: i32,
    /// Processing restricted: no bar is served, no lead is processed.
    pub restricted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
