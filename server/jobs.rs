//! Running periodic work. Each [`Job`] has a name, a period and a function, and is either
//! run by every process (keeping its own memory in step: site sync, the event writer) or
//! once per period across all processes sharing the database (purges, computations,
//! fan-outs): such a job first takes a lease in the `job_leases` table, and of several
//! processes asking at once exactly one gets it. Every run is logged and measured the
//! same way. The table of barkeep's jobs is `app::schedule`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::db::{Db, jobs as leases};

/// Who runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every process, on its own timer.
    EachProcess,
    /// One process per period, whichever takes the lease.
    Once,
}

pub type Work = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Wraps an async function as a job's work.
pub fn work<F, Fut>(f: F) -> Work
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

pub struct Job {
    pub name: &'static str,
    /// One run at a time in a process: asking while it runs waits for that run to end.
    running: tokio::sync::Mutex<()>,
    pub about: &'static str,
    pub every: Duration,
    pub scope: Scope,
    /// How long a once-job is held without word from its runner. A run renews it every
    /// third of it for as long as it lasts; a process that dies mid-run holds the job
    /// until it runs out.
    pub lease: Duration,
    wake: Option<Arc<Notify>>,
    work: Work,
}

impl Job {
    pub fn each_process(
        name: &'static str,
        about: &'static str,
        every: Duration,
        work: Work,
    ) -> Job {
        Job {
            name,
            running: tokio::sync::Mutex::new(()),
            about,
            every,
            scope: Scope::EachProcess,
            lease: Duration::ZERO,
            wake: None,
            work,
        }
    }

    pub fn once(name: &'static str, about: &'static str, every: Duration, work: Work) -> Job {
        Job {
            name,
            running: tokio::sync::Mutex::new(()),
            about,
            every,
            scope: Scope::Once,
            lease: Duration::from_secs(60),
            wake: None,
            work,
        }
    }

    /// Runs the job early whenever `signal` fires (new mail queued, a full buffer).
    pub fn woken_by(mut self, signal: Arc<Notify>) -> Job {
        self.wake = Some(signal);
        self
    }

    pub fn lease(mut self, lease: Duration) -> Job {
        self.lease = lease;
        self
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    job: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job: &'static str,
}

type Histograms = Family<JobLabel, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 1 ms to about 9 minutes.
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

/// Whether a job ran when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    Yes,
    /// Another process holds it, or it is not due yet.
    NotNow,
}

/// A job as the operator's status page shows it.
pub struct JobStatus {
    pub name: &'static str,
    pub about: &'static str,
    pub every_seconds: u64,
    /// Runs once across all processes (else in each process).
    pub once: bool,
    pub lease: Option<crate::db::entities::job_lease::Model>,
}

pub struct Jobs {
    db: Db,
    clock: Clock,
    /// This process's name in the lease table.
    holder: String,
    jobs: Vec<Job>,
    /// How often a process asks whether a once-job is due; `None` runs once-jobs only
    /// when asked ([`Jobs::run_due`]).
    once_poll: Option<Duration>,
    runs: Family<RunLabels, Counter>,
    seconds: Histograms,
    /// Per job: since when it has been failing, and when that was last logged.
    failing: Mutex<Vec<(&'static str, Instant, Instant)>>,
}

impl Jobs {
    pub fn new(
        db: Db,
        clock: Clock,
        jobs: Vec<Job>,
        once_poll: Option<Duration>,
        registry: &mut Registry,
    ) -> Jobs {
        let runs = Family::<RunLabels, Counter>::default();
        let seconds: Histograms = Family::new_with_constructor(duration_histogram);
        registry.register(
            "job_runs",
            "Runs of periodic jobs, by outcome",
            runs.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Time one run of a periodic job took",
            seconds.clone(),
        );
        Jobs {
            db,
            clock,
            holder: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            jobs,
            once_poll,
            runs,
            seconds,
            failing: Mutex::new(Vec::new()),
        }
    }

    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// Every job with what the lease table says of its runs (jobs of every process keep
    /// no row: each process runs them on its own).
    pub async fn status(&self) -> anyhow::Result<Vec<JobStatus>> {
        let mut rows = leases::all(&self.db).await?;
        Ok(self
            .jobs
            .iter()
            .map(|j| JobStatus {
                name: j.name,
                about: j.about,
                every_seconds: j.every.as_secs(),
                once: j.scope == Scope::Once,
                lease: rows
                    .iter()
                    .position(|r| r.name == j.name)
                    .map(|i| rows.swap_remove(i)),
            })
            .collect())
    }

