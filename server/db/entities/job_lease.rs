use sea_orm::entity::prelude::*;

/// One row per job that runs once across processes: who holds it, until when, and when
/// it is next due.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub holder: Option<String>,
    pub leased_until: Option<DateTimeUtc>,
    pub next_run_at: DateTimeUtc,
    pub runs: i64,
    pub last_started_at: Option<DateTimeUtc>,
    pub last_finished_at: Option<DateTimeUtc>,
    pub last_ok: Option<bool>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
