use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, body_json, link_bar};

async fn setup(app: &TestApp, email: &str) -> (String, i64) {
    let me = app.member(email).await;
    let site = app.site(&me, &["shop.example"]).await;
    (me, site["id"].as_i64().unwrap())
}

#[tokio::test]
async fn a_bar_needs_only_goal_message_button_and_link() {
    let app = TestApp::spawn().await;
    let (me, site) = setup(&app, "min@example.com").await;
    let bar = app
        .bar(&me, site, &link_bar("Free shipping this week"))
        .await;
    assert_eq!(bar["status"], "draft");
    assert_eq!(bar["goal"], "link");
    assert_eq!(bar["placement"], "top");
    assert_eq!(bar["display"], "overlay");
    assert_eq!(bar["sticky"], true);
    assert_eq!(bar["closable"], true);
    assert_eq!(bar["trigger"], json!({"type": "immediate"}));
    assert_eq!(
        bar["frequency"],
        json!({"after_dismiss_days": 7, "after_conversion_days": 30, "once_per_visit": false, "max_views": null, "every_nth_page": null})
    );
    assert_eq!(bar["targeting"]["device"], "any");
    assert_eq!(bar["element_type"], "bar");
    assert_eq!(bar["countdown"], Value::Null);
    assert_eq!(bar["name"], "Free shipping this week");
    let v = &bar["variants"][0];
    assert_eq!(v["name"], "A");
    assert_eq!(v["message"], "Free shipping this week");
    assert_eq!(v["link_url"], "https://shop.example/sale");
    assert_eq!(v["background_color"], "#1f2937");
}

#[tokio::test]
async fn every_option_can_be_set() {
    let app = TestApp::spawn().await;
    let (me, site) = setup(&app, "all@example.com").await;
    let bar = app
        .bar(
            &me,
            site,
            &json!({
                "name": "Newsletter", "goal": "email", "message": "Get our newsletter",
                "button_label": "Subscribe", "thanks_message": "Welcome aboard",
                "placement": "bottom", "display": "push_down", "sticky": false, "closable": false, "powered_by": false,
                "background_color": "#FFF", "text_color": "#111111", "button_color": "#0b5394", "button_text_color": "#ffffff",
                "targeting": {
                    "paths_include": ["/blog/*"], "paths_exclude": ["/blog/private*"], "device": "desktop",
                    "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
                    "referrer_domain": "News.Example", "utm_source": "mail", "utm_campaign": "spring"
                },
                "trigger": {"type": "scroll", "percent": 40},
                "frequency": {"after_dismiss_days": "forever", "after_conversion_days": 0}
            }),
        )
        .await;
    assert_eq!(bar["placement"], "bottom");
    assert_eq!(bar["display"], "push_down");
    assert_eq!(bar["targeting"]["referrer_domain"], "news.example");
    assert_eq!(bar["targeting"]["starts_at"], "2026-01-01T00:00:00Z");
    assert_eq!(bar["trigger"], json!({"type": "scroll", "percent": 40}));
    assert_eq!(bar["frequency"]["after_dismiss_days"], "forever");
    assert_eq!(bar["variants"][0]["background_color"], "#ffffff");
    assert_eq!(bar["variants"][0]["thanks_message"], "Welcome aboard");
    let id = bar["id"].as_i64().unwrap();
    let got = body_json(app.get_as(&format!("/api/v1/bars/{id}"), &me).await).await;
    assert_eq!(got, bar);
}

