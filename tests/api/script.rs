use std::io::Read;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Options, TestApp, link_bar};

async fn live_site(app: &TestApp, email: &str, message: &str) -> (String, i64, String) {
    let me = app.member(email).await;
    let site = app.site(&me, &["shop.example"]).await;
    let bar = app
        .bar(&me, site["id"].as_i64().unwrap(), &link_bar(message))
        .await;
    let id = bar["id"].as_i64().unwrap();
    app.publish(&me, id).await;
    (me, id, site["key"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn the_script_carries_the_runtime_and_the_live_bar() {
    let app = TestApp::spawn().await;
    let (_, _, key) = live_site(&app, "js@example.com", "Free shipping this week").await;
    let res = app
        .client
        .get(app.url(&format!("/s/{key}.js")))
        .header("accept-encoding", "identity")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "text/javascript; charset=utf-8");
    assert!(h.get("content-encoding").is_none());
    let cache = h["cache-control"].to_str().unwrap();
    assert!(
        cache.contains("public")
            && cache.contains("max-age=60")
            && cache.contains("stale-while-revalidate"),
        "{cache}"
    );
    assert_eq!(h["vary"], "accept-encoding");
    assert!(h.contains_key("etag"));
    let js = res.text().await.unwrap();
    assert!(js.contains("\"m\":\"Free shipping this week\""));
    assert!(js.contains(&format!("\"e\":\"{}\"", app.address)));
    assert!(js.contains("\"h\":[\"shop.example\"]"));
    assert!(!js.contains("__BK_CONFIG__"));
    assert!(
        js.contains("attachShadow"),
        "the runtime is inlined: one request shows the bar"
    );
}

#[tokio::test]
async fn it_is_precompressed_with_brotli_and_gzip() {
    let app = TestApp::spawn().await;
    let (_, _, key) = live_site(&app, "enc@example.com", "Compressed").await;
    let plain = app.script(&key).await;
    let url = app.url(&format!("/s/{key}.js"));

    let res = app
        .client
        .get(&url)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "br");
    let body = res.bytes().await.unwrap();
    let mut out = Vec::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain.as_bytes());

    let res = app
        .client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let body = res.bytes().await.unwrap();
    let mut out = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, plain);
    println!(
        "served script for one bar: {} bytes plain, {} gzipped",
        plain.len(),
        body.len()
    );
}

#[tokio::test]
async fn an_unchanged_script_revalidates_with_304() {
    let app = TestApp::spawn().await;
    let (me, id, key) = live_site(&app, "etag@example.com", "Cache me").await;
    let url = app.url(&format!("/s/{key}.js"));
    let res = app.client.get(&url).send().await.unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()["etag"], etag.as_str());
    assert!(res.bytes().await.unwrap().is_empty());

    // A publish changes the script, so the old ETag no longer matches.
    app.send(
        Method::PATCH,
        &format!("/api/v1/bars/{id}"),
        &me,
        Some(&json!({"message": "Changed"})),
    )
    .await;
    app.publish(&me, id).await;
    let res = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(res.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn an_unknown_key_gets_a_harmless_script_that_is_not_kept_long() {
    let app = TestApp::spawn().await;
    for key in ["AAAAAAAAAAAAAAAAAAAAAAAA", "x", "%3Cscript%3E"] {
        let res = app
            .client
            .get(app.url(&format!("/s/{key}.js")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{key}");
        assert_eq!(
            res.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(res.headers()["cache-control"], "public, max-age=10");
        let body = res.text().await.unwrap();
        assert!(
            body.trim().starts_with("/*") && body.trim().ends_with("*/"),
            "only a comment: {body}"
        );
    }
    let res = app
        .client
        .get(app.url("/s/AAAAAAAAAAAAAAAAAAAAAAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_site_with_nothing_live_serves_no_runtime() {
    let app = TestApp::spawn().await;
    let (me, id, key) = live_site(&app, "idle@example.com", "Soon paused").await;
    assert!(app.script(&key).await.contains("Soon paused"));
    let paused = app
        .post_json(&format!("/api/v1/bars/{id}/pause"), &json!({}), Some(&me))
        .await;
    assert_eq!(paused.status(), StatusCode::OK);
    let js = app.script(&key).await;
    assert!(!js.contains("Soon paused"));
    assert!(js.len() < 100, "no runtime when no bar is live: {js}");
}

/// The script `app` serves once its `site_sync` job has run (it runs every second).
async fn synced_script(app: &TestApp, key: &str) -> String {
    app.run_job("site_sync").await;
    app.script(key).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_serves_a_publish_or_pause_after_its_next_sync() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_with(Options::default().sharing(&a)).await;
    let me = a.member("multi@example.com").await;
    let site = a.site(&me, &["shop.example"]).await;
    let key = site["key"].as_str().unwrap().to_string();
    // B learns about the new site, and serves its (empty) script.
    assert!(synced_script(&b, &key).await.contains("no bar is live"));

    let bar = a
        .bar(
            &me,
            site["id"].as_i64().unwrap(),
            &link_bar("Published in A"),
        )
        .await;
    let id = bar["id"].as_i64().unwrap();
    a.publish(&me, id).await;
    assert!(
        a.script(&key).await.contains("Published in A"),
        "at once where it was published"
    );
    assert!(synced_script(&b, &key).await.contains("Published in A"));

    let paused = a
        .post_json(&format!("/api/v1/bars/{id}/pause"), &json!({}), Some(&me))
        .await;
    assert_eq!(paused.status(), StatusCode::OK);
    assert!(!synced_script(&b, &key).await.contains("Published in A"));

    // A deleted site's key becomes unknown everywhere.
    let sid = site["id"].as_i64().unwrap();
    assert_eq!(
        a.send(Method::DELETE, &format!("/api/v1/sites/{sid}"), &me, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(a.script(&key).await.contains("unknown site"));
    // Deletions show in the full comparison, every five seconds.
    b.advance(chrono::Duration::seconds(5));
    assert!(synced_script(&b, &key).await.contains("unknown site"));
}
