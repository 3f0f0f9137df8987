//! Leads that leave once delivered, and a member's rights: signed webhooks with retries,
//! batched lead emails whose bodies leave the outbox, kept leads and CSV, restriction, the
//! export, erasure that leaves nothing behind, and the retention jobs.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{BROWSER_UA, LiveBar, Options, PASSWORD, TestApp, body_json};
use crate::stripe_mock::{self, StripeMock, stripe_signature};

fn options() -> Options {
    Options::default()
        .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
        .var("BARKEEP_LEAD_WEBHOOK_PRIVATE", "allow")
}

async fn email_bar(app: &TestApp, email: &str) -> LiveBar {
    app.live_bar(email, &json!({"goal": "email", "message": "Join the list"}))
        .await
}

/// A lead left on `deployment` from `ip`, as the runtime sends it.
pub(crate) async fn lead(app: &TestApp, deployment: i64, address: &str, ip: &str) {
    let res = app
        .client
        .post(app.url("/l"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", BROWSER_UA)
        .header("origin", "https://shop.example")
        .header("x-forwarded-for", ip)
        .body(json!({"d": deployment, "h": "shop.example", "m": address, "hp": ""}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

pub(crate) async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.db
        .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn deliver(app: &TestApp) {
    app.state.jobs.run_now("lead_delivery").await.unwrap();
}

/// Delivers, sends the lead emails that queued, and delivers again: a lead listed in an
/// email is delivered once that email has gone.
async fn deliver_fully(app: &TestApp) {
    deliver(app).await;
    app.deliver_mail().await;
    deliver(app).await;
}

/// A webhook receiver that answers with the statuses given, in turn (then 200), and
/// keeps what it received.
#[derive(Clone, Default)]
struct Receiver {
    statuses: Arc<Mutex<Vec<u16>>>,
}

impl Respond for Receiver {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut s = self.statuses.lock().unwrap();
        let status = if s.is_empty() { 200 } else { s.remove(0) };
        ResponseTemplate::new(status)
    }
}

async fn receiver(failures: Vec<u16>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/leads"))
        .respond_with(Receiver {
            statuses: Arc::new(Mutex::new(failures)),
        })
        .mount(&server)
        .await;
    server
}

async fn set_webhook(app: &TestApp, live: &LiveBar, server: &MockServer) -> String {
    let site = live.site["id"].as_i64().unwrap();
    let res = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/sites/{site}/lead-webhook"),
            &live.cookie,
            Some(&json!({"url": format!("{}/hooks/leads", server.uri())})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let hook = body_json(res).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    // Never shown again.
    let again = body_json(
        app.get_as(&format!("/api/v1/sites/{site}/lead-webhook"), &live.cookie)
            .await,
    )
    .await;
    assert!(again.get("secret").is_none(), "{again}");
    secret
}

#[tokio::test]
async fn a_lead_reaches_the_webhook_signed_and_then_leaves_the_database() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "owner@example.com").await;
    let server = receiver(vec![]).await;
    let secret = set_webhook(&app, &live, &server).await;
    lead(&app, live.deployment, "reader@example.net", "10.9.0.1").await;
    app.flush().await;
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 1);
    deliver(&app).await;

    let got = server.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    let body = String::from_utf8(got[0].body.clone()).unwrap();
    let payload: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(payload["email"], "reader@example.net");
    assert_eq!(payload["site_id"], live.site["id"]);
    assert_eq!(payload["bar_id"], live.bar_id);
    assert_eq!(payload["deployment_id"], live.deployment);
    assert!(payload["created_at"].is_string());
    // Signed as Stripe signs: recompute it here, independently.
    let header = got[0]
        .headers
        .get("barkeep-signature")
        .unwrap()
        .to_str()
        .unwrap();
    let t: i64 = header
        .split(',')
        .next()
        .unwrap()
        .trim_start_matches("t=")
        .parse()
        .unwrap();
    assert_eq!(header, stripe_signature(&secret, t, &body));

    // The webhook has it; the email listing it is only queued, so the lead waits.
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 1);
    let emails = app.delivered().await;
    // Both forwards done: the lead is gone.
    deliver(&app).await;
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
    let notice = emails
        .iter()
        .find(|m| m.subject.contains("new lead"))
        .expect("the lead email");
    assert!(notice.text.contains("reader@example.net"));
    // Sent: its body left the outbox, only who and when remain.
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM outbox WHERE kind = 'lead_notification' AND body_text = '' AND body_html = '' AND status = 'sent'").await,
        1
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE body_text LIKE '%reader@example.net%'"
        )
        .await,
        0
    );

    // The member sees the attempt, never the address.
    let deliveries = body_json(
        app.get_as(
            &format!("/api/v1/sites/{}/lead-webhook/deliveries", live.site["id"]),
            &live.cookie,
        )
        .await,
    )
    .await;
    let d = &deliveries["deliveries"][0];
    assert_eq!(
        (d["ok"].as_bool(), d["status_code"].as_i64()),
        (Some(true), Some(200))
    );
    assert!(!deliveries.to_string().contains("reader@example.net"));
}

#[tokio::test]
async fn a_receiver_failing_three_times_then_succeeding_gets_the_lead_once() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "owner@example.com").await;
    let server = receiver(vec![500, 503, 502]).await;
    set_webhook(&app, &live, &server).await;
    lead(&app, live.deployment, "patient@example.net", "10.9.0.2").await;
    app.flush().await;
    deliver(&app).await;
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM leads").await,
        1,
        "kept while failing"
    );
    // Not tried again before its time; then 5 s, 10 s, 20 s apart.
    deliver(&app).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    for wait in [5, 10, 20] {
        app.advance(chrono::Duration::seconds(wait));
        deliver(&app).await;
    }
    let got = server.received_requests().await.unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
    app.advance(chrono::Duration::minutes(10));
    deliver(&app).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        4,
        "once it arrived, never again"
    );
    let deliveries = body_json(
        app.get_as(
            &format!("/api/v1/sites/{}/lead-webhook/deliveries", live.site["id"]),
            &live.cookie,
        )
        .await,
    )
    .await;
    let list = deliveries["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list.iter().filter(|d| d["ok"] == true).count(), 1);
    assert_eq!(list[1]["status_code"], 502);
}

