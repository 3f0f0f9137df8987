//! Industry benchmarks as dated snapshots: each computation, the published distribution
//! of every cell (industry × goal × placement and the wider groups), and each member's
//! and each bar's comparison with the other accounts, so reading a benchmark is a lookup.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Snapshots::Table)
                    .col(big_pk_auto(Snapshots::Id))
                    .col(timestamp_with_time_zone(Snapshots::ComputedAt))
                    .col(integer(Snapshots::WindowDays))
                    .col(timestamp_with_time_zone(Snapshots::WindowStart))
                    .col(timestamp_with_time_zone(Snapshots::WindowEnd))
                    .col(integer(Snapshots::Accounts))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_benchmark_snapshots_window")
                    .table(Snapshots::Table)
                    .col(Snapshots::WindowDays)
                    .col(Snapshots::ComputedAt)
                    .to_owned(),
            )
            .await?;

        let quantiles = |t: &mut TableCreateStatement| {
            t.col(integer(Cells::Accounts))
                .col(double_null(Cells::P10))
                .col(double_null(Cells::P25))
                .col(double_null(Cells::Median))
                .col(double_null(Cells::P75))
                .col(double_null(Cells::P90));
        };
        let mut cells = Table::create();
        cells
            .table(Cells::Table)
            .col(big_pk_auto(Cells::Id))
            .col(big_integer(Cells::SnapshotId))
            .col(string(Cells::Level))
            .col(string_null(Cells::Industry))
            .col(string(Cells::Goal))
            .col(string_null(Cells::Placement))
            .col(string(Cells::Metric));
        quantiles(&mut cells);
        cells
            .col(boolean(Cells::Published))
            .col(text_null(Cells::Reason))
            .foreign_key(
                ForeignKey::create()
                    .from(Cells::Table, Cells::SnapshotId)
                    .to(Snapshots::Table, Snapshots::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            );
        manager.create_table(cells.to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_benchmark_cells_snapshot")
                    .table(Cells::Table)
                    .col(Cells::SnapshotId)
                    .to_owned(),
            )
            .await?;

        let mut results = Table::create();
        results
            .table(Results::Table)
            .col(big_pk_auto(Results::Id))
            .col(big_integer(Results::SnapshotId))
            .col(big_integer(Results::MemberId))
            .col(big_integer_null(Results::BarId))
            .col(string(Results::Goal))
            .col(string(Results::Placement))
            .col(string(Results::Metric))
            .col(double_null(Results::OwnRate))
            .col(big_integer(Results::OwnViews))
            .col(string_null(Results::ComparedWith))
            .col(string_null(Results::Industry))
            .col(integer(Results::Accounts))
            .col(double_null(Results::P10))
            .col(double_null(Results::P25))
            .col(double_null(Results::Median))
            .col(double_null(Results::P75))
            .col(double_null(Results::P90))
            .col(double_null(Results::Percentile))
            .col(text_null(Results::Reason))
            .foreign_key(
                ForeignKey::create()
                    .from(Results::Table, Results::SnapshotId)
                    .to(Snapshots::Table, Snapshots::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .foreign_key(
                ForeignKey::create()
                    .from(Results::Table, Results::MemberId)
                    .to(Members::Table, Members::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            );
        manager.create_table(results.to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_benchmark_results_member")
                    .table(Results::Table)
                    .col(Results::MemberId)
                    .col(Results::SnapshotId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_benchmark_results_bar")
                    .table(Results::Table)
                    .col(Results::BarId)
                    .col(Results::SnapshotId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Results::Table.into_iden(),
            Cells::Table.into_iden(),
            Snapshots::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Members {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Snapshots {
    #[sea_orm(iden = "benchmark_snapshots")]
    Table,
    Id,
    ComputedAt,
    WindowDays,
    WindowStart,
    WindowEnd,
    Accounts,
}

#[derive(DeriveIden, Clone, Copy)]
enum Cells {
    #[sea_orm(iden = "benchmark_cells")]
    Table,
    Id,
    SnapshotId,
    Level,
    Industry,
    Goal,
    Placement,
    Metric,
    Accounts,
    P10,
    P25,
    Median,
    P75,
    P90,
    Published,
    Reason,
}

#[derive(DeriveIden, Clone, Copy)]
enum Results {
    #[sea_orm(iden = "benchmark_results")]
    Table,
    Id,
    SnapshotId,
    MemberId,
    BarId,
    Goal,
    Placement,
    Metric,
    OwnRate,
    OwnViews,
    ComparedWith,
    Industry,
    Accounts,
    P10,
    P25,
    Median,
    P75,
    P90,
    Percentile,
    Reason,
}
