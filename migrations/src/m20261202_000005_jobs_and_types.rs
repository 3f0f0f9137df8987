//! The job table (one lease row per job that runs once across processes), a unique index
//! on a bar's live variant names, and, on PostgreSQL, JSON columns for the bar settings
//! and deployment snapshots (SQLite keeps JSON as text, as it always did).

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const JSON_COLUMNS: [(&str, &str); 4] = [
    ("bars", "targeting"),
    ("bars", "trigger"),
    ("bars", "frequency"),
    ("deployments", "snapshot"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobLeases::Table)
                    .col(string(JobLeases::Name).primary_key())
                    .col(string_null(JobLeases::Holder))
                    .col(timestamp_with_time_zone_null(JobLeases::LeasedUntil))
                    .col(timestamp_with_time_zone(JobLeases::NextRunAt))
                    .col(big_integer(JobLeases::Runs).default(0))
                    .col(timestamp_with_time_zone_null(JobLeases::LastStartedAt))
                    .col(timestamp_with_time_zone_null(JobLeases::LastFinishedAt))
                    .col(boolean_null(JobLeases::LastOk))
                    .col(text_null(JobLeases::LastError))
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        // The same statement on both backends: an expression index limited to live rows.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX idx_variants_live_name ON variants (bar_id, lower(name)) WHERE deleted_at IS NULL",
        )
        .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            for (table, column) in JSON_COLUMNS {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for (table, column) in JSON_COLUMNS {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} ALTER COLUMN {column} TYPE text USING {column}::text"
                ))
                .await?;
            }
        }
        db.execute_unprepared("DROP INDEX idx_variants_live_name")
            .await?;
        manager
            .drop_table(Table::drop().table(JobLeases::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum JobLeases {
    Table,
    Name,
    Holder,
    LeasedUntil,
    NextRunAt,
    Runs,
    LastStartedAt,
    LastFinishedAt,
    LastOk,
    LastError,
}
