//! A member's sites: a name, the hostnames the bar may run on, and the public key of the
//! script tag. Changing hostnames changes the script, so every change tells `script`.

use chrono::Utc;

use crate::db::entities::{site, site_hostname};
use crate::db::sites as q;
use crate::domain::{Hostname, SiteKey};
use crate::error::AppError;
use crate::state::AppState;

pub const MAX_HOSTNAMES: usize = 20;

pub struct Site {
    pub site: site::Model,
    pub hostnames: Vec<site_hostname::Model>,
}

/// Checks a site name: 1 to 100 characters of text.
pub fn check_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name",
            "give the site a name of 1 to 100 characters",
        ));
    }
    Ok(name.to_string())
}

/// Parses, normalises and de-duplicates a hostname list.
pub fn check_hostnames(raw: &[String]) -> Result<Vec<String>, AppError> {
    if raw.is_empty() {
        return Err(AppError::invalid(
            "hostnames",
            "a site needs at least one hostname, such as shop.example.com",
        ));
    }
    if raw.len() > MAX_HOSTNAMES {
        return Err(AppError::invalid(
            "hostnames",
            format!("at most {MAX_HOSTNAMES} hostnames"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for h in raw {
        let h = Hostname::parse(h, "hostnames")?.to_string();
        if !out.contains(&h) {
            out.push(h);
        }
    }
    Ok(out)
}

pub async fn create(
    state: &AppState,
    member_id: i64,
    name: &str,
    hostnames: &[String],
) -> Result<Site, AppError> {
    let name = check_name(name)?;
    let hostnames = check_hostnames(hostnames)?;
    let now = Utc::now();
    let txn = crate::db::begin(&state.db).await?;
    let site = q::insert_site(
        &txn,
        member_id,
        name,
        SiteKey::generate().as_str().to_string(),
        now,
    )
    .await?;
    q::set_hostnames(&txn, site.id, &hostnames).await?;
    txn.commit().await?;
    crate::sync::site_changed(state, site.id).await;
    tracing::info!(site_id = site.id, member_id, "site created");
    get(state, member_id, site.id).await
}

pub async fn list(state: &AppState, member_id: i64) -> Result<Vec<Site>, AppError> {
    let sites = q::sites_of(&state.db, member_id).await?;
    let ids: Vec<i64> = sites.iter().map(|s| s.id).collect();
    let mut hostnames = q::hostnames_of(&state.db, &ids).await?;
    Ok(sites
        .into_iter()
        .map(|site| {
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut hostnames)
                .into_iter()
                .partition(|h| h.site_id == site.id);
            hostnames = rest;
            Site {
                site,
                hostnames: mine,
            }
        })
        .collect())
}

pub async fn get(state: &AppState, member_id: i64, site_id: i64) -> Result<Site, AppError> {
    let site = q::site_of(&state.db, member_id, site_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let hostnames = q::hostnames_of(&state.db, &[site.id]).await?;
    Ok(Site { site, hostnames })
}

pub async fn update(
    state: &AppState,
    member_id: i64,
    site_id: i64,
    name: Option<&str>,
    hostnames: Option<&[String]>,
) -> Result<Site, AppError> {
    let name = name.map(check_name).transpose()?;
    let hostnames = hostnames.map(check_hostnames).transpose()?;
    let now = Utc::now();
    let txn = crate::db::begin(&state.db).await?;
    let site = q::site_of(&txn, member_id, site_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Some(name) = name {
        q::rename_site(&txn, site, name, now).await?;
    }
    if let Some(hostnames) = &hostnames {
        q::set_hostnames(&txn, site_id, hostnames).await?;
        q::bump_script(&txn, site_id, now).await?;
    }
    txn.commit().await?;
    if hostnames.is_some() {
        crate::sync::site_changed(state, site_id).await;
    }
    get(state, member_id, site_id).await
}

/// Deletes the site with its bars, deployments and counts.
pub async fn delete(state: &AppState, member_id: i64, site_id: i64) -> Result<(), AppError> {
    let site = q::site_of(&state.db, member_id, site_id)
        .await?
        .ok_or(AppError::NotFound)?;
    q::delete_site(&state.db, site.id).await?;
    crate::sync::site_deleted(state, site.id, &site.key).await;
    tracing::info!(site_id, member_id, "site deleted");
    Ok(())
}
