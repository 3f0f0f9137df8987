//! Leads belong to the member and leave barkeep once delivered. Each lead is forwarded
//! by email (on unless the member turns it off; at most one email per bar every ten
//! minutes, listing the new leads, whose body is dropped from the outbox once sent)
//! and/or to the site's webhook (JSON signed as Stripe signs, retried from 5 s on, each
//! wait twice the last, for up to a day; every attempt recorded without the lead). Once
//! every configured forward has succeeded the lead is deleted, unless the member keeps
//! leads for some days. A lead whose webhook keeps failing is kept, flagged, and the
//! member is emailed once. The `lead_delivery` job runs once across processes.

pub mod esp;
pub mod lists;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use sea_orm::EntityTrait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::entities::{lead, lead_webhook, outbox::AfterSend};
use crate::db::leads as q;
use crate::domain::{AccountId, BarId, SiteId};
use crate::egress::{Egress, Failure, Refusal};
use crate::error::{Error, Result};
use crate::mail::{EmailKind, EmailTemplate, Mailer, Recipient, Sending};
use crate::sealed::Sealer;
pub use esp::Esp;
pub use lists::ListForwardStopped;

/// At most one lead email per bar this often.
pub const EMAIL_EVERY_MINUTES: i64 = 10;
/// A webhook is tried for this long from its first failure.
pub const RETRY_HOURS: i64 = 24;
/// Test posts a member may ask for in a window of this many minutes, over all their
/// sites: the answer tells whether a URL answers and with what status, so it is not an
/// unbounded probe.
pub const TESTS_PER_WINDOW: usize = 10;
pub const TEST_WINDOW_MINUTES: i64 = 10;
/// Bars emailed per run, and leads listed in one email.
const BARS_PER_RUN: u64 = 200;
const LEADS_PER_EMAIL: u64 = 500;
/// Webhook posts per run: of one site, and in all.
const POSTS_PER_SITE: u64 = 20;
const POSTS_PER_RUN: u64 = 1000;
/// Posts at once to one receiving host, and hosts posted to at once.
const POSTS_PER_HOST: usize = 4;
const HOSTS_AT_ONCE: usize = 32;

/// One new lead in the email that lists them.
#[derive(Serialize)]
pub struct LeadLine {
    pub email: String,
    pub at: String,
}

#[derive(Serialize)]
pub struct LeadNotification {
    pub site: String,
    pub bar: String,
    pub leads: Vec<LeadLine>,
    pub count: usize,
    pub kept_days: u32,
    pub leads_url: String,
}
impl EmailTemplate for LeadNotification {
    fn kind(&self) -> EmailKind {
        EmailKind::LeadNotification
    }
}

#[derive(Serialize)]
pub struct LeadDeliveryFailing {
    pub site: String,
    pub webhook_host: String,
    pub failures: u32,
    pub since: String,
    pub last_status: Option<String>,
    pub settings_url: String,
}
impl EmailTemplate for LeadDeliveryFailing {
    fn kind(&self) -> EmailKind {
        EmailKind::LeadDeliveryFailing
    }
}

/// What a webhook receives for each lead.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadPayload {
    pub id: i64,
    pub email: String,
    pub site_id: SiteId,
    pub bar_id: BarId,
    pub deployment_id: i64,
    pub created_at: DateTime<Utc>,
    /// True only for the test a member asks for.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// How one post went.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attempt {
    pub ok: bool,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct Leads {
    db: Db,
    clock: Clock,
    mailer: Mailer,
    /// Every post goes through it: no private address, no redirect.
    egress: Egress,
    /// Calls to email service providers, for list forwards.
    esp: Esp,
    /// Seals and opens the providers' keys.
    sealer: Sealer,
    base_url: String,
    /// Test posts under way in this process, per member (not yet recorded).
    tests_running: Arc<Mutex<HashMap<AccountId, usize>>>,
    /// Taken while a member's test posts are counted and one is reserved.
    test_gate: Arc<tokio::sync::Mutex<()>>,
}

/// A test post under way; counted until dropped (after it is recorded).
struct TestSlot {
    running: Arc<Mutex<HashMap<AccountId, usize>>>,
    account: AccountId,
}

impl Drop for TestSlot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = running.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.account);
            }
        }
    }
}

/// `https://hooks.example/…` → `hooks.example`
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

