//! System alerts and member email: exactly once per member through a real fan-out,
//! real SMTP with DKIM, the HTTP email API, tracking that tells people from scanners,
//! one-click unsubscribe, bounces, privacy-policy objections and the weekly digest.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{BROWSER_UA, Email, Options, SmtpServer, TestApp, body_json, ev, link_bar};

async fn make_operator(app: &TestApp, email: &str) -> String {
    let cookie = app.member(email).await;
    app.db
        .execute_unprepared(&format!(
            "UPDATE members SET is_operator = TRUE WHERE email = '{email}'"
        ))
        .await
        .unwrap();
    cookie
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.db
        .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn draft(app: &TestApp, operator: &str, body: Value) -> i64 {
    let res = app
        .post_json("/api/v1/admin/alerts", &body, Some(operator))
        .await;
    let status = res.status();
    let v = body_json(res).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

async fn send(app: &TestApp, operator: &str, id: i64) {
    let res = app
        .post_json(
            &format!("/api/v1/admin/alerts/{id}/send"),
            &json!({}),
            Some(operator),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    fan_out(app).await;
}

/// Runs the fan-out job now, as the wake-up that sending gives it does in a server.
async fn fan_out(app: &TestApp) {
    app.state.jobs.run_now("alert_fanout").await.unwrap();
}

async fn report(app: &TestApp, operator: &str, id: i64) -> Value {
    let res = app
        .get_as(&format!("/api/v1/admin/alerts/{id}/report"), operator)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    body_json(res).await
}

fn outage() -> Value {
    json!({
        "kind": "planned_outage",
        "audience": "all",
        "message": "We are moving to a larger database.\n\nNothing is lost.",
        "fields": {"starts_at": "2027-01-12T01:00:00Z", "ends_at": "2027-01-12T03:00:00Z", "affected": "the dashboard and the API"}
    })
}

fn feature() -> Value {
    json!({
        "kind": "new_feature",
        "audience": "all",
        "fields": {"feature": "CSV export", "summary": "Every chart has a CSV download now.", "url": "https://docs.example/csv"}
    })
}

#[tokio::test]
async fn an_outage_alert_reaches_every_member_once_in_their_time_zone() {
    let app = TestApp::spawn().await;
    let operator = make_operator(&app, "ops@example.com").await;
    let ada = app.member("ada@example.com").await;
    app.member("bob@example.com").await;
    let res = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/me",
            &ada,
            Some(&json!({"time_zone": "Europe/Berlin"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = draft(&app, &operator, outage()).await;

    let preview = body_json(
        app.get_as(&format!("/api/v1/admin/alerts/{id}/preview"), &operator)
            .await,
    )
    .await;
    assert!(
        preview["subject"]
            .as_str()
            .unwrap()
            .contains("Planned maintenance")
    );
    assert!(
        preview["text"]
            .as_str()
            .unwrap()
            .contains("larger database")
    );
    assert!(preview["html"].as_str().unwrap().contains("<html"));

    send(&app, &operator, id).await;
    // Sending again is refused; running the fan-out again queues nothing more.
    let res = app
        .post_json(
            &format!("/api/v1/admin/alerts/{id}/send"),
            &json!({}),
            Some(&operator),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    fan_out(&app).await;
    let emails = app.delivered().await;
    let outage: Vec<&Email> = emails
        .iter()
        .filter(|m| m.subject.contains("Planned maintenance"))
        .collect();
    assert_eq!(outage.len(), 3, "ops, ada and bob, once each");
    let to_ada = outage.iter().find(|m| m.to == "ada@example.com").unwrap();
    assert!(
        to_ada.text.contains("Tuesday 12 January 2027, 02:00"),
        "{}",
        to_ada.text
    );
    assert!(to_ada.text.contains("Europe/Berlin"));
    assert!(to_ada.html.contains("the dashboard and the API"));
    let to_bob = outage.iter().find(|m| m.to == "bob@example.com").unwrap();
    assert!(to_bob.text.contains("01:00") && to_bob.text.contains("UTC"));
    // Transactional: no unsubscribe line, no List-Unsubscribe.
    assert!(!String::from_utf8_lossy(&to_bob.raw).contains("List-Unsubscribe"));

    let r = report(&app, &operator, id).await;
    assert_eq!(
        (
            r["sent"].as_i64(),
            r["queued"].as_i64(),
            r["failed"].as_i64()
        ),
        (Some(3), Some(0), Some(0))
    );
    assert_eq!(r["alert"]["status"], "sent");
}

#[tokio::test]
async fn a_fan_out_interrupted_halfway_resumes_without_mailing_anyone_twice() {
    let mut a = TestApp::spawn().await;
    let operator = make_operator(&a, "ops@example.com").await;
    // 5,000 members, written straight to the table (signing up 5,000 through argon2
    // would take the test minutes).
    let now = "2026-12-01T00:00:00Z";
    for chunk in (0..5000).collect::<Vec<_>>().chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("('m{i}@example.com', '{now}', 'x', FALSE, '{now}', '{now}')"))
            .collect();
        a.db.execute_unprepared(&format!(
            "INSERT INTO members (email, email_confirmed_at, password_hash, promo_opt_in, created_at, updated_at) VALUES {}",
            values.join(",")
        ))
        .await
        .unwrap();
    }
    let id = draft(&a, &operator, outage()).await;
    let res = a
        .post_json(
            &format!("/api/v1/admin/alerts/{id}/send"),
            &json!({}),
            Some(&operator),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Five batches, then the process goes away mid-fan-out.
    for _ in 0..5 {
        assert!(!a.state.alerts.fan_out_batch(id).await.unwrap());
    }
    let halfway = scalar(
        &a,
        &format!("SELECT COUNT(*) FROM outbox WHERE alert_id = {id}"),
    )
    .await;
    assert_eq!(halfway, 2500);
    a.stop().await;

    let b = TestApp::spawn_with(Options::default().sharing(&a)).await;
    fan_out(&b).await;
    let all = format!("SELECT COUNT(*) FROM outbox WHERE alert_id = {id}");
    let members = format!("SELECT COUNT(DISTINCT member_id) FROM outbox WHERE alert_id = {id}");
    assert_eq!(scalar(&b, &all).await, 5001);
    assert_eq!(scalar(&b, &members).await, 5001);
    // Even a lost checkpoint cannot mail anyone twice: the outbox key is per member.
    b.db.execute_unprepared(&format!(
        "UPDATE alerts SET cursor = 0, status = 'sending' WHERE id = {id}"
    ))
    .await
    .unwrap();
    fan_out(&b).await;
    assert_eq!(scalar(&b, &all).await, 5001);
    assert_eq!(
        scalar(&b, &format!("SELECT queued FROM alerts WHERE id = {id}")).await,
        5001,
        "the second pass ran, and queued nothing new"
    );
}

#[tokio::test]
async fn two_processes_fanning_out_at_once_queue_each_member_once() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_with(Options::default().sharing(&a)).await;
    let operator = make_operator(&a, "ops@example.com").await;
    for i in 0..30 {
        a.signup(&format!("m{i}@example.com")).await;
    }
    let id = draft(&a, &operator, outage()).await;
    a.post_json(
        &format!("/api/v1/admin/alerts/{id}/send"),
        &json!({}),
        Some(&operator),
    )
    .await;
    let (x, y) = tokio::join!(a.state.alerts.fan_out(), b.state.alerts.fan_out());
    x.unwrap();
    y.unwrap();
    let n = scalar(
        &a,
        &format!("SELECT COUNT(*) FROM outbox WHERE alert_id = {id}"),
    )
    .await;
    assert_eq!(n, 31);
}

fn dkim_verifies(raw: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("message.eml");
    std::fs::write(&msg, raw).unwrap();
    let public = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dkim/test.public.b64"
    ))
    .unwrap();
    // python3-dkim (dkimpy) verifies; the DNS lookup is answered with the test key.
    let script = format!(
        "import dkim,sys\nm=open(sys.argv[1],'rb').read()\nok=dkim.verify(m, dnsfunc=lambda name, timeout=5: b'v=DKIM1; k=rsa; p={}')\nsys.exit(0 if ok else 1)",
        public.trim()
    );
    std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .arg(&msg)
        .status()
        .expect("python3 with dkim (Debian package python3-dkim; `make test` installs it)")
        .success()
}

#[tokio::test]
async fn news_goes_out_through_real_smtp_dkim_signed_with_one_click_unsubscribe() {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(
        Options::default()
            .var("BARKEEP_MAIL_URL", &smtp.url())
            .var("BARKEEP_MAIL_FROM", "Bars <bars@example.com>")
            .var("BARKEEP_MAIL_FROM_NEWS", "Bars news <news@example.com>")
            .var("BARKEEP_DKIM_SELECTOR", "test")
            .var(
                "BARKEEP_DKIM_KEY_FILE",
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/dkim/test.key.pem"
                ),
            ),
    )
    .await;
    // Signing up through SMTP: confirm through the link the SMTP server received.
    let operator_email = "ops@example.com";
    app.signup(operator_email).await;
    app.deliver_mail().await;
    let confirm = smtp
        .messages()
        .into_iter()
        .find(|m| m.to == operator_email)
        .unwrap();
    app.client
        .get(confirm.link("/confirm-email"))
        .send()
        .await
        .unwrap();
    let operator = app.login(operator_email, crate::helpers::PASSWORD).await;
    app.db
        .execute_unprepared("UPDATE members SET is_operator = TRUE")
        .await
        .unwrap();

    let id = draft(&app, &operator, feature()).await;
    send(&app, &operator, id).await;
    app.deliver_mail().await;
    let news: Vec<Email> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.subject.contains("CSV export"))
        .collect();
    assert_eq!(news.len(), 1);
    let m = &news[0];
    let raw = String::from_utf8_lossy(&m.raw).to_string();
    assert!(raw.contains("multipart/alternative"));
    assert!(m.text.contains("Every chart has a CSV download"));
    assert!(m.html.contains("Every chart has a CSV download"));
    assert!(
        raw.contains("news@example.com>"),
        "subscription mail from its own address"
    );
    for header in [
        "Message-ID: <outbox-",
        "Date: ",
        "List-Id: ",
        "List-Unsubscribe: <http",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "DKIM-Signature: ",
    ] {
        assert!(raw.contains(header), "{header} missing in:\n{raw}");
    }
    assert!(dkim_verifies(&m.raw), "the DKIM signature verifies");

    // The one-click unsubscribe: a bare POST, no cookie, as a mail client sends it.
    let unsubscribe = raw
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: <"))
        .unwrap()
        .trim_end_matches('>')
        .to_string();
    let res = app.client.get(&unsubscribe).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me = body_json(app.get_as("/api/v1/me", &operator).await).await;
    assert_eq!(me["news_opt_in"], true, "a GET only asks");
    let res = app
        .client
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me = body_json(app.get_as("/api/v1/me", &operator).await).await;
    assert_eq!(me["news_opt_in"], false);
    assert_eq!(me["digest_opt_in"], true, "only that list");
    // No more news; an outage still arrives.
    let id = draft(&app, &operator, feature()).await;
    send(&app, &operator, id).await;
    let id = draft(&app, &operator, outage()).await;
    send(&app, &operator, id).await;
    app.deliver_mail().await;
    let all = smtp.messages();
    assert_eq!(
        all.iter()
            .filter(|m| m.subject.contains("CSV export"))
            .count(),
        1
    );
    assert_eq!(
        all.iter()
            .filter(|m| m.subject.contains("Planned maintenance"))
            .count(),
        1
    );
    // The page's other button leaves every subscription list at once.
    let res = app
        .client
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click&scope=all")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me = body_json(app.get_as("/api/v1/me", &operator).await).await;
    assert_eq!(
        (me["digest_opt_in"].as_bool(), me["promo_opt_in"].as_bool()),
        (Some(false), Some(false))
    );
    let outage_raw = all.iter().find(|m| m.subject.contains("Planned")).unwrap();
    assert!(String::from_utf8_lossy(&outage_raw.raw).contains("From: Bars <bars@example.com>"));
    assert!(!String::from_utf8_lossy(&outage_raw.raw).contains("List-Unsubscribe"));
}

#[tokio::test]
async fn smtp_down_for_a_while_then_every_alert_email_arrives_once() {
    let port = crate::helpers::free_port();
    let mut opts = Options::default().var("BARKEEP_MAIL_URL", &format!("smtp://127.0.0.1:{port}"));
    opts.mail.first_retry = Duration::from_secs(60);
    let app = TestApp::spawn_with(opts).await;
    for i in 0..5 {
        app.signup(&format!("m{i}@example.com")).await;
    }
    app.db
        .execute_unprepared("UPDATE members SET is_operator = TRUE WHERE email = 'm0@example.com'")
        .await
        .unwrap();
    let operator = app.login("m0@example.com", crate::helpers::PASSWORD).await;
    let id = draft(&app, &operator, outage()).await;
    send(&app, &operator, id).await;
    app.deliver_mail().await;
    assert_eq!(report(&app, &operator, id).await["sent"], 0);
    let smtp = SmtpServer::start_on(port);
    app.advance(chrono::Duration::minutes(2));
    app.deliver_mail().await;
    app.advance(chrono::Duration::minutes(10));
    app.deliver_mail().await;
    let got: Vec<String> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.subject.contains("Planned"))
        .map(|m| m.to)
        .collect();
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(report(&app, &operator, id).await["sent"], 5);
}

