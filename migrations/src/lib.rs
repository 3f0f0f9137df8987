//! barkeep's schema, one file per change, named by date. A migration is never edited
//! after it has landed; a later one changes what an earlier one made.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_accounts;
mod m20261122_000002_outbox;
mod m20261122_000003_bars;
mod m20261122_000004_stats;
mod m20261202_000005_jobs_and_types;
mod m20261202_000006_daily_counts;
mod m20261203_000007_billing;
mod m20261203_000008_alerts;
mod m20261203_000009_benchmarks;
mod m20261203_000010_leads_and_privacy;
mod m20261206_000011_lead_emails_and_ip_blocks;
mod m20261206_000012_stripe_event_owners;
mod m20261206_000013_hashed_suppressions;
mod m20261206_000014_login_devices;
mod m20261207_000015_accounts_and_people;
mod m20261207_000016_element_types;
mod m20261207_000017_allocation;
mod m20261207_000018_holdouts_and_goals;
mod m20261208_000019_list_forwards_and_hooks;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_accounts::Migration),
            Box::new(m20261122_000002_outbox::Migration),
            Box::new(m20261122_000003_bars::Migration),
            Box::new(m20261122_000004_stats::Migration),
            Box::new(m20261202_000005_jobs_and_types::Migration),
            Box::new(m20261202_000006_daily_counts::Migration),
            Box::new(m20261203_000007_billing::Migration),
            Box::new(m20261203_000008_alerts::Migration),
            Box::new(m20261203_000009_benchmarks::Migration),
            Box::new(m20261203_000010_leads_and_privacy::Migration),
            Box::new(m20261206_000011_lead_emails_and_ip_blocks::Migration),
            Box::new(m20261206_000012_stripe_event_owners::Migration),
            Box::new(m20261206_000013_hashed_suppressions::Migration),
            Box::new(m20261206_000014_login_devices::Migration),
            Box::new(m20261207_000015_accounts_and_people::Migration),
            Box::new(m20261207_000016_element_types::Migration),
            Box::new(m20261207_000017_allocation::Migration),
            Box::new(m20261207_000018_holdouts_and_goals::Migration),
            Box::new(m20261208_000019_list_forwards_and_hooks::Migration),
        ]
    }
}
