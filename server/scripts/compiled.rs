//! The per-site script: the core of the bar runtime with the modules the site's live
//! bars need and their configuration spliced in, compressed (brotli and gzip; see
//! `compress.rs`) and
//! served from memory, its response headers prepared once. A site with bars shown by
//! country gets one script per country, each built on its first request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, RwLock, Weak};

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use hyper::http::header::{self, HeaderName};
use hyper::http::{HeaderMap, HeaderValue};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Policy;
use super::compress::{self, Compressor, Packed, Polish};
use crate::db::entities::deployment;
use crate::db::{Db, catalog as q};
use crate::domain::bar::{Modules, RuntimeBar, Snapshot};
use crate::domain::{Allocation, DeploymentId, SiteId};
use crate::geo::Countries;

/// The minified runtime in parts, built from `widget/src` by `widget/build.mjs` (run by
/// `server/build.rs`): a script is `head`, the modules it needs, then `tail`.
#[derive(serde::Deserialize)]
pub struct Runtime {
    pub head: String,
    pub tail: String,
    /// In the order they must follow each other.
    pub modules: Vec<(String, String)>,
    /// The modules each module needs in turn.
    #[serde(default)]
    pub needs: HashMap<String, Vec<String>>,
}

pub static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    serde_json::from_str(include_str!(concat!(env!("OUT_DIR"), "/runtime.json")))
        .expect("the runtime parts built by server/build.rs")
});
const PLACEHOLDER: &str = "__BK_CONFIG__";

impl Runtime {
    /// The modules `wanted` with everything they need in turn, in the runtime's order.
    /// A name the runtime does not have is left out (the tests check that every name
    /// the server asks for exists).
    pub fn resolve(&self, wanted: &Modules) -> Vec<&str> {
        let mut all: Vec<&str> = wanted.iter().copied().collect();
        let mut i = 0;
        while i < all.len() {
            for n in self.needs.get(all[i]).into_iter().flatten() {
                if !all.contains(&n.as_str()) {
                    all.push(n);
                }
            }
            i += 1;
        }
        self.modules
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| all.contains(name))
            .collect()
    }

    /// A whole script: the parts for `modules` with the configuration in place of its
    /// placeholder (a plain replacement: nothing in the JSON is interpreted).
    pub fn assemble(&self, config_json: &str, modules: &Modules) -> String {
        let chosen = self.resolve(modules);
        let mut js = String::with_capacity(self.head.len() + self.tail.len() + 4096);
        js.push_str(&self.head);
        for (name, code) in &self.modules {
            if chosen.contains(&name.as_str()) {
                js.push_str(code);
            }
        }
        js.push_str(&self.tail);
        js.replacen(PLACEHOLDER, config_json, 1)
    }
}

/// Browsers and CDNs keep a site's script a minute, and may use it for ten more while
/// they fetch the new one: a publish reaches visitors within about a minute.
const SITE_CACHE: &str = "public, max-age=60, stale-while-revalidate=600";
/// A script chosen by the visitor's country differs from one visitor to the next: only
/// the browser may keep it.
const COUNTRY_CACHE: &str = "private, max-age=60";
/// An unknown key may become a site soon (a new site, another process): keep it briefly.
const UNKNOWN_CACHE: &str = "public, max-age=10";

/// How a script is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// One script, ready to send in any encoding, its response headers prepared once.
pub struct Compiled {
    pub version: i64,
    pub etag: HeaderValue,
    pub plain: Bytes,
    pub gzip: Bytes,
    /// Brotli, compressed quickly.
    brotli: Bytes,
    /// Brotli at its best, once the script has settled (`compress.rs`).
    best: OnceLock<Bytes>,
    /// Headers of a 200 in each encoding (brotli, gzip, identity) and of a 304.
    headers: [HeaderMap; 4],
}