#[tokio::test]
async fn bad_options_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let (me, site) = setup(&app, "bad@example.com").await;
    let with = |extra: Value| {
        let mut b = link_bar("Hello");
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    for (body, field) in [
        (with(json!({"text_color": "#333333"})), "text_color"),
        (
            with(json!({"button_color": "#ffffff", "button_text_color": "#eeeeee"})),
            "button_text_color",
        ),
        (
            with(json!({"background_color": "blue"})),
            "background_color",
        ),
        (with(json!({"link_url": "javascript:alert(1)"})), "link_url"),
        (with(json!({"link_url": "ftp://shop.example"})), "link_url"),
        (with(json!({"goal": "call"})), "link_url"),
        (with(json!({"placement": "sideways"})), "placement"),
        (with(json!({"display": "modal"})), "display"),
        (
            with(json!({"trigger": {"type": "delay", "seconds": 0}})),
            "trigger.seconds",
        ),
        (
            with(json!({"trigger": {"type": "teleport"}})),
            "trigger.type",
        ),
        (
            with(json!({"frequency": {"after_dismiss_days": "sometimes"}})),
            "frequency.after_dismiss_days",
        ),
        (
            with(json!({"targeting": {"paths_include": ["blog"]}})),
            "targeting.paths_include",
        ),
        (
            with(json!({"targeting": {"device": "fridge"}})),
            "targeting.device",
        ),
        (
            with(
                json!({"targeting": {"starts_at": "2027-01-01T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"}}),
            ),
            "targeting.ends_at",
        ),
        (with(json!({"message": ""})), "message"),
        (with(json!({"colour": "#fff"})), "colour"),
        (
            json!({"goal": "link", "message": "Hi", "link_url": "https://x.example"}),
            "button_label",
        ),
    ] {
        let res = app
            .post_json(&format!("/api/v1/sites/{site}/bars"), &body, Some(&me))
            .await;
        let status = res.status();
        let err = body_json(res).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {err}");
        assert_eq!(err["field"], field, "{body} -> {err}");
    }
    // Call bars take tel: links.
    let bar = app
        .bar(&me, site, &json!({"goal": "call", "message": "Talk to us", "button_label": "Call", "link_url": "tel:+1 555 123 4567"}))
        .await;
    assert_eq!(bar["variants"][0]["link_url"], "tel:+15551234567");
    // Announcements are text only.
    let bar = app
        .bar(
            &me,
            site,
            &json!({"goal": "announcement", "message": "Closed on Monday"}),
        )
        .await;
    assert_eq!(bar["variants"][0]["button_label"], Value::Null);
}

#[tokio::test]
async fn text_is_stored_as_text() {
    let app = TestApp::spawn().await;
    let (me, site) = setup(&app, "xss@example.com").await;
    let message = "<img src=x onerror=alert(1)> & \"quotes\"";
    let bar = app.bar(&me, site, &link_bar(message)).await;
    assert_eq!(bar["variants"][0]["message"], message);
}

