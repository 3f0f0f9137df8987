//! The event and lead endpoints: exact counts, unique visitors, and every reason an event
//! is not counted.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::json;

use crate::columns::values_containing;
use crate::helpers::{BROWSER_UA, Options, TestApp, ev, link_bar};

fn proxied() -> Options {
    // Tests stand in for many visitors behind one proxy.
    Options::default()
        .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
        .var("BARKEEP_EVENT_RATE_PER_IP", "1000")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_are_counted_exactly() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app
        .live_bar("count@example.com", &link_bar("Count me"))
        .await;
    let d = live.deployment;
    // 40 visitors, each on its own connection: 3 views (one page view each), 2 clicks, 1 dismissal.
    let mut tasks = Vec::new();
    for visitor in 0..40 {
        let client = reqwest::Client::new();
        let url = app.url("/e");
        tasks.push(tokio::spawn(async move {
            let ip = format!("198.51.100.{visitor}");
            let mut ok = 0;
            for kind in ["v", "v", "v", "c", "c", "x"] {
                let res = client
                    .post(&url)
                    .header("content-type", "text/plain;charset=UTF-8")
                    .header("user-agent", BROWSER_UA)
                    .header("origin", "https://shop.example")
                    .header("x-forwarded-for", &ip)
                    .body(ev(d, kind).to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::NO_CONTENT);
                assert!(res.headers().get("set-cookie").is_none(), "no cookie, ever");
                ok += 1;
            }
            ok
        }));
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await.unwrap();
    }
    assert_eq!(sent, 240);
    let path = format!("/api/v1/deployments/{d}/stats");
    app.expect_totals(&live.cookie, &path, [120, 40, 80, 40, 0])
        .await;
    let bar = app
        .stats(&live.cookie, &format!("/api/v1/bars/{}/stats", live.bar_id))
        .await;
    assert_eq!(bar["totals"]["ctr"], 80.0 / 120.0);
}

#[tokio::test]
async fn one_visitor_is_one_unique_a_day_and_dnt_gpc_are_never_hashed() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app
        .live_bar("unique@example.com", &link_bar("Unique"))
        .await;
    let d = live.deployment;
    for _ in 0..5 {
        app.event(&ev(d, "v"), "203.0.113.1", BROWSER_UA).await;
    }
    // Same IP, another browser: another visitor.
    app.event(
        &ev(d, "v"),
        "203.0.113.1",
        "Mozilla/5.0 (Macintosh) Safari/605.1.15",
    )
    .await;
    app.event(&ev(d, "v"), "203.0.113.2", BROWSER_UA).await;
    // Do Not Track and Global Privacy Control: counted, never in the uniques.
    let mut dnt = ev(d, "v");
    dnt["p"] = json!(1);
    app.event(&dnt, "203.0.113.3", BROWSER_UA).await;
    let res = app
        .client
        .post(app.url("/e"))
        .header("user-agent", BROWSER_UA)
        .header("sec-gpc", "1")
        .header("x-forwarded-for", "203.0.113.4")
        .body(ev(d, "v").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [9, 3, 0, 0, 0],
    )
    .await;

    // Nothing that identifies a visitor reached the database: no IP, no user agent. Every
    // value of every column of every table is read back and searched (and what is stored,
    // such as the site's hostname, is found).
    assert!(!values_containing(&app.db, "shop.example").await.is_empty());
    for needle in ["203.0.113", "Chrome/131", "Safari/605"] {
        assert_eq!(
            values_containing(&app.db, needle).await,
            Vec::<String>::new(),
            "{needle} is stored somewhere"
        );
    }
}

