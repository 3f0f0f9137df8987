//! Reading counts: series, ranges, CSV, the A/B comparison, usage, and ownership.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body_json, link_bar};

/// Adds counts for a deployment at an hour, as the event writer does.
async fn seed(app: &TestApp, deployment: i64, hour: &str, views: i64, clicks: i64) {
    let hour = hour
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .timestamp();
    let counts = barkeep::domain::Counts {
        views,
        unique_visitors: views / 2,
        clicks,
        dismissals: 1,
        leads: 0,
    };
    barkeep::ingest::add_counts(&app.db, &[((deployment, hour), counts)].into())
        .await
        .unwrap();
}

#[tokio::test]
async fn series_by_day_and_by_hour_over_any_range() {
    let app = TestApp::spawn().await;
    let live = app
        .live_bar("series@example.com", &link_bar("Series"))
        .await;
    let d = live.deployment;
    seed(&app, d, "2026-10-30T09:00:00Z", 100, 10).await;
    seed(&app, d, "2026-10-30T17:00:00Z", 50, 5).await;
    seed(&app, d, "2026-11-02T00:00:00Z", 10, 0).await;

    let s = app
        .stats(
            &live.cookie,
            &format!("/api/v1/deployments/{d}/stats?from=2026-10-29&to=2026-11-02"),
        )
        .await;
    assert_eq!(s["interval"], "day");
    assert_eq!(s["from"], "2026-10-29T00:00:00Z");
    assert_eq!(
        s["to"], "2026-11-03T00:00:00Z",
        "a date as `to` includes that day"
    );
    let series = s["series"].as_array().unwrap();
    assert_eq!(series.len(), 5);
    assert_eq!(series[1]["start"], "2026-10-30T00:00:00Z");
    assert_eq!(series[1]["views"], 150);
    assert_eq!(series[1]["clicks"], 15);
    assert_eq!(series[1]["ctr"], 0.1);
    assert_eq!(series[2]["views"], 0);
    assert_eq!(series[2]["ctr"], Value::Null);
    assert_eq!(s["totals"]["views"], 160);
    assert_eq!(s["totals"]["dismissals"], 3);

    let s = app
        .stats(&live.cookie, &format!("/api/v1/deployments/{d}/stats?from=2026-10-30T08:00:00Z&to=2026-10-30T18:00:00Z&interval=hour"))
        .await;
    let series = s["series"].as_array().unwrap();
    assert_eq!(series.len(), 10);
    assert_eq!(series[1]["start"], "2026-10-30T09:00:00Z");
    assert_eq!(series[1]["views"], 100);
    assert_eq!(series[9]["views"], 50);
    assert_eq!(s["totals"]["views"], 150);

    for bad in [
        "interval=week",
        "from=yesterday",
        "from=2026-11-05&to=2026-11-01",
        "from=2020-01-01&interval=hour",
        "colour=red",
    ] {
        let res = app
            .get_as(
                &format!("/api/v1/deployments/{d}/stats?{bad}"),
                &live.cookie,
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

#[tokio::test]
async fn csv_on_request() {
    let app = TestApp::spawn().await;
    let live = app.live_bar("csv@example.com", &link_bar("CSV")).await;
    seed(&app, live.deployment, "2026-10-30T09:00:00Z", 40, 4).await;
    let path = format!(
        "/api/v1/bars/{}/stats?from=2026-10-30&to=2026-10-31",
        live.bar_id
    );
    for res in [
        app.client
            .get(app.url(&path))
            .header("cookie", &live.cookie)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap(),
        app.get_as(&format!("{path}&format=csv"), &live.cookie)
            .await,
    ] {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(
            res.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(".csv")
        );
        let text = res.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "start,views,unique_visitors,clicks,dismissals,leads,ctr"
        );
        assert_eq!(lines[1], "2026-10-30T00:00:00Z,40,20,4,1,0,0.100000");
        assert_eq!(lines[2], "2026-10-31T00:00:00Z,0,0,0,0,0,");
    }
}

#[tokio::test]
async fn a_bar_compares_its_variants() {
    let app = TestApp::spawn().await;
    let live = app
        .live_bar("abstats@example.com", &link_bar("Plain"))
        .await;
    let res = app
        .post_json(
            &format!("/api/v1/bars/{}/variants", live.bar_id),
            &json!({"message": "Bold!"}),
            Some(&live.cookie),
        )
        .await;
    let b = body_json(res).await["id"].as_i64().unwrap();
    let deployments = app.publish(&live.cookie, live.bar_id).await;
    let (da, db) = (
        deployments[0]["id"].as_i64().unwrap(),
        deployments[1]["id"].as_i64().unwrap(),
    );
    seed(&app, da, "2026-10-30T09:00:00Z", 1000, 150).await;
    seed(&app, db, "2026-10-30T09:00:00Z", 1000, 200).await;
    // The first deployment of A (before B existed) still counts for A.
    seed(&app, live.deployment, "2026-10-29T09:00:00Z", 10, 1).await;

    let s = app
        .stats(
            &live.cookie,
            &format!(
                "/api/v1/bars/{}/stats?from=2026-10-29&to=2026-10-30",
                live.bar_id
            ),
        )
        .await;
    assert_eq!(s["totals"]["views"], 2010);
    let variants = s["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    assert_eq!(variants[0]["name"], "A");
    assert_eq!(variants[0]["views"], 1010);
    assert_eq!(variants[1]["name"], "B");
    assert_eq!(variants[1]["clicks"], 200);
    let ab = &s["ab_test"];
    assert_eq!(ab["leader"], b);
    assert_eq!(ab["significant"], true);
    assert_eq!(ab["confidence"], 0.95);
    assert!(ab["p_value"].as_f64().unwrap() < 0.01);
    assert!(ab["z"].as_f64().unwrap().abs() > 1.96);
    assert!(ab["note"].as_str().unwrap().contains("B leads"));

    let v = app
        .stats(
            &live.cookie,
            &format!(
                "/api/v1/bars/{}/variants/{b}/stats?from=2026-10-29&to=2026-10-30",
                live.bar_id
            ),
        )
        .await;
    assert_eq!(v["totals"]["clicks"], 200);
    let site = app
        .stats(
            &live.cookie,
            &format!(
                "/api/v1/sites/{}/stats?from=2026-10-29&to=2026-10-30",
                live.site["id"]
            ),
        )
        .await;
    assert_eq!(site["totals"]["views"], 2010);
}

#[tokio::test]
async fn usage_counts_this_months_views() {
    let app = TestApp::spawn().await;
    let live = app.live_bar("usage@example.com", &link_bar("Usage")).await;
    let now = chrono::Utc::now();
    seed(
        &app,
        live.deployment,
        &now.format("%Y-%m-%dT%H:00:00Z").to_string(),
        70,
        0,
    )
    .await;
    seed(&app, live.deployment, "2020-01-01T00:00:00Z", 1000, 0).await;
    let u = app
        .stats(
            &live.cookie,
            &format!("/api/v1/sites/{}/usage", live.site["id"]),
        )
        .await;
    assert_eq!(u["views"], 70);
    assert_eq!(u["month"], now.format("%Y-%m").to_string());
}
