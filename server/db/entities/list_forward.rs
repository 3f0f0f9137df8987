use sea_orm::entity::prelude::*;

use crate::domain::SiteId;

/// Where a site's leads go at an email service provider: the provider, the member's key
/// (sealed; only its last four characters are ever shown), and the list picked.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "list_forwards")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub site_id: SiteId,
    /// `mailchimp`, `kit`, `brevo`, `mailerlite`, `klaviyo`, `hubspot`, `activecampaign`.
    pub provider: String,
    /// The key, encrypted with a key derived from the server's secret key.
    #[sea_orm(column_type = "Text")]
    pub key_sealed: String,
    pub key_last4: String,
    /// ActiveCampaign's per-account API URL.
    #[sea_orm(column_type = "Text", nullable)]
    pub api_url: Option<String>,
    pub list_id: String,
    #[sea_orm(column_type = "Text")]
    pub list_name: String,
    pub double_opt_in: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The provider asked barkeep to wait (429) until then; nothing is sent before.
    pub paused_until: Option<DateTimeUtc>,
    /// The provider refused the forward itself (a wrong key, a list that is gone), or
    /// failed for a day: leads wait until the member saves the forward again.
    pub stopped_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub stopped_error: Option<String>,
    /// When the member was told it stopped (once per stop).
    pub stopped_notified_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