#[tokio::test]
async fn what_is_not_counted_is_counted_in_metrics_and_never_an_error() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app
        .live_bar("reasons@example.com", &link_bar("Reasons"))
        .await;
    let d = live.deployment;

    // Bots, by user agent (a public crawler list) and by the runtime's automation flag.
    let crawlers = [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "curl/8.5.0",
        "python-requests/2.31.0",
        "",
    ];
    for ua in crawlers {
        assert_eq!(
            app.event(&ev(d, "v"), "192.0.2.1", ua).await,
            StatusCode::NO_CONTENT
        );
    }
    let mut automated = ev(d, "v");
    automated["b"] = json!(1);
    app.event(&automated, "192.0.2.1", BROWSER_UA).await;

    // An unknown deployment, a hostname that is not the site's, a foreign Origin.
    app.event(&ev(d + 1000, "v"), "192.0.2.2", BROWSER_UA).await;
    let mut foreign = ev(d, "v");
    foreign["h"] = json!("evil.example");
    app.event(&foreign, "192.0.2.3", BROWSER_UA).await;
    let res = app
        .client
        .post(app.url("/e"))
        .header("user-agent", BROWSER_UA)
        .header("origin", "https://evil.example")
        .header("x-forwarded-for", "192.0.2.4")
        .body(ev(d, "c").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // A subdomain covered by *.shop.example counts.
    let mut sub = ev(d, "v");
    sub["h"] = json!("www.shop.example");
    app.event(&sub, "192.0.2.5", BROWSER_UA).await;

    app.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [1, 1, 0, 0, 0],
    )
    .await;
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="bot"}"#)
            .await,
        9.0
    );
    // The unknown id is looked up once, then remembered as missing.
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="unknown_deployment"}"#)
            .await,
        1.0
    );
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="foreign_hostname"}"#)
            .await,
        2.0
    );
    assert_eq!(
        app.metric(r#"barkeep_events_counted_total{kind="view"}"#)
            .await,
        1.0
    );
}

#[tokio::test]
async fn garbage_gets_a_short_400_and_is_never_written() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app
        .live_bar("garbage@example.com", &link_bar("Garbage"))
        .await;
    let d = live.deployment;
    let bodies = [
        String::new(),
        "{".into(),
        "[]".into(),
        "null".into(),
        "\u{0}\u{1}binary".into(),
        json!({"d": "one", "k": "v", "h": "shop.example"}).to_string(),
        json!({"d": d, "k": "z", "h": "shop.example"}).to_string(),
        json!({"d": d, "k": "v"}).to_string(),
        json!({"d": -4, "k": "v", "h": "shop.example"}).to_string(),
        json!({"d": d, "k": "v", "h": "x".repeat(300)}).to_string(),
    ];
    for body in &bodies {
        let res = app
            .client
            .post(app.url("/e"))
            .header("user-agent", BROWSER_UA)
            .header("x-forwarded-for", "192.0.2.9")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body:?}");
        let err: serde_json::Value = res.json().await.unwrap();
        assert_eq!(err["error"], "malformed_event");
        assert!(
            err["message"].as_str().unwrap().len() < 200,
            "a short reason"
        );
    }
    let res = app
        .client
        .post(app.url("/e"))
        .body(vec![b'a'; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="malformed"}"#)
            .await,
        bodies.len() as f64
    );
    app.flush().await;
    assert_eq!(
        barkeep::db::entities::site_hostname::Entity::find()
            .all(&app.db)
            .await
            .unwrap()[0]
            .last_event_at,
        None,
        "nothing was written"
    );
    let stats = app
        .stats(&live.cookie, &format!("/api/v1/deployments/{d}/stats"))
        .await;
    assert_eq!(stats["totals"]["views"], 0);
}

#[tokio::test]
async fn the_image_fallback_counts_too() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app.live_bar("pixel@example.com", &link_bar("Pixel")).await;
    let d = live.deployment;
    let res = app
        .client
        .get(app.url(&format!("/e?d={d}&k=v&h=shop.example")))
        .header("user-agent", BROWSER_UA)
        .header("x-forwarded-for", "192.0.2.20")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/gif");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.bytes().await.unwrap().starts_with(b"GIF89a"));
    let res = app
        .client
        .get(app.url("/e?d=x"))
        .header("user-agent", BROWSER_UA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    app.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [1, 1, 0, 0, 0],
    )
    .await;
}

