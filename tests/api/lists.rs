//! List forwards: a lead added to the member's list at each of seven email service
//! providers, against a local server answering as the provider does (the requests and
//! answers in `tests/fixtures/esp/`), through the real delivery job. Rate limits, a
//! refused key, an invalid address, two processes, fairness, and the key kept out of
//! every answer, the export and the database in clear.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use wiremock::matchers::{header, header_exists, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{LiveBar, Options, TestApp, body_json};
use crate::leads::{lead, scalar};

/// One provider as the tests drive it: the fixture files of its add, in order, the key
/// its member pastes and, for ActiveCampaign, the API URL.
struct Case {
    provider: &'static str,
    steps: &'static [&'static str],
    key: &'static str,
    api_url: Option<&'static str>,
    /// The variable that points barkeep at the local server.
    var: &'static str,
}

const CASES: [Case; 7] = [
    Case {
        provider: "mailchimp",
        steps: &["add_subscriber"],
        key: "0123456789abcdef0123456789abcdef-us6",
        api_url: None,
        var: "BARKEEP_ESP_MAILCHIMP_URL",
    },
    Case {
        provider: "kit",
        steps: &["create_subscriber", "add_subscriber"],
        key: "kit_live_key_1234WXYZ",
        api_url: None,
        var: "BARKEEP_ESP_KIT_URL",
    },
    Case {
        provider: "brevo",
        steps: &["add_subscriber"],
        key: "xkeysib-0123456789abcdef-BRVO",
        api_url: None,
        var: "BARKEEP_ESP_BREVO_URL",
    },
    Case {
        provider: "mailerlite",
        steps: &["add_subscriber"],
        key: "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.mlite",
        api_url: None,
        var: "BARKEEP_ESP_MAILERLITE_URL",
    },
    Case {
        provider: "klaviyo",
        steps: &["add_subscriber"],
        key: "pk_0123456789abcdef0123456789KLAV",
        api_url: None,
        var: "BARKEEP_ESP_KLAVIYO_URL",
    },
    Case {
        provider: "hubspot",
        steps: &["add_subscriber", "add_to_list"],
        key: "pat-na1-01234567-89ab-cdef-0123-HUBS",
        api_url: None,
        var: "BARKEEP_ESP_HUBSPOT_URL",
    },
    Case {
        provider: "activecampaign",
        steps: &["add_subscriber", "add_to_list"],
        key: "0123456789abcdef0123456789abcdef0123ACTV",
        api_url: Some("https://exampleshop.api-us1.com"),
        var: "BARKEEP_ESP_ACTIVECAMPAIGN_URL",
    },
];

fn case(provider: &str) -> &'static Case {
    CASES.iter().find(|c| c.provider == provider).unwrap()
}

fn fixture(provider: &str, name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/esp/{provider}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// The provider's answer as the fixture gives it.
fn answer(response: &Value) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(response["status"].as_u64().unwrap() as u16);
    if let Some(headers) = response["headers"].as_object() {
        for (k, v) in headers {
            if !k.eq_ignore_ascii_case("content-type") {
                t = t.insert_header(k.as_str(), v.as_str().unwrap());
            }
        }
    }
    match &response["body"] {
        Value::Null => t,
        Value::String(s) => t.set_body_string(s.clone()),
        body => t.set_body_json(body.clone()),
    }
}

fn path_of(url: &str) -> String {
    url::Url::parse(url).unwrap().path().to_string()
}

/// The answer file of a step: `add_subscriber` → `add_subscriber.response`.
fn response_of(step: &str) -> String {
    format!("{step}.response")
}

/// A local server answering as `provider` does: its lists, and each step of its add.
async fn provider_server(c: &Case) -> MockServer {
    let server = MockServer::start().await;
    let lists = fixture(c.provider, "lists.request");
    Mock::given(method(lists["method"].as_str().unwrap()))
        .and(path(path_of(lists["url"].as_str().unwrap())))
        .respond_with(answer(&fixture(c.provider, "lists.response")))
        .mount(&server)
        .await;
    if c.provider == "kit" {
        Mock::given(method("GET"))
            .and(path("/v4/tags"))
            .respond_with(answer(&fixture("kit", "tags.response")))
            .mount(&server)
            .await;
    }
    server
}

