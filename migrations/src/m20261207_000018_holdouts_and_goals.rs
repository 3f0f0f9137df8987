//! A bar may hold a share of its visitors out (they see nothing and are counted), and a
//! site names goals (a page reached later in the visit, or a call from the page). Per
//! deployment and day: visits that saw the bar or were held out, and the goals those
//! visits reached with the values sent. Every existing bar holds no one out.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SiteGoals {
    Table,
    Id,
    SiteId,
    Name,
    Path,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ExposureStatsDaily {
    Table,
    DeploymentId,
    Day,
    Shown,
    HeldOut,
}

#[derive(DeriveIden)]
enum GoalStatsDaily {
    Table,
    DeploymentId,
    GoalId,
    Day,
    Shown,
    HeldOut,
    ShownValue,
    HeldOutValue,
}

#[derive(DeriveIden)]
enum Sites {
    Table,
    Id,
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
            .execute_unprepared("ALTER TABLE bars ADD COLUMN holdout integer NOT NULL DEFAULT 0")
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SiteGoals::Table)
                    .col(
                        ColumnDef::new(SiteGoals::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SiteGoals::SiteId).big_integer().not_null())
                    .col(ColumnDef::new(SiteGoals::Name).text().not_null())
                    .col(ColumnDef::new(SiteGoals::Path).text().null())
                    .col(
                        ColumnDef::new(SiteGoals::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SiteGoals::Table, SiteGoals::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("site_goals_site_name")
                    .table(SiteGoals::Table)
                    .col(SiteGoals::SiteId)
                    .col(SiteGoals::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ExposureStatsDaily::Table)
                    .col(
                        ColumnDef::new(ExposureStatsDaily::DeploymentId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExposureStatsDaily::Day)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExposureStatsDaily::Shown)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ExposureStatsDaily::HeldOut)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(ExposureStatsDaily::DeploymentId)
                            .col(ExposureStatsDaily::Day),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExposureStatsDaily::Table, ExposureStatsDaily::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let count = |c: GoalStatsDaily| {
            ColumnDef::new(c)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(GoalStatsDaily::Table)
                    .col(
                        ColumnDef::new(GoalStatsDaily::DeploymentId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(GoalStatsDaily::GoalId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(GoalStatsDaily::Day).big_integer().not_null())
                    .col(count(GoalStatsDaily::Shown))
                    .col(count(GoalStatsDaily::HeldOut))
                    .col(count(GoalStatsDaily::ShownValue))
                    .col(count(GoalStatsDaily::HeldOutValue))
                    .primary_key(
                        Index::create()
                            .col(GoalStatsDaily::DeploymentId)
                            .col(GoalStatsDaily::GoalId)
                            .col(GoalStatsDaily::Day),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(GoalStatsDaily::Table, GoalStatsDaily::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(GoalStatsDaily::Table, GoalStatsDaily::GoalId)
                            .to(SiteGoals::Table, SiteGoals::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("goal_stats_daily_goal")
                    .table(GoalStatsDaily::Table)
                    .col(GoalStatsDaily::GoalId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            GoalStatsDaily::Table.into_iden(),
            ExposureStatsDaily::Table.into_iden(),
            SiteGoals::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE bars DROP COLUMN holdout")
            .await?;
        Ok(())
    }
}
