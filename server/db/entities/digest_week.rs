use sea_orm::entity::prelude::*;

/// The weekly digest of one week (`2026-W49`): how far its fan-out got, and when it was
/// done.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "digest_weeks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub week: String,
    pub cursor: i64,
    pub queued: i64,
    pub done_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
