use sea_orm::entity::prelude::*;

use crate::domain::SiteId;

/// One attempt to post a lead to a site's webhook or to add it to the site's list at an
/// email service provider: when, and how it went — never the lead itself.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: SiteId,
    pub lead_id: Option<i64>,
    pub attempt: i32,
    pub at: DateTimeUtc,
    pub ok: bool,
    pub status_code: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// A test the member asked for, not a lead.
    pub test: bool,
    /// `webhook`, or the provider of the list forward (`mailchimp`, …).
    pub forward: String,
}

impl ActiveModelBehavior for ActiveModel {}
