//! Queueing email: a row in `outbox`, written on the caller's connection or transaction
//! so the email exists exactly when the change that caused it does. Each row has a key
//! naming that one email; queueing the same key again does nothing. The operator's pages
//! read the outbox back as [`OutboxEmail`]s.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use tokio::sync::Notify;

use super::links::{Links, List};
use super::templates::{EmailTemplate, Rendered, Templates};
use crate::clock::Clock;
use crate::db::entities::outbox::{self, EmailKind, Status, Stream};
use crate::db::{Db, outbox as q};
use crate::domain::MemberId;

/// Who an email goes to.
pub struct Recipient<'a> {
    pub address: &'a str,
    pub member_id: Option<MemberId>,
}

/// How an email goes out, beyond whom it is for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sending {
    /// The subscription list it belongs to; `None` for transactional mail.
    pub list: Option<List>,
    /// The system alert it is part of.
    pub alert: Option<i64>,
    /// Record opens and clicks (email to members only, and only while tracking is on).
    pub tracked: bool,
}

/// Renders emails and puts them in the outbox; wakes the worker after a commit.
#[derive(Clone)]
pub struct Mailer {
    templates: Arc<Templates>,
    links: Arc<Links>,
    clock: Clock,
    wake: Arc<Notify>,
}

impl Mailer {
    pub fn new(templates: Arc<Templates>, links: Arc<Links>, clock: Clock) -> Self {
        Mailer {
            templates,
            links,
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn links(&self) -> &Links {
        &self.links
    }

    /// Fires when an email was queued, so the worker looks at once.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Queues a transactional email for `to`. `dedupe_key` names this one email:
    /// queueing the same key again does nothing, so a retried request cannot send twice.
    pub async fn enqueue<T: EmailTemplate>(
        &self,
        conn: &impl ConnectionTrait,
        to: Recipient<'_>,
        dedupe_key: &str,
        email: &T,
    ) -> anyhow::Result<()> {
        self.enqueue_with(conn, to, dedupe_key, email, Sending::default())
            .await
    }

    /// Renders as the member will get it: subscription mail carries its one-click
    /// unsubscribe link.
    pub fn render<T: EmailTemplate>(
        &self,
        email: &T,
        member: Option<MemberId>,
        list: Option<List>,
    ) -> anyhow::Result<Rendered> {
        let unsubscribe = match (member, list) {
            (Some(m), Some(l)) => Some(self.links.unsubscribe_url(m, l)),
            _ => None,
        };
        self.templates.render_for(email, unsubscribe.as_deref())
    }

    pub async fn enqueue_with<T: EmailTemplate>(
        &self,
        conn: &impl ConnectionTrait,
        to: Recipient<'_>,
        dedupe_key: &str,
        email: &T,
        sending: Sending,
    ) -> anyhow::Result<()> {
        let row = self.row(to, dedupe_key, email, sending)?;
        self.insert(conn, vec![row]).await.map(|_| ())
    }

    /// One outbox row, rendered, not yet written (for queueing many at once).
    pub fn row<T: EmailTemplate>(
        &self,
        to: Recipient<'_>,
        dedupe_key: &str,
        email: &T,
        sending: Sending,
    ) -> anyhow::Result<outbox::ActiveModel> {
        let rendered = self.render(email, to.member_id, sending.list)?;
        let now = self.clock.now();
        Ok(outbox::ActiveModel {
            dedupe_key: Set(dedupe_key.to_string()),
            member_id: Set(to.member_id),
            kind: Set(email.kind()),
            to_address: Set(to.address.to_string()),
            subject: Set(rendered.subject),
            body_text: Set(rendered.text),
            body_html: Set(rendered.html),
            status: Set(outbox::Status::Pending),
            attempts: Set(0),
            next_attempt_at: Set(now),
            locked_until: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
            stream: Set(if sending.list.is_some() {
                Stream::Subscription
            } else {
                Stream::Transactional
            }),
            list: Set(sending.list),
            alert_id: Set(sending.alert),
            tracked: Set(sending.tracked),
            links: Set(None),
            bounced_at: Set(None),
            ..Default::default()
        })
    }

    /// Writes rows at once; a row whose key exists already is skipped. Returns how
    /// many were new.
    pub async fn insert(
        &self,
        conn: &impl ConnectionTrait,
        rows: Vec<outbox::ActiveModel>,
    ) -> anyhow::Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let result = outbox::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([outbox::Column::DedupeKey])
            .exec_without_returning(conn)
            .await?;
        Ok(match result {
            sea_orm::TryInsertResult::Inserted(n) => n,
            _ => 0,
        })
    }

    /// Tells the worker to look now rather than at its next tick. Call after commit.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// An email of the outbox as the operator sees it: to whom, what, and where it stands.
#[derive(Debug, Clone)]
pub(crate) struct OutboxEmail {
    pub(crate) id: i64,
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) kind: EmailKind,
    pub(crate) status: Status,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) sent_at: Option<DateTime<Utc>>,
    /// The text part, as it was queued (links included).
    pub(crate) text: String,
}

impl OutboxEmail {
    /// The newest `limit` emails, newest first.
    pub(crate) async fn recent(db: &Db, limit: u64) -> Result<Vec<OutboxEmail>, DbErr> {
        Ok(q::recent(db, limit)
            .await?
            .into_iter()
            .map(OutboxEmail::from)
            .collect())
    }

    /// The email with this id, if the outbox holds it.
    pub(crate) async fn find(db: &Db, id: i64) -> Result<Option<OutboxEmail>, DbErr> {
        Ok(q::by_id(db, id).await?.map(OutboxEmail::from))
    }
}

impl From<outbox::Model> for OutboxEmail {
    fn from(m: outbox::Model) -> Self {
        OutboxEmail {
            id: m.id,
            to: m.to_address,
            subject: m.subject,
            kind: m.kind,
            status: m.status,
            created_at: m.created_at,
            sent_at: m.sent_at,
            text: m.body_text,
        }
    }
}
