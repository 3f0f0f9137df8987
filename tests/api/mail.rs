use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, TransactionTrait};

use barkeep::db::entities::outbox::{self, Status};

use crate::helpers::{Options, SmtpServer, TestApp, free_port, read_mail_dir};

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