#[tokio::test]
async fn an_address_smtp_refuses_for_good_is_suppressed_from_news_but_not_alerts() {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(Options::default().var("BARKEEP_MAIL_URL", &smtp.url())).await;
    app.signup("ops@example.com").await;
    // A member whose address the SMTP server refuses (no signup mail has tried it yet).
    app.db
        .execute_unprepared(
            "INSERT INTO members (email, email_confirmed_at, password_hash, promo_opt_in, created_at, updated_at) \
             VALUES ('bounce-me@example.com', '2026-12-01T00:00:00Z', 'x', FALSE, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')",
        )
        .await
        .unwrap();
    app.db.execute_unprepared("UPDATE members SET is_operator = TRUE, email_confirmed_at = created_at WHERE email = 'ops@example.com'").await.unwrap();
    let operator = app.login("ops@example.com", crate::helpers::PASSWORD).await;
    let id = draft(&app, &operator, feature()).await;
    send(&app, &operator, id).await;
    app.deliver_mail().await;
    let r = report(&app, &operator, id).await;
    assert_eq!(
        (
            r["sent"].as_i64(),
            r["failed"].as_i64(),
            r["bounced"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        scalar(
            &app,
            // Kept as a hash of the address, never the address.
            "SELECT COUNT(*) FROM email_suppressions WHERE address NOT LIKE '%@%'"
        )
        .await,
        1
    );
    // Further news skips the address; a transactional alert still tries and says so.
    let id = draft(&app, &operator, feature()).await;
    send(&app, &operator, id).await;
    // (The report's `queued` counts emails still waiting; the alert's, what the fan-out queued.)
    assert_eq!(
        report(&app, &operator, id).await["alert"]["queued"],
        1,
        "only ops"
    );
    let id = draft(&app, &operator, outage()).await;
    send(&app, &operator, id).await;
    app.deliver_mail().await;
    let r = report(&app, &operator, id).await;
    assert_eq!(
        (r["sent"].as_i64(), r["failed"].as_i64()),
        (Some(1), Some(1))
    );
    let members = body_json(
        app.get_as("/api/v1/admin/members?q=bounce", &operator)
            .await,
    )
    .await;
    assert_eq!(members["members"][0]["email_suppressed"], "hard_bounce");
}

#[tokio::test]
async fn the_http_email_api_retries_429_and_5xx_and_gives_up_on_a_refused_recipient() {
    let api = MockServer::start().await;
    // The first call is rate limited, the rest accepted.
    Mock::given(method("POST"))
        .and(path("/email"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(json!({"ErrorCode": 429, "Message": "Rate limit exceeded"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path("/email"))
        .and(wiremock::matchers::body_partial_json(json!({"To": "gone@example.com"})))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"ErrorCode": 406, "Message": "You tried to send to a recipient that has been marked as inactive."})))
        .with_priority(2)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path("/email"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ErrorCode": 0, "Message": "OK", "MessageID": "b7bc2f4a"})),
        )
        .with_priority(3)
        .mount(&api)
        .await;
    let url = api.uri().replace("http://", "http://server-token-1@");
    let app = TestApp::spawn_with(Options::default().var("BARKEEP_MAIL_URL", &url)).await;
    app.signup("ok@example.com").await;
    app.signup("gone@example.com").await;
    app.deliver_mail().await;
    let sent = api.received_requests().await.unwrap();
    assert!(sent.len() >= 3, "429 retried: {}", sent.len());
    let body: Value = serde_json::from_slice(&sent.last().unwrap().body).unwrap();
    assert_eq!(body["MessageStream"], "outbound");
    assert!(body["TextBody"].as_str().unwrap().contains("confirm"));
    assert!(body["HtmlBody"].as_str().unwrap().contains("<html"));
    assert!(body["Metadata"]["outbox_id"].is_string());
    assert_eq!(
        sent[0].headers.get("x-postmark-server-token").unwrap(),
        "server-token-1"
    );
    let statuses = scalar(&app, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await;
    assert_eq!(statuses, 1);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM outbox WHERE status = 'failed' AND to_address = 'gone@example.com'").await, 1);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM email_suppressions").await,
        1
    );

    // A server that keeps failing: the email stays queued, to be tried again later.
    api.reset().await;
    Mock::given(method("POST"))
        .and(path("/email"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&api)
        .await;
    app.signup("later@example.com").await;
    app.deliver_mail().await;
    assert_eq!(
        api.received_requests().await.unwrap().len(),
        3,
        "three tries, then the outbox's backoff"
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts = 1 AND to_address = 'later@example.com'").await, 1);
}

#[tokio::test]
async fn the_email_apis_bounce_webhook_is_verified_and_suppresses() {
    let app = TestApp::spawn_with(
        Options::default().var("BARKEEP_MAIL_WEBHOOK_SECRET", "a-long-webhook-secret"),
    )
    .await;
    let bounce = json!({"RecordType": "Bounce", "Type": "HardBounce", "Email": "Gone@Example.com", "Description": "The server was unable to deliver your message", "Metadata": {"outbox_id": "99999"}});
    let post = |user: &str, pass: &str| {
        app.client
            .post(app.url("/mail/webhook"))
            .basic_auth(user, Some(pass))
            .json(&bounce)
            .send()
    };
    assert_eq!(
        post("postmark", "wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM email_suppressions").await,
        0
    );
    let res = post("postmark", "a-long-webhook-secret").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["status"], "suppressed");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM email_suppressions WHERE address NOT LIKE '%@%'"
        )
        .await,
        1
    );
}

