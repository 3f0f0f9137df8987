//! Every periodic task of barkeep, in one table: name, period, who runs it, what it does.

use std::sync::Arc;
use std::time::Duration;

use crate::alerts::Alerts;
use crate::billing::Billing;
use crate::clock::Clock;
use crate::db::Db;
use crate::scripts::Delivery;
use crate::digest::Digest;
use crate::ingest::Ingest;
use crate::jobs::{Job, work};
use crate::leads::Leads;
use crate::mail::{MailWorker, Mailer};
use crate::privacy::Privacy;
use crate::reporting::benchmarks::Benchmarks;

pub struct Parts {
    pub db: Db,
    pub clock: Clock,
    pub delivery: Arc<Delivery>,
    pub ingest: Arc<Ingest>,
    pub mailer: Mailer,
    pub mail: Arc<MailWorker>,
    pub billing: Billing,
    pub alerts: Alerts,
    pub digest: Digest,
    pub benchmarks: Benchmarks,
    pub leads: Leads,
    pub privacy: Privacy,
}

pub fn table(p: &Parts) -> Vec<Job> {
    let Parts {
        db,
        clock,
        delivery,
        ingest,
        mailer,
        mail,
        billing,
        alerts,
        digest,
        benchmarks,
        leads,
        privacy,
    } = p;
    vec![
        Job::each_process(
            "site_sync",
            "picks up sites, bars and hostnames other processes changed",
            Duration::from_secs(1),
            work({
                let delivery = delivery.clone();
                move || {
                    let delivery = delivery.clone();
                    async move { delivery.sync().await }
                }
            }),
        ),
        Job::each_process(
            "event_writer",
            "adds the events counted in memory to the database",
            Duration::from_secs(1),
            work({
                let (ingest, db) = (ingest.clone(), db.clone());
                move || {
                    let (ingest, db) = (ingest.clone(), db.clone());
                    async move { ingest.write_counted(&db).await }
                }
            }),
        )
        .woken_by(ingest.wake_signal()),
        Job::each_process(
            "ingest_maintenance",
            "loads the daily salts, forgets ended deployments and quiet clients",
            Duration::from_secs(30),
            work({
                let (ingest, db) = (ingest.clone(), db.clone());
                move || {
                    let (ingest, db) = (ingest.clone(), db.clone());
                    async move { ingest.maintain(&db).await }
                }
            }),
        ),
        Job::each_process(
            "return_memory",
            "gives memory freed after bursts of work (publishes, floods) back to the system",
            Duration::from_secs(10),
            work(|| async {
                tokio::task::spawn_blocking(super::memory::release).await?;
                Ok(())
            }),
        ),
        Job::each_process(
            "mail",
            "sends the email that is due from the outbox (each row is leased, so never twice)",
            mail.settings.poll,
            work({
                let mail = mail.clone();
                move || {
                    let mail = mail.clone();
                    async move { mail.send_due().await.map(|_| ()) }
                }
            }),
        )
        .woken_by(mailer.wake_signal()),
        Job::once(
            "alert_fanout",
            "queues the emails of alerts being sent, a batch at a time from a checkpoint",
            Duration::from_secs(5),
            work({
                let alerts = alerts.clone();
                move || {
                    let alerts = alerts.clone();
                    async move { alerts.fan_out().await }
                }
            }),
        )
        .woken_by(alerts.wake_signal()),
        Job::once(
            "weekly_digest",
            "from Monday 08:00 UTC, emails last week's views, clicks, CTR and best bar to members on the digest list",
            Duration::from_secs(600),
            work({
                let digest = digest.clone();
                move || {
                    let digest = digest.clone();
                    async move { digest.send_due().await }
                }
            }),
        ),
        Job::once(
            "benchmarks",
            "computes the industry benchmarks over the rolling window into a dated snapshot",
            Duration::from_secs(24 * 3600),
            work({
                let benchmarks = benchmarks.clone();
                move || {
                    let benchmarks = benchmarks.clone();
                    async move { benchmarks.compute().await.map(|_| ()) }
                }
            }),
        ),
        Job::once(
            "stripe_events",
            "processes again the Stripe webhook events that failed, with growing pauses",
            Duration::from_secs(60),
            work({
                let billing = billing.clone();
                move || {
                    let billing = billing.clone();
                    async move { billing.retry_events().await }
                }
            }),
        ),
        Job::once(
            "plan_usage",
            "emails at 80 % and 100 % of a plan's monthly views; stops or resumes the bars of plans that stop at the limit",
            Duration::from_secs(60),
            work({
                let billing = billing.clone();
                move || {
                    let billing = billing.clone();
                    async move { billing.check_usage().await }
                }
            }),
        ),
        Job::once(
            "lead_delivery",
            "forwards due leads by email (one per bar every 10 minutes, kept until it is sent) and to webhooks (a few per site in turn, four at a time per host), retrying; deletes what was delivered",
            Duration::from_secs(5),
            work({
                let leads = leads.clone();
                move || {
                    let leads = leads.clone();
                    async move { leads.deliver().await }
                }
            }),
        ),
        Job::once(
            "purge_leads",
            "deletes leads kept past the number of days their member chose, and leads with no forward once that many days old",
            Duration::from_secs(3600),
            work({
                let leads = leads.clone();
                move || {
                    let leads = leads.clone();
                    async move { leads.purge().await }
                }
            }),
        ),
        Job::once(
            "purge_sessions",
            "deletes sessions and single-use email links past their expiry",
            Duration::from_secs(3600),
            work({
                let privacy = privacy.clone();
                move || {
                    let privacy = privacy.clone();
                    async move { privacy.purge_sessions().await }
                }
            }),
        ),
        Job::once(
            "purge_login_attempts",
            "deletes login attempts older than 90 days",
            Duration::from_secs(3600),
            work({
                let privacy = privacy.clone();
                move || {
                    let privacy = privacy.clone();
                    async move { privacy.purge_login_attempts().await }
                }
            }),
        ),
        Job::once(
            "purge_email_bodies",
            "blanks the bodies of emails older than 30 days (who, what and when stay)",
            Duration::from_secs(3600),
            work({
                let privacy = privacy.clone();
                move || {
                    let privacy = privacy.clone();
                    async move { privacy.purge_email_bodies().await }
                }
            }),
        ),
        Job::once(
            "purge_lead_deliveries",
            "deletes lead webhook delivery records older than 30 days",
            Duration::from_secs(3600),
            work({
                let privacy = privacy.clone();
                move || {
                    let privacy = privacy.clone();
                    async move { privacy.purge_lead_deliveries().await }
                }
            }),
        ),
        Job::once(
            "purge_counting_state",
            "deletes daily salts, visitor hashes and batch ids older than two days",
            Duration::from_secs(3600),
            work({
                let (clock, db) = (clock.clone(), db.clone());
                move || {
                    let (clock, db) = (clock.clone(), db.clone());
                    async move { Ok(crate::ingest::purge(&db, clock.now()).await?) }
                }
            }),
        ),
    ]
}
