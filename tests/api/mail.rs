use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, Statement, TransactionTrait,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use barkeep::db::entities::outbox::{self, EmailKind, Status};

use crate::columns::values_containing;
use crate::helpers::{Options, PASSWORD, SmtpServer, TestApp, body_json, free_port, read_mail_dir};

#[tokio::test]
async fn email_goes_out_through_a_real_smtp_server() {
    let smtp = SmtpServer::start_on(free_port());
    let app = TestApp::spawn_with(
        Options::default()
            .var(
                "BARKEEP_MAIL_URL",
                &format!("smtp://127.0.0.1:{}", smtp.port),
            )
            .var("BARKEEP_MAIL_FROM", "Bars <bars@example.com>"),
    )
    .await;
    assert_eq!(
        app.signup("smtp@example.com").await.status(),
        StatusCode::CREATED
    );
    app.deliver_mail().await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.to, "smtp@example.com");
    assert_eq!(m.subject, "Confirm your email address for barkeep");
    assert!(
        m.text.contains("/confirm-email?token="),
        "plain-text part: {}",
        m.text
    );
    assert!(m.html.contains("<a href="), "HTML part: {}", m.html);
    let raw = String::from_utf8_lossy(&m.raw);
    assert!(raw.contains("multipart/alternative"));
    assert!(raw.contains("From: Bars <bars@example.com>"));
    // The link works.
    let res = app
        .client
        .get(m.link("/confirm-email"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Nothing was written to the mail folder.
    assert!(app.emails().is_empty());
}

#[tokio::test]
async fn a_failed_send_is_retried_with_backoff_and_delivered_once() {
    let port = free_port();
    // Retries a minute apart: only the moved clock brings them, never the time the test takes.
    let mut opts = Options::default().var("BARKEEP_MAIL_URL", &format!("smtp://127.0.0.1:{port}"));
    opts.mail.first_retry = Duration::from_secs(60);
    opts.mail.max_retry = Duration::from_secs(600);
    let app = TestApp::spawn_with(opts).await;
    app.signup("retry@example.com").await;
    let row = || async { outbox::Entity::find().one(&app.db).await.unwrap().unwrap() };

    // Nobody listens yet: the attempt fails and is scheduled again, later each time.
    app.deliver_mail().await;
    let first = row().await;
    assert_eq!((first.attempts, first.status), (1, Status::Pending));
    assert!(
        first.last_error.as_deref().unwrap_or("").contains("SMTP"),
        "{:?}",
        first.last_error
    );
    // Not due again before its time.
    app.deliver_mail().await;
    assert_eq!(row().await.attempts, 1);
    app.advance(chrono::Duration::seconds(61));
    app.deliver_mail().await;
    let second = row().await;
    assert_eq!(second.attempts, 2);
    assert!(
        second.next_attempt_at - second.created_at > first.next_attempt_at - first.created_at,
        "backing off"
    );

    let smtp = SmtpServer::start_on(port);
    app.advance(chrono::Duration::seconds(121));
    app.deliver_mail().await;
    let sent = row().await;
    assert_eq!(sent.status, Status::Sent);
    assert!(sent.sent_at.is_some());
    app.advance(chrono::Duration::hours(2));
    app.deliver_mail().await;
    assert_eq!(smtp.messages().len(), 1, "delivered exactly once");
}

#[tokio::test]
async fn an_email_that_keeps_failing_is_given_up_and_kept() {
    let port = free_port();
    let mut opts = Options::default().var("BARKEEP_MAIL_URL", &format!("smtp://127.0.0.1:{port}"));
    opts.mail.max_attempts = 3;
    opts.mail.first_retry = Duration::from_millis(50);
    let app = TestApp::spawn_with(opts).await;
    app.signup("never@example.com").await;
    for _ in 0..3 {
        app.deliver_mail().await;
        app.advance(chrono::Duration::seconds(5));
    }
    let r = outbox::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert_eq!((r.status, r.attempts), (Status::Failed, 3));
    app.deliver_mail().await;
    let r = outbox::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert_eq!(r.attempts, 3, "a failed email is kept, not tried again");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"barkeep_mail_send_failures_total{kind="confirm_email",gave_up="true"} 1"#),
        "{metrics}"
    );
}

