//! Table and column names of the counting tables, which have no entity (their rows are
//! only ever written by additive upserts and read by aggregates); hand-built statements
//! on tables that have one use the entity's own names.

use sea_orm::DeriveIden;

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum DeploymentStats {
    Table,
    DeploymentId,
    Hour,
    Views,
    UniqueVisitors,
    Clicks,
    Dismissals,
    Leads,
}

impl DeploymentStats {
    /// Every column of a row, key first, in the order of [`crate::domain::Counts`].
    pub(crate) const ROW: [DeploymentStats; 7] = [
        DeploymentStats::DeploymentId,
        DeploymentStats::Hour,
        DeploymentStats::Views,
        DeploymentStats::UniqueVisitors,
        DeploymentStats::Clicks,
        DeploymentStats::Dismissals,
        DeploymentStats::Leads,
    ];
}

/// The same counts summed by UTC day (`day` is the day's first second).
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum DailyStats {
    #[sea_orm(iden = "deployment_stats_daily")]
    Table,
    DeploymentId,
    Day,
    Views,
    UniqueVisitors,
    Clicks,
    Dismissals,
    Leads,
}

impl DailyStats {
    pub(crate) const ROW: [DailyStats; 7] = [
        DailyStats::DeploymentId,
        DailyStats::Day,
        DailyStats::Views,
        DailyStats::UniqueVisitors,
        DailyStats::Clicks,
        DailyStats::Dismissals,
        DailyStats::Leads,
    ];
}

/// Per deployment and UTC day: visits in which its bar was shown, or (on the bar's first
/// deployment) held out, once each per visit.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum ExposureStatsDaily {
    Table,
    DeploymentId,
    Day,
    Shown,
    HeldOut,
}

/// Per deployment, site goal and UTC day: visits of either arm that reached the goal, and
/// the values they sent (in hundredths).
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum GoalStatsDaily {
    Table,
    DeploymentId,
    GoalId,
    Day,
    Shown,
    HeldOut,
    ShownValue,
    HeldOutValue,
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum VisitorHashes {
    Table,
    DeploymentId,
    Day,
    Hash,
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum DailySalts {
    Table,
    Day,
    Salt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum IngestBatches {
    Table,
    Id,
    CreatedAt,
}
