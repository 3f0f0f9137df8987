//! The job table: a job that must run once across processes runs once per period however
//! many processes share the database, and each process's own jobs run in each.

use barkeep::jobs::Ran;
use sea_orm::EntityTrait;

use barkeep::db::entities::job_lease;

use crate::helpers::{Options, TestApp};

async fn runs(app: &TestApp, job: &str) -> i64 {
    job_lease::Entity::find_by_id(job.to_string())
        .one(&app.db)
        .await
        .unwrap()
        .map_or(0, |row| row.runs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_run_a_once_job_once_per_period() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_with(Options::default().sharing(&a)).await;
    let job = "purge_counting_state";
    for period in 1..=3 {
        // Both processes ask at the same moment, twice each.
        let (x, y) = futures_util::future::join(a.run_job(job), b.run_job(job)).await;
        let (z, w) = futures_util::future::join(b.run_job(job), a.run_job(job)).await;
        let ran = [x, y, z, w].iter().filter(|r| **r == Ran::Yes).count();
        assert_eq!(ran, 1, "period {period}: ran {ran} times");
        assert_eq!(runs(&a, job).await, period);
        // Not due again within the period...
        a.advance(chrono::Duration::minutes(59));
        assert_eq!(a.run_job(job).await, Ran::NotNow);
        assert_eq!(b.run_job(job).await, Ran::NotNow);
        // ...and due once it has passed.
        a.advance(chrono::Duration::minutes(2));
    }
    let row = job_lease::Entity::find_by_id(job.to_string())
        .one(&a.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.last_ok, Some(true));
    assert!(
        row.leased_until.is_none(),
        "the lease is let go after each run"
    );
}

#[tokio::test]
async fn an_operator_can_run_a_once_job_before_it_is_due() {
    let app = TestApp::spawn().await;
    let job = "purge_counting_state";
    assert_eq!(app.run_job(job).await, Ran::Yes);
    assert_eq!(app.run_job(job).await, Ran::NotNow);
    assert_eq!(app.state.jobs.run_now(job).await.unwrap(), Ran::Yes);
    assert_eq!(runs(&app, job).await, 2);
    assert!(app.state.jobs.run_due("no_such_job").await.is_err());
}

#[tokio::test]
async fn every_job_is_measured_under_its_name() {
    let app = TestApp::spawn().await;
    for job in [
        "site_sync",
        "event_writer",
        "ingest_maintenance",
        "mail",
        "purge_counting_state",
    ] {
        app.run_job(job).await;
        let ok = app
            .metric(&format!(
                r#"barkeep_job_runs_total{{job="{job}",outcome="ok"}}"#
            ))
            .await;
        assert!(ok >= 1.0, "{job}");
    }
}
