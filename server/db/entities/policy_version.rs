use sea_orm::entity::prelude::*;

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
