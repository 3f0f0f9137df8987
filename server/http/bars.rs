//! Members: bars, their variants and deployments over the JSON API, and publishing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::extract;
use super::{handle, json, no_content};
use crate::accounts::{self, Credentials};
use crate::bars::{self, Bar, BarInput, Status, VariantInput};
use crate::db::entities::{deployment, variant};
use crate::domain::bar::{Display, Frequency, Goal, Placement, Snapshot, Targeting, Trigger};
use crate::error::AppError;
use crate::state::AppState;

pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let site_bars = warp::path!("api" / "v1" / "sites" / i64 / "bars");
    let bar = warp::path!("api" / "v1" / "bars" / i64);
    let variants = warp::path!("api" / "v1" / "bars" / i64 / "variants");
    let variant = warp::path!("api" / "v1" / "bars" / i64 / "variants" / i64);

    let create = site_bars
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|site, s, c, b| handle(create(site, s, c, b)));
    let list = site_bars
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|site, s, c| handle(list(site, s, c)));
    let get = bar
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(get(id, s, c)));
    let patch = bar
        .and(warp::patch())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|id, s, c, b| handle(patch(id, s, c, b)));
    let delete = bar
        .and(warp::delete())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(delete(id, s, c)));
    let publish = warp::path!("api" / "v1" / "bars" / i64 / "publish")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(publish(id, s, c)));
    let pause = warp::path!("api" / "v1" / "bars" / i64 / "pause")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(pause(id, s, c)));
    let deployments = warp::path!("api" / "v1" / "bars" / i64 / "deployments")
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(deployments(id, s, c)));

    let list_variants = variants
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(list_variants(id, s, c)));
    let create_variant = variants
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|id, s, c, b| handle(create_variant(id, s, c, b)));
    let get_variant = variant
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|bar, id, s, c| handle(get_variant(bar, id, s, c)));
    let patch_variant = variant
        .and(warp::patch())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|bar, id, s, c, b| handle(patch_variant(bar, id, s, c, b)));
    let delete_variant = variant
        .and(warp::delete())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|bar, id, s, c| handle(delete_variant(bar, id, s, c)));

    create
        .or(list)
        .unify()
        .or(get)
        .unify()
        .or(patch)
        .unify()
        .or(delete)
        .unify()
        .or(publish)
        .unify()
        .or(pause)
        .unify()
        .or(deployments)
        .unify()
        .or(list_variants)
        .unify()
        .or(create_variant)
        .unify()
        .or(get_variant)
        .unify()
        .or(patch_variant)
        .unify()
        .or(delete_variant)
        .unify()
        .boxed()
}

