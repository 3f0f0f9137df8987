//! Sites and their hostnames, bars, variants, and deployments: the immutable snapshots
//! that are (or were) live, which every count belongs to.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_accounts::Members;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sites::Table)
                    .col(big_pk_auto(Sites::Id))
                    .col(big_integer(Sites::MemberId))
                    .col(string(Sites::Name))
                    .col(string_uniq(Sites::Key))
                    .col(big_integer(Sites::ScriptVersion).default(1))
                    .col(timestamp_with_time_zone(Sites::ScriptChangedAt))
                    .col(timestamp_with_time_zone(Sites::CreatedAt))
                    .col(timestamp_with_time_zone(Sites::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sites::Table, Sites::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_sites_member",
            Sites::Table,
            &[Sites::MemberId],
            false,
        )
        .await?;
        index(
            manager,
            "idx_sites_script_changed",
            Sites::Table,
            &[Sites::ScriptChangedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SiteHostnames::Table)
                    .col(big_pk_auto(SiteHostnames::Id))
                    .col(big_integer(SiteHostnames::SiteId))
                    .col(string(SiteHostnames::Hostname))
                    .col(timestamp_with_time_zone_null(SiteHostnames::LastEventAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SiteHostnames::Table, SiteHostnames::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_site_hostnames_unique",
            SiteHostnames::Table,
            &[SiteHostnames::SiteId, SiteHostnames::Hostname],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Bars::Table)
                    .col(big_pk_auto(Bars::Id))
                    .col(big_integer(Bars::SiteId))
                    .col(string(Bars::Name))
                    .col(string(Bars::Goal))
                    .col(string(Bars::Placement))
                    .col(string(Bars::Display))
                    .col(boolean(Bars::Sticky))
                    .col(boolean(Bars::Closable))
                    .col(boolean(Bars::PoweredBy))
                    .col(text(Bars::Targeting))
                    .col(text(Bars::Trigger))
                    .col(text(Bars::Frequency))
                    .col(timestamp_with_time_zone(Bars::CreatedAt))
                    .col(timestamp_with_time_zone(Bars::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Bars::PublishedAt))
                    .col(timestamp_with_time_zone_null(Bars::DeletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Bars::Table, Bars::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_bars_site",
            Bars::Table,
            &[Bars::SiteId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Variants::Table)
                    .col(big_pk_auto(Variants::Id))
                    .col(big_integer(Variants::BarId))
                    .col(string(Variants::Name))
                    .col(integer(Variants::Weight))
                    .col(text(Variants::Message))
                    .col(string_null(Variants::ButtonLabel))
                    .col(text_null(Variants::LinkUrl))
                    .col(string(Variants::BackgroundColor))
                    .col(string(Variants::TextColor))
                    .col(string(Variants::ButtonColor))
                    .col(string(Variants::ButtonTextColor))
                    .col(text_null(Variants::ThanksMessage))
                    .col(timestamp_with_time_zone(Variants::CreatedAt))
                    .col(timestamp_with_time_zone(Variants::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Variants::DeletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Variants::Table, Variants::BarId)
                            .to(Bars::Table, Bars::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_variants_bar",
            Variants::Table,
            &[Variants::BarId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deployments::Table)
                    .col(big_pk_auto(Deployments::Id))
                    .col(big_integer(Deployments::SiteId))
                    .col(big_integer(Deployments::BarId))
                    .col(big_integer(Deployments::VariantId))
                    .col(text(Deployments::Snapshot))
                    .col(timestamp_with_time_zone(Deployments::StartedAt))
                    .col(timestamp_with_time_zone_null(Deployments::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Deployments::Table, Deployments::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Deployments::Table, Deployments::BarId)
                            .to(Bars::Table, Bars::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Deployments::Table, Deployments::VariantId)
                            .to(Variants::Table, Variants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_deployments_site",
            Deployments::Table,
            &[Deployments::SiteId, Deployments::EndedAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_deployments_bar",
            Deployments::Table,
            &[Deployments::BarId],
            false,
        )
        .await?;
        index(
            manager,
            "idx_deployments_variant",
            Deployments::Table,
            &[Deployments::VariantId],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Deployments::Table.into_iden(),
            Variants::Table.into_iden(),
            Bars::Table.into_iden(),
            SiteHostnames::Table.into_iden(),
            Sites::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn index<T: Iden + Copy + 'static, C: Iden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[C],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    if unique {
        stmt.unique();
    }
    for col in cols {
        stmt.col(*col);
    }
    manager.create_index(stmt.to_owned()).await
}

#[derive(DeriveIden, Clone, Copy)]
pub enum Sites {
    Table,
    Id,
    MemberId,
    Name,
    Key,
    ScriptVersion,
    ScriptChangedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum SiteHostnames {
    Table,
    Id,
    SiteId,
    Hostname,
    LastEventAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum Bars {
    Table,
    Id,
    SiteId,
    Name,
    Goal,
    Placement,
    Display,
    Sticky,
    Closable,
    PoweredBy,
    Targeting,
    Trigger,
    Frequency,
    CreatedAt,
    UpdatedAt,
    PublishedAt,
    DeletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum Variants {
    Table,
    Id,
    BarId,
    Name,
    Weight,
    Message,
    ButtonLabel,
    LinkUrl,
    BackgroundColor,
    TextColor,
    ButtonColor,
    ButtonTextColor,
    ThanksMessage,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum Deployments {
    Table,
    Id,
    SiteId,
    BarId,
    VariantId,
    Snapshot,
    StartedAt,
    EndedAt,
}
