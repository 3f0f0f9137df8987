//! Every periodic task of barkeep, in one table: name, period, who runs it, what it does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::alerts::Alerts;
use crate::allocation::Allocator;
use crate::billing::Billing;
use crate::clock::Clock;
use crate::db::Db;
use crate::digest::Digest;
use crate::hooks::Hooks;
use crate::ingest::Ingest;
use crate::jobs::{Job, Work, work};
use crate::leads::Leads;
use crate::mail::{MailWorker, Mailer};
use crate::privacy::Privacy;
use crate::reporting::benchmarks::Benchmarks;
use crate::scripts::Live;
use crate::teams::Teams;

pub struct Parts {
    pub db: Db,
    pub clock: Clock,
    pub live: Arc<Live>,
    pub ingest: Arc<Ingest>,
    pub mailer: Mailer,
    pub mail: Arc<MailWorker>,
    pub billing: Billing,
    pub alerts: Alerts,
    pub digest: Digest,
    pub benchmarks: Benchmarks,
    pub leads: Leads,
    pub hooks: Hooks,
    pub privacy: Privacy,
    pub teams: Teams,
    pub allocator: Allocator,
}

/// Every job, in the order they are listed.
pub fn table(p: &Parts) -> Vec<Job> {
    [
        counting_jobs(p),
        mail_jobs(p),
        benchmark_jobs(p),
        billing_jobs(p),
        lead_jobs(p),
        retention_jobs(p),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A job's work: `run` with its own clone of `subject`, each time the job runs.
fn run_on<T, Fut>(subject: &T, run: fn(T) -> Fut) -> Work
where
    T: Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let subject = subject.clone();
    work(move || run(subject.clone()))
}

/// What every process does for the bar script: sites, counting, memory.
fn counting_jobs(p: &Parts) -> Vec<Job> {
    let with_db = (p.ingest.clone(), p.db.clone());
    vec![
        Job::each_process(
            "site_sync",
            "picks up sites, bars and hostnames other processes changed",
            Duration::from_secs(1),
            run_on(&p.live, |live| async move { live.sync().await }),
        ),
        Job::each_process(
            "event_writer",
            "adds the events counted in memory to the database",
            Duration::from_secs(1),
            run_on(&with_db, |(ingest, db)| async move {
                ingest.write_counted(&db).await
            }),
        )
        .woken_by(p.ingest.wake_signal()),
        Job::each_process(
            "ingest_maintenance",
            "loads the daily salts, forgets ended deployments and quiet clients",
            Duration::from_secs(30),
            run_on(&with_db, |(ingest, db)| async move {
                ingest.maintain(&db).await
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
    ]
}

fn mail_jobs(p: &Parts) -> Vec<Job> {
    vec![
        Job::each_process(
            "mail",
            "sends the email that is due from the outbox (each row is leased, so never twice)",
            p.mail.settings.poll,
            run_on(
                &p.mail,
                |mail| async move { mail.send_due().await.map(|_| ()) },
            ),
        )
        .woken_by(p.mailer.wake_signal()),
        Job::once(
            "alert_fanout",
            "queues the emails of alerts being sent, a batch at a time from a checkpoint",
            Duration::from_secs(5),
            run_on(&p.alerts, |alerts| async move { alerts.fan_out().await }),
        )
        .woken_by(p.alerts.wake_signal()),
        Job::once(
            "weekly_digest",
            "from Monday 08:00 UTC, emails last week's views, clicks, CTR and best bar to members on the digest list",
            Duration::from_secs(600),
            run_on(&p.digest, |digest| async move { digest.send_due().await }),
        ),
    ]
}

fn benchmark_jobs(p: &Parts) -> Vec<Job> {
    vec![
        Job::once(
            "benchmarks",
            "computes the industry benchmarks over the rolling window into a dated snapshot",
            Duration::from_secs(24 * 3600),
            run_on(&p.benchmarks, |benchmarks| async move {
                benchmarks.compute().await.map(|_| ())
            }),
        ),
        Job::once(
            "allocation",
            "shares new visitors of bars that optimise among their variants (Thompson sampling on click-through)",
            Duration::from_secs(3600),
            run_on(
                &p.allocator,
                |allocator| async move { allocator.run().await },
            ),
        ),
    ]
}

fn billing_jobs(p: &Parts) -> Vec<Job> {
    vec![
        Job::once(
            "stripe_events",
            "processes again the Stripe webhook events that failed, with growing pauses",
            Duration::from_secs(60),
            run_on(
                &p.billing,
                |billing| async move { billing.retry_events().await },
            ),
        ),
        Job::once(
            "plan_usage",
            "emails at 80 % and 100 % of a plan's monthly views; stops or resumes the bars of plans that stop at the limit",
            Duration::from_secs(60),
            run_on(
                &p.billing,
                |billing| async move { billing.check_usage().await },
            ),
        ),
    ]
}

fn lead_jobs(p: &Parts) -> Vec<Job> {
    vec![
        Job::once(
            "lead_delivery",
            "forwards due leads by email (one per bar every 10 minutes, kept until it is sent) and to webhooks (a few per site in turn, four at a time per host), retrying; deletes what was delivered",
            Duration::from_secs(5),
            run_on(&p.leads, |leads| async move { leads.deliver().await }),
        ),
        Job::once(
            "hook_delivery",
            "queues new leads for their account's REST hooks and posts due events (a few per account in turn), retrying for a day; a 410 unsubscribes",
            Duration::from_secs(5),
            run_on(&p.hooks, |hooks| async move { hooks.deliver().await }),
        ),
        Job::once(
            "purge_leads",
            "deletes leads kept past the number of days their member chose, and leads with no forward once that many days old",
            Duration::from_secs(3600),
            run_on(&p.leads, |leads| async move { leads.purge().await }),
        ),
    ]
}

/// What is deleted once past its retention period, hourly.
fn retention_jobs(p: &Parts) -> Vec<Job> {
    let hourly = |name, about, work| Job::once(name, about, Duration::from_secs(3600), work);
    let counting = (p.clock.clone(), p.db.clone());
    vec![
        hourly(
            "purge_sessions",
            "deletes sessions and single-use email links past their expiry",
            run_on(&p.privacy, |privacy| async move {
                privacy.purge_sessions().await
            }),
        ),
        hourly(
            "purge_audit",
            "deletes audit-log entries older than 365 days",
            run_on(&p.teams, |teams| async move { teams.purge_audit().await }),
        ),
        hourly(
            "purge_login_attempts",
            "deletes login attempts older than 90 days",
            run_on(&p.privacy, |privacy| async move {
                privacy.purge_login_attempts().await
            }),
        ),
        hourly(
            "purge_email_bodies",
            "blanks the bodies of emails older than 30 days (who, what and when stay)",
            run_on(&p.privacy, |privacy| async move {
                privacy.purge_email_bodies().await
            }),
        ),
        hourly(
            "purge_lead_deliveries",
            "deletes lead webhook delivery records older than 30 days",
            run_on(&p.privacy, |privacy| async move {
                privacy.purge_lead_deliveries().await
            }),
        ),
        hourly(
            "purge_counting_state",
            "deletes daily salts, visitor hashes and batch ids older than two days",
            run_on(&counting, |(clock, db)| async move {
                Ok(crate::ingest::purge(&db, clock.now()).await?)
            }),
        ),
    ]
}
