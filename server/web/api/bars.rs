//! Bars, their variants and deployments, and publishing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::catalog::{Bar, BarInput, Status, VariantInput};
use crate::db::entities::{deployment, variant};
use crate::domain::bar::{
    Display, Frequency, Goal, Placement, Snapshot, Targeting, Trigger, VariantContent,
};
use crate::domain::element::{Countdown, ElementType, Side};
use crate::domain::{Allocation, BarId, DeploymentId, SiteId, VariantId};
use crate::error::Result;
use crate::web::guards::{OwnedBar, OwnedSite, OwnedVariant};
use crate::web::router::Req;
use crate::web::{json, no_content};

#[derive(Serialize, ToSchema)]
pub(crate) struct VariantView {
    pub id: VariantId,
    pub name: String,
    pub weight: i32,
    #[serde(flatten)]
    pub content: VariantContent,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<variant::Model> for VariantView {
    fn from(v: variant::Model) -> Self {
        VariantView {
            content: crate::catalog::content_of(&v),
            id: v.id,
            name: v.name,
            weight: v.weight,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BarView {
    pub id: BarId,
    pub site_id: SiteId,
    pub name: String,
    pub status: Status,
    /// Live, and edited since: publishing again would change what visitors see.
    pub has_unpublished_changes: bool,
    pub goal: Goal,
    pub element_type: ElementType,
    pub placement: Placement,
    /// A slider's corner side.
    pub side: Side,
    pub display: Display,
    pub sticky: bool,
    pub closable: bool,
    pub powered_by: bool,
    pub targeting: Targeting,
    pub trigger: Trigger,
    pub frequency: Frequency,
    pub countdown: Option<Countdown>,
    /// `weights` (split by weight: an A/B test) or `thompson` (more new visitors to the
    /// variant doing best, updated hourly).
    pub allocation: Allocation,
    /// Percent of new visitors held out (shown nothing, counted).
    pub holdout: u8,
    pub variants: Vec<VariantView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// Why the plan, not you, took the bar off its site (it comes back when you publish it
    /// within the plan's limits).
    pub paused_reason: Option<String>,
}

impl From<Bar> for BarView {
    fn from(b: Bar) -> Self {
        BarView {
            id: b.bar.id,
            site_id: b.bar.site_id,
            name: b.bar.name,
            status: b.status,
            has_unpublished_changes: b.has_unpublished_changes,
            goal: b.settings.goal,
            element_type: b.settings.element_type,
            placement: b.settings.placement,
            side: b.settings.side,
            display: b.settings.display,
            sticky: b.settings.sticky,
            closable: b.settings.closable,
            powered_by: b.settings.powered_by,
            targeting: b.settings.targeting,
            trigger: b.settings.trigger,
            frequency: b.settings.frequency,
            countdown: b.settings.countdown,
            allocation: b.settings.allocation,
            holdout: b.settings.holdout,
            variants: b.variants.into_iter().map(VariantView::from).collect(),
            created_at: b.bar.created_at,
            updated_at: b.bar.updated_at,
            published_at: b.bar.published_at,
            paused_reason: b.bar.paused_reason,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DeploymentView {
    pub id: DeploymentId,
    pub bar_id: BarId,
    pub variant_id: VariantId,
    pub live: bool,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Exactly what this deployment showed.
    pub shown: Snapshot,
}

impl From<deployment::Model> for DeploymentView {
    fn from(d: deployment::Model) -> Self {
        DeploymentView {
            id: d.id,
            bar_id: d.bar_id,
            variant_id: d.variant_id,
            live: d.ended_at.is_none(),
            started_at: d.started_at,
            ended_at: d.ended_at,
            shown: d.snapshot,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Bars {
    pub bars: Vec<BarView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Deployments {
    pub deployments: Vec<DeploymentView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Published {
    pub bar: BarView,
    /// What is live now.
    pub deployments: Vec<DeploymentView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Variants {
    pub variants: Vec<VariantView>,
}

/// A site's bars.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/bars", tag = "bars",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "Bars", body = Bars)))]
pub(crate) async fn list(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let bars = req.state.catalog.bars(&site).await?;
    Ok(json(
        StatusCode::OK,
        &Bars {
            bars: bars.into_iter().map(BarView::from).collect(),
        },
    ))
}

/// Create a bar (a draft, with one variant "A"); see docs/bars.md for every option.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/bars", tag = "bars", request_body = BarInput,
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 201, description = "Created", body = BarView)))]
pub(crate) async fn create(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let body: BarInput = req.json()?;
    let limits = req.state.billing.limits_of(req.account()?).await?;
    let bar = req.state.catalog.create_bar(&site, &limits, body).await?;
    Ok(json(StatusCode::CREATED, &BarView::from(bar)))
}

/// One bar.
#[utoipa::path(get, path = "/api/v1/bars/{bar_id}", tag = "bars",
    params(("bar_id" = i64, Path, description = "One of your bars")),
    responses((status = 200, description = "The bar", body = BarView)))]
pub(crate) async fn get(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let bar = req.state.catalog.bar(bar.clone()).await?;
    Ok(json(StatusCode::OK, &BarView::from(bar)))
}

/// Change a bar; it reaches visitors when published.
#[utoipa::path(patch, path = "/api/v1/bars/{bar_id}", tag = "bars", request_body = BarInput,
    params(("bar_id" = i64, Path, description = "One of your bars")),
    responses((status = 200, description = "The bar as changed", body = BarView)))]
pub(crate) async fn patch(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let body: BarInput = req.json()?;
    let limits = req.state.billing.limits_of(req.account()?).await?;
    let bar = req
        .state
        .catalog
        .update_bar(bar.clone(), &limits, body)
        .await?;
    Ok(json(StatusCode::OK, &BarView::from(bar)))
}

/// Delete a bar: it leaves the site's script at once; its deployments and counts stay.
#[utoipa::path(delete, path = "/api/v1/bars/{bar_id}", tag = "bars",
    params(("bar_id" = i64, Path, description = "One of your bars")),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    req.state.catalog.delete_bar(bar.clone()).await?;
    Ok(no_content())
}

/// Publish the bar as it is now: each variant with a weight becomes a deployment and the
/// previous ones end. Publishing an unchanged live bar changes nothing.
#[utoipa::path(post, path = "/api/v1/bars/{bar_id}/publish", tag = "bars",
    params(("bar_id" = i64, Path, description = "One of your bars")),
    responses((status = 200, description = "Published", body = Published)))]
pub(crate) async fn publish(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let catalog = &req.state.catalog;
    let account = req.account()?;
    let limits = req.state.billing.limits_of(account).await?;
    let live = catalog.publish(bar.clone(), account, &limits).await?;
    let bar = catalog.bar(bar.clone()).await?;
    Ok(json(
        StatusCode::OK,
        &Published {
            bar: BarView::from(bar),
            deployments: live.into_iter().map(DeploymentView::from).collect(),
        },
    ))
}

/// Take the bar off the site; publishing again brings it back.
#[utoipa::path(post, path = "/api/v1/bars/{bar_id}/pause", tag = "bars",
    params(("bar_id" = i64, Path, description = "One of your bars")),
    responses((status = 200, description = "Paused", body = BarView)))]
