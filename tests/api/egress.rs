//! Lead webhooks never reach barkeep's own side: every spelling of loopback and every
//! refused range is refused when saved, a name that answers a public address and then a
//! loopback one is never connected to, and the test post is limited per member.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use barkeep::egress::{Lookup, Resolver};
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{BROWSER_UA, LiveBar, Options, TestApp, body_json};

/// Answers per name from a list, one answer per look-up (the last one repeats), and
/// counts the look-ups of each name.
#[derive(Clone, Default)]
struct Names {
    answers: Arc<Mutex<HashMap<String, Vec<Vec<IpAddr>>>>>,
    asked: Arc<Mutex<HashMap<String, u32>>>,
}

impl Names {
    fn answer(self, name: &str, answers: &[&[&str]]) -> Self {
        let answers = answers
            .iter()
            .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
            .collect();
        self.answers
            .lock()
            .unwrap()
            .insert(name.to_string(), answers);
        self
    }

    fn asked(&self, name: &str) -> u32 {
        self.asked.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl Lookup for Names {
    fn lookup(&self, host: String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        *self.asked.lock().unwrap().entry(host.clone()).or_default() += 1;
        let mut answers = self.answers.lock().unwrap();
        let found = answers.get_mut(&host).map(|list| {
            if list.len() > 1 {
                list.remove(0)
            } else {
                list[0].clone()
            }
        });
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name"))
        })
    }
}

/// A server that refuses private addresses (the default), whose look-ups `names` answers.
fn strict(names: &Names) -> Options {
    Options {
        resolver: Some(Resolver::new(names.clone())),
        ..Options::default()
    }
    .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
}

async fn put_webhook(app: &TestApp, live: &LiveBar, url: &str) -> (StatusCode, Value) {
    let res = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/sites/{}/lead-webhook", live.site["id"]),
            &live.cookie,
            Some(&json!({ "url": url })),
        )
        .await;
    let status = res.status();
    (status, body_json(res).await)
}

