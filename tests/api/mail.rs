use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, Statement, TransactionTrait,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use barkeep::db::entities::outbox::{self, Status};

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
            kind: Set("race".into()),
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
    let erased = rows.iter().find(|r| r.kind == "account_deleted").unwrap();
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
    let kept = rows.iter().find(|r| r.kind == "confirm_email").unwrap();
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
