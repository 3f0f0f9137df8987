use sea_orm::entity::prelude::*;

use crate::domain::SiteId;

/// Where a site's leads are posted, and the secret that signs each post (shown to the
/// member once, when it is made).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub site_id: SiteId,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    pub secret: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the member was told its deliveries keep failing (once per failing spell).
    pub failing_notified_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
