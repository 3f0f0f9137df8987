//! Keeps each process's in-memory view of sites — compiled scripts and the deployment
//! registry of the event endpoint — in step with the database. A change made here is
//! applied at once; a change made by another process is seen within about a second
//! (each site carries a version that only grows), deletions within five.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::ingest::Ingest;
use crate::script::Scripts;
use crate::state::AppState;

/// How often each process looks for sites that changed.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Changes are looked for this far back, for writers whose clock runs behind ours.
const POLL_OVERLAP: chrono::Duration = chrono::Duration::seconds(10);
/// A full comparison, which also notices deleted sites, runs this often. It reads three
/// small columns per site, cheap even for many thousands of sites.
const FULL_EVERY: Duration = Duration::from_secs(5);

/// Call after this process changed what a site shows (hostnames, a publish, a pause).
pub async fn site_changed(state: &AppState, site_id: i64) {
    let result = async {
        state.scripts.refresh_site(site_id).await?;
        state
            .ingest
            .registry
            .reload_sites(&state.db, &[site_id])
            .await
    }
    .await;
    if let Err(err) = result {
        tracing::warn!(
            site_id,
            error = format!("{err:#}"),
            "could not refresh a changed site; the next poll will"
        );
    }
}

/// Call after this process deleted a site.
pub async fn site_deleted(state: &AppState, site_id: i64, key: &str) {
    state.scripts.forget(key);
    if let Err(err) = state
        .ingest
        .registry
        .reload_sites(&state.db, &[site_id])
        .await
    {
        tracing::warn!(
            site_id,
            error = format!("{err:#}"),
            "could not forget a deleted site's deployments"
        );
    }
}

/// Polls until `stop`.
pub async fn run(db: Db, scripts: Arc<Scripts>, ingest: Arc<Ingest>, stop: CancellationToken) {
    let mut last_full = tokio::time::Instant::now();
    loop {
        let started = Utc::now();
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(POLL_EVERY) => {}
        }
        let changed = if last_full.elapsed() >= FULL_EVERY {
            last_full = tokio::time::Instant::now();
            scripts.reload_all().await
        } else {
            scripts.poll(started - POLL_OVERLAP).await
        };
        let result = match changed {
            Ok(ids) => ingest.registry.reload_sites(&db, &ids).await,
            Err(err) => Err(err),
        };
        if let Err(err) = result {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not check for changed sites"
            );
        }
    }
}
