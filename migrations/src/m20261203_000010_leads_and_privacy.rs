//! Leads that leave once delivered, and a member's rights over their data: the member's
//! lead settings and restriction; each lead's forwards (email, webhook) and their state;
//! the webhook of each site and every delivery attempt (never the lead itself); when a
//! bar's last lead email went; outbox rows that drop their body, or themselves, once sent;
//! and the counts of erased accounts, kept as unlinked totals.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            boolean(Members::LeadEmail).default(true).to_owned(),
            integer(Members::LeadRetentionDays).default(0).to_owned(),
            timestamp_with_time_zone_null(Members::RestrictedAt).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Members::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        for col in [
            boolean(Leads::EmailDone).default(false).to_owned(),
            boolean(Leads::WebhookDone).default(false).to_owned(),
            integer(Leads::WebhookAttempts).default(0).to_owned(),
            timestamp_with_time_zone_null(Leads::WebhookNextAt).to_owned(),
            timestamp_with_time_zone_null(Leads::WebhookFirstFailedAt).to_owned(),
            timestamp_with_time_zone_null(Leads::FlaggedAt).to_owned(),
            timestamp_with_time_zone_null(Leads::ForwardedAt).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Leads::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(string(Outbox::AfterSend).default("keep"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LeadWebhooks::Table)
                    .col(big_integer(LeadWebhooks::SiteId).primary_key())
                    .col(text(LeadWebhooks::Url))
                    .col(string(LeadWebhooks::Secret))
                    .col(timestamp_with_time_zone(LeadWebhooks::CreatedAt))
                    .col(timestamp_with_time_zone(LeadWebhooks::UpdatedAt))
                    .col(timestamp_with_time_zone_null(
                        LeadWebhooks::FailingNotifiedAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LeadWebhooks::Table, LeadWebhooks::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LeadDeliveries::Table)
                    .col(big_pk_auto(LeadDeliveries::Id))
                    .col(big_integer(LeadDeliveries::SiteId))
                    .col(big_integer_null(LeadDeliveries::LeadId))
                    .col(integer(LeadDeliveries::Attempt))
                    .col(timestamp_with_time_zone(LeadDeliveries::At))
                    .col(boolean(LeadDeliveries::Ok))
                    .col(integer_null(LeadDeliveries::StatusCode))
                    .col(text_null(LeadDeliveries::Error))
                    .col(boolean(LeadDeliveries::Test).default(false))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LeadDeliveries::Table, LeadDeliveries::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_lead_deliveries_site")
                    .table(LeadDeliveries::Table)
                    .col(LeadDeliveries::SiteId)
                    .col(LeadDeliveries::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LeadEmailBatches::Table)
                    .col(big_integer(LeadEmailBatches::BarId).primary_key())
                    .col(timestamp_with_time_zone(LeadEmailBatches::LastSentAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LeadEmailBatches::Table, LeadEmailBatches::BarId)
                            .to(Bars::Table, Bars::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RetiredCounts::Table)
                    .col(big_integer(RetiredCounts::Day))
                    .col(string(RetiredCounts::Goal))
                    .col(string(RetiredCounts::Placement))
                    .col(big_integer(RetiredCounts::Views).default(0))
                    .col(big_integer(RetiredCounts::Clicks).default(0))
                    .col(big_integer(RetiredCounts::Dismissals).default(0))
                    .col(big_integer(RetiredCounts::Leads).default(0))
                    .primary_key(
                        Index::create()
                            .col(RetiredCounts::Day)
                            .col(RetiredCounts::Goal)
                            .col(RetiredCounts::Placement),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RetiredCounts::Table.into_iden(),
            LeadEmailBatches::Table.into_iden(),
            LeadDeliveries::Table.into_iden(),
            LeadWebhooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .drop_column(Outbox::AfterSend)
                    .to_owned(),
            )
            .await?;
        for col in [
            Leads::EmailDone,
            Leads::WebhookDone,
            Leads::WebhookAttempts,
            Leads::WebhookNextAt,
            Leads::WebhookFirstFailedAt,
            Leads::FlaggedAt,
            Leads::ForwardedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Leads::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        for col in [
            Members::LeadEmail,
            Members::LeadRetentionDays,
            Members::RestrictedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Members::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Members {
    Table,
    LeadEmail,
    LeadRetentionDays,
    RestrictedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Leads {
    Table,
    EmailDone,
    WebhookDone,
    WebhookAttempts,
    WebhookNextAt,
    WebhookFirstFailedAt,
    FlaggedAt,
    ForwardedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Outbox {
    Table,
    AfterSend,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sites {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Bars {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum LeadWebhooks {
    Table,
    SiteId,
    Url,
    Secret,
    CreatedAt,
    UpdatedAt,
    FailingNotifiedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum LeadDeliveries {
    Table,
    Id,
    SiteId,
    LeadId,
    Attempt,
    At,
    Ok,
    StatusCode,
    Error,
    Test,
}

#[derive(DeriveIden, Clone, Copy)]
enum LeadEmailBatches {
    Table,
    BarId,
    LastSentAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RetiredCounts {
    Table,
    Day,
    Goal,
    Placement,
    Views,
    Clicks,
    Dismissals,
    Leads,
}