impl Compiled {
    /// Prepares a compressed script's response headers once.
    fn new(version: i64, packed: Packed, cache: &'static str) -> anyhow::Result<Compiled> {
        let Packed {
            plain: js,
            gzip,
            brotli,
        } = packed;
        let digest = Sha256::digest(js.as_bytes());
        let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{version}-{hash}\""))
            .context("an ETag of hex digits")?;
        let prepared = |encoding: Option<&'static str>, body: bool| {
            // Room for the headers added to every response on the way out.
            let mut h = HeaderMap::with_capacity(12);
            if body {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/javascript; charset=utf-8"),
                );
            }
            if let Some(e) = encoding {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
            }
            h.insert(header::ETAG, etag.clone());
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            // Pages that isolate themselves (COEP) may still load it.
            h.insert(
                HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("cross-origin"),
            );
            h
        };
        Ok(Compiled {
            version,
            headers: [
                prepared(Some("br"), true),
                prepared(Some("gzip"), true),
                prepared(None, true),
                prepared(None, false),
            ],
            etag,
            plain: Bytes::from(js),
            gzip: Bytes::from(gzip),
            brotli: Bytes::from(brotli),
            best: OnceLock::new(),
        })
    }

    /// The body and headers of a 200 in `encoding`.
    pub fn answer(&self, encoding: Encoding) -> (Bytes, HeaderMap) {
        match encoding {
            Encoding::Brotli => (self.brotli().clone(), self.headers[0].clone()),
            Encoding::Gzip => (self.gzip.clone(), self.headers[1].clone()),
            Encoding::Identity => (self.plain.clone(), self.headers[2].clone()),
        }
    }

    /// The brotli form served now: the best one once it is made.
    fn brotli(&self) -> &Bytes {
        self.best.get().unwrap_or(&self.brotli)
    }

    /// The headers of a 304.
    pub fn not_modified(&self) -> HeaderMap {
        self.headers[3].clone()
    }
}

struct Entry {
    site_id: SiteId,
    version: i64,
    compiled: Option<Arc<SiteScript>>,
    /// The build of `version` under way, which every request for it waits for: a burst
    /// of requests after a publish builds the script once.
    building: Option<(i64, Build)>,
}

/// A build every waiter shares; `None` when it failed.
type Build = Shared<BoxFuture<'static, Option<Arc<SiteScript>>>>;

/// A site's script at one version: the same for everyone, or one per country.
pub struct SiteScript {
    version: i64,
    kind: Kind,
}

enum Kind {
    One(Arc<Compiled>),
    ByCountry(ByCountry),
}

/// What a site with bars shown by country serves: its bars, and the script each country
/// (or an unknown one) got, made on its first request.
struct ByCountry {
    site: SiteParts,
    bars: Vec<RuntimeBar>,
    made: Mutex<HashMap<Option<[u8; 2]>, Arc<Compiled>>>,
}

pub enum Lookup {
    Site(Arc<Compiled>),
    /// No site has this key (or it was deleted): a harmless empty script.
    Unknown(Arc<Compiled>),
}

/// What the runtime reads: the event endpoint, the site's hostnames, its live bars and its
/// goals.
#[derive(Serialize)]
struct RuntimeConfig<'a> {
    e: &'a str,
    h: &'a [String],
    b: Vec<&'a RuntimeBar>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    g: &'a [RuntimeGoal],
}

/// A site goal as the runtime reads it: id, name, path pattern (or none: called by name).
pub type RuntimeGoal = (i64, String, Option<String>);

/// What a site's script is made of.
struct SiteParts {
    base_url: String,
    hostnames: Vec<String>,
    goals: Vec<RuntimeGoal>,
}

/// A site's whole script for these bars.
fn script_for(site: &SiteParts, bars: Vec<&RuntimeBar>) -> anyhow::Result<String> {
    if bars.is_empty() {
        return Ok("/* barkeep: no bar is live here */\n".into());
    }
    let mut modules = Modules::new();
    for b in &bars {
        b.modules(&mut modules);
    }
    if !site.goals.is_empty() {
        modules.insert("goals");
    }
    let config = serde_json::to_string(&RuntimeConfig {
        e: &site.base_url,
        h: &site.hostnames,
        b: bars,
        g: &site.goals,
    })?;
    Ok(RUNTIME.assemble(&config, &modules))
}

