//! Limits and uniqueness hold under concurrency: two creates at once cannot both take the
//! last slot, nor the same name. The checks and the writes share one transaction with the
//! parent row locked (PostgreSQL) or the database's write lock held (SQLite).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, body_json, link_bar};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bars_at_once_cannot_both_take_the_last_slot() {
    let app = TestApp::spawn().await;
    let me = app.member("slots@example.com").await;
    let site = app.site(&me, &["shop.example"]).await["id"]
        .as_i64()
        .unwrap();
    let cap = barkeep::catalog::bars::MAX_BARS_PER_SITE;
    for i in 1..cap {
        app.bar(&me, site, &link_bar(&format!("Bar {i}"))).await;
    }
    let path = format!("/api/v1/sites/{site}/bars");
    let (one, two) = futures_util::future::join(
        app.post_json(&path, &link_bar("Last one"), Some(&me)),
        app.post_json(&path, &link_bar("One too many"), Some(&me)),
    )
    .await;
    let mut statuses = [one.status(), two.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    let refused = if one.status() == StatusCode::CONFLICT {
        one
    } else {
        two
    };
    assert_eq!(body_json(refused).await["error"], "too_many_bars");
    let list = body_json(app.get_as(&path, &me).await).await;
    assert_eq!(list["bars"].as_array().unwrap().len() as u64, cap);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_at_once_keep_their_cap_and_their_names_unique() {
    let app = TestApp::spawn().await;
    let me = app.member("variants@example.com").await;
    let site = app.site(&me, &["shop.example"]).await["id"]
        .as_i64()
        .unwrap();
    let bar = app.bar(&me, site, &link_bar("A/B/C")).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/bars/{bar}/variants");

    // The same name twice at once: one of them.
    let body = json!({"name": "Bold", "message": "Bold offer"});
    let (one, two) = futures_util::future::join(
        app.post_json(&path, &body, Some(&me)),
        app.post_json(&path, &body, Some(&me)),
    )
    .await;
    let mut statuses = [one.status(), two.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    let refused = if one.status() == StatusCode::CONFLICT {
        one
    } else {
        two
    };
    assert_eq!(body_json(refused).await["error"], "variant_name_taken");
    // Renaming onto a taken name, in any case, is refused too.
    let vars = body_json(app.get_as(&path, &me).await).await;
    let a = vars["variants"][0]["id"].as_i64().unwrap();
    let res = app
        .send(
            reqwest::Method::PATCH,
            &format!("{path}/{a}"),
            &me,
            Some(&json!({"name": "BOLD"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(body_json(res).await["error"], "variant_name_taken");

    // Up to the cap, then two at once for the last slot.
    let cap = barkeep::catalog::variants::MAX_VARIANTS;
    for i in 3..cap {
        let res = app
            .post_json(&path, &json!({"message": format!("V{i}")}), Some(&me))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let (one, two) = futures_util::future::join(
        app.post_json(&path, &json!({"message": "last"}), Some(&me)),
        app.post_json(&path, &json!({"message": "too many"}), Some(&me)),
    )
    .await;
    let mut statuses = [one.status(), two.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    let vars = body_json(app.get_as(&path, &me).await).await;
    assert_eq!(vars["variants"].as_array().unwrap().len() as u64, cap);

    // And the last one cannot go.
    for v in vars["variants"].as_array().unwrap().iter().skip(1) {
        let id = v["id"].as_i64().unwrap();
        let res = app
            .send(reqwest::Method::DELETE, &format!("{path}/{id}"), &me, None)
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let res = app
        .send(reqwest::Method::DELETE, &format!("{path}/{a}"), &me, None)
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(body_json(res).await["error"], "last_variant");
}

/// Members publishing at once, with visitors' events being written meanwhile: every
/// publish answers, none with a server error, none after seconds of waiting for the
/// database's write lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_publishing_at_once_never_get_a_server_error() {
    const MEMBERS: usize = 4;
    const BARS: usize = 40;
    const ROUNDS: usize = 4;
    let app = std::sync::Arc::new(
        TestApp::spawn_with(
            crate::helpers::Options::default()
                .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
                .var("BARKEEP_EVENT_RATE_PER_IP", "100000"),
        )
        .await,
    );
    let mut members = Vec::new();
    for m in 0..MEMBERS {
        let cookie = app.member(&format!("busy{m}@example.com")).await;
        let site = app.site(&cookie, &["shop.example"]).await["id"]
            .as_i64()
            .unwrap();
        let mut bars = Vec::new();
        for b in 0..BARS {
            let bar = app.bar(&cookie, site, &link_bar(&format!("Bar {b}"))).await;
            bars.push(bar["id"].as_i64().unwrap());
        }
        members.push((cookie, bars));
    }
    let first = app.publish(&members[0].0, members[0].1[0]).await[0]["id"]
        .as_i64()
        .unwrap();
    // Visitors, all along.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let visitors = tokio::spawn({
        let (app, stop) = (app.clone(), stop.clone());
        async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ip = format!("198.51.{}.{}", (n / 250) % 250, n % 250);
                app.event(
                    &crate::helpers::ev(first, "v"),
                    &ip,
                    crate::helpers::BROWSER_UA,
                )
                .await;
                n += 1;
            }
        }
    });
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (cookie, bars) in members {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut worst = std::time::Duration::ZERO;
            let mut failures = Vec::new();
            for round in 0..ROUNDS {
                for bar in &bars {
                    let at = std::time::Instant::now();
                    let edit = app
                        .send(
                            reqwest::Method::PATCH,
                            &format!("/api/v1/bars/{bar}"),
                            &cookie,
                            Some(&json!({"message": format!("Round {round}")})),
                        )
                        .await
                        .status();
                    let publish = app
                        .post_json(
                            &format!("/api/v1/bars/{bar}/publish"),
                            &json!({}),
                            Some(&cookie),
                        )
                        .await
                        .status();
                    worst = worst.max(at.elapsed());
                    if edit != StatusCode::OK || publish != StatusCode::OK {
                        failures.push((edit, publish));
                    }
                }
            }
            (worst, failures)
        }));
    }
    let mut worst = std::time::Duration::ZERO;
    let mut failures = Vec::new();
    for t in tasks {
        let (w, f) = t.await.unwrap();
        worst = worst.max(w);
        failures.extend(f);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    visitors.await.unwrap();
    println!(
        "{} edits and publishes in {:?}; the slowest pair took {worst:?}",
        MEMBERS * BARS * ROUNDS,
        started.elapsed()
    );
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        worst < std::time::Duration::from_secs(4),
        "a publish waited {worst:?} for the database"
    );
}
