use sea_orm::entity::prelude::*;

/// An event waiting to be posted to a REST hook. A lead's event names the lead (the
/// address is read when it is posted, and the lead waits for it); any other event holds
/// its payload.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hook_id: i64,
    pub lead_id: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub payload: Option<String>,
    pub created_at: DateTimeUtc,
    pub attempts: i32,
    pub next_at: DateTimeUtc,
    pub first_failed_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
