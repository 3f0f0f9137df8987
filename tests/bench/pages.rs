//! `make bench`, the dashboard case: a member with one live bar and a year of daily
//! counters (written straight into the release binary's database), then
//! - the bytes each page costs on the wire (HTML with brotli, and the CSS and JS it loads),
//! - the server time of the stats page over 365 days (median and worst of 50),
//! - Lighthouse 12.2.3 (mobile defaults, headless Chromium) on that stats page and on the
//!   bar editor: performance and accessibility scores, read rather than asserted.
//!
//! Loopback only. Appends to target/bench/results.md.

use std::process::Command;
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

mod support;

const LIGHTHOUSE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/lighthouse/node_modules/lighthouse/cli/index.js"
);

/// Bytes on the wire for `path` with `Accept-Encoding: br`.
async fn wire(client: &reqwest::Client, url: &str, cookie: &str) -> (u16, usize) {
    let res = client
        .get(url)
        .header("cookie", cookie)
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap().len())
}

/// Lighthouse's scores (performance, accessibility) for one page, or why there are none.
fn lighthouse(url: &str, cookie: &str, out: &std::path::Path) -> Result<(f64, f64, Value), String> {
    if !std::path::Path::new(LIGHTHOUSE).exists() {
        return Err("lighthouse is not installed (make bench installs it)".into());
    }
    let profile = tempfile::tempdir().unwrap();
    let flags = format!(
        "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --user-data-dir={}",
        profile.path().display()
    );
    let status = Command::new("node")
        .arg(LIGHTHOUSE)
        .arg(url)
        .arg("--quiet")
        .arg("--output=json")
        .arg(format!("--output-path={}", out.display()))
        .arg("--only-categories=performance,accessibility")
        .arg(format!("--chrome-flags={flags}"))
        .arg(format!("--extra-headers={}", json!({ "Cookie": cookie })))
        .env("CHROME_PATH", "/usr/bin/chromium")
        .status()
        .map_err(|e| format!("node: {e}"))?;
    if !status.success() {
        return Err(format!("lighthouse exited with {status}"));
    }
    let report: Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    let score = |c: &str| report["categories"][c]["score"].as_f64().unwrap_or(0.0) * 100.0;
    let metrics = json!({
        "first_contentful_paint_ms": report["audits"]["first-contentful-paint"]["numericValue"],
        "largest_contentful_paint_ms": report["audits"]["largest-contentful-paint"]["numericValue"],
        "total_blocking_time_ms": report["audits"]["total-blocking-time"]["numericValue"],
        "cumulative_layout_shift": report["audits"]["cumulative-layout-shift"]["numericValue"],
        "transfer_bytes": report["audits"]["total-byte-weight"]["numericValue"],
    });
    Ok((score("performance"), score("accessibility"), metrics))
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::tempdir().unwrap();
    let (_server, base) = support::start_barkeep(tmp.path(), None, &[]);
    let url = support::database_url(tmp.path(), None);
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let client = reqwest::Client::builder()
        .no_brotli()
        .no_gzip()
        .build()
        .unwrap();

    let cookie = support::session(&client, &base, "pages@example.com").await;
    db.execute_unprepared(
        "UPDATE members SET email_confirmed_at = created_at, is_operator = TRUE, industry = 'saas'",
    )
    .await
    .unwrap();
    let post = |url: String, body: Value| support::post_json(&client, &cookie, url, body);
    let site = post(
        format!("{base}/api/v1/sites"),
        json!({"name": "Shop", "hostnames": ["shop.example"]}),
    )
    .await;
    let bar = post(
        format!("{base}/api/v1/sites/{}/bars", site["id"]),
        json!({"goal": "link", "message": "Winter sale: 20 % off", "button_label": "Shop now", "link_url": "https://shop.example/sale"}),
    )
    .await;
    let deployment = post(
        format!("{base}/api/v1/bars/{}/publish", bar["id"]),
        json!({}),
    )
    .await;
    let deployment = deployment["deployments"][0]["id"]
        .as_i64()
        .or_else(|| deployment[0]["id"].as_i64())
        .unwrap_or(1);
    // A year of days, with a weekly rhythm and a slow rise.
    let now = chrono::Utc::now().timestamp();
    let today = now - now.rem_euclid(86_400);
    let rows: Vec<String> = (0..366i64)
        .map(|d| {
            let views = 800 + (365 - d) * 3 + [0, 40, 90, 120, 80, -200, -260][(d % 7) as usize];
            let clicks = views * (30 + d % 11) / 1000;
            format!(
                "({deployment}, {}, {views}, {}, {clicks}, {}, 0)",
                today - d * 86_400,
                views * 7 / 10,
                views / 25
            )
        })
        .collect();
    db.execute_unprepared(&format!(
        "INSERT INTO deployment_stats_daily (deployment_id, day, views, unique_visitors, clicks, dismissals, leads) VALUES {}",
        rows.join(",")
    ))
    .await
    .unwrap();

    let bar_id = bar["id"].as_i64().unwrap();
    let site_id = site["id"].as_i64().unwrap();
    let stats_year = format!("/bars/{bar_id}/stats?range=365d&compare=on");
    let pages = [
        "/login".to_string(),
        "/sites".into(),
        format!("/sites/{site_id}"),
        format!("/bars/{bar_id}"),
        stats_year.clone(),
        format!("/bars/{bar_id}/stats"),
        "/benchmarks".into(),
        "/billing".into(),
        "/account".into(),
        "/admin".into(),
        "/admin/alerts".into(),
    ];
    // What a first visit loads besides the HTML: the stylesheet and the script.
    let login = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let asset = |name: &str| {
        let at = login.find(name).unwrap();
        let start = login[..at].rfind('"').unwrap() + 1;
        let end = at + login[at..].find('"').unwrap();
        format!("{base}{}", &login[start..end])
    };
    let (_, css) = wire(&client, &asset("/assets/app.css"), &cookie).await;
    let (_, js) = wire(&client, &asset("/assets/app.js"), &cookie).await;
    let mut table = String::from("| page | HTML (br) | with CSS and JS |\n|---|---:|---:|\n");
    for path in &pages {
        // The login page as a visitor sees it (a member is sent on to their sites).
        let who = if path == "/login" {
            ""
        } else {
            cookie.as_str()
        };
        let (status, html) = wire(&client, &format!("{base}{path}"), who).await;
        assert_eq!(status, 200, "{path}");
        table.push_str(&format!(
            "| `{path}` | {:.1} KB | {:.1} KB |\n",
            html as f64 / 1000.0,
            (html + css + js) as f64 / 1000.0
        ));
    }
    table.push_str(&format!(
        "| (`app.css`, `app.js`) | {:.1} KB, {:.1} KB | |\n",
        css as f64 / 1000.0,
        js as f64 / 1000.0
    ));

    // Server time of the year's stats page.
    let mut times = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let (status, _) = wire(&client, &format!("{base}{stats_year}"), &cookie).await;
        assert_eq!(status, 200);
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;

    let out = tmp.path().join("lighthouse.json");
    let mut scores = String::new();
    for path in [stats_year.as_str(), &format!("/bars/{bar_id}"), "/sites"] {
        match lighthouse(&format!("{base}{path}"), &cookie, &out) {
            Ok((perf, a11y, m)) => scores.push_str(&format!(
                "| `{path}` | {perf:.0} | {a11y:.0} | {:.0} ms | {:.0} ms | {:.0} ms | {:.3} | {:.1} KB |\n",
                m["first_contentful_paint_ms"].as_f64().unwrap_or(0.0),
                m["largest_contentful_paint_ms"].as_f64().unwrap_or(0.0),
                m["total_blocking_time_ms"].as_f64().unwrap_or(0.0),
                m["cumulative_layout_shift"].as_f64().unwrap_or(0.0),
                m["transfer_bytes"].as_f64().unwrap_or(0.0) / 1000.0,
            )),
            Err(why) => scores.push_str(&format!("| `{path}` | {why} | | | | | | |\n")),
        }
    }

    let report = format!(
        "\n## Dashboard pages\n\n{}, {}\n\nA member with one live bar and 366 days of counters; SQLite.\n\n{table}\nStats page over 365 days, compared with the year before: median {:.1} ms, worst {:.1} ms of 50 (server time on loopback, brotli).\n\nLighthouse 12.2.3, mobile defaults (simulated slow 4G, 4× CPU slowdown):\n\n| page | performance | accessibility | first contentful paint | largest contentful paint | total blocking time | layout shift | transferred |\n|---|---:|---:|---:|---:|---:|---:|---:|\n{scores}",
        chrono::Utc::now().format("%Y-%m-%d"),
        support::machine(),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
    );
    println!("{report}");
    support::append_report(&report);
}
