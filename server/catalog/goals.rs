//! A site's goals: what a visit reaching counts for the site (a thank-you page later in the
//! visit, or a purchase the page reports). They are part of the site's script, so a change
//! reaches listeners like a change of hostnames.

use crate::db::catalog as q;
use crate::db::entities::{site, site_goal};
use crate::db::goals;
use crate::domain::Invalid;
use crate::domain::site_goal::{self as rules, MAX_GOALS};
use crate::error::{Error, Result};

use super::{Catalog, Change};

impl Catalog {
    pub async fn goals(&self, site: &site::Model) -> Result<Vec<site_goal::Model>> {
        Ok(goals::of_site(&self.db, site.id).await?)
    }

    /// Adds a goal: a name unique on the site, and a path pattern or none (the page then
    /// calls `barkeep.goal(name)`).
    pub async fn add_goal(
        &self,
        site: &site::Model,
        name: &str,
        path: Option<&str>,
    ) -> Result<site_goal::Model> {
        let name = rules::name(name)?;
        let path = rules::path(path)?;
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        q::lock_site(&txn, site.id).await?;
        let existing = goals::of_site(&txn, site.id).await?;
        if existing.iter().any(|g| g.name == name) {
            return Err(Error::conflict(
                "goal_exists",
                format!("the site already has a goal named {name}"),
            ));
        }
        if existing.len() >= MAX_GOALS {
            return Err(
                Invalid::new("name", format!("a site has at most {MAX_GOALS} goals")).into(),
            );
        }
        let goal = goals::insert(&txn, site.id, name, path, now).await?;
        q::bump_script(&txn, site.id, now).await?;
        txn.commit().await?;
        self.emit(Change::SiteChanged(site.id)).await;
        Ok(goal)
    }

    /// Deletes a goal of the site with its counts; `false` when the site has no such goal.
    pub async fn delete_goal(&self, site: &site::Model, goal_id: i64) -> Result<bool> {
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        let gone = goals::delete(&txn, site.id, goal_id).await?;
        if gone {
            q::bump_script(&txn, site.id, now).await?;
        }
        txn.commit().await?;
        if gone {
            self.emit(Change::SiteChanged(site.id)).await;
        }
        Ok(gone)
    }
}