fn count_eml(dir: &Path) -> usize {
    read_mail_dir(dir).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_database_never_send_an_email_twice() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_with(Options {
        database_url: Some(a.database_url.clone()),
        ..Default::default()
    })
    .await;
    let now = a.clock.now();
    let txn = a.db.begin().await.unwrap();
    for i in 0..40 {
        outbox::ActiveModel {
            dedupe_key: Set(format!("race-{i}")),
            member_id: Set(None),
            kind: Set(EmailKind::ConfirmEmail),
            to_address: Set(format!("r{i}@example.com")),
            subject: Set(format!("race {i}")),
            body_text: Set("text".into()),
            body_html: Set("<html><body>html</body></html>".into()),
            status: Set(Status::Pending),
            attempts: Set(0),
            next_attempt_at: Set(now),
            locked_until: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
    // Both workers at once, and their own timers too.
    futures_util::future::join(a.deliver_mail(), b.deliver_mail()).await;
    futures_util::future::join(a.deliver_mail(), b.deliver_mail()).await;
    assert_eq!(count_eml(&a.mail_dir()) + count_eml(&b.mail_dir()), 40);
    let mut to: Vec<String> = read_mail_dir(&a.mail_dir())
        .into_iter()
        .chain(read_mail_dir(&b.mail_dir()))
        .map(|m| m.to)
        .collect();
    assert_eq!(to.len(), 40, "every email sent once, none twice");
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 40);
    let rows = outbox::Entity::find().all(&a.db).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.status == Status::Sent && r.attempts == 1)
    );
}

#[tokio::test]
async fn queueing_the_same_email_twice_keeps_one() {
    let app = TestApp::spawn().await;
    let mailer = app.state.mailer.clone();
    let email = barkeep::mail::EmailChanged {
        new_email: "x@example.com".into(),
    };
    for _ in 0..3 {
        mailer
            .enqueue(
                &app.db,
                barkeep::mail::Recipient {
                    address: "y@example.com",
                    member_id: None,
                },
                "same-key",
                &email,
            )
            .await
            .unwrap();
    }
    assert_eq!(outbox::Entity::find().all(&app.db).await.unwrap().len(), 1);
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

/// A bounce or complaint from the email API's webhook.
async fn feedback(app: &TestApp, report: &Value) -> Value {
    let res = app
        .client
        .post(app.url("/mail/webhook"))
        .basic_auth("postmark", Some("a-long-webhook-secret"))
        .json(report)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    body_json(res).await
}

#[tokio::test]
async fn an_erased_address_is_held_nowhere_after_its_last_email_bounces() {
    // The email API refuses the address for good, naming it (as Postmark does).
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/email"))
        .and(body_partial_json(json!({"To": "gone.member@example.com"})))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "ErrorCode": 406,
            "Message": "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: Gone.Member@Example.com."
        })))
        .mount(&api)
        .await;
    let url = api.uri().replace("http://", "http://server-token-1@");
    let app = TestApp::spawn_with(
        Options::default()
            .var("BARKEEP_MAIL_URL", &url)
            .var("BARKEEP_MAIL_WEBHOOK_SECRET", "a-long-webhook-secret"),
    )
    .await;
    // Its confirmation email bounces (the address is suppressed from then on); the
    // account is confirmed all the same, and erased.
    assert_eq!(
        app.signup("gone.member@example.com").await.status(),
        StatusCode::CREATED
    );
    app.deliver_mail().await;
    app.db
        .execute_unprepared("UPDATE members SET email_confirmed_at = created_at")
        .await
        .unwrap();
    let cookie = app.login("gone.member@example.com", PASSWORD).await;
    assert!(!values_containing(&app.db, "gone.member").await.is_empty());
    let res = app
        .send(
            reqwest::Method::DELETE,
            "/api/v1/me",
            &cookie,
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The last email bounces too, and is given up.
    app.deliver_mail().await;
    let last: i64 = scalar(
        &app,
        "SELECT id FROM outbox WHERE kind = 'account_deleted' AND status = 'failed'",
    )
    .await;
    // Then the email API reports a bounce of it, and a complaint.
    for report in [
        json!({"RecordType": "Bounce", "Type": "HardBounce", "Email": "Gone.Member@example.com",
               "Description": "The address gone.member@example.com does not exist",
               "Details": "smtp;550 5.1.1 <gone.member@example.com>: user unknown",
               "Metadata": {"outbox_id": last.to_string()}}),
        json!({"RecordType": "SpamComplaint", "Email": "gone.member@example.com",
               "Description": "gone.member@example.com marked it as spam"}),
    ] {
        assert_eq!(feedback(&app, &report).await["status"], "suppressed");
    }

    assert_eq!(
        values_containing(&app.db, "gone.member").await,
        Vec::<String>::new(),
        "the erased address is still held"
    );
    // The suppression holds on, as a hash; the failure shows, without the address.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM email_suppressions WHERE reason = 'hard_bounce' AND address NOT LIKE '%@%'"
        )
        .await,
        1
    );
    let row = outbox::Entity::find_by_id(last)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            row.status,
            row.to_address.as_str(),
            row.body_text.as_str(),
            row.bounced_at.is_some()
        ),
        (Status::Failed, "", "", true)
    );
    assert!(
        row.last_error.as_deref().unwrap().contains("[address]"),
        "{:?}",
        row.last_error
    );
}