    fn find(&self, name: &str) -> anyhow::Result<&Job> {
        self.jobs
            .iter()
            .find(|j| j.name == name)
            .ok_or_else(|| anyhow::anyhow!("there is no job named {name}"))
    }

    /// Starts one task per job; they stop when `stop` is cancelled.
    pub fn spawn(self: &Arc<Self>, stop: CancellationToken) -> Vec<JoinHandle<()>> {
        (0..self.jobs.len())
            .filter(|i| self.jobs[*i].scope == Scope::EachProcess || self.once_poll.is_some())
            .map(|i| {
                let jobs = self.clone();
                let stop = stop.clone();
                tokio::spawn(async move { jobs.run_forever(i, stop).await })
            })
            .collect()
    }

    async fn run_forever(&self, index: usize, stop: CancellationToken) {
        let job = &self.jobs[index];
        let pause = match job.scope {
            Scope::EachProcess => job.every,
            Scope::Once => job.every.min(self.once_poll.unwrap_or(job.every)),
        };
        let never = Arc::new(Notify::new());
        let wake = job.wake.clone().unwrap_or(never);
        let mut woken = false;
        loop {
            let result = match job.scope {
                Scope::EachProcess => self.run(job).await.map(|()| Ran::Yes),
                // Woken (an alert to send): now, unless another process is at it.
                Scope::Once => self.claim_and_run(job, woken).await,
            };
            if let Err(err) = result {
                tracing::error!(
                    job = job.name,
                    error = format!("{err:#}"),
                    "job could not run"
                );
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = wake.notified() => woken = true,
                _ = tokio::time::sleep(pause) => woken = false,
            }
        }
    }

    /// Runs the job now if it is due: a job of every process always is; a once-job if its
    /// period has passed and no other process holds it. Tests and operators call this.
    pub async fn run_due(&self, name: &str) -> anyhow::Result<Ran> {
        let job = self.find(name)?;
        match job.scope {
            Scope::EachProcess => self.run(job).await.map(|()| Ran::Yes),
            Scope::Once => self.claim_and_run(job, false).await,
        }
    }

    /// Runs a once-job now even if it is not due (an operator asked), unless another
    /// process is running it.
    pub async fn run_now(&self, name: &str) -> anyhow::Result<Ran> {
        let job = self.find(name)?;
        match job.scope {
            Scope::EachProcess => self.run(job).await.map(|()| Ran::Yes),
            Scope::Once => self.claim_and_run(job, true).await,
        }
    }

    async fn claim_and_run(&self, job: &Job, force: bool) -> anyhow::Result<Ran> {
        let now = self.clock.now();
        let every = chrono::Duration::from_std(job.every)?;
        let lease = chrono::Duration::from_std(job.lease)?;
        // Lease writes are transactions of their own: on SQLite they take their turn with
        // this process's other writers rather than poll for the lock.
        let txn = crate::db::begin(&self.db).await?;
        leases::ensure(&txn, job.name, now).await?;
        let claimed = leases::claim(&txn, job.name, &self.holder, now, every, lease, force).await?;
        txn.commit().await?;
        if !claimed {
            return Ok(Ran::NotNow);
        }
        // The lease is renewed while the run lasts, so a long run is never taken up by
        // a second process; a run that loses its lease (the database was away longer
        // than the lease) stops rather than run beside another.
        let result = tokio::select! {
            result = self.run(job) => result,
            () = self.renew_while_running(job, lease) => {
                tracing::error!(job = job.name, "lost the lease while running; this run stopped");
                Err(anyhow::anyhow!("the lease was lost during the run"))
            }
        };
        let error = result.as_ref().err().map(|e| format!("{e:#}"));
        // A failed run is tried again within a minute rather than a period later.
        let retry = error
            .as_ref()
            .map(|_| chrono::Duration::from_std(job.every.min(Duration::from_secs(60))))
            .transpose()?;
        let txn = crate::db::begin(&self.db).await?;
        leases::finish(
            &txn,
            job.name,
            &self.holder,
            self.clock.now(),
            error.as_deref(),
            retry,
        )
        .await?;
        txn.commit().await?;
        Ok(Ran::Yes)
    }