impl Leads {
    pub fn new(
        db: Db,
        clock: Clock,
        mailer: Mailer,
        base_url: &str,
        egress: Egress,
        esp: Esp,
        sealer: Sealer,
    ) -> Leads {
        Leads {
            db,
            clock,
            mailer,
            egress,
            esp,
            sealer,
            base_url: base_url.to_string(),
            tests_running: Arc::default(),
            test_gate: Arc::default(),
        }
    }

    /// Checks a webhook URL: http(s), a host, no user name or password, and no address
    /// on barkeep's side (loopback, private, reserved; a name that resolves only to
    /// such addresses) unless those are allowed.
    async fn check_url(&self, raw: &str) -> Result<String> {
        if raw.len() > 2000 {
            return Err(Error::invalid("url", "at most 2,000 characters"));
        }
        let checked = match self.egress.check(raw) {
            Ok(url) => self.egress.check_resolving(&url).await.map(|()| url),
            Err(refusal) => Err(refusal),
        };
        checked.map(|url| url.to_string()).map_err(|refusal| {
            let message = match refusal {
                Refusal::Unparsable => "give an https:// URL",
                Refusal::Scheme => "give an https:// (or http://) URL",
                Refusal::Credentials => "leave the user name and password out of the URL",
                Refusal::Private => {
                    "the webhook must be reachable on the internet, not a private address"
                }
            };
            Error::invalid("url", message)
        })
    }

    pub async fn webhook(&self, site: SiteId) -> Result<Option<lead_webhook::Model>> {
        Ok(q::webhook(&self.db, site).await?)
    }

    /// Sets the site's webhook with a new secret, which is returned (shown once).
    pub async fn set_webhook(&self, site: SiteId, url: &str) -> Result<lead_webhook::Model> {
        let url = self.check_url(url).await?;
        let secret = format!("whsec_{}", crate::accounts::secrets::new_token());
        Ok(q::put_webhook(&self.db, site, &url, &secret, self.clock.now()).await?)
    }

    /// A new secret for the same URL (the old one stops working at once).
    pub async fn rotate_secret(&self, site: SiteId) -> Result<lead_webhook::Model> {
        let current = q::webhook(&self.db, site).await?.ok_or(Error::NotFound)?;
        let secret = format!("whsec_{}", crate::accounts::secrets::new_token());
        Ok(q::put_webhook(&self.db, site, &current.url, &secret, self.clock.now()).await?)
    }