/// Mounts each step of the add answering `responses` (one per step).
async fn mount_steps(server: &MockServer, c: &Case, responses: &[&str], times: Option<u64>) {
    for (step, response) in c.steps.iter().zip(responses) {
        let req = fixture(c.provider, &format!("{step}.request"));
        let mut mock = Mock::given(method(req["method"].as_str().unwrap()))
            .and(path(path_of(req["url"].as_str().unwrap())))
            .respond_with(answer(&fixture(c.provider, response)));
        if let Some(n) = times {
            mock = mock.up_to_n_times(n).with_priority(1);
        }
        mock.mount(server).await;
    }
}

fn options() -> Options {
    Options::default().var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
}

/// A member's live email bar; the member wants no lead email, so the list is the lead's
/// only forward.
pub(crate) async fn email_bar(app: &TestApp, email: &str) -> LiveBar {
    let live = app
        .live_bar(email, &json!({"goal": "email", "message": "Join the list"}))
        .await;
    let res = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/me",
            &live.cookie,
            Some(&json!({"lead_email": false})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    live
}

async fn deliver(app: &TestApp) {
    app.state.jobs.run_now("lead_delivery").await.unwrap();
}

fn site_of(live: &LiveBar) -> i64 {
    live.site["id"].as_i64().unwrap()
}

/// Reads the lists the key sees and picks the one the fixtures add to.
async fn pick_list(app: &TestApp, live: &LiveBar, c: &Case) -> String {
    let mut body = json!({"provider": c.provider, "key": c.key});
    if let Some(url) = c.api_url {
        body["api_url"] = json!(url);
    }
    let res = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/sites/{}/list-forward/lists", site_of(live)),
            &live.cookie,
            Some(&body),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", c.provider);
    let lists = body_json(res).await;
    let steps: String = c
        .steps
        .iter()
        .map(|s| fixture(c.provider, &format!("{s}.request")).to_string())
        .collect();
    let choices = lists["lists"].as_array().unwrap();
    assert!(!choices.is_empty(), "{}: {lists}", c.provider);
    choices
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .find(|id| {
            let bare = id.rsplit(':').next().unwrap();
            steps.contains(&format!("/{bare}/"))
                || steps.contains(&format!("\"{bare}\""))
                || steps.contains(&format!(":{bare}"))
                || steps.contains(&format!("[{bare}]"))
        })
        .unwrap_or_else(|| panic!("{}: no list of {lists} is the one added to", c.provider))
}

async fn set_forward(app: &TestApp, live: &LiveBar, c: &Case, list: &str) -> Value {
    let mut body = json!({"provider": c.provider, "key": c.key, "list_id": list});
    if let Some(url) = c.api_url {
        body["api_url"] = json!(url);
    }
    let res = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/sites/{}/list-forward", site_of(live)),
            &live.cookie,
            Some(&body),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", c.provider);
    body_json(res).await
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

async fn attempts(app: &TestApp, live: &LiveBar) -> Vec<Value> {
    let res = app
        .get_as(
            &format!("/api/v1/sites/{}/list-forward/deliveries", site_of(live)),
            &live.cookie,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    body_json(res).await["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn app_for(servers: &[(&Case, &MockServer)]) -> TestApp {
    let mut o = options();
    for (c, s) in servers {
        o = o.var(c.var, &s.uri());
    }
    TestApp::spawn_with(o).await
}

#[tokio::test]
async fn a_lead_lands_once_on_the_chosen_list_at_each_of_seven_providers() {
    let mut servers = Vec::new();
    for c in &CASES {
        let server = provider_server(c).await;
        let responses: Vec<String> = c.steps.iter().map(|s| response_of(s)).collect();
        let responses: Vec<&str> = responses.iter().map(String::as_str).collect();
        mount_steps(&server, c, &responses, None).await;
        servers.push(server);
    }
    let pairs: Vec<(&Case, &MockServer)> = CASES.iter().zip(servers.iter()).collect();
    let app = app_for(&pairs).await;
    for (i, (c, server)) in pairs.iter().enumerate() {
        let live = email_bar(&app, &format!("{}@example.com", c.provider)).await;
        let list = pick_list(&app, &live, c).await;
        let forward = set_forward(&app, &live, c, &list).await;
        let tail: String = c
            .key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert_eq!(forward["key_last4"], tail.as_str(), "{}", c.provider);
        assert!(
            !forward.to_string().contains(c.key),
            "{}: the key in {forward}",
            c.provider
        );
        assert_eq!(forward["list_id"], list.as_str());
        lead(
            &app,
            live.deployment,
            "jane.doe@example.com",
            &format!("10.7.{i}.1"),
        )
        .await;
        app.flush().await;
        deliver(&app).await;
        // Each step once, with the key in its header and the address in the first.
        for (n, step) in c.steps.iter().enumerate() {
            let req = fixture(c.provider, &format!("{step}.request"));
            let got = requests_to(server, &path_of(req["url"].as_str().unwrap())).await;
            assert_eq!(got.len(), 1, "{} {step}: {got:?}", c.provider);
            let auth = req["headers"]
                .as_object()
                .unwrap()
                .keys()
                .find(|k| {
                    let k = k.to_ascii_lowercase();
                    k == "authorization" || k.contains("key") || k.contains("token")
                })
                .unwrap()
                .to_ascii_lowercase();
            assert!(
                got[0].headers.contains_key(auth.as_str()),
                "{} {step}: no {auth}",
                c.provider
            );
            let sent: Value = serde_json::from_slice(&got[0].body).unwrap();
            if n == 0 {
                assert!(
                    sent.to_string().contains("jane.doe@example.com"),
                    "{} {step}: {sent}",
                    c.provider
                );
            }
        }
        let tried = attempts(&app, &live).await;
        assert_eq!(tried.len(), 1, "{}: {tried:?}", c.provider);
        assert_eq!(tried[0]["ok"], true, "{}: {tried:?}", c.provider);
        assert_eq!(tried[0]["forward"], c.provider);
        // Delivered by its only forward, the lead is gone; the attempt never held it.
        assert_eq!(
            scalar(
                &app,
                &format!(
                    "SELECT COUNT(*) FROM leads WHERE site_id = {}",
                    site_of(&live)
                )
            )
            .await,
            0,
            "{}",
            c.provider
        );
        assert!(!tried[0].to_string().contains("jane.doe"));
        // Nothing more is sent on the next run.
        deliver(&app).await;
        let first = fixture(c.provider, &format!("{}.request", c.steps[0]));
        assert_eq!(
            requests_to(server, &path_of(first["url"].as_str().unwrap()))
                .await
                .len(),
            1,
            "{}",
            c.provider
        );
    }
}

#[tokio::test]
async fn a_rate_limited_provider_is_left_alone_for_as_long_as_it_asks_then_gets_the_lead() {
    let c = case("mailerlite");
    let server = provider_server(c).await;
    mount_steps(&server, c, &["rate_limited.response"], Some(1)).await;
    mount_steps(&server, c, &["add_subscriber.response"], None).await;
    let app = app_for(&[(c, &server)]).await;
    let live = email_bar(&app, "busy@example.com").await;
    let list = pick_list(&app, &live, c).await;
    set_forward(&app, &live, c, &list).await;
    lead(&app, live.deployment, "jane.doe@example.com", "10.8.0.1").await;
    lead(&app, live.deployment, "john.roe@example.com", "10.8.0.2").await;
    app.flush().await;
    deliver(&app).await;
    let adds = || requests_to(&server, "/api/subscribers");
    // The first add was answered 429 with Retry-After: 59; the second was not tried.
    assert_eq!(adds().await.len(), 1);
    let forward = body_json(
        app.get_as(
            &format!("/api/v1/sites/{}/list-forward", site_of(&live)),
            &live.cookie,
        )
        .await,
    )
    .await;
    assert!(forward["paused_until"].is_string(), "{forward}");
    app.advance(chrono::Duration::seconds(30));
    deliver(&app).await;
    assert_eq!(
        adds().await.len(),
        1,
        "nothing before the 59 seconds are up"
    );
    app.advance(chrono::Duration::seconds(30));
    deliver(&app).await;
    assert_eq!(adds().await.len(), 3, "both leads, the first one again");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
    let tried = attempts(&app, &live).await;
    assert_eq!(tried.len(), 3);
    assert_eq!(tried.iter().filter(|a| a["status_code"] == 429).count(), 1);
}

#[tokio::test]
async fn a_refused_key_stops_the_forward_tells_the_owner_once_and_keeps_the_leads() {
    let c = case("brevo");
    let server = provider_server(c).await;
    mount_steps(&server, c, &["bad_key.response"], Some(1)).await;
    mount_steps(&server, c, &["add_subscriber.response"], None).await;
    let app = app_for(&[(c, &server)]).await;
    let live = email_bar(&app, "revoked@example.com").await;
    let list = pick_list(&app, &live, c).await;
    set_forward(&app, &live, c, &list).await;
    lead(&app, live.deployment, "jane.doe@example.com", "10.9.0.1").await;
    app.flush().await;
    deliver(&app).await;
    let adds = || requests_to(&server, "/v3/contacts");
    assert_eq!(adds().await.len(), 1);
    let site = site_of(&live);
    let forward = body_json(
        app.get_as(&format!("/api/v1/sites/{site}/list-forward"), &live.cookie)
            .await,
    )
    .await;
    assert!(forward["stopped_at"].is_string(), "{forward}");
    assert!(
        forward["stopped_error"]
            .as_str()
            .unwrap()
            .contains("Key not found"),
        "{forward}"
    );
    // More leads, more runs: nothing is sent, and the owner hears once.
    lead(&app, live.deployment, "john.roe@example.com", "10.9.0.2").await;
    app.flush().await;
    deliver(&app).await;
    deliver(&app).await;
    assert_eq!(adds().await.len(), 1);
    let told: Vec<_> = app
        .delivered()
        .await
        .into_iter()
        .filter(|m| m.to == "revoked@example.com" && m.subject.contains("not reaching Brevo"))
        .collect();
    assert_eq!(told.len(), 1, "told once");
    assert!(!told[0].text.contains(c.key), "the key is not in the email");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 2, "kept");
    // Saved again (the saved key, a fixed account): both leads go.
    let res = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/sites/{site}/list-forward"),
            &live.cookie,
            Some(&json!({"provider": "brevo", "list_id": list})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body_json(res).await["stopped_at"].is_null());
    deliver(&app).await;
    assert_eq!(adds().await.len(), 3);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
}

#[tokio::test]
async fn an_address_the_provider_calls_invalid_is_dropped_and_not_tried_again() {
    let c = case("kit");
    let server = provider_server(c).await;
    mount_steps(&server, c, &["invalid_email.response"], None).await;
    let app = app_for(&[(c, &server)]).await;
    let live = email_bar(&app, "fakes@example.com").await;
    let list = pick_list(&app, &live, c).await;
    set_forward(&app, &live, c, &list).await;
    lead(&app, live.deployment, "jane.doe@example.com", "10.10.0.1").await;
    app.flush().await;
    deliver(&app).await;
    deliver(&app).await;
    assert_eq!(requests_to(&server, "/v4/subscribers").await.len(), 1);
    assert!(
        requests_to(&server, "/v4/forms/5612847/subscribers")
            .await
            .is_empty()
    );
    let tried = attempts(&app, &live).await;
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0]["ok"], false);
    assert_eq!(tried[0]["status_code"], 422);
    let error = tried[0]["error"].as_str().unwrap();
    assert!(
        error.contains("will not take this address") && error.contains("invalid"),
        "{error}"
    );
    assert!(!error.contains("jane.doe"));
    // Its only forward is done with it: the lead is gone.
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
}

#[tokio::test]
async fn two_processes_never_add_a_lead_twice() {
    let c = case("klaviyo");
    let server = provider_server(c).await;
    Mock::given(method("POST"))
        .and(path("/api/profile-subscription-bulk-create-jobs"))
        .respond_with(
            answer(&fixture("klaviyo", "add_subscriber.response"))
                .set_delay(std::time::Duration::from_millis(20)),
        )
        .mount(&server)
        .await;
    let a = app_for(&[(c, &server)]).await;
    let b = TestApp::spawn_with(options().var(c.var, &server.uri()).sharing(&a)).await;
    let live = email_bar(&a, "twice@example.com").await;
    let list = pick_list(&a, &live, c).await;
    set_forward(&a, &live, c, &list).await;
    for i in 0..40 {
        lead(
            &a,
            live.deployment,
            &format!("fan{i}@example.net"),
            &format!("10.11.{i}.1"),
        )
        .await;
    }
    a.flush().await;
    // Both processes ask for runs until every lead is gone (a run the other process, or
    // either one's own schedule, is making answers "not now").
    let runner = |app: &TestApp| {
        let jobs = app.state.jobs.clone();
        let db = app.db.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                jobs.run_now("lead_delivery").await.unwrap();
                let left = db
                    .query_one_raw(Statement::from_string(
                        db.get_database_backend(),
                        "SELECT COUNT(*) FROM leads",
                    ))
                    .await
                    .unwrap()
                    .unwrap()
                    .try_get_by_index::<i64>(0)
                    .unwrap();
                if left == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    // The second process runs first once: it opens the key the first one sealed (both
    // have the installation's secret key), then both run side by side.
    b.state.jobs.run_now("lead_delivery").await.unwrap();
    futures_util::future::join(runner(&a), runner(&b)).await;
    let mut sent: Vec<String> = requests_to(&server, "/api/profile-subscription-bulk-create-jobs")
        .await
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body.pointer("/data/attributes/profiles/data/0/attributes/email")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("no address in {body}"))
                .to_string()
        })
        .collect();
    let adds = sent.len();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 40, "every lead added");
    assert_eq!(adds, 40, "and none twice");
    assert_eq!(scalar(&a, "SELECT COUNT(*) FROM leads").await, 0);
    assert_eq!(
        scalar(
            &a,
            "SELECT COUNT(*) FROM list_forwards WHERE stopped_at IS NULL"
        )
        .await,
        1,
        "the forward still runs"
    );
}