async fn test_post(app: &TestApp, cookie: &str, site: &Value) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/sites/{site}/lead-webhook/test"),
        &json!({}),
        Some(cookie),
    )
    .await
}

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn every_spelling_of_loopback_and_every_refused_range_is_refused_as_a_webhook() {
    let names = Names::default()
        .answer("loopback.example", &[&["127.0.0.1", "::1"]])
        .answer("inside.example", &[&["10.0.0.7", "fd12::7"]])
        .answer("metadata.example", &[&["169.254.169.254"]]);
    let app = TestApp::spawn_with(strict(&names)).await;
    let live = app
        .live_bar(
            "careful@example.com",
            &json!({"goal": "email", "message": "Join the list"}),
        )
        .await;
    for url in [
        // loopback, however it is written
        "http://localhost/hooks",
        "http://LOCALHOST./hooks",
        "http://api.localhost/hooks",
        "http://127.1/hooks",
        "http://2130706433/hooks",
        "http://0x7f000001/hooks",
        "http://0177.0.0.1/hooks",
        "http://127.0.0.1:8080/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://[::ffff:7f00:1]/hooks",
        "http://[::127.0.0.1]/hooks",
        "http://[64:ff9b::127.0.0.1]/hooks",
        "http://[2002:7f00:1::1]/hooks",
        "http://0.0.0.0/hooks",
        "http://0/hooks",
        "http://[::1]/hooks",
        "http://[::]/hooks",
        // every other refused range
        "http://0.1.2.3/hooks",
        "http://10.0.0.1/hooks",
        "http://100.64.0.1/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://172.16.0.1/hooks",
        "http://192.0.0.8/hooks",
        "http://192.168.1.1/hooks",
        "http://198.18.0.1/hooks",
        "http://224.0.0.1/hooks",
        "http://240.0.0.1/hooks",
        "http://255.255.255.255/hooks",
        "http://[::ffff:10.0.0.1]/hooks",
        "http://[64:ff9b::a9fe:a9fe]/hooks",
        "http://[fc00::1]/hooks",
        "http://[fd00::1]/hooks",
        "http://[fe80::1]/hooks",
        "http://[fec0::1]/hooks",
        "http://[ff02::1]/hooks",
        // names that resolve only to refused addresses
        "https://loopback.example/hooks",
        "https://inside.example/hooks",
        "http://metadata.example/latest/meta-data/",
    ] {
        let (status, body) = put_webhook(&app, &live, url).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["error"], "invalid", "{url}");
        assert_eq!(body["field"], "url", "{url}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("private address"),
            "{url}: {body}"
        );
    }
    for url in [
        "http://user:secret@hooks.example/hooks",
        "http://hooks.example@127.0.0.1/hooks",
    ] {
        let (status, body) = put_webhook(&app, &live, url).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["field"], "url", "{url}");
    }
    assert_eq!(names.asked("loopback.example"), 1);
    // Nothing was saved.
    let res = app
        .get_as(
            &format!("/api/v1/sites/{}/lead-webhook", live.site["id"]),
            &live.cookie,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A public name, and one that does not resolve yet, may be saved.
    let names = names.answer("hooks.example", &[&["93.184.216.34"]]);
    for url in [
        "https://hooks.example/leads",
        "https://not-yet.example/leads",
    ] {
        let (status, body) = put_webhook(&app, &live, url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
    }
    assert_eq!(names.asked("hooks.example"), 1);
}

#[tokio::test]
async fn a_name_that_turns_to_loopback_after_the_check_never_reaches_the_receiver() {
    let server = receiver().await;
    let port = server.address().port();
    // Public when the webhook is saved, loopback for every look-up after.
    let names = Names::default().answer("rebind.example", &[&["93.184.216.34"], &["127.0.0.1"]]);
    let app = TestApp::spawn_with(strict(&names)).await;
    let live = app
        .live_bar(
            "rebound@example.com",
            &json!({"goal": "email", "message": "Join the list"}),
        )
        .await;
    let (status, body) = put_webhook(
        &app,
        &live,
        &format!("http://rebind.example:{port}/hooks/leads"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names.asked("rebind.example"), 1);

    // A lead, delivered by the job.
    let res = app
        .client
        .post(app.url("/l"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", BROWSER_UA)
        .header("origin", "https://shop.example")
        .header("x-forwarded-for", "10.9.0.1")
        .body(
            json!({"d": live.deployment, "h": "shop.example", "m": "reader@example.net", "hp": ""})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.flush().await;
    app.state.jobs.run_now("lead_delivery").await.unwrap();

    // And the test post.
    let res = test_post(&app, &live.cookie, &live.site["id"]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let attempt = body_json(res).await;
    assert_eq!(attempt["ok"], false, "{attempt}");
    assert_eq!(
        attempt["error"], "refused: the webhook's host resolves to a private address",
        "{attempt}"
    );

    assert_eq!(server.received_requests().await.unwrap().len(), 0);
    assert!(names.asked("rebind.example") >= 3);
    let deliveries = body_json(
        app.get_as(
            &format!("/api/v1/sites/{}/lead-webhook/deliveries", live.site["id"]),
            &live.cookie,
        )
        .await,
    )
    .await;
    let deliveries = deliveries["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    for d in deliveries {
        assert_eq!(d["ok"], false, "{d}");
        assert_eq!(d["status_code"], Value::Null, "{d}");
        assert_eq!(
            d["error"], "refused: the webhook's host resolves to a private address",
            "{d}"
        );
    }
}

#[tokio::test]
async fn the_test_post_is_limited_per_member() {
    let server = receiver().await;
    let app =
        TestApp::spawn_with(Options::default().var("BARKEEP_LEAD_WEBHOOK_PRIVATE", "allow")).await;
    let email_bar = json!({"goal": "email", "message": "Join the list"});
    let live = app.live_bar("prober@example.com", &email_bar).await;
    let (status, _) = put_webhook(&app, &live, &format!("{}/hooks", server.uri())).await;
    assert_eq!(status, StatusCode::OK);
    let other_site = app.site(&live.cookie, &["other.example"]).await;
    let res = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/sites/{}/lead-webhook", other_site["id"]),
            &live.cookie,
            Some(&json!({"url": format!("{}/other", server.uri())})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    for n in 0..10 {
        app.advance(chrono::Duration::seconds(30));
        let site = if n % 2 == 0 {
            &live.site["id"]
        } else {
            &other_site["id"]
        };
        let res = test_post(&app, &live.cookie, site).await;
        assert_eq!(res.status(), StatusCode::OK, "test {n}");
        assert_eq!(body_json(res).await["ok"], true);
    }
    // The eleventh within ten minutes, on either site, waits for the first to age out.
    for site in [&live.site["id"], &other_site["id"]] {
        let res = test_post(&app, &live.cookie, site).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: i64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // The first was 270 s ago (and the moments the requests took): free in
        // another 330.
        assert!((320..=330).contains(&retry), "{retry}");
        assert_eq!(body_json(res).await["error"], "too_many_requests");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 10);

    // Another member is not held back.
    let other = app.live_bar("neighbour@example.com", &email_bar).await;
    let (status, _) = put_webhook(&app, &other, &format!("{}/hooks", server.uri())).await;
    assert_eq!(status, StatusCode::OK);
    let res = test_post(&app, &other.cookie, &other.site["id"]).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Once the first test is ten minutes old, one more may go.
    app.advance(chrono::Duration::seconds(331));
    let res = test_post(&app, &live.cookie, &live.site["id"]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = test_post(&app, &live.cookie, &live.site["id"]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}