#[tokio::test]
async fn a_client_over_its_rate_is_not_counted() {
    let app = TestApp::spawn_with(Options::default().var("BARKEEP_EVENT_RATE_PER_IP", "5")).await;
    let live = app.live_bar("rate@example.com", &link_bar("Rate")).await;
    let d = live.deployment;
    for _ in 0..40 {
        assert_eq!(
            app.event(&ev(d, "x"), "ignored: not a trusted proxy", BROWSER_UA)
                .await,
            StatusCode::NO_CONTENT
        );
    }
    let limited = app
        .metric(r#"barkeep_events_not_counted_total{reason="rate_limited"}"#)
        .await as i64;
    let counted = app
        .metric(r#"barkeep_events_counted_total{kind="dismiss"}"#)
        .await as i64;
    assert!(limited >= 20, "{limited} rate limited");
    assert_eq!(
        limited + counted,
        40,
        "every event is either counted or rate limited"
    );
    app.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [0, 0, 0, counted, 0],
    )
    .await;
}

#[tokio::test]
async fn events_of_a_long_ended_deployment_are_not_counted() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app.live_bar("ended@example.com", &link_bar("Ended")).await;
    let d = live.deployment;
    let paused = app
        .post_json(
            &format!("/api/v1/bars/{}/pause", live.bar_id),
            &json!({}),
            Some(&live.cookie),
        )
        .await;
    assert_eq!(paused.status(), StatusCode::OK);
    assert_eq!(crate::helpers::body_json(paused).await["status"], "paused");
    // Pages still open may report a little late: counted.
    app.event(&ev(d, "c"), "192.0.2.30", BROWSER_UA).await;
    // Eleven minutes after it ended, no longer.
    app.advance(chrono::Duration::minutes(11));
    app.event(&ev(d, "c"), "192.0.2.31", BROWSER_UA).await;
    app.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [0, 0, 1, 0, 0],
    )
    .await;
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="ended_deployment"}"#)
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_republished_bar_counts_its_new_deployment_at_once_and_its_old_one_ten_minutes_more() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app.live_bar("again@example.com", &link_bar("First")).await;
    let site = live.site["id"].as_i64().unwrap();
    // Another bar on the same site, which the first one's publishes leave alone.
    let other = app.bar(&live.cookie, site, &link_bar("Other")).await["id"]
        .as_i64()
        .unwrap();
    let other_d = app.publish(&live.cookie, other).await[0]["id"]
        .as_i64()
        .unwrap();
    let res = app
        .patch_as(
            &format!("/api/v1/bars/{}", live.bar_id),
            &json!({"message": "Second"}),
            &live.cookie,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (old, new) = (
        live.deployment,
        app.publish(&live.cookie, live.bar_id).await[0]["id"]
            .as_i64()
            .unwrap(),
    );
    assert_ne!(old, new);
    // The new deployment counts at once, on the site's hostnames (its wildcard too).
    let on = |d: i64, k: &str, host: &str| json!({"d": d, "k": k, "h": host});
    for (body, ip) in [
        (on(new, "v", "www.shop.example"), "192.0.2.50"),
        (ev(old, "c"), "192.0.2.51"),
        (ev(other_d, "v"), "192.0.2.52"),
    ] {
        assert_eq!(
            app.event(&body, ip, BROWSER_UA).await,
            StatusCode::NO_CONTENT
        );
    }
    // Eleven minutes on, the old one no longer counts; the others still do.
    app.advance(chrono::Duration::minutes(11));
    for d in [old, new, other_d] {
        app.event(&ev(d, "c"), "192.0.2.53", BROWSER_UA).await;
    }
    let totals = |d: i64| format!("/api/v1/deployments/{d}/stats");
    app.expect_totals(&live.cookie, &totals(old), [0, 0, 1, 0, 0])
        .await;
    app.expect_totals(&live.cookie, &totals(new), [1, 1, 1, 0, 0])
        .await;
    app.expect_totals(&live.cookie, &totals(other_d), [1, 1, 1, 0, 0])
        .await;
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="ended_deployment"}"#)
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_deployment_published_in_another_process_a_moment_ago_is_counted() {
    let a = TestApp::spawn_with(proxied()).await;
    let b = TestApp::spawn_with(proxied().sharing(&a)).await;
    let live = a.live_bar("fresh@example.com", &link_bar("Fresh")).await;
    // B has not polled yet: it parks the event, looks the deployment up, then counts it.
    assert_eq!(
        b.event(&ev(live.deployment, "v"), "192.0.2.40", BROWSER_UA)
            .await,
        StatusCode::NO_CONTENT
    );
    b.flush().await;
    a.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{}/stats", live.deployment),
        [1, 1, 0, 0, 0],
    )
    .await;
}