pub struct Scripts {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    policy: Arc<dyn Policy>,
    base_url: String,
    by_key: RwLock<HashMap<String, Entry>>,
    unknown: Arc<Compiled>,
    compressor: Compressor,
    countries: Option<Arc<Countries>>,
}

impl Scripts {
    /// Learns every site's key and version; scripts are built on first request.
    pub async fn load(
        db: Db,
        policy: Arc<dyn Policy>,
        base_url: &str,
        countries: Option<Arc<Countries>>,
    ) -> anyhow::Result<Scripts> {
        let scripts = Scripts {
            inner: Arc::new(Inner {
                db,
                policy,
                base_url: base_url.to_string(),
                by_key: RwLock::new(HashMap::new()),
                unknown: Arc::new(Compiled::new(
                    0,
                    compress::pack("/* barkeep: unknown site */\n".into(), compress::BEST)?,
                    UNKNOWN_CACHE,
                )?),
                compressor: Compressor::start()?,
                countries,
            }),
        };
        scripts.reload_all().await?;
        Ok(scripts)
    }

    /// The script for a key, for the visitor at the address `ip` gives (asked for, and
    /// looked up, only for a site with bars shown by country; never kept).
    pub async fn script(&self, key: &str, ip: impl FnOnce() -> IpAddr) -> Lookup {
        let site = match self.site_script(key).await {
            Ok(site) => site,
            Err(unknown) => return Lookup::Unknown(unknown),
        };
        match &site.kind {
            Kind::One(c) => Lookup::Site(c.clone()),
            Kind::ByCountry(by) => {
                let country = self.inner.countries.as_ref().and_then(|c| c.country(ip()));
                match self.inner.for_country(key, site.version, by, country).await {
                    Some(c) => Lookup::Site(c),
                    None => Lookup::Unknown(self.inner.unknown.clone()),
                }
            }
        }
    }

    /// A site's script at its current version. Builds it if this process has not yet,
    /// or it is stale; a build under way is waited for rather than started again.
    async fn site_script(&self, key: &str) -> Result<Arc<SiteScript>, Arc<Compiled>> {
        {
            let map = self.inner.by_key.read().unwrap_or_else(|e| e.into_inner());
            match map.get(key) {
                None => return Err(self.inner.unknown.clone()),
                Some(Entry {
                    compiled: Some(c),
                    version,
                    ..
                }) if c.version == *version => return Ok(c.clone()),
                Some(_) => {}
            }
        }
        let build = {
            let mut map = self.inner.by_key.write().unwrap_or_else(|e| e.into_inner());
            let Some(e) = map.get_mut(key) else {
                return Err(self.inner.unknown.clone());
            };
            if let Some(c) = e.compiled.as_ref().filter(|c| c.version == e.version) {
                return Ok(c.clone());
            }
            match &e.building {
                Some((version, build)) if *version == e.version => build.clone(),
                _ => {
                    let build = self.start_build(key.to_string(), e.site_id, e.version);
                    e.building = Some((e.version, build.clone()));
                    build
                }
            }
        };
        if let Some(compiled) = build.await {
            return Ok(compiled);
        }
        // Serve the last good script if there is one; a visitor's page must not notice
        // that the database is having a bad moment.
        let map = self.inner.by_key.read().unwrap_or_else(|e| e.into_inner());
        match map.get(key).and_then(|e| e.compiled.clone()) {
            Some(c) => Ok(c),
            None => Err(self.inner.unknown.clone()),
        }
    }

