//! A lead's email forward points at the outbox row that carries it, so the lead stays
//! until that email has really gone (and waits again if it is given up). Login attempts
//! record the client's address block (an IPv6 /64, or the IPv4 address) that throttling
//! counts by.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Leads::Table)
                    .add_column(big_integer_null(Leads::EmailOutboxId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("leads_email_outbox_id")
                    .table(Leads::Table)
                    .col(Leads::EmailOutboxId)
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(LoginAttempts::Table)
                    .add_column(string(LoginAttempts::IpBlock).default(""))
                    .to_owned(),
            )
            .await?;
        // Earlier attempts count by their address; IPv6 ones age out of the 15-minute
        // window within minutes of the upgrade.
        manager
            .exec_stmt(
                Query::update()
                    .table(LoginAttempts::Table)
                    .value(LoginAttempts::IpBlock, Expr::col(LoginAttempts::Ip))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("login_attempts_ip_block_created_at")
                    .table(LoginAttempts::Table)
                    .col(LoginAttempts::IpBlock)
                    .col(LoginAttempts::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("login_attempts_ip_block_created_at")
                    .table(LoginAttempts::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LoginAttempts::Table)
                    .drop_column(LoginAttempts::IpBlock)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("leads_email_outbox_id")
                    .table(Leads::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Leads::Table)
                    .drop_column(Leads::EmailOutboxId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Leads {
    Table,
    EmailOutboxId,
}

#[derive(DeriveIden)]
enum LoginAttempts {
    Table,
    Ip,
    IpBlock,
    CreatedAt,
}