    /// Renews a once-job's lease every third of it; returns only if the lease was lost.
    async fn renew_while_running(&self, job: &Job, lease: chrono::Duration) {
        let every = (job.lease / 3).max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            let until = self.clock.now() + lease;
            let renewed = async {
                let txn = crate::db::begin(&self.db).await?;
                let renewed = leases::renew(&txn, job.name, &self.holder, until).await?;
                txn.commit().await?;
                Ok::<_, sea_orm::DbErr>(renewed)
            };
            match renewed.await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => tracing::warn!(
                    job = job.name,
                    error = format!("{err:#}"),
                    "could not renew a job's lease; trying again"
                ),
            }
        }
    }

    /// Runs the work once, measured and logged. Repeated failures of a frequent job are
    /// logged when they start, every ten seconds while they last, and when they end.
    async fn run(&self, job: &Job) -> anyhow::Result<()> {
        let _one_at_a_time = job.running.lock().await;
        let started = Instant::now();
        // A panic in a run ends that run only: it is caught here, logged and counted
        // like a failure, and the job runs again at its next period.
        let run = std::panic::AssertUnwindSafe(async { (job.work)().await }).catch_unwind();
        let (result, outcome) = match run.await {
            Ok(Ok(())) => (Ok(()), "ok"),
            Ok(Err(err)) => (Err(err), "error"),
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                tracing::error!(job = job.name, panic = %message, "job panicked; it runs again next period");
                (Err(anyhow::anyhow!("panicked: {message}")), "panic")
            }
        };
        let elapsed = started.elapsed();
        self.seconds
            .get_or_create(&JobLabel { job: job.name })
            .observe(elapsed.as_secs_f64());
        self.runs
            .get_or_create(&RunLabels {
                job: job.name,
                outcome,
            })
            .inc();
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failing.iter().position(|(name, _, _)| *name == job.name);
        match (&result, entry) {
            (Ok(()), None) => {
                if job.scope == Scope::Once {
                    tracing::info!(
                        job = job.name,
                        elapsed_ms = elapsed.as_millis() as u64,
                        "job ran"
                    );
                } else {
                    tracing::trace!(
                        job = job.name,
                        elapsed_ms = elapsed.as_millis() as u64,
                        "job ran"
                    );
                }
            }
            (Ok(()), Some(i)) => {
                let (_, since, _) = failing.remove(i);
                tracing::info!(job = job.name, after = ?since.elapsed(), "job works again");
            }
            (Err(err), None) => {
                tracing::warn!(job = job.name, error = format!("{err:#}"), "job failed");
                failing.push((job.name, Instant::now(), Instant::now()));
            }
            (Err(err), Some(i)) => {
                if failing[i].2.elapsed() >= Duration::from_secs(10) {
                    failing[i].2 = Instant::now();
                    tracing::warn!(
                        job = job.name,
                        failing_for = ?failing[i].1.elapsed(),
                        error = format!("{err:#}"),
                        "job still failing"
                    );
                }
            }
        }
        result
    }
}