#[tokio::test]
async fn publishing_freezes_a_deployment_per_variant_and_republishing_replaces_them() {
    let app = TestApp::spawn().await;
    let (me, site) = setup(&app, "pub@example.com").await;
    let bar = app.bar(&me, site, &link_bar("Version one")).await;
    let id = bar["id"].as_i64().unwrap();

    let first = app.publish(&me, id).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["live"], true);
    assert!(first[0]["started_at"].is_string());
    assert_eq!(first[0]["shown"]["message"], "Version one");
    let got = body_json(app.get_as(&format!("/api/v1/bars/{id}"), &me).await).await;
    assert_eq!(got["status"], "live");
    assert_eq!(got["has_unpublished_changes"], false);

    // Publishing again without a change keeps the same deployment.
    let again = app.publish(&me, id).await;
    assert_eq!(again[0]["id"], first[0]["id"]);

    // An edit is not live until published; then the old deployment ends.
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/bars/{id}"),
            &me,
            Some(&json!({"message": "Version two"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited = body_json(res).await;
    assert_eq!(edited["has_unpublished_changes"], true);
    let second = app.publish(&me, id).await;
    assert_ne!(second[0]["id"], first[0]["id"]);
    assert_eq!(second[0]["shown"]["message"], "Version two");

    let history = body_json(
        app.get_as(&format!("/api/v1/bars/{id}/deployments"), &me)
            .await,
    )
    .await;
    let history = history["deployments"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["id"], second[0]["id"], "newest first");
    assert_eq!(history[1]["live"], false);
    assert!(history[1]["ended_at"].is_string());
    assert_eq!(
        history[1]["shown"]["message"], "Version one",
        "a deployment never changes"
    );

    // Pausing ends it; the bar says so.
    let res = app
        .post_json(&format!("/api/v1/bars/{id}/pause"), &json!({}), Some(&me))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["status"], "paused");
    let history = body_json(
        app.get_as(&format!("/api/v1/bars/{id}/deployments"), &me)
            .await,
    )
    .await;
    assert!(
        history["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["live"] == false)
    );
}

#[tokio::test]
async fn variants_split_a_bar_and_each_gets_its_own_deployment() {
    let app = TestApp::spawn().await;
    let (me, site) = setup(&app, "ab@example.com").await;
    let bar = app.bar(&me, site, &link_bar("Plain offer")).await;
    let id = bar["id"].as_i64().unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/bars/{id}/variants"),
            &json!({"message": "Bold offer!", "weight": 30}),
            Some(&me),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body_json(res).await;
    assert_eq!(b["name"], "B");
    assert_eq!(
        b["link_url"], "https://shop.example/sale",
        "unset content is copied from A"
    );
    assert_eq!(b["weight"], 30);
    let vid = b["id"].as_i64().unwrap();

    // With two variants, content is edited per variant.
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/bars/{id}"),
            &me,
            Some(&json!({"message": "x"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/bars/{id}/variants/{vid}"),
            &me,
            Some(&json!({"text_color": "#2a2a2a"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body_json(res).await["field"], "text_color");

    let live = app.publish(&me, id).await;
    assert_eq!(live.len(), 2);
    let weights: Vec<i64> = live
        .iter()
        .map(|d| d["shown"]["weight"].as_i64().unwrap())
        .collect();
    assert_eq!(weights, [50, 30]);

    // Weight 0 keeps a variant off the page at the next publish.
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/bars/{id}/variants/{vid}"),
            &me,
            Some(&json!({"weight": 0})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.publish(&me, id).await.len(), 1);

    // A bar keeps at least one variant.
    let a = bar["variants"][0]["id"].as_i64().unwrap();
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/v1/bars/{id}/variants/{vid}"),
            &me,
            None
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/v1/bars/{id}/variants/{a}"),
            &me,
            None
        )
        .await
        .status(),
        StatusCode::CONFLICT
    );
    let list = body_json(
        app.get_as(&format!("/api/v1/bars/{id}/variants"), &me)
            .await,
    )
    .await;
    assert_eq!(list["variants"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_deleted_bar_leaves_the_script_and_the_api() {
    let app = TestApp::spawn().await;
    let (me, site) = setup(&app, "del@example.com").await;
    let key = body_json(app.get_as(&format!("/api/v1/sites/{site}"), &me).await).await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let bar = app.bar(&me, site, &link_bar("Going away")).await;
    let id = bar["id"].as_i64().unwrap();
    app.publish(&me, id).await;
    assert!(app.script(&key).await.contains("Going away"));
    assert_eq!(
        app.send(Method::DELETE, &format!("/api/v1/bars/{id}"), &me, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get_as(&format!("/api/v1/bars/{id}"), &me)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(!app.script(&key).await.contains("Going away"));
    let list = body_json(app.get_as(&format!("/api/v1/sites/{site}/bars"), &me).await).await;
    assert!(list["bars"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_and_publishes_never_fail() {
    let app = TestApp::spawn().await;
    let (me, site) = setup(&app, "busy@example.com").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (client, base, me) = (app.client.clone(), app.address.clone(), me.clone());
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(format!("{base}/api/v1/sites/{site}/bars"))
                .header("cookie", &me)
                .json(&link_bar(&format!("Bar {i}")))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
            for _ in 0..3 {
                let res = client
                    .post(format!("{base}/api/v1/bars/{id}/publish"))
                    .header("cookie", &me)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                let res = client
                    .patch(format!("{base}/api/v1/bars/{id}"))
                    .header("cookie", &me)
                    .json(&json!({"message": format!("Bar {i}, again")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let list = body_json(app.get_as(&format!("/api/v1/sites/{site}/bars"), &me).await).await;
    assert_eq!(list["bars"].as_array().unwrap().len(), 12);
}
