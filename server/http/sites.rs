//! Members: their sites over the JSON API, with the install snippet and, per hostname,
//! when the bar last reported from it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::extract;
use super::{handle, json, no_content};
use crate::accounts::{self, Credentials};
use crate::error::AppError;
use crate::sites::{self, Site};
use crate::state::AppState;

pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let sites = warp::path!("api" / "v1" / "sites");
    let site = warp::path!("api" / "v1" / "sites" / i64);
    let create = sites
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|s, c, b| handle(create(s, c, b)));
    let list = sites
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|s, c| handle(list(s, c)));
    let get = site
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(get(id, s, c)));
    let patch = site
        .and(warp::patch())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|id, s, c, b| handle(patch(id, s, c, b)));
    let delete = site
        .and(warp::delete())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(delete(id, s, c)));
    create
        .or(list)
        .unify()
        .or(get)
        .unify()
        .or(patch)
        .unify()
        .or(delete)
        .unify()
        .boxed()
}

#[derive(Serialize)]
struct HostnameView {
    hostname: String,
    /// When the bar last reported an event from a page on this hostname.
    last_event_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
pub struct SiteView {
    id: i64,
    name: String,
    key: String,
    script_url: String,
    /// Paste this into every page, ideally just before `</head>`.
    snippet: String,
    hostnames: Vec<HostnameView>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl SiteView {
    fn new(state: &AppState, s: Site) -> SiteView {
        let script_url = format!("{}/s/{}.js", state.config.base_url, s.site.key);
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSite {
    name: String,
    hostnames: Vec<String>,
}

async fn create(
    state: AppState,
    creds: Credentials,
    body: Result<CreateSite, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let body = body?;
    let site = sites::create(&state, auth.member.id, &body.name, &body.hostnames).await?;
    Ok(json(StatusCode::CREATED, &SiteView::new(&state, site)))
}

async fn list(state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let sites: Vec<SiteView> = sites::list(&state, auth.member.id)
        .await?
        .into_iter()
        .map(|s| SiteView::new(&state, s))
        .collect();
    Ok(json(StatusCode::OK, &serde_json::json!({ "sites": sites })))
}

async fn get(id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let site = sites::get(&state, auth.member.id, id).await?;
    Ok(json(StatusCode::OK, &SiteView::new(&state, site)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchSite {
    name: Option<String>,
    hostnames: Option<Vec<String>>,
}

async fn patch(
    id: i64,
    state: AppState,
    creds: Credentials,
    body: Result<PatchSite, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let body = body?;
    let site = sites::update(
        &state,
        auth.member.id,
        id,
        body.name.as_deref(),
        body.hostnames.as_deref(),
    )
    .await?;
    Ok(json(StatusCode::OK, &SiteView::new(&state, site)))
}

async fn delete(id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    sites::delete(&state, auth.member.id, id).await?;
    Ok(no_content())
}
