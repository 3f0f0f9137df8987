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