#[tokio::test]
async fn suppressions_stored_with_their_address_are_hashed_when_the_server_starts() {
    let secret = "a secret key of this test's servers, long enough";
    let a = TestApp::spawn_with(Options::default().var("BARKEEP_SECRET_KEY", secret)).await;
    // As an earlier version wrote it.
    a.db.execute_unprepared(
        "INSERT INTO email_suppressions (address, reason, detail, at) VALUES \
         ('old.bounce@example.com', 'complaint', 'Old.Bounce@example.com complained', '2026-12-01T00:00:00Z')",
    )
    .await
    .unwrap();
    let _b = TestApp::spawn_with(
        Options::default()
            .sharing(&a)
            .var("BARKEEP_SECRET_KEY", secret),
    )
    .await;
    let rows = barkeep::db::entities::email_suppression::Entity::find()
        .all(&a.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].address,
        barkeep::mail::AddressKey::derive(secret.as_bytes()).hash("Old.Bounce@Example.com")
    );
    assert_eq!(
        (rows[0].reason.as_str(), rows[0].detail.as_deref()),
        ("complaint", Some("[address] complained"))
    );
    assert_eq!(
        values_containing(&a.db, "old.bounce").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_migration_blanks_the_given_up_last_emails_of_erased_accounts() {
    let app = TestApp::spawn().await;
    app.db
        .execute_unprepared(
            "INSERT INTO outbox (dedupe_key, kind, to_address, subject, body_text, body_html, status, attempts, next_attempt_at, last_error, created_at, after_send) VALUES \
             ('account_deleted:1', 'account_deleted', 'Erased@Example.com', 'Your account is deleted', 'text', '<p>html</p>', 'failed', 1, '2026-12-01T00:00:00Z', 'the email API answered 422: inactive erased@example.com', '2026-12-01T00:00:00Z', 'delete'), \
             ('confirm:2', 'confirm_email', 'kept@example.com', 'Confirm', 'text', '<p>html</p>', 'failed', 1, '2026-12-01T00:00:00Z', 'refused kept@example.com', '2026-12-01T00:00:00Z', 'keep')",
        )
        .await
        .unwrap();
    app.db
        .execute_unprepared(
            "INSERT INTO email_events (outbox_id, kind, machine, reason, at) \
             SELECT id, 'bounce', FALSE, last_error, created_at FROM outbox",
        )
        .await
        .unwrap();
    // The migration once more, as on an upgrade.
    app.db
        .execute_unprepared(
            "DELETE FROM seaql_migrations WHERE version = 'm20261206_000013_hashed_suppressions'",
        )
        .await
        .unwrap();
    <migration::Migrator as migration::MigratorTrait>::up(&app.db, None)
        .await
        .unwrap();
    assert_eq!(
        values_containing(&app.db, "erased@").await,
        Vec::<String>::new()
    );
    let rows = outbox::Entity::find().all(&app.db).await.unwrap();
    let erased = rows
        .iter()
        .find(|r| r.kind == EmailKind::AccountDeleted)
        .unwrap();
    assert_eq!(
        (
            erased.to_address.as_str(),
            erased.subject.as_str(),
            erased.body_html.as_str(),
            erased.status
        ),
        ("", "", "", Status::Failed)
    );
    // Any other email is as it was.
    let kept = rows
        .iter()
        .find(|r| r.kind == EmailKind::ConfirmEmail)
        .unwrap();
    assert_eq!(
        (kept.to_address.as_str(), kept.last_error.as_deref()),
        ("kept@example.com", Some("refused kept@example.com"))
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM email_events WHERE reason LIKE '%kept@example.com%'"
        )
        .await,
        1
    );
}

