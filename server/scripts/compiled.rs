//! The per-site script: the bar runtime with the site's live bars spliced in, compressed
//! once (brotli and gzip) and served from memory, its response headers prepared once.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, RwLock};

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
use crate::db::{Db, catalog as q};
use crate::domain::bar::{RuntimeBar, Snapshot};
use crate::domain::{DeploymentId, SiteId};

/// The minified runtime, built from `widget/src/bar.js` by `server/build.rs`.
pub const RUNTIME: &str = include_str!(concat!(env!("OUT_DIR"), "/bar.min.js"));
const PLACEHOLDER: &str = "__BK_CONFIG__";

/// Browsers and CDNs keep a site's script a minute, and may use it for ten more while
/// they fetch the new one: a publish reaches visitors within about a minute.
const SITE_CACHE: &str = "public, max-age=60, stale-while-revalidate=600";
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
    pub brotli: Bytes,
    /// Headers of a 200 in each encoding (brotli, gzip, identity) and of a 304.
    headers: [HeaderMap; 4],
}

/// A script's compressed forms.
pub struct Packed {
    pub plain: String,
    pub gzip: Vec<u8>,
    pub brotli: Vec<u8>,
}

/// Compresses a script (gzip at its best; brotli at quality 11 with a window just large
/// enough for it). Compression into memory cannot really fail; if it ever did, the
/// caller gets the error rather than an empty body labelled gzip.
pub fn pack(js: String) -> anyhow::Result<Packed> {
    let gzip = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(js.as_bytes()).context("gzip")?;
        enc.finish().context("gzip")?
    };
    let brotli = {
        let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 11, brotli_window(js.len()));
        w.write_all(js.as_bytes()).context("brotli")?;
        w.flush().context("brotli")?;
        w.into_inner()
    };
    Ok(Packed {
        plain: js,
        gzip,
        brotli,
    })
}

/// The smallest brotli window (log2 of its size, 10 to 22) that holds `len` bytes: a
/// script of a few kilobytes needs kilobytes, not the 4 MB of the largest window, and the
/// encoder's memory grows with the window.
fn brotli_window(len: usize) -> u32 {
    // A window of 2^n bytes holds 2^n − 16 of them.
    let need = len.saturating_add(16).max(2);
    (usize::BITS - (need - 1).leading_zeros()).clamp(10, 22)
}

/// Compression runs on one thread of its own: never on the threads that answer
/// requests, one script at a time, and its memory stays in one place.
pub struct Compressor {
    jobs: std::sync::mpsc::Sender<(String, tokio::sync::oneshot::Sender<anyhow::Result<Packed>>)>,
}

impl Compressor {
    pub fn start() -> anyhow::Result<Compressor> {
        let (jobs, queue) = std::sync::mpsc::channel::<(
            String,
            tokio::sync::oneshot::Sender<anyhow::Result<Packed>>,
        )>();
        std::thread::Builder::new()
            .name("barkeep-compress".into())
            .spawn(move || {
                for (js, reply) in queue {
                    let _ = reply.send(pack(js));
                }
            })
            .context("starting the compression thread")?;
        Ok(Compressor { jobs })
    }

    pub async fn pack(&self, js: String) -> anyhow::Result<Packed> {
        let (reply, packed) = tokio::sync::oneshot::channel();
        self.jobs
            .send((js, reply))
            .map_err(|_| anyhow::anyhow!("the compression thread has stopped"))?;
        packed
            .await
            .map_err(|_| anyhow::anyhow!("the compression thread has stopped"))?
    }
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
        })
    }

    /// The body and headers of a 200 in `encoding`.
    pub fn answer(&self, encoding: Encoding) -> (Bytes, HeaderMap) {
        match encoding {
            Encoding::Brotli => (self.brotli.clone(), self.headers[0].clone()),
            Encoding::Gzip => (self.gzip.clone(), self.headers[1].clone()),
            Encoding::Identity => (self.plain.clone(), self.headers[2].clone()),
        }
    }

    /// The headers of a 304.
    pub fn not_modified(&self) -> HeaderMap {
        self.headers[3].clone()
    }
}

struct Entry {
    site_id: SiteId,
    version: i64,
    compiled: Option<Arc<Compiled>>,
    /// The build of `version` under way, which every request for it waits for: a burst
    /// of requests after a publish builds the script once.
    building: Option<(i64, Build)>,
}

/// A build every waiter shares; `None` when it failed.
type Build = Shared<BoxFuture<'static, Option<Arc<Compiled>>>>;

pub enum Lookup {
    Site(Arc<Compiled>),
    /// No site has this key (or it was deleted): a harmless empty script.
    Unknown(Arc<Compiled>),
}

/// What the runtime reads: the event endpoint, the site's hostnames and its live bars.
#[derive(Serialize)]
struct RuntimeConfig<'a> {
    e: &'a str,
    h: Vec<String>,
    b: Vec<RuntimeBar>,
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
}

impl Scripts {
    /// Learns every site's key and version; scripts are built on first request.
    pub async fn load(db: Db, policy: Arc<dyn Policy>, base_url: &str) -> anyhow::Result<Scripts> {
        let scripts = Scripts {
            inner: Arc::new(Inner {
                db,
                policy,
                base_url: base_url.to_string(),
                by_key: RwLock::new(HashMap::new()),
                unknown: Arc::new(Compiled::new(
                    0,
                    pack("/* barkeep: unknown site */\n".into())?,
                    UNKNOWN_CACHE,
                )?),
                compressor: Compressor::start()?,
            }),
        };
        scripts.reload_all().await?;
        Ok(scripts)
    }

