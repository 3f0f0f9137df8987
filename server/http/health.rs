//! Operations: liveness, readiness and Prometheus metrics.

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::extract;
use crate::db;
use crate::state::AppState;

pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})).into_response());

    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(extract::state(state))
        .then(|state: AppState| async move {
            if db::ping(&state.db).await {
                warp::reply::json(&serde_json::json!({"status": "ready", "database": "ok"}))
                    .into_response()
            } else {
                tracing::warn!("readiness check: database unreachable");
                warp::reply::with_status(
                    warp::reply::json(
                        &serde_json::json!({"status": "unavailable", "database": "unreachable"}),
                    ),
                    StatusCode::SERVICE_UNAVAILABLE,
                )
                .into_response()
            }
        });

    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(extract::state(state))
        .map(|state: AppState| {
            warp::reply::with_header(
                state.metrics.encode(),
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
            .into_response()
        });

    healthz.or(readyz).unify().or(metrics).unify().boxed()
}