// --- DKIM with an Ed25519 key, complaints, soft bounces, DKIM with an HTTP API ---

/// A fresh Ed25519 DKIM key: the base64 seed barkeep reads from `BARKEEP_DKIM_KEY_FILE`.
fn ed25519_seed() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// dkimpy (python3-dkim, with PyNaCl for Ed25519) checks the first DKIM signature of
/// `raw`, its DNS look-up answered with the public key of `seed` (derived here, apart
/// from barkeep). Gives `ok`, the signature's tags (`fields`) and the names looked up
/// (`asked`).
fn ed25519_verification(raw: &[u8], seed: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("message.eml");
    std::fs::write(&msg, raw).unwrap();
    let script = r#"
import base64, json, sys
import dkim, nacl.signing
raw = open(sys.argv[1], 'rb').read()
public = base64.b64encode(bytes(nacl.signing.SigningKey(base64.b64decode(sys.argv[2])).verify_key))
asked = []
def dns(name, timeout=5):
    asked.append(name.decode() if isinstance(name, bytes) else name)
    return b'v=DKIM1; k=ed25519; p=' + public
d = dkim.DKIM(raw)
try:
    ok, error = bool(d.verify(dnsfunc=dns)), None
except dkim.DKIMException as e:
    ok, error = False, str(e)
fields = {k.decode(): v.decode() for k, v in d.signature_fields.items()}
print(json.dumps({"ok": ok, "error": error, "fields": fields, "asked": asked}))
"#;
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&msg)
        .arg(seed)
        .output()
        .expect("python3 with dkim (Debian package python3-dkim; `make test` installs it)");
    assert!(
        out.status.success(),
        "the verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn smtp_mail_signed_with_an_ed25519_dkim_key_verifies() {
    let smtp = SmtpServer::start();
    let keys = tempfile::tempdir().unwrap();
    let seed = ed25519_seed();
    let key_file = keys.path().join("dkim.ed25519");
    std::fs::write(&key_file, format!("{seed}\n")).unwrap();
    let app = TestApp::spawn_with(
        Options::default()
            .var("BARKEEP_MAIL_URL", &smtp.url())
            .var("BARKEEP_MAIL_FROM", "Bars <bars@example.com>")
            .var("BARKEEP_DKIM_SELECTOR", "ed1")
            .var("BARKEEP_DKIM_KEY_FILE", key_file.to_str().unwrap()),
    )
    .await;
    assert_eq!(
        app.signup("ed@example.com").await.status(),
        StatusCode::CREATED
    );
    app.deliver_mail().await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let raw = &messages[0].raw;

    // The received bytes verify against the configured key, looked up where the
    // selector and the sender's domain say.
    let v = ed25519_verification(raw, &seed);
    assert_eq!(v["ok"], true, "the Ed25519 signature verifies: {v}");
    let tag = |t: &str| v["fields"][t].as_str().unwrap_or_default().to_string();
    assert_eq!(tag("a"), "ed25519-sha256", "{v}");
    assert_eq!((tag("d"), tag("s")), ("example.com".into(), "ed1".into()));
    assert_eq!(tag("c"), "relaxed/relaxed");
    let signed: Vec<String> = tag("h")
        .split(':')
        .map(|h| h.trim().to_lowercase())
        .collect();
    for h in ["from", "to", "subject", "date", "message-id"] {
        assert!(signed.iter().any(|s| s == h), "{h} not signed: {signed:?}");
    }
    assert_eq!(v["asked"], json!(["ed1._domainkey.example.com."]));

    // The verifier is no rubber stamp: another key, or a changed body, fails.
    let other = ed25519_verification(raw, &ed25519_seed());
    assert_eq!(other["ok"], false, "verified with another key: {other}");
    let mut changed = raw.clone();
    changed.extend_from_slice(b"P.S. added on the way\r\n");
    let changed = ed25519_verification(&changed, &seed);
    assert_eq!(changed["ok"], false, "a changed body verified: {changed}");
    assert!(
        changed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("body hash"),
        "{changed}"
    );
}

