//! The catalogue: an account's sites, their bars and variants, and publishing. A publish
//! freezes every variant of a bar into a deployment; counts belong to deployments.
//!
//! Whoever must learn that what a site shows has changed (the script delivery, and later
//! billing, leads and erasure) subscribes as a [`Listener`]; the catalogue calls no other
//! subsystem itself.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::catalog as q;
use crate::db::entities::{bar, deployment, site, variant};
use crate::domain::{AccountId, BarId, DeploymentId, SiteId, VariantId};
use crate::error::{Error, Result};

pub mod bars;
mod content;
pub mod goals;
pub mod limits;
pub mod sites;
pub mod variants;

pub use bars::{Bar, BarInput, NO_COUNTRIES, Rules, Status, default_settings, draft, settings_of};
pub use content::{ContentPatch, content_of, default_content};
pub use sites::Site;
pub use variants::VariantInput;

/// A site serves a different script from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Its hostnames, or what is live on it, changed (a new site counts too).
    SiteChanged(SiteId),
    /// One bar of it was published: its deployments `ended` stopped at `at` and `created`
    /// began; nothing else on the site changed.
    BarPublished {
        site: SiteId,
        ended: Vec<DeploymentId>,
        created: Vec<deployment::Model>,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// It is gone, with everything on it.
    SiteDeleted { site: SiteId, key: String },
}

/// Told of every [`Change`] after it is committed.
pub trait Listener: Send + Sync {
    fn changed<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, ()>;
}

#[derive(Clone)]
pub struct Catalog {
    db: Db,
    clock: Clock,
    listeners: Arc<Vec<Arc<dyn Listener>>>,
    /// Whether visitors' countries can be looked up, so bars may target countries.
    countries: bool,
}

impl Catalog {
    pub fn new(db: Db, clock: Clock, listeners: Vec<Arc<dyn Listener>>) -> Self {
        Catalog {
            db,
            clock,
            listeners: Arc::new(listeners),
            countries: false,
        }
    }

    /// Lets bars target countries (the server can look visitors' countries up).
    pub fn with_countries(mut self, on: bool) -> Self {
        self.countries = on;
        self
    }

    /// Whether bars may target countries.
    pub fn countries(&self) -> bool {
        self.countries
    }

    /// The rules a bar's settings are checked by, now.
    pub fn rules<'a>(&self, limits: &'a crate::plans::Limits) -> Rules<'a> {
        Rules {
            limits,
            countries: self.countries,
            now: self.clock.now(),
        }
    }

    async fn emit(&self, change: Change) {
        for listener in self.listeners.iter() {
            listener.changed(&change).await;
        }
    }

    // ---- what an account owns: `None` for anything that is not theirs ----

    pub async fn site_of(&self, account: AccountId, id: SiteId) -> Result<Option<site::Model>> {
        Ok(q::site_of(&self.db, account, id).await?)
    }

    pub async fn bar_of(&self, account: AccountId, id: BarId) -> Result<Option<bar::Model>> {
        Ok(q::bar_of(&self.db, account, id).await?)
    }

    pub async fn variant_of(&self, bar: BarId, id: VariantId) -> Result<Option<variant::Model>> {
        Ok(q::variant_of(&self.db, bar, id).await?)
    }

    pub async fn deployment_of(
        &self,
        account: AccountId,
        id: DeploymentId,
    ) -> Result<Option<deployment::Model>> {
        Ok(q::deployment_of(&self.db, account, id).await?)
    }
}

/// A limit of the account's plan, or a cap of barkeep's own, would be passed by one more.
fn check_room(what: &'static str, plan_limit: Option<u64>, cap: u64, current: u64) -> Result<()> {
    if let Some((limit, current)) = crate::plans::over(plan_limit, current) {
        return Err(Error::Limit {
            code: match what {
                "sites" => "site_limit",
                "bars" => "bar_limit",
                _ => "variant_limit",
            },
            message: format!(
                "your plan allows {limit} {what} here and there are {current}; upgrade the plan or delete one first"
            ),
            limit,
            current,
        });
    }
    if current >= cap {
        return Err(Error::conflict(
            match what {
                "sites" => "too_many_sites",
                "bars" => "too_many_bars",
                _ => "too_many_variants",
            },
            format!("at most {cap} {what} here; delete one first"),
        ));
    }
    Ok(())
}
