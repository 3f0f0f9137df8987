//! Three nodes on one PostgreSQL behind HAProxy, briefly (`make bench` runs it longer):
//! a database restart and a node's SIGTERM lose nothing; a node killed outright loses
//! at most what it held since its last write; mail, lead delivery and the benchmarks
//! happen once each all the same. The test starts its own PostgreSQL and HAProxy, so it
//! runs once, in the SQLite pass.

use std::time::Duration;

use crate::helpers::POSTGRES;
use crate::processes::cluster::{Plan, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_haproxy_survive_restarts_and_a_kill() {
    if POSTGRES.is_some() {
        println!("runs in the SQLite pass: it brings its own PostgreSQL");
        return;
    }
    let report = run(
        env!("CARGO_BIN_EXE_barkeep"),
        Plan {
            settle: Duration::from_secs(2),
            outage: Duration::from_secs(3),
            visitors: 16,
            pause: Duration::from_millis(20),
            leads: 6,
        },
    )
    .await;
    println!("{report:#?}");
    for (what, o) in [
        ("PostgreSQL restart", &report.database_restart),
        ("node SIGTERM", &report.node_restart),
    ] {
        assert!(o.acknowledged > 50, "{what}: a real load ({o:?})");
        assert_eq!(o.acknowledged, o.stored, "{what}: answered 204 = stored");
    }
    let killed = &report.node_killed;
    assert!(killed.acknowledged > 50, "{killed:?}");
    let lost = killed.acknowledged - killed.stored;
    assert!(lost >= 0, "nothing is counted twice: {killed:?}");
    assert!(
        lost as u64 <= report.killed_node_recent,
        "lost {lost}, more than the {} the killed node acknowledged since its last write",
        report.killed_node_recent
    );
    let (want, got) = &report.confirmations;
    assert_eq!(got.len(), *want, "every member got a confirmation: {got:?}");
    assert!(got.values().all(|n| *n == 1), "none twice: {got:?}");
    let (leads, posts) = &report.leads;
    assert_eq!(
        posts.len(),
        *leads,
        "every lead reached the webhook: {posts:?}"
    );
    assert!(posts.values().all(|n| *n == 1), "none twice: {posts:?}");
    assert!(report.lead_emails.0 >= 1);
    assert_eq!(
        report.lead_emails.0 as usize, report.lead_emails.1,
        "each lead email once"
    );
    assert_eq!(report.benchmark_runs, 1, "the daily benchmarks ran once");
}
