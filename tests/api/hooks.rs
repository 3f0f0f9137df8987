//! REST hooks as Zapier, Make and n8n use them: subscribe a URL with an API token, read
//! a sample, receive each new lead and each publish signed, be retried, and be
//! unsubscribed by answering 410.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{LiveBar, Options, TestApp, body_json};
use crate::leads::{lead, scalar};
use crate::lists::email_bar;

fn options() -> Options {
    Options::default()
        .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
        .var("BARKEEP_LEAD_WEBHOOK_PRIVATE", "allow")
}

async fn token(app: &TestApp, live: &LiveBar) -> String {
    let res = app
        .post_json(
            "/api/v1/tokens",
            &json!({"name": "zapier"}),
            Some(&live.cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    body_json(res).await["token"].as_str().unwrap().to_string()
}

async fn subscribe(app: &TestApp, token: &str, event: &str, url: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url("/api/v1/hooks"))
        .bearer_auth(token)
        .json(&json!({"event": event, "target_url": url}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, body_json(res).await)
}

async fn run(app: &TestApp, job: &str) {
    app.state.jobs.run_now(job).await.unwrap();
}

/// A target answering `statuses` in turn, then 200.
async fn target(statuses: &[u16]) -> MockServer {
    let server = MockServer::start().await;
    for s in statuses {
        Mock::given(method("POST"))
            .and(path("/catch"))
            .respond_with(ResponseTemplate::new(*s))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/catch"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn posts(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

#[tokio::test]
async fn a_tool_subscribes_with_a_token_and_each_new_lead_reaches_it_signed_and_retried() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "zaps@example.com").await;
    let token = token(&app, &live).await;
    let server = target(&[503]).await;
    let (status, hook) = subscribe(
        &app,
        &token,
        "lead.created",
        &format!("{}/catch", server.uri()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(hook["id"].as_i64().unwrap() > 0);
    // Listed without the secret.
    let list = app
        .client
        .get(app.url("/api/v1/hooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let list = body_json(list).await;
    assert_eq!(list["hooks"].as_array().unwrap().len(), 1);
    assert!(list["hooks"][0].get("secret").is_none());
    // The sample has the fields a delivery has.
    let sample = app
        .client
        .get(app.url("/api/v1/hooks/sample?event=lead.created"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(sample.status(), StatusCode::OK);
    let sample = body_json(sample).await;
    let fields = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };

    lead(&app, live.deployment, "jane.doe@example.com", "10.20.0.1").await;
    app.flush().await;
    // The lead waits for its hook as for any forward.
    run(&app, "lead_delivery").await;
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 1);
    run(&app, "hook_delivery").await;
    assert_eq!(posts(&server).await.len(), 1, "tried once, answered 503");
    run(&app, "hook_delivery").await;
    assert_eq!(posts(&server).await.len(), 1, "not before its wait");
    app.advance(chrono::Duration::seconds(6));
    run(&app, "hook_delivery").await;
    let got = posts(&server).await;
    assert_eq!(got.len(), 2);
    let body: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(body["event"], "lead.created");
    assert_eq!(body["email"], "jane.doe@example.com");
    assert_eq!(body["bar_id"], live.bar_id);
    assert_eq!(fields(&body), fields(&sample[0]), "{body} against {sample}");
    let signature = got[1]
        .headers
        .get("barkeep-signature")
        .unwrap()
        .to_str()
        .unwrap();
    let now = app.clock.now().timestamp();
    barkeep::signature::verify(Some(signature), &got[1].body, &[secret.as_bytes()], now)
        .expect("signed with the hook's secret");
    assert_eq!(got[1].headers.get("barkeep-event").unwrap(), "lead.created");
    // Delivered: nothing waits, and the lead leaves.
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM hook_deliveries").await,
        0
    );
    run(&app, "lead_delivery").await;
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
    run(&app, "hook_delivery").await;
    assert_eq!(posts(&server).await.len(), 2, "never twice");
    // Unsubscribed by the tool.
    let id = hook["id"].as_i64().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/hooks/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    lead(&app, live.deployment, "john.roe@example.com", "10.20.0.2").await;
    app.flush().await;
    run(&app, "hook_delivery").await;
    assert_eq!(posts(&server).await.len(), 2);
}

#[tokio::test]
async fn a_target_answering_410_is_unsubscribed_and_its_lead_is_not_held() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "gone@example.com").await;
    let token = token(&app, &live).await;
    let server = target(&[410]).await;
    let (status, _) = subscribe(
        &app,
        &token,
        "lead.created",
        &format!("{}/catch", server.uri()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    lead(&app, live.deployment, "jane.doe@example.com", "10.21.0.1").await;
    app.flush().await;
    run(&app, "hook_delivery").await;
    assert_eq!(posts(&server).await.len(), 1);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM hooks").await, 0);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM hook_deliveries").await,
        0
    );
    run(&app, "lead_delivery").await;
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
    run(&app, "hook_delivery").await;
    assert_eq!(posts(&server).await.len(), 1);
}

#[tokio::test]
async fn publishing_a_bar_posts_bar_published_to_its_subscribers() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "publisher@example.com").await;
    let token = token(&app, &live).await;
    let server = target(&[]).await;
    let (status, hook) = subscribe(
        &app,
        &token,
        "bar.published",
        &format!("{}/catch", server.uri()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let site = live.site["id"].as_i64().unwrap();
    let created = app
        .bar(&live.cookie, site, &crate::helpers::link_bar("Winter sale"))
        .await;
    let bar = created["id"].as_i64().unwrap();
    let deployments = app.publish(&live.cookie, bar).await;
    run(&app, "hook_delivery").await;
    let got = posts(&server).await;
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["event"], "bar.published");
    assert_eq!(body["bar_id"], bar);
    assert_eq!(body["name"], created["name"]);
    assert_eq!(body["deployment_ids"][0], deployments[0]["id"]);
    // A lead event is not sent to a publish hook.
    lead(&app, live.deployment, "jane.doe@example.com", "10.22.0.1").await;
    app.flush().await;
    run(&app, "hook_delivery").await;
    assert_eq!(posts(&server).await.len(), 1);
}

#[tokio::test]
async fn a_subscription_is_refused_clearly() {
    // Private addresses are refused by default.
    let app = TestApp::spawn_with(Options::default()).await;
    let cookie = app.member("picky@example.com").await;
    for (body, field) in [
        (
            json!({"event": "lead.deleted", "target_url": "https://hooks.example.com/x"}),
            "event",
        ),
        (
            json!({"event": "lead.created", "target_url": "http://127.0.0.1:9/x"}),
            "target_url",
        ),
        (
            json!({"event": "lead.created", "target_url": "ftp://hooks.example.com/x"}),
            "target_url",
        ),
    ] {
        let res = app.post_json("/api/v1/hooks", &body, Some(&cookie)).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body_json(res).await["field"], field, "{body}");
    }
    let res = app
        .get_as("/api/v1/hooks/sample?event=bar.published", &cookie)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await[0]["event"], "bar.published");
    let res = app
        .get_as("/api/v1/hooks/sample?event=nothing", &cookie)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
