//! An account's sites: a name, the hostnames the bar may run on, and the public key of the
//! script tag. A change of hostnames changes the script, so listeners hear of it.

use crate::db::catalog as q;
use crate::db::entities::{site, site_hostname};
use crate::domain::{AccountId, Hostname, Invalid, SiteKey, text};
use crate::error::Result;
use crate::plans::Limits;

use super::{Catalog, Change, check_room};

pub const MAX_HOSTNAMES: usize = 20;
/// barkeep's own cap, whatever the plan.
pub const MAX_SITES: u64 = 1000;

pub struct Site {
    pub site: site::Model,
    pub hostnames: Vec<site_hostname::Model>,
}

/// Checks a site name: 1 to 100 characters of text.
pub fn check_name(raw: &str) -> Result<String, Invalid> {
    text::name(
        "name",
        raw,
        100,
        "give the site a name of 1 to 100 characters",
    )
}

/// Parses, normalises and de-duplicates a hostname list.
pub fn check_hostnames(raw: &[String]) -> Result<Vec<String>, Invalid> {
    if raw.is_empty() {
        return Err(Invalid::new(
            "hostnames",
            "a site needs at least one hostname, such as shop.example.com",
        ));
    }
    if raw.len() > MAX_HOSTNAMES {
        return Err(Invalid::new(
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

impl Catalog {
    pub async fn create_site(
        &self,
        account: AccountId,
        limits: &Limits,
        name: &str,
        hostnames: &[String],
    ) -> Result<Site> {
        let name = check_name(name)?;
        let hostnames = check_hostnames(hostnames)?;
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        // Counting and inserting in one transaction, with the account's other writers held
        // off, so two creates at once cannot both take the last slot.
        crate::db::teams::lock_account(&txn, account).await?;
        check_room(
            "sites",
            limits.sites,
            MAX_SITES,
            q::count_sites(&txn, account).await?,
        )?;
        let site = q::insert_site(
            &txn,
            account,
            name,
            SiteKey::generate().as_str().to_string(),
            now,
        )
        .await?;
        q::set_hostnames(&txn, site.id, &hostnames).await?;
        txn.commit().await?;
        self.emit(Change::SiteChanged(site.id)).await;
        tracing::info!(site_id = %site.id, account_id = %account, "site created");
        self.site_with_hostnames(site).await
    }

    pub async fn sites(&self, account: AccountId) -> Result<Vec<Site>> {
        let sites = q::sites_of(&self.db, account).await?;
        let ids: Vec<_> = sites.iter().map(|s| s.id).collect();
        let mut hostnames = q::hostnames_of(&self.db, &ids).await?;
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

    pub async fn site_with_hostnames(&self, site: site::Model) -> Result<Site> {
        let hostnames = q::hostnames_of(&self.db, &[site.id]).await?;
        Ok(Site { site, hostnames })
    }

    pub async fn update_site(
        &self,
        site: site::Model,
        name: Option<&str>,
        hostnames: Option<&[String]>,
    ) -> Result<Site> {
        let name = name.map(check_name).transpose()?;
        let hostnames = hostnames.map(check_hostnames).transpose()?;
        let now = self.clock.now();
        let site_id = site.id;
        let txn = crate::db::begin(&self.db).await?;
        let site = match name {
            Some(name) => q::rename_site(&txn, site, name, now).await?,
            None => site,
        };
        if let Some(hostnames) = &hostnames {
            q::set_hostnames(&txn, site_id, hostnames).await?;
            q::bump_script(&txn, site_id, now).await?;
        }
        txn.commit().await?;
        if hostnames.is_some() {
            self.emit(Change::SiteChanged(site_id)).await;
        }
        self.site_with_hostnames(site).await
    }

    /// Deletes the site with its bars, deployments and counts.
    pub async fn delete_site(&self, site: site::Model) -> Result<()> {
        q::delete_site(&self.db, site.id).await?;
        self.emit(Change::SiteDeleted {
            site: site.id,
            key: site.key,
        })
        .await;
        tracing::info!(site_id = %site.id, account_id = %site.account_id, "site deleted");
        Ok(())
    }
}