#[tokio::test]
async fn a_webhook_failing_for_a_day_flags_the_lead_and_tells_the_member_once() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "owner@example.com").await;
    let server = receiver(vec![500; 100]).await;
    set_webhook(&app, &live, &server).await;
    for (i, address) in ["a@example.net", "b@example.net"].iter().enumerate() {
        lead(&app, live.deployment, address, &format!("10.9.1.{i}")).await;
    }
    app.flush().await;
    deliver(&app).await;
    for _ in 0..30 {
        app.advance(chrono::Duration::hours(1));
        deliver(&app).await;
    }
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM leads WHERE flagged_at IS NOT NULL"
        )
        .await,
        2
    );
    let emails = app.delivered().await;
    assert_eq!(
        emails
            .iter()
            .filter(|m| m.subject.contains("not reaching your webhook"))
            .count(),
        1,
        "{:?}",
        emails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let leads = body_json(
        app.get_as(
            &format!("/api/v1/sites/{}/leads", live.site["id"]),
            &live.cookie,
        )
        .await,
    )
    .await;
    assert_eq!(leads["leads"].as_array().unwrap().len(), 2);
    assert!(leads["leads"][0]["flagged_at"].is_string());
    // A fixed webhook (a new URL or secret) takes them again.
    let fixed = receiver(vec![]).await;
    set_webhook(&app, &live, &fixed).await;
    deliver(&app).await;
    assert_eq!(fixed.received_requests().await.unwrap().len(), 2);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
}

#[tokio::test]
async fn lead_emails_batch_one_per_bar_every_ten_minutes() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "owner@example.com").await;
    lead(&app, live.deployment, "first@example.net", "10.9.2.1").await;
    app.flush().await;
    deliver(&app).await;
    lead(&app, live.deployment, "second@example.net", "10.9.2.2").await;
    lead(&app, live.deployment, "third@example.net", "10.9.2.3").await;
    app.flush().await;
    deliver(&app).await;
    app.advance(chrono::Duration::minutes(5));
    deliver(&app).await;
    let sent: Vec<_> = app
        .delivered()
        .await
        .into_iter()
        .filter(|m| m.subject.contains("lead"))
        .collect();
    assert_eq!(sent.len(), 1, "still within ten minutes");
    assert!(sent[0].text.contains("first@example.net"));
    app.advance(chrono::Duration::minutes(6));
    deliver(&app).await;
    let sent: Vec<_> = app
        .delivered()
        .await
        .into_iter()
        .filter(|m| m.subject.contains("lead"))
        .collect();
    assert_eq!(sent.len(), 2);
    let second = sent
        .iter()
        .find(|m| m.subject.starts_with("2 new leads"))
        .expect("one email for two");
    assert!(
        second.text.contains("second@example.net") && second.text.contains("third@example.net")
    );
    deliver(&app).await;
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
}

#[tokio::test]
async fn kept_leads_list_export_as_csv_and_go_after_their_days() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "keeper@example.com").await;
    let res = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/me",
            &live.cookie,
            Some(&json!({"lead_retention_days": 7})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    lead(&app, live.deployment, "kept@example.net", "10.9.3.1").await;
    app.flush().await;
    deliver_fully(&app).await;
    let site = live.site["id"].as_i64().unwrap();
    let leads = body_json(
        app.get_as(&format!("/api/v1/sites/{site}/leads"), &live.cookie)
            .await,
    )
    .await;
    assert_eq!(leads["leads"][0]["email"], "kept@example.net");
    assert!(leads["leads"][0]["forwarded_at"].is_string());
    let csv = app
        .get_as(
            &format!("/api/v1/sites/{site}/leads?format=csv"),
            &live.cookie,
        )
        .await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("id,email,"));
    assert!(csv.contains("\"kept@example.net\""));
    app.advance(chrono::Duration::days(6));
    app.state.jobs.run_now("purge_leads").await.unwrap();
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 1);
    app.advance(chrono::Duration::days(2));
    app.state.jobs.run_now("purge_leads").await.unwrap();
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
    // One deleted by hand.
    lead(&app, live.deployment, "gone@example.net", "10.9.3.2").await;
    app.flush().await;
    let id = body_json(
        app.get_as(&format!("/api/v1/sites/{site}/leads"), &live.cookie)
            .await,
    )
    .await["leads"][0]["id"]
        .as_i64()
        .unwrap();
    let res = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/sites/{site}/leads/{id}"),
            &live.cookie,
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
}

#[tokio::test]
async fn the_test_button_posts_a_made_up_lead_and_a_private_address_is_refused_by_default() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "tester@example.com").await;
    let server = receiver(vec![418]).await;
    set_webhook(&app, &live, &server).await;
    let site = live.site["id"].as_i64().unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/sites/{site}/lead-webhook/test"),
            &json!({}),
            Some(&live.cookie),
        )
        .await;
    let attempt = body_json(res).await;
    assert_eq!(
        (attempt["ok"].as_bool(), attempt["status_code"].as_i64()),
        (Some(false), Some(418))
    );
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(body["test"], true);

    let strict = TestApp::spawn().await;
    let live = email_bar(&strict, "strict@example.com").await;
    let res = strict
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/sites/{}/lead-webhook", live.site["id"]),
            &live.cookie,
            Some(&json!({"url": "http://127.0.0.1:9/hooks"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body_json(res).await["field"], "url");
}

#[tokio::test]
async fn restriction_pauses_bars_and_lead_processing_until_lifted() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "pause@example.com").await;
    let key = live.site["key"].as_str().unwrap().to_string();
    assert!(app.script(&key).await.contains("Join the list"));
    lead(&app, live.deployment, "waiting@example.net", "10.9.4.1").await;
    app.flush().await;
    let res = app
        .post_json(
            "/api/v1/me/restriction",
            &json!({"restricted": true}),
            Some(&live.cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["restricted"], true);
    app.run_job("site_sync").await;
    assert!(!app.script(&key).await.contains("Join the list"));
    deliver(&app).await;
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM leads").await,
        1,
        "not processed"
    );
    assert!(
        app.delivered()
            .await
            .iter()
            .all(|m| !m.subject.contains("lead"))
    );
    app.post_json(
        "/api/v1/me/restriction",
        &json!({"restricted": false}),
        Some(&live.cookie),
    )
    .await;
    app.run_job("site_sync").await;
    assert!(app.script(&key).await.contains("Join the list"));
    deliver_fully(&app).await;
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM leads").await, 0);
}

