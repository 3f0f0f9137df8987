//! Thousands of random requests — bodies, headers, paths and query strings — to the
//! visitor endpoints and, with a valid session, to every route of the member API. None
//! may drop its connection or answer a server error; afterwards the event writer still
//! runs and valid events are counted exactly. The generator is seeded: a failure names
//! its seed and replays with `GARBAGE_SEED`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{BROWSER_UA, Options, TestApp, ev, link_bar};

/// Characters that have broken parsers before, and some that might.
const NASTY: &[&str] = &[
    "é",
    "ﬀ",
    "\u{202e}",
    "\u{2066}",
    "\u{301}",
    "\u{0}",
    "\u{7f}",
    "\u{fffd}",
    "𝒳",
    "%",
    "%00",
    "%ff",
    "..",
    "/",
    "\\",
    "*",
    ".",
    "-",
    "@",
    ":",
    "'",
    "\"",
    "<",
    ">",
    "{",
    "}",
    "[",
    "]",
    ",",
    ";",
    "=",
    "&",
    "?",
    "#",
    " ",
    "\t",
    "\n",
    "0",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1e400",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
];

fn nasty_text(rng: &mut StdRng, max: usize) -> String {
    let len = rng.random_range(0..=max);
    let mut s = String::new();
    while s.chars().count() < len {
        match rng.random_range(0..4) {
            0 => s.push_str(NASTY[rng.random_range(0..NASTY.len())]),
            1 => s.push(rng.random_range('a'..='z')),
            2 => s.push(char::from_u32(rng.random_range(0..0x11000)).unwrap_or('x')),
            _ => s.push_str("shop.example"),
        }
    }
    if rng.random_bool(0.02) {
        s.push_str(&"x".repeat(rng.random_range(1000..20_000)));
    }
    s
}

/// A header value: printable ASCII and bytes above 0x7f, as HTTP allows.
fn header_value(rng: &mut StdRng) -> reqwest::header::HeaderValue {
    let text = nasty_text(rng, 60);
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f))
        .collect();
    reqwest::header::HeaderValue::from_bytes(&bytes)
        .unwrap_or(reqwest::header::HeaderValue::from_static("x"))
}

fn percent_encoded(rng: &mut StdRng, max: usize) -> String {
    url::form_urlencoded::byte_serialize(nasty_text(rng, max).as_bytes()).collect()
}

fn nasty_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e12),
        4 => json!(nasty_text(rng, 40)),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| nasty_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "d",
                "k",
                "h",
                "m",
                "hp",
                "p",
                "b",
                "name",
                "message",
                "goal",
                "email",
                "password",
                "hostnames",
                "url",
                "weight",
                "trigger",
                "frequency",
                "targeting",
                "style",
                "placement",
                "from",
                "to",
                "industry",
                "lead_retention_days",
            ];
            let mut o = serde_json::Map::new();
            for _ in 0..rng.random_range(0..6) {
                let key = if rng.random_bool(0.8) {
                    keys[rng.random_range(0..keys.len())].to_string()
                } else {
                    nasty_text(rng, 10)
                };
                o.insert(key, nasty_json(rng, depth + 1));
            }
            Value::Object(o)
        }
    }
}

fn nasty_body(rng: &mut StdRng, valid: &Value) -> Vec<u8> {
    match rng.random_range(0..6) {
        5 => {
            // A valid body whose page hostname is almost the site's.
            let mut v = valid.clone();
            let domain = "shop.example";
            let host = format!(
                "{}{}{}",
                nasty_text(rng, 3),
                if rng.random_bool(0.3) { "." } else { "" },
                &domain[rng.random_range(0..3)..]
            );
            v["h"] = json!(host);
            v.to_string().into_bytes()
        }
        0 => Vec::new(),
        1 => (0..rng.random_range(0..300))
            .map(|_| rng.random())
            .collect(),
        2 => nasty_text(rng, 200).into_bytes(),
        3 => nasty_json(rng, 0).to_string().into_bytes(),
        _ => {
            // A valid body with one field made hostile.
            let mut v = valid.clone();
            if let Some(o) = v.as_object_mut() {
                let keys: Vec<String> = o.keys().cloned().collect();
                let key = keys[rng.random_range(0..keys.len())].clone();
                o.insert(key, nasty_json(rng, 1));
            }
            v.to_string().into_bytes()
        }
    }
}

