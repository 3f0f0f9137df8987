//! `make bench`, the cluster case: three release nodes on a PostgreSQL of their own
//! behind HAProxy, under a steady load, through a database restart, a node's SIGTERM
//! and a node's SIGKILL (`tests/processes/cluster.rs`). Writes what each failure cost.
//! Loopback only, bounded. Appends to target/bench/results.md.

use std::time::Duration;

#[path = "../processes/mod.rs"]
mod processes;
mod support;

use processes::cluster::{Outcome, Plan, run};
use support::{append_report, machine};

fn row(what: &str, o: &Outcome) -> String {
    format!(
        "| {what} | {} | {} | {} | {} / {} |\n",
        o.acknowledged,
        o.stored,
        o.acknowledged - o.stored,
        o.refused,
        o.failed
    )
}

#[tokio::main]
async fn main() {
    let plan = Plan {
        settle: Duration::from_secs(10),
        outage: Duration::from_secs(10),
        visitors: 64,
        pause: Duration::from_millis(5),
        leads: 50,
    };
    eprintln!("bench: three nodes behind HAProxy, {plan:?}");
    let r = run(env!("CARGO_BIN_EXE_barkeep"), plan.clone()).await;
    let (confirmations, got) = &r.confirmations;
    let (leads, posts) = &r.leads;
    let report = format!(
        "\n### Three nodes behind HAProxy\n\nMachine: {}\nDate: {}\nCommand: `make bench` (tests/bench/cluster.rs: three release nodes, one PostgreSQL 15 of their own, HAProxy; {} visitors each sending an event every {} ms; {} s of load around each failure, PostgreSQL down {} s)\n\n\
| failure | events answered 204 | stored | lost | refused / failed requests |\n|---|---:|---:|---:|---:|\n{}{}{}\n\
- the killed node had acknowledged {} events in the 2.5 s before it died (the most it can have held; it writes every second); {} were lost\n\
- confirmation emails: {} expected, {} addresses got one, {} got more than one\n\
- leads: {} sent, {} reached the webhook, {} more than once; lead emails sent {} / received {}\n\
- daily benchmarks: ran {} time(s) across the three nodes\n\
- {:.0} events/s through the balancer; the whole case took {:.0} s\n",
        machine(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        plan.visitors,
        plan.pause.as_millis(),
        plan.settle.as_secs(),
        plan.outage.as_secs(),
        row("(a) PostgreSQL restarts", &r.database_restart),
        row("(b) a node gets SIGTERM and comes back", &r.node_restart),
        row("(c) a node gets SIGKILL", &r.node_killed),
        r.killed_node_recent,
        r.node_killed.acknowledged - r.node_killed.stored,
        confirmations,
        got.len(),
        got.values().filter(|n| **n > 1).count(),
        leads,
        posts.len(),
        posts.values().filter(|n| **n > 1).count(),
        r.lead_emails.0,
        r.lead_emails.1,
        r.benchmark_runs,
        r.events_per_second,
        r.duration.as_secs_f64(),
    );
    println!("{report}");
    append_report(&report);
    assert_eq!(r.database_restart.acknowledged, r.database_restart.stored);
    assert_eq!(r.node_restart.acknowledged, r.node_restart.stored);
    assert!((r.node_killed.acknowledged - r.node_killed.stored) as u64 <= r.killed_node_recent);
}
