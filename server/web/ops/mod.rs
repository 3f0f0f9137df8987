//! Operations: liveness, readiness and Prometheus metrics.

use serde::Serialize;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::json;
use super::router::{Req, Table, route};
use crate::error::{Error, Result};

pub(crate) fn table() -> Table {
    Table::new(
        0,
        vec![
            route!(GET "/healthz", Public, healthz),
            route!(GET "/readyz", Public, readyz),
            route!(GET "/metrics", Public, metrics),
        ],
    )
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
}

/// The process is up.
async fn healthz(_req: Req) -> Result<Response> {
    Ok(json(
        StatusCode::OK,
        &Health {
            status: "ok",
            database: None,
        },
    ))
}

/// The database answers (the pool's own check, a trivial query on one of its
/// connections); 503 otherwise, so a load balancer sends traffic elsewhere.
async fn readyz(req: Req) -> Result<Response> {
    if req.state.db.ping().await.is_ok() {
        return Ok(json(
            StatusCode::OK,
            &Health {
                status: "ready",
                database: Some("ok"),
            },
        ));
    }
    tracing::warn!("readiness check: database unreachable");
    Ok(json(
        StatusCode::SERVICE_UNAVAILABLE,
        &Health {
            status: "unavailable",
            database: Some("unreachable"),
        },
    ))
}

/// Prometheus metrics. With `BARKEEP_METRICS_TOKEN` set, only for requests bearing it.
async fn metrics(req: Req) -> Result<Response> {
    if let Some(token) = &req.state.web.metrics_token {
        let bearer = super::extract::credentials(&req.state.web, &req.headers).bearer;
        let ok = bearer.is_some_and(|b| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                b.as_bytes(),
                token.expose().as_bytes(),
            ))
        });
        if !ok {
            return Err(Error::Unauthorized);
        }
    }
    let mut out = String::with_capacity(8192);
    prometheus_client::encoding::text::encode(&mut out, &req.state.metrics)
        .map_err(|e| anyhow::anyhow!("encoding metrics: {e}"))?;
    let mut res = Response::new(out.into());
    res.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(res)
}
