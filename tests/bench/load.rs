//! `make bench`: throughput and latency of the visitor endpoints under wrk, each beside a
//! bare warp handler answering 204 measured in the same run (the ceiling of the machine),
//! then the stats of a bar with five variants and a year of hourly counters, memory
//! after a million events across 10,000 deployments, and a check that every event
//! answered 204 was counted. Loopback only, bounded runs. Writes a Markdown report to
//! target/bench/results.md.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warp::Filter;

mod support;

use support::{Run, cpu_seconds, machine, parse_wrk, rss_kb, start_barkeep, wrk, wrk_command};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One side of a pair: its median run by rate, and the server's CPU time per request
/// (median over the rounds), which a shared machine's drift moves far less than rates.
struct Side {
    run: Run,
    cpu_us: f64,
}

/// Runs the bare handler (in this process) and barkeep (`pid`) in turn, `rounds` times, so
/// both meet the same machine (a shared VM drifts).
#[allow(clippy::too_many_arguments)]
fn pair(
    bare_url: &str,
    url: &str,
    pid: u32,
    connections: u32,
    duration: u64,
    lua: &str,
    dir: &Path,
    name: &str,
    rounds: usize,
) -> (Side, Side) {
    let (mut bare, mut ours) = (Vec::new(), Vec::new());
    let measured = |server: u32, url: &str, name: String| {
        let before = cpu_seconds(server);
        let run = wrk(url, connections, duration, lua, dir, &name);
        let cpu = cpu_seconds(server) - before;
        let per_request = 1e6 * cpu / run.requests.max(1) as f64;
        (run, per_request)
    };
    for i in 0..rounds {
        bare.push(measured(
            std::process::id(),
            bare_url,
            format!("bare-{name}-{i}"),
        ));
        ours.push(measured(pid, url, format!("{name}-{i}")));
    }
    let median = |runs: Vec<(Run, f64)>| {
        let mut cpu: Vec<f64> = runs.iter().map(|(_, c)| *c).collect();
        cpu.sort_by(f64::total_cmp);
        let mut runs: Vec<Run> = runs.into_iter().map(|(r, _)| r).collect();
        runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        Side {
            run: runs.swap_remove(runs.len() / 2),
            cpu_us: cpu[cpu.len() / 2],
        }
    };
    (median(bare), median(ours))
}

/// barkeep's own count of events it answered 204.
async fn answered_by_server(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(r#"barkeep_http_requests_total{method="POST",route="/e",status="204"} "#)
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// The ceiling: warp answering 204 to the same requests, nothing else.
fn start_bare() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let routes = warp::path!("e")
                .and(warp::post())
                .map(|| warp::http::StatusCode::NO_CONTENT)
                .or(warp::path!("s" / String)
                    .and(warp::get())
                    .map(|_| warp::http::StatusCode::NO_CONTENT));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            warp::serve(routes).incoming(listener).run().await;
        });
    });
    rx.recv().unwrap()
}

