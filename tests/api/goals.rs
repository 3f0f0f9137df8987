//! Holdouts and site goals: a share of a bar's visitors held out (shown nothing, counted),
//! goals reached later in the visit, counted per deployment through the event writer and
//! compared in the bar's experiment.

use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{BROWSER_UA, Options, TestApp, body_json, link_bar};

async fn add_goal(app: &TestApp, cookie: &str, site: i64, body: Value) -> (StatusCode, Value) {
    let res = app
        .post_json(&format!("/api/v1/sites/{site}/goals"), &body, Some(cookie))
        .await;
    let status = res.status();
    (status, body_json(res).await)
}

/// Sends one event per entry from its own address (no rate limit is involved).
async fn send_all(app: &TestApp, events: &[Value], first_ip: u32) -> u32 {
    let mut ip = first_ip;
    for e in events {
        ip += 1;
        let addr = std::net::Ipv4Addr::from(0x0a00_0000 + ip).to_string();
        assert_eq!(
            app.event(e, &addr, BROWSER_UA).await,
            StatusCode::NO_CONTENT,
            "{e}"
        );
    }
    ip
}

fn times(n: usize, e: Value) -> Vec<Value> {
    vec![e; n]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_out_and_shown_visits_and_their_goals_are_counted_exactly_and_compared() {
    // Each event comes from its own address, as from many visitors.
    let app =
        TestApp::spawn_with(Options::default().var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")).await;
    let mut body = link_bar("Free shipping");
    body["holdout"] = json!(20);
    let live = app.live_bar("goals@example.com", &body).await;
    let site = live.site["id"].as_i64().unwrap();
    let (_, da, db) = app.with_variant_b(&live).await;
    let (status, purchase) = add_goal(&app, &live.cookie, site, json!({"name": "purchase"})).await;
    assert_eq!(status, StatusCode::CREATED, "{purchase}");
    let (_, signup) = add_goal(
        &app,
        &live.cookie,
        site,
        json!({"name": "signup", "path": "/thanks*"}),
    )
    .await;
    let (p, s) = (
        purchase["id"].as_i64().unwrap(),
        signup["id"].as_i64().unwrap(),
    );

    // The script carries the goals and the holdout, and the module that reports them.
    let key = live.site["key"].as_str().unwrap();
    let script = app.script(key).await;
    assert!(
        script.contains(&format!(
            r#""g":[[{p},"purchase",null],[{s},"signup","/thanks*"]]"#
        )),
        "{script}"
    );
    assert!(script.contains(r#""ho":20"#), "{script}");

    // Another member's site and goal: its id is refused on this bar's deployments.
    let other = app
        .live_bar("other@example.com", &link_bar("Elsewhere"))
        .await;
    let (_, foreign) = add_goal(
        &app,
        &other.cookie,
        other.site["id"].as_i64().unwrap(),
        json!({"name": "purchase"}),
    )
    .await;
    let foreign = foreign["id"].as_i64().unwrap();

    let e = |d: i64, k: &str| json!({"d": d, "k": k, "h": "shop.example"});
    let g = |d: i64, goal: i64, held: u8, value: Option<f64>| {
        let mut v = json!({"d": d, "k": "g", "h": "shop.example", "g": goal, "a": held});
        if let Some(n) = value {
            v["n"] = json!(n);
        }
        v
    };
    let mut counted = Vec::new();
    counted.extend(times(40, e(da, "e")));
    counted.extend(times(35, e(db, "e")));
    counted.extend(times(20, e(da, "o")));
    counted.extend(times(4, g(da, p, 0, Some(49.904))));
    counted.extend(times(6, g(db, p, 0, Some(10.0))));
    counted.extend(times(1, g(da, p, 1, Some(49.9))));
    counted.extend(times(3, g(db, s, 0, None)));
    counted.extend(times(2, g(da, s, 1, Some(-5.0))));
    let mut refused = Vec::new();
    refused.extend(times(3, g(da, foreign, 0, None)));
    refused.extend(times(2, g(da, 999_999, 0, None)));
    // The other bar holds no one out: neither a held-out visit nor a held-out goal counts.
    refused.extend(times(2, e(other.deployment, "o")));
    // Nor a shown visit on a site with neither a goal nor a holdout: nothing to compare.
    let third = app.live_bar("third@example.com", &link_bar("Plain")).await;
    refused.extend(times(1, e(third.deployment, "e")));
    let ip = send_all(&app, &counted, 0).await;
    send_all(&app, &refused, ip).await;
    // Not an event at all: a clear 400.
    let bad = app
        .event(
            &json!({"d": da, "k": "g", "h": "shop.example"}),
            "10.9.9.9",
            BROWSER_UA,
        )
        .await;
    assert_eq!(bad, StatusCode::BAD_REQUEST);
    app.flush().await;

    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="unknown_goal"}"#)
            .await,
        8.0
    );
    let x = app
        .stats(
            &live.cookie,
            &format!(
                "/api/v1/bars/{}/experiment?to={}",
                live.bar_id,
                (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d")
            ),
        )
        .await;
    let goals = &x["goals"];
    assert_eq!(goals["holdout"], 20, "{goals}");
    assert_eq!(
        (&goals["shown_visits"], &goals["held_out_visits"]),
        (&json!(75), &json!(20)),
        "{goals}"
    );
    let by_name = |name: &str| {
        goals["goals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .unwrap()
            .clone()
    };
    let purchase = by_name("purchase");
    assert_eq!(
        [
            &purchase["shown_visits"],
            &purchase["shown_reached"],
            &purchase["held_out_visits"],
            &purchase["held_out_reached"]
        ],
        [&json!(75), &json!(10), &json!(20), &json!(1)],
        "{purchase}"
    );
    assert_eq!(purchase["shown_value"], json!(4.0 * 49.9 + 60.0));
    assert_eq!(purchase["held_out_value"], json!(49.9));
    let per_variant: Vec<(i64, i64)> = purchase["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["visits"].as_i64().unwrap(),
                v["reached"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(per_variant, [(40, 4), (35, 6)]);
    let signup = by_name("signup");
    assert_eq!(signup["path"], "/thanks*");
    assert_eq!(
        (&signup["shown_reached"], &signup["held_out_reached"]),
        (&json!(3), &json!(2))
    );
    // A value that is not an amount is left out; the goal still counts.
    assert_eq!(signup["held_out_value"], json!(0.0));
    assert!(
        purchase["verdict"]
            .as_str()
            .unwrap()
            .starts_with("purchase: not enough data yet"),
        "{purchase}"
    );

    // The CSV has a row per goal.
    let csv = app
        .get_as(
            &format!("/api/v1/bars/{}/experiment?format=csv", live.bar_id),
            &live.cookie,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(",\"goal: purchase\","), "{csv}");

    // Deleting a goal takes its counts and its place in the script; its events are then
    // refused.
    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/sites/{site}/goals/{p}"),
            &live.cookie,
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(!app.script(key).await.contains("\"purchase\""));
    send_all(&app, &times(2, g(da, p, 0, None)), 500).await;
    app.flush().await;
    assert_eq!(
        app.metric(r#"barkeep_events_not_counted_total{reason="unknown_goal"}"#)
            .await,
        10.0
    );
    let x = app
        .stats(
            &live.cookie,
            &format!("/api/v1/bars/{}/experiment", live.bar_id),
        )
        .await;
    assert_eq!(x["goals"]["goals"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goals_and_holdouts_refuse_what_they_cannot_keep() {
    let app = TestApp::spawn().await;
    let live = app.live_bar("rules@example.com", &link_bar("Rules")).await;
    let site = live.site["id"].as_i64().unwrap();
    for (body, field) in [
        (json!({"name": "Purchase"}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "a".repeat(41)}), "name"),
        (json!({"name": "ok", "path": "thanks"}), "path"),
        (json!({"name": "ok", "path": "/a b"}), "path"),
    ] {
        let (status, err) = add_goal(&app, &live.cookie, site, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} {err}");
        assert_eq!(err["field"], field, "{err}");
    }
    let (status, _) = add_goal(&app, &live.cookie, site, json!({"name": "signup"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = add_goal(&app, &live.cookie, site, json!({"name": "signup"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    for i in 1..20 {
        let (status, _) =
            add_goal(&app, &live.cookie, site, json!({"name": format!("g{i}")})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, err) = add_goal(&app, &live.cookie, site, json!({"name": "one-more"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let list = app
        .stats(&live.cookie, &format!("/api/v1/sites/{site}/goals"))
        .await;
    assert_eq!(list["goals"].as_array().unwrap().len(), 20);

    // Another account's goal is not found, whoever asks.
    let other = app.member("stranger@example.com").await;
    let first = list["goals"][0]["id"].as_i64().unwrap();
    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/sites/{site}/goals/{first}"),
            &other,
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    for (holdout, status) in [
        (json!(51), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(-1), StatusCode::UNPROCESSABLE_ENTITY),
        (json!("ten"), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let res = app
            .send(
                Method::PATCH,
                &format!("/api/v1/bars/{}", live.bar_id),
                &live.cookie,
                Some(&json!({"holdout": holdout})),
            )
            .await;
        assert_eq!(res.status(), status, "{holdout}");
    }
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/bars/{}", live.bar_id),
            &live.cookie,
            Some(&json!({"holdout": 50})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["holdout"], 50);
}
