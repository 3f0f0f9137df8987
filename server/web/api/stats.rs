//! Counts as JSON or CSV for a deployment, a variant, a bar (with its A/B comparison) or
//! a site, a bar's A/B comparison on its own, and a site's usage this month.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use crate::domain::SiteId;
use crate::error::{Error, Result};
use crate::reporting::{self, BarReport, Range, Report, Scope, Usage};
use crate::web::guards::{OwnedBar, OwnedDeployment, OwnedSite, OwnedVariant};
use crate::web::json;
use crate::web::router::Req;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatsQuery {
    /// A date (`2026-11-01`) or an RFC 3339 time; by default 7 days (or 24 hours by hour)
    /// before `to`.
    pub from: Option<String>,
    /// A date (that whole day is included) or an RFC 3339 time; by default the end of
    /// the current hour or day.
    pub to: Option<String>,
    /// `hour` or `day` (the default).
    pub interval: Option<String>,
    /// `json` (the default) or `csv`; `Accept: text/csv` asks for CSV too.
    pub format: Option<String>,
    /// `previous` adds the period of the same length before (whole weeks earlier for a
    /// series by day, so weekdays line up).
    pub compare: Option<String>,
}

/// What a stats request asks for.
struct Asked {
    range: Range,
    csv: bool,
    compare: bool,
}

impl Req {
    /// `format=csv`, or `Accept: text/csv` without a format.
    fn wants_csv(&self, format: Option<&str>) -> Result<bool> {
        match format {
            Some("csv") => Ok(true),
            Some("json") => Ok(false),
            Some(other) => Err(Error::invalid(
                "format",
                format!("`{other}` is neither json nor csv"),
            )),
            None => Ok(self
                .header("accept")
                .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")))),
        }
    }

    fn stats_query(&self) -> Result<Asked> {
        let q: StatsQuery = self.query()?;
        let compare = match q.compare.as_deref() {
            None => false,
            Some("previous") => true,
            Some(other) => {
                return Err(Error::invalid(
                    "compare",
                    format!("`{other}` is not `previous`"),
                ));
            }
        };
        let csv = self.wants_csv(q.format.as_deref())?;
        let range = Range::parse(
            q.from.as_deref(),
            q.to.as_deref(),
            q.interval.as_deref(),
            self.state.clock.now(),
        )?;
        Ok(Asked {
            range,
            csv,
            compare,
        })
    }
}

fn csv(report: &Report, name: &str) -> Response {
    csv_file(report.csv(), name)
}

fn csv_file(body: String, name: &str) -> Response {
    let mut res = Response::new(body.into());
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

async fn answer(req: &Req, scope: Scope, name: String) -> Result<Response> {
    let asked = req.stats_query()?;
    let report = reporting::report_compared(
        &req.state.db,
        scope,
        asked.range,
        asked.compare && !asked.csv,
    )
    .await?;
    Ok(if asked.csv {
        csv(&report, &name)
    } else {
        json(StatusCode::OK, &report)
    })
}

/// Counts of one deployment.
#[utoipa::path(get, path = "/api/v1/deployments/{deployment_id}/stats", tag = "stats",
    params(("deployment_id" = i64, Path, description = "One of your deployments"), StatsQuery),
    responses((status = 200, description = "Totals and a series",
        content((Report = "application/json"), (String = "text/csv")))))]
pub(crate) async fn deployment(
    req: Req,
    OwnedDeployment(deployment): OwnedDeployment,
) -> Result<Response> {
    let id = deployment.id;
    answer(&req, Scope::Deployment(id), format!("deployment-{id}")).await
}

/// Counts of one variant, over all its deployments.
#[utoipa::path(get, path = "/api/v1/bars/{bar_id}/variants/{variant_id}/stats", tag = "stats",
    params(
        ("bar_id" = i64, Path, description = "One of your bars"),
        ("variant_id" = i64, Path, description = "One of the bar's variants"),
        StatsQuery,
    ),
    responses((status = 200, description = "Totals and a series",
        content((Report = "application/json"), (String = "text/csv")))))]
pub(crate) async fn variant(req: Req, ov: OwnedVariant) -> Result<Response> {
    let id = ov.variant.id;
    answer(&req, Scope::Variant(id), format!("variant-{id}")).await
}

/// Counts of a bar, each variant's numbers, and the comparison of its variants.
#[utoipa::path(get, path = "/api/v1/bars/{bar_id}/stats", tag = "stats",
    params(("bar_id" = i64, Path, description = "One of your bars"), StatsQuery),
    responses((status = 200, description = "Totals, a series, the variants and the A/B comparison",
        content((BarReport = "application/json"), (String = "text/csv")))))]
pub(crate) async fn bar(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let id = bar.id;
    let asked = req.stats_query()?;
    if asked.csv {
        let report = reporting::report(&req.state.db, Scope::Bar(id), asked.range).await?;
        return Ok(csv(&report, &format!("bar-{id}")));
    }
    let report = reporting::bar_report(&req.state.db, id, asked.range, asked.compare).await?;
    Ok(json(StatusCode::OK, &report))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExperimentQuery {
    /// Read the comparison as it stood at the end of this day (a date) or at this RFC 3339
    /// time; by default now.
    pub to: Option<String>,
    /// `json` (the default) or `csv`; `Accept: text/csv` asks for CSV too.
    pub format: Option<String>,
}

/// Each variant of a bar against the first: the difference in click-through rate with an
/// always-valid interval and p-value, and a verdict, over every day both were shown.
#[utoipa::path(get, path = "/api/v1/bars/{bar_id}/experiment", tag = "stats",
    params(("bar_id" = i64, Path, description = "One of your bars"), ExperimentQuery),
    responses((status = 200, description = "The comparison of the bar's variants",
        content((reporting::Experiment = "application/json"), (String = "text/csv")))))]
pub(crate) async fn experiment(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let q: ExperimentQuery = req.query()?;
    let csv = req.wants_csv(q.format.as_deref())?;
    let range = Range::parse(None, q.to.as_deref(), None, req.state.clock.now())?;
    let experiment = reporting::experiment(&req.state.db, bar.id, range.to).await?;
    if !csv {
        return Ok(json(StatusCode::OK, &experiment));
    }
    Ok(csv_file(
        experiment.csv(),
        &format!("bar-{}-experiment", bar.id),
    ))
}

/// Counts of a site, over all its bars.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/stats", tag = "stats",
    params(("site_id" = i64, Path, description = "One of your sites"), StatsQuery),
    responses((status = 200, description = "Totals and a series",
        content((Report = "application/json"), (String = "text/csv")))))]
pub(crate) async fn site(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let id = site.id;
    answer(&req, Scope::Site(id), format!("site-{id}")).await
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SiteUsage {
    pub site_id: SiteId,
    #[serde(flatten)]
    pub usage: Usage,
}

/// A site's views this calendar month (UTC).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/usage", tag = "stats",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "Usage this month", body = SiteUsage)))]
pub(crate) async fn usage(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let site_id = site.id;
    let usage =
        reporting::usage(&req.state.db, Scope::Site(site_id), req.state.clock.now()).await?;
    Ok(json(StatusCode::OK, &SiteUsage { site_id, usage }))
}