struct Api {
    client: reqwest::Client,
    base: String,
    cookie: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> Value {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    async fn patch(&self, path: &str, body: Value) {
        let res = self
            .client
            .patch(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
    }

    /// A site on shop.example with `bars` published link bars; returns the site key and
    /// each bar with its deployment.
    async fn site(&self, bars: usize) -> (String, Vec<(i64, i64)>) {
        let site = self
            .post(
                "/api/v1/sites",
                json!({"name": "Bench", "hostnames": ["shop.example"]}),
            )
            .await;
        let mut deployments = Vec::new();
        for i in 0..bars {
            let bar = self
                .post(
                    &format!("/api/v1/sites/{}/bars", site["id"]),
                    json!({"goal": "link", "message": format!("Offer {i}"), "button_label": "Shop", "link_url": "https://shop.example/sale"}),
                )
                .await;
            let p = self
                .post(&format!("/api/v1/bars/{}/publish", bar["id"]), json!({}))
                .await;
            deployments.push((
                bar["id"].as_i64().unwrap(),
                p["deployments"][0]["id"].as_i64().unwrap(),
            ));
        }
        (site["key"].as_str().unwrap().to_string(), deployments)
    }

    /// A site with a goal and one bar that holds 10 % of visitors out: (deployment, goal).
    async fn goal_site(&self) -> (i64, i64) {
        let site = self
            .post(
                "/api/v1/sites",
                json!({"name": "Goals", "hostnames": ["shop.example"]}),
            )
            .await;
        let goal = self
            .post(
                &format!("/api/v1/sites/{}/goals", site["id"]),
                json!({"name": "purchase"}),
            )
            .await;
        let bar = self
            .post(
                &format!("/api/v1/sites/{}/bars", site["id"]),
                json!({"goal": "link", "message": "Goals", "button_label": "Shop", "link_url": "https://shop.example/sale", "holdout": 10}),
            )
            .await;
        let p = self
            .post(&format!("/api/v1/bars/{}/publish", bar["id"]), json!({}))
            .await;
        (
            p["deployments"][0]["id"].as_i64().unwrap(),
            goal["id"].as_i64().unwrap(),
        )
    }

    /// Edits a bar and publishes it again; how long the publish took, and the new
    /// deployment.
    async fn republish(&self, bar: i64, round: usize) -> (Duration, i64) {
        self.patch(
            &format!("/api/v1/bars/{bar}"),
            json!({"message": format!("Offer, round {round}")}),
        )
        .await;
        let at = Instant::now();
        let p = self
            .post(&format!("/api/v1/bars/{bar}/publish"), json!({}))
            .await;
        (at.elapsed(), p["deployments"][0]["id"].as_i64().unwrap())
    }
}

/// Four members at once, each making sites of 100 bars and sites of one bar and
/// publishing every bar, then editing and publishing the bars of their large sites
/// again while visitors fetch those sites' scripts (so every publish is a new script to
/// build): `publishes` in all. Returns the live deployments, and the publish times on
/// sites of 100 bars during the second round.
async fn publish_many(api: &Api, base: &str, publishes: usize) -> (Vec<i64>, Vec<Duration>) {
    const MEMBERS: usize = 4;
    let per_member = publishes / MEMBERS;
    // 40 % on sites of 100 bars, 20 % on sites of one bar, 40 % publishing again.
    let large_sites = (per_member * 2 / 5).div_ceil(100).max(1);
    let small_sites = per_member / 5;
    let again = per_member.saturating_sub(large_sites * 100 + small_sites);
    let mut members = Vec::new();
    for m in 0..MEMBERS {
        let cookie =
            support::session(&api.client, base, &format!("publisher{m}@example.com")).await;
        members.push(std::sync::Arc::new(Api {
            client: api.client.clone(),
            base: base.to_string(),
            cookie,
        }));
    }
    let mut first = Vec::new();
    for member in &members {
        let member = member.clone();
        first.push(tokio::spawn(async move {
            let mut large = Vec::new();
            for _ in 0..large_sites {
                large.push(member.site(100).await);
            }
            let mut small = Vec::new();
            for _ in 0..small_sites {
                small.extend(member.site(1).await.1);
            }
            (large, small)
        }));
    }
    let mut sites = Vec::new();
    let mut live: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    for t in first {
        let (large, small) = t.await.unwrap();
        live.extend(small);
        for (_, bars) in &large {
            live.extend(bars.iter().copied());
        }
        sites.push(large);
    }
    // Visitors fetch the large sites' scripts all along the second round.
    let keys: Vec<String> = sites.iter().flatten().map(|(key, _)| key.clone()).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut fetchers = Vec::new();
    for f in 0..8 {
        let (keys, stop, base) = (keys.clone(), stop.clone(), base.to_string());
        fetchers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = f;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let res = client
                    .get(format!("{base}/s/{}.js", keys[i % keys.len()]))
                    .header("accept-encoding", "br")
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success());
                let _ = res.bytes().await;
                i += 8;
            }
        }));
    }
    let mut second = Vec::new();
    for (member, large) in members.iter().zip(sites) {
        let member = member.clone();
        second.push(tokio::spawn(async move {
            let bars: Vec<i64> = large
                .iter()
                .flat_map(|(_, bars)| bars.iter().map(|(bar, _)| *bar))
                .collect();
            let mut times = Vec::new();
            let mut now_live = Vec::new();
            for n in 0..again {
                let bar = bars[n % bars.len()];
                let (took, deployment) = member.republish(bar, n / bars.len()).await;
                times.push(took);
                now_live.push((bar, deployment));
            }
            (times, now_live)
        }));
    }
    let mut times = Vec::new();
    for t in second {
        let (t, now_live) = t.await.unwrap();
        times.extend(t);
        live.extend(now_live);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in fetchers {
        f.await.unwrap();
    }
    (live.into_values().collect(), times)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn event_lua(deployment: i64) -> String {
    lua_for(&format!(
        r#"{{"d":{deployment},"k":"v","h":"shop.example"}}"#
    ))
}

/// A site goal reached with a value, as the runtime sends it.
fn goal_lua(deployment: i64, goal: i64) -> String {
    lua_for(&format!(
        r#"{{"d":{deployment},"k":"g","h":"shop.example","g":{goal},"a":0,"n":49.9}}"#
    ))
}

fn lua_for(body: &str) -> String {
    format!(
        r#"wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["User-Agent"] = "{UA}"
wrk.headers["Origin"] = "https://shop.example"
"#
    )
}

/// A bar with five variants, published, and a counter row for every hour of the last
/// year for each (as a year of traffic leaves); then its stats read under wrk, a year by
/// day (with the comparison of its variants over the year), 93 days by hour, and the
/// comparison alone. Returns the three runs and the bar's deployments.
async fn stats_case(
    api: &Api,
    database_url: Option<&str>,
    dir: &Path,
    duration: u64,
) -> (Run, Run, Run, Vec<i64>) {
    let site = api
        .post(
            "/api/v1/sites",
            json!({"name": "Stats", "hostnames": ["stats.example"]}),
        )
        .await;
    let bar = api
        .post(
            &format!("/api/v1/sites/{}/bars", site["id"]),
            json!({"goal": "link", "message": "A", "button_label": "Go", "link_url": "https://stats.example/"}),
        )
        .await;
    let id = bar["id"].as_i64().unwrap();
    for m in ["B", "C", "D", "E"] {
        api.post(
            &format!("/api/v1/bars/{id}/variants"),
            json!({"message": m}),
        )
        .await;
    }
    let published = api
        .post(&format!("/api/v1/bars/{id}/publish"), json!({}))
        .await;
    let deployments: Vec<i64> = published["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(deployments.len(), 5);
    let url = database_url
        .map(str::to_string)
        .unwrap_or_else(|| format!("sqlite://{}?mode=rw", dir.join("barkeep.db").display()));
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let now = chrono::Utc::now().timestamp() / 3600 * 3600;
    let mut year = std::collections::HashMap::new();
    for d in &deployments {
        for h in 0..365 * 24 {
            let c = barkeep::domain::Counts {
                views: 100 + h % 7,
                unique_visitors: 60 + h % 5,
                clicks: 3 + h % 4,
                dismissals: 1,
                leads: 0,
            };
            year.insert((*d, now - h * 3600), c);
        }
    }
    barkeep::ingest::add_counts(&db, &year).await.unwrap();
    db.close().await.ok();
    let day = chrono::Utc::now().date_naive();
    let lua = format!("wrk.headers[\"Cookie\"] = \"{}\"\n", api.cookie);
    let by_day = wrk(
        &format!(
            "{}/api/v1/bars/{id}/stats?from={}&to={day}&interval=day",
            api.base,
            day - chrono::Duration::days(364)
        ),
        4,
        duration,
        &lua,
        dir,
        "stats-day",
    );
    let hourly = wrk(
        &format!(
            "{}/api/v1/bars/{id}/stats?from={}&to={day}&interval=hour",
            api.base,
            day - chrono::Duration::days(92)
        ),
        4,
        duration,
        &lua,
        dir,
        "stats-hour",
    );
    let experiment = wrk(
        &format!("{}/api/v1/bars/{id}/experiment", api.base),
        4,
        duration,
        &lua,
        dir,
        "experiment",
    );
    (by_day, hourly, experiment, deployments)
}

#[tokio::main]
async fn main() {
    // reqwest here shares barkeep's rustls build, which leaves the provider to the program.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let duration = secs("BENCH_SECONDS", 10);
    let million = secs("BENCH_EVENTS", 1_000_000);
    let publishes = secs("BENCH_PUBLISHES", 10_000) as usize;
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();

    let bare = start_bare();
    let (mut server, base) = start_barkeep(
        tmp.path(),
        database_url.as_deref(),
        &[
            // Every request comes from one loopback client: the per-IP limit is for the
            // open web.
            ("BARKEEP_EVENT_RATE_PER_IP", "100000000".into()),
            ("BARKEEP_TRUSTED_PROXIES", "127.0.0.1".into()),
        ],
    );
    let pid = server.0.id();
    let client = reqwest::Client::new();
    let cookie = support::session(&client, &base, "bench@example.com").await;
    let api = std::sync::Arc::new(Api {
        client,
        base: base.clone(),
        cookie,
    });
    let (key, one) = api.site(1).await;
    let d = one[0].1;

    let rounds = secs("BENCH_ROUNDS", 5) as usize;
    eprintln!("bench: POST /e, bare and barkeep in turn, {rounds} × {duration} s each");
    let (
        Side {
            run: bare_e,
            cpu_us: bare_e_cpu,
        },
        Side {
            run: e,
            cpu_us: e_cpu,
        },
    ) = pair(
        &format!("http://{bare}/e"),
        &format!("{base}/e"),
        pid,
        32,
        duration,
        &event_lua(d),
        tmp.path(),
        "e",
        rounds,
    );
    eprintln!("bench: GET /s/KEY.js, bare and barkeep in turn, {rounds} × {duration} s each");
    let script_lua = "wrk.headers[\"Accept-Encoding\"] = \"gzip, deflate, br\"\n";
    let (
        Side {
            run: bare_s,
            cpu_us: bare_s_cpu,
        },
        Side {
            run: s,
            cpu_us: s_cpu,
        },
    ) = pair(
        &format!("http://{bare}/s/{key}.js"),
        &format!("{base}/s/{key}.js"),
        pid,
        32,
        duration,
        script_lua,
        tmp.path(),
        "s",
        rounds,
    );

    let (goal_d, goal) = api.goal_site().await;
    eprintln!(
        "bench: POST /e with site goals, bare and barkeep in turn, {rounds} × {duration} s each"
    );
    let (
        Side {
            run: bare_g,
            cpu_us: bare_g_cpu,
        },
        Side {
            run: g,
            cpu_us: g_cpu,
        },
    ) = pair(
        &format!("http://{bare}/e"),
        &format!("{base}/e"),
        pid,
        32,
        duration,
        &goal_lua(goal_d, goal),
        tmp.path(),
        "g",
        rounds,
    );

    // Half the maximum rate: connections that each pause 2 ms between requests, as many
    // as a short calibration run says give half of the maximum.
    let half = e.rps / 2.0;
    let pace = format!("{}\nfunction delay() return 2 end\n", event_lua(d));
    let probe = wrk(&format!("{base}/e"), 50, 2, &pace, tmp.path(), "e-probe");
    let per_connection = (probe.rps / 50.0).max(1.0);
    let connections = ((half / per_connection).round() as u32).clamp(1, 2000);
    eprintln!(
        "bench: POST /e at about {half:.0} requests/s ({connections} connections pausing 2 ms)"
    );
    let paced = wrk(
        &format!("{base}/e"),
        connections,
        duration,
        &pace,
        tmp.path(),
        "e-half",
    );

    eprintln!("bench: {publishes} publishes by four members at once");
    let setup_started = Instant::now();
    let (all, mut publish_times) = publish_many(&api, &base, publishes).await;
    let setup_time = setup_started.elapsed();
    publish_times.sort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_before, _) = rss_kb(pid);

    eprintln!(
        "bench: {million} events across {} deployments from distinct visitors",
        all.len()
    );
    let ids = all
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let flood_lua = format!(
        r#"local ids = {{{ids}}}
local n = 0
request = function()
  n = n + 1
  local d = ids[(n % #ids) + 1]
  local ip = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  local kind = (n % 10 == 0) and "c" or "v"
  return wrk.format("POST", "/e", {{["Content-Type"] = "text/plain;charset=UTF-8", ["User-Agent"] = "{UA}",
    ["Origin"] = "https://shop.example", ["X-Forwarded-For"] = ip}},
    '{{"d":' .. d .. ',"k":"' .. kind .. '","h":"shop.example"}}')
end
"#
    );
    // wrk runs by time; it is stopped (SIGINT, after which it reports) once the server
    // has answered a million more events.
    let before = answered_by_server(&base).await;
    let flood_started = Instant::now();
    let child = wrk_command(
        &format!("{base}/e"),
        32,
        900,
        &flood_lua,
        tmp.path(),
        "flood",
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("run wrk");
    while answered_by_server(&base).await < before + million {
        assert!(
            flood_started.elapsed() < Duration::from_secs(880),
            "the flood did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let flood = parse_wrk(&child.wait_with_output().unwrap().stdout);
    let flood_events = answered_by_server(&base).await - before;
    // At rest: the writer has written the last of it and the return_memory job (every
    // 10 s) has given back what the flood freed.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let (rss_after, hwm) = rss_kb(pid);

    // After the memory readings, so its year of counters does not weigh on them.
    eprintln!("bench: stats of a bar with five variants and a year of hourly counters");
    let (stats_day, stats_hour, stats_experiment, stats_deployments) =
        stats_case(&api, database_url.as_deref(), tmp.path(), duration).await;

    // Every event answered 204 must be in the database after a clean shutdown.
    let answered = answered_by_server(&base).await;
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let exit = server.0.wait().unwrap();
    assert!(exit.success(), "barkeep exited with {exit}");
    let url = database_url.unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rw",
            tmp.path().join("barkeep.db").display()
        )
    });
    let db = sea_orm::Database::connect(&url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            // The stats case's year of counters was written directly, not answered.
            format!(
                "SELECT CAST(COALESCE(SUM(views + clicks), 0) AS BIGINT) AS n FROM deployment_stats \
                 WHERE deployment_id NOT IN ({})",
                stats_deployments.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    let stored_counts: i64 = row.try_get("", "n").unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE(SUM(shown + held_out), 0) AS BIGINT) AS n FROM goal_stats_daily",
        ))
        .await
        .unwrap()
        .unwrap();
    let stored = stored_counts + row.try_get::<i64>("", "n").unwrap();

    let pct = |a: f64, b: f64| 100.0 * a / b;
    let report = format!(
        "| measure | result | target |\n|---|---|---|\n\
    | `POST /e` | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | |\n\
    | bare warp 204 (same requests) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | |\n\
    | `/e` ÷ bare | **{:.0} %** | ≥ 75 % |\n\
    | server CPU per event: barkeep / bare (median of the rounds) | {:.1} µs / {:.1} µs | (read) |\n\
    | `POST /e`, a site goal with a value (kind `g`) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | |\n\
    | bare warp 204 (same requests) | {:.0} req/s | |\n\
    | goal events ÷ bare | **{:.0} %** | ≥ 75 % |\n\
    | server CPU per goal event: barkeep / bare | {:.1} µs / {:.1} µs | (read) |\n\
    | `POST /e` at half its maximum ({:.0} req/s wanted, {:.0} req/s done, {} connections) | p50 {:.2} ms, **p99 {:.2} ms** | p99 < 5 ms |\n\
    | `GET /s/{{key}}.js` (brotli) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | |\n\
    | bar stats, 5 variants, a year of hourly counters: the year by day, with the comparison | {:.0} req/s, p50 {:.2} ms, **p99 {:.2} ms** | p99 < 50 ms |\n\
    | the same bar, its last 93 days by hour | {:.0} req/s, p50 {:.2} ms, **p99 {:.2} ms** | p99 < 50 ms |\n\
    | the same bar's comparison alone (`/experiment`) | {:.0} req/s, p50 {:.2} ms, **p99 {:.2} ms** | p99 < 50 ms |\n\
    | bare warp 204 (same requests) | {:.0} req/s | |\n\
    | `/s` ÷ bare | **{:.0} %** | ≥ 80 % |\n\
    | server CPU per script: barkeep / bare | {:.1} µs / {:.1} µs | (read) |\n\
    | publishing a bar on a site of 100 bars, while its script is fetched ({} publishes) | p50 {:.1} ms, **p99 {:.1} ms**, worst {:.1} ms | p99 ≤ 50 ms |\n\
    | resident memory after {} publishes ({} deployments live), before the flood | **{:.1} MB** | |\n\
    | resident memory 15 s after {} events across them (at rest) | **{:.1} MB** (peak during the flood {:.1} MB) | < 150 MB |\n\
    | flood rate (distinct visitors, 10 % clicks, 32 connections) | {:.0} req/s | |\n\
    | events answered 204 by barkeep / stored after SIGTERM | {} / {} | equal |\n\
    | errors (non-2xx, socket) in all barkeep runs | {} / {} | 0 |\n",
        e.rps,
        e.p50_ms,
        e.p99_ms,
        bare_e.rps,
        bare_e.p50_ms,
        bare_e.p99_ms,
        pct(e.rps, bare_e.rps),
        e_cpu,
        bare_e_cpu,
        g.rps,
        g.p50_ms,
        g.p99_ms,
        bare_g.rps,
        pct(g.rps, bare_g.rps),
        g_cpu,
        bare_g_cpu,
        half,
        paced.rps,
        connections,
        paced.p50_ms,
        paced.p99_ms,
        s.rps,
        s.p50_ms,
        s.p99_ms,
        stats_day.rps,
        stats_day.p50_ms,
        stats_day.p99_ms,
        stats_hour.rps,
        stats_hour.p50_ms,
        stats_hour.p99_ms,
        stats_experiment.rps,
        stats_experiment.p50_ms,
        stats_experiment.p99_ms,
        bare_s.rps,
        pct(s.rps, bare_s.rps),
        s_cpu,
        bare_s_cpu,
        publish_times.len(),
        percentile(&publish_times, 0.5).as_secs_f64() * 1e3,
        percentile(&publish_times, 0.99).as_secs_f64() * 1e3,
        publish_times
            .last()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
        publishes,
        all.len(),
        rss_before as f64 / 1024.0,
        flood_events,
        rss_after as f64 / 1024.0,
        hwm as f64 / 1024.0,
        flood.rps,
        answered,
        stored,
        e.non_2xx
            + g.non_2xx
            + paced.non_2xx
            + flood.non_2xx
            + s.non_2xx
            + stats_day.non_2xx
            + stats_hour.non_2xx
            + stats_experiment.non_2xx,
        e.socket_errors
            + g.socket_errors
            + paced.socket_errors
            + flood.socket_errors
            + s.socket_errors
            + stats_day.socket_errors
            + stats_hour.socket_errors
            + stats_experiment.socket_errors,
    );
    let header = format!(
        "Machine: {}\nDate: {}\nCommand: `make bench` (wrk -t1, -c32 for maximum rates; {duration} s runs, maximum rates the median of {rounds} alternating rounds; {} database; {} publishes by four members at once in {:.0} s, every one answered 2xx)\n\n",
        machine(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        publishes,
        setup_time.as_secs_f64(),
    );
    let out = format!(
        "{header}{report}\nTotal bench time: {:.0} s\n",
        started.elapsed().as_secs_f64()
    );
    println!("{out}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("results.md"), &out).unwrap();
    assert_eq!(
        answered as i64, stored,
        "every event answered 204 is counted"
    );
}
