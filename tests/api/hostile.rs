//! What a hostile visitor or member sends never stops the counting: hostnames that are
//! not ASCII, events parked for deployments not yet known, dates outside any calendar.
//! Each of these once dropped the connection or stopped the event writer for good.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{BROWSER_UA, Options, TestApp, ev, link_bar};

fn proxied() -> Options {
    Options::default()
        .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
        .var("BARKEEP_EVENT_RATE_PER_IP", "1000")
}

/// Waits (in real time: the event writer runs on its own timer) until the event writer
/// has completed `more` further runs.
async fn event_writer_keeps_running(app: &TestApp, more: f64) {
    let series = r#"barkeep_job_runs_total{job="event_writer",outcome="ok"}"#;
    let before = app.metric_or(series, Some(0.0)).await;
    for _ in 0..100 {
        if app.metric_or(series, Some(0.0)).await >= before + more {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the event writer stopped running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostname_that_is_not_ascii_is_refused_not_a_dropped_connection() {
    let app = TestApp::spawn_with(proxied()).await;
    // The live bar's site has `shop.example` and `*.shop.example`.
    let live = app.live_bar("utf8@example.com", &link_bar("Hi")).await;
    let d = live.deployment;
    for host in [
        "éhop.example",
        "ééééééééééééé",
        "x.éhop.example",
        "shop.éxample",
    ] {
        let status = app
            .event(
                &json!({"d": d, "k": "v", "h": host}),
                "203.0.113.7",
                BROWSER_UA,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{host}");
    }
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="foreign_hostname"}"#)
            .await,
        4.0
    );
    app.event(&ev(d, "v"), "203.0.113.7", BROWSER_UA).await;
    app.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{d}/stats"),
        [1, 1, 0, 0, 0],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_parked_for_a_deployment_not_yet_known_cannot_stop_the_writer() {
    let app = TestApp::spawn_with(proxied()).await;
    let live = app.live_bar("park@example.com", &link_bar("Park")).await;
    let res = app
        .post_json(
            &format!("/api/v1/bars/{}/pause", live.bar_id),
            &json!({}),
            Some(&live.cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The next deployment ids do not exist yet: these events are parked for the writer.
    let next = live.deployment + 1;
    for host in ["éhop.example", "shop.example"] {
        let status = app
            .event(
                &json!({"d": next, "k": "v", "h": host}),
                "203.0.113.8",
                BROWSER_UA,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let deployments = app.publish(&live.cookie, live.bar_id).await;
    assert_eq!(deployments[0]["id"].as_i64(), Some(next));
    // The writer looks the deployment up, refuses the foreign host, counts the other —
    // and keeps running on its own timer.
    event_writer_keeps_running(&app, 3.0).await;
    app.event(&ev(next, "c"), "203.0.113.8", BROWSER_UA).await;
    event_writer_keeps_running(&app, 2.0).await;
    assert!(
        app.state.ingest.unwritten().clicks == 0,
        "the writer wrote the click"
    );
    app.expect_totals(
        &live.cookie,
        &format!("/api/v1/deployments/{next}/stats"),
        [1, 1, 1, 0, 0],
    )
    .await;
}

#[tokio::test]
async fn dates_outside_the_calendar_are_a_clear_error() {
    let app = TestApp::spawn().await;
    let cookie = app.member("range@example.com").await;
    let site = app.site(&cookie, &["shop.example"]).await;
    let id = site["id"].as_i64().unwrap();
    for query in [
        "to=-262143-01-01",
        "from=-262143-01-01",
        "to=+262142-12-31",
        "from=262142-12-31&to=262142-12-31",
        "from=0000-01-01&to=0001-01-01",
        "to=9999-12-31T23:59:59Z&interval=hour",
        "from=-262143-01-01T00:00:00Z&to=262142-12-31T00:00:00Z",
    ] {
        let res = app
            .get_as(&format!("/api/v1/sites/{id}/stats?{query}"), &cookie)
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid", "{query}: {body}");
    }
}

#[tokio::test]
async fn a_client_that_sends_half_a_request_is_cut_off_and_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(
        Options::default()
            .var("BARKEEP_HEADER_TIMEOUT", "1")
            .var("BARKEEP_BODY_TIMEOUT", "1"),
    )
    .await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut half_head = tokio::net::TcpStream::connect(&address).await.unwrap();
    half_head
        .write_all(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n")
        .await
        .unwrap();
    let mut half_body = tokio::net::TcpStream::connect(&address).await.unwrap();
    half_body
        .write_all(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{\"d\":1,")
        .await
        .unwrap();
    // Meanwhile everyone else is served.
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), half_head.read_to_end(&mut out))
        .await
        .expect("the half-sent head is cut off")
        .unwrap();
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    let mut out = vec![0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(10), half_body.read(&mut out))
        .await
        .expect("the half-sent body is answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&out[..n]);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_ipv6_client_cannot_step_around_limits_by_changing_its_address() {
    let app = TestApp::spawn_with(
        Options::default()
            .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
            .var("BARKEEP_EVENT_RATE_PER_IP", "5"),
    )
    .await;
    let live = app.live_bar("v6@example.com", &link_bar("Hi")).await;
    let d = live.deployment;
    // 30 events at once, each from another address of one /64: 10 pass (a burst of
    // twice the rate), the rest are refused.
    for i in 0..30 {
        let ip = format!("2001:db8:7:7:{i:x}::1");
        app.event(&ev(d, "v"), &ip, BROWSER_UA).await;
    }
    let limited = app
        .metric(r#"barkeep_events_not_counted_total{reason="rate_limited"}"#)
        .await;
    assert!(limited >= 15.0, "only {limited} refused");
    // Another /64 is another client.
    assert_eq!(
        app.event(&ev(d, "v"), "2001:db8:7:8::1", BROWSER_UA).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="rate_limited"}"#)
            .await,
        limited
    );

    // Logins: 20 failures from one /64, each from a new address, and the 21st waits.
    for i in 0..20 {
        let res = app
            .client
            .post(app.url("/api/v1/login"))
            .header("x-forwarded-for", format!("2001:db8:9:9:{i:x}::2"))
            .json(
                &json!({"email": format!("nobody{i}@example.com"), "password": "wrong password!"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .client
        .post(app.url("/api/v1/login"))
        .header("x-forwarded-for", "2001:db8:9:9:ffff::9")
        .json(&json!({"email": "v6@example.com", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = app
        .client
        .post(app.url("/api/v1/login"))
        .header("x-forwarded-for", "2001:db8:9:a::9")
        .json(&json!({"email": "v6@example.com", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "another /64 logs in");
}
