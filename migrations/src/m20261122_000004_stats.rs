//! Counts: per deployment and hour, only ever added to. Unique visitors are found with
//! daily salted hashes that are deleted with their salt; leads wait here for the member.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000003_bars::{Deployments, Sites};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeploymentStats::Table)
                    .col(big_integer(DeploymentStats::DeploymentId))
                    .col(big_integer(DeploymentStats::Hour))
                    .col(big_integer(DeploymentStats::Views).default(0))
                    .col(big_integer(DeploymentStats::UniqueVisitors).default(0))
                    .col(big_integer(DeploymentStats::Clicks).default(0))
                    .col(big_integer(DeploymentStats::Dismissals).default(0))
                    .col(big_integer(DeploymentStats::Leads).default(0))
                    .primary_key(
                        Index::create()
                            .col(DeploymentStats::DeploymentId)
                            .col(DeploymentStats::Hour),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeploymentStats::Table, DeploymentStats::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(VisitorHashes::Table)
                    .col(big_integer(VisitorHashes::DeploymentId))
                    .col(big_integer(VisitorHashes::Day))
                    .col(big_integer(VisitorHashes::Hash))
                    .primary_key(
                        Index::create()
                            .col(VisitorHashes::DeploymentId)
                            .col(VisitorHashes::Day)
                            .col(VisitorHashes::Hash),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(VisitorHashes::Table, VisitorHashes::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_visitor_hashes_day")
                    .table(VisitorHashes::Table)
                    .col(VisitorHashes::Day)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DailySalts::Table)
                    .col(big_integer(DailySalts::Day).primary_key())
                    .col(string(DailySalts::Salt))
                    .col(timestamp_with_time_zone(DailySalts::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IngestBatches::Table)
                    .col(string(IngestBatches::Id).primary_key())
                    .col(timestamp_with_time_zone(IngestBatches::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Leads::Table)
                    .col(big_pk_auto(Leads::Id))
                    .col(big_integer(Leads::SiteId))
                    .col(big_integer(Leads::DeploymentId))
                    .col(string(Leads::Email))
                    .col(timestamp_with_time_zone(Leads::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Leads::Table, Leads::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Leads::Table, Leads::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_leads_site")
                    .table(Leads::Table)
                    .col(Leads::SiteId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Leads::Table.into_iden(),
            IngestBatches::Table.into_iden(),
            DailySalts::Table.into_iden(),
            VisitorHashes::Table.into_iden(),
            DeploymentStats::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum DeploymentStats {
    Table,
    DeploymentId,
    Hour,
    Views,
    UniqueVisitors,
    Clicks,
    Dismissals,
    Leads,
}

#[derive(DeriveIden, Clone, Copy)]
enum VisitorHashes {
    Table,
    DeploymentId,
    Day,
    Hash,
}

#[derive(DeriveIden, Clone, Copy)]
enum DailySalts {
    Table,
    Day,
    Salt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum IngestBatches {
    Table,
    Id,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Leads {
    Table,
    Id,
    SiteId,
    DeploymentId,
    Email,
    CreatedAt,
}
