use sea_orm::entity::prelude::*;

use crate::domain::SiteId;

/// A goal a site names: a page reached later in a visit, or a call from the page.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "site_goals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: SiteId,
    pub name: String,
    /// A path pattern such as `/thanks*`; without one the page reports the goal itself.
    pub path: Option<String>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
