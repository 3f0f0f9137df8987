use sea_orm::entity::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::bar::{Goal, Placement};
use crate::domain::element::ElementType;

/// A cell's distribution over every account in it, as published (or why not). Members
/// outside the cell are compared with this; members inside it with the others only (see
/// `benchmark_result`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "benchmark_cells")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub snapshot_id: i64,
    pub level: Level,
    pub industry: Option<String>,
    pub element_type: ElementType,
    pub goal: Goal,
    /// `None` at [`Level::All`] (every placement).
    pub placement: Option<Placement>,
    pub metric: Metric,
    pub accounts: i32,
    pub p10: Option<f64>,
    pub p25: Option<f64>,
    pub median: Option<f64>,
    pub p75: Option<f64>,
    pub p90: Option<f64>,
    pub published: bool,
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}

/// How wide a group of accounts is, from the narrowest to the widest.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Level {
    /// One industry × goal × placement.
    Industry,
    /// Every industry, one goal × placement.
    AllIndustries,
    /// Every account, one goal (every industry and placement).
    All,
}

/// The rates compared.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Metric {
    /// Clicks ÷ views, for every goal.
    Ctr,
    /// Leads ÷ views, for email bars.
    LeadRate,
    /// Dismissals ÷ views, for email bars.
    DismissRate,
}
