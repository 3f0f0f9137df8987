use sea_orm::entity::prelude::*;

use crate::domain::SiteId;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "site_hostnames")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: SiteId,
    pub hostname: String,
    /// When an event from a page on this hostname last arrived: the install check.
    pub last_event_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
