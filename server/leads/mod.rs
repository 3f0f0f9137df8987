//! Leads belong to the member and leave barkeep once delivered. Each lead is forwarded
//! by email (on unless the member turns it off; at most one email per bar every ten
//! minutes, listing the new leads, whose body is dropped from the outbox once sent)
//! and/or to the site's webhook (JSON signed as Stripe signs, retried from 5 s on, each
//! wait twice the last, for up to a day; every attempt recorded without the lead). Once
//! every configured forward has succeeded the lead is deleted, unless the member keeps
//! leads for some days. A lead whose webhook keeps failing is kept, flagged, and the
//! member is emailed once. The `lead_delivery` job runs once across processes.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sea_orm::EntityTrait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::entities::{lead, lead_webhook, outbox::AfterSend};
use crate::db::leads as q;
use crate::domain::{BarId, SiteId};
use crate::error::{Error, Result};
use crate::mail::{EmailTemplate, Mailer, Recipient, Sending};

/// At most one lead email per bar this often.
pub const EMAIL_EVERY_MINUTES: i64 = 10;
/// A webhook is tried for this long from its first failure.
pub const RETRY_HOURS: i64 = 24;
const FIRST_RETRY_SECS: i64 = 5;
const MAX_RETRY_SECS: i64 = 3600;
const TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// Leads looked at per run.
const BATCH: u64 = 500;

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
    const NAME: &'static str = "lead_notification";
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
    const NAME: &'static str = "lead_delivery_failing";
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
    client: reqwest::Client,
    base_url: String,
    /// Webhooks may point at loopback and private addresses (tests, intranets).
    allow_private: bool,
}

fn backoff(failures: i32) -> Duration {
    let shift = failures.clamp(1, 20) - 1;
    Duration::seconds((FIRST_RETRY_SECS << shift).min(MAX_RETRY_SECS))
}

fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| private(IpAddr::V4(v4)))
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
        allow_private: bool,
    ) -> anyhow::Result<Leads> {
        Ok(Leads {
            db,
            clock,
            mailer,
            client: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("barkeep/", env!("CARGO_PKG_VERSION")))
                .build()?,
            base_url: base_url.to_string(),
            allow_private,
        })
    }

    /// Checks a webhook URL: http(s), a host, and not a private address unless allowed.
    fn check_url(&self, raw: &str) -> Result<String> {
        let url = url::Url::parse(raw.trim())
            .map_err(|_| Error::invalid("url", "give an https:// URL"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(Error::invalid("url", "give an https:// (or http://) URL"));
        }
        if !self.allow_private {
            let host = url.host_str().unwrap_or_default();
            let literal = host
                .trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .ok()
                .is_some_and(private);
            if literal || host == "localhost" || host.ends_with(".localhost") {
                return Err(Error::invalid(
                    "url",
                    "the webhook must be reachable on the internet, not a private address",
                ));
            }
        }
        if raw.len() > 2000 {
            return Err(Error::invalid("url", "at most 2,000 characters"));
        }
        Ok(url.to_string())
    }

    pub async fn webhook(&self, site: SiteId) -> Result<Option<lead_webhook::Model>> {
        Ok(q::webhook(&self.db, site).await?)
    }

    /// Sets the site's webhook with a new secret, which is returned (shown once).
    pub async fn set_webhook(&self, site: SiteId, url: &str) -> Result<lead_webhook::Model> {
        let url = self.check_url(url)?;
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
        Ok(q::deliveries(&self.db, site, 100).await?)
    }

    pub async fn leads(&self, site: SiteId) -> Result<Vec<lead::Model>> {
        Ok(q::leads_of_site(&self.db, site, 10_000).await?)
    }

    pub async fn delete_lead(&self, site: SiteId, id: i64) -> Result<()> {
        q::lead_of(&self.db, site, id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(q::delete_leads(&self.db, &[id]).await?)
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
        let url = url::Url::parse(&hook.url).map_err(|e| e.to_string())?;
        if !self.allow_private {
            let host = url.host_str().unwrap_or_default();
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("the host does not resolve: {e}"))?;
            if addrs.into_iter().any(|a| private(a.ip())) {
                return Err("refused: the webhook's host resolves to a private address".into());
            }
        }
        let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let signature =
            crate::signature::sign(hook.secret.as_bytes(), self.clock.now().timestamp(), &body);
        let res = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("barkeep-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "the receiver did not answer within 10 seconds".to_string()
                } else if e.is_connect() {
                    "could not connect to the receiver".to_string()
                } else {
                    format!("the request failed: {e}")
                }
            })?;
        Ok(res.status().as_u16())
    }

    /// The test a member asks for: a made-up lead, posted and recorded now.
    pub async fn test(&self, site: SiteId) -> Result<Attempt> {
        let hook = q::webhook(&self.db, site).await?.ok_or(Error::NotFound)?;
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
        )
        .await?;
        Ok(attempt)
    }

    /// The `lead_delivery` job: forwards what is due, then deletes (or keeps) what every
    /// forward has delivered.
    pub async fn deliver(&self) -> anyhow::Result<()> {
        let pending = q::pending(&self.db, BATCH).await?;
        let now = self.clock.now();
        // Restricted members' leads wait, untouched.
        let pending: Vec<q::Pending> = pending.into_iter().filter(|p| !p.restricted).collect();
        let mut email_sent: std::collections::HashSet<i64> = Default::default();

        // Email: one per bar, listing its new leads, at most every ten minutes.
        let mut by_bar: BTreeMap<BarId, Vec<&q::Pending>> = BTreeMap::new();
        let mut no_email = Vec::new();
        for p in pending.iter().filter(|p| !p.lead.email_done) {
            if p.lead_email {
                by_bar.entry(p.bar).or_default().push(p);
            } else {
                no_email.push(p.lead.id);
            }
        }
        q::set_done(&self.db, &no_email, lead::Column::EmailDone).await?;
        for (bar, leads) in by_bar {
            if q::last_email(&self.db, bar)
                .await?
                .is_some_and(|last| now - last < Duration::minutes(EMAIL_EVERY_MINUTES))
            {
                continue;
            }
            self.email_leads(bar, &leads, now).await?;
            email_sent.extend(leads.iter().map(|p| p.lead.id));
        }

        // Webhooks, each lead as soon as its next attempt is due.
        let mut webhook_done = Vec::new();
        for p in pending.iter().filter(|p| !p.lead.webhook_done) {
            if !p.has_webhook {
                webhook_done.push(p.lead.id);
                continue;
            }
            if p.lead.webhook_next_at.is_some_and(|at| at > now) {
                continue;
            }
            if self.post_lead(p, now).await? {
                webhook_done.push(p.lead.id);
            }
        }
        q::set_done(&self.db, &webhook_done, lead::Column::WebhookDone).await?;

        // Leads every configured forward has delivered: gone, or kept for a while.
        let (mut keep, mut delete) = (Vec::new(), Vec::new());
        for p in &pending {
            let email_done = p.lead.email_done || email_sent.contains(&p.lead.id) || !p.lead_email;
            let hook_done = p.lead.webhook_done || webhook_done.contains(&p.lead.id);
            // With neither forward configured, nothing delivered it: it waits.
            let delivered_somewhere = p.lead_email || p.has_webhook;
            if email_done && hook_done && delivered_somewhere {
                if p.retention_days > 0 {
                    keep.push(p.lead.id);
                } else {
                    delete.push(p.lead.id);
                }
            }
        }
        q::forwarded(&self.db, &keep, &delete, now).await?;
        if !delete.is_empty() {
            tracing::info!(leads = delete.len(), "leads delivered and deleted");
        }
        Ok(())
    }

    async fn email_leads(
        &self,
        bar: BarId,
        leads: &[&q::Pending],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let Some(first) = leads.first() else {
            return Ok(());
        };
        let Some(m) = crate::db::accounts::member_by_id(&self.db, first.member).await? else {
            return Ok(());
        };
        let (site, bar_name) = names(&self.db, first.lead.site_id, bar).await?;
        let ids: Vec<i64> = leads.iter().map(|p| p.lead.id).collect();
        let email = LeadNotification {
            site,
            bar: bar_name,
            leads: leads
                .iter()
                .map(|p| LeadLine {
                    email: p.lead.email.clone(),
                    at: p.lead.created_at.format("%-d %B %Y, %H:%M UTC").to_string(),
                })
                .collect(),
            count: leads.len(),
            kept_days: u32::try_from(m.lead_retention_days).unwrap_or(0),
            leads_url: format!("{}/sites/{}#leads", self.base_url, first.lead.site_id),
        };
        let mut row = self.mailer.row(
            Recipient {
                address: &m.email,
                member_id: Some(m.id),
            },
            &format!(
                "leads:{bar}:{}:{}",
                ids.first().copied().unwrap_or(0),
                ids.last().copied().unwrap_or(0)
            ),
            &email,
            Sending::default(),
        )?;
        // The body holds the addresses: it leaves the outbox once sent.
        row.after_send = sea_orm::ActiveValue::Set(AfterSend::PurgeBody);
        let txn = crate::db::begin(&self.db).await?;
        self.mailer.insert(&txn, vec![row]).await?;
        q::set_done(&txn, &ids, lead::Column::EmailDone).await?;
        q::set_last_email(&txn, bar, now).await?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// Posts one lead; true when it arrived. A failure waits longer each time, and
    /// after a day the lead is flagged and the member told (once).
    async fn post_lead(&self, p: &q::Pending, now: DateTime<Utc>) -> anyhow::Result<bool> {
        let Some(hook) = q::webhook(&self.db, p.lead.site_id).await? else {
            return Ok(true);
        };
        let attempt = self
            .post(
                &hook,
                &LeadPayload {
                    id: p.lead.id,
                    email: p.lead.email.clone(),
                    site_id: p.lead.site_id,
                    bar_id: p.bar,
                    deployment_id: p.lead.deployment_id.0,
                    created_at: p.lead.created_at,
                    test: false,
                },
            )
            .await;
        let number = p.lead.webhook_attempts + 1;
        q::record_delivery(
            &self.db,
            p.lead.site_id,
            Some(p.lead.id),
            number,
            now,
            attempt.ok,
            attempt.status_code,
            attempt.error.clone(),
            false,
        )
        .await?;
        if attempt.ok {
            if hook.failing_notified_at.is_some() {
                q::set_failing_notified(&self.db, p.lead.site_id, None).await?;
            }
            return Ok(true);
        }
        let first_failed = p.lead.webhook_first_failed_at.unwrap_or(now);
        if now - first_failed >= Duration::hours(RETRY_HOURS) {
            q::flag(&self.db, p.lead.id, now).await?;
            tracing::warn!(lead_id = p.lead.id, site_id = %p.lead.site_id, "a lead's webhook kept failing; flagged");
            if hook.failing_notified_at.is_none() {
                self.tell_failing(p, &hook, number, first_failed, &attempt)
                    .await?;
            }
        } else {
            q::webhook_failed(
                &self.db,
                p.lead.id,
                number,
                now + backoff(number),
                first_failed,
            )
            .await?;
        }
        Ok(false)
    }

    async fn tell_failing(
        &self,
        p: &q::Pending,
        hook: &lead_webhook::Model,
        failures: i32,
        since: DateTime<Utc>,
        last: &Attempt,
    ) -> anyhow::Result<()> {
        let Some(m) = crate::db::accounts::member_by_id(&self.db, p.member).await? else {
            return Ok(());
        };
        let (site, _) = names(&self.db, p.lead.site_id, p.bar).await?;
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        self.mailer
            .enqueue(
                &txn,
                Recipient {
                    address: &m.email,
                    member_id: Some(m.id),
                },
                &format!("lead_failing:{}:{}", p.lead.site_id, now.timestamp()),
                &LeadDeliveryFailing {
                    site,
                    webhook_host: host_of(&hook.url),
                    failures: u32::try_from(failures).unwrap_or(0),
                    since: crate::billing::day(since),
                    last_status: last
                        .status_code
                        .map(|s| format!("HTTP {s}"))
                        .or_else(|| last.error.clone()),
                    settings_url: format!("{}/sites/{}#leads", self.base_url, p.lead.site_id),
                },
            )
            .await?;
        q::set_failing_notified(&txn, p.lead.site_id, Some(now)).await?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// The `purge_leads` job: leads kept past their member's chosen days go.
    pub async fn purge(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let old: Vec<i64> = q::kept(&self.db)
            .await?
            .into_iter()
            .filter(|(_, at, days)| *at + Duration::days(i64::from(*days)) <= now)
            .map(|(id, _, _)| id)
            .collect();
        q::delete_leads(&self.db, &old).await?;
        if !old.is_empty() {
            tracing::info!(leads = old.len(), "kept leads past their retention deleted");
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
        assert_eq!(backoff(1), Duration::seconds(5));
        assert_eq!(backoff(2), Duration::seconds(10));
        assert_eq!(backoff(3), Duration::seconds(20));
        assert_eq!(backoff(20), Duration::seconds(3600));
    }

    #[test]
    fn private_addresses_are_told_apart() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "100.64.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::"] {
            assert!(!private(ip.parse().unwrap()), "{ip}");
        }
    }
}