#[tokio::test]
async fn a_publish_after_another_process_changed_the_hostnames_serves_the_new_ones() {
    let a = TestApp::spawn_with(proxied()).await;
    let b = TestApp::spawn_with(proxied().sharing(&a)).await;
    let live = a.live_bar("moved@example.com", &link_bar("Moved")).await;
    let site = live.site["id"].as_i64().unwrap();
    // B moves the site to another hostname; A has not polled since.
    let res = b
        .patch_as(
            &format!("/api/v1/sites/{site}"),
            &json!({"hostnames": ["moved.example"]}),
            &live.cookie,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A publishes on the site: its deployments learn the site's hostnames as they are now.
    let res = a
        .patch_as(
            &format!("/api/v1/bars/{}", live.bar_id),
            &json!({"message": "Moved, again"}),
            &live.cookie,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let new = a.publish(&live.cookie, live.bar_id).await[0]["id"]
        .as_i64()
        .unwrap();
    let status = a
        .client
        .post(a.url("/e"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", BROWSER_UA)
        .header("origin", "https://moved.example")
        .header("x-forwarded-for", "192.0.2.60")
        .body(json!({"d": new, "k": "v", "h": "moved.example"}).to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    a.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{new}/stats"),
        [1, 1, 0, 0, 0],
    )
    .await;
}

#[tokio::test]
async fn leads_are_counted_and_kept_and_bots_and_garbage_are_not() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app
        .live_bar(
            "leads@example.com",
            &json!({"goal": "email", "message": "Join the list"}),
        )
        .await;
    let other = app
        .bar(
            &live.cookie,
            live.site["id"].as_i64().unwrap(),
            &link_bar("Not an email bar"),
        )
        .await;
    let link_deployment = app
        .publish(&live.cookie, other["id"].as_i64().unwrap())
        .await[0]["id"]
        .as_i64()
        .unwrap();
    let d = live.deployment;
    let lead = |body: serde_json::Value, ip: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/l"))
                .header("content-type", "text/plain;charset=UTF-8")
                .header("user-agent", BROWSER_UA)
                .header("origin", "https://shop.example")
                .header("x-forwarded-for", ip)
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        lead(
            json!({"d": d, "h": "shop.example", "m": "Reader@Example.net", "hp": ""}),
            "192.0.2.50"
        )
        .await,
        StatusCode::NO_CONTENT
    );
    // The honeypot filled in: a bot. Still a 204, not kept.
    assert_eq!(
        lead(
            json!({"d": d, "h": "shop.example", "m": "bot@example.net", "hp": "http://spam"}),
            "192.0.2.51"
        )
        .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        lead(
            json!({"d": d, "h": "shop.example", "m": "not an address"}),
            "192.0.2.52"
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        lead(
            json!({"d": link_deployment, "h": "shop.example", "m": "x@example.net"}),
            "192.0.2.53"
        )
        .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        lead(json!({"h": "shop.example"}), "192.0.2.54").await,
        StatusCode::BAD_REQUEST
    );

    app.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [0, 0, 0, 0, 1],
    )
    .await;
    let leads = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT email FROM leads",
        ))
        .await
        .unwrap();
    assert_eq!(leads.len(), 1);
    let email: String = leads[0].try_get("", "email").unwrap();
    assert_eq!(email, "reader@example.net");
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="honeypot"}"#)
            .await,
        1.0
    );
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="invalid_email"}"#)
            .await,
        1.0
    );
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="not_an_email_bar"}"#)
            .await,
        1.0
    );

    // Ten leads a minute from one address at most.
    for i in 0..12 {
        lead(
            json!({"d": d, "h": "shop.example", "m": format!("r{i}@example.net")}),
            "192.0.2.60",
        )
        .await;
    }
    app.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [0, 0, 0, 0, 11],
    )
    .await;
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="rate_limited"}"#)
            .await,
        2.0
    );
}