pub(crate) async fn pause(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let bar = req.state.catalog.pause(bar.clone()).await?;
    Ok(json(StatusCode::OK, &BarView::from(bar)))
}

/// Every deployment the bar had, newest first.
#[utoipa::path(get, path = "/api/v1/bars/{bar_id}/deployments", tag = "bars",
    params(("bar_id" = i64, Path, description = "One of your bars")),
    responses((status = 200, description = "Deployments", body = Deployments)))]
pub(crate) async fn deployments(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let list = req.state.catalog.deployments(&bar).await?;
    Ok(json(
        StatusCode::OK,
        &Deployments {
            deployments: list.into_iter().map(DeploymentView::from).collect(),
        },
    ))
}

/// The bar's variants.
#[utoipa::path(get, path = "/api/v1/bars/{bar_id}/variants", tag = "bars",
    params(("bar_id" = i64, Path, description = "One of your bars")),
    responses((status = 200, description = "Variants", body = Variants)))]
pub(crate) async fn list_variants(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let list = req.state.catalog.variants(&bar).await?;
    Ok(json(
        StatusCode::OK,
        &Variants {
            variants: list.into_iter().map(VariantView::from).collect(),
        },
    ))
}

/// Add an A/B variant; what is left out is copied from the first variant.
#[utoipa::path(post, path = "/api/v1/bars/{bar_id}/variants", tag = "bars", request_body = VariantInput,
    params(("bar_id" = i64, Path, description = "One of your bars")),
    responses((status = 201, description = "Created", body = VariantView)))]
pub(crate) async fn create_variant(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let body: VariantInput = req.json()?;
    let limits = req.state.billing.limits_of(req.account()?).await?;
    let v = req
        .state
        .catalog
        .create_variant(&bar, &limits, body)
        .await?;
    Ok(json(StatusCode::CREATED, &VariantView::from(v)))
}

/// One variant.
#[utoipa::path(get, path = "/api/v1/bars/{bar_id}/variants/{variant_id}", tag = "bars",
    params(
        ("bar_id" = i64, Path, description = "One of your bars"),
        ("variant_id" = i64, Path, description = "One of the bar's variants"),
    ),
    responses((status = 200, description = "The variant", body = VariantView)))]
pub(crate) async fn get_variant(_req: Req, ov: OwnedVariant) -> Result<Response> {
    Ok(json(StatusCode::OK, &VariantView::from(ov.variant.clone())))
}

/// Change a variant.
#[utoipa::path(patch, path = "/api/v1/bars/{bar_id}/variants/{variant_id}", tag = "bars",
    request_body = VariantInput,
    params(
        ("bar_id" = i64, Path, description = "One of your bars"),
        ("variant_id" = i64, Path, description = "One of the bar's variants"),
    ),
    responses((status = 200, description = "The variant as changed", body = VariantView)))]
pub(crate) async fn patch_variant(req: Req, ov: OwnedVariant) -> Result<Response> {
    let body: VariantInput = req.json()?;
    let v = req
        .state
        .catalog
        .update_variant(&ov.bar, ov.variant.clone(), body)
        .await?;
    Ok(json(StatusCode::OK, &VariantView::from(v)))
}

/// Remove a variant (a bar keeps at least one); its deployments and counts stay.
#[utoipa::path(delete, path = "/api/v1/bars/{bar_id}/variants/{variant_id}", tag = "bars",
    params(
        ("bar_id" = i64, Path, description = "One of your bars"),
        ("variant_id" = i64, Path, description = "One of the bar's variants"),
    ),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn delete_variant(req: Req, ov: OwnedVariant) -> Result<Response> {
    req.state
        .catalog
        .delete_variant(&ov.bar, ov.variant.clone())
        .await?;
    Ok(no_content())
}
