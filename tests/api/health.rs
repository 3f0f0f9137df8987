use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, body_json};

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["database"], "ok");
}

/// An open SQLite file stays reachable for as long as the process lives, so this runs
/// against a PostgreSQL server of the test's own, in both passes of the suite.
#[tokio::test]
async fn readyz_says_503_when_the_database_server_is_gone() {
    let cluster = crate::processes::PrivatePostgres::launch();
    let app = TestApp::spawn_with(crate::helpers::Options {
        database_url: Some(cluster.url()),
        ..Default::default()
    })
    .await;
    let ready = || async { app.client.get(app.url("/readyz")).send().await.unwrap() };
    assert_eq!(ready().await.status(), StatusCode::OK);
    cluster.stop();
    let res = ready().await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_json(res).await["database"], "unreachable");
    // Liveness does not depend on the database.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    cluster.start();
    assert_eq!(ready().await.status(), StatusCode::OK, "ready again");
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let app = TestApp::spawn().await;
    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v2/me",
        "/api/v1/sessions/abc",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body_json(res).await["error"], "not_found");
    }
    let res = app
        .client
        .delete(app.url("/api/v1/signup"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body_json(res).await["error"], "method_not_allowed");
    let res = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/nope", "/api/v1/me"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(h["x-request-id"].len() >= 16);
    }
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    app.client
        .delete(app.url("/api/v1/sessions/12345"))
        .send()
        .await
        .unwrap();
    app.client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"barkeep_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"method="DELETE",route="/api/v1/sessions/{session_id}",status="401""#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        !text.contains("/no/such/page"),
        "unknown paths must not become labels"
    );
    assert!(text.contains("barkeep_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn bodies_are_checked_before_anything_else() {
    let app = TestApp::spawn().await;
    // Malformed JSON.
    let res = app
        .client
        .post(app.url("/api/v1/signup"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = body_json(res).await;
    assert_eq!(body["error"], "invalid_json");
    assert!(body["message"].as_str().unwrap().len() > 10);
    // Not JSON at all.
    let res = app
        .client
        .post(app.url("/api/v1/signup"))
        .header("content-type", "text/plain")
        .body("email=a@b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Too large, declared and streamed.
    let big = json!({"email": "a@example.com", "password": "x".repeat(70_000)});
    let res = app.post_json("/api/v1/signup", &big, None).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![b' '; 1024])).collect();
    let res = app
        .client
        .post(app.url("/api/v1/signup"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing was created by any of them.
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        barkeep::db::entities::member::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_stopped_server_refuses_new_connections() {
    let mut app = TestApp::spawn().await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.stop().await;
    let fresh = reqwest::Client::new();
    assert!(fresh.get(app.url("/healthz")).send().await.is_err());
}
