//! REST hooks: automation tools (Zapier, Make, n8n) subscribe a URL to an event of an
//! account with `POST /api/v1/hooks`, and unsubscribe with `DELETE /api/v1/hooks/{id}`
//! (or by answering a delivery with 410 Gone). Events are queued in the transaction that
//! makes them (`bar.published`) or by the delivery job (`lead.created`: a lead waits for
//! its hooks as for its other forwards), then posted as JSON signed as lead webhooks
//! are (`Barkeep-Signature`, Stripe's scheme, with the hook's own secret), retried from
//! 5 s on, each wait twice the last, for up to a day. The `hook_delivery` job runs once
//! across processes.

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::entities::{hook, hook_delivery, lead};
use crate::db::hooks as q;
use crate::domain::{AccountId, SiteId};
use crate::egress::{Egress, Failure, Refusal};
use crate::error::{Error, Result};

/// Hooks an account may have.
pub const MAX_HOOKS: u64 = 25;
/// A delivery is tried for this long from its first failure, then dropped.
pub const RETRY_HOURS: i64 = 24;
/// Events posted per run: of one account, and in all.
const PER_ACCOUNT: u64 = 50;
const PER_RUN: u64 = 1000;
/// Leads queued for hooks per run.
const FAN_OUT_PER_RUN: u64 = 1000;
/// Posts at once.
const POSTS_AT_ONCE: usize = 16;

/// An event a hook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Event {
    /// A visitor left an email address in a bar.
    #[serde(rename = "lead.created")]
    LeadCreated,
    /// A bar was published (or published again with changes).
    #[serde(rename = "bar.published")]
    BarPublished,
}

impl Event {
    pub const ALL: [Event; 2] = [Event::LeadCreated, Event::BarPublished];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::LeadCreated => "lead.created",
            Event::BarPublished => "bar.published",
        }
    }

    pub fn parse(raw: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == raw)
    }

    /// What a delivery of this event looks like, with made-up values.
    pub fn sample(self) -> Value {
        let at = "2026-12-07T10:00:00Z";
        match self {
            Event::LeadCreated => lead_body(
                &lead::Model {
                    id: 1042,
                    site_id: SiteId(7),
                    deployment_id: crate::domain::DeploymentId(311),
                    email: "jane.doe@example.com".into(),
                    created_at: DateTime::parse_from_rfc3339(at)
                        .map(|t| t.with_timezone(&Utc))
                        .unwrap_or_default(),
                    email_done: false,
                    email_outbox_id: None,
                    webhook_done: false,
                    webhook_attempts: 0,
                    webhook_next_at: None,
                    webhook_first_failed_at: None,
                    flagged_at: None,
                    list_done: false,
                    list_attempts: 0,
                    list_next_at: None,
                    list_first_failed_at: None,
                    hooks_fanned: false,
                    forwarded_at: None,
                },
                Some(23),
            ),
            Event::BarPublished => json!({
                "id": 311,
                "event": "bar.published",
                "occurred_at": at,
                "bar_id": 23,
                "site_id": 7,
                "name": "Spring sale",
                "deployment_ids": [311, 312],
            }),
        }
    }
}

/// What a `lead.created` delivery holds: flat, so automation tools map its fields.
fn lead_body(l: &lead::Model, bar: Option<i64>) -> Value {
    json!({
        "id": l.id,
        "event": "lead.created",
        "occurred_at": l.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "email": l.email,
        "site_id": l.site_id,
        "bar_id": bar,
        "deployment_id": l.deployment_id.0,
    })
}

/// What a `bar.published` delivery holds.
pub fn published_body(
    bar: i64,
    site: SiteId,
    name: &str,
    deployments: &[i64],
    at: DateTime<Utc>,
) -> String {
    json!({
        "id": deployments.first().copied().unwrap_or(bar),
        "event": "bar.published",
        "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "bar_id": bar,
        "site_id": site,
        "name": name,
        "deployment_ids": deployments,
    })
    .to_string()
}

#[derive(Clone)]
pub struct Hooks {
    db: Db,
    clock: Clock,
    egress: Egress,
}

impl Hooks {
    pub fn new(db: Db, clock: Clock, egress: Egress) -> Hooks {
        Hooks { db, clock, egress }
    }

    pub async fn list(&self, account: AccountId) -> Result<Vec<hook::Model>> {
        Ok(q::hooks_of(&self.db, account).await?)
    }

    /// Subscribes `target_url` to `event`; the answer holds the signing secret, shown
    /// this once.
    pub async fn subscribe(
        &self,
        account: AccountId,
        event: &str,
        target_url: &str,
    ) -> Result<hook::Model> {
        let event = Event::parse(event)
            .ok_or_else(|| Error::invalid("event", "one of lead.created, bar.published"))?;
        if target_url.len() > 2000 {
            return Err(Error::invalid("target_url", "at most 2,000 characters"));
        }
        let checked = match self.egress.check(target_url) {
            Ok(url) => self.egress.check_resolving(&url).await.map(|()| url),
            Err(refusal) => Err(refusal),
        };
        let url = checked.map_err(|refusal| {
            let message = match refusal {
                Refusal::Unparsable | Refusal::Scheme => "give an https:// (or http://) URL",
                Refusal::Credentials => "leave the user name and password out of the URL",
                Refusal::Private => {
                    "the URL must be reachable on the internet, not a private address"
                }
            };
            Error::invalid("target_url", message)
        })?;
        if q::count_of(&self.db, account).await? >= MAX_HOOKS {
            return Err(Error::Conflict {
                code: "too_many_hooks",
                message: format!("an account has at most {MAX_HOOKS} hooks; delete one first"),
            });
        }
        let secret = format!("whsec_{}", crate::accounts::secrets::new_token());
        let hook = q::insert(
            &self.db,
            account,
            event.as_str(),
            url.as_str(),
            &secret,
            self.clock.now(),
        )
        .await?;
        tracing::info!(account_id = %account, hook_id = hook.id, event = event.as_str(), "hook subscribed");
        Ok(hook)
    }

