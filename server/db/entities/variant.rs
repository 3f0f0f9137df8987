use sea_orm::entity::prelude::*;

use crate::domain::translation::Translations;
use crate::domain::{BarId, VariantId};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "variants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: VariantId,
    pub bar_id: BarId,
    pub name: String,
    pub weight: i32,
    #[sea_orm(column_type = "Text")]
    pub message: String,
    pub button_label: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub link_url: Option<String>,
    pub background_color: String,
    pub text_color: String,
    pub button_color: String,
    pub button_text_color: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub thanks_message: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub translations: Translations,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
