use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bars")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: i64,
    pub name: String,
    pub goal: String,
    pub placement: String,
    pub display: String,
    pub sticky: bool,
    pub closable: bool,
    pub powered_by: bool,
    /// JSON of `domain::bar::Targeting`.
    #[sea_orm(column_type = "Text")]
    pub targeting: String,
    /// JSON of `domain::bar::Trigger`.
    #[sea_orm(column_type = "Text")]
    pub trigger: String,
    /// JSON of `domain::bar::Frequency`.
    #[sea_orm(column_type = "Text")]
    pub frequency: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
    /// Deleted bars keep their deployments, so site totals stay whole.
    pub deleted_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
