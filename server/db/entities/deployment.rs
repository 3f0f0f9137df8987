use sea_orm::entity::prelude::*;

use crate::domain::bar::Snapshot;
use crate::domain::{BarId, DeploymentId, SiteId, VariantId};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: DeploymentId,
    pub site_id: SiteId,
    pub bar_id: BarId,
    pub variant_id: VariantId,
    /// Exactly what was shown. Never changes.
    #[sea_orm(column_type = "JsonBinary")]
    pub snapshot: Snapshot,
    pub started_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