/// A path of the member API with its ids filled in: the member's own, another's, or
/// garbage.
fn api_path(rng: &mut StdRng, template: &str, own: &[i64]) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                match rng.random_range(0..4) {
                    0 | 1 => own[rng.random_range(0..own.len())].to_string(),
                    2 => rng.random_range(-5i64..100_000).to_string(),
                    _ => percent_encoded(rng, 12),
                }
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_never_drop_a_connection_nor_stop_the_counting() {
    let seed: u64 = std::env::var("GARBAGE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("GARBAGE_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let app = TestApp::spawn_with(
        Options::default()
            .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
            .var("BARKEEP_EVENT_RATE_PER_IP", "100000"),
    )
    .await;
    // The member whose numbers are checked at the end, untouched by the API garbage.
    let counted = app
        .live_bar("counted@example.com", &link_bar("Counted"))
        .await;
    let d = counted.deployment;
    // The member whose session the garbage uses (it may well delete its own account).
    let target = app
        .live_bar(
            "target@example.com",
            &json!({"goal": "email", "message": "Join"}),
        )
        .await;
    let own = vec![
        target.site["id"].as_i64().unwrap(),
        target.bar_id,
        target.deployment,
        1,
    ];
    let routes: Vec<(Method, &str)> = barkeep::web::api::table()
        .routes()
        .iter()
        .map(|r| (r.method.clone(), r.path))
        .collect();
    let key = counted.site["key"].as_str().unwrap().to_string();
    let valid_event = json!({"d": d, "k": "v", "h": "shop.example"});
    let valid_lead =
        json!({"d": target.deployment, "h": "shop.example", "m": "a@b.example", "hp": ""});

    let mut cookie = target.cookie.clone();
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    const REQUESTS: usize = 3000;
    for i in 0..REQUESTS {
        let (method, path, query) = match rng.random_range(0..10) {
            0..=2 => (Method::POST, "/e".to_string(), None),
            3 => (
                Method::GET,
                "/e".to_string(),
                Some(percent_encoded(&mut rng, 80)),
            ),
            4 => (Method::POST, "/l".to_string(), None),
            5 => {
                let file = match rng.random_range(0..3) {
                    0 => format!("{key}.js"),
                    1 => format!("{}.js", percent_encoded(&mut rng, 30)),
                    _ => percent_encoded(&mut rng, 30),
                };
                let m = if rng.random_bool(0.8) {
                    Method::GET
                } else {
                    Method::HEAD
                };
                (m, format!("/s/{file}"), None)
            }
            _ => {
                let (m, template) = &routes[rng.random_range(0..routes.len())];
                let query = rng.random_bool(0.5).then(|| {
                    let keys = ["from", "to", "interval", "format", "compare", "window", "q"];
                    let k = keys[rng.random_range(0..keys.len())];
                    format!("{k}={}", percent_encoded(&mut rng, 30))
                });
                (m.clone(), api_path(&mut rng, template, &own), query)
            }
        };
        let url = match &query {
            Some(q) => format!("{}?{q}", app.url(&path)),
            None => app.url(&path),
        };
        let mut req = app.client.request(method.clone(), &url);
        if !path.starts_with("/api/") && rng.random_bool(0.8) {
            // Most visitors are browsers; the rest is left to chance below.
            req = req.header("user-agent", BROWSER_UA);
        }
        let names = [
            "user-agent",
            "origin",
            "referer",
            "x-forwarded-for",
            "accept-encoding",
            "if-none-match",
            "content-type",
            "cookie",
            "authorization",
            "dnt",
            "sec-gpc",
            "x-request-id",
        ];
        for _ in 0..rng.random_range(0..5) {
            let name = names[rng.random_range(0..names.len())];
            req = req.header(name, header_value(&mut rng));
        }
        let signed_in = path.starts_with("/api/") && rng.random_bool(0.9);
        if signed_in {
            req = req.header("cookie", cookie.as_str());
        }
        if matches!(
            method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        ) {
            let valid = match path.as_str() {
                "/e" => &valid_event,
                "/l" => &valid_lead,
                _ => &valid_event,
            };
            req = req.body(nasty_body(&mut rng, valid));
        }
        let res = req.send().await.unwrap_or_else(|e| {
            panic!("request {i} ({method} {url}) got no answer: {e} (GARBAGE_SEED={seed})")
        });
        let status = res.status();
        *statuses.entry(status.as_u16()).or_default() += 1;
        assert!(
            !status.is_server_error(),
            "request {i} ({method} {url}) answered {status}: {} (GARBAGE_SEED={seed})",
            res.text().await.unwrap_or_default()
        );
        if signed_in && status == StatusCode::UNAUTHORIZED {
            // The garbage logged out or deleted its account: sign in again, as a new
            // member if need be.
            let login = app
                .post_json(
                    "/api/v1/login",
                    &json!({"email": "target@example.com", "password": crate::helpers::PASSWORD}),
                    None,
                )
                .await;
            cookie = match crate::helpers::session_cookie(&login) {
                Some(c) => c,
                None => {
                    let email = format!("target{i}@example.com");
                    app.signup(&email).await;
                    app.login(&email, crate::helpers::PASSWORD).await
                }
            };
        }
    }
    println!("answers to {REQUESTS} random requests: {statuses:?}");

    // A few requests that are not HTTP at all, straight on the socket.
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\r\n\r\n\r\n",
    ] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
            .await
            .unwrap();
        conn.write_all(garbage).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(15),
            conn.read_to_end(&mut out),
        )
        .await;
        let text = String::from_utf8_lossy(&out);
        assert!(!text.starts_with("HTTP/1.1 5"), "{text}");
    }

    // The event writer still runs on its own timer...
    let series = r#"barkeep_job_runs_total{job="event_writer",outcome="ok"}"#;
    let before = app.metric_or(series, Some(0.0)).await;
    let mut waited = 0;
    while app.metric_or(series, Some(0.0)).await < before + 2.0 {
        waited += 1;
        assert!(waited < 100, "the event writer stopped running");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.metric_or(
            r#"barkeep_job_runs_total{job="event_writer",outcome="panic"}"#,
            Some(0.0)
        )
        .await,
        0.0
    );
    // ...and valid events sent now are counted exactly, on top of whatever the garbage
    // happened to count.
    let path = format!("/api/v1/deployments/{d}/stats");
    app.flush().await;
    let totals = app.stats(&counted.cookie, &path).await["totals"].clone();
    let get = |k: &str| totals[k].as_i64().unwrap();
    for (n, kind) in ["v", "v", "v", "c", "x"].iter().enumerate() {
        let status = app
            .event(&ev(d, kind), &format!("192.0.2.{n}"), BROWSER_UA)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    app.expect_totals(
        &counted.cookie,
        &path,
        [
            get("views") + 3,
            get("unique_visitors") + 3,
            get("clicks") + 1,
            get("dismissals") + 1,
            get("leads"),
        ],
    )
    .await;
}
