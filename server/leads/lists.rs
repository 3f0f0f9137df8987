//! A site's list forward: its leads added to a list at the member's email service
//! provider ([`esp`](super::esp)). The member gives a key (ActiveCampaign: and the
//! account's API URL); barkeep reads the lists it sees, which checks it, and the member
//! picks one. The key is sealed at rest and shown only as its last four characters.
//!
//! Delivery runs in the `lead_delivery` job beside the webhook: each run takes a few due
//! leads of every site in turn (no more than the provider allows a key in the job's
//! period), adds a site's leads one after another and sites side by side. The outcome
//! decides what follows: added (or already there) is delivered; an address the provider
//! will never take is dropped from this forward and the attempt says why; a 429 pauses
//! the forward for as long as the provider asked; a 5xx or no answer retries the lead
//! later, for up to a day; a refused key or a list that is gone stops the forward, and
//! the account's owners are emailed once. A stopped forward keeps its leads until the
//! member saves it again.

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::esp::{Credentials, DoubleOptIn, ListChoice, Outcome, Provider};
use super::{Attempt, Leads, RETRY_HOURS, names};
use crate::db::entities::{lead_delivery, list_forward};
use crate::db::leads::{self as q, Due, Forward};
use crate::db::list_forwards as lf;
use crate::domain::{AccountId, SiteId};
use crate::error::{Error, Result};
use crate::mail::{EmailKind, EmailTemplate, Recipient};

/// Leads of one site taken per run at most, and in all.
const ADDS_PER_SITE: u64 = 50;
const ADDS_PER_RUN: u64 = 1000;
/// Sites whose leads are added side by side.
const SITES_AT_ONCE: usize = 16;
/// How often the delivery job runs, which with a provider's rate makes a run's share.
const RUN_EVERY_SECS: u32 = 5;
/// The address a test adds: made up, on a domain that receives no mail.
pub const TEST_ADDRESS: &str = "barkeep-test@example.com";

/// A forward as the member sets it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardInput {
    pub provider: Provider,
    /// The provider's API key (HubSpot: a private app's token). Leave it out to keep the
    /// saved key of the same provider.
    pub key: Option<String>,
    /// ActiveCampaign only: the account's API URL, `https://<account>.api-us1.com`.
    pub api_url: Option<String>,
    /// One of the ids `lists` answers.
    pub list_id: String,
    /// Ask the provider to confirm each address first. On by default where the provider
    /// offers it through its API (Mailchimp, Kit, MailerLite); not accepted elsewhere.
    pub double_opt_in: Option<bool>,
}

/// The key to read lists with: a new one, or the saved one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListsInput {
    pub provider: Provider,
    /// Leave it out to use the saved key of the same provider.
    pub key: Option<String>,
    pub api_url: Option<String>,
}

/// The member was told the forward stopped.
#[derive(Serialize)]
pub struct ListForwardStopped {
    pub site: String,
    pub provider: String,
    pub list: String,
    pub error: String,
    pub waiting: u64,
    pub settings_url: String,
}
impl EmailTemplate for ListForwardStopped {
    fn kind(&self) -> EmailKind {
        EmailKind::ListForwardStopped
    }
}

/// What a sealed key belongs to: a key moved to another site's row does not open.
fn context(site: SiteId) -> String {
    format!("list_forward:{site}")
}

/// What a key waiting for its list belongs to.
fn pending(site: SiteId) -> String {
    format!("pending_key:{site}")
}

/// The key as pasted: trimmed, printable, not absurdly long.
fn clean_key(raw: &str) -> Result<String> {
    let key = raw.trim();
    if key.is_empty() {
        return Err(Error::invalid("key", "paste the provider's API key"));
    }
    if key.chars().count() > 500 || key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid(
            "key",
            "an API key is at most 500 characters, with no spaces or control characters",
        ));
    }
    Ok(key.to_string())
}

