//! Where the member's rates stand among comparable accounts, read from the newest
//! benchmark snapshot (never computed on request).

use serde::Deserialize;
use utoipa::IntoParams;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::error::Result;
use crate::reporting::benchmarks::MemberBenchmarks;
use crate::web::guards::OwnedBar;
use crate::web::json;
use crate::web::router::Req;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WindowQuery {
    /// A computed window such as `30d` (the default).
    pub window: Option<String>,
}

/// Your groups (goal × placement × metric), each beside the distribution of the other
/// accounts it is compared with, your percentile and its trend.
#[utoipa::path(get, path = "/api/v1/benchmarks", tag = "benchmarks",
    params(WindowQuery),
    responses((status = 200, description = "Your benchmarks", body = MemberBenchmarks)))]
pub(crate) async fn mine(req: Req) -> Result<Response> {
    let q: WindowQuery = req.query()?;
    let b = req
        .state
        .benchmarks
        .read(req.account()?, None, q.window.as_deref())
        .await?;
    Ok(json(StatusCode::OK, &b))
}

/// One bar's rates beside the distribution its account's group is compared with.
#[utoipa::path(get, path = "/api/v1/bars/{bar_id}/benchmark", tag = "benchmarks",
    params(("bar_id" = i64, Path, description = "One of your bars"), WindowQuery),
    responses((status = 200, description = "The bar's benchmark", body = MemberBenchmarks)))]
pub(crate) async fn bar(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let q: WindowQuery = req.query()?;
    let b = req
        .state
        .benchmarks
        .read(req.account()?, Some(bar.id), q.window.as_deref())
        .await?;
    Ok(json(StatusCode::OK, &b))
}
