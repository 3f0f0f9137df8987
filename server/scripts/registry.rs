//! Which deployments can receive events, and on which hostnames: an in-memory map kept
//! in step with the database, so the event hot path never queries it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use crate::clock::Clock;
use crate::db::Db;
use crate::db::entities::{deployment, site_hostname};
use crate::domain::bar::Goal;
use crate::domain::{DeploymentId, Hostname, SiteId};

/// Pages still open when a deployment ends may report a little later.
pub const LATE_EVENTS: chrono::Duration = chrono::Duration::minutes(10);
/// An id confirmed unknown is not looked up again for this long.
const MISSING_TTL: Duration = Duration::from_secs(30);
const MAX_MISSING: usize = 100_000;

#[derive(Debug, Clone)]
pub struct DeploymentInfo {
    pub site_id: SiteId,
    pub goal: Goal,
    pub hostnames: Arc<[Hostname]>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The bar holds a share of its visitors out.
    pub holds_out: bool,
    /// The ids of the site's goals.
    pub goals: Arc<[i64]>,
}

impl DeploymentInfo {
    /// The site hostname entry a page hostname belongs to.
    pub fn hostname_for(&self, host: &str) -> Option<&Hostname> {
        self.hostnames.iter().find(|h| h.matches(host))
    }
}

/// A site's hostnames and goal ids, shared by the entries of its deployments.
type SiteParts = (Arc<[Hostname]>, Arc<[i64]>);

/// Ids come from the database, not from visitors (a lookup never inserts): a fast hasher
/// is safe.
type ById = HashMap<i64, Arc<DeploymentInfo>, foldhash::fast::RandomState>;

pub struct Registry {
    clock: Clock,
    by_id: RwLock<ById>,
    missing: Mutex<HashMap<i64, Instant>>,
}