fn last4(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// An outcome of reading lists, as the member's error.
fn lists_error(provider: Provider, outcome: Outcome) -> Error {
    match outcome {
        Outcome::Refused { status: 0, error } if provider.needs_api_url() => {
            Error::invalid("api_url", error)
        }
        Outcome::Refused { error, .. } => Error::invalid("key", error),
        Outcome::Retry { error, .. } | Outcome::Dropped { error, .. } => Error::invalid(
            "key",
            format!(
                "could not check the key with {} ({error}); try again in a moment",
                provider.name()
            ),
        ),
        Outcome::Delivered { .. } => Error::invalid("key", "unexpected answer"),
    }
}

/// How a list forward's outcome reads in its attempt.
fn attempt_of(outcome: &Outcome) -> Attempt {
    let status_code = outcome.status().filter(|s| *s > 0).map(i32::from);
    match outcome {
        Outcome::Delivered { existing, .. } => Attempt {
            ok: true,
            status_code,
            error: existing.then(|| "already on the list".to_string()),
        },
        Outcome::Dropped { error, .. } => Attempt {
            ok: false,
            status_code,
            error: Some(format!(
                "the provider will not take this address ({error}); dropped"
            )),
        },
        Outcome::Retry { error, .. } | Outcome::Refused { error, .. } => Attempt {
            ok: false,
            status_code,
            error: Some(error.clone()),
        },
    }
}

/// Whether to go on with the site's next lead in this run.
enum Next {
    Go,
    Halt,
}

impl Leads {
    pub async fn list_forward(&self, site: SiteId) -> Result<Option<list_forward::Model>> {
        Ok(lf::forward(&self.db, site).await?)
    }

    /// The saved key of the site's forward, if it is for `provider` and still opens.
    async fn saved_key(&self, site: SiteId, provider: Provider) -> Result<Option<String>> {
        let Some(f) = lf::forward(&self.db, site).await? else {
            return Ok(None);
        };
        if f.provider != provider.slug() {
            return Ok(None);
        }
        Ok(self
            .sealer
            .open(&f.key_sealed, &context(site))
            .map(|k| k.expose().clone()))
    }

    async fn key_for(
        &self,
        site: SiteId,
        provider: Provider,
        given: Option<&str>,
    ) -> Result<String> {
        match given {
            Some(raw) => clean_key(raw),
            None => self.saved_key(site, provider).await?.ok_or_else(|| {
                Error::invalid("key", format!("paste your {} API key", provider.name()))
            }),
        }
    }

    fn api_url(provider: Provider, given: Option<&str>) -> Result<Option<String>> {
        match (provider.needs_api_url(), given.map(str::trim)) {
            (true, Some(url)) if !url.is_empty() && url.len() <= 300 => Ok(Some(url.to_string())),
            (true, _) => Err(Error::invalid(
                "api_url",
                "give your account's API URL (Settings → Developer), like https://youraccount.api-us1.com",
            )),
            (false, None) => Ok(None),
            (false, Some(_)) => Err(Error::invalid(
                "api_url",
                format!("{} needs no API URL", provider.name()),
            )),
        }
    }

    /// The lists a key sees (reading them checks it).
    pub async fn lists(&self, site: SiteId, input: &ListsInput) -> Result<Vec<ListChoice>> {
        let provider = input.provider;
        let key = self.key_for(site, provider, input.key.as_deref()).await?;
        let api_url = match (&input.api_url, input.key.is_none()) {
            // The saved key goes with the saved URL.
            (None, true) => lf::forward(&self.db, site).await?.and_then(|f| f.api_url),
            (given, _) => Self::api_url(provider, given.as_deref())?,
        };
        let creds = Credentials {
            key: &key,
            api_url: api_url.as_deref(),
        };
        self.esp
            .lists(provider, creds)
            .await
            .map_err(|o| lists_error(provider, o))
    }

    /// Sets the site's forward after checking the key and that the list is one it sees.
    pub async fn set_list_forward(
        &self,
        site: SiteId,
        input: ForwardInput,
    ) -> Result<list_forward::Model> {
        let provider = input.provider;
        let double_opt_in = match (provider.double_opt_in(), input.double_opt_in) {
            (DoubleOptIn::Switch, choice) => choice.unwrap_or(true),
            (_, None | Some(false)) => false,
            (DoubleOptIn::ListDecides, Some(true)) => {
                return Err(Error::invalid(
                    "double_opt_in",
                    format!(
                        "{}'s list setting decides whether addresses are confirmed",
                        provider.name()
                    ),
                ));
            }
            (DoubleOptIn::NotOffered, Some(true)) => {
                return Err(Error::invalid(
                    "double_opt_in",
                    format!("{}'s API does not offer double opt-in", provider.name()),
                ));
            }
        };
        let list_id = input.list_id.trim();
        if list_id.is_empty() || list_id.len() > 200 {
            return Err(Error::invalid(
                "list_id",
                "pick one of the lists the key sees",
            ));
        }
        let kept_url = input.api_url.is_none() && input.key.is_none();
        let lists = self
            .lists(
                site,
                &ListsInput {
                    provider,
                    key: input.key.clone(),
                    api_url: input.api_url.clone(),
                },
            )
            .await?;
        let Some(list) = lists.into_iter().find(|l| l.id == list_id) else {
            return Err(Error::invalid(
                "list_id",
                format!("not one of the lists this {} key sees", provider.name()),
            ));
        };
        let key = self.key_for(site, provider, input.key.as_deref()).await?;
        let api_url = if kept_url {
            lf::forward(&self.db, site).await?.and_then(|f| f.api_url)
        } else {
            Self::api_url(provider, input.api_url.as_deref())?
        };
        let now = self.clock.now();
        let created_at = lf::forward(&self.db, site)
            .await?
            .map_or(now, |f| f.created_at);
        let row = list_forward::Model {
            site_id: site,
            provider: provider.slug().to_string(),
            key_sealed: self.sealer.seal(&key, &context(site)),
            key_last4: last4(&key),
            api_url,
            list_id: list.id,
            list_name: list.name.chars().take(200).collect(),
            double_opt_in,
            created_at,
            updated_at: now,
            paused_until: None,
            stopped_at: None,
            stopped_error: None,
            stopped_notified_at: None,
        };
        Ok(lf::put_forward(&self.db, row).await?)
    }

    /// A key pasted in the dashboard, sealed while the member picks a list, so the page
    /// never shows it back in clear.
    pub fn seal_pending(&self, site: SiteId, key: &str) -> Result<String> {
        Ok(self.sealer.seal(&clean_key(key)?, &pending(site)))
    }

    /// A key [`Leads::seal_pending`] sealed for this site.
    pub fn open_pending(&self, site: SiteId, sealed: &str) -> Option<String> {
        self.sealer
            .open(sealed, &pending(site))
            .map(|k| k.expose().clone())
    }

    pub async fn delete_list_forward(&self, site: SiteId) -> Result<()> {
        if !lf::delete_forward(&self.db, site).await? {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    pub async fn list_deliveries(&self, site: SiteId) -> Result<Vec<lead_delivery::Model>> {
        Ok(q::deliveries(&self.db, site, false, 100).await?)
    }

    /// The test a member asks for: the made-up [`TEST_ADDRESS`] added to the list now,
    /// recorded. It counts with the webhook's tests.
    pub async fn test_list_forward(&self, account: AccountId, site: SiteId) -> Result<Attempt> {
        let forward = lf::forward(&self.db, site).await?.ok_or(Error::NotFound)?;
        let provider = Provider::parse(&forward.provider).ok_or(Error::NotFound)?;
        let _slot = self.reserve_test(account).await?;
        let outcome = match self.sealer.open(&forward.key_sealed, &context(site)) {
            Some(key) => {
                let creds = Credentials {
                    key: key.expose(),
                    api_url: forward.api_url.as_deref(),
                };
                self.esp
                    .subscribe(
                        provider,
                        creds,
                        &forward.list_id,
                        TEST_ADDRESS,
                        forward.double_opt_in,
                    )
                    .await
            }
            None => unreadable_key(),
        };
        let attempt = attempt_of(&outcome);
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
            provider.slug(),
        )
        .await?;
        Ok(attempt)
    }

    /// Adds the leads whose list forward is due: sites side by side, each site's leads
    /// one after another, no more per site than its provider allows in a run.
    pub(super) async fn add_due(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let due = q::due(&self.db, Forward::List, now, ADDS_PER_SITE, ADDS_PER_RUN).await?;
        if due.is_empty() {
            return Ok(());
        }
        let mut by_site: Vec<(SiteId, Vec<Due>)> = Vec::new();
        for d in due {
            match by_site.iter_mut().find(|(s, _)| *s == d.lead.site_id) {
                Some((_, list)) => list.push(d),
                None => by_site.push((d.lead.site_id, vec![d])),
            }
        }
        let sites: Vec<SiteId> = by_site.iter().map(|(s, _)| *s).collect();
        let forwards = lf::forwards_of(&self.db, &sites).await?;
        let work = by_site.into_iter().filter_map(|(site, leads)| {
            let forward = forwards.iter().find(|f| f.site_id == site)?.clone();
            let leads_ = self.clone();
            Some(async move { leads_.add_site(forward, leads, now).await })
        });
        let outcomes: Vec<anyhow::Result<()>> = futures_util::stream::iter(work)
            .buffer_unordered(SITES_AT_ONCE)
            .collect()
            .await;
        outcomes.into_iter().collect()
    }

    async fn add_site(
        &self,
        forward: list_forward::Model,
        leads: Vec<Due>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let Some(provider) = Provider::parse(&forward.provider) else {
            return Ok(());
        };
        let Some(key) = self
            .sealer
            .open(&forward.key_sealed, &context(forward.site_id))
        else {
            if let Some(first) = leads.first() {
                let Outcome::Refused { error, .. } = unreadable_key() else {
                    return Ok(());
                };
                self.stop(&forward, first, &error, now).await?;
            }
            return Ok(());
        };
        let share = (provider.adds_per_minute() * RUN_EVERY_SECS / 60).max(1) as usize;
        for d in leads.iter().take(share) {
            let creds = Credentials {
                key: key.expose(),
                api_url: forward.api_url.as_deref(),
            };
            let outcome = self
                .esp
                .subscribe(
                    provider,
                    creds,
                    &forward.list_id,
                    &d.lead.email,
                    forward.double_opt_in,
                )
                .await;
            if let Next::Halt = self.settle(&forward, provider, d, outcome, now).await? {
                break;
            }
        }
        Ok(())
    }

    /// Records how one add went and acts on it.
    async fn settle(
        &self,
        forward: &list_forward::Model,
        provider: Provider,
        d: &Due,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Next> {
        let p = &d.lead;
        let number = p.list_attempts + 1;
        let attempt = attempt_of(&outcome);
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
            provider.slug(),
        )
        .await?;
        let next = match &outcome {
            Outcome::Delivered { .. } | Outcome::Dropped { .. } => {
                lf::done(&txn, p.id).await?;
                txn.commit().await?;
                if let Outcome::Dropped { status, .. } = outcome {
                    tracing::info!(lead_id = p.id, site_id = %p.site_id, provider = provider.slug(), status, "the provider will not take a lead's address; dropped from the list forward");
                }
                Next::Go
            }
            Outcome::Retry {
                status: Some(429),
                after,
                ..
            } => {
                let wait = after.unwrap_or(provider.default_wait());
                let until = now + Duration::from_std(wait).unwrap_or(Duration::seconds(30));
                lf::pause(&txn, p.site_id, until).await?;
                // Not a failure of the lead: its day of retries does not start.
                lf::again(&txn, p.id, number, until, p.list_first_failed_at).await?;
                txn.commit().await?;
                tracing::info!(site_id = %p.site_id, provider = provider.slug(), wait_secs = wait.as_secs(), "the provider asked barkeep to wait");
                Next::Halt
            }
            Outcome::Retry { after, error, .. } => {
                let first_failed = p.list_first_failed_at.unwrap_or(now);
                if now - first_failed >= Duration::hours(RETRY_HOURS) {
                    txn.commit().await?;
                    let error = format!(
                        "{} did not accept leads for a day ({error})",
                        provider.name()
                    );
                    self.stop(forward, d, &error, now).await?;
                    return Ok(Next::Halt);
                }
                let asked = after
                    .and_then(|a| Duration::from_std(a).ok())
                    .unwrap_or_default();
                let next = now + crate::egress::retry_wait(number).max(asked);
                lf::again(&txn, p.id, number, next, Some(first_failed)).await?;
                txn.commit().await?;
                Next::Halt
            }
            Outcome::Refused { error, .. } => {
                txn.commit().await?;
                self.stop(forward, d, error, now).await?;
                Next::Halt
            }
        };
        Ok(next)
    }

    /// Stops the forward and tells the account's owners, once per stop.
    async fn stop(
        &self,
        forward: &list_forward::Model,
        d: &Due,
        error: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let site = forward.site_id;
        let txn = crate::db::begin(&self.db).await?;
        if !lf::stop(&txn, site, now, error).await? {
            txn.commit().await?;
            return Ok(());
        }
        tracing::warn!(site_id = %site, provider = %forward.provider, "a list forward was stopped: {error}");
        let (site_name, _) = names(&self.db, site, d.bar).await?;
        let waiting = lf::waiting(&txn, site).await?;
        let email = ListForwardStopped {
            site: site_name,
            provider: Provider::parse(&forward.provider)
                .map_or(forward.provider.clone(), |p| p.name().to_string()),
            list: forward.list_name.clone(),
            error: error.to_string(),
            waiting,
            settings_url: format!("{}/sites/{site}/lists", self.base_url),
        };
        for m in crate::db::teams::owners_of(&txn, d.account).await? {
            self.mailer
                .enqueue(
                    &txn,
                    Recipient {
                        address: &m.email,
                        member_id: Some(m.id),
                    },
                    &format!("list_stopped:{site}:{}:{}", now.timestamp(), m.id),
                    &email,
                )
                .await?;
        }
        lf::set_stopped_notified(&txn, site, now).await?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(())
    }
}

/// A key sealed under another server secret key.
fn unreadable_key() -> Outcome {
    Outcome::Refused {
        status: 0,
        error:
            "the saved key can no longer be read (the server's secret key changed); paste it again"
                .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_the_last_four_characters_are_kept_in_clear() {
        assert_eq!(last4("abcdef0123456789-us6"), "-us6");
        assert_eq!(last4("ab"), "ab");
        assert_eq!(last4("ééééé"), "éééé");
    }

    proptest! {
        #[test]
        fn any_pasted_key_is_cleaned_or_refused(raw in "\\PC{0,600}|[ \\t\\n\\u{0}\\u{202e}a-z]{0,20}") {
            match clean_key(&raw) {
                Ok(key) => {
                    prop_assert!(!key.is_empty() && key.chars().count() <= 500);
                    prop_assert!(!key.chars().any(|c| c.is_control() || c.is_whitespace()));
                    prop_assert!(last4(&key).chars().count() <= 4);
                }
                Err(e) => prop_assert!(matches!(e, Error::Invalid(_))),
            }
        }
    }
}
