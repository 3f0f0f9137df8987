//! Member email beyond the account's own: email preferences and time zone on members;
//! the outbox learns each email's stream (transactional or subscription), list, alert,
//! tracking and the links it carried (`alert_id` is a plain reference: alerts are never
//! deleted); open, click, bounce and complaint events;
//! suppressed addresses; system alerts with their fan-out checkpoint; privacy-policy
//! versions and members' objections; the weekly digest's fan-out checkpoint.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            boolean(Members::NewsOptIn).default(true).to_owned(),
            boolean(Members::DigestOptIn).default(true).to_owned(),
            string_null(Members::TimeZone).to_owned(),
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
            string(Outbox::Stream).default("transactional").to_owned(),
            string_null(Outbox::List).to_owned(),
            big_integer_null(Outbox::AlertId).to_owned(),
            boolean(Outbox::Tracked).default(false).to_owned(),
            text_null(Outbox::Links).to_owned(),
            timestamp_with_time_zone_null(Outbox::BouncedAt).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Outbox::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_alert")
                    .table(Outbox::Table)
                    .col(Outbox::AlertId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EmailEvents::Table)
                    .col(big_pk_auto(EmailEvents::Id))
                    .col(big_integer(EmailEvents::OutboxId))
                    .col(string(EmailEvents::Kind))
                    .col(integer_null(EmailEvents::Link))
                    .col(boolean(EmailEvents::Machine))
                    .col(string_null(EmailEvents::Reason))
                    .col(timestamp_with_time_zone(EmailEvents::At))
                    .foreign_key(
                        ForeignKey::create()
                            .from(EmailEvents::Table, EmailEvents::OutboxId)
                            .to(Outbox::Table, Outbox::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_events_outbox")
                    .table(EmailEvents::Table)
                    .col(EmailEvents::OutboxId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EmailSuppressions::Table)
                    .col(string(EmailSuppressions::Address).primary_key())
                    .col(string(EmailSuppressions::Reason))
                    .col(text_null(EmailSuppressions::Detail))
                    .col(timestamp_with_time_zone(EmailSuppressions::At))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(big_pk_auto(Alerts::Id))
                    .col(string(Alerts::Kind))
                    .col(text(Alerts::Audience))
                    .col(text(Alerts::Fields))
                    .col(text_null(Alerts::Message))
                    .col(string(Alerts::Status))
                    .col(big_integer_null(Alerts::CreatedBy))
                    .col(timestamp_with_time_zone(Alerts::CreatedAt))
                    .col(timestamp_with_time_zone_null(Alerts::SendRequestedAt))
                    .col(timestamp_with_time_zone_null(Alerts::QueuedAt))
                    .col(big_integer(Alerts::Cursor).default(0))
                    .col(big_integer(Alerts::Queued).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alerts::Table, Alerts::CreatedBy)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PolicyVersions::Table)
                    .col(big_pk_auto(PolicyVersions::Id))
                    .col(string_uniq(PolicyVersions::Version))
                    .col(text_null(PolicyVersions::Url))
                    .col(text_null(PolicyVersions::Text))
                    .col(timestamp_with_time_zone(PolicyVersions::EffectiveAt))
                    .col(timestamp_with_time_zone(PolicyVersions::PublishedAt))
                    .col(big_integer_null(PolicyVersions::AlertId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PolicyObjections::Table)
                    .col(big_integer(PolicyObjections::PolicyId))
                    .col(big_integer(PolicyObjections::MemberId))
                    .col(timestamp_with_time_zone(PolicyObjections::ObjectedAt))
                    .primary_key(
                        Index::create()
                            .col(PolicyObjections::PolicyId)
                            .col(PolicyObjections::MemberId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PolicyObjections::Table, PolicyObjections::PolicyId)
                            .to(PolicyVersions::Table, PolicyVersions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PolicyObjections::Table, PolicyObjections::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DigestWeeks::Table)
                    .col(string(DigestWeeks::Week).primary_key())
                    .col(big_integer(DigestWeeks::Cursor).default(0))
                    .col(big_integer(DigestWeeks::Queued).default(0))
                    .col(timestamp_with_time_zone_null(DigestWeeks::DoneAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DigestWeeks::Table.into_iden(),
            PolicyObjections::Table.into_iden(),
            PolicyVersions::Table.into_iden(),
            EmailEvents::Table.into_iden(),
            EmailSuppressions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(Index::drop().name("idx_outbox_alert").to_owned())
            .await?;
        for col in [
            Outbox::Stream,
            Outbox::List,
            Outbox::AlertId,
            Outbox::Tracked,
            Outbox::Links,
            Outbox::BouncedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Outbox::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Alerts::Table).to_owned())
            .await?;
        for col in [Members::NewsOptIn, Members::DigestOptIn, Members::TimeZone] {
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
    Id,
    NewsOptIn,
    DigestOptIn,
    TimeZone,
}

#[derive(DeriveIden, Clone, Copy)]
enum Outbox {
    Table,
    Id,
    Stream,
    List,
    AlertId,
    Tracked,
    Links,
    BouncedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum EmailEvents {
    Table,
    Id,
    OutboxId,
    Kind,
    Link,
    Machine,
    Reason,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum EmailSuppressions {
    Table,
    Address,
    Reason,
    Detail,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum Alerts {
    Table,
    Id,
    Kind,
    Audience,
    Fields,
    Message,
    Status,
    CreatedBy,
    CreatedAt,
    SendRequestedAt,
    QueuedAt,
    Cursor,
    Queued,
}

#[derive(DeriveIden, Clone, Copy)]
enum PolicyVersions {
    Table,
    Id,
    Version,
    Url,
    Text,
    EffectiveAt,
    PublishedAt,
    AlertId,
}

#[derive(DeriveIden, Clone, Copy)]
enum PolicyObjections {
    Table,
    PolicyId,
    MemberId,
    ObjectedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum DigestWeeks {
    Table,
    Week,
    Cursor,
    Queued,
    DoneAt,
}