#[tokio::test]
async fn the_site_shows_when_each_hostname_last_reported() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app
        .live_bar("install@example.com", &link_bar("Installed?"))
        .await;
    let site_id = live.site["id"].as_i64().unwrap();
    let mut sub = ev(live.deployment, "v");
    sub["h"] = json!("blog.shop.example");
    app.event(&sub, "192.0.2.70", BROWSER_UA).await;
    app.flush().await;
    let site: serde_json::Value = app
        .get_as(&format!("/api/v1/sites/{site_id}"), &live.cookie)
        .await
        .json()
        .await
        .unwrap();
    let seen = &site["hostnames"];
    assert_eq!(seen[0]["hostname"], "shop.example");
    assert!(seen[0]["last_event_at"].is_null(), "{seen}");
    assert_eq!(seen[1]["hostname"], "*.shop.example");
    assert!(seen[1]["last_event_at"].is_string(), "{seen}");
}

#[tokio::test]
async fn salts_are_shared_renewed_daily_and_deleted_with_their_hashes_after_two_days() {
    use barkeep::ingest::day_of;
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_with(Options::default().sharing(&a)).await;
    let live = a.live_bar("salt@example.com", &link_bar("Salt")).await;
    let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let day = |s: &str| day_of(at(s));
    let salt = |app: &TestApp, d: &str| app.state.ingest.salts.get(day(d));

    // Two processes on the same day have the same salt; the next day, another.
    a.set_clock(at("2030-06-03T10:00:00Z"));
    a.run_job("ingest_maintenance").await;
    b.run_job("ingest_maintenance").await;
    assert!(salt(&a, "2030-06-03T00:00:00Z").is_some());
    assert_eq!(
        salt(&a, "2030-06-03T00:00:00Z"),
        salt(&b, "2030-06-03T00:00:00Z")
    );
    assert!(
        salt(&a, "2030-06-04T00:00:00Z").is_none(),
        "tomorrow's salt waits for the last hour"
    );
    a.set_clock(at("2030-06-03T23:30:00Z"));
    a.run_job("ingest_maintenance").await;
    let tuesday = salt(&a, "2030-06-04T00:00:00Z").expect("made before midnight");
    assert_ne!(Some(tuesday), salt(&a, "2030-06-03T00:00:00Z"));

    // A visitor hash of Monday, then Wednesday comes: Monday's salt and hashes are gone.
    let backend = a.db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "INSERT INTO visitor_hashes (deployment_id, day, hash) VALUES ($1, $2, 42)"
        }
        _ => "INSERT INTO visitor_hashes (deployment_id, day, hash) VALUES (?, ?, 42)",
    };
    a.db.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        sql,
        [live.deployment.into(), day("2030-06-03T00:00:00Z").into()],
    ))
    .await
    .unwrap();
    let count = |table: &'static str| {
        let db = &a.db;
        async move {
            db.query_one_raw(sea_orm::Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
        }
    };
    a.set_clock(at("2030-06-04T12:00:00Z"));
    a.run_job("purge_counting_state").await;
    assert_eq!(
        count("visitor_hashes").await,
        1,
        "kept through the next day"
    );
    a.set_clock(at("2030-06-05T00:00:01Z"));
    a.run_job("purge_counting_state").await;
    assert_eq!(count("visitor_hashes").await, 0, "deleted two days on");
    a.run_job("ingest_maintenance").await;
    assert!(salt(&a, "2030-06-03T00:00:00Z").is_none());
    let days: Vec<i64> =
        a.db.query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT day FROM daily_salts ORDER BY day",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "day").unwrap())
        .collect();
    assert!(!days.contains(&day("2030-06-03T00:00:00Z")), "{days:?}");
    assert!(days.contains(&day("2030-06-05T00:00:00Z")));
}
