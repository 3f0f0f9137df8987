//! Reading counts: series, ranges, CSV, the A/B comparison, usage, and ownership.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, link_bar};

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
    let (b, da, db) = app.with_variant_b(&live).await;
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
    // One day of both at 15 % and 20 %: a fixed-sample test would call it (z ≈ 2.9), the
    // sequential test, which must stay right under daily reading, does not yet.
    let x = &s["experiment"];
    assert_eq!(x["method"], "msprt");
    assert_eq!(x["confidence"], 0.95);
    assert_eq!(x["control"], variants[0]["variant_id"]);
    assert_eq!(x["control_name"], "A");
    let c = &x["comparisons"][0];
    assert_eq!(c["variant_id"], b);
    // Only the day both were shown: A's day alone is left out of the comparison.
    assert_eq!(
        (c["days"].as_i64(), c["control_views"].as_i64()),
        (Some(1), Some(1000))
    );
    assert_eq!(c["significant"], false);
    assert!((c["difference"].as_f64().unwrap() - 0.05).abs() < 1e-9);
    assert!(c["p_value"].as_f64().unwrap() > 0.05);
    let (low, high) = (
        c["interval"]["low"].as_f64().unwrap(),
        c["interval"]["high"].as_f64().unwrap(),
    );
    assert!(low < 0.0 && high > 0.05, "{low} {high}");
    assert!(
        x["verdict"]
            .as_str()
            .unwrap()
            .starts_with("No difference between B and A can be claimed yet (+5.00 points so far"),
        "{x}"
    );
    assert!(c["days_needed"].as_i64().unwrap() >= 1);

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

/// A and B at 3.0 % and 4.5 % click-through, 400 views each a day, read through the API as
/// each day ended: nothing is claimed, with a projection that counts down, until the day
/// the difference is sure; from then on the verdict stays, the interval only narrows, and
/// the stats page and the CSV say the same.
#[tokio::test]
async fn a_comparison_read_every_day_is_called_once_sure_and_stays_called() {
    let app = TestApp::spawn().await;
    let live = app.live_bar("daily@example.com", &link_bar("Plain")).await;
    let (b, da, db) = app.with_variant_b(&live).await;
    let start = "2026-10-01T12:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    for day in 0..30 {
        let at = (start + chrono::Duration::days(day)).to_rfc3339();
        seed(&app, da, &at, 400, 12).await;
        seed(&app, db, &at, 400, 18).await;
    }
    let read = |day: i64| {
        let to = (start + chrono::Duration::days(day - 1)).format("%Y-%m-%d");
        format!("/api/v1/bars/{}/experiment?to={to}", live.bar_id)
    };
    let mut called_on = None;
    let mut width = f64::INFINITY;
    for day in 1..=30 {
        let x = app.stats(&live.cookie, &read(day)).await;
        let c = &x["comparisons"][0];
        assert_eq!(
            (c["variant_id"].as_i64(), c["days"].as_i64()),
            (Some(b), Some(day))
        );
        let (low, high) = (
            c["interval"]["low"].as_f64().unwrap(),
            c["interval"]["high"].as_f64().unwrap(),
        );
        assert!(high - low <= width, "day {day}: the interval never widens");
        width = high - low;
        if c["significant"] == true {
            called_on.get_or_insert(day);
            assert!(low > 0.0, "day {day}: {c}");
            assert_eq!(
                x["verdict"],
                "B beats A: +1.50 points (4.50 % against 3.00 %), 95 % sure, stable under daily reading."
            );
        } else {
            assert!(
                called_on.is_none(),
                "day {day}: called on {called_on:?}, then not: {c}"
            );
            // The rates are the same every day, so the projection is exact.
            let left = c["days_needed"].as_i64().unwrap();
            let verdict = x["verdict"].as_str().unwrap();
            assert!(
                verdict.contains(&format!("about {left} more day")),
                "{verdict}"
            );
            assert!(low < 0.0, "day {day}: {c}");
        }
    }
    // By the formula: Λ first reaches 20 after 8 days (ln Λ ≈ 3.23; 2.69 after 7).
    assert_eq!(called_on, Some(8));
    let first = app.stats(&live.cookie, &read(1)).await;
    assert_eq!(first["comparisons"][0]["days_needed"], 7);

    let csv = app
        .get_as(&format!("{}&format=csv", read(30)), &live.cookie)
        .await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let line = text.lines().nth(1).unwrap().to_string();
    assert!(
        line.starts_with(&format!("{b},\"B\",30,12000,360,12000,540,0.015000,")),
        "{line}"
    );
    assert!(line.contains(",true,,\"B beats A: +1.50 points"), "{line}");

    let page = app
        .get_as(
            &format!("/bars/{}/stats?range=365d", live.bar_id),
            &live.cookie,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("B beats A: +1.50 points (4.50 % against 3.00 %)"),
        "{page}"
    );
    assert!(
        page.contains(r#"<span class="badge live">beats A</span>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"aria-labelledby="intervals-caption""#),
        "{page}"
    );
    assert!(page.contains(&format!("/api/v1/bars/{}/experiment?to=", live.bar_id)));

    let bad = app
        .get_as(
            &format!("/api/v1/bars/{}/experiment?to=yesterday", live.bar_id),
            &live.cookie,
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
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