    pub async fn delete_webhook(&self, site: SiteId) -> Result<()> {
        if !q::delete_webhook(&self.db, site).await? {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    pub async fn deliveries(
        &self,
        site: SiteId,
    ) -> Result<Vec<crate::db::entities::lead_delivery::Model>> {
        Ok(q::deliveries(&self.db, site, true, 100).await?)
    }

    pub async fn leads(&self, site: SiteId) -> Result<Vec<lead::Model>> {
        Ok(q::leads_of_site(&self.db, site, 10_000).await?)
    }

    /// The lead `id` when it was left on `site`.
    pub async fn lead_of(&self, site: SiteId, id: i64) -> Result<Option<lead::Model>> {
        Ok(q::lead_of(&self.db, site, id).await?)
    }

    /// Deletes a lead found with [`Leads::lead_of`].
    pub async fn delete_lead(&self, lead: &lead::Model) -> Result<()> {
        Ok(q::delete_leads(&self.db, &[lead.id]).await?)
    }

    /// Posts `payload` to the webhook, signed; never fails outward.
    async fn post(&self, hook: &lead_webhook::Model, payload: &LeadPayload) -> Attempt {
        match self.try_post(hook, payload).await {
            Ok(status) if (200..300).contains(&status) => Attempt {
                ok: true,
                status_code: Some(i32::from(status)),
                error: None,
            },
            Ok(status) => Attempt {
                ok: false,
                status_code: Some(i32::from(status)),
                error: Some(format!("the receiver answered HTTP {status}")),
            },
            Err(e) => Attempt {
                ok: false,
                status_code: None,
                error: Some(e),
            },
        }
    }

    async fn try_post(
        &self,
        hook: &lead_webhook::Model,
        payload: &LeadPayload,
    ) -> std::result::Result<u16, String> {
        // Checked again as it is sent: the rules (or the setting) may have changed.
        let request = self
            .egress
            .post(&hook.url)
            .map_err(|refusal| match refusal {
                Refusal::Private => "refused: the webhook points at a private address".to_string(),
                Refusal::Credentials => {
                    "refused: the webhook's URL holds a user name or password".to_string()
                }
                Refusal::Unparsable | Refusal::Scheme => {
                    "refused: the webhook's URL is not an http(s) URL".to_string()
                }
            })?;
        let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let signature =
            crate::signature::sign(hook.secret.as_bytes(), self.clock.now().timestamp(), &body);
        let res = request
            .header("content-type", "application/json")
            .header("barkeep-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| match Egress::failure(&e) {
                Failure::Refused => {
                    "refused: the webhook's host resolves to a private address".to_string()
                }
                Failure::NoAddress => "the webhook's host does not resolve".to_string(),
                Failure::Timeout => format!(
                    "the receiver did not answer within {} seconds",
                    crate::egress::TIMEOUT.as_secs()
                ),
                Failure::Connect => "could not connect to the receiver".to_string(),
                Failure::Other(e) => format!("the request failed: {e}"),
            })?;
        Ok(res.status().as_u16())
    }

    /// Reserves one of the member's test posts, or answers how long until one is free:
    /// the recorded tests of the window and those under way count.
    async fn reserve_test(&self, account: AccountId) -> Result<TestSlot> {
        // One reservation at a time in this process; the running ones are read before
        // the recorded ones, so a test that is recorded and ends meanwhile counts twice
        // rather than not at all.
        let _gate = self.test_gate.lock().await;
        let running = |map: &Mutex<HashMap<AccountId, usize>>| {
            let map = map.lock().unwrap_or_else(|e| e.into_inner());
            map.get(&account).copied().unwrap_or(0)
        };
        let under_way = running(&self.tests_running);
        let now = self.clock.now();
        let window = Duration::minutes(TEST_WINDOW_MINUTES);
        let recorded = q::tests_since(&self.db, account, now - window).await?;
        if recorded.len() + under_way >= TESTS_PER_WINDOW {
            // Free once enough of the oldest have left the window; tests under way
            // are recorded about now.
            let free_at = recorded
                .get(recorded.len() + under_way - TESTS_PER_WINDOW)
                .map_or(now + window, |at| *at + window);
            tracing::warn!(account_id = %account, "webhook tests asked for too often");
            let wait_ms = (free_at - now).num_milliseconds();
            return Err(Error::TooManyRequests {
                retry_after_secs: u64::try_from(wait_ms).map_or(1, |ms| ms.div_ceil(1000)),
            });
        }
        let mut map = self.tests_running.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(account).or_default() += 1;
        Ok(TestSlot {
            running: self.tests_running.clone(),
            account,
        })
    }

    /// The test a member asks for: a made-up lead, posted and recorded now. At most
    /// [`TESTS_PER_WINDOW`] per member every [`TEST_WINDOW_MINUTES`] minutes.
    pub async fn test(&self, account: AccountId, site: SiteId) -> Result<Attempt> {
        let hook = q::webhook(&self.db, site).await?.ok_or(Error::NotFound)?;
        let _slot = self.reserve_test(account).await?;
        let payload = LeadPayload {
            id: 0,
            email: "test@example.com".into(),
            site_id: site,
            bar_id: BarId(0),
            deployment_id: 0,
            created_at: self.clock.now(),
            test: true,
        };
        let attempt = self.post(&hook, &payload).await;
        q::record_delivery(
            &self.db,
            site,
            None,
            1,
            self.clock.now(),
            attempt.ok,
            attempt.status_code,
            attempt.error.clone(),
            true,
            "webhook",
        )
        .await?;
        Ok(attempt)
    }

    /// The `lead_delivery` job. Each run does a bounded amount of work that is due now
    /// and nobody else's: it settles leads whose email has left the outbox, queues one
    /// email per bar that is due (oldest first), posts due leads to their webhooks (a few
    /// of each site in turn, side by side, a few at a time per receiving host), then
    /// deletes — or keeps, for members who keep leads — what every forward delivered.
    pub async fn deliver(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let (emailed, again) = q::settle_emails(&self.db).await?;
        if again > 0 {
            tracing::warn!(
                leads = again,
                "a lead email was given up; its leads wait for the next one"
            );
        }
        let cutoff = now - Duration::minutes(EMAIL_EVERY_MINUTES);
        for bar in q::bars_due_for_email(&self.db, cutoff, BARS_PER_RUN).await? {
            let leads = q::waiting_for_email(&self.db, bar, LEADS_PER_EMAIL).await?;
            self.email_leads(bar, &leads, now).await?;
        }
        self.post_due(now).await?;
        self.add_due(now).await?;
        let (deleted, kept) = q::finish_forwarded(&self.db, now).await?;
        if deleted + kept + emailed > 0 {
            tracing::info!(emailed, deleted, kept, "leads delivered");
        }
        Ok(())
    }

    async fn email_leads(
        &self,
        bar: BarId,
        leads: &[lead::Model],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let Some(first) = leads.first() else {
            return Ok(());
        };
        let Some(account) = crate::db::teams::account_of_site(&self.db, first.site_id).await?
        else {
            return Ok(());
        };
        // Everyone of the account who may see leads and asked for them, the
        // longest-standing first: the lead waits for that person's email.
        let recipients = crate::db::teams::lead_recipients(&self.db, account.id).await?;
        if recipients.is_empty() {
            return Ok(());
        }
        let kept_days = account.lead_retention_days;
        let (site, bar_name) = names(&self.db, first.site_id, bar).await?;
        let ids: Vec<i64> = leads.iter().map(|l| l.id).collect();
        let email = LeadNotification {
            site,
            bar: bar_name,
            leads: leads
                .iter()
                .map(|l| LeadLine {
                    email: l.email.clone(),
                    at: l.created_at.format("%-d %B %Y, %H:%M UTC").to_string(),
                })
                .collect(),
            count: leads.len(),
            kept_days: u32::try_from(kept_days).unwrap_or(0),
            leads_url: format!("{}/sites/{}#leads", self.base_url, first.site_id),
        };
        // One key per email: if this one is given up, the next that lists the same
        // leads is a new email.
        let key = format!(
            "leads:{bar}:{}:{}:{}",
            ids.first().copied().unwrap_or(0),
            ids.last().copied().unwrap_or(0),
            now.timestamp_millis()
        );
        let mut rows = Vec::with_capacity(recipients.len());
        for (i, m) in recipients.iter().enumerate() {
            let row_key = if i == 0 {
                key.clone()
            } else {
                format!("{key}:to:{}", m.id)
            };
            let mut row = self.mailer.row(
                Recipient {
                    address: &m.email,
                    member_id: Some(m.id),
                },
                &row_key,
                &email,
                Sending::default(),
            )?;
            // The body holds the addresses: it leaves the outbox once sent.
            row.after_send = sea_orm::ActiveValue::Set(AfterSend::PurgeBody);
            rows.push(row);
        }
        let txn = crate::db::begin(&self.db).await?;
        self.mailer.insert(&txn, rows).await?;
        q::email_queued(&txn, &ids, &key).await?;
        q::set_last_email(&txn, bar, now).await?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// Posts the leads whose webhook post is due: receiving hosts side by side, a few
    /// posts at a time to each.
    async fn post_due(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let due = q::due(
            &self.db,
            q::Forward::Webhook,
            now,
            POSTS_PER_SITE,
            POSTS_PER_RUN,
        )
        .await?;
        if due.is_empty() {
            return Ok(());
        }
        let mut sites: Vec<SiteId> = due.iter().map(|d| d.lead.site_id).collect();
        sites.sort_unstable();
        sites.dedup();
        let hooks = q::webhooks_of(&self.db, &sites).await?;
        // Receiving host → its posts, in the order they were taken.
        let mut by_host: Vec<(String, Vec<(q::Due, lead_webhook::Model)>)> = Vec::new();
        for d in due {
            let Some(hook) = hooks.iter().find(|h| h.site_id == d.lead.site_id) else {
                continue;
            };
            let host = host_of(&hook.url);
            let post = (d, hook.clone());
            match by_host.iter_mut().find(|(h, _)| *h == host) {
                Some((_, list)) => list.push(post),
                None => by_host.push((host, vec![post])),
            }
        }
        let hosts = by_host.into_iter().map(|(_, posts)| {
            let leads = self.clone();
            let posts: BoxFuture<'static, Vec<anyhow::Result<()>>> = Box::pin(async move {
                futures_util::stream::iter(posts)
                    .map(|(d, hook)| {
                        let leads = leads.clone();
                        async move { leads.post_lead(&d, &hook, now).await }
                    })
                    .buffer_unordered(POSTS_PER_HOST)
                    .collect()
                    .await
            });
            posts
        });
        let outcomes: Vec<Vec<anyhow::Result<()>>> = futures_util::stream::iter(hosts)
            .buffer_unordered(HOSTS_AT_ONCE)
            .collect()
            .await;
        outcomes.into_iter().flatten().collect()
    }

