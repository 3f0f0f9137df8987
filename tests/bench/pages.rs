//! `make bench`, the dashboard case: a member with one live bar and a year of daily
//! counters (written straight into the release binary's database), then
//! - the bytes each page costs on the wire (HTML with brotli, and the CSS and JS it loads),
//! - the server time of the stats page over 365 days (median and worst of 50),
//! - Lighthouse 12.2.3 (mobile defaults, headless Chromium) on that stats page and on the
//!   bar editor: performance and accessibility scores, read rather than asserted;
//! - Lighthouse on a visitor's page (an article served by the bench itself) with a modal,
//!   a slider and a takeover, next to the same page without barkeep: layout shift and
//!   blocking time.
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
/// `extra_flags` go to Chromium as well.
fn lighthouse(
    url: &str,
    cookie: &str,
    out: &std::path::Path,
    extra_flags: &str,
) -> Result<(f64, f64, Value), String> {
    if !std::path::Path::new(LIGHTHOUSE).exists() {
        return Err("lighthouse is not installed (make bench installs it)".into());
    }
    let profile = tempfile::tempdir().unwrap();
    let flags = format!(
        "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --user-data-dir={} {extra_flags}",
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
    db.execute_unprepared("UPDATE members SET email_confirmed_at = created_at, is_operator = TRUE")
        .await
        .unwrap();
    db.execute_unprepared("UPDATE accounts SET industry = 'saas'")
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
        match lighthouse(&format!("{base}{path}"), &cookie, &out, "") {
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

    let visitor = visitor_pages(&client, &cookie, &base, &out).await;

    let report = format!(
        "\n## Dashboard pages\n\n{}, {}\n\nA member with one live bar and 366 days of counters; SQLite.\n\n{table}\nStats page over 365 days, compared with the year before: median {:.1} ms, worst {:.1} ms of 50 (server time on loopback, brotli).\n\nLighthouse 12.2.3, mobile defaults (simulated slow 4G, 4× CPU slowdown):\n\n| page | performance | accessibility | first contentful paint | largest contentful paint | total blocking time | layout shift | transferred |\n|---|---:|---:|---:|---:|---:|---:|---:|\n{scores}",
        chrono::Utc::now().format("%Y-%m-%d"),
        support::machine(),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
    ) + &visitor;
    println!("{report}");
    support::append_report(&report);
}

/// A visitor's page: an article with the site's script (none for `script: None`), served
/// on loopback for every host the browser is pointed at (Chromium maps `*.example` to
/// 127.0.0.1), each host its own site.
fn serve_articles(scripts: Vec<(String, Option<String>)>) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let scripts = scripts.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut host = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    if let Some(h) = line.to_ascii_lowercase().strip_prefix("host:") {
                        host = h.trim().split(':').next().unwrap_or("").to_string();
                    }
                    line.clear();
                }
                let script = scripts
                    .iter()
                    .find(|(h, _)| *h == host)
                    .and_then(|(_, s)| s.clone())
                    .map(|src| format!("<script async src=\"{src}\"></script>"))
                    .unwrap_or_default();
                let paragraphs: String = (1..=12)
                    .map(|i| format!("<p>Paragraph {i}: the quick brown fox jumps over the lazy dog, again and again, so the article has a body to read and to lay out.</p>"))
                    .collect();
                let body = format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>An article</title><meta name=\"description\" content=\"A page with a bar\">{script}</head><body><main><h1>An article</h1>{paragraphs}</main></body></html>"
                );
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// Lighthouse on a visitor's page with each element type against the same page without
/// barkeep: what a modal, a slider and a takeover cost the page (layout shift, blocking
/// time). Read, not asserted.
async fn visitor_pages(
    client: &reqwest::Client,
    cookie: &str,
    base: &str,
    out: &std::path::Path,
) -> String {
    let mut scripts = vec![("plain.example".to_string(), None)];
    for element in ["bar", "modal", "slider", "takeover"] {
        let host = format!("{element}.example");
        let site = support::post_json(
            client,
            cookie,
            format!("{base}/api/v1/sites"),
            json!({"name": element, "hostnames": [host]}),
        )
        .await;
        let bar = support::post_json(
            client,
            cookie,
            format!("{base}/api/v1/sites/{}/bars", site["id"]),
            json!({"goal": "email", "element_type": element, "message": "Get 10 % off your first order", "button_label": "Join"}),
        )
        .await;
        support::post_json(
            client,
            cookie,
            format!("{base}/api/v1/bars/{}/publish", bar["id"]),
            json!({}),
        )
        .await;
        let key = site["key"].as_str().unwrap_or("missing");
        scripts.push((host, Some(format!("{base}/s/{key}.js"))));
    }
    let port = serve_articles(scripts.clone());
    let mut rows = String::new();
    for (host, _) in &scripts {
        let url = format!("http://{host}:{port}/");
        let what = host.trim_end_matches(".example");
        let label = if what == "plain" {
            "the page without barkeep".to_string()
        } else {
            format!("with an email {what}")
        };
        match lighthouse(
            &url,
            "",
            out,
            "--host-resolver-rules=\"MAP *.example 127.0.0.1\"",
        ) {
            Ok((perf, _, m)) => rows.push_str(&format!(
                "| {label} | {perf:.0} | {:.0} ms | {:.0} ms | {:.3} | {:.1} KB |\n",
                m["largest_contentful_paint_ms"].as_f64().unwrap_or(0.0),
                m["total_blocking_time_ms"].as_f64().unwrap_or(0.0),
                m["cumulative_layout_shift"].as_f64().unwrap_or(0.0),
                m["transfer_bytes"].as_f64().unwrap_or(0.0) / 1000.0,
            )),
            Err(why) => rows.push_str(&format!("| {label} | {why} | | | | |\n")),
        }
    }
    format!(
        "\nA visitor's page (an article, served on loopback) with each element type, shown at once; Lighthouse 12.2.3, mobile defaults:\n\n| page | performance | largest contentful paint | total blocking time | layout shift | transferred |\n|---|---:|---:|---:|---:|---:|\n{rows}"
    )
}
