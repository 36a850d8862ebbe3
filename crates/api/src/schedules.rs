//! Schedules (list with next run, run now), jobs started over HTTP (any
//! registered job type, backtests and sweeps) and reports — all through the
//! scheduler's durable job queue, so whatever worker process runs
//! (`tessera up`, `tessera worker`) picks them up.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_scheduler::{Registry, Schedule, ScheduleConfig};
use tessera_storage::{JobFilter, JobStatus, NewJob, NewScheduleRun, ScheduleRunStart};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::{ReadAccess, TradeAccess};
use crate::error::{Error, Result};
use crate::jobs::{JobJson, json_text};
use crate::params::{self, Query};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/schedules", get(list))
        .route("/schedules/{name}/run", post(run_now))
        .route("/reports", get(reports))
}

/// A schedule, when it runs next and how its last run went.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScheduleJson {
    /// Name.
    name: String,
    /// Job types run in order.
    steps: Vec<String>,
    /// Cron expression (five fields).
    cron: String,
    /// Time zone of the cron expression.
    timezone: String,
    /// `always` or `nyse`.
    calendar: String,
    /// Next run, RFC 3339 (null when none or the definition is unreadable).
    next_run: Option<String>,
    /// Every slot up to here was handled, RFC 3339.
    last_slot: Option<String>,
    /// Newest run's status (`running`, `succeeded`, `failed`, `skipped`, `missed`, …).
    last_status: Option<String>,
    /// Newest run's job.
    last_job_id: Option<i64>,
    /// The stored definition (JSON).
    #[schema(value_type = Object)]
    definition: serde_json::Value,
}

/// Registered schedules.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScheduleList {
    /// By name.
    schedules: Vec<ScheduleJson>,
}

fn parse_schedule(definition: &str) -> Option<Schedule> {
    let cfg: ScheduleConfig = serde_json::from_str(definition).ok()?;
    Schedule::from_config(&cfg).ok()
}

/// Schedules as registered by the running scheduler, with their next run.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "jobs",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Schedules", body = ScheduleList),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _auth: ReadAccess,
) -> Result<Json<ScheduleList>> {
    let now = state.clock().now();
    let mut out = Vec::new();
    for s in state.store().list_schedules().await? {
        let sched = parse_schedule(&s.definition);
        let last = state
            .store()
            .schedule_runs(Some(&s.name), 1)
            .await?
            .into_iter()
            .next();
        let cfg = sched.as_ref().map(Schedule::config);
        out.push(ScheduleJson {
            steps: sched
                .as_ref()
                .map(|x| x.steps().to_vec())
                .unwrap_or_default(),
            cron: cfg.map(|c| c.cron.clone()).unwrap_or_default(),
            timezone: cfg.map(|c| c.timezone.clone()).unwrap_or_default(),
            calendar: cfg.map(|c| c.calendar.clone()).unwrap_or_default(),
            next_run: sched
                .as_ref()
                .and_then(|x| x.next_after(now))
                .map(|t| t.to_rfc3339()),
            last_slot: s.last_slot.map(|t| t.to_rfc3339()),
            last_status: last.as_ref().map(|r| r.status.clone()),
            last_job_id: last.and_then(|r| r.job_id),
            definition: json_text(&s.definition),
            name: s.name,
        });
    }
    Ok(Json(ScheduleList { schedules: out }))
}

/// What starting a schedule did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScheduleStarted {
    /// Schedule name.
    schedule: String,
    /// `started` or `skipped` (its previous run is still running).
    status: String,
    /// Schedule run id.
    run_id: i64,
    /// The first step's job (null when skipped).
    job_id: Option<i64>,
}

/// Start a schedule's pipeline now (its first job is queued; the scheduler runs the rest).
#[utoipa::path(post, path = "/api/v1/schedules/{name}/run", tag = "jobs",
    params(("name" = String, Path, description = "Schedule name")),
    security(("bearer" = ["trade"])),
    responses(
        (status = 202, description = "Queued (or skipped while a run is running)", body = ScheduleStarted),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope is `read`", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Unreadable definition or slot already handled", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn run_now(
    State(state): State<ApiState>,
    _auth: TradeAccess,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<ScheduleStarted>)> {
    let s = state
        .store()
        .list_schedules()
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::NotFound(format!("no schedule named {name}")))?;
    let sched = parse_schedule(&s.definition).ok_or_else(|| {
        Error::Conflict(format!(
            "schedule {name} has a definition this server cannot read"
        ))
    })?;
    let started = state
        .store()
        .start_schedule_run(&NewScheduleRun {
            schedule: name.clone(),
            slot: state.clock().now(),
            steps: sched.steps().to_vec(),
            params: "{}".into(),
            priority: 10,
            max_attempts: 3,
        })
        .await?;
    let (status, run_id, job_id) = match started {
        ScheduleRunStart::Started { run_id, job_id } => ("started", run_id, Some(job_id)),
        ScheduleRunStart::Skipped { run_id, .. } => ("skipped", run_id, None),
        ScheduleRunStart::AlreadyHandled => {
            return Err(Error::Conflict(format!(
                "schedule {name} was started this instant already"
            )));
        }
    };
    tracing::info!(schedule = %name, status, "schedule started over the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(ScheduleStarted {
            schedule: name,
            status: status.into(),
            run_id,
            job_id,
        }),
    ))
}