/// What a caught panic said, for the log.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use prometheus_client::encoding::text::encode;

    use super::*;

    /// A job that panics on its first run and succeeds afterwards.
    fn panics_once(calls: &Arc<AtomicUsize>) -> Work {
        let calls = calls.clone();
        work(move || {
            let calls = calls.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("made to panic");
                }
                Ok(())
            }
        })
    }

    fn metrics(registry: &Registry) -> String {
        let mut text = String::new();
        encode(&mut text, registry).unwrap();
        text
    }

    async fn database(dir: &std::path::Path) -> Db {
        let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.db").display());
        let db = sea_orm::Database::connect(url).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        db
    }

    #[tokio::test]
    async fn a_job_of_every_process_that_panics_runs_again_next_period() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let job = Job::each_process(
            "flaky",
            "panics once",
            Duration::from_millis(20),
            panics_once(&calls),
        );
        let mut registry = Registry::default();
        let db = database(dir.path()).await;
        let jobs = Arc::new(Jobs::new(
            db,
            Clock::system(),
            vec![job],
            None,
            &mut registry,
        ));
        let stop = CancellationToken::new();
        let tasks = jobs.spawn(stop.clone());
        for _ in 0..200 {
            if calls.load(Ordering::SeqCst) >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(
            calls.load(Ordering::SeqCst) >= 3,
            "the job ran again after its panic"
        );
        let text = metrics(&registry);
        assert!(
            text.contains(r#"job_runs_total{job="flaky",outcome="panic"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"job_runs_total{job="flaky",outcome="ok"}"#));
    }

    #[tokio::test]
    async fn a_once_job_keeps_its_lease_for_as_long_as_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let slow = || {
            Job::once(
                "slow",
                "runs longer than its lease",
                Duration::from_secs(3600),
                work(|| async {
                    tokio::time::sleep(Duration::from_millis(2500)).await;
                    Ok(())
                }),
            )
            .lease(Duration::from_secs(1))
        };
        let db = database(dir.path()).await;
        let mut registry = Registry::default();
        let a = Arc::new(Jobs::new(
            db.clone(),
            Clock::system(),
            vec![slow()],
            None,
            &mut registry,
        ));
        let b = Jobs::new(db, Clock::system(), vec![slow()], None, &mut registry);
        let running = tokio::spawn({
            let a = a.clone();
            async move { a.run_due("slow").await.unwrap() }
        });
        // Past the first lease's end, the run still holds the job.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert_eq!(b.run_now("slow").await.unwrap(), Ran::NotNow);
        assert_eq!(running.await.unwrap(), Ran::Yes);
        // Once it has ended, another process may run it.
        assert_eq!(b.run_now("slow").await.unwrap(), Ran::Yes);
    }

    #[tokio::test]
    async fn a_once_job_that_panics_lets_its_lease_go_and_is_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let job = Job::once(
            "flaky_once",
            "panics once",
            Duration::from_secs(3600),
            panics_once(&calls),
        );
        let clock = Clock::adjustable();
        let mut registry = Registry::default();
        let db = database(dir.path()).await;
        let jobs = Jobs::new(db.clone(), clock.clone(), vec![job], None, &mut registry);
        assert_eq!(jobs.run_due("flaky_once").await.unwrap(), Ran::Yes);
        let lease = leases::all(&db).await.unwrap().remove(0);
        assert_eq!(lease.last_ok, Some(false));
        assert!(lease.leased_until.is_none(), "the lease is let go");
        assert!(
            lease
                .last_error
                .unwrap_or_default()
                .contains("made to panic")
        );
        // A failed run is tried again within a minute, not an hour later.
        assert_eq!(jobs.run_due("flaky_once").await.unwrap(), Ran::NotNow);
        assert!(clock.advance(chrono::Duration::seconds(61)));
        assert_eq!(jobs.run_due("flaky_once").await.unwrap(), Ran::Yes);
        assert_eq!(leases::all(&db).await.unwrap()[0].last_ok, Some(true));
        let text = metrics(&registry);
        assert!(
            text.contains(r#"job_runs_total{job="flaky_once",outcome="panic"} 1"#),
            "{text}"
        );
    }
}
