use sea_orm::entity::prelude::*;

use crate::domain::{AccountId, SiteId};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sites")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: SiteId,
    pub account_id: AccountId,
    pub name: String,
    #[sea_orm(unique)]
    pub key: String,
    /// Raised whenever what the site's script shows changes; every process compares it
    /// with the version it built.
    pub script_version: i64,
    pub script_changed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
