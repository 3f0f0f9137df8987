//! A login attempt records the device it came from, when the browser showed a device
//! cookie of the account it tried: such a browser's failures count against it alone, so
//! strangers' failures elsewhere cannot lock the owner out of a browser they use.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(LoginAttempts::Table)
                    .add_column(string_null(LoginAttempts::Device))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(LoginAttempts::Table)
                    .drop_column(LoginAttempts::Device)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum LoginAttempts {
    Table,
    Device,
}