    /// Posts one lead and records how it went. A failure waits longer each time, and
    /// after a day the lead is flagged and the member told (once).
    async fn post_lead(
        &self,
        d: &q::Due,
        hook: &lead_webhook::Model,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let p = &d.lead;
        let attempt = self
            .post(
                hook,
                &LeadPayload {
                    id: p.id,
                    email: p.email.clone(),
                    site_id: p.site_id,
                    bar_id: d.bar,
                    deployment_id: p.deployment_id.0,
                    created_at: p.created_at,
                    test: false,
                },
            )
            .await;
        let number = p.webhook_attempts + 1;
        let txn = crate::db::begin(&self.db).await?;
        q::record_delivery(
            &txn,
            p.site_id,
            Some(p.id),
            number,
            now,
            attempt.ok,
            attempt.status_code,
            attempt.error.clone(),
            false,
            "webhook",
        )
        .await?;
        if attempt.ok {
            q::set_done(&txn, &[p.id], lead::Column::WebhookDone).await?;
            if hook.failing_notified_at.is_some() {
                q::set_failing_notified(&txn, p.site_id, None).await?;
            }
            txn.commit().await?;
            return Ok(());
        }
        let first_failed = p.webhook_first_failed_at.unwrap_or(now);
        if now - first_failed < Duration::hours(RETRY_HOURS) {
            q::webhook_failed(
                &txn,
                p.id,
                number,
                now + crate::egress::retry_wait(number),
                first_failed,
            )
            .await?;
            txn.commit().await?;
            return Ok(());
        }
        q::flag(&txn, p.id, now).await?;
        txn.commit().await?;
        tracing::warn!(lead_id = p.id, site_id = %p.site_id, "a lead's webhook kept failing; flagged");
        if hook.failing_notified_at.is_none() {
            self.tell_failing(d, hook, number, first_failed, &attempt)
                .await?;
        }
        Ok(())
    }

