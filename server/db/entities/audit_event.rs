use sea_orm::entity::prelude::*;

use crate::domain::{AccountId, MemberId};

/// Something that changed in an account: who did it (none for barkeep itself, or a
/// person since erased), what, to what, when and from which address. Kept 365 days.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: AccountId,
    pub member_id: Option<MemberId>,
    /// What happened, as a stable name (`bar.published`).
    pub action: String,
    /// What it happened to (`bar 12`).
    pub subject: String,
    pub ip: Option<String>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