#[tokio::test]
async fn one_members_failing_backlog_does_not_delay_anothers_lead() {
    let c = case("brevo");
    let server = provider_server(c).await;
    // The first member's key gets slow server errors, the second's is added.
    Mock::given(method("POST"))
        .and(path("/v3/contacts"))
        .and(header("api-key", "slow-and-failing-key-AAAA"))
        .respond_with(ResponseTemplate::new(502).set_delay(std::time::Duration::from_millis(200)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/contacts"))
        .and(header_exists("api-key"))
        .respond_with(answer(&fixture("brevo", "add_subscriber.response")))
        .mount(&server)
        .await;
    let app = app_for(&[(c, &server)]).await;
    let busy = email_bar(&app, "backlog@example.com").await;
    let quiet = email_bar(&app, "quiet@example.com").await;
    let list = pick_list(&app, &busy, c).await;
    let res = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/sites/{}/list-forward", site_of(&busy)),
            &busy.cookie,
            Some(
                &json!({"provider": "brevo", "key": "slow-and-failing-key-AAAA", "list_id": list}),
            ),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    set_forward(&app, &quiet, c, &list).await;
    for i in 0..300 {
        lead(
            &app,
            busy.deployment,
            &format!("a{i}@example.net"),
            &format!("10.12.{}.{}", i / 200, i % 200 + 1),
        )
        .await;
    }
    lead(&app, quiet.deployment, "jane.doe@example.com", "10.13.0.1").await;
    app.flush().await;
    deliver(&app).await;
    let tried = attempts(&app, &quiet).await;
    assert_eq!(
        tried.len(),
        1,
        "the quiet member's lead went in the first run"
    );
    assert_eq!(tried[0]["ok"], true);
    // The failing member's site had one try this run: a server error halts its turn.
    assert_eq!(attempts(&app, &busy).await.len(), 1);
}

#[tokio::test]
async fn the_key_is_in_no_answer_no_export_and_nowhere_in_clear_in_the_database() {
    let c = case("mailchimp");
    let server = provider_server(c).await;
    Mock::given(method("PUT"))
        .and(path_regex("^/3.0/lists/a1b2c3d4e5/members/[0-9a-f]{32}$"))
        .respond_with(answer(&fixture("mailchimp", "add_subscriber.response")))
        .mount(&server)
        .await;
    let app = app_for(&[(c, &server)]).await;
    let live = email_bar(&app, "secretive@example.com").await;
    let list = pick_list(&app, &live, c).await;
    let forward = set_forward(&app, &live, c, &list).await;
    assert_eq!(forward["key_last4"], "-us6");
    let site = site_of(&live);
    for p in [
        format!("/api/v1/sites/{site}/list-forward"),
        format!("/api/v1/sites/{site}/list-forward/deliveries"),
        "/api/v1/me".to_string(),
    ] {
        let text = app.get_as(&p, &live.cookie).await.text().await.unwrap();
        assert!(!text.contains(c.key), "{p}: {text}");
    }
    // The test button adds the made-up address.
    let res = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/sites/{site}/list-forward/test"),
            &live.cookie,
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["ok"], true);
    let added = requests_to(
        &server,
        &path_of(
            fixture("mailchimp", "add_subscriber.request")["url"]
                .as_str()
                .unwrap(),
        ),
    )
    .await;
    assert!(added.is_empty(), "the test address has its own hash");
    let all = server.received_requests().await.unwrap();
    assert!(
        all.iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("barkeep-test@example.com"))
    );
    // Not in the database in clear (sealed with the server's key), nor in the export.
    assert!(crate::leads::rows_containing(&app, c.key).await.is_empty());
    assert!(
        crate::leads::rows_containing(&app, &c.key[..20])
            .await
            .is_empty()
    );
    let res = app.get_as("/api/v1/me/export", &live.cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let zip = res.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&zip);
    assert!(text.contains("list_forwards.json"));
    assert!(!text.contains(c.key) && !text.contains(&c.key[..20]));
    // A key that another site's row would need does not open there: the row is bound.
    let sealed: String = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT key_sealed FROM list_forwards",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert!(sealed.starts_with("v1."));
}

