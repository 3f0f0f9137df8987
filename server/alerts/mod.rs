//! System alerts and the mail that goes to every member: an operator drafts an alert of
//! a kind (planned outage, new feature, releases, abuse warning, policy change, security
//! breach, promotion) for all members, one plan or one member, previews it as a member
//! will get it, and sends it. Sending fans out through the outbox in batches, in member
//! order, with a checkpoint committed beside each batch, and one outbox key per alert and
//! member, so a crash or a second process never mails anyone twice. A privacy-policy
//! version is announced by an alert of its own (`crate::privacy::policies`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use tokio::sync::Notify;

use crate::billing::Billing;
use crate::clock::Clock;
use crate::db::Db;
use crate::db::alerts::{self as q, Audience};
use crate::db::entities::alert::{self, Status};
use crate::db::entities::{member, policy_version};
use crate::domain::MemberId;
use crate::error::{Error, Result};
use crate::mail::{List, Mailer, Recipient, Rendered, Sending};

pub mod kinds;

pub use crate::db::alerts::Report;
pub use crate::db::entities::alert::{AudienceSpec, Everyone};
pub use kinds::Kind;

/// Members queued per batch (and per transaction) of a fan-out.
pub const BATCH: u64 = 500;

/// An alert as the operator drafts it.
pub struct Draft {
    pub kind: Kind,
    pub audience: AudienceSpec,
    pub message: Option<String>,
    pub fields: Value,
}

#[derive(Clone)]
pub struct Alerts {
    db: Db,
    clock: Clock,
    mailer: Mailer,
    billing: Billing,
    base_url: String,
    wake: Arc<Notify>,
}

