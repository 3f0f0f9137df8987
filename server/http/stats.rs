//! Members: counts as JSON or CSV for a deployment, a variant, a bar (with its A/B
//! comparison) or a site, and a site's usage this month.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{extract, handle, json};
use crate::accounts::{self, Credentials};
use crate::db::sites as q;
use crate::error::AppError;
use crate::state::AppState;
use crate::stats::{self, Range, Report};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    from: Option<String>,
    to: Option<String>,
    interval: Option<String>,
    /// `csv` for CSV; `Accept: text/csv` does the same.
    format: Option<String>,
}

/// The query string, or a 422 naming the parameter that does not parse.
fn query()
-> impl Filter<Extract = (Result<StatsQuery, AppError>,), Error = std::convert::Infallible> + Clone
{
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .map(|raw: String| {
            serde_urlencoded::from_str::<StatsQuery>(&raw).map_err(|e| {
                AppError::invalid("query", format!("the query string does not parse: {e}"))
            })
        })
}

enum What {
    Deployment(i64),
    Variant(i64, i64),
    Bar(i64),
    Site(i64),
}

pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let common = || {
        warp::get()
            .and(extract::state(state))
            .and(extract::credentials())
            .and(warp::header::headers_cloned())
            .and(query())
    };
    let deployment = warp::path!("api" / "v1" / "deployments" / i64 / "stats")
        .and(common())
        .then(|id, s, c, h, q| handle(stats(What::Deployment(id), s, c, h, q)));
    let variant = warp::path!("api" / "v1" / "bars" / i64 / "variants" / i64 / "stats")
        .and(common())
        .then(|bar, id, s, c, h, q| handle(stats(What::Variant(bar, id), s, c, h, q)));
    let bar = warp::path!("api" / "v1" / "bars" / i64 / "stats")
        .and(common())
        .then(|id, s, c, h, q| handle(stats(What::Bar(id), s, c, h, q)));
    let site = warp::path!("api" / "v1" / "sites" / i64 / "stats")
        .and(common())
        .then(|id, s, c, h, q| handle(stats(What::Site(id), s, c, h, q)));
    let usage = warp::path!("api" / "v1" / "sites" / i64 / "usage")
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(usage(id, s, c)));
    deployment
        .or(variant)
        .unify()
        .or(bar)
        .unify()
        .or(site)
        .unify()
        .or(usage)
        .unify()
        .boxed()
}

fn wants_csv(headers: &HeaderMap, q: &StatsQuery) -> Result<bool, AppError> {
    match q.format.as_deref() {
        Some("csv") => return Ok(true),
        Some("json") => return Ok(false),
        Some(other) => {
            return Err(AppError::invalid(
                "format",
                format!("`{other}` is neither json nor csv"),
            ));
        }
        None => {}
    }
    Ok(headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv"))))
}

fn csv(report: &Report, name: &str) -> Response {
    let mut res = Response::new(report.csv().into());
    let h = res.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"barkeep-{name}.csv\"")) {
        h.insert("content-disposition", v);
    }
    res
}

async fn stats(
    what: What,
    state: AppState,
    creds: Credentials,
    headers: HeaderMap,
    q: Result<StatsQuery, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let q = q?;
    let as_csv = wants_csv(&headers, &q)?;
    let range = Range::parse(
        q.from.as_deref(),
        q.to.as_deref(),
        q.interval.as_deref(),
        Utc::now(),
    )?;
    let member = auth.member.id;
    let db = &state.db;
    let (report, name) = match what {
        What::Bar(id) => {
            q::bar_of(db, member, id).await?.ok_or(AppError::NotFound)?;
            let report = stats::bar_report(db, id, range).await?;
            if !as_csv {
                return Ok(json(StatusCode::OK, &report));
            }
            (report.report, format!("bar-{id}"))
        }
        What::Deployment(id) => {
            stats::owned_deployment(db, member, id).await?;
            (
                stats::report(db, &[id], range).await?,
                format!("deployment-{id}"),
            )
        }
        What::Variant(bar, id) => {
            let ids = stats::deployments_of_variant(db, member, bar, id).await?;
            (
                stats::report(db, &ids, range).await?,
                format!("variant-{id}"),
            )
        }
        What::Site(id) => {
            let ids = stats::deployments_of_site(db, member, id).await?;
            (stats::report(db, &ids, range).await?, format!("site-{id}"))
        }
    };
    Ok(if as_csv {
        csv(&report, &name)
    } else {
        json(StatusCode::OK, &report)
    })
}

#[derive(Serialize)]
struct UsageView {
    site_id: i64,
    #[serde(flatten)]
    usage: stats::Usage,
}

async fn usage(site_id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let ids = stats::deployments_of_site(&state.db, auth.member.id, site_id).await?;
    let usage = stats::usage(&state.db, &ids, Utc::now()).await?;
    Ok(json(StatusCode::OK, &UsageView { site_id, usage }).into_response())
}