    /// Starts building a site's script; the build runs to its end (and is kept) even if
    /// the request that started it goes away.
    fn start_build(&self, key: String, site_id: SiteId, version: i64) -> Build {
        let inner = self.inner.clone();
        let build: BoxFuture<'static, Option<Arc<SiteScript>>> = Box::pin(async move {
            let built = inner.build(&key, site_id, version).await.map(Arc::new);
            let mut map = inner.by_key.write().unwrap_or_else(|e| e.into_inner());
            let entry = map.get_mut(&key);
            match built {
                Ok(compiled) => {
                    if let Some(e) = entry {
                        if e.building.as_ref().is_some_and(|(v, _)| *v == version) {
                            e.building = None;
                        }
                        if e.version == version {
                            e.compiled = Some(compiled.clone());
                        }
                    }
                    Some(compiled)
                }
                Err(err) => {
                    tracing::error!(
                        site_id = %site_id,
                        error = format!("{err:#}"),
                        "could not build a site script"
                    );
                    // The next request tries again.
                    if let Some(e) = entry {
                        e.building = None;
                    }
                    None
                }
            }
        });
        let build = build.shared();
        tokio::spawn(build.clone());
        build
    }
}

/// Bars that allocate by Thompson sampling show their variants by the shares last
/// computed for them (until the first computation, by their weights).
async fn optimised_weights(db: &Db, deployments: &mut [deployment::Model]) -> anyhow::Result<()> {
    let optimised: Vec<DeploymentId> = deployments
        .iter()
        .filter(|d| d.snapshot.settings.allocation == Allocation::Thompson)
        .map(|d| d.id)
        .collect();
    if optimised.is_empty() {
        return Ok(());
    }
    let shares = crate::db::allocations::of(db, &optimised).await?;
    for d in deployments.iter_mut() {
        if let Some(weight) = shares.get(&d.id) {
            d.snapshot.weight = *weight;
        }
    }
    Ok(())
}

impl Inner {
    /// The site's script as the database has it now.
    async fn build(
        self: &Arc<Self>,
        key: &str,
        site_id: SiteId,
        version: i64,
    ) -> anyhow::Result<SiteScript> {
        let one = |c: Arc<Compiled>| SiteScript {
            version,
            kind: Kind::One(c),
        };
        let site = q::site_by_id(&self.db, site_id)
            .await?
            .with_context(|| format!("site {site_id} is gone"))?;
        let policy = self.policy.for_account(site.account_id).await?;
        if let Some(why) = policy.paused {
            return Ok(one(self
                .compile(key, version, format!("/* barkeep: {why} */\n"), SITE_CACHE)
                .await?));
        }
        let hostnames: Vec<String> = q::hostnames_of(&self.db, &[site_id])
            .await?
            .into_iter()
            .map(|h| h.hostname)
            .collect();
        let goals: Vec<RuntimeGoal> = crate::db::goals::of_site(&self.db, site_id)
            .await?
            .into_iter()
            .map(|g| (g.id, g.name, g.path))
            .collect();
        let parts = SiteParts {
            base_url: self.base_url.clone(),
            hostnames,
            goals,
        };
        let mut deployments = q::live_deployments_of_sites(&self.db, &[site_id]).await?;
        optimised_weights(&self.db, &mut deployments).await?;
        let mut by_bar: Vec<(crate::domain::BarId, Vec<(DeploymentId, Snapshot)>)> = Vec::new();
        for d in deployments {
            match by_bar.iter_mut().find(|(bar, _)| *bar == d.bar_id) {
                Some((_, list)) => list.push((d.id, d.snapshot)),
                None => by_bar.push((d.bar_id, vec![(d.id, d.snapshot)])),
            }
        }
        // The most recently published bar comes first: it is the one a visitor sees
        // when several qualify.
        by_bar.sort_by_key(|(_, list)| std::cmp::Reverse(list.iter().map(|(id, _)| *id).max()));
        let mut bars: Vec<RuntimeBar> = by_bar
            .iter()
            .filter_map(|(_, list)| RuntimeBar::from_deployments(list))
            .collect();
        if policy.branding_required {
            bars.iter_mut().for_each(RuntimeBar::require_powered_by);
        }
        if bars.iter().any(RuntimeBar::by_country) {
            return Ok(SiteScript {
                version,
                kind: Kind::ByCountry(ByCountry {
                    site: parts,
                    bars,
                    made: Mutex::new(HashMap::new()),
                }),
            });
        }
        let js = script_for(&parts, bars.iter().collect())?;
        Ok(one(self.compile(key, version, js, SITE_CACHE).await?))
    }