impl Alerts {
    pub fn new(db: Db, clock: Clock, mailer: Mailer, billing: Billing, base_url: &str) -> Alerts {
        Alerts {
            db,
            clock,
            mailer,
            billing,
            base_url: base_url.to_string(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Fires when an alert starts sending, so the fan-out job looks at once.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    fn audience(&self, spec: &AudienceSpec) -> Audience {
        match spec {
            AudienceSpec::Everyone(_) => Audience::All,
            AudienceSpec::Member { member } => Audience::Member(*member),
            AudienceSpec::Plan { plan } if !self.billing.enabled() => {
                if plan == crate::plans::SELF_HOSTED {
                    Audience::All
                } else {
                    Audience::Plan(plan.clone())
                }
            }
            AudienceSpec::Plan { plan } if plan == &self.billing.plans().free().id => {
                Audience::PlanOrNone(plan.clone())
            }
            AudienceSpec::Plan { plan } => Audience::Plan(plan.clone()),
        }
    }

    pub async fn draft(&self, by: Option<MemberId>, d: Draft) -> Result<alert::Model> {
        let now = self.clock.now();
        kinds::check(d.kind, &d.fields, now)?;
        match &d.audience {
            AudienceSpec::Plan { plan } => {
                let known = if self.billing.enabled() {
                    self.billing.plans().get(plan).is_some()
                } else {
                    plan == crate::plans::SELF_HOSTED
                };
                if !known {
                    return Err(Error::invalid(
                        "audience",
                        format!("there is no plan `{plan}`"),
                    ));
                }
            }
            AudienceSpec::Member { member } => {
                if crate::db::accounts::member_by_id(&self.db, *member)
                    .await?
                    .is_none()
                {
                    return Err(Error::invalid(
                        "audience",
                        format!("there is no member {member}"),
                    ));
                }
            }
            AudienceSpec::Everyone(_) => {
                if d.kind == Kind::AbuseWarning {
                    return Err(Error::invalid(
                        "audience",
                        "an abuse warning goes to one member: {\"member\": ID}",
                    ));
                }
            }
        }
        if d.kind == Kind::PolicyChange {
            let version = d.fields["version"].as_str().unwrap_or_default();
            if crate::db::policies::policy_by_version(&self.db, version)
                .await?
                .is_none()
            {
                return Err(Error::invalid(
                    "fields.version",
                    "publish the policy version first (POST /api/v1/admin/policies sends its alert)",
                ));
            }
        }
        let message = match d.message.map(|m| m.trim().to_string()) {
            Some(m) if m.chars().count() > 10_000 => {
                return Err(Error::invalid("message", "at most 10,000 characters"));
            }
            Some(m) if m.is_empty() => None,
            other => other,
        };
        let alert = q::insert_alert(
            &self.db,
            d.kind,
            d.audience,
            d.fields.to_string(),
            message,
            Status::Draft,
            by,
            now,
        )
        .await?;
        tracing::info!(alert_id = alert.id, kind = %alert.kind, "alert drafted");
        Ok(alert)
    }

    /// Queues, on `conn` (the transaction that publishes the version), the alert that
    /// tells every member of a new privacy-policy version. It is not drafted first: it
    /// starts sending at once. Call [`Alerts::wake`] once `conn` is committed.
    pub async fn insert_policy_change(
        &self,
        conn: &impl ConnectionTrait,
        by: MemberId,
        version: &str,
    ) -> Result<alert::Model> {
        let alert = q::insert_alert(
            conn,
            Kind::PolicyChange,
            AudienceSpec::Everyone(Everyone::All),
            serde_json::json!({ "version": version }).to_string(),
            None,
            Status::Sending,
            Some(by),
            self.clock.now(),
        )
        .await?;
        Ok(alert)
    }

    /// Tells the fan-out job to look now (after committing an alert that is sending).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn get(&self, id: i64) -> Result<alert::Model> {
        q::alert(&self.db, id).await?.ok_or(Error::NotFound)
    }

    pub async fn recent(&self, limit: u64) -> Result<Vec<alert::Model>> {
        Ok(q::recent_alerts(&self.db, limit).await?)
    }

    /// The alert as `member` gets it (the first member of its audience when none is
    /// named, else the operator), exactly as it will be sent.
    pub async fn preview(
        &self,
        a: &alert::Model,
        operator: Option<&member::Model>,
    ) -> Result<(String, Rendered)> {
        let first = q::audience_batch(
            &self.db,
            &self.audience(&a.audience),
            MemberId(0),
            1,
            None,
            false,
        )
        .await?
        .pop();
        let reader = first.as_ref().or(operator).ok_or_else(|| {
            Error::conflict(
                "empty_audience",
                "the audience has no member to preview for",
            )
        })?;
        let (email, sending) = self.email_for(a, reader).await?;
        let rendered = self.mailer.render(&email, Some(reader.id), sending.list)?;
        Ok((reader.email.clone(), rendered))
    }

    async fn email_for(
        &self,
        a: &alert::Model,
        m: &member::Model,
    ) -> Result<(kinds::AlertEmail, Sending)> {
        let kind = a.kind;
        let fields: Value = serde_json::from_str(&a.fields).map_err(anyhow::Error::from)?;
        let policy = if kind == Kind::PolicyChange {
            let version = fields["version"].as_str().unwrap_or_default();
            crate::db::policies::policy_by_version(&self.db, version)
                .await?
                .map(|p| self.policy_facts(&p, self.clock.now()))
        } else {
            None
        };
        let email = kinds::email(
            kind,
            &fields,
            a.message.as_deref(),
            m.name.clone(),
            m.time_zone.as_deref(),
            policy.as_ref(),
        );
        Ok((
            email,
            Sending {
                list: kind.list(),
                alert: Some(a.id),
                tracked: true,
            },
        ))
    }

    /// Starts sending a draft; the fan-out job queues its emails.
    pub async fn send(&self, id: i64) -> Result<alert::Model> {
        let a = self.get(id).await?;
        if !q::start_sending(&self.db, id, self.clock.now()).await? {
            return Err(Error::conflict(
                "alert_not_draft",
                format!("alert {id} is {} already; an alert is sent once", a.status),
            ));
        }
        tracing::info!(alert_id = id, kind = %a.kind, "alert sending");
        self.wake.notify_one();
        self.get(id).await
    }

    /// The `alert_fanout` job: queues every sending alert's emails, batch by batch.
    pub async fn fan_out(&self) -> anyhow::Result<()> {
        for a in q::sending_alerts(&self.db).await? {
            while !self.fan_out_batch(a.id).await? {}
        }
        Ok(())
    }

    /// Queues one batch of the alert's emails and moves its checkpoint past them, in one
    /// transaction. True when the alert has gone to its whole audience.
    pub async fn fan_out_batch(&self, id: i64) -> anyhow::Result<bool> {
        let Some(a) = q::alert(&self.db, id).await? else {
            return Ok(true);
        };
        match a.status {
            Status::Sending => {}
            Status::Draft | Status::Sent => return Ok(true),
        }
        let list = a.kind.list();
        // Subscription mail goes to confirmed addresses of members on the list only;
        // transactional alerts reach everyone.
        let members = q::audience_batch(
            &self.db,
            &self.audience(&a.audience),
            MemberId(a.cursor),
            BATCH,
            list.map(list_column),
            list.is_some(),
        )
        .await?;
        let suppressed: std::collections::HashMap<String, String> = if list.is_some() {
            let addresses: Vec<String> = members.iter().map(|m| m.email.clone()).collect();
            crate::mail::suppressions::suppressed(
                &self.db,
                self.mailer.links().address_key(),
                &addresses,
            )
            .await?
        } else {
            Default::default()
        };
        let now = self.clock.now();
        let mut rows = Vec::with_capacity(members.len());
        for m in &members {
            if suppressed.contains_key(&m.email) {
                continue;
            }
            let (email, sending) = self.email_for(&a, m).await?;
            rows.push(self.mailer.row(
                Recipient {
                    address: &m.email,
                    member_id: Some(m.id),
                },
                &format!("alert:{}:{}", a.id, m.id),
                &email,
                sending,
            )?);
        }
        let done = (members.len() as u64) < BATCH;
        let cursor = members.last().map_or(a.cursor, |m| m.id.0);
        let txn = crate::db::begin(&self.db).await?;
        let added = i64::try_from(self.mailer.insert(&txn, rows).await?)?;
        q::advance_alert(&txn, a.id, cursor, added, done.then_some(now)).await?;
        txn.commit().await?;
        self.mailer.wake();
        if done {
            tracing::info!(
                alert_id = a.id,
                queued = a.queued + added,
                "alert queued for its whole audience"
            );
        }
        Ok(done)
    }

    pub async fn report(&self, id: i64) -> Result<Report> {
        self.get(id).await?;
        Ok(q::report(&self.db, id).await?)
    }

    fn policy_facts(&self, p: &policy_version::Model, now: DateTime<Utc>) -> kinds::PolicyFacts {
        kinds::PolicyFacts {
            effective_at: p.effective_at,
            summary: None,
            policy_url: p.url.clone().unwrap_or_else(|| {
                format!("{}/privacy-policy?version={}", self.base_url, p.version)
            }),
            // The email goes out about now; the window runs from the later of the email
            // and the publication.
            objection_deadline: p.objection_deadline(now),
            account_url: format!("{}/account#policy", self.base_url),
        }
    }
}

fn list_column(list: List) -> member::Column {
    match list {
        List::News => member::Column::NewsOptIn,
        List::Digest => member::Column::DigestOptIn,
        List::Promo => member::Column::PromoOptIn,
    }
}
