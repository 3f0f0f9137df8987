//! A member's sites, with the install snippet and, per hostname, when the bar last
//! reported from it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::catalog::Site;
use crate::domain::SiteId;
use crate::error::Result;
use crate::web::guards::OwnedSite;
use crate::web::router::Req;
use crate::web::{Settings, json, no_content};

#[derive(Serialize, ToSchema)]
pub(crate) struct HostnameView {
    pub hostname: String,
    /// When the bar last reported an event from a page on this hostname.
    pub last_event_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SiteView {
    pub id: SiteId,
    pub name: String,
    /// The public key in the script's URL.
    pub key: String,
    pub script_url: String,
    /// Paste this into every page, ideally just before `</head>`.
    pub snippet: String,
    pub hostnames: Vec<HostnameView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SiteView {
    pub(crate) fn new(settings: &Settings, s: Site) -> SiteView {
        let script_url = format!("{}/s/{}.js", settings.base_url, s.site.key);
        SiteView {
            id: s.site.id,
            name: s.site.name,
            snippet: format!("<script async src=\"{script_url}\"></script>"),
            script_url,
            key: s.site.key,
            hostnames: s
                .hostnames
                .into_iter()
                .map(|h| HostnameView {
                    hostname: h.hostname,
                    last_event_at: h.last_event_at,
                })
                .collect(),
            created_at: s.site.created_at,
            updated_at: s.site.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Sites {
    pub sites: Vec<SiteView>,
}

/// The member's sites.
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites",
    responses((status = 200, description = "Sites", body = Sites)))]
pub(crate) async fn list(req: Req) -> Result<Response> {
    let sites = req
        .state
        .catalog
        .sites(req.account()?)
        .await?
        .into_iter()
        .map(|s| SiteView::new(&req.state.web, s))
        .collect();
    Ok(json(StatusCode::OK, &Sites { sites }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSite {
    /// 1 to 100 characters.
    pub name: String,
    /// Where the bar may run: `shop.example.com`, or `*.example.com` for a domain and
    /// every name below it; 1 to 20.
    pub hostnames: Vec<String>,
}

/// Add a site.
#[utoipa::path(post, path = "/api/v1/sites", tag = "sites", request_body = CreateSite,
    responses((status = 201, description = "Created", body = SiteView)))]
pub(crate) async fn create(req: Req) -> Result<Response> {
    let body: CreateSite = req.json()?;
    let account = req.account()?;
    let limits = req.state.billing.limits_of(account).await?;
    let site = req
        .state
        .catalog
        .create_site(account, &limits, &body.name, &body.hostnames)
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &SiteView::new(&req.state.web, site),
    ))
}

/// One site.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}", tag = "sites",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "The site", body = SiteView)))]
pub(crate) async fn get(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let site = req.state.catalog.site_with_hostnames(site.clone()).await?;
    Ok(json(StatusCode::OK, &SiteView::new(&req.state.web, site)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchSite {
    pub name: Option<String>,
    /// Replaces the whole list.
    pub hostnames: Option<Vec<String>>,
}

/// Rename a site or change its hostnames.
#[utoipa::path(patch, path = "/api/v1/sites/{site_id}", tag = "sites", request_body = PatchSite,
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "The site as changed", body = SiteView)))]
pub(crate) async fn patch(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let body: PatchSite = req.json()?;
    let site = req
        .state
        .catalog
        .update_site(
            site.clone(),
            body.name.as_deref(),
            body.hostnames.as_deref(),
        )
        .await?;
    Ok(json(StatusCode::OK, &SiteView::new(&req.state.web, site)))
}

/// Delete a site with its bars, deployments and counts.
#[utoipa::path(delete, path = "/api/v1/sites/{site_id}", tag = "sites",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    req.state.catalog.delete_site(site.clone()).await?;
    Ok(no_content())
}