const WEBHOOK_SECRET: &str = "a-long-webhook-secret";

/// An HTTP email API (Postmark's JSON) that accepts every email unless a test mounts a
/// mock of its own (those come first), and the server sending through it, with its
/// bounce webhook on. Retries wait a minute: only the test's moved clock brings them.
async fn app_with_email_api() -> (MockServer, TestApp) {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/email"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ErrorCode": 0, "Message": "OK", "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d"}),
        ))
        .with_priority(10)
        .mount(&api)
        .await;
    let url = api.uri().replace("http://", "http://server-token-1@");
    let mut opts = Options::default()
        .var("BARKEEP_MAIL_URL", &url)
        .var("BARKEEP_MAIL_WEBHOOK_SECRET", WEBHOOK_SECRET);
    opts.mail.first_retry = Duration::from_secs(60);
    opts.mail.max_retry = Duration::from_secs(600);
    let app = TestApp::spawn_with(opts).await;
    (api, app)
}

/// Every email the API was handed (its JSON), in order.
async fn handed_over(api: &MockServer) -> Vec<Value> {
    api.received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The emails to `to` whose subject contains `subject`.
fn emails_to<'a>(emails: &'a [Value], to: &str, subject: &str) -> Vec<&'a Value> {
    emails
        .iter()
        .filter(|e| e["To"] == to && e["Subject"].as_str().unwrap().contains(subject))
        .collect()
}

/// Signs up through the API and confirms with the link in the email the API was handed;
/// logs in. An operator when `operator`.
async fn api_member(app: &TestApp, api: &MockServer, email: &str, operator: bool) -> String {
    assert_eq!(app.signup(email).await.status(), StatusCode::CREATED);
    app.deliver_mail().await;
    let all = handed_over(api).await;
    let confirm = emails_to(&all, email, "Confirm your email");
    assert_eq!(confirm.len(), 1, "{email}");
    let link = confirm[0]["TextBody"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("/confirm-email"))
        .unwrap()
        .to_string();
    let res = app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    if operator {
        app.db
            .execute_unprepared(&format!(
                "UPDATE members SET is_operator = TRUE WHERE email = '{email}'"
            ))
            .await
            .unwrap();
    }
    app.login(email, PASSWORD).await
}

/// A news alert (`new_feature`, subject "New in barkeep: {feature}") to everyone.
fn news(feature: &str) -> Value {
    json!({"kind": "new_feature", "audience": "all",
           "fields": {"feature": feature, "summary": "Something new.", "url": "https://docs.example/new"}})
}

/// A transactional alert to everyone (subject "Planned maintenance: …").
fn outage() -> Value {
    json!({"kind": "planned_outage", "audience": "all",
           "fields": {"starts_at": "2027-01-12T01:00:00Z", "ends_at": "2027-01-12T03:00:00Z"}})
}

/// Drafts and sends an alert, and queues its emails (the fan-out job, now); returns its id.
async fn alert(app: &TestApp, operator: &str, body: Value) -> i64 {
    let res = app
        .post_json("/api/v1/admin/alerts", &body, Some(operator))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = body_json(res).await["id"].as_i64().unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/admin/alerts/{id}/send"),
            &json!({}),
            Some(operator),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.state.jobs.run_now("alert_fanout").await.unwrap();
    id
}