/// A job to run now.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunJob {
    /// Registered job type (`data_backfill`, `reports`, `model_training`, …; `GET /api/v1/jobs` shows those that ran).
    #[serde(rename = "type")]
    job_type: String,
    /// Its parameters (validated against the job type).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    params: Option<serde_json::Value>,
    /// Higher runs first (default 0, −100…100).
    #[serde(default)]
    priority: Option<i64>,
}

async fn enqueue(
    state: &ApiState,
    job_type: &str,
    params: &serde_json::Value,
    priority: i64,
) -> Result<JobJson> {
    let registry = Registry::builtin();
    if registry.get(job_type).is_err() {
        let known: Vec<&str> = registry.types().map(|t| t.name).collect();
        return Err(Error::param(
            "body.type",
            format!(
                "{job_type:?} is not a job type; one of {}",
                known.join(", ")
            ),
        ));
    }
    let params = registry
        .validate(job_type, params)
        .map_err(|e| Error::param("body.params", e.to_string()))?;
    let mut job = NewJob::new(job_type, params.to_string());
    job.priority = priority;
    let id = state.store().enqueue_job(&job).await?;
    tracing::info!(job = id, job_type, "job queued over the API");
    Ok(JobJson::from(&state.store().job(id).await?))
}

fn priority(p: Option<i64>) -> Result<i64> {
    match p {
        None => Ok(0),
        Some(n) if (-100..=100).contains(&n) => Ok(n),
        Some(n) => Err(Error::param(
            "body.priority",
            format!("{n} is outside -100…100"),
        )),
    }
}

/// Queue a job of any registered type now.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = RunJob,
    security(("bearer" = ["trade"])),
    responses(
        (status = 202, description = "Queued", body = JobJson),
        (status = 400, description = "Unknown type or invalid parameters", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope is `read`", body = crate::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn run_job(
    State(state): State<ApiState>,
    _auth: TradeAccess,
    params::Json(b): params::Json<RunJob>,
) -> Result<(StatusCode, Json<JobJson>)> {
    let p = priority(b.priority)?;
    let params = b.params.unwrap_or(serde_json::Value::Null);
    let job = enqueue(&state, b.job_type.trim(), &params, p).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// A backtest or sweep to run as a job.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunBacktest {
    /// Strategy name (`sma_cross`, …).
    strategy: String,
    /// `backtest` (default) or `sweep` (a parameter grid).
    kind: Option<String>,
    /// Everything else the backtester reads: symbol, venue, interval, from, to, params, grid, capital.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// Higher runs first (default 0, −100…100).
    #[serde(default)]
    priority: Option<i64>,
}

/// Start a backtest or a sweep as a job (types `backtest` / `sweep`); the run appears under `/backtests` when it finishes.
#[utoipa::path(post, path = "/api/v1/backtests", tag = "backtests", request_body = RunBacktest,
    security(("bearer" = ["trade"])),
    responses(
        (status = 202, description = "Queued", body = JobJson),
        (status = 400, description = "Invalid body", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope is `read`", body = crate::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn run_backtest(
    State(state): State<ApiState>,
    _auth: TradeAccess,
    params::Json(b): params::Json<RunBacktest>,
) -> Result<(StatusCode, Json<JobJson>)> {
    let kind = match b.kind.as_deref().map(str::trim) {
        None | Some("" | "backtest") => "backtest",
        Some("sweep") => "sweep",
        Some(k) => {
            return Err(Error::param(
                "body.kind",
                format!("{k:?} is not backtest or sweep"),
            ));
        }
    };
    if b.strategy.trim().is_empty() {
        return Err(Error::param("body.strategy", "required, e.g. sma_cross"));
    }
    let mut params = b.settings.unwrap_or_default();
    if params.contains_key("strategy") {
        return Err(Error::param(
            "body.settings.strategy",
            "give the strategy once, as body.strategy",
        ));
    }
    params.insert(
        "strategy".into(),
        serde_json::Value::String(b.strategy.trim().into()),
    );
    let p = priority(b.priority)?;
    let job = enqueue(&state, kind, &serde_json::Value::Object(params), p).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Filters of the report list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportsQuery {
    /// At most this many, 1 to 1000 (default 100).
    limit: Option<String>,
}

/// One report written by the `reports` job.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportJson {
    /// The job that wrote it.
    job_id: i64,
    /// When it finished, RFC 3339.
    finished_at: Option<String>,
    /// Its parameters.
    #[schema(value_type = Object)]
    params: serde_json::Value,
    /// What it produced (path of the report file, counts).
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
}

/// Reports written by the scheduler's `reports` job.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportList {
    /// Newest first.
    reports: Vec<ReportJson>,
}

/// Reports: successful runs of the `reports` job with what they wrote.
#[utoipa::path(get, path = "/api/v1/reports", tag = "jobs", params(ReportsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Reports", body = ReportList),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn reports(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<ReportsQuery>,
) -> Result<Json<ReportList>> {
    let limit = params::limit(q.limit.as_deref(), 1000)?;
    let jobs = state
        .store()
        .list_jobs(&JobFilter {
            status: Some(JobStatus::Succeeded),
            job_type: Some("reports".into()),
            limit: u32::try_from(limit).unwrap_or(1000),
        })
        .await?;
    Ok(Json(ReportList {
        reports: jobs
            .iter()
            .map(|j| ReportJson {
                job_id: j.id,
                finished_at: j.finished_at.map(|t| t.to_rfc3339()),
                params: json_text(&j.params),
                result: j.result.as_deref().map(json_text),
            })
            .collect(),
    }))
}
