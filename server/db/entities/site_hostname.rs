use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "site_hostnames")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: i64,
    pub hostname: String,
    /// When an event from a page on this hostname last arrived: the install check.
    pub last_event_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