/// Tables that refer to a member through any chain of foreign keys.
async fn tables_referring_to_members(app: &TestApp) -> Vec<String> {
    let backend = app.db.get_database_backend();
    let edges: Vec<(String, String)> = if backend == sea_orm::DbBackend::Sqlite {
        let tables: Vec<String> = app
            .db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect();
        let mut edges = Vec::new();
        for t in tables {
            for r in app
                .db
                .query_all_raw(Statement::from_string(
                    backend,
                    format!("SELECT \"table\" FROM pragma_foreign_key_list('{t}')"),
                ))
                .await
                .unwrap()
            {
                edges.push((t.clone(), r.try_get_by_index::<String>(0).unwrap()));
            }
        }
        edges
    } else {
        app.db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.try_get_by_index::<String>(0).unwrap(),
                    r.try_get_by_index::<String>(1).unwrap(),
                )
            })
            .collect()
    };
    // A person's data, and their accounts' (which the export holds as far as their
    // role sees).
    let mut found = vec!["accounts".to_string(), "members".to_string()];
    loop {
        let more: Vec<String> = edges
            .iter()
            .filter(|(from, to)| found.contains(to) && !found.contains(from))
            .map(|(from, _)| from.clone())
            .collect();
        if more.is_empty() {
            return found;
        }
        found.extend(more);
        found.sort();
        found.dedup();
    }
}

#[tokio::test]
async fn the_export_holds_every_kind_and_no_table_that_refers_to_a_member_is_forgotten() {
    let app =
        TestApp::spawn_with(options().var("BARKEEP_MAIL_WEBHOOK_SECRET", "a-long-webhook-secret"))
            .await;
    let live = email_bar(&app, "export@example.com").await;
    app.send(
        reqwest::Method::PATCH,
        "/api/v1/me",
        &live.cookie,
        Some(&json!({"name": "Ada Export", "lead_retention_days": 30})),
    )
    .await;
    lead(&app, live.deployment, "fan@example.net", "10.9.5.1").await;
    app.flush().await;
    // A browser that signed in before signs in again, showing its device cookie
    // (`<member>.<device id>.<MAC>`).
    let login = |cookie: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/login"))
            .json(&json!({"email": "export@example.com", "password": PASSWORD}));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move { req.send().await.unwrap() }
    };
    let res = login(None).await;
    let device_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("barkeep_device="))
        .and_then(|v| v.split(';').next())
        .expect("a device cookie")
        .to_string();
    let device = device_cookie.split('.').nth(1).unwrap().to_string();
    assert_eq!(login(Some(device_cookie)).await.status(), StatusCode::OK);
    // The email API reports a hard bounce of the address, in its own spelling.
    let res = app
        .client
        .post(app.url("/mail/webhook"))
        .basic_auth("postmark", Some("a-long-webhook-secret"))
        .json(
            &json!({"RecordType": "Bounce", "Type": "HardBounce", "Email": "Export@Example.COM",
                      "Description": "550 no such user"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(res).await["status"], "suppressed");

    let referring = tables_referring_to_members(&app).await;
    let exported = barkeep::privacy::exported_tables();
    for table in &referring {
        assert!(
            exported.contains(&table.as_str()),
            "{table} refers to members but is not in the export"
        );
    }
    assert!(referring.len() >= 20, "{referring:?}");

    let res = app.get_as("/api/v1/me/export", &live.cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let bytes = res.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().to_string())
        .collect();
    names.sort();
    for file in [
        "README.txt",
        "account.json",
        "sessions.json",
        "login_attempts.json",
        "api_tokens.json",
        "sites.json",
        "bars.json",
        "variants.json",
        "deployments.json",
        "counts_by_day.json",
        "leads.json",
        "lead_deliveries.json",
        "emails.json",
        "billing.json",
        "policy_objections.json",
    ] {
        assert!(
            names.contains(&file.to_string()),
            "{file} missing from {names:?}"
        );
    }
    let read = |zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str| -> Value {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut s).unwrap();
        serde_json::from_str(&s).unwrap()
    };
    let account = read(&mut zip, "account.json");
    assert_eq!(account[0]["email"], "export@example.com");
    assert_eq!(account[0]["name"], "Ada Export");
    assert!(account[0].get("password_hash").is_none());
    assert_eq!(read(&mut zip, "leads.json")[0]["email"], "fan@example.net");
    let attempts = read(&mut zip, "login_attempts.json");
    let attempts = attempts.as_array().unwrap();
    assert!(attempts.len() >= 3, "{attempts:?}");
    assert!(
        attempts.iter().any(|a| a["device"] == device.as_str()),
        "the sign-in from the known browser names its device: {attempts:?}"
    );
    assert!(attempts.iter().any(|a| a["device"].is_null()));
    assert!(!read(&mut zip, "emails.json").as_array().unwrap().is_empty());
    // The suppression is kept only as a hash of the address, and is still theirs.
    let suppression = read(&mut zip, "email_suppression.json");
    let suppression = suppression.as_array().unwrap();
    assert_eq!(suppression.len(), 1, "{suppression:?}");
    assert_eq!(suppression[0]["reason"], "hard_bounce");
    assert_eq!(suppression[0]["address"].as_str().unwrap().len(), 64);
    let mut readme = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("README.txt").unwrap(), &mut readme).unwrap();
    assert!(readme.contains("leads.json"));
    assert!(
        readme
            .lines()
            .any(|l| l.starts_with("- email_suppression.json:") && l.ends_with("(1 records)")),
        "{readme}"
    );
    assert!(readme.contains("device cookie"));
}

