use sea_orm::entity::prelude::*;

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
    /// `industry`, `all_industries` or `all` (every industry and placement).
    pub level: String,
    pub industry: Option<String>,
    pub goal: String,
    pub placement: Option<String>,
    pub metric: String,
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
