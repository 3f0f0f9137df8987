//! A site's list forward: its leads added to a list at the member's email service
//! provider. The key is checked by reading its lists, sealed, and shown only as its last
//! four characters; attempts are listed without the leads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

use super::leads::{Deliveries, DeliveryView};
use crate::db::entities::list_forward;
use crate::domain::SiteId;
use crate::error::{Error, Result};
use crate::leads::Attempt;
use crate::leads::esp::{DoubleOptIn, ListChoice, Provider};
use crate::leads::lists::{ForwardInput, ListsInput};
use crate::web::guards::OwnedSite;
use crate::web::router::Req;
use crate::web::{json, no_content};

/// What barkeep knows of a provider, for the member picking one.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProviderView {
    pub provider: Provider,
    pub name: &'static str,
    /// The provider's word for what a lead is added to.
    pub list_word: &'static str,
    pub double_opt_in: DoubleOptIn,
    /// The member gives the account's API URL as well as the key.
    pub needs_api_url: bool,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Providers {
    pub providers: Vec<ProviderView>,
}

/// The email service providers a site's leads can go to.
#[utoipa::path(get, path = "/api/v1/list-providers", tag = "leads",
    responses((status = 200, description = "Every provider", body = Providers)))]
pub(crate) async fn providers(_req: Req) -> Result<Response> {
    let providers = Provider::ALL
        .into_iter()
        .map(|p| ProviderView {
            provider: p,
            name: p.name(),
            list_word: p.list_word(),
            double_opt_in: p.double_opt_in(),
            needs_api_url: p.needs_api_url(),
        })
        .collect();
    Ok(json(StatusCode::OK, &Providers { providers }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ForwardView {
    pub site_id: SiteId,
    pub provider: Provider,
    /// The key's last four characters; the key itself is never shown again.
    pub key_last4: String,
    pub api_url: Option<String>,
    pub list_id: String,
    pub list_name: String,
    pub double_opt_in: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The provider asked barkeep to wait until then.
    pub paused_until: Option<DateTime<Utc>>,
    /// The forward stopped (a refused key, a list that is gone, a day of failures):
    /// leads wait until you save it again.
    pub stopped_at: Option<DateTime<Utc>>,
    pub stopped_error: Option<String>,
}

impl ForwardView {
    fn new(f: list_forward::Model) -> Result<ForwardView> {
        Ok(ForwardView {
            site_id: f.site_id,
            provider: Provider::parse(&f.provider).ok_or(Error::NotFound)?,
            key_last4: f.key_last4,
            api_url: f.api_url,
            list_id: f.list_id,
            list_name: f.list_name,
            double_opt_in: f.double_opt_in,
            created_at: f.created_at,
            updated_at: f.updated_at,
            paused_until: f.paused_until,
            stopped_at: f.stopped_at,
            stopped_error: f.stopped_error,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Lists {
    pub lists: Vec<ListChoice>,
}

/// The lists (audiences, forms and tags, groups) a key sees at a provider; reading them
/// checks the key. Leave `key` out to use the saved one. A refused key is a 422 on
/// `key`.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/list-forward/lists", tag = "leads", request_body = ListsInput,
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "What the key sees", body = Lists)))]
pub(crate) async fn lists(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let body: ListsInput = req.json()?;
    let lists = req.state.leads.lists(site.id, &body).await?;
    Ok(json(StatusCode::OK, &Lists { lists }))
}

/// Add the site's leads to this list, alongside the webhook and the email. The key is
/// checked and the list must be one it sees.
#[utoipa::path(put, path = "/api/v1/sites/{site_id}/list-forward", tag = "leads", request_body = ForwardInput,
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "Set", body = ForwardView)))]
pub(crate) async fn put(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let body: ForwardInput = req.json()?;
    let forward = req.state.leads.set_list_forward(site.id, body).await?;
    Ok(json(StatusCode::OK, &ForwardView::new(forward)?))
}

/// The site's list forward (the key only as its last four characters).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/list-forward", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "The forward", body = ForwardView)))]
pub(crate) async fn get(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let forward = req
        .state
        .leads
        .list_forward(site.id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(json(StatusCode::OK, &ForwardView::new(forward)?))
}

/// Stop adding leads to the list; the key is deleted.
#[utoipa::path(delete, path = "/api/v1/sites/{site_id}/list-forward", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn delete(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    req.state.leads.delete_list_forward(site.id).await?;
    Ok(no_content())
}

/// Add the made-up address `barkeep-test@example.com` to the list now, and say how it
/// went. A provider that refuses it as invalid still shows the key and list work. Counts
/// with the webhook's tests: at most 10 for the account every 10 minutes.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/list-forward/test", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "How the add went", body = Attempt)))]
pub(crate) async fn test(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let attempt = req
        .state
        .leads
        .test_list_forward(req.account()?, site.id)
        .await?;
    Ok(json(StatusCode::OK, &attempt))
}

/// The latest attempts to add the site's leads to its list (never the leads).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/list-forward/deliveries", tag = "leads",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "Newest first", body = Deliveries)))]
pub(crate) async fn deliveries(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let deliveries = req
        .state
        .leads
        .list_deliveries(site.id)
        .await?
        .into_iter()
        .map(DeliveryView::from)
        .collect();
    Ok(json(StatusCode::OK, &Deliveries { deliveries }))
}
