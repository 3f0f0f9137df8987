//! Nothing counted is lost: with two processes on one database, on SIGTERM in the middle
//! of a load, and while the database is away for ten seconds.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{BROWSER_UA, Options, POSTGRES, TestApp, ev, fresh_database, link_bar};
use crate::processes::PrivatePostgres;

/// Sends events to `url` from `visitors` simulated clients until `stop`; returns how many
/// were answered 204 (acknowledged).
fn load(
    url: String,
    deployment: i64,
    visitors: u32,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut tasks = Vec::new();
        for v in 0..visitors {
            let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                let ip = format!("10.9.{}.{}", v / 200, v % 200);
                let kinds = ["v", "c", "x"];
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let res = client
                        .post(&url)
                        .header("user-agent", BROWSER_UA)
                        .header("x-forwarded-for", &ip)
                        .body(ev(deployment, kinds[i % 3]).to_string())
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == StatusCode::NO_CONTENT => {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => panic!("unexpected {}", r.status()),
                        // The server has stopped accepting: this one was never acknowledged.
                        Err(_) => break,
                    }
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        acked.load(Ordering::Relaxed)
    })
}

/// Total views + clicks + dismissals stored for a deployment.
async fn stored(db: &sea_orm::DatabaseConnection, deployment: i64) -> i64 {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "SELECT CAST(COALESCE(SUM(views + clicks + dismissals), 0) AS BIGINT) AS n FROM deployment_stats WHERE deployment_id = $1"
        }
        _ => {
            "SELECT COALESCE(SUM(views + clicks + dismissals), 0) AS n FROM deployment_stats WHERE deployment_id = ?"
        }
    };
    db.query_one_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        sql,
        [deployment.into()],
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

async fn wait_stored(
    db: &sea_orm::DatabaseConnection,
    deployment: i64,
    want: i64,
    within: Duration,
) -> i64 {
    let start = Instant::now();
    let mut got = stored(db, deployment).await;
    while got != want && start.elapsed() < within {
        tokio::time::sleep(Duration::from_millis(200)).await;
        got = stored(db, deployment).await;
    }
    got
}

fn proxied() -> Options {
    Options::default()
        .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
        .var("BARKEEP_EVENT_RATE_PER_IP", "100000")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_a_database_count_exactly() {
    let a = TestApp::spawn_with(proxied()).await;
    let b = TestApp::spawn_with(proxied().sharing(&a)).await;
    let live = a
        .live_bar("pair@example.com", &link_bar("Two processes"))
        .await;
    let d = live.deployment;
    // The same visitors reach both processes (a load balancer without stickiness).
    let mut sent = 0;
    let mut tasks = Vec::new();
    for v in 0..30 {
        for app in [&a, &b] {
            let (client, url) = (app.client.clone(), app.url("/e"));
            tasks.push(tokio::spawn(async move {
                for kind in ["v", "c"] {
                    let res = client
                        .post(&url)
                        .header("user-agent", BROWSER_UA)
                        .header("x-forwarded-for", format!("172.16.0.{v}"))
                        .body(ev(d, kind).to_string())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::NO_CONTENT);
                }
            }));
            sent += 2;
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(sent, 120);
    // 60 views from 30 visitors, each seen by both processes: still 30 unique visitors.
    b.flush().await;
    a.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [60, 30, 60, 0, 0],
    )
    .await;
    b.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [60, 30, 60, 0, 0],
    )
    .await;
}

const BIN: &str = env!("CARGO_BIN_EXE_barkeep");

