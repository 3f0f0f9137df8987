//! Leads forwarded to the member's list at an email service provider (one forward per
//! site, its key sealed), and REST hooks that automation tools subscribe to events with.
//! Each lead remembers how its provider forward went; each delivery attempt says which
//! forward it was for; hook deliveries wait in their own queue.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ListForwards {
    Table,
    SiteId,
    Provider,
    KeySealed,
    KeyLast4,
    ApiUrl,
    ListId,
    ListName,
    DoubleOptIn,
    CreatedAt,
    UpdatedAt,
    PausedUntil,
    StoppedAt,
    StoppedError,
    StoppedNotifiedAt,
}

#[derive(DeriveIden)]
enum Hooks {
    Table,
    Id,
    AccountId,
    Event,
    TargetUrl,
    Secret,
    CreatedAt,
    LastAttemptAt,
    LastStatus,
    LastError,
}

#[derive(DeriveIden)]
enum HookDeliveries {
    Table,
    Id,
    HookId,
    LeadId,
    Payload,
    CreatedAt,
    Attempts,
    NextAt,
    FirstFailedAt,
}

#[derive(DeriveIden)]
enum Sites {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Leads {
    Table,
    Id,
    ListDone,
    ListAttempts,
    ListNextAt,
    ListFirstFailedAt,
    HooksFanned,
}

#[derive(DeriveIden)]
enum LeadDeliveries {
    Table,
    Forward,
}

fn lead_columns() -> [ColumnDef; 5] {
    [
        ColumnDef::new(Leads::ListDone)
            .boolean()
            .not_null()
            .default(false)
            .to_owned(),
        ColumnDef::new(Leads::ListAttempts)
            .integer()
            .not_null()
            .default(0)
            .to_owned(),
        at(Leads::ListNextAt).null().to_owned(),
        at(Leads::ListFirstFailedAt).null().to_owned(),
        ColumnDef::new(Leads::HooksFanned)
            .boolean()
            .not_null()
            .default(false)
            .to_owned(),
    ]
}

fn at(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in lead_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Leads::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(LeadDeliveries::Table)
                    .add_column(
                        ColumnDef::new(LeadDeliveries::Forward)
                            .string()
                            .not_null()
                            .default("webhook"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ListForwards::Table)
                    .col(
                        ColumnDef::new(ListForwards::SiteId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ListForwards::Provider).string().not_null())
                    .col(ColumnDef::new(ListForwards::KeySealed).text().not_null())
                    .col(ColumnDef::new(ListForwards::KeyLast4).string().not_null())
                    .col(ColumnDef::new(ListForwards::ApiUrl).text().null())
                    .col(ColumnDef::new(ListForwards::ListId).string().not_null())
                    .col(ColumnDef::new(ListForwards::ListName).text().not_null())
                    .col(
                        ColumnDef::new(ListForwards::DoubleOptIn)
                            .boolean()
                            .not_null(),
                    )
                    .col(at(ListForwards::CreatedAt).not_null())
                    .col(at(ListForwards::UpdatedAt).not_null())
                    .col(at(ListForwards::PausedUntil).null())
                    .col(at(ListForwards::StoppedAt).null())
                    .col(ColumnDef::new(ListForwards::StoppedError).text().null())
                    .col(at(ListForwards::StoppedNotifiedAt).null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ListForwards::Table, ListForwards::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Hooks::Table)
                    .col(
                        ColumnDef::new(Hooks::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Hooks::AccountId).big_integer().not_null())
                    .col(ColumnDef::new(Hooks::Event).string().not_null())
                    .col(ColumnDef::new(Hooks::TargetUrl).text().not_null())
                    .col(ColumnDef::new(Hooks::Secret).string().not_null())
                    .col(at(Hooks::CreatedAt).not_null())
                    .col(at(Hooks::LastAttemptAt).null())
                    .col(ColumnDef::new(Hooks::LastStatus).integer().null())
                    .col(ColumnDef::new(Hooks::LastError).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Hooks::Table, Hooks::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("hooks_account_event")
                    .table(Hooks::Table)
                    .col(Hooks::AccountId)
                    .col(Hooks::Event)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HookDeliveries::Table)
                    .col(
                        ColumnDef::new(HookDeliveries::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(HookDeliveries::HookId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(HookDeliveries::LeadId).big_integer().null())
                    .col(ColumnDef::new(HookDeliveries::Payload).text().null())
                    .col(at(HookDeliveries::CreatedAt).not_null())
                    .col(
                        ColumnDef::new(HookDeliveries::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(at(HookDeliveries::NextAt).not_null())
                    .col(at(HookDeliveries::FirstFailedAt).null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(HookDeliveries::Table, HookDeliveries::HookId)
                            .to(Hooks::Table, Hooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(HookDeliveries::Table, HookDeliveries::LeadId)
                            .to(Leads::Table, Leads::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("hook_deliveries_next_at", HookDeliveries::NextAt),
            ("hook_deliveries_lead", HookDeliveries::LeadId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(HookDeliveries::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            HookDeliveries::Table.into_iden(),
            Hooks::Table.into_iden(),
            ListForwards::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE lead_deliveries DROP COLUMN forward")
            .await?;
        for column in [
            "list_done",
            "list_attempts",
            "list_next_at",
            "list_first_failed_at",
            "hooks_fanned",
        ] {
            db.execute_unprepared(&format!("ALTER TABLE leads DROP COLUMN {column}"))
                .await?;
        }
        Ok(())
    }
}