async fn alert_report(app: &TestApp, operator: &str, id: i64) -> Value {
    let res = app
        .get_as(&format!("/api/v1/admin/alerts/{id}/report"), operator)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    body_json(res).await
}

/// What the operator's member list says of `email`'s suppression.
async fn suppressed_as(app: &TestApp, operator: &str, email: &str) -> Value {
    let list = body_json(
        app.get_as(&format!("/api/v1/admin/members?q={email}"), operator)
            .await,
    )
    .await;
    let member = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .unwrap_or_else(|| panic!("{email} not in {list}"))
        .clone();
    member["email_suppressed"].clone()
}

#[tokio::test]
async fn a_spam_complaint_stops_subscription_mail_while_transactional_mail_still_goes() {
    let (api, app) = app_with_email_api().await;
    let operator = api_member(&app, &api, "ops@example.com", true).await;
    api_member(&app, &api, "reader@example.com", false).await;

    let first = alert(&app, &operator, news("CSV export")).await;
    app.deliver_mail().await;
    let all = handed_over(&api).await;
    let got = emails_to(&all, "reader@example.com", "CSV export");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["MessageStream"], "broadcast");
    let outbox_id = got[0]["Metadata"]["outbox_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A second news email to the reader is waiting for a retry (the API had a moment)
    // when the complaint arrives.
    Mock::given(method("POST"))
        .and(path("/email"))
        .and(body_partial_json(
            json!({"To": "reader@example.com", "Subject": "New in barkeep: Dark mode"}),
        ))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .mount(&api)
        .await;
    let queued_before = alert(&app, &operator, news("Dark mode")).await;
    app.deliver_mail().await;
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts = 1 AND to_address = 'reader@example.com'"
        )
        .await,
        1
    );

    // The reader marks the first as spam; Postmark reports it as it does.
    let complaint = json!({
        "RecordType": "SpamComplaint", "MessageStream": "broadcast", "ID": 42,
        "Type": "SpamComplaint", "TypeCode": 512, "Name": "Spam complaint", "Tag": "",
        "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d", "Metadata": {"outbox_id": outbox_id},
        "ServerID": 23, "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "Test spam complaint details", "Email": "reader@example.com",
        "From": "barkeep@127.0.0.1", "BouncedAt": "2026-12-07T10:00:00Z", "DumpAvailable": true,
        "Inactive": true, "CanActivate": false, "Subject": "New in barkeep: CSV export"
    });
    assert_eq!(feedback(&app, &complaint).await["status"], "suppressed");
    assert_eq!(
        alert_report(&app, &operator, first).await["complained"],
        1,
        "the complaint counts against the email it names"
    );
    assert_eq!(
        suppressed_as(&app, &operator, "reader@example.com").await,
        "complaint"
    );

    // Later subscription mail skips the address: the email queued before the complaint
    // when it is due, and news sent after it at the fan-out. A transactional alert
    // still goes to both.
    let after = alert(&app, &operator, news("Team accounts")).await;
    let transactional = alert(&app, &operator, outage()).await;
    app.advance(chrono::Duration::seconds(61));
    app.deliver_mail().await;
    let all = handed_over(&api).await;
    for (subject, to_reader) in [
        ("CSV export", 1),
        // The three refused tries, and no more.
        ("Dark mode", 3),
        ("Team accounts", 0),
        ("Planned maintenance", 1),
    ] {
        assert_eq!(
            emails_to(&all, "reader@example.com", subject).len(),
            to_reader,
            "{subject} to the reader"
        );
        assert_eq!(
            emails_to(&all, "ops@example.com", subject).len(),
            1,
            "{subject} to the operator"
        );
    }
    let r = alert_report(&app, &operator, queued_before).await;
    assert_eq!(
        (r["sent"].as_i64(), r["skipped"].as_i64()),
        (Some(1), Some(1)),
        "{r}"
    );
    let r = alert_report(&app, &operator, after).await;
    assert_eq!(r["alert"]["queued"], 1, "only the operator: {r}");
    let r = alert_report(&app, &operator, transactional).await;
    assert_eq!(r["sent"], 2, "{r}");
    let outage_to_reader = &emails_to(&all, "reader@example.com", "Planned maintenance")[0];
    assert_eq!(outage_to_reader["MessageStream"], "outbound");
}