fn start_binary(data_dir: &std::path::Path, database_url: &str) -> (Child, String) {
    let mut child = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BARKEEP_DATA_DIR", data_dir)
        .env("BARKEEP_DATABASE_URL", database_url)
        .env("BARKEEP_LISTEN", "127.0.0.1:0")
        .env("BARKEEP_LOG_FORMAT", "json")
        .env("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
        .env("BARKEEP_EVENT_RATE_PER_IP", "100000")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "barkeep is listening" {
            let address = format!("http://{}", v["address"].as_str().unwrap());
            std::thread::spawn(move || for _ in lines {});
            return (child, address);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("barkeep did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_the_middle_of_a_load_loses_nothing() {
    // No server runs in this process: its HTTP clients need the TLS provider installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path()).await;
    let url = database.url.clone();
    let (mut child, address) = start_binary(dir.path(), &url);
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value, cookie: Option<&str>| {
        let mut req = client.post(format!("{address}{path}")).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    post(
        "/api/v1/signup",
        json!({"email": "term@example.com", "password": crate::helpers::PASSWORD}),
        None,
    )
    .await
    .unwrap();
    let res = post(
        "/api/v1/login",
        json!({"email": "term@example.com", "password": crate::helpers::PASSWORD}),
        None,
    )
    .await
    .unwrap();
    let cookie = crate::helpers::session_cookie(&res).unwrap();
    let site: serde_json::Value = post(
        "/api/v1/sites",
        json!({"name": "S", "hostnames": ["shop.example"]}),
        Some(&cookie),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let bar: serde_json::Value = post(
        &format!("/api/v1/sites/{}/bars", site["id"]),
        link_bar("Term"),
        Some(&cookie),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let published: serde_json::Value = post(
        &format!("/api/v1/bars/{}/publish", bar["id"]),
        json!({}),
        Some(&cookie),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let d = published["deployments"][0]["id"].as_i64().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let load = load(format!("{address}/e"), d, 40, stop.clone(), acked.clone());
    // SIGTERM once the load is flowing (on a busy machine it takes a while to start).
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::Relaxed) < 1000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Clients keep sending until the server refuses them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "barkeep did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.store(true, Ordering::Relaxed);
    let acked = load.await.unwrap();
    assert_eq!(exit.code(), Some(0));
    assert!(acked > 200, "a real load: {acked} events acknowledged");
    let db = sea_orm::Database::connect(&url).await.unwrap();
    assert_eq!(
        stored(&db, d).await,
        acked as i64,
        "every acknowledged event was written before exit"
    );
}

/// SQLite: another connection holds the database's write lock for ten seconds (as a
/// backup or a stuck writer would). PostgreSQL: the server itself stops for ten seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_seconds_without_the_database_under_load_loses_nothing() {
    let cluster = POSTGRES.as_deref().map(|_| PrivatePostgres::launch());
    let mut opts = proxied();
    if let Some(c) = &cluster {
        opts.database_url = Some(c.url());
    }
    let app = TestApp::spawn_with(opts).await;
    let live = app
        .live_bar("outage@example.com", &link_bar("Outage"))
        .await;
    let d = live.deployment;

    let stop = Arc::new(AtomicBool::new(false));
    let load = load(app.url("/e"), d, 8, stop.clone(), Arc::default());
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let outage = match &cluster {
        Some(c) => {
            c.stop();
            tokio::time::sleep(Duration::from_secs(10)).await;
            c.start();
            None
        }
        None => Some(lock_sqlite(
            &app.data_dir.path().join("test.db"),
            Duration::from_secs(10),
        )),
    };
    if let Some(locker) = outage {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let out = locker.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "the lock holder failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = load.await.unwrap();
    assert!(acked > 500, "a real load: {acked}");

    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let got = wait_stored(&db, d, acked as i64, Duration::from_secs(30)).await;
    assert_eq!(
        got, acked as i64,
        "every acknowledged event is counted once the database is back"
    );
    let failed = app
        .metric(r#"barkeep_ingest_writes_total{outcome="error"}"#)
        .await;
    assert!(failed >= 1.0, "writes did fail during the outage");
}

/// Holds SQLite's write lock from another process for `d`.
fn lock_sqlite(path: &std::path::Path, d: Duration) -> Child {
    let script = format!(
        "import sqlite3,time\nc=sqlite3.connect({path:?},isolation_level=None,timeout=10)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked',flush=True)\ntime.sleep({})\nc.execute('COMMIT')\n",
        d.as_secs_f64(),
        path = path.display().to_string()
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Return only once the lock is held, however slow the interpreter is to start.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked", "python3 could not lock {path:?}");
    child
}

/// The database is away (SQLite: locked by another connection; PostgreSQL: a server of
/// the test's own, stopped) while more events arrive than the buffer may hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_and_what_is_dropped_is_counted() {
    let cluster = POSTGRES.as_deref().map(|_| PrivatePostgres::launch());
    let mut opts = proxied().var("BARKEEP_EVENT_BUFFER_LIMIT", "20");
    if let Some(c) = &cluster {
        opts.database_url = Some(c.url());
    }
    let app = TestApp::spawn_with(opts).await;
    let live = app.live_bar("bound@example.com", &link_bar("Bound")).await;
    let d = live.deployment;
    let locker = match &cluster {
        Some(c) => {
            c.stop();
            None
        }
        None => Some(lock_sqlite(
            &app.data_dir.path().join("test.db"),
            Duration::from_secs(6),
        )),
    };
    // Distinct visitors: each view is a counter plus a visitor hash held in memory.
    for i in 0..60 {
        assert_eq!(
            app.event(&ev(d, "v"), &format!("10.20.0.{i}"), BROWSER_UA)
                .await,
            StatusCode::NO_CONTENT
        );
    }
    let dropped = app
        .metric(r#"barkeep_events_not_counted_total{reason="buffer_full"}"#)
        .await as i64;
    assert!(dropped > 0, "the bound was reached");
    let buffered = app.metric("barkeep_ingest_buffered_entries").await;
    assert!(buffered <= 20.0, "{buffered} entries held");
    match (&cluster, locker) {
        (Some(c), _) => c.start(),
        (None, Some(locker)) => {
            locker.wait_with_output().unwrap();
        }
        (None, None) => unreachable!(),
    }
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let counted = wait_stored(&db, d, 60 - dropped, Duration::from_secs(20)).await;
    assert_eq!(
        counted + dropped,
        60,
        "every event is either counted or counted as dropped"
    );
}
