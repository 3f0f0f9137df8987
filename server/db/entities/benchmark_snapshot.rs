use sea_orm::entity::prelude::*;

/// One computation of the benchmarks over a rolling window of whole days.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "benchmark_snapshots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub computed_at: DateTimeUtc,
    pub window_days: i32,
    pub window_start: DateTimeUtc,
    pub window_end: DateTimeUtc,
    /// Accounts with any views in the window.
    pub accounts: i32,
}

impl ActiveModelBehavior for ActiveModel {}