#[tokio::test]
async fn a_forward_is_refused_clearly_for_a_bad_key_a_list_it_cannot_see_or_a_wrong_switch() {
    let c = case("hubspot");
    let server = provider_server(c).await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/lists/search"))
        .and(header("authorization", "Bearer wrong-key-0000"))
        .respond_with(answer(&fixture("hubspot", "bad_key.response")))
        .with_priority(1)
        .mount(&server)
        .await;
    let app = app_for(&[(c, &server)]).await;
    let live = email_bar(&app, "careful@example.com").await;
    let site = site_of(&live);
    let put = |body: Value| {
        let app = &app;
        let cookie = live.cookie.clone();
        async move {
            let res = app
                .send(
                    reqwest::Method::PUT,
                    &format!("/api/v1/sites/{site}/list-forward"),
                    &cookie,
                    Some(&body),
                )
                .await;
            (res.status(), body_json(res).await)
        }
    };
    let list = pick_list(&app, &live, c).await;
    for (body, field) in [
        (
            json!({"provider": "hubspot", "key": "wrong-key-0000", "list_id": list}),
            "key",
        ),
        (
            json!({"provider": "hubspot", "key": c.key, "list_id": "999999"}),
            "list_id",
        ),
        (
            json!({"provider": "hubspot", "key": c.key, "list_id": list, "double_opt_in": true}),
            "double_opt_in",
        ),
        (json!({"provider": "hubspot", "list_id": list}), "key"),
        (
            json!({"provider": "hubspot", "key": "has spaces", "list_id": list}),
            "key",
        ),
        (
            json!({"provider": "activecampaign", "key": c.key, "list_id": list}),
            "api_url",
        ),
        (
            json!({"provider": "hubspot", "key": c.key, "list_id": list, "api_url": "https://x.example"}),
            "api_url",
        ),
    ] {
        let (status, answer) = put(body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        assert!(!answer.to_string().contains(c.key), "{answer}");
    }
    let (status, answer) = put(json!({"provider": "mailgun", "key": "k", "list_id": "1"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        app.get_as(&format!("/api/v1/sites/{site}/list-forward"), &live.cookie)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let providers = body_json(app.get_as("/api/v1/list-providers", &live.cookie).await).await;
    assert_eq!(providers["providers"].as_array().unwrap().len(), 7);
}
