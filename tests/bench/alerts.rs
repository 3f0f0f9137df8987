//! `make bench`, the alert case: a planned-outage alert to 10,000 members, sent from the
//! admin API of the release binary, queued by the fan-out and delivered over SMTP to a
//! local sink (aiosmtpd that keeps nothing, `tests/smtp/server.py --discard`). Reads how
//! long queueing and delivery took, and checks every member got exactly one email.
//! Loopback only. Appends to target/bench/results.md.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

mod support;

use support::{Proc, free_port};

const MEMBERS: usize = 10_000;

fn start_sink(dir: &Path) -> (Proc, u16) {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
    let sink = Proc(
        Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .arg("--discard")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (sink, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the SMTP sink did not start");
}

#[tokio::main]
async fn main() {
    // reqwest here shares barkeep's rustls build, which leaves the provider to the program.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let (_sink, smtp) = start_sink(&tmp.path().join("sink"));
    let (_server, base) = support::start_barkeep(
        tmp.path(),
        database_url.as_deref(),
        &[("BARKEEP_MAIL_URL", format!("smtp://127.0.0.1:{smtp}"))],
    );
    let url = support::database_url(tmp.path(), database_url.as_deref());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let client = reqwest::Client::new();

    // The operator signs up through the API; the members are written straight to the
    // table (10,000 argon2 hashes would be the slowest part of the bench).
    let cookie = support::session(&client, &base, "ops@example.com").await;
    db.execute_unprepared("UPDATE members SET is_operator = TRUE")
        .await
        .unwrap();
    eprintln!("bench: {MEMBERS} members");
    let now = "2026-12-01T00:00:00Z";
    for chunk in (0..MEMBERS).collect::<Vec<_>>().chunks(1000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("('member{i}@example.com', '{now}', 'x', FALSE, '{now}', '{now}')"))
            .collect();
        db.execute_unprepared(&format!(
            "INSERT INTO members (email, email_confirmed_at, password_hash, promo_opt_in, created_at, updated_at) VALUES {}",
            values.join(",")
        ))
        .await
        .unwrap();
    }
    // Let the operator's own confirmation email go first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent_before = sent(&db).await;

    let alert: Value = client
        .post(format!("{base}/api/v1/admin/alerts"))
        .header("cookie", &cookie)
        .json(&json!({
            "kind": "planned_outage",
            "audience": "all",
            "message": "We are moving to a larger database.",
            "fields": {"starts_at": "2027-01-12T01:00:00Z", "ends_at": "2027-01-12T03:00:00Z"}
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = alert["id"].as_i64().unwrap();
    eprintln!("bench: sending alert {id}");
    let started = Instant::now();
    let res = client
        .post(format!("{base}/api/v1/admin/alerts/{id}/send"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let want = (MEMBERS + 1) as i64;
    let mut queued_in = None;
    let delivered_in = loop {
        let r: Value = client
            .get(format!("{base}/api/v1/admin/alerts/{id}/report"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if queued_in.is_none() && r["alert"]["status"] == "sent" {
            queued_in = Some(started.elapsed());
        }
        if r["sent"].as_i64() == Some(want) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not delivered in 10 minutes: {r}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let queued_in = queued_in.unwrap_or(delivered_in);
    let rows = scalar(
        &db,
        &format!("SELECT COUNT(*) FROM outbox WHERE alert_id = {id}"),
    )
    .await;
    let distinct = scalar(
        &db,
        &format!("SELECT COUNT(DISTINCT member_id) FROM outbox WHERE alert_id = {id}"),
    )
    .await;
    let delivered = sent(&db).await - sent_before;

    let report = format!(
        "\n### Alert fan-out ({} database)\n\n| measure | result |\n|---|---|\n\
| members in the audience | {want} |\n\
| queued (send → every email in the outbox) | **{:.2} s** ({:.0} per second) |\n\
| delivered over SMTP to a local sink (send → every email sent) | **{:.2} s** ({:.0} per second) |\n\
| emails queued / distinct members / sent | {rows} / {distinct} / {delivered} |\n",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        queued_in.as_secs_f64(),
        want as f64 / queued_in.as_secs_f64(),
        delivered_in.as_secs_f64(),
        want as f64 / delivered_in.as_secs_f64(),
    );
    println!("{report}");
    support::append_report(&report);
    assert_eq!((rows, distinct, delivered), (want, want, want));
}

async fn scalar(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

async fn sent(db: &sea_orm::DatabaseConnection) -> i64 {
    scalar(db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await
}
