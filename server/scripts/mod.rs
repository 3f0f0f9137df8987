//! What each site's script tag loads: the site's compiled script (`compiled.rs`, compressed
//! on a thread of its own by `compress.rs`) and the
//! registry of deployments that may receive events (`registry.rs`), both held in memory and kept in step with the
//! database. A change made in this process arrives through the catalogue's
//! [`Listener`](crate::catalog::Listener) and applies at once; a change made by another
//! process is found by the `site_sync` job within about a second (each site carries a
//! version that only grows), deletions within five.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use crate::catalog::{Change, Listener};
use crate::clock::Clock;
use crate::db::Db;
use crate::db::entities::deployment;
use crate::domain::{AccountId, DeploymentId, SiteId};

pub mod compiled;
pub mod compress;
pub mod registry;

pub use compiled::{Compiled, Encoding, Lookup, Scripts};
pub use registry::{DeploymentInfo, LATE_EVENTS, Registry};

/// What an account's plan lets their sites' scripts do. Live asks each time it builds
/// a script; billing answers. Whoever changes the answer bumps the sites' script versions.
pub trait Policy: Send + Sync {
    fn for_account(&self, account: AccountId) -> BoxFuture<'_, anyhow::Result<SitePolicy>>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitePolicy {
    /// The "powered by" line shows on every bar, whatever was published.
    pub branding_required: bool,
    /// No bar is served, and why (the plan's monthly views are used up).
    pub paused: Option<String>,
}

/// Several policies at once: the powered-by line shows if any requires it, and no bar is
/// served if any pauses the site (the plan's views, the account's restriction).
pub struct Policies(pub Vec<Arc<dyn Policy>>);

impl Policy for Policies {
    fn for_account(&self, account: AccountId) -> BoxFuture<'_, anyhow::Result<SitePolicy>> {
        Box::pin(async move {
            let mut all = SitePolicy::default();
            for p in &self.0 {
                let one = p.for_account(account).await?;
                all.branding_required |= one.branding_required;
                if all.paused.is_none() {
                    all.paused = one.paused;
                }
            }
            Ok(all)
        })
    }
}

/// Changes are looked for this far back, for writers whose clock runs behind ours.
const POLL_OVERLAP: chrono::Duration = chrono::Duration::seconds(10);
/// A full comparison, which also notices deleted sites, runs this often. It reads three
/// small columns per site, cheap even for many thousands of sites.
const FULL_EVERY: chrono::Duration = chrono::Duration::seconds(5);

/// What is live on accounts' sites: each site's compiled script and the registry of the
/// deployments that may receive events.
pub struct Live {
    db: Db,
    clock: Clock,
    pub scripts: Scripts,
    pub registry: Arc<Registry>,
    /// When the last full comparison ran, and when the last poll started.
    polled: Mutex<Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>>,
}

impl Live {
    /// Learns every site's script version and every deployment that can receive events.
    pub async fn load(
        db: Db,
        clock: Clock,
        policy: Arc<dyn Policy>,
        base_url: &str,
        countries: Option<Arc<crate::geo::Countries>>,
    ) -> anyhow::Result<Live> {
        let scripts = Scripts::load(db.clone(), policy, base_url, countries).await?;
        let registry = Arc::new(Registry::new(clock.clone()));
        registry.load_all(&db).await?;
        Ok(Live {
            db,
            clock,
            scripts,
            registry,
            polled: Mutex::new(None),
        })
    }

    async fn refresh(&self, site: SiteId) -> anyhow::Result<()> {
        self.scripts.refresh_site(site).await?;
        self.registry.reload_sites(&self.db, &[site]).await
    }

    /// After a publish in this process: the registry learns the bar's deployments from
    /// the publish itself rather than reading the whole site again, unless the site's
    /// version moved by more than this publish (another process changed the site, its
    /// hostnames perhaps, since this one last looked): then the site is read whole.
    async fn published(
        &self,
        site: SiteId,
        ended: &[DeploymentId],
        created: &[deployment::Model],
        at: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        match self.scripts.refresh_site(site).await? {
            Some(step) if step <= 1 => {
                self.registry
                    .published(&self.db, site, ended, created, at)
                    .await
            }
            _ => self.registry.reload_sites(&self.db, &[site]).await,
        }
    }

    /// One round of the `site_sync` job: picks up what other processes changed.
    pub async fn sync(&self) -> anyhow::Result<()> {
        let started = self.clock.now();
        let (full, since) = {
            let mut polled = self.polled.lock().unwrap_or_else(|e| e.into_inner());
            let (last_full, last_poll) = polled.unwrap_or((started - FULL_EVERY, started));
            let full = started - last_full >= FULL_EVERY;
            *polled = Some((if full { started } else { last_full }, started));
            (full, last_poll - POLL_OVERLAP)
        };
        let changed = if full {
            self.scripts.reload_all().await?
        } else {
            self.scripts.poll(since).await?
        };
        self.registry.reload_sites(&self.db, &changed).await
    }
}

impl Listener for Live {
    fn changed<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let (site, result) = match change {
                Change::SiteChanged(site) => (*site, self.refresh(*site).await),
                Change::BarPublished {
                    site,
                    ended,
                    created,
                    at,
                } => (*site, self.published(*site, ended, created, *at).await),
                Change::SiteDeleted { site, key } => {
                    self.scripts.forget(key);
                    (*site, self.registry.reload_sites(&self.db, &[*site]).await)
                }
            };
            if let Err(err) = result {
                tracing::warn!(
                    site_id = %site,
                    error = format!("{err:#}"),
                    "could not refresh a changed site; the next sync will"
                );
            }
        })
    }
}