    /// The script for a key. Builds it if this process has not yet, or it is stale; a
    /// build under way is waited for rather than started again.
    pub async fn script(&self, key: &str) -> Lookup {
        {
            let map = self.inner.by_key.read().unwrap_or_else(|e| e.into_inner());
            match map.get(key) {
                None => return Lookup::Unknown(self.inner.unknown.clone()),
                Some(Entry {
                    compiled: Some(c),
                    version,
                    ..
                }) if c.version == *version => return Lookup::Site(c.clone()),
                Some(_) => {}
            }
        }
        let build = {
            let mut map = self.inner.by_key.write().unwrap_or_else(|e| e.into_inner());
            let Some(e) = map.get_mut(key) else {
                return Lookup::Unknown(self.inner.unknown.clone());
            };
            if let Some(c) = e.compiled.as_ref().filter(|c| c.version == e.version) {
                return Lookup::Site(c.clone());
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
            return Lookup::Site(compiled);
        }
        // Serve the last good script if there is one; a visitor's page must not notice
        // that the database is having a bad moment.
        let map = self.inner.by_key.read().unwrap_or_else(|e| e.into_inner());
        match map.get(key).and_then(|e| e.compiled.clone()) {
            Some(c) => Lookup::Site(c),
            None => Lookup::Unknown(self.inner.unknown.clone()),
        }
    }

    /// Starts building a site's script; the build runs to its end (and is kept) even if
    /// the request that started it goes away.
    fn start_build(&self, key: String, site_id: SiteId, version: i64) -> Build {
        let inner = self.inner.clone();
        let build: BoxFuture<'static, Option<Arc<Compiled>>> = Box::pin(async move {
            let built = inner.build(site_id, version).await.map(Arc::new);
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

impl Inner {
    /// What the site's script contains right now, as JSON; builds from the database.
    async fn build(&self, site_id: SiteId, version: i64) -> anyhow::Result<Compiled> {
        let site = q::site_by_id(&self.db, site_id)
            .await?
            .with_context(|| format!("site {site_id} is gone"))?;
        let policy = self.policy.for_account(site.account_id).await?;
        if let Some(why) = policy.paused {
            return self
                .compile(version, format!("/* barkeep: {why} */\n"))
                .await;
        }
        let hostnames: Vec<String> = q::hostnames_of(&self.db, &[site_id])
            .await?
            .into_iter()
            .map(|h| h.hostname)
            .collect();
        let deployments = q::live_deployments_of_sites(&self.db, &[site_id]).await?;
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
        if bars.is_empty() {
            return self
                .compile(
                    version,
                    "/* barkeep: no bar is live on this site */\n".into(),
                )
                .await;
        }
        let config = serde_json::to_string(&RuntimeConfig {
            e: &self.base_url,
            h: hostnames,
            b: bars,
        })?;
        self.compile(version, splice(&config)).await
    }

    async fn compile(&self, version: i64, js: String) -> anyhow::Result<Compiled> {
        Compiled::new(version, self.compressor.pack(js).await?, SITE_CACHE)
    }
}

impl Scripts {
    /// Re-reads one site's version after this process changed it, so its next request
    /// gets the new script at once. Returns whether anything changed.
    pub async fn refresh_site(&self, site_id: SiteId) -> anyhow::Result<bool> {
        Ok(match q::site_by_id(&self.inner.db, site_id).await? {
            Some(site) => self.upsert(site.id, site.key, site.script_version),
            None => false,
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

/// The runtime with a site's configuration in place of its placeholder. A plain string
/// replacement: nothing in the JSON is interpreted.
pub fn splice(config_json: &str) -> String {
    RUNTIME.replacen(PLACEHOLDER, config_json, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip_len(s: &str) -> usize {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(s.as_bytes()).unwrap();
        enc.finish().unwrap().len()
    }

    /// The budget the product promises: the runtime, minified and gzipped, in at most
    /// 2,500 bytes (the bar's own text not counted).
    #[test]
    fn the_runtime_fits_its_size_budget() {
        let size = gzip_len(RUNTIME);
        println!(
            "bar runtime: {} bytes minified, {size} bytes gzipped (budget 2500)",
            RUNTIME.len()
        );
        assert!(
            size <= 2500,
            "the bar runtime is {size} bytes gzipped; the budget is 2500"
        );
    }

    #[test]
    fn splicing_inserts_the_config_literally() {
        let js = splice(r#"{"e":"x","h":[],"b":[{"m":"$& $1 \u2028"}]}"#);
        assert!(js.contains(r#"{"m":"$& $1 \u2028"}"#));
        assert!(!js.contains(PLACEHOLDER));
    }

    #[test]
    fn compressed_forms_decode_to_the_script() {
        use std::io::Read;
        let c = Compiled::new(
            3,
            pack(splice(r#"{"e":"x","h":[],"b":[]}"#)).unwrap(),
            SITE_CACHE,
        )
        .unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&c.gzip[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out.as_bytes(), &c.plain[..]);
        let mut out = Vec::new();
        brotli::Decompressor::new(&c.brotli[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, &c.plain[..]);
        assert!(c.brotli.len() < c.gzip.len());
        assert!(c.etag.to_str().unwrap().starts_with("\"3-"));
    }
}
