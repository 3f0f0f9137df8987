//! A bar may share its new visitors by Thompson sampling instead of fixed weights; the
//! shares computed for its live deployments are kept beside them. Every existing bar keeps
//! its weights.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Allocations {
    Table,
    DeploymentId,
    Weight,
    ComputedAt,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE bars ADD COLUMN allocation text NOT NULL DEFAULT 'weights'",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Allocations::Table)
                    .col(
                        ColumnDef::new(Allocations::DeploymentId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Allocations::Weight).integer().not_null())
                    .col(
                        ColumnDef::new(Allocations::ComputedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Allocations::Table, Allocations::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Allocations::Table).to_owned())
            .await?;
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE bars DROP COLUMN allocation")
            .await?;
        Ok(())
    }
}
