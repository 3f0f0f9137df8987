//! Privacy-policy versions. Publishing one emails every member's current address (a
//! `policy_change` alert); a member may object within 20 days of that email being sent
//! (of the publication while it is not, or if it never is), and the objection is
//! recorded with its time. After the window the answer is 409 with the deadline.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::alerts::Alerts;
use crate::clock::Clock;
use crate::db::Db;
use crate::db::entities::{member, policy_version};
use crate::db::policies as q;
use crate::domain::{MemberId, SafeUrl};
use crate::error::{Error, Result};

/// A policy version as members and operators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyView {
    pub id: i64,
    pub version: String,
    pub url: Option<String>,
    pub text: Option<String>,
    pub effective_at: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
}

impl From<policy_version::Model> for PolicyView {
    fn from(p: policy_version::Model) -> Self {
        PolicyView {
            id: p.id,
            version: p.version,
            url: p.url,
            text: p.text,
            effective_at: p.effective_at,
            published_at: p.published_at,
        }
    }
}

/// A version with the member's own standing towards it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberPolicy {
    #[serde(flatten)]
    pub policy: PolicyView,
    /// The last moment an objection is taken.
    pub objection_deadline: DateTime<Utc>,
    pub objected_at: Option<DateTime<Utc>>,
}

/// Who objected, for operators.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Objection {
    pub member_id: MemberId,
    pub email: Option<String>,
    pub objected_at: DateTime<Utc>,
}

/// The published versions of the privacy policy and members' objections to them.
#[derive(Clone)]
pub struct PolicyVersions {
    db: Db,
    clock: Clock,
    /// Announces each new version to every member.
    alerts: Alerts,
}

impl PolicyVersions {
    pub fn new(db: Db, clock: Clock, alerts: Alerts) -> PolicyVersions {
        PolicyVersions { db, clock, alerts }
    }

    /// Publishes a version and starts emailing every member about it.
    pub async fn publish(
        &self,
        by: MemberId,
        version: &str,
        url: Option<String>,
        text: Option<String>,
        effective_at: DateTime<Utc>,
    ) -> Result<PolicyView> {
        let now = self.clock.now();
        let version = version.trim();
        if version.is_empty()
            || version.len() > 40
            || !version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(Error::invalid(
                "version",
                "1 to 40 letters, digits, -, _ or . (such as 2026-12)",
            ));
        }
        // A minute of slack for the operator's clock; never a date in the past.
        if effective_at < now - Duration::minutes(1) {
            return Err(Error::invalid(
                "effective_at",
                "the effective date cannot be earlier than now",
            ));
        }
        if let Some(u) = &url {
            SafeUrl::parse_web(u, "url")?;
        }
        let text = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        if url.is_none() && text.is_none() {
            return Err(Error::invalid("url", "give the policy's url or its text"));
        }
        if text.as_ref().is_some_and(|t| t.len() > 200_000) {
            return Err(Error::invalid("text", "at most 200,000 characters"));
        }
        if q::policy_by_version(&self.db, version).await?.is_some() {
            return Err(Error::conflict(
                "policy_version_taken",
                format!("version {version} is published already"),
            ));
        }
        let txn = crate::db::begin(&self.db).await?;
        let policy = q::insert_policy(&txn, version, url, text, effective_at, now).await?;
        let alert = self.alerts.insert_policy_change(&txn, by, version).await?;
        q::set_policy_alert(&txn, policy.id, alert.id).await?;
        txn.commit().await?;
        tracing::info!(version, alert_id = alert.id, "privacy policy published");
        self.alerts.wake();
        Ok(PolicyView::from(policy))
    }

    /// When the member's objection window for `p` closes: 20 days after the email that
    /// told them was sent. Until it is sent — and if it never is (given up, or the
    /// address is suppressed) — 20 days after the publication; a member who joined
    /// after the publication was never emailed, and counts from joining. The window is
    /// never open-ended: it never moves with the time it is asked.
    async fn deadline(
        &self,
        p: &policy_version::Model,
        m: &member::Model,
    ) -> Result<DateTime<Utc>> {
        let email = match p.alert_id {
            Some(alert) => crate::db::alerts::alert_email_sent_at(&self.db, alert, m.id).await?,
            None => None,
        };
        let from = match email {
            Some(Some(sent)) => sent,
            Some(None) => p.published_at,
            None => m.created_at,
        };
        Ok(p.objection_deadline(from))
    }

    /// Every version, newest first, with the member's own standing towards it.
    pub async fn for_member(&self, m: &member::Model) -> Result<Vec<MemberPolicy>> {
        let objections = q::objections(&self.db, None, Some(m.id)).await?;
        let mut out = Vec::new();
        for p in q::policies(&self.db).await? {
            let objected_at = objections
                .iter()
                .find(|o| o.policy_id == p.id)
                .map(|o| o.objected_at);
            out.push(MemberPolicy {
                objection_deadline: self.deadline(&p, m).await?,
                objected_at,
                policy: PolicyView::from(p),
            });
        }
        Ok(out)
    }

    /// Records the member's objection to `version` (the newest when none is named).
    pub async fn object(&self, m: &member::Model, version: Option<&str>) -> Result<MemberPolicy> {
        let policy = match version {
            Some(v) => q::policy_by_version(&self.db, v).await?,
            None => q::policies(&self.db).await?.into_iter().next(),
        }
        .ok_or_else(|| Error::invalid("version", "there is no such policy version"))?;
        let now = self.clock.now();
        let deadline = self.deadline(&policy, m).await?;
        if now > deadline {
            return Err(Error::conflict(
                "objection_window_closed",
                format!(
                    "objections to version {} closed at {}",
                    policy.version,
                    deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ));
        }
        q::object(&self.db, policy.id, m.id, now).await?;
        tracing::info!(member_id = %m.id, version = %policy.version, "policy objection recorded");
        let objected_at = q::objections(&self.db, Some(policy.id), Some(m.id))
            .await?
            .first()
            .map(|o| o.objected_at);
        Ok(MemberPolicy {
            objection_deadline: deadline,
            objected_at,
            policy: PolicyView::from(policy),
        })
    }

    /// Every version, newest first, with who objected to each.
    pub async fn with_objections(&self) -> Result<Vec<(PolicyView, Vec<Objection>)>> {
        let mut out = Vec::new();
        for p in q::policies(&self.db).await? {
            let mut list = Vec::new();
            for o in q::objections(&self.db, Some(p.id), None).await? {
                let email = crate::db::accounts::member_by_id(&self.db, o.member_id)
                    .await?
                    .map(|m| m.email);
                list.push(Objection {
                    member_id: o.member_id,
                    email,
                    objected_at: o.objected_at,
                });
            }
            out.push((PolicyView::from(p), list));
        }
        Ok(out)
    }

    /// A published version, for its public page.
    pub async fn published(&self, version: &str) -> Result<PolicyView> {
        q::policy_by_version(&self.db, version)
            .await?
            .map(PolicyView::from)
            .ok_or(Error::NotFound)
    }
}