/// The first link in the HTML part leading back to barkeep under `prefix`.
fn html_link(m: &Email, prefix: &str) -> String {
    let at = m
        .html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {}", m.html));
    m.html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn opens_and_clicks_are_recorded_and_scanners_kept_apart() {
    let app = TestApp::spawn().await;
    let operator = make_operator(&app, "ops@example.com").await;
    app.member("reader@example.com").await;
    let id = draft(&app, &operator, feature()).await;
    send(&app, &operator, id).await;
    let emails = app.delivered().await;
    let to_reader = emails
        .iter()
        .find(|m| m.to == "reader@example.com" && m.subject.contains("CSV"))
        .unwrap();
    let to_ops = emails
        .iter()
        .find(|m| m.to == "ops@example.com" && m.subject.contains("CSV"))
        .unwrap();
    let click = html_link(to_reader, &format!("{}/t/c/", app.address));
    let pixel = html_link(to_reader, &format!("{}/t/o/", app.address));
    assert!(
        !to_reader.html.contains("https://docs.example/csv"),
        "links go through barkeep"
    );
    assert!(
        to_reader.text.contains("https://docs.example/csv"),
        "the text part is as written"
    );

    // A scanner follows the link the moment the email lands.
    let res = app
        .client
        .get(html_link(to_ops, &format!("{}/t/c/", app.address)))
        .header("user-agent", BROWSER_UA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let res = app
        .client
        .head(&click)
        .header("user-agent", BROWSER_UA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);

    // The reader, a few minutes later.
    app.advance(chrono::Duration::minutes(3));
    let res = app
        .client
        .get(&pixel)
        .header("user-agent", BROWSER_UA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/gif");
    let res = app
        .client
        .get(&click)
        .header("user-agent", BROWSER_UA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "https://docs.example/csv");
    // Google's image proxy fetching the pixel is a machine.
    app.client.get(&pixel).header("user-agent", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)").send().await.unwrap();

    let r = report(&app, &operator, id).await;
    assert_eq!(
        (r["opened"].as_i64(), r["clicked"].as_i64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(r["clicked_by_machines"], 2, "{r}");
    assert_eq!(r["opened_by_machines"], 1, "{r}");

    // No open redirect: a changed token, or a URL of one's own, leads nowhere.
    let res = app
        .client
        .get(format!("{click}?url=https://evil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "https://docs.example/csv");
    let mut forged = click.clone().into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'x' { b'y' } else { b'x' };
    let forged = String::from_utf8(forged).unwrap();
    let res = app.client.get(&forged).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get("location").is_none());
    // The pixel answers the image whatever it is given.
    let res = app
        .client
        .get(format!("{}/t/o/garbage.gif", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/gif");
}

#[tokio::test]
async fn with_tracking_off_emails_carry_their_links_as_written() {
    let app = TestApp::spawn_with(Options::default().var("BARKEEP_MAIL_TRACKING", "off")).await;
    let operator = make_operator(&app, "ops@example.com").await;
    let id = draft(&app, &operator, feature()).await;
    send(&app, &operator, id).await;
    let m = app.wait_for_email("ops@example.com", "CSV").await;
    assert!(m.html.contains("https://docs.example/csv"));
    assert!(!m.html.contains("/t/o/") && !m.html.contains("/t/c/"));
}

#[tokio::test]
async fn a_policy_change_mails_everyone_and_objections_close_after_twenty_days() {
    let app = TestApp::spawn().await;
    let operator = make_operator(&app, "ops@example.com").await;
    let early = app.member("early@example.com").await;
    let late = app.member("late@example.com").await;
    let effective = (app.clock.now() + chrono::Duration::days(30)).to_rfc3339();
    let res = app
        .post_json(
            "/api/v1/admin/policies",
            &json!({"version": "2027-01", "text": "We keep less.", "effective_at": effective}),
            Some(&operator),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let past = app
        .post_json(
            "/api/v1/admin/policies",
            &json!({"version": "old", "url": "https://b.example/p", "effective_at": "2020-01-01T00:00:00Z"}),
            Some(&operator),
        )
        .await;
    assert_eq!(past.status(), StatusCode::UNPROCESSABLE_ENTITY);
    fan_out(&app).await;
    let emails = app.delivered().await;
    for to in ["ops@example.com", "early@example.com", "late@example.com"] {
        assert_eq!(
            emails
                .iter()
                .filter(|m| m.to == to && m.subject.contains("privacy policy"))
                .count(),
            1,
            "{to}"
        );
    }
    let link = emails
        .iter()
        .find(|m| m.subject.contains("privacy policy"))
        .unwrap()
        .link("/privacy-policy");
    let page = app
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("We keep less."));

    app.advance(chrono::Duration::days(3));
    let res = app
        .post_json("/api/v1/me/policy-objection", &json!({}), Some(&early))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let recorded = body_json(res).await;
    assert_eq!(recorded["version"], "2027-01");
    assert!(recorded["objected_at"].is_string());

    app.advance(chrono::Duration::days(18));
    let res = app
        .post_json(
            "/api/v1/me/policy-objection",
            &json!({"version": "2027-01"}),
            Some(&late),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let err = body_json(res).await;
    assert_eq!(err["error"], "objection_window_closed");
    let theirs = body_json(app.get_as("/api/v1/me/policies", &late).await).await;
    let deadline = theirs["policies"][0]["objection_deadline"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err["message"].as_str().unwrap().contains(&deadline[..16]),
        "names the deadline {deadline}: {err}"
    );

    let mine = body_json(app.get_as("/api/v1/me/policies", &early).await).await;
    assert!(mine["policies"][0]["objected_at"].is_string());
    assert!(theirs["policies"][0]["objected_at"].is_null());
    let ops = body_json(app.get_as("/api/v1/admin/policies", &operator).await).await;
    let objections = ops["policies"][0]["objections"].as_array().unwrap();
    assert_eq!(objections.len(), 1);
    assert_eq!(objections[0]["email"], "early@example.com");
}

/// The member's objection deadline for the newest policy version.
async fn deadline(app: &TestApp, cookie: &str) -> chrono::DateTime<chrono::Utc> {
    let theirs = body_json(app.get_as("/api/v1/me/policies", cookie).await).await;
    theirs["policies"][0]["objection_deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn objection_windows_count_from_the_email_sent_or_the_publication_never_from_now() {
    // Mail goes through a real SMTP server that is not up yet: the policy emails wait in
    // the outbox until it is. It refuses `bounce…` addresses for good.
    let port = crate::helpers::free_port();
    let app = TestApp::spawn_with(
        Options::default().var("BARKEEP_MAIL_URL", &format!("smtp://127.0.0.1:{port}")),
    )
    .await;
    let member = |email: &'static str| {
        let app = &app;
        async move {
            assert_eq!(app.signup(email).await.status(), StatusCode::CREATED);
            app.login(email, crate::helpers::PASSWORD).await
        }
    };
    let operator = member("ops@example.com").await;
    app.db
        .execute_unprepared("UPDATE members SET is_operator = TRUE WHERE email = 'ops@example.com'")
        .await
        .unwrap();
    let told = member("told@example.com").await;
    let undeliverable = member("bounce-me@example.com").await;
    let published = app.clock.now();
    let res = app
        .post_json(
            "/api/v1/admin/policies",
            &json!({"version": "2027-02", "text": "Shorter.", "effective_at": (published + chrono::Duration::days(30)).to_rfc3339()}),
            Some(&operator),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    fan_out(&app).await;
    app.deliver_mail().await;
    let twenty = chrono::Duration::days(20);
    let close = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
        (a - b).num_seconds().abs() <= 1
    };
    // Queued, not sent: from the publication, however often and late it is asked.
    let first = deadline(&app, &told).await;
    assert!(close(first, published + twenty), "{first}");
    app.advance(chrono::Duration::days(5));
    assert_eq!(
        deadline(&app, &told).await,
        first,
        "the window does not move"
    );

    // Five days on the server is up: one email is sent, the other refused for good. The
    // process's own mail job may have tried (and backed off) while the clock moved, so
    // the clock passes the longest back-off first.
    let smtp = SmtpServer::start_on(port);
    app.advance(chrono::Duration::hours(2));
    let sent_at = app.clock.now();
    let policy_emails = || {
        smtp.messages()
            .iter()
            .filter(|m| m.subject.contains("privacy policy"))
            .count()
    };
    app.deliver_mail().await;
    let delivered_by = app.clock.now();
    assert_eq!(policy_emails(), 2, "ops and told");
    let told_deadline = deadline(&app, &told).await;
    assert!(
        told_deadline >= sent_at + twenty - chrono::Duration::seconds(1)
            && told_deadline <= delivered_by + twenty + chrono::Duration::seconds(1),
        "{told_deadline} counts from the email sent, between {sent_at} and {delivered_by}"
    );
    assert!(close(
        deadline(&app, &undeliverable).await,
        published + twenty
    ));

    // Someone who joins later was never emailed: from when they joined.
    app.advance(chrono::Duration::days(1));
    let joined = app.clock.now();
    let newcomer = member("newcomer@example.com").await;
    assert!(close(deadline(&app, &newcomer).await, joined + twenty));

    // On day 21 the undeliverable member's window is closed, the told member's is not.
    app.set_clock(published + chrono::Duration::days(21));
    let object = |cookie: &String| {
        let (app, cookie) = (&app, cookie.clone());
        async move {
            app.post_json("/api/v1/me/policy-objection", &json!({}), Some(&cookie))
                .await
                .status()
        }
    };
    assert_eq!(object(&undeliverable).await, StatusCode::CONFLICT);
    assert_eq!(object(&told).await, StatusCode::CREATED);
    app.set_clock(joined + twenty + chrono::Duration::minutes(1));
    assert_eq!(object(&newcomer).await, StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_weekly_digest_goes_out_on_monday_morning_once() {
    let app = TestApp::spawn().await;
    let live = app
        .live_bar("digest@example.com", &link_bar("Winter sale"))
        .await;
    for i in 0..4 {
        app.event(
            &ev(live.deployment, "v"),
            &format!("10.1.0.{i}"),
            BROWSER_UA,
        )
        .await;
    }
    app.event(&ev(live.deployment, "c"), "10.1.0.9", BROWSER_UA)
        .await;
    app.flush().await;
    // The next Monday after the week the events fell in, 08:00 UTC.
    let now = app.clock.now();
    let days = 7 - i64::from(chrono::Datelike::weekday(&now).num_days_from_monday());
    let monday = (now + chrono::Duration::days(days))
        .date_naive()
        .and_hms_opt(8, 0, 0)
        .unwrap()
        .and_utc();
    app.set_clock(monday - chrono::Duration::minutes(5));
    app.run_job("weekly_digest").await;
    let before: Vec<_> = app
        .delivered()
        .await
        .into_iter()
        .filter(|m| m.subject.contains("Your week"))
        .collect();
    assert!(
        before.iter().all(|m| !m.text.contains("Winter sale")),
        "not before Monday 08:00"
    );
    app.set_clock(monday + chrono::Duration::minutes(1));
    app.advance(chrono::Duration::minutes(15));
    app.run_job("weekly_digest").await;
    app.advance(chrono::Duration::minutes(15));
    app.run_job("weekly_digest").await;
    let digests: Vec<Email> = app
        .delivered()
        .await
        .into_iter()
        .filter(|m| m.subject.contains("Your week") && m.text.contains("Winter sale"))
        .collect();
    assert_eq!(digests.len(), 1, "once");
    let d = &digests[0];
    assert!(d.subject.contains("4 views"), "{}", d.subject);
    assert!(d.text.contains("25.0 %"), "{}", d.text);
    assert!(String::from_utf8_lossy(&d.raw).contains("List-Unsubscribe-Post"));
}