/// Every row of every table with a text value containing `needle`.
pub(crate) async fn rows_containing(app: &TestApp, needle: &str) -> Vec<String> {
    let backend = app.db.get_database_backend();
    let columns: Vec<(String, String)> = if backend == sea_orm::DbBackend::Sqlite {
        let mut out = Vec::new();
        let tables = app
            .db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            ))
            .await
            .unwrap();
        for t in tables {
            let t: String = t.try_get_by_index(0).unwrap();
            for c in app
                .db
                .query_all_raw(Statement::from_string(
                    backend,
                    format!("SELECT name FROM pragma_table_info('{t}')"),
                ))
                .await
                .unwrap()
            {
                out.push((t.clone(), c.try_get_by_index::<String>(0).unwrap()));
            }
        }
        out
    } else {
        app.db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'public'",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap()))
            .collect()
    };
    let mut hits = Vec::new();
    for (t, c) in columns {
        let sql = format!(
            "SELECT COUNT(*) FROM \"{t}\" WHERE lower(CAST(\"{c}\" AS TEXT)) LIKE '%{}%'",
            needle.to_lowercase()
        );
        let n = app
            .db
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        if n > 0 {
            hits.push(format!("{t}.{c}"));
        }
    }
    hits
}

#[tokio::test]
async fn after_erasure_no_table_holds_the_members_email_name_or_id() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "erase.me@example.com").await;
    app.send(
        reqwest::Method::PATCH,
        "/api/v1/me",
        &live.cookie,
        Some(&json!({"name": "Zelda Erasable", "lead_retention_days": 30})),
    )
    .await;
    let server = receiver(vec![]).await;
    set_webhook(&app, &live, &server).await;
    lead(
        &app,
        live.deployment,
        "their.reader@example.net",
        "10.9.6.1",
    )
    .await;
    for i in 0..5 {
        app.event(
            &crate::helpers::ev(live.deployment, "v"),
            &format!("10.9.6.{}", 10 + i),
            BROWSER_UA,
        )
        .await;
    }
    app.flush().await;
    deliver(&app).await;
    app.deliver_mail().await;
    // A failed login with the address, and one more site.
    app.post_json(
        "/api/v1/login",
        &json!({"email": "erase.me@example.com", "password": "wrong password!"}),
        None,
    )
    .await;
    app.site(&live.cookie, &["second.example"]).await;
    let id = body_json(app.get_as("/api/v1/me", &live.cookie).await).await["id"]
        .as_i64()
        .unwrap();
    assert!(
        !rows_containing(&app, "erase.me@example.com")
            .await
            .is_empty()
    );

    // The wrong password erases nothing.
    let res = app
        .send(
            reqwest::Method::DELETE,
            "/api/v1/me",
            &live.cookie,
            Some(&json!({"password": "not it at all"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .send(
            reqwest::Method::DELETE,
            "/api/v1/me",
            &live.cookie,
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as("/api/v1/me", &live.cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The last email goes out, and its row with it.
    let emails = app.delivered().await;
    let last = emails
        .iter()
        .find(|m| m.subject.contains("deleted"))
        .expect("the last email");
    assert_eq!(last.to, "erase.me@example.com");

    for needle in [
        "erase.me@example.com",
        "Zelda Erasable",
        "their.reader@example.net",
    ] {
        assert_eq!(
            rows_containing(&app, needle).await,
            Vec::<String>::new(),
            "{needle} is still held"
        );
    }
    for column in ["member_id", "created_by"] {
        let backend = app.db.get_database_backend();
        let tables: Vec<String> = if backend == sea_orm::DbBackend::Sqlite {
            app.db
                .query_all_raw(Statement::from_string(backend, format!("SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = '{column}'")))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap())
                .collect()
        } else {
            app.db
                .query_all_raw(Statement::from_string(backend, format!("SELECT table_name::text FROM information_schema.columns WHERE table_schema = 'public' AND column_name = '{column}'")))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap())
                .collect()
        };
        for t in tables {
            assert_eq!(
                scalar(
                    &app,
                    &format!("SELECT COUNT(*) FROM \"{t}\" WHERE {column} = {id}")
                )
                .await,
                0,
                "{t}.{column}"
            );
        }
    }
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT COUNT(*) FROM members WHERE id = {id}")
        )
        .await,
        0
    );
    // Its counts stay, linked to no one.
    assert_eq!(
        scalar(
            &app,
            "SELECT CAST(COALESCE(SUM(views), 0) AS BIGINT) FROM retired_counts"
        )
        .await,
        5
    );
}

#[tokio::test]
async fn erasure_cancels_the_stripe_subscription() {
    let stripe = crate::stripe_mock::StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let cookie = app.member("paying@example.com").await;
    let member = body_json(app.get_as("/api/v1/me", &cookie).await).await["id"]
        .as_i64()
        .unwrap();
    app.post_json(
        "/api/v1/billing/checkout",
        &json!({"plan": "pro", "interval": "month"}),
        Some(&cookie),
    )
    .await;
    let customer = stripe.customer_id(member);
    stripe.set_subscription(crate::stripe_mock::subscription(
        "sub_erase",
        &customer,
        crate::stripe_mock::PRO_MONTH,
        "active",
        1_796_000_000,
    ));
    let mut completed = crate::stripe_mock::fixture("checkout.session");
    completed["client_reference_id"] = json!(member.to_string());
    completed["metadata"] = json!({"barkeep_member_id": member.to_string()});
    completed["customer"] = json!(customer);
    completed["subscription"] = json!("sub_erase");
    let res = app
        .deliver(&crate::stripe_mock::event(
            "evt_erase",
            "checkout.session.completed",
            completed,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .send(
            reqwest::Method::DELETE,
            "/api/v1/me",
            &cookie,
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cancels: Vec<_> = stripe
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "DELETE" && r.url.path() == "/v1/subscriptions/sub_erase")
        .collect();
    assert_eq!(cancels.len(), 1);
    assert_eq!(rows_containing(&app, &customer).await, Vec::<String>::new());
}

/// A Stripe customer for the member through Checkout, and the subscription that
/// Checkout completed: (member id, customer id).
async fn paying(app: &TestApp, stripe: &StripeMock, cookie: &str, sub: &str) -> (i64, String) {
    let member = body_json(app.get_as("/api/v1/me", cookie).await).await["id"]
        .as_i64()
        .unwrap();
    let res = app
        .post_json(
            "/api/v1/billing/checkout",
            &json!({"plan": "pro", "interval": "month"}),
            Some(cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let customer = stripe.customer_id(member);
    stripe.set_subscription(stripe_mock::subscription(
        sub,
        &customer,
        stripe_mock::PRO_MONTH,
        "active",
        1_796_000_000,
    ));
    let mut completed = stripe_mock::fixture("checkout.session");
    completed["id"] = json!(format!("cs_{sub}"));
    completed["client_reference_id"] = json!(member.to_string());
    completed["metadata"] = json!({"barkeep_member_id": member.to_string()});
    completed["customer"] = json!(customer);
    completed["subscription"] = json!(sub);
    let res = app
        .deliver(&stripe_mock::event(
            &format!("evt_{sub}"),
            "checkout.session.completed",
            completed,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    (member, customer)
}

/// Stripe's example invoice, made the customer's, naming them by address as Stripe does.
fn invoice_of(id: &str, customer: &str, email: &str, sub: &str) -> Value {
    let mut i = stripe_mock::fixture("invoice");
    i["id"] = json!(id);
    i["customer"] = json!(customer);
    i["customer_email"] = json!(email);
    i["subscription"] = json!(sub);
    i["amount_paid"] = json!(2000);
    i["amount_due"] = json!(2000);
    i["currency"] = json!("usd");
    i
}

async fn erase(app: &TestApp, cookie: &str) {
    let res = app
        .send(
            reqwest::Method::DELETE,
            "/api/v1/me",
            cookie,
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn erasing_a_member_whose_address_looks_like_a_like_pattern_touches_no_other_customers_events()
 {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let bea = app.member("bea@example.com").await;
    let (_, customer) = paying(&app, &stripe, &bea, "sub_bea").await;
    // An invoice whose processing fails for now: it waits for its retry.
    stripe.fail_next_reads(1);
    let res = app
        .deliver(&stripe_mock::event(
            "evt_bea_paid",
            "invoice.paid",
            invoice_of("in_bea", &customer, "bea@example.com", "sub_bea"),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // And one barkeep does not act on.
    let res = app
        .deliver(&stripe_mock::event(
            "evt_bea_charge",
            "charge.succeeded",
            json!({"id": "ch_bea", "object": "charge", "customer": customer,
                   "billing_details": {"email": "bea@example.com"}}),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM stripe_events").await, 3);

    // `%` is a legal character before the @; in a LIKE pattern it matches anything.
    let pattern = app.member("%@example.com").await;
    erase(&app, &pattern).await;

    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM stripe_events").await,
        3,
        "another customer's events are gone"
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id = 'evt_bea_paid' AND status = 'failed'"
        )
        .await,
        1
    );
    // Its retry still comes, and bea gets her receipt.
    app.advance(chrono::Duration::seconds(61));
    app.run_job("stripe_events").await;
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id = 'evt_bea_paid' AND status = 'processed'"
        )
        .await,
        1
    );
    assert!(
        app.delivered()
            .await
            .iter()
            .any(|m| m.to == "bea@example.com" && m.subject.contains("receipt"))
    );
}

#[tokio::test]
async fn an_event_that_arrives_for_an_erased_customer_keeps_no_personal_data() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let cleo = app.member("cleo@example.com").await;
    let (member, customer) = paying(&app, &stripe, &cleo, "sub_cleo").await;
    erase(&app, &cleo).await;
    assert_eq!(rows_containing(&app, &customer).await, Vec::<String>::new());
    let to_cleo = |emails: Vec<crate::helpers::Email>| {
        emails
            .into_iter()
            .filter(|m| m.to == "cleo@example.com")
            .count()
    };
    let sent = to_cleo(app.delivered().await);

    // Stripe goes on telling: the cancellation, a last invoice, the customer itself.
    let mut canceled = stripe_mock::subscription(
        "sub_cleo",
        &customer,
        stripe_mock::PRO_MONTH,
        "canceled",
        1_796_000_000,
    );
    canceled["metadata"] = json!({"barkeep_member_id": member.to_string()});
    let late = [
        ("evt_late_1", "customer.subscription.deleted", canceled),
        (
            "evt_late_2",
            "invoice.payment_failed",
            invoice_of("in_cleo", &customer, "cleo@example.com", "sub_cleo"),
        ),
        (
            "evt_late_3",
            "customer.updated",
            json!({"id": customer, "object": "customer", "email": "cleo@example.com", "name": "Cleo Lateway"}),
        ),
    ];
    for (id, kind, object) in late {
        let res = app.deliver(&stripe_mock::event(id, kind, object)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_json(res).await["status"], "ignored", "{id}");
    }
    for needle in [customer.as_str(), "cleo@example.com", "Cleo Lateway"] {
        assert_eq!(
            rows_containing(&app, needle).await,
            Vec::<String>::new(),
            "{needle} is held again"
        );
    }
    // What arrived is recorded (a redelivery is answered as such), naming no one.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id LIKE 'evt_late_%' AND status = 'ignored' \
             AND account_id IS NULL AND stripe_customer_id IS NULL AND payload NOT LIKE '%barkeep_member_id%'"
        )
        .await,
        3
    );
    assert_eq!(
        to_cleo(app.delivered().await),
        sent,
        "nothing more was sent to the erased address"
    );

    // The customer is remembered by a hash keyed from the server's secret, not by the
    // plain SHA-256 of its id, which anyone holding a list of ids could compute…
    let unkeyed = |c: &str| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(format!("barkeep erased Stripe customer {c}").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM erased_stripe_customers").await,
        1
    );
    let stored = format!(
        "SELECT COUNT(*) FROM erased_stripe_customers WHERE customer_hash = '{}'",
        unkeyed(&customer)
    );
    assert_eq!(scalar(&app, &stored).await, 0);
    // …and a customer that an erasure remembered before the hashes were keyed is still
    // recognised.
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO erased_stripe_customers (customer_hash, erased_at) VALUES ('{}', '2026-01-01 00:00:00+00:00')",
            unkeyed("cus_ErasedLongAgo")
        ))
        .await
        .unwrap();
    let res = app
        .deliver(&stripe_mock::event(
            "evt_late_4",
            "customer.updated",
            json!({"id": "cus_ErasedLongAgo", "object": "customer", "email": "lenny@example.com", "name": "Lenny Longago"}),
        ))
        .await;
    assert_eq!(body_json(res).await["status"], "ignored");
    assert_eq!(
        rows_containing(&app, "Lenny Longago").await,
        Vec::<String>::new()
    );
}

/// The address of a member who uses everything; distinctive, so that finding it in a
/// column means the column holds it.
const WALKER: &str = "zq7.walker@example.com";
/// The id that member gets: no counter, timestamp or other id is likely to hold it.
const WALKER_ID: i64 = 48_611_923;

fn billing_options(stripe: &StripeMock) -> Options {
    stripe
        .options()
        .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
        .var("BARKEEP_LEAD_WEBHOOK_PRIVATE", "allow")
}

/// Makes the next member's id `WALKER_ID`, and the next account's too (the operator
/// signed up before, so both tables have a sequence to move).
async fn next_member_id_is_walkers(app: &TestApp) {
    let backend = app.db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Sqlite {
        vec![format!(
            "UPDATE sqlite_sequence SET seq = {} WHERE name IN ('members', 'accounts')",
            WALKER_ID - 1
        )]
    } else {
        ["members", "accounts"]
            .iter()
            .map(|t| {
                format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', 'id'), {})",
                    WALKER_ID - 1
                )
            })
            .collect()
    };
    for sql in sql {
        app.db.execute_unprepared(&sql).await.unwrap();
    }
}

/// An operator, then `WALKER`, who uses everything barkeep offers (a live bar, leads
/// forwarded by webhook and email, a failed login, an API token, an address change
/// waiting, Checkout, a receipt, an abuse warning addressed to them alone), and another
/// member who does some of it too. Answers the walker's live bar and Stripe customer.
async fn everything_used(app: &TestApp, stripe: &StripeMock) -> (LiveBar, String) {
    let operator = app.member("operator@example.com").await;
    app.db
        .execute_unprepared(
            "UPDATE members SET is_operator = TRUE WHERE email = 'operator@example.com'",
        )
        .await
        .unwrap();
    next_member_id_is_walkers(app).await;
    let live = email_bar(app, WALKER).await;
    let id = body_json(app.get_as("/api/v1/me", &live.cookie).await).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(id, WALKER_ID);
    app.send(
        reqwest::Method::PATCH,
        "/api/v1/me",
        &live.cookie,
        Some(&json!({"name": "Walker Zq7", "lead_retention_days": 30})),
    )
    .await;
    let server = receiver(vec![]).await;
    set_webhook(app, &live, &server).await;
    lead(app, live.deployment, "their.fan@example.net", "10.9.8.1").await;
    app.event(
        &crate::helpers::ev(live.deployment, "v"),
        "10.9.8.2",
        BROWSER_UA,
    )
    .await;
    app.flush().await;
    deliver_fully(app).await;
    app.post_json(
        "/api/v1/login",
        &json!({"email": WALKER, "password": "wrong password!"}),
        None,
    )
    .await;
    let res = app
        .post_json(
            "/api/v1/tokens",
            &json!({"name": "deploy"}),
            Some(&live.cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post_json(
            "/api/v1/me/email",
            &json!({"email": "zq7.walker.next@example.com", "password": PASSWORD}),
            Some(&live.cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    let (_, customer) = paying(app, stripe, &live.cookie, "sub_walker").await;
    let res = app
        .deliver(&stripe_mock::event(
            "evt_walker_paid",
            "invoice.paid",
            invoice_of("in_walker", &customer, WALKER, "sub_walker"),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let other = app.member("other@example.com").await;
    let (other_id, other_customer) = paying(app, stripe, &other, "sub_other").await;
    let res = app
        .deliver(&stripe_mock::event(
            "evt_other_paid",
            "invoice.paid",
            invoice_of(
                "in_other",
                &other_customer,
                "other@example.com",
                "sub_other",
            ),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    for (member, seen) in [
        (WALKER_ID, "a bar that imitates a bank's sign-in page"),
        (other_id, "a bar that promises prizes"),
    ] {
        let res = app
            .post_json(
                "/api/v1/admin/alerts",
                &json!({"kind": "abuse_warning", "audience": {"member": member},
                        "fields": {"seen": seen, "action": "change the bar"}}),
                Some(&operator),
            )
            .await;
        let status = res.status();
        let alert = body_json(res).await;
        assert_eq!(status, StatusCode::CREATED, "{alert}");
        let res = app
            .post_json(
                &format!("/api/v1/admin/alerts/{}/send", alert["id"]),
                &json!({}),
                Some(&operator),
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    app.run_job("alert_fanout").await;
    app.deliver_mail().await;
    (live, customer)
}

type Export = zip::ZipArchive<std::io::Cursor<Vec<u8>>>;

async fn export(app: &TestApp, cookie: &str) -> Export {
    let res = app.get_as("/api/v1/me/export", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap();
    zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap()
}

fn read_json(zip: &mut Export, name: &str) -> Value {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut s).unwrap();
    serde_json::from_str(&s).unwrap()
}

/// Every column of every table, with its table.
async fn all_columns(app: &TestApp) -> Vec<(String, String)> {
    let backend = app.db.get_database_backend();
    if backend == sea_orm::DbBackend::Sqlite {
        app.db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                )
            })
            .collect()
    } else {
        app.db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'public'",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap()))
            .collect()
    }
}

/// The rows of one table that hold any of the needles: their ids, when the table has an
/// `id` column, or else how many there are.
#[derive(Debug)]
enum Held {
    Ids(Vec<String>),
    Count(usize),
}

/// Every table with a value (of any column, read as text, case-insensitively) that
/// contains one of `needles`, and which of its rows do.
async fn tables_holding(
    app: &TestApp,
    needles: &[String],
) -> std::collections::BTreeMap<String, Held> {
    let backend = app.db.get_database_backend();
    let find = if backend == sea_orm::DbBackend::Sqlite {
        "instr"
    } else {
        "strpos"
    };
    let mut by_table: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (t, c) in all_columns(app).await {
        by_table.entry(t).or_default().push(c);
    }
    let mut held = std::collections::BTreeMap::new();
    for (table, columns) in by_table {
        let mut any = Vec::new();
        for c in &columns {
            for n in needles {
                any.push(format!(
                    "{find}(lower(CAST(\"{c}\" AS TEXT)), '{}') > 0",
                    n.to_lowercase().replace('\'', "''")
                ));
            }
        }
        let condition = any.join(" OR ");
        if columns.iter().any(|c| c == "id") {
            let ids: Vec<String> = app
                .db
                .query_all_raw(Statement::from_string(
                    backend,
                    format!("SELECT CAST(id AS TEXT) FROM \"{table}\" WHERE {condition}"),
                ))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap())
                .collect();
            if !ids.is_empty() {
                held.insert(table, Held::Ids(ids));
            }
        } else {
            let n = scalar(
                app,
                &format!("SELECT COUNT(*) FROM \"{table}\" WHERE {condition}"),
            )
            .await;
            if n > 0 {
                held.insert(table, Held::Count(n as usize));
            }
        }
    }
    held
}

/// Tables that may hold a member's id, address or Stripe customer and still be left out
/// of the export, and why. (None so far.)
const NOT_EXPORTED: &[(&str, &str)] = &[];

#[tokio::test]
async fn every_row_holding_a_members_id_address_or_stripe_customer_is_in_the_export() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(billing_options(&stripe)).await;
    let (live, customer) = everything_used(&app, &stripe).await;
    let held = tables_holding(
        &app,
        &[WALKER.to_string(), WALKER_ID.to_string(), customer.clone()],
    )
    .await;
    // The scenario reached the places that hold them without a foreign key.
    for table in [
        "members",
        "login_attempts",
        "outbox",
        "stripe_events",
        "alerts",
        "billing_customers",
        "subscriptions",
    ] {
        assert!(held.contains_key(table), "{table} not reached: {held:?}");
    }

    let files = barkeep::privacy::exported_files();
    let mut zip = export(&app, &live.cookie).await;
    for (table, rows) in &held {
        if NOT_EXPORTED.iter().any(|(t, _)| t == table) {
            continue;
        }
        let covering: Vec<&str> = files
            .iter()
            .filter(|(_, tables)| tables.contains(&table.as_str()))
            .map(|(file, _)| *file)
            .collect();
        assert!(
            !covering.is_empty(),
            "{table} holds the member's id, address or Stripe customer but no file of the export covers it"
        );
        let exported: Vec<Value> = covering
            .iter()
            .flat_map(|f| read_json(&mut zip, f).as_array().unwrap().clone())
            .collect();
        match rows {
            Held::Ids(ids) => {
                for id in ids {
                    assert!(
                        exported.iter().any(|r| match &r["id"] {
                            Value::String(s) => s == id,
                            other => other.as_i64().is_some_and(|n| id.parse() == Ok(n)),
                        }),
                        "row {id} of {table} holds the member's id, address or Stripe customer but is not in {covering:?}"
                    );
                }
            }
            Held::Count(n) => assert!(
                exported.len() >= *n,
                "{n} rows of {table} hold the member's id, address or Stripe customer; {covering:?} have {}",
                exported.len()
            ),
        }
    }
}

#[tokio::test]
async fn the_export_holds_the_members_stripe_events_and_the_alerts_addressed_to_them() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(billing_options(&stripe)).await;
    let (live, customer) = everything_used(&app, &stripe).await;
    let mut zip = export(&app, &live.cookie).await;

    let events = read_json(&mut zip, "stripe_events.json");
    let mut ids: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["evt_sub_walker", "evt_walker_paid"]);
    let paid = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "evt_walker_paid")
        .unwrap();
    assert_eq!(paid["kind"], "invoice.paid");
    assert_eq!(paid["status"], "processed");
    assert_eq!(paid["stripe_customer_id"], customer.as_str());
    assert!(paid["payload"].as_str().unwrap().contains(WALKER));

    let alerts = read_json(&mut zip, "alerts_to_you.json");
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "abuse_warning");
    assert!(
        alerts[0]["fields"]
            .as_str()
            .unwrap()
            .contains("imitates a bank")
    );
    assert_eq!(
        read_json(&mut zip, "alerts_written.json"),
        json!([]),
        "they wrote none"
    );

    let mut readme = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("README.txt").unwrap(), &mut readme).unwrap();
    assert!(readme.contains("stripe_events.json") && readme.contains("alerts_to_you.json"));
}

#[tokio::test]
async fn each_retention_job_deletes_exactly_what_is_past_its_period() {
    let app = TestApp::spawn_with(options()).await;
    let live = email_bar(&app, "retain@example.com").await;
    let server = receiver(vec![]).await;
    set_webhook(&app, &live, &server).await;
    lead(&app, live.deployment, "old@example.net", "10.9.7.1").await;
    app.flush().await;
    deliver(&app).await;
    app.deliver_mail().await;
    app.post_json(
        "/api/v1/login",
        &json!({"email": "retain@example.com", "password": "wrong password!"}),
        None,
    )
    .await;
    let count = |t: &'static str| {
        let app = &app;
        async move { scalar(app, &format!("SELECT COUNT(*) FROM {t}")).await }
    };
    let (sessions, attempts, deliveries) = (
        count("sessions").await,
        count("login_attempts").await,
        count("lead_deliveries").await,
    );
    assert!(sessions >= 1 && attempts >= 2 && deliveries == 1);
    let bodies = "SELECT COUNT(*) FROM outbox WHERE body_text <> ''";
    let with_bodies = scalar(&app, bodies).await;
    assert!(with_bodies >= 1);
    let emails = count("outbox").await;

    // 29 days on: nothing is past its period yet.
    app.advance(chrono::Duration::days(29));
    for job in [
        "purge_sessions",
        "purge_login_attempts",
        "purge_email_bodies",
        "purge_lead_deliveries",
    ] {
        app.state.jobs.run_now(job).await.unwrap();
    }
    assert_eq!(
        (
            count("sessions").await,
            count("login_attempts").await,
            count("lead_deliveries").await
        ),
        (sessions, attempts, deliveries)
    );
    assert_eq!(scalar(&app, bodies).await, with_bodies);

    // 31 days on: email bodies and delivery records are; sessions (30 days) too.
    app.advance(chrono::Duration::days(2));
    for job in [
        "purge_sessions",
        "purge_email_bodies",
        "purge_lead_deliveries",
        "purge_login_attempts",
    ] {
        app.state.jobs.run_now(job).await.unwrap();
    }
    assert_eq!(count("sessions").await, 0);
    assert_eq!(count("lead_deliveries").await, 0);
    assert_eq!(scalar(&app, bodies).await, 0);
    assert_eq!(count("outbox").await, emails, "the metadata stays");
    assert_eq!(count("login_attempts").await, attempts, "90 days for those");
    app.advance(chrono::Duration::days(60));
    app.state
        .jobs
        .run_now("purge_login_attempts")
        .await
        .unwrap();
    assert_eq!(count("login_attempts").await, 0);
}

/// A receiver that takes `delay` to answer each post, and records every lead id it got.
async fn slow_receiver(delay: std::time::Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/leads"))
        .respond_with(ResponseTemplate::new(200).set_delay(delay))
        .mount(&server)
        .await;
    server
}

async fn posted_ids(server: &MockServer) -> Vec<i64> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

async fn leads_from(app: &TestApp, live: &LiveBar, n: usize, net: u8) {
    for i in 0..n {
        let ip = format!("10.{net}.{}.{}", i / 250, i % 250);
        lead(app, live.deployment, &format!("v{i}@example.net"), &ip).await;
    }
    app.flush().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_member_s_backlog_delays_another_member_s_lead() {
    let app = TestApp::spawn_with(options()).await;
    // A member whose 600 leads can go nowhere: no lead email, no webhook.
    let nowhere = email_bar(&app, "nowhere@example.com").await;
    let res = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/me",
            &nowhere.cookie,
            Some(&json!({"lead_email": false, "lead_retention_days": 3})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    leads_from(&app, &nowhere, 600, 20).await;
    // A member whose webhook takes two seconds over every post, with 200 leads.
    let slow = email_bar(&app, "slow@example.com").await;
    let slow_hook = slow_receiver(std::time::Duration::from_secs(2)).await;
    set_webhook(&app, &slow, &slow_hook).await;
    leads_from(&app, &slow, 200, 21).await;
    // And one lead of a member whose receiver answers at once, newest of all.
    let fine = email_bar(&app, "fine@example.com").await;
    let fine_hook = receiver(vec![]).await;
    set_webhook(&app, &fine, &fine_hook).await;
    lead(&app, fine.deployment, "on-time@example.net", "10.22.0.1").await;
    app.flush().await;

    let started = std::time::Instant::now();
    let runs = tokio::spawn({
        let jobs = app.state.jobs.clone();
        async move {
            // As the scheduler would: run after run.
            for _ in 0..3 {
                jobs.run_now("lead_delivery").await.unwrap();
            }
        }
    });
    let waited = loop {
        if !fine_hook.received_requests().await.unwrap().is_empty() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the lead waited a minute behind other members' leads"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    runs.await.unwrap();
    println!("the lead reached its webhook after {waited:?}");
    assert!(waited < std::time::Duration::from_secs(60));
    // The slow receiver got a bounded share per run, never more than four at once.
    let slow_posts = posted_ids(&slow_hook).await.len();
    assert_eq!(slow_posts, 60, "20 per run, three runs");

    // The leads that can go nowhere follow their member's retention (3 days).
    let waiting = "SELECT COUNT(*) FROM leads l JOIN sites s ON s.id = l.site_id \
         JOIN account_members am ON am.account_id = s.account_id \
         JOIN members m ON m.id = am.member_id WHERE m.email = 'nowhere@example.com'";
    assert_eq!(scalar(&app, waiting).await, 600);
    app.advance(chrono::Duration::days(2));
    app.state.jobs.run_now("purge_leads").await.unwrap();
    assert_eq!(scalar(&app, waiting).await, 600);
    app.advance(chrono::Duration::days(2));
    app.state.jobs.run_now("purge_leads").await.unwrap();
    assert_eq!(scalar(&app, waiting).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_post_a_lead_twice() {
    let a = TestApp::spawn_with(options()).await;
    let b = TestApp::spawn_with(options().sharing(&a)).await;
    let live = email_bar(&a, "twice@example.com").await;
    let hook = slow_receiver(std::time::Duration::from_millis(100)).await;
    set_webhook(&a, &live, &hook).await;
    leads_from(&a, &live, 60, 30).await;
    let runner = |app: &TestApp| {
        let jobs = app.state.jobs.clone();
        async move {
            for _ in 0..8 {
                jobs.run_now("lead_delivery").await.unwrap();
            }
        }
    };
    futures_util::future::join(runner(&a), runner(&b)).await;
    let mut ids = posted_ids(&hook).await;
    ids.sort_unstable();
    let posts = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), 60, "every lead posted");
    assert_eq!(posts, 60, "and none twice");
}

#[tokio::test]
async fn a_lead_whose_email_is_given_up_waits_for_the_next_email() {
    // Mail goes to a port nobody listens on, and is given up at its first failure.
    let mut mail = crate::helpers::fast_mail();
    mail.max_attempts = 1;
    let closed = format!("smtp://127.0.0.1:{}", crate::helpers::free_port());
    let app = TestApp::spawn_with(Options {
        mail,
        ..options().var("BARKEEP_MAIL_URL", &closed)
    })
    .await;
    assert_eq!(
        app.signup("lost@example.com").await.status(),
        StatusCode::CREATED
    );
    let cookie = app.login("lost@example.com", PASSWORD).await;
    let site = app.site(&cookie, &["shop.example"]).await;
    let bar = app
        .bar(
            &cookie,
            site["id"].as_i64().unwrap(),
            &json!({"goal": "email", "message": "Join the list"}),
        )
        .await;
    let deployment = app.publish(&cookie, bar["id"].as_i64().unwrap()).await[0]["id"]
        .as_i64()
        .unwrap();
    lead(&app, deployment, "keep-me@example.net", "10.9.8.1").await;
    app.flush().await;
    let emails = "SELECT COUNT(*) FROM outbox WHERE kind = 'lead_notification'";
    let failed =
        "SELECT COUNT(*) FROM outbox WHERE kind = 'lead_notification' AND status = 'failed'";
    deliver(&app).await;
    assert_eq!(scalar(&app, emails).await, 1);
    app.deliver_mail().await;
    assert_eq!(scalar(&app, failed).await, 1, "the email was given up");
    deliver(&app).await;
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM leads WHERE email_outbox_id IS NULL AND email_done = FALSE"
        )
        .await,
        1,
        "the lead is still here, waiting for an email"
    );
    // Ten minutes on, it is listed in a new email.
    app.advance(chrono::Duration::minutes(11));
    deliver(&app).await;
    assert_eq!(scalar(&app, emails).await, 2);
    let newest = "SELECT COUNT(*) FROM leads WHERE email_outbox_id = \
         (SELECT MAX(id) FROM outbox WHERE kind = 'lead_notification')";
    assert_eq!(scalar(&app, newest).await, 1);
}
