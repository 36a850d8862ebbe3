//! `GET /api/v1/health` (the process answers) and `GET /api/v1/ready` (the database answers).
//! Both are open without a token so load balancers and probes can call them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{Error, Result};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// Liveness of the API process.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok` when the process answers.
    status: &'static str,
    /// Version of the `tessera` build.
    version: &'static str,
    /// Server time, RFC 3339 UTC.
    time: String,
    /// Seconds since the API started.
    uptime_seconds: i64,
}

/// Readiness: whether the database answers and is fully migrated.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready`.
    status: &'static str,
    /// `sqlite` or `postgres`.
    database: String,
    /// Migrations known to this build but not applied.
    migrations_pending: usize,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/api/v1/health", tag = "health",
    responses((status = 200, description = "The API process is up", body = Health)))]
pub(crate) async fn health(State(state): State<ApiState>) -> Json<Health> {
    let now = state.clock().now();
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        time: now.to_rfc3339(),
        uptime_seconds: now.nanos_since(state.metrics().started_at()) / 1_000_000_000,
    })
}

/// Readiness: the database answers and has every migration applied.
#[utoipa::path(get, path = "/api/v1/ready", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Database unreachable or not migrated", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn ready(State(state): State<ApiState>) -> Result<Response> {
    let store = state.store();
    let migrations = match store.migration_status().await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            return Ok(unavailable("the database does not answer"));
        }
    };
    let pending = migrations.iter().filter(|m| !m.applied).count();
    if pending > 0 {
        return Ok(unavailable(&format!(
            "{pending} database migrations are not applied; run `tessera db migrate`"
        )));
    }
    Ok(Json(Readiness {
        status: "ready",
        database: store.backend().to_string(),
        migrations_pending: pending,
    })
    .into_response())
}

fn unavailable(detail: &str) -> Response {
    let mut res = Error::Internal(String::new()).into_response();
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let body = crate::Problem {
        type_: "/docs#problem-unavailable".into(),
        title: "Service Unavailable".into(),
        status: 503,
        detail: detail.to_string(),
        param: None,
    };
    *res.body_mut() = axum::body::Body::from(serde_json::to_vec(&body).unwrap_or_default());
    res
}