#[tokio::test]
async fn a_soft_bounce_reported_by_the_email_api_suppresses_nothing() {
    let (api, app) = app_with_email_api().await;
    let operator = api_member(&app, &api, "ops@example.com", true).await;
    api_member(&app, &api, "reader@example.com", false).await;
    let first = alert(&app, &operator, news("CSV export")).await;
    app.deliver_mail().await;
    let all = handed_over(&api).await;
    let outbox_id = emails_to(&all, "reader@example.com", "CSV export")[0]["Metadata"]["outbox_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bounce = |kind: &str, code: i64, description: &str| {
        json!({
            "RecordType": "Bounce", "MessageStream": "broadcast", "ID": 4323372036854775807i64,
            "Type": kind, "TypeCode": code, "Name": kind, "Tag": "",
            "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
            "Metadata": {"outbox_id": outbox_id}, "ServerID": 23,
            "Description": description, "Details": "smtp;452 4.2.2 Mailbox full",
            "Email": "reader@example.com", "From": "barkeep@127.0.0.1",
            "BouncedAt": "2026-12-07T10:00:00Z", "DumpAvailable": true, "Inactive": false,
            "CanActivate": true, "Subject": "New in barkeep: CSV export"
        })
    };
    // A full mailbox, and a temporary problem: Postmark retries those itself.
    for report in [
        bounce(
            "SoftBounce",
            4096,
            "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        ),
        bounce(
            "Transient",
            2,
            "The server could not temporarily deliver your message (ex: Message is delayed due to network troubles).",
        ),
    ] {
        assert_eq!(feedback(&app, &report).await["status"], "ignored");
    }
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM email_suppressions").await,
        0
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM email_events").await, 0);
    let r = alert_report(&app, &operator, first).await;
    assert_eq!(
        (r["sent"].as_i64(), r["bounced"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        suppressed_as(&app, &operator, "reader@example.com").await,
        Value::Null
    );
    alert(&app, &operator, news("Dark mode")).await;
    app.deliver_mail().await;
    assert_eq!(
        emails_to(&handed_over(&api).await, "reader@example.com", "Dark mode").len(),
        1,
        "news still reaches the address"
    );

    // The same report as a hard bounce does suppress (what this test would see if a
    // soft bounce were taken for one).
    assert_eq!(
        feedback(
            &app,
            &bounce(
                "HardBounce",
                1,
                "The server was unable to deliver your message."
            )
        )
        .await["status"],
        "suppressed"
    );
    let r = alert_report(&app, &operator, first).await;
    assert_eq!(r["bounced"], 1, "{r}");
    alert(&app, &operator, news("Team accounts")).await;
    app.deliver_mail().await;
    assert!(
        emails_to(
            &handed_over(&api).await,
            "reader@example.com",
            "Team accounts"
        )
        .is_empty()
    );
    assert_eq!(
        suppressed_as(&app, &operator, "reader@example.com").await,
        "hard_bounce"
    );
}

#[tokio::test]
async fn a_temporary_smtp_refusal_is_retried_and_suppresses_nothing() {
    // The SMTP server greylists addresses starting with `soft`: 451 the first time.
    let smtp = SmtpServer::start();
    let mut opts = Options::default().var("BARKEEP_MAIL_URL", &smtp.url());
    opts.mail.first_retry = Duration::from_secs(60);
    opts.mail.max_retry = Duration::from_secs(600);
    let app = TestApp::spawn_with(opts).await;
    let email = "soft.reader@example.com";
    assert_eq!(app.signup(email).await.status(), StatusCode::CREATED);
    let row = || async { outbox::Entity::find().one(&app.db).await.unwrap().unwrap() };

    app.deliver_mail().await;
    let first = row().await;
    assert_eq!((first.status, first.attempts), (Status::Pending, 1));
    let error = first.last_error.clone().unwrap_or_default();
    assert!(error.contains("451"), "{error}");
    assert!(first.bounced_at.is_none());
    assert!(smtp.messages().is_empty());
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM email_suppressions").await,
        0
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM email_events").await, 0);

    // Tried again when the backoff says, not before; then it goes.
    app.deliver_mail().await;
    assert_eq!(row().await.attempts, 1);
    app.advance(chrono::Duration::seconds(61));
    app.deliver_mail().await;
    let sent = row().await;
    assert_eq!((sent.status, sent.attempts), (Status::Sent, 2));
    assert!(sent.bounced_at.is_none());
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);

    // The address gets subscription mail like any other.
    let res = app
        .client
        .get(messages[0].link("/confirm-email"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.db
        .execute_unprepared(&format!(
            "UPDATE members SET is_operator = TRUE WHERE email = '{email}'"
        ))
        .await
        .unwrap();
    let operator = app.login(email, PASSWORD).await;
    assert_eq!(suppressed_as(&app, &operator, email).await, Value::Null);
    alert(&app, &operator, news("CSV export")).await;
    app.deliver_mail().await;
    assert_eq!(
        smtp.messages()
            .iter()
            .filter(|m| m.to == email && m.subject.contains("CSV export"))
            .count(),
        1
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM email_suppressions").await,
        0
    );
}

/// Starts the `barkeep` binary with `vars` (JSON logs) until it listens; returns its
/// log lines so far.
fn startup_log(vars: &[(&str, &str)]) -> Vec<Value> {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_barkeep"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BARKEEP_DATA_DIR", dir.path())
        .env("BARKEEP_LISTEN", "127.0.0.1:0")
        .env("BARKEEP_LOG_FORMAT", "json")
        .envs(vars.iter().copied())
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut listening = false;
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        listening = v["message"] == "barkeep is listening";
        lines.push(v);
        if listening {
            break;
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        listening,
        "barkeep did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

#[test]
fn with_an_http_email_api_the_dkim_key_is_not_used_and_startup_says_so() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("dkim.ed25519");
    std::fs::write(&key_file, ed25519_seed()).unwrap();
    let key_file = key_file.to_str().unwrap();
    let dkim = [
        ("BARKEEP_DKIM_KEY_FILE", key_file),
        ("BARKEEP_DKIM_SELECTOR", "ed1"),
    ];
    let worker = |log: &[Value]| {
        log.iter()
            .find(|l| l["message"] == "mail worker ready")
            .map(|l| l["transport"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    let dkim_warnings = |log: &[Value]| -> Vec<String> {
        log.iter()
            .filter(|l| l["level"] == "WARN")
            .filter_map(|l| l["message"].as_str())
            .filter(|m| m.contains("BARKEEP_DKIM_KEY_FILE"))
            .map(str::to_string)
            .collect()
    };

    // With the HTTP API the server starts, and says that the key is not used.
    let mut http = dkim.to_vec();
    http.push((
        "BARKEEP_MAIL_URL",
        "https://server-token-1@api.postmarkapp.com",
    ));
    let log = startup_log(&http);
    let warnings = dkim_warnings(&log);
    assert_eq!(warnings.len(), 1, "{log:#?}");
    assert!(
        warnings[0].contains("HTTP email API") && warnings[0].contains("provider signs"),
        "{}",
        warnings[0]
    );
    assert!(!warnings[0].contains("server-token-1"));
    let transport = worker(&log);
    assert!(
        transport.contains("DKIM-signed by the provider"),
        "{transport}"
    );

    // With SMTP the key signs, and nothing is said.
    let mut smtp = dkim.to_vec();
    smtp.push(("BARKEEP_MAIL_URL", "smtp://127.0.0.1:2525"));
    let log = startup_log(&smtp);
    assert!(dkim_warnings(&log).is_empty(), "{log:#?}");
    assert_eq!(worker(&log), "SMTP, DKIM-signed");
}
