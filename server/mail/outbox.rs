//! Queueing email: a row in `outbox`, written on the caller's connection or transaction
//! so the email exists exactly when the change that caused it does.

use std::sync::Arc;

use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use tokio::sync::Notify;

use super::templates::{EmailTemplate, Templates};
use crate::clock::Clock;
use crate::db::entities::outbox;
use crate::domain::MemberId;

/// Who an email goes to.
pub struct Recipient<'a> {
    pub address: &'a str,
    pub member_id: Option<MemberId>,
}

/// Renders emails and puts them in the outbox; wakes the worker after a commit.
#[derive(Clone)]
pub struct Mailer {
    templates: Arc<Templates>,
    clock: Clock,
    wake: Arc<Notify>,
}

impl Mailer {
    pub fn new(templates: Arc<Templates>, clock: Clock) -> Self {
        Mailer {
            templates,
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Fires when an email was queued, so the worker looks at once.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Queues `email` for `to`. `dedupe_key` names this one email: queueing the same
    /// key again does nothing, so a retried request cannot send twice.
    pub async fn enqueue<T: EmailTemplate>(
        &self,
        conn: &impl ConnectionTrait,
        to: Recipient<'_>,
        dedupe_key: &str,
        email: &T,
    ) -> anyhow::Result<()> {
        let rendered = self.templates.render(email)?;
        let now = self.clock.now();
        let row = outbox::ActiveModel {
            dedupe_key: Set(dedupe_key.to_string()),
            member_id: Set(to.member_id),
            kind: Set(T::NAME.to_string()),
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
            ..Default::default()
        };
        outbox::Entity::insert(row)
            .on_conflict_do_nothing_on([outbox::Column::DedupeKey])
            .exec(conn)
            .await?;
        Ok(())
    }

    /// Tells the worker to look now rather than at its next tick. Call after commit.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