    /// The script of a site with bars shown by country, for a visitor from `country`:
    /// only the bars that country may see. Made once per country and version.
    async fn for_country(
        self: &Arc<Self>,
        key: &str,
        version: i64,
        by: &ByCountry,
        country: Option<[u8; 2]>,
    ) -> Option<Arc<Compiled>> {
        if let Some(c) = by
            .made
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&country)
        {
            return Some(c.clone());
        }
        let code = country.map(|c| String::from_utf8_lossy(&c).into_owned());
        let bars = by
            .bars
            .iter()
            .filter(|b| b.admits_country(code.as_deref()))
            .collect();
        let made = async {
            let js = script_for(&by.site, bars)?;
            self.compile(key, version, js, COUNTRY_CACHE).await
        };
        match made.await {
            Ok(c) => {
                let mut all = by.made.lock().unwrap_or_else(|e| e.into_inner());
                Some(all.entry(country).or_insert(c).clone())
            }
            Err(err) => {
                tracing::error!(
                    error = format!("{err:#}"),
                    "could not build a country's script"
                );
                None
            }
        }
    }

    /// A script compressed quickly, to be compressed at its best if it is still the site's
    /// current one once it has settled.
    async fn compile(
        self: &Arc<Self>,
        key: &str,
        version: i64,
        js: String,
        cache: &'static str,
    ) -> anyhow::Result<Arc<Compiled>> {
        let compiled = Arc::new(Compiled::new(
            version,
            self.compressor.pack(js).await?,
            cache,
        )?);
        let (target, kept) = (Arc::downgrade(&compiled), Arc::downgrade(&compiled));
        let inner: Weak<Inner> = Arc::downgrade(self);
        let key = key.to_string();
        self.compressor.polish(Polish {
            plain: compiled.plain.clone(),
            wanted: Box::new(move || {
                target.strong_count() > 0
                    && inner
                        .upgrade()
                        .is_some_and(|i| i.version_of(&key) == Some(version))
            }),
            done: Box::new(move |best| {
                if let Some(c) = kept.upgrade() {
                    let _ = c.best.set(best);
                }
            }),
        });
        Ok(compiled)
    }

    /// The version the site of `key` is at.
    fn version_of(&self, key: &str) -> Option<i64> {
        let map = self.by_key.read().unwrap_or_else(|e| e.into_inner());
        map.get(key).map(|e| e.version)
    }
}

impl Scripts {
    /// Re-reads one site's version after this process changed it, so its next request
    /// gets the new script at once. Returns how far the version moved past the one this
    /// process knew (`None` for a site it did not know, or one that is gone).
    pub async fn refresh_site(&self, site_id: SiteId) -> anyhow::Result<Option<i64>> {
        Ok(match q::site_by_id(&self.inner.db, site_id).await? {
            Some(site) => {
                let before = self.inner.version_of(&site.key);
                let now = site.script_version;
                self.upsert(site.id, site.key, now);
                before.map(|before| now - before)
            }
            None => None,
        })
    }

    pub fn forget(&self, key: &str) {
        self.inner
            .by_key
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Records a site's current version; true when it is new or newer than known.
    fn upsert(&self, site_id: SiteId, key: String, version: i64) -> bool {
        let mut map = self.inner.by_key.write().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&key) {
            Some(e) if e.version >= version => false,
            Some(e) => {
                e.version = version;
                true
            }
            None => {
                map.insert(
                    key,
                    Entry {
                        site_id,
                        version,
                        compiled: None,
                        building: None,
                    },
                );
                true
            }
        }
    }