    pub async fn unsubscribe(&self, account: AccountId, id: i64) -> Result<()> {
        if !q::delete(&self.db, account, id).await? {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// The `hook_delivery` job: queues new leads for their account's hooks, then posts
    /// what is due, a few of each account in turn.
    pub async fn deliver(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let leads = q::leads_to_fan_out(&self.db, FAN_OUT_PER_RUN).await?;
        if !leads.is_empty() {
            let txn = crate::db::begin(&self.db).await?;
            q::fan_out(&txn, &leads, now).await?;
            txn.commit().await?;
        }
        let due = q::due(&self.db, now, PER_ACCOUNT, PER_RUN).await?;
        if due.is_empty() {
            return Ok(());
        }
        let lead_ids: Vec<i64> = due.iter().filter_map(|(d, _)| d.lead_id).collect();
        let leads = q::leads(&self.db, &lead_ids).await?;
        let bars = crate::db::catalog::bars_of_deployments(
            &self.db,
            &leads.iter().map(|l| l.deployment_id).collect::<Vec<_>>(),
        )
        .await?;
        let posts = due.into_iter().filter_map(|(d, h)| {
            let body = match (&d.payload, d.lead_id) {
                (Some(payload), _) => payload.clone(),
                (None, Some(id)) => {
                    let l = leads.iter().find(|l| l.id == id)?;
                    let bar = bars
                        .iter()
                        .find(|(dep, _)| *dep == l.deployment_id)
                        .map(|(_, b)| b.0);
                    lead_body(l, bar).to_string()
                }
                (None, None) => return None,
            };
            let hooks = self.clone();
            Some(async move { hooks.post(d, h, body, now).await })
        });
        let outcomes: Vec<anyhow::Result<()>> = futures_util::stream::iter(posts)
            .buffer_unordered(POSTS_AT_ONCE)
            .collect()
            .await;
        outcomes.into_iter().collect()
    }

    async fn post(
        &self,
        d: hook_delivery::Model,
        h: hook::Model,
        body: String,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let sent = self.send(&h, body).await;
        let (status, error) = match &sent {
            Ok(s) if (200..300).contains(s) => (Some(i32::from(*s)), None),
            Ok(s) => (
                Some(i32::from(*s)),
                Some(format!("the target answered HTTP {s}")),
            ),
            Err(e) => (None, Some(e.clone())),
        };
        let txn = crate::db::begin(&self.db).await?;
        match sent {
            Ok(410) => {
                q::delete_by_id(&txn, h.id).await?;
                txn.commit().await?;
                tracing::info!(
                    hook_id = h.id,
                    "the hook's target answered 410 Gone; unsubscribed"
                );
                return Ok(());
            }
            Ok(s) if (200..300).contains(&s) => q::delivered(&txn, d.id).await?,
            _ => {
                let first = d.first_failed_at.unwrap_or(now);
                if now - first >= Duration::hours(RETRY_HOURS) {
                    q::delivered(&txn, d.id).await?;
                    tracing::warn!(hook_id = h.id, "a hook delivery failed for a day; dropped");
                } else {
                    let n = d.attempts + 1;
                    q::again(&txn, d.id, n, now + crate::egress::retry_wait(n), first).await?;
                }
            }
        }
        q::record_attempt(&txn, h.id, now, status, error).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Posts `body` to the hook's target, signed; the status, or why there is none.
    async fn send(&self, h: &hook::Model, body: String) -> std::result::Result<u16, String> {
        let request = self
            .egress
            .post(&h.target_url)
            .map_err(|_| "refused: the target URL is not allowed".to_string())?;
        let signature = crate::signature::sign(
            h.secret.as_bytes(),
            self.clock.now().timestamp(),
            body.as_bytes(),
        );
        let res = request
            .header("content-type", "application/json")
            .header("barkeep-signature", signature)
            .header("barkeep-event", &h.event)
            .body(body)
            .send()
            .await
            .map_err(|e| match Egress::failure(&e) {
                Failure::Refused => "refused: the target resolves to a private address".into(),
                Failure::NoAddress => "the target's host does not resolve".into(),
                Failure::Timeout => "the target did not answer in time".into(),
                Failure::Connect => "could not connect to the target".into(),
                Failure::Other(e) => format!("the request failed: {e}"),
            })?;
        Ok(res.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_parses_back_and_has_a_sample_of_its_name() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()), Some(e));
            assert_eq!(e.sample()["event"], e.as_str());
            assert!(e.sample()["id"].is_number());
        }
        assert_eq!(Event::parse("lead.deleted"), None);
    }
}
