//! `/api/v1/jobs`: the scheduler's job queue (list, show, logs, cancel), read
//! straight from the store, so it works under `tessera serve` while workers
//! run in other processes.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_storage::{Job, JobFilter, JobStatus};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::{ReadAccess, TradeAccess};
use crate::error::{Error, Result};
use crate::params::Query;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/jobs", get(list).post(crate::schedules::run_job))
        .route("/jobs/{id}", get(show))
        .route("/jobs/{id}/logs", get(logs))
        .route("/jobs/{id}/cancel", post(cancel))
}

/// Parse stored JSON text; text that is not JSON is returned as a JSON string.
pub(crate) fn json_text(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.to_string()))
}

/// A job as stored.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobJson {
    /// Queue id.
    id: i64,
    /// Job type (`daily_price_update`, `reports`, …).
    #[serde(rename = "type")]
    job_type: String,
    /// Parameters (JSON).
    #[schema(value_type = Object)]
    params: serde_json::Value,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    status: String,
    /// Higher runs first.
    priority: i64,
    /// Attempts started.
    attempts: u32,
    /// Attempts allowed.
    max_attempts: u32,
    /// When it was queued.
    created_at: String,
    /// Start of the latest attempt.
    started_at: Option<String>,
    /// When it reached a final status.
    finished_at: Option<String>,
    /// Cancellation requested while running.
    cancel_requested: bool,
    /// Latest error.
    error: Option<String>,
    /// Result (JSON), when finished.
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
}

impl From<&Job> for JobJson {
    fn from(j: &Job) -> Self {
        Self {
            id: j.id,
            job_type: j.job_type.clone(),
            params: json_text(&j.params),
            status: j.status.to_string(),
            priority: j.priority,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            created_at: j.created_at.to_rfc3339(),
            started_at: j.started_at.map(|t| t.to_rfc3339()),
            finished_at: j.finished_at.map(|t| t.to_rfc3339()),
            cancel_requested: j.cancel_requested,
            error: j.error.clone(),
            result: j.result.as_deref().map(json_text),
        }
    }
}

/// Jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobList {
    /// Newest first.
    jobs: Vec<JobJson>,
}

/// Filters of the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobsQuery {
    /// Only this status (`queued`, `running`, `succeeded`, `failed`, `cancelled`).
    status: Option<String>,
    /// Only this job type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    job_type: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    limit: Option<String>,
}

fn job_id(s: &str) -> Result<i64> {
    s.parse()
        .map_err(|_| Error::param("id", format!("{s:?} is not a job id (an integer)")))
}

/// List jobs.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobsQuery), security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Jobs", body = JobList),
        (status = 400, description = "Bad filter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<JobsQuery>,
) -> Result<Json<JobList>> {
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<JobStatus>()
                .map_err(|e| Error::param("status", e))
        })
        .transpose()?;
    let limit = match q.limit.as_deref().filter(|s| !s.is_empty()) {
        None => 100,
        Some(s) => match s.trim().parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(Error::param(
                    "limit",
                    format!("{s:?} is not a page size; expected an integer from 1 to 1000"),
                ));
            }
        },
    };
    let jobs = state
        .store()
        .list_jobs(&JobFilter {
            status,
            job_type: q.job_type.filter(|s| !s.is_empty()),
            limit,
        })
        .await?;
    Ok(Json(JobList {
        jobs: jobs.iter().map(JobJson::from).collect(),
    }))
}

/// Show one job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The job", body = JobJson),
        (status = 400, description = "Bad id", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path(id): Path<String>,
) -> Result<Json<JobJson>> {
    let job = state.store().job(job_id(&id)?).await?;
    Ok(Json(JobJson::from(&job)))
}

/// One log line of a job.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogLine {
    /// Attempt that wrote it (1-based).
    attempt: u32,
    /// When, RFC 3339.
    timestamp: String,
    /// `info`, `warn` or `error`.
    level: String,
    /// The line.
    message: String,
}

/// A job's captured log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobLogs {
    /// Job id.
    job_id: i64,
    /// Lines in order.
    lines: Vec<LogLine>,
}

/// A job's log lines.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/logs", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Log", body = JobLogs),
        (status = 400, description = "Bad id", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn logs(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path(id): Path<String>,
) -> Result<Json<JobLogs>> {
    let id = job_id(&id)?;
    // 404 for an unknown job rather than an empty log.
    state.store().job(id).await?;
    let lines = state.store().job_logs(id).await?;
    Ok(Json(JobLogs {
        job_id: id,
        lines: lines
            .into_iter()
            .map(|l| LogLine {
                attempt: l.attempt,
                timestamp: l.ts.to_rfc3339(),
                level: l.level,
                message: l.message,
            })
            .collect(),
    }))
}

/// Cancel a job: a queued job at once, a running one at its next heartbeat.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    security(("bearer" = ["trade"])),
    responses(
        (status = 200, description = "The job afterwards", body = JobJson),
        (status = 400, description = "Bad id", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope is `read`", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    _auth: TradeAccess,
    Path(id): Path<String>,
) -> Result<Json<JobJson>> {
    let job = state.store().cancel_job(job_id(&id)?).await?;
    Ok(Json(JobJson::from(&job)))
}