#[derive(Serialize)]
pub struct VariantView {
    id: i64,
    name: String,
    weight: i32,
    message: String,
    button_label: Option<String>,
    link_url: Option<String>,
    background_color: String,
    text_color: String,
    button_color: String,
    button_text_color: String,
    thanks_message: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<variant::Model> for VariantView {
    fn from(v: variant::Model) -> Self {
        VariantView {
            id: v.id,
            name: v.name,
            weight: v.weight,
            message: v.message,
            button_label: v.button_label,
            link_url: v.link_url,
            background_color: v.background_color,
            text_color: v.text_color,
            button_color: v.button_color,
            button_text_color: v.button_text_color,
            thanks_message: v.thanks_message,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

#[derive(Serialize)]
struct BarView {
    id: i64,
    site_id: i64,
    name: String,
    status: Status,
    has_unpublished_changes: bool,
    goal: Goal,
    placement: Placement,
    display: Display,
    sticky: bool,
    closable: bool,
    powered_by: bool,
    targeting: Targeting,
    trigger: Trigger,
    frequency: Frequency,
    variants: Vec<VariantView>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
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
            placement: b.settings.placement,
            display: b.settings.display,
            sticky: b.settings.sticky,
            closable: b.settings.closable,
            powered_by: b.settings.powered_by,
            targeting: b.settings.targeting,
            trigger: b.settings.trigger,
            frequency: b.settings.frequency,
            variants: b.variants.into_iter().map(VariantView::from).collect(),
            created_at: b.bar.created_at,
            updated_at: b.bar.updated_at,
            published_at: b.bar.published_at,
        }
    }
}

#[derive(Serialize)]
struct DeploymentView {
    id: i64,
    bar_id: i64,
    variant_id: i64,
    live: bool,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    /// Exactly what this deployment showed.
    shown: Snapshot,
}

fn deployment_view(d: deployment::Model) -> Result<DeploymentView, AppError> {
    Ok(DeploymentView {
        shown: bars::snapshot_of(&d)?,
        id: d.id,
        bar_id: d.bar_id,
        variant_id: d.variant_id,
        live: d.ended_at.is_none(),
        started_at: d.started_at,
        ended_at: d.ended_at,
    })
}

fn deployment_list(list: Vec<deployment::Model>) -> Result<Vec<DeploymentView>, AppError> {
    list.into_iter().map(deployment_view).collect()
}

async fn create(
    site_id: i64,
    state: AppState,
    creds: Credentials,
    body: Result<BarInput, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let bar = bars::create(&state, auth.member.id, site_id, body?).await?;
    Ok(json(StatusCode::CREATED, &BarView::from(bar)))
}

async fn list(site_id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let list: Vec<BarView> = bars::list(&state, auth.member.id, site_id)
        .await?
        .into_iter()
        .map(BarView::from)
        .collect();
    Ok(json(StatusCode::OK, &serde_json::json!({ "bars": list })))
}

async fn get(id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    Ok(json(
        StatusCode::OK,
        &BarView::from(bars::get(&state, auth.member.id, id).await?),
    ))
}

async fn patch(
    id: i64,
    state: AppState,
    creds: Credentials,
    body: Result<BarInput, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let bar = bars::update(&state, auth.member.id, id, body?).await?;
    Ok(json(StatusCode::OK, &BarView::from(bar)))
}

async fn delete(id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    bars::delete(&state, auth.member.id, id).await?;
    Ok(no_content())
}

async fn publish(id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let live = deployment_list(bars::publish(&state, auth.member.id, id).await?)?;
    let bar = BarView::from(bars::get(&state, auth.member.id, id).await?);
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "bar": bar, "deployments": live }),
    ))
}

async fn pause(id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    Ok(json(
        StatusCode::OK,
        &BarView::from(bars::pause(&state, auth.member.id, id).await?),
    ))
}

async fn deployments(id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let list = deployment_list(bars::deployments(&state, auth.member.id, id).await?)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "deployments": list }),
    ))
}

async fn list_variants(
    bar_id: i64,
    state: AppState,
    creds: Credentials,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let list: Vec<VariantView> = bars::variants(&state, auth.member.id, bar_id)
        .await?
        .into_iter()
        .map(VariantView::from)
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "variants": list }),
    ))
}

async fn create_variant(
    bar_id: i64,
    state: AppState,
    creds: Credentials,
    body: Result<VariantInput, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let v = bars::create_variant(&state, auth.member.id, bar_id, body?).await?;
    Ok(json(StatusCode::CREATED, &VariantView::from(v)))
}

async fn get_variant(
    bar_id: i64,
    id: i64,
    state: AppState,
    creds: Credentials,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    Ok(json(
        StatusCode::OK,
        &VariantView::from(bars::variant(&state, auth.member.id, bar_id, id).await?),
    ))
}

async fn patch_variant(
    bar_id: i64,
    id: i64,
    state: AppState,
    creds: Credentials,
    body: Result<VariantInput, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let v = bars::update_variant(&state, auth.member.id, bar_id, id, body?).await?;
    Ok(json(StatusCode::OK, &VariantView::from(v)))
}

async fn delete_variant(
    bar_id: i64,
    id: i64,
    state: AppState,
    creds: Credentials,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    bars::delete_variant(&state, auth.member.id, bar_id, id).await?;
    Ok(no_content())
}
