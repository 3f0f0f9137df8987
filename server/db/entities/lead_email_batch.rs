use sea_orm::entity::prelude::*;

use crate::domain::BarId;

/// When a bar's last lead email went: at most one every ten minutes.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_email_batches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub bar_id: BarId,
    pub last_sent_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
