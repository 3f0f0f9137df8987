use chrono::Duration;
use sea_orm::entity::prelude::*;

/// A member may object to a version for this many days from when they were told.
pub const OBJECTION_DAYS: i64 = 20;

/// A published version of the privacy policy.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policy_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub version: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub url: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub text: Option<String>,
    pub effective_at: DateTimeUtc,
    pub published_at: DateTimeUtc,
    /// The `policy_change` alert that told every member.
    pub alert_id: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The last moment an objection is taken from a member told at `told`: the window
    /// runs [`OBJECTION_DAYS`] from the later of that and the publication.
    pub fn objection_deadline(&self, told: DateTimeUtc) -> DateTimeUtc {
        told.max(self.published_at) + Duration::days(OBJECTION_DAYS)
    }
}
