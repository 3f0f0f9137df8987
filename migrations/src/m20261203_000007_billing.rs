//! Billing: the operator role on members, the Stripe customer of each member, every
//! Stripe subscription as last read from Stripe, the plan barkeep applies to each member
//! (and whether it ran over its monthly views), every Stripe webhook event by its id,
//! and why a bar was paused when the plan, not the member, paused it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Members::Table)
                    .add_column(boolean(Members::IsOperator).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Bars::Table)
                    .add_column(text_null(Bars::PausedReason))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BillingCustomers::Table)
                    .col(big_integer(BillingCustomers::MemberId).primary_key())
                    .col(string_uniq(BillingCustomers::StripeCustomerId))
                    .col(timestamp_with_time_zone(BillingCustomers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BillingCustomers::Table, BillingCustomers::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .col(string(Subscriptions::Id).primary_key())
                    .col(big_integer(Subscriptions::MemberId))
                    .col(string(Subscriptions::StripeCustomerId))
                    .col(string_null(Subscriptions::PlanId))
                    .col(string_null(Subscriptions::PriceId))
                    .col(string_null(Subscriptions::Interval))
                    .col(string(Subscriptions::Status))
                    .col(timestamp_with_time_zone_null(
                        Subscriptions::CurrentPeriodEnd,
                    ))
                    .col(boolean(Subscriptions::CancelAtPeriodEnd).default(false))
                    .col(timestamp_with_time_zone_null(Subscriptions::TrialEnd))
                    .col(string_null(Subscriptions::CancellationReason))
                    .col(timestamp_with_time_zone(Subscriptions::StripeCreatedAt))
                    .col(timestamp_with_time_zone(Subscriptions::ReadAt))
                    .col(timestamp_with_time_zone(Subscriptions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Subscriptions::Table, Subscriptions::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_subscriptions_member")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::MemberId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BillingAccounts::Table)
                    .col(big_integer(BillingAccounts::MemberId).primary_key())
                    .col(string(BillingAccounts::PlanId))
                    .col(string_null(BillingAccounts::OverViewsMonth))
                    .col(timestamp_with_time_zone(BillingAccounts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BillingAccounts::Table, BillingAccounts::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StripeEvents::Table)
                    .col(string(StripeEvents::Id).primary_key())
                    .col(string(StripeEvents::Kind))
                    .col(timestamp_with_time_zone(StripeEvents::StripeCreatedAt))
                    .col(text(StripeEvents::Payload))
                    .col(string(StripeEvents::Status))
                    .col(integer(StripeEvents::Attempts).default(0))
                    .col(text_null(StripeEvents::LastError))
                    .col(timestamp_with_time_zone(StripeEvents::ReceivedAt))
                    .col(timestamp_with_time_zone_null(StripeEvents::ProcessedAt))
                    .col(timestamp_with_time_zone(StripeEvents::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(StripeEvents::LockedUntil))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_stripe_events_status")
                    .table(StripeEvents::Table)
                    .col(StripeEvents::Status)
                    .col(StripeEvents::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_stripe_events_received")
                    .table(StripeEvents::Table)
                    .col(StripeEvents::ReceivedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StripeEvents::Table.into_iden(),
            BillingAccounts::Table.into_iden(),
            Subscriptions::Table.into_iden(),
            BillingCustomers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Bars::Table)
                    .drop_column(Bars::PausedReason)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Members::Table)
                    .drop_column(Members::IsOperator)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Members {
    Table,
    Id,
    IsOperator,
}

#[derive(DeriveIden, Clone, Copy)]
enum Bars {
    Table,
    PausedReason,
}

#[derive(DeriveIden, Clone, Copy)]
enum BillingCustomers {
    Table,
    MemberId,
    StripeCustomerId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Subscriptions {
    Table,
    Id,
    MemberId,
    StripeCustomerId,
    PlanId,
    PriceId,
    Interval,
    Status,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    TrialEnd,
    CancellationReason,
    StripeCreatedAt,
    ReadAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum BillingAccounts {
    Table,
    MemberId,
    PlanId,
    OverViewsMonth,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StripeEvents {
    Table,
    Id,
    Kind,
    StripeCreatedAt,
    Payload,
    Status,
    Attempts,
    LastError,
    ReceivedAt,
    ProcessedAt,
    NextAttemptAt,
    LockedUntil,
}