    async fn tell_failing(
        &self,
        d: &q::Due,
        hook: &lead_webhook::Model,
        failures: i32,
        since: DateTime<Utc>,
        last: &Attempt,
    ) -> anyhow::Result<()> {
        let p = &d.lead;
        let (site, _) = names(&self.db, p.site_id, d.bar).await?;
        let now = self.clock.now();
        let email = LeadDeliveryFailing {
            site,
            webhook_host: host_of(&hook.url),
            failures: u32::try_from(failures).unwrap_or(0),
            since: crate::billing::day(since),
            last_status: last
                .status_code
                .map(|s| format!("HTTP {s}"))
                .or_else(|| last.error.clone()),
            settings_url: format!("{}/sites/{}#leads", self.base_url, p.site_id),
        };
        let txn = crate::db::begin(&self.db).await?;
        // The account's owners hear of it (the webhook is the account's).
        for m in crate::db::teams::owners_of(&txn, d.account).await? {
            self.mailer
                .enqueue(
                    &txn,
                    Recipient {
                        address: &m.email,
                        member_id: Some(m.id),
                    },
                    &format!("lead_failing:{}:{}:{}", p.site_id, now.timestamp(), m.id),
                    &email,
                )
                .await?;
        }
        q::set_failing_notified(&txn, p.site_id, Some(now)).await?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// The `purge_leads` job: leads past their member's retention go — kept leads
    /// counted from when they were forwarded, leads with no forward configured from
    /// when they arrived.
    pub async fn purge(&self) -> anyhow::Result<()> {
        let gone = q::purge_past_retention(&self.db, self.clock.now()).await?;
        if gone > 0 {
            tracing::info!(leads = gone, "leads past their retention deleted");
        }
        Ok(())
    }
}

/// The site's and the bar's names, for the emails.
async fn names(db: &Db, site: SiteId, bar: BarId) -> anyhow::Result<(String, String)> {
    let site = crate::db::catalog::site_by_id(db, site)
        .await?
        .map(|s| s.name)
        .unwrap_or_default();
    let bar = crate::db::entities::bar::Entity::find_by_id(bar)
        .one(db)
        .await?
        .map(|b| b.name)
        .unwrap_or_default();
    Ok((site, bar))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_within_ten_seconds_and_grow() {
        use crate::egress::retry_wait;
        assert_eq!(retry_wait(1), Duration::seconds(5));
        assert_eq!(retry_wait(2), Duration::seconds(10));
        assert_eq!(retry_wait(3), Duration::seconds(20));
        assert_eq!(retry_wait(20), Duration::seconds(3600));
    }
}
