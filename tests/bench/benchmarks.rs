//! `make bench`, the benchmarks case: 10,000 accounts with 30,000 deployments and 30
//! days of daily counters, written straight into the database of the release binary.
//! Times one full computation (asked through the admin API) and the memory it took
//! beyond what the server held before, then reads `GET /api/v1/benchmarks` under wrk.
//! Loopback only. Appends to target/bench/results.md.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

mod support;

const ACCOUNTS: usize = 10_000;
const BARS_PER_ACCOUNT: usize = 3;
const DAYS: i64 = 30;
const INDUSTRIES: [&str; 13] = [
    "agency",
    "ecommerce",
    "education",
    "finance",
    "food",
    "health",
    "media",
    "nonprofit",
    "real_estate",
    "saas",
    "travel",
    "other",
    "",
];

/// Multi-row inserts of `rows`, a thousand at a time.
async fn insert(db: &sea_orm::DatabaseConnection, head: &str, rows: &[String]) {
    for chunk in rows.chunks(1000) {
        db.execute_unprepared(&format!("{head} VALUES {}", chunk.join(",")))
            .await
            .unwrap();
    }
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn max_id(db: &sea_orm::DatabaseConnection, table: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM {table}"),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let duration = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10u64);
    let tmp = tempfile::tempdir().unwrap();
    let (server, base) = support::start_barkeep(tmp.path(), database_url.as_deref(), &[]);
    let pid = server.0.id();
    let url = support::database_url(tmp.path(), database_url.as_deref());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let client = reqwest::Client::new();

    // The member who reads, and asks for the computation: a SaaS account with one bar,
    // published through the API, whose deployment is the template for the population.
    let cookie = support::session(&client, &base, "reader@example.com").await;
    db.execute_unprepared("UPDATE members SET is_operator = TRUE")
        .await
        .unwrap();
    db.execute_unprepared("UPDATE accounts SET industry = 'saas'")
        .await
        .unwrap();
    let post = |url: String, body: Value| support::post_json(&client, &cookie, url, body);
    let site = post(
        format!("{base}/api/v1/sites"),
        json!({"name": "Reader", "hostnames": ["reader.example"]}),
    )
    .await;
    let bar = post(
        format!("{base}/api/v1/sites/{}/bars", site["id"]),
        json!({"goal": "link", "message": "Sale", "button_label": "Shop", "link_url": "https://reader.example/sale"}),
    )
    .await;
    post(
        format!("{base}/api/v1/bars/{}/publish", bar["id"]),
        json!({}),
    )
    .await;
    let template = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(snapshot AS TEXT), variant_id FROM deployments".to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    let snapshot: Value =
        serde_json::from_str(&template.try_get_by_index::<String>(0).unwrap()).unwrap();
    let variant: i64 = template.try_get_by_index(1).unwrap();
    let bar_row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(targeting AS TEXT), CAST(\"trigger\" AS TEXT), CAST(frequency AS TEXT) FROM bars"
                .to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    let [targeting, trigger, frequency] =
        [0, 1, 2].map(|i| sql_text(&bar_row.try_get_by_index::<String>(i).unwrap()));

    eprintln!(
        "bench: {ACCOUNTS} accounts, {} deployments, {DAYS} days of counters",
        ACCOUNTS * BARS_PER_ACCOUNT
    );
    let setup = Instant::now();
    let now = chrono::Utc::now();
    let stamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    // Each account with its owner, as signing up makes them.
    let first_member = max_id(&db, "members").await + 1;
    let members: Vec<String> = (0..ACCOUNTS)
        .map(|i| format!("('account{i}@example.com', '{stamp}', 'x', FALSE, '{stamp}', '{stamp}')"))
        .collect();
    insert(&db, "INSERT INTO members (email, email_confirmed_at, password_hash, promo_opt_in, created_at, updated_at)", &members).await;
    let first_account = max_id(&db, "accounts").await + 1;
    let accounts: Vec<String> = (0..ACCOUNTS)
        .map(|i| {
            let industry = INDUSTRIES[i % INDUSTRIES.len()];
            format!(
                "('account{i}@example.com', {}, '{stamp}', '{stamp}')",
                if industry.is_empty() {
                    "NULL".into()
                } else {
                    sql_text(industry)
                }
            )
        })
        .collect();
    insert(
        &db,
        "INSERT INTO accounts (name, industry, created_at, updated_at)",
        &accounts,
    )
    .await;
    let owners: Vec<String> = (0..ACCOUNTS as i64)
        .map(|i| {
            format!(
                "({}, {}, 'owner', '{stamp}')",
                first_account + i,
                first_member + i
            )
        })
        .collect();
    insert(
        &db,
        "INSERT INTO account_members (account_id, member_id, role, created_at)",
        &owners,
    )
    .await;
    let first_site = max_id(&db, "sites").await + 1;
    let sites: Vec<String> = (0..ACCOUNTS)
        .map(|i| {
            format!(
                "({}, 'Site {i}', 'benchkey{i:08}', 1, '{stamp}', '{stamp}', '{stamp}')",
                first_account + i as i64
            )
        })
        .collect();
    insert(&db, "INSERT INTO sites (account_id, name, key, script_version, script_changed_at, created_at, updated_at)", &sites).await;
    let first_bar = max_id(&db, "bars").await + 1;
    let goals = ["link", "email", "link"];
    let placements = ["top", "bottom", "top"];
    let bars: Vec<String> = (0..ACCOUNTS * BARS_PER_ACCOUNT)
        .map(|b| {
            let j = b % BARS_PER_ACCOUNT;
            format!(
                "({}, 'Bar {b}', '{}', '{}', 'overlay', FALSE, TRUE, TRUE, {targeting}, {trigger}, {frequency}, '{stamp}', '{stamp}', '{stamp}')",
                first_site + (b / BARS_PER_ACCOUNT) as i64,
                goals[j],
                placements[j]
            )
        })
        .collect();
    insert(&db, "INSERT INTO bars (site_id, name, goal, placement, display, sticky, closable, powered_by, targeting, \"trigger\", frequency, created_at, updated_at, published_at)", &bars).await;
    let first_deployment = max_id(&db, "deployments").await + 1;
    let deployments: Vec<String> = (0..ACCOUNTS * BARS_PER_ACCOUNT)
        .map(|b| {
            let j = b % BARS_PER_ACCOUNT;
            let mut snap = snapshot.clone();
            snap["bar_id"] = json!(first_bar + b as i64);
            snap["goal"] = json!(goals[j]);
            snap["placement"] = json!(placements[j]);
            format!(
                "({}, {}, {variant}, {}, '{stamp}')",
                first_site + (b / BARS_PER_ACCOUNT) as i64,
                first_bar + b as i64,
                sql_text(&snap.to_string())
            )
        })
        .collect();
    insert(
        &db,
        "INSERT INTO deployments (site_id, bar_id, variant_id, snapshot, started_at)",
        &deployments,
    )
    .await;
    let today = now.timestamp() - now.timestamp().rem_euclid(86_400);
    let mut counters = Vec::with_capacity((ACCOUNTS * BARS_PER_ACCOUNT) * DAYS as usize);
    for d in 0..(ACCOUNTS * BARS_PER_ACCOUNT) as i64 {
        for day in 0..DAYS {
            // Views of 20 to 99 a day; clicks of 0.5 % to about 8 %, differing by account.
            let views = 20 + (d * 7919 + day * 104_729) % 80;
            let clicks = views * (1 + (d / 3) % 16) / 200;
            counters.push(format!(
                "({}, {}, {views}, {views}, {clicks}, {}, {})",
                first_deployment + d,
                today - day * 86_400,
                clicks / 3,
                clicks / 5
            ));
        }
    }
    insert(&db, "INSERT INTO deployment_stats_daily (deployment_id, day, views, unique_visitors, clicks, dismissals, leads)", &counters).await;
    // The reader's own bar, in the same way.
    let reader: Vec<String> = (0..DAYS)
        .map(|day| {
            format!(
                "({}, {}, 60, 60, 3, 1, 0)",
                first_deployment - 1,
                today - day * 86_400
            )
        })
        .collect();
    insert(&db, "INSERT INTO deployment_stats_daily (deployment_id, day, views, unique_visitors, clicks, dismissals, leads)", &reader).await;
    let setup_time = setup.elapsed();
    // Let the server pick up the new sites before its memory is read.
    tokio::time::sleep(Duration::from_secs(8)).await;

    eprintln!("bench: one computation");
    support::reset_peak(pid);
    let (rss_before, _) = support::rss_kb(pid);
    let started = Instant::now();
    let ran = post(format!("{base}/api/v1/admin/benchmarks/run"), json!({})).await;
    let computation = started.elapsed();
    let (_, peak) = support::rss_kb(pid);
    assert_eq!(ran["ran"], true);
    let stats = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST((SELECT COUNT(*) FROM benchmark_cells) AS BIGINT), \
                    CAST((SELECT COUNT(*) FROM benchmark_cells WHERE published) AS BIGINT), \
                    CAST((SELECT COUNT(*) FROM benchmark_results) AS BIGINT), \
                    CAST((SELECT MAX(accounts) FROM benchmark_snapshots) AS BIGINT)"
                .to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    let n = |i: usize| stats.try_get_by_index::<i64>(i).unwrap();
    let mine: Value = client
        .get(format!("{base}/api/v1/benchmarks"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["groups"][0]["compared_with"], "industry", "{mine}");

    eprintln!("bench: GET /api/v1/benchmarks under wrk");
    let lua = format!("wrk.headers[\"Cookie\"] = \"{cookie}\"\n");
    let read = support::wrk(
        &format!("{base}/api/v1/benchmarks"),
        4,
        duration,
        &lua,
        tmp.path(),
        "benchmarks",
    );

    let report = format!(
        "\n### Benchmarks ({} database)\n\nMachine: {}. Population written in {:.0} s.\n\n| measure | result | target |\n|---|---|---|\n\
| accounts / deployments / daily counter rows | {} / {} / {} | |\n\
| one full computation (30-day window) | **{:.2} s** | < 10 s |\n\
| memory beyond the server's before it (peak RSS − RSS) | **{:.1} MB** ({:.1} → {:.1} MB) | < 200 MB |\n\
| cells / published / member and bar results | {} / {} / {} | |\n\
| `GET /api/v1/benchmarks` (4 connections, {duration} s) | {:.0} req/s, p50 {:.2} ms, **p99 {:.2} ms** | p99 < 20 ms |\n\
| errors (non-2xx, socket) | {} / {} | 0 |\n",
        support::backend(&url),
        support::machine(),
        setup_time.as_secs_f64(),
        n(3),
        ACCOUNTS * BARS_PER_ACCOUNT + 1,
        counters.len() + reader.len(),
        computation.as_secs_f64(),
        peak.saturating_sub(rss_before) as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
        n(0),
        n(1),
        n(2),
        read.rps,
        read.p50_ms,
        read.p99_ms,
        read.non_2xx,
        read.socket_errors,
    );
    println!("{report}");
    support::append_report(&report);
    drop(server);
}