impl Registry {
    pub fn new(clock: Clock) -> Registry {
        Registry {
            clock,
            by_id: RwLock::new(HashMap::default()),
            missing: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, id: i64) -> Option<Arc<DeploymentInfo>> {
        self.by_id
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// Whether `id` was looked up recently and did not exist.
    pub fn known_missing(&self, id: i64) -> bool {
        let missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
        missing
            .get(&id)
            .is_some_and(|at| at.elapsed() < MISSING_TTL)
    }

    pub fn len(&self) -> usize {
        self.by_id.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads every deployment that can still receive events.
    pub async fn load_all(&self, db: &Db) -> anyhow::Result<()> {
        let deployments = deployment::Entity::find()
            .filter(self.receiving())
            .all(db)
            .await?;
        let fresh = build(db, deployments).await?;
        *self.by_id.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Reloads the deployments of sites that changed (a publish, a pause, new hostnames).
    pub async fn reload_sites(&self, db: &Db, site_ids: &[SiteId]) -> anyhow::Result<()> {
        if site_ids.is_empty() {
            return Ok(());
        }
        let deployments = deployment::Entity::find()
            .filter(deployment::Column::SiteId.is_in(site_ids.iter().copied()))
            .filter(self.receiving())
            .all(db)
            .await?;
        let fresh = build(db, deployments).await?;
        let mut map = self.by_id.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, info| !site_ids.contains(&info.site_id));
        map.extend(fresh);
        drop(map);
        let mut missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
        missing.clear();
        Ok(())
    }

    /// A bar of `site` was published in this process: `ended` stopped at `at` and
    /// `created` began. Applied to the map as it is, without reading the site again: the
    /// cost is the bar's, whatever the size of the site. The site's hostnames and goals
    /// come from its entries already here (every change to them reloads the site); a
    /// site with none yet is read from the database.
    pub async fn published(
        &self,
        db: &Db,
        site: SiteId,
        ended: &[DeploymentId],
        created: &[deployment::Model],
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let Some((hostnames, goals)) = self.parts_of(site, ended) else {
            return self.reload_sites(db, &[site]).await;
        };
        let fresh: Vec<(i64, Arc<DeploymentInfo>)> = created
            .iter()
            .map(|d| (d.id.0, Arc::new(info(d, hostnames.clone(), goals.clone()))))
            .collect();
        {
            let mut map = self.by_id.write().unwrap_or_else(|e| e.into_inner());
            for id in ended {
                if let Some(old) = map.get_mut(&id.0).filter(|old| old.ended_at.is_none()) {
                    *old = Arc::new(DeploymentInfo {
                        ended_at: Some(at),
                        ..DeploymentInfo::clone(old)
                    });
                }
            }
            map.extend(fresh);
        }
        // An id looked up before it existed is found at once now.
        let mut missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
        for d in created {
            missing.remove(&d.id.0);
        }
        Ok(())
    }

    /// The hostnames and goals of a site the map knows, from the first of `hint` that
    /// is here, else from any entry of the site.
    fn parts_of(&self, site: SiteId, hint: &[DeploymentId]) -> Option<SiteParts> {
        let map = self.by_id.read().unwrap_or_else(|e| e.into_inner());
        hint.iter()
            .filter_map(|id| map.get(&id.0))
            .chain(map.values())
            .find(|i| i.site_id == site)
            .map(|i| (i.hostnames.clone(), i.goals.clone()))
    }

    /// Looks up ids the map does not know (published a moment ago in another process).
    /// Those that do not exist are remembered as missing for a while.
    pub async fn resolve(&self, db: &Db, ids: &[i64]) -> anyhow::Result<()> {
        let found = deployment::Entity::find()
            .filter(deployment::Column::Id.is_in(ids.iter().map(|id| DeploymentId(*id))))
            .all(db)
            .await?;
        let fresh = build(db, found).await?;
        let now = Instant::now();
        {
            let mut missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
            if missing.len() > MAX_MISSING {
                missing.retain(|_, at| at.elapsed() < MISSING_TTL);
            }
            for id in ids {
                if !fresh.contains_key(id) && missing.len() < MAX_MISSING {
                    missing.insert(*id, now);
                }
            }
        }
        self.by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .extend(fresh);
        Ok(())
    }

    /// Forgets deployments that ended too long ago to receive events.
    pub fn prune(&self, now: DateTime<Utc>) {
        let cutoff = now - LATE_EVENTS - chrono::Duration::minutes(1);
        self.by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, info| info.ended_at.is_none_or(|e| e > cutoff));
        self.missing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, at| at.elapsed() < MISSING_TTL);
    }
}

impl Registry {
    /// Deployments still live, or ended recently enough that open pages may still report.
    fn receiving(&self) -> Condition {
        Condition::any()
            .add(deployment::Column::EndedAt.is_null())
            .add(deployment::Column::EndedAt.gt(self.clock.now() - LATE_EVENTS))
    }
}

async fn build(db: &Db, deployments: Vec<deployment::Model>) -> anyhow::Result<ById> {
    let mut site_ids: Vec<SiteId> = deployments.iter().map(|d| d.site_id).collect();
    site_ids.sort_unstable();
    site_ids.dedup();
    let mut hostnames: HashMap<SiteId, Vec<Hostname>> = HashMap::new();
    for chunk in site_ids.chunks(500) {
        for h in site_hostname::Entity::find()
            .filter(site_hostname::Column::SiteId.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            if let Ok(name) = Hostname::parse(&h.hostname, "hostname") {
                hostnames.entry(h.site_id).or_default().push(name);
            }
        }
    }
    let shared: HashMap<SiteId, Arc<[Hostname]>> = hostnames
        .into_iter()
        .map(|(k, v)| (k, Arc::from(v)))
        .collect();
    let goals: HashMap<SiteId, Arc<[i64]>> = crate::db::goals::ids_of_sites(db, &site_ids)
        .await?
        .into_iter()
        .map(|(k, v)| (k, Arc::from(v)))
        .collect();
    let mut out = HashMap::with_capacity_and_hasher(
        deployments.len(),
        foldhash::fast::RandomState::default(),
    );
    for d in deployments {
        let hostnames = shared.get(&d.site_id).cloned();
        let site_goals = goals.get(&d.site_id).cloned();
        let info = info(
            &d,
            hostnames.unwrap_or_else(|| Arc::from(Vec::new())),
            site_goals.unwrap_or_else(|| Arc::from(Vec::new())),
        );
        out.insert(d.id.0, Arc::new(info));
    }
    Ok(out)
}

fn info(d: &deployment::Model, hostnames: Arc<[Hostname]>, goals: Arc<[i64]>) -> DeploymentInfo {
    DeploymentInfo {
        site_id: d.site_id,
        goal: d.snapshot.settings.goal,
        hostnames,
        ended_at: d.ended_at,
        holds_out: d.snapshot.settings.holdout > 0,
        goals,
    }
}