    /// Picks up sites changed since `since`; returns the ids of those that changed.
    pub async fn poll(&self, since: DateTime<Utc>) -> anyhow::Result<Vec<SiteId>> {
        let rows = q::script_versions(&self.inner.db, Some(since)).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, key, version)| self.upsert(id, key, version).then_some(id))
            .collect())
    }

    /// Compares every site and forgets deleted ones; returns the ids of sites that
    /// changed (new, newer or gone).
    pub async fn reload_all(&self) -> anyhow::Result<Vec<SiteId>> {
        let rows = q::script_versions(&self.inner.db, None).await?;
        let mut map = self.inner.by_key.write().unwrap_or_else(|e| e.into_inner());
        let mut fresh: HashMap<String, Entry> = HashMap::with_capacity(rows.len());
        let mut changed = Vec::new();
        for (site_id, key, version) in rows {
            let old = map.remove(&key);
            if old.as_ref().is_none_or(|e| e.version != version) {
                changed.push(site_id);
            }
            let compiled = old
                .and_then(|e| e.compiled)
                .filter(|c| c.version == version);
            fresh.insert(
                key,
                Entry {
                    site_id,
                    version,
                    compiled,
                    building: None,
                },
            );
        }
        changed.extend(map.values().map(|e| e.site_id));
        *map = fresh;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bar::{BarSettings, Display, Goal, Targeting, Trigger, VariantContent};
    use crate::domain::element::{Countdown, ElementType};
    use std::io::Write;

    fn gzip_len(s: &str) -> usize {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(s.as_bytes()).unwrap();
        enc.finish().unwrap().len()
    }

    /// A site's script for these live bars, as it is served.
    fn site_script(bars: &[RuntimeBar]) -> String {
        let site = SiteParts {
            base_url: "https://barkeep.example".into(),
            hostnames: vec!["shop.example".to_string()],
            goals: Vec::new(),
        };
        script_for(&site, bars.iter().collect()).unwrap()
    }

    fn live(settings: BarSettings, content: VariantContent) -> RuntimeBar {
        let snapshot = Snapshot {
            bar_id: crate::domain::BarId(1),
            variant_id: crate::domain::VariantId(1),
            variant_name: "A".into(),
            weight: 50,
            settings,
            content,
        };
        RuntimeBar::from_deployments(&[(DeploymentId(1), snapshot)]).unwrap()
    }

    /// A new bar's defaults (a link bar at the top) with a message and a link.
    fn link_bar() -> (BarSettings, VariantContent) {
        let content = VariantContent {
            message: "Free shipping on every order this week".into(),
            button_label: Some("Shop now".into()),
            link_url: Some("https://shop.example/sale".into()),
            ..crate::catalog::default_content()
        };
        (crate::catalog::default_settings(), content)
    }

    /// A bar that uses every option there is, so its script carries every module.
    fn everything() -> Vec<RuntimeBar> {
        let (mut s, mut c) = link_bar();
        s.goal = Goal::Email;
        c.link_url = None;
        s.element_type = ElementType::Modal;
        s.trigger = Trigger::Scroll { percent: 50 };
        let t: Targeting = serde_json::from_value(serde_json::json!({
            "paths_include": ["/blog/*"], "device": "desktop",
            "starts_at": "2026-01-01T00:00:00Z", "referrer_domain": "news.example",
            "visitor": "returning", "visit_number": {"min": 2}, "days_since_last_visit": {"max": 30},
            "pages_this_visit": {"min": 2}, "languages_include": ["de"], "weekdays": ["mon"],
            "hours": {"from": "09:00", "to": "17:00"}, "time_zone": "Europe/Berlin",
            "query": [{"name": "ref"}], "page_values": [{"key": "plan", "value": "pro"}],
            "countries_include": ["DE"]
        }))
        .unwrap();
        s.targeting = t.normalise().unwrap();
        s.frequency.once_per_visit = true;
        s.countdown = Some(Countdown::Evergreen {
            minutes: 30,
            end_text: None,
        });
        c.translations =
            serde_json::from_value(serde_json::json!({"de": {"message": "Hallo"}})).unwrap();
        let mut second = link_bar();
        second.0.element_type = ElementType::Slider;
        second.0.trigger = Trigger::ExitIntent;
        second.0.holdout = 10;
        let mut third = link_bar();
        third.0.goal = Goal::Call;
        third.0.display = Display::PushDown;
        third.1.link_url = Some("tel:+15551234567".into());
        vec![live(s, c), live(second.0, second.1), live(third.0, third.1)]
    }

    /// The budget the product promises: the script of a site with one link bar at the
    /// top, as served (runtime and configuration), in at most 2,000 bytes gzipped.
    #[test]
    fn a_one_bar_site_fits_its_size_budget() {
        let (s, c) = link_bar();
        let one = site_script(&[live(s, c)]);
        let size = gzip_len(&one);
        let all = site_script(&everything());
        println!(
            "site script, one link bar at the top: {} bytes, {size} gzipped (budget 2000); \
             every module: {} bytes, {} gzipped",
            one.len(),
            all.len(),
            gzip_len(&all)
        );
        assert!(
            size <= 2000,
            "a one-bar site's script is {size} bytes gzipped; the budget is 2000"
        );
    }

    /// Every module the server may ask for exists in the runtime, and every module of the
    /// runtime is asked for by some option.
    #[test]
    fn the_server_and_the_runtime_agree_on_the_modules() {
        let mut wanted = Modules::new();
        for b in everything() {
            b.modules(&mut wanted);
        }
        let known: Vec<&str> = RUNTIME.modules.iter().map(|(n, _)| n.as_str()).collect();
        for name in &wanted {
            assert!(known.contains(name), "the runtime has no module `{name}`");
        }
        for name in &known {
            assert!(
                wanted.contains(name),
                "no option selects the module `{name}`"
            );
        }
        let (s, c) = link_bar();
        let mut plain = Modules::new();
        live(s, c).modules(&mut plain);
        assert!(
            plain.is_empty(),
            "a plain link bar needs no module: {plain:?}"
        );
        // What a module needs comes along, in the runtime's order.
        for (name, needs) in &RUNTIME.needs {
            let resolved = RUNTIME.resolve(&Modules::from(
                [name.as_str()].map(|n| known.iter().copied().find(|k| *k == n).unwrap()),
            ));
            for n in needs {
                assert!(resolved.contains(&n.as_str()), "{name} needs {n}");
            }
        }
    }

    #[test]
    fn splicing_inserts_the_config_literally() {
        let js = RUNTIME.assemble(
            r#"{"e":"x","h":[],"b":[{"m":"$& $1 \u2028 __BK_CONFIG__"}]}"#,
            &Modules::new(),
        );
        assert!(js.contains(r#"{"m":"$& $1 \u2028 __BK_CONFIG__"}"#));
        assert_eq!(js.matches(PLACEHOLDER).count(), 1, "only the text's own");
    }

    #[test]
    fn a_site_by_country_shows_each_country_its_bars() {
        let bars = everything();
        assert!(bars[0].by_country());
        assert!(bars[0].admits_country(Some("DE")));
        assert!(!bars[0].admits_country(Some("FR")));
        assert!(!bars[0].admits_country(None));
        assert!(bars[1].admits_country(None) && !bars[1].by_country());
    }

    #[test]
    fn the_best_brotli_form_replaces_the_quick_one_once_made() {
        use std::io::Read;
        let js = RUNTIME.assemble(r#"{"e":"x","h":[],"b":[]}"#, &Modules::new());
        let c = Compiled::new(
            3,
            compress::pack(js.clone(), compress::QUICK).unwrap(),
            SITE_CACHE,
        )
        .unwrap();
        let unbrotli = |b: &Bytes| {
            let mut out = Vec::new();
            brotli::Decompressor::new(&b[..], 4096)
                .read_to_end(&mut out)
                .unwrap();
            out
        };
        let (quick, headers) = c.answer(Encoding::Brotli);
        assert_eq!(unbrotli(&quick), js.as_bytes());
        assert_eq!(headers[header::CONTENT_ENCODING], "br");
        let best = Bytes::from(compress::brotli(js.as_bytes(), compress::BEST).unwrap());
        c.best.set(best.clone()).unwrap();
        let (served, _) = c.answer(Encoding::Brotli);
        assert_eq!(served, best);
        assert_eq!(unbrotli(&served), js.as_bytes());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&c.gzip[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, js);
        assert!(c.etag.to_str().unwrap().starts_with("\"3-"));
    }
}
