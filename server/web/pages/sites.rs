//! Sites: the list with the form to add one, and a site's page with its install snippet,
//! whether the script has been seen on each hostname, its bars and its settings.

use chrono::{DateTime, Utc};
use serde::Serialize;
use warp::reply::Response;

use super::forms::{Errors, Fields};
use super::view::{Notice, done, render};
use crate::catalog::Status;
use crate::db::entities::site;
use crate::error::{Error, Result};
use crate::web::api::sites::SiteView;
use crate::web::guards::{OwnedGoal, OwnedSite};
use crate::web::router::Req;

#[derive(Serialize)]
struct SiteRow {
    site: SiteView,
    /// When the script last counted an event on any of its hostnames.
    last_seen: Option<DateTime<Utc>>,
    bars: usize,
    live: usize,
}

#[derive(Serialize)]
struct SitesPage {
    sites: Vec<SiteRow>,
    form: Fields,
    errors: Errors,
}

async fn sites_page(req: &Req, form: Fields, errors: Errors) -> Result<Response> {
    let state = &req.state;
    let mut sites = Vec::new();
    for s in state.catalog.sites(req.account()?).await? {
        let bars = state.catalog.bars(&s.site).await?;
        let site = SiteView::new(&state.web, s);
        sites.push(SiteRow {
            last_seen: site.hostnames.iter().filter_map(|h| h.last_event_at).max(),
            live: bars.iter().filter(|b| b.status == Status::Live).count(),
            bars: bars.len(),
            site,
        });
    }
    let status = errors.status();
    render(
        req,
        "pages/sites.html",
        &SitesPage {
            sites,
            form,
            errors,
        },
        status,
    )
}

pub(super) async fn list(req: Req) -> Result<Response> {
    sites_page(&req, Fields::default(), Errors::default()).await
}

/// One hostname per line (or separated by commas or spaces).
fn hostnames(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) async fn create(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let account = req.account()?;
    let limits = req.state.billing.limits_of(account).await?;
    match req
        .state
        .catalog
        .create_site(
            account,
            &limits,
            f.get("name"),
            &hostnames(f.get("hostnames")),
        )
        .await
    {
        Ok(site) => Ok(done(
            &format!("/sites/{}", site.site.id),
            Notice::SiteCreated,
        )),
        Err(err) => {
            let errors = Errors::of(err)?;
            sites_page(&req, f, errors).await
        }
    }
}

#[derive(Serialize)]
struct HostStatus {
    hostname: String,
    last_event_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct BarRow {
    id: i64,
    name: String,
    status: Status,
    has_unpublished_changes: bool,
    goal: crate::domain::bar::Goal,
    variants: usize,
    paused_reason: Option<String>,
}

#[derive(Serialize)]
struct GoalRow {
    id: i64,
    name: String,
    path: Option<String>,
}

#[derive(Serialize)]
struct SitePage {
    site: SiteView,
    hosts: Vec<HostStatus>,
    seen_anywhere: bool,
    bars: Vec<BarRow>,
    goals: Vec<GoalRow>,
    form: Fields,
    errors: Errors,
    /// The "add a goal" form, with its own refusals.
    goal_form: Fields,
    goal_errors: Errors,
}

/// What the site page shows again after a form was refused.
#[derive(Default)]
struct Refused {
    form: Option<Fields>,
    errors: Errors,
    goal_form: Fields,
    goal_errors: Errors,
}

async fn site_page(req: &Req, site: &site::Model, refused: Refused) -> Result<Response> {
    let Refused {
        form,
        errors,
        goal_form,
        goal_errors,
    } = refused;
    let state = &req.state;
    let goals = state
        .catalog
        .goals(site)
        .await?
        .into_iter()
        .map(|g| GoalRow {
            id: g.id,
            name: g.name,
            path: g.path,
        })
        .collect();
    let site = state.catalog.site_with_hostnames(site.clone()).await?;
    let bars = state
        .catalog
        .bars(&site.site)
        .await?
        .into_iter()
        .map(|b| BarRow {
            id: b.bar.id.0,
            name: b.bar.name,
            status: b.status,
            has_unpublished_changes: b.has_unpublished_changes,
            goal: b.settings.goal,
            variants: b.variants.len(),
            paused_reason: b.bar.paused_reason,
        })
        .collect();
    let view = SiteView::new(&state.web, site);
    let hosts: Vec<HostStatus> = view
        .hostnames
        .iter()
        .map(|h| HostStatus {
            hostname: h.hostname.clone(),
            last_event_at: h.last_event_at,
        })
        .collect();
    let form = form.unwrap_or_else(|| {
        let mut f = Fields::default();
        f.set("name", view.name.clone());
        f.set(
            "hostnames",
            hosts
                .iter()
                .map(|h| h.hostname.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        );
        f
    });
    let status = if goal_errors.is_empty() {
        errors.status()
    } else {
        goal_errors.status()
    };
    render(
        req,
        "pages/site.html",
        &SitePage {
            seen_anywhere: hosts.iter().any(|h| h.last_event_at.is_some()),
            hosts,
            site: view,
            bars,
            goals,
            form,
            errors,
            goal_form,
            goal_errors,
        },
        status,
    )
}

pub(super) async fn show(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    site_page(&req, &site, Refused::default()).await
}

pub(super) async fn save(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let id = site.id;
    match req
        .state
        .catalog
        .update_site(
            site.clone(),
            Some(f.get("name")),
            Some(&hostnames(f.get("hostnames"))),
        )
        .await
    {
        Ok(_) => Ok(done(&format!("/sites/{id}"), Notice::SiteSaved)),
        Err(err) => {
            let refused = Refused {
                form: Some(f),
                errors: Errors::of(err)?,
                ..Refused::default()
            };
            site_page(&req, &site, refused).await
        }
    }
}

pub(super) async fn add_goal(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let id = site.id;
    let added = req
        .state
        .catalog
        .add_goal(&site, f.get("goal_name"), f.text("goal_path"))
        .await;
    match added {
        Ok(_) => Ok(done(&format!("/sites/{id}"), Notice::GoalAdded)),
        Err(err) => {
            // The goal's fields are named apart from the site's own `name`.
            let err = match err {
                Error::Invalid(mut invalid) => {
                    invalid.field = format!("goal_{}", invalid.field).into();
                    Error::Invalid(invalid)
                }
                other => other,
            };
            let refused = Refused {
                goal_errors: Errors::of(err)?,
                goal_form: f,
                ..Refused::default()
            };
            site_page(&req, &site, refused).await
        }
    }
}

pub(super) async fn delete_goal(req: Req, OwnedGoal(site, goal): OwnedGoal) -> Result<Response> {
    req.state.catalog.delete_goal(&site, goal).await?;
    Ok(done(&format!("/sites/{}", site.id), Notice::GoalDeleted))
}

pub(super) async fn delete(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    req.state.catalog.delete_site(site.clone()).await?;
    Ok(done("/sites", Notice::SiteDeleted))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hostnames_split_on_lines_commas_and_spaces() {
        assert_eq!(
            super::hostnames("shop.example\r\n*.blog.example, a.example  b.example\n"),
            ["shop.example", "*.blog.example", "a.example", "b.example"]
        );
    }
}
