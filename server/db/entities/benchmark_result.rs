use sea_orm::entity::prelude::*;

use super::benchmark_cell::{Level, Metric};
use crate::domain::bar::{Goal, Placement};
use crate::domain::element::ElementType;
use crate::domain::{AccountId, BarId};

/// A member's (or one of their bars') rate in one goal × placement group, beside the
/// distribution of the other accounts it is compared with: the first group that may be
/// published, from the member's industry to every account.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "benchmark_results")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub snapshot_id: i64,
    pub account_id: AccountId,
    /// Set for a bar's own row; `None` for the account's.
    pub bar_id: Option<BarId>,
    pub element_type: ElementType,
    pub goal: Goal,
    pub placement: Placement,
    pub metric: Metric,
    pub own_rate: Option<f64>,
    pub own_views: i64,
    /// The group compared with; `None` when nothing could be published.
    pub compared_with: Option<Level>,
    pub industry: Option<String>,
    pub accounts: i32,
    pub p10: Option<f64>,
    pub p25: Option<f64>,
    pub median: Option<f64>,
    pub p75: Option<f64>,
    pub p90: Option<f64>,
    pub percentile: Option<f64>,
    /// Why the narrower groups (or all of them) could not be shown.
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
