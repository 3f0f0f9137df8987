use sea_orm::entity::prelude::*;

use crate::domain::bar::{Display, Frequency, Goal, Placement, Targeting, Trigger};
use crate::domain::element::{Countdown, ElementType, Side};
use crate::domain::{Allocation, BarId, SiteId};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bars")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: BarId,
    pub site_id: SiteId,
    pub name: String,
    pub goal: Goal,
    pub element_type: ElementType,
    pub placement: Placement,
    pub side: Side,
    pub display: Display,
    pub sticky: bool,
    pub closable: bool,
    pub powered_by: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub targeting: Targeting,
    #[sea_orm(column_type = "JsonBinary")]
    pub trigger: Trigger,
    #[sea_orm(column_type = "JsonBinary")]
    pub frequency: Frequency,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub countdown: Option<Countdown>,
    pub allocation: Allocation,
    /// Percent of new visitors held out: assigned to no variant, shown nothing, counted.
    pub holdout: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
    /// Deleted bars keep their deployments, so site totals stay whole.
    pub deleted_at: Option<DateTimeUtc>,
    /// Set when the plan, not the member, took the bar off its site: why, in words.
    #[sea_orm(column_type = "Text", nullable)]
    pub paused_reason: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
