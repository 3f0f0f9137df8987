//! `make bench`, the alert case: a planned-outage alert to 10,000 members, sent from the
//! admin API of the release binary, queued by the fan-out and delivered over SMTP to a
//! local sink (aiosmtpd that keeps nothing, `tests/smtp/server.py --discard`). Reads how
//! long queueing and delivery took, and checks every member got exactly one email.
//! Loopback only. Appends to target/bench/results.md.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_barkeep");
const PASSWORD: &str = "correct horse battery staple";
const MEMBERS: usize = 10_000;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_sink(dir: &Path) -> (Proc, u16) {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
    let child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(port.to_string())
        .arg(dir)
        .arg("--discard")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (Proc(child), port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the SMTP sink did not start");
}

fn start(data: &Path, smtp: u16, database_url: Option<&str>) -> (Proc, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BARKEEP_DATA_DIR", data)
        .env("BARKEEP_LISTEN", "127.0.0.1:0")
        .env("BARKEEP_LOG_FORMAT", "json")
        .env("BARKEEP_LOG", "warn,barkeep::app::startup=info")
        .env("BARKEEP_MAIL_URL", format!("smtp://127.0.0.1:{smtp}"))
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = database_url {
        cmd.env("BARKEEP_DATABASE_URL", url);
    }
    let mut server = Proc(cmd.spawn().unwrap());
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "barkeep is listening" {
            let address = format!("http://{}", v["address"].as_str().unwrap());
            std::thread::spawn(move || for _ in lines {});
            return (server, address);
        }
    }
    panic!("barkeep did not start");
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
    let (_server, base) = start(tmp.path(), smtp, database_url.as_deref());
    let url = database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rw",
            tmp.path().join("barkeep.db").display()
        )
    });
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let client = reqwest::Client::new();

    // The operator signs up through the API; the members are written straight to the
    // table (10,000 argon2 hashes would be the slowest part of the bench).
    client
        .post(format!("{base}/api/v1/signup"))
        .json(&json!({"email": "ops@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    db.execute_unprepared("UPDATE members SET is_operator = TRUE")
        .await
        .unwrap();
    let res = client
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": "ops@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("results.md");
    let before = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::write(&file, format!("{before}{report}")).unwrap();
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
