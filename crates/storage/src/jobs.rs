//! The durable job queue: jobs, their leases and attempts, and captured log lines.
//!
//! Workers claim the highest-priority due job under a lease (`claim_job`),
//! renew it with heartbeats, and finish it (`finish_job`) — every change of a
//! running job is fenced by the lease owner, so a worker that lost its lease
//! (it stalled past the expiry and the job was handed to another) can no
//! longer record anything. A job whose worker died is found by
//! `requeue_expired_jobs` once its lease has expired and is queued again
//! (or failed, when its attempts are used up).
//!
//! Claiming differs by backend, and only there: PostgreSQL selects the job
//! with `FOR UPDATE SKIP LOCKED`, so concurrent workers each take a
//! different row without waiting on each other; SQLite has one writer, and
//! the claim runs in a `BEGIN IMMEDIATE` transaction that holds it.
//!
//! Jobs started by a schedule belong to a schedule run (see
//! [`crate::ScheduleRun`]): finishing one step of a pipeline queues the next
//! step in the same transaction, so a crash can never lose or double a step.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use tessera_core::UnixNanos;

use crate::error::{Error, Result};
use crate::store::{Backend, Store, on_pool};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker (also between retries).
    Queued,
    /// Held by a worker under a lease.
    Running,
    /// Finished without error.
    Succeeded,
    /// Finished with an error and no retries left (or a permanent error).
    Failed,
    /// Cancelled before or while running.
    Cancelled,
}

impl JobStatus {
    /// The stored and printed name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the job will not change any more.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;

    /// Accepts the names above and the common synonyms (`pending`,
    /// `completed`, `done`, `canceled`, …).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "queued" | "pending" | "waiting" => Ok(Self::Queued),
            "running" | "started" => Ok(Self::Running),
            "succeeded" | "success" | "completed" | "complete" | "done" | "ok" => {
                Ok(Self::Succeeded)
            }
            "failed" | "error" => Ok(Self::Failed),
            "cancelled" | "canceled" => Ok(Self::Cancelled),
            _ => Err(format!(
                "unknown job status {s:?}: expected queued, running, succeeded, failed or cancelled"
            )),
        }
    }
}

/// A job to enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    /// Registered job type, e.g. `reports`.
    pub job_type: String,
    /// Validated parameters, JSON text.
    pub params: String,
    /// Higher runs first.
    pub priority: i64,
    /// Attempts before the job is failed for good (at least 1).
    pub max_attempts: u32,
    /// Not before this instant (default: now).
    pub run_after: Option<UnixNanos>,
}

impl NewJob {
    /// A job of `job_type` with `params`, priority 0 and three attempts.
    #[must_use]
    pub fn new(job_type: impl Into<String>, params: impl Into<String>) -> Self {
        Self {
            job_type: job_type.into(),
            params: params.into(),
            priority: 0,
            max_attempts: 3,
            run_after: None,
        }
    }
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Job {
    /// Queue id.
    pub id: i64,
    /// Job type.
    pub job_type: String,
    /// Parameters, JSON text.
    pub params: String,
    /// Current status.
    pub status: JobStatus,
    /// Higher runs first.
    pub priority: i64,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Earliest start of the next attempt.
    pub run_after: UnixNanos,
    /// When it was queued.
    pub created_at: UnixNanos,
    /// Start of the latest attempt.
    pub started_at: Option<UnixNanos>,
    /// When it reached a final status.
    pub finished_at: Option<UnixNanos>,
    /// Worker holding the lease.
    pub lease_owner: Option<String>,
    /// When the lease runs out unless renewed.
    pub lease_expires_at: Option<UnixNanos>,
    /// The worker's last heartbeat.
    pub heartbeat_at: Option<UnixNanos>,
    /// Someone asked to cancel it while it ran.
    pub cancel_requested: bool,
    /// The latest error.
    pub error: Option<String>,
    /// What the handler returned, JSON text.
    pub result: Option<String>,
    /// The schedule run it is a step of.
    pub schedule_run_id: Option<i64>,
    /// Its step number in that run (0-based).
    pub step: Option<i64>,
}

impl Job {
    /// Nanoseconds from the start of the latest attempt to the end, once finished.
    #[must_use]
    pub fn duration_nanos(&self) -> Option<i64> {
        Some(self.finished_at?.0 - self.started_at?.0)
    }
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// Done; `result` is JSON text.
    Succeeded {
        /// Handler output.
        result: Option<String>,
    },
    /// Failed; retried at `retry_at`, or failed for good when `None`.
    Failed {
        /// What went wrong.
        error: String,
        /// When to try again.
        retry_at: Option<UnixNanos>,
    },
    /// Stopped because cancellation was requested.
    Cancelled {
        /// Why.
        reason: String,
    },
}

/// What a heartbeat learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease is renewed.
    Held,
    /// The lease is renewed and someone asked to cancel the job.
    CancelRequested,
    /// The lease is gone (expired and taken over, or the job was finished elsewhere).
    Lost,
}

/// A pipeline that stopped because one of its steps failed or was cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PipelineFailure {
    /// Schedule name.
    pub schedule: String,
    /// The run's slot.
    pub slot: UnixNanos,
    /// The failed step (0-based).
    pub step: i64,
    /// Its job type.
    pub job_type: String,
    /// Its error.
    pub error: String,
    /// Steps that will not run.
    pub skipped_steps: Vec<String>,
}

/// What `finish_job` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishReport {
    /// False when the caller no longer held the lease: nothing was recorded.
    pub recorded: bool,
    /// The job's status afterwards.
    pub status: JobStatus,
    /// The next pipeline step queued, if any.
    pub next_job: Option<i64>,
    /// Set when this ended a pipeline early.
    pub pipeline_failure: Option<PipelineFailure>,
}

/// One captured log line of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobLogLine {
    /// Job id.
    pub job_id: i64,
    /// The attempt that wrote it (1-based).
    pub attempt: u32,
    /// When.
    pub ts: UnixNanos,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// The line.
    pub message: String,
}

/// Filters of [`Store::list_jobs`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this job type.
    pub job_type: Option<String>,
    /// At most this many, newest first (0 = 100).
    pub limit: u32,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    job_type: String,
    params: String,
    status: String,
    priority: i64,
    attempts: i64,
    max_attempts: i64,
    run_after: i64,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    heartbeat_at: Option<i64>,
    cancel_requested: i64,
    error: Option<String>,
    result: Option<String>,
    schedule_run_id: Option<i64>,
    step: Option<i64>,
}

impl JobRow {
    fn into_domain(self) -> Result<Job> {
        let count = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        Ok(Job {
            id: self.id,
            job_type: self.job_type,
            params: self.params,
            status: self.status.parse().map_err(|reason| Error::Corrupt {
                place: "jobs.status".into(),
                reason,
            })?,
            priority: self.priority,
            attempts: count(self.attempts),
            max_attempts: count(self.max_attempts),
            run_after: UnixNanos(self.run_after),
            created_at: UnixNanos(self.created_at),
            started_at: self.started_at.map(UnixNanos),
            finished_at: self.finished_at.map(UnixNanos),
            lease_owner: self.lease_owner,
            lease_expires_at: self.lease_expires_at.map(UnixNanos),
            heartbeat_at: self.heartbeat_at.map(UnixNanos),
            cancel_requested: self.cancel_requested != 0,
            error: self.error,
            result: self.result,
            schedule_run_id: self.schedule_run_id,
            step: self.step,
        })
    }
}

/// What `finish_job` reads back: job type, priority, max attempts, schedule run, step.
type FinishedRow = (String, i64, i64, Option<i64>, Option<i64>);

const JOB_COLUMNS: &str = "id, job_type, params, status, priority, attempts, max_attempts, run_after, created_at, \
     started_at, finished_at, lease_owner, lease_expires_at, heartbeat_at, cancel_requested, error, result, \
     schedule_run_id, step";

pub(crate) const INSERT_JOB: &str = "INSERT INTO jobs (job_type, params, status, priority, attempts, max_attempts, \
     run_after, created_at, schedule_run_id, step) VALUES ($1, $2, 'queued', $3, 0, $4, $5, $6, $7, $8) RETURNING id";

/// Insert one queued job on any executor; evaluates to `sqlx::Result<i64>`.
macro_rules! insert_job {
    ($exec:expr, $job:expr, $now:expr, $run:expr, $step:expr) => {
        sqlx::query_scalar::<_, i64>($crate::jobs::INSERT_JOB)
            .bind(&$job.job_type)
            .bind(&$job.params)
            .bind($job.priority)
            .bind(i64::from($job.max_attempts.max(1)))
            .bind($job.run_after.unwrap_or($now).0)
            .bind($now.0)
            .bind($run)
            .bind($step)
            .fetch_one($exec)
            .await
    };
}
pub(crate) use insert_job;

impl Store {
    /// Queue a job; returns its id.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<i64> {
        let now = self.now();
        let id = on_pool!(self, |p| insert_job!(p, job, now, None::<i64>, None::<i64>))?;
        Ok(id)
    }

    /// Queue many jobs in one transaction; returns their ids in order.
    ///
    /// # Errors
    /// [`Error::Database`]; nothing is queued then.
    pub async fn enqueue_jobs(&self, jobs: &[NewJob]) -> Result<Vec<i64>> {
        let now = self.now();
        let ids = on_pool!(self, |p| {
            let mut tx = p.begin_with(self.begin_write_sql()).await?;
            let mut ids = Vec::with_capacity(jobs.len());
            for job in jobs {
                ids.push(insert_job!(&mut *tx, job, now, None::<i64>, None::<i64>)?);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        })?;
        Ok(ids)
    }

    /// Take the most urgent due job (highest priority, then oldest) under a
    /// lease held by `owner` until `now + lease_nanos`, counting an attempt.
    /// With `only` set, take that job only (when it is queued and due).
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn claim_job(
        &self,
        owner: &str,
        lease_nanos: i64,
        only: Option<i64>,
    ) -> Result<Option<Job>> {
        let now = self.now();
        let lock = match self.backend() {
            // Concurrent workers skip rows another transaction holds instead of queueing behind it.
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            // The single writer (BEGIN IMMEDIATE) already excludes other claims.
            Backend::Sqlite => "",
        };
        let only_clause = if only.is_some() { " AND id = $4" } else { "" };
        let sql = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $1, \
             lease_expires_at = $2, heartbeat_at = $3, started_at = $3, finished_at = NULL, cancel_requested = 0 \
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_after <= $3{only_clause} \
             ORDER BY priority DESC, run_after, id LIMIT 1{lock}) RETURNING {JOB_COLUMNS}"
        );
        let row: Option<JobRow> = on_pool!(self, |p| {
            let mut tx = p.begin_with(self.begin_write_sql()).await?;
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(owner)
                .bind(now.0.saturating_add(lease_nanos))
                .bind(now.0);
            if let Some(id) = only {
                q = q.bind(id);
            }
            let row = q.fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        })?;
        row.map(JobRow::into_domain).transpose()
    }

    /// Renew `owner`'s lease on job `id` until `now + lease_nanos`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn heartbeat_job(&self, id: i64, owner: &str, lease_nanos: i64) -> Result<Heartbeat> {
        let now = self.now();
        let flag: Option<i64> = on_pool!(self, |p| sqlx::query_scalar(
            "UPDATE jobs SET lease_expires_at = $1, heartbeat_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND status = 'running' RETURNING cancel_requested"
        )
        .bind(now.0.saturating_add(lease_nanos))
        .bind(now.0)
        .bind(id)
        .bind(owner)
        .fetch_optional(p)
        .await)?;
        Ok(match flag {
            None => Heartbeat::Lost,
            Some(0) => Heartbeat::Held,
            Some(_) => Heartbeat::CancelRequested,
        })
    }

    /// Record how `owner`'s attempt at job `id` ended. A failure with
    /// `retry_at` queues the job again; a final status of a pipeline step
    /// queues the next step or closes the schedule run, in the same transaction.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn finish_job(
        &self,
        id: i64,
        owner: &str,
        outcome: &JobOutcome,
    ) -> Result<FinishReport> {
        let now = self.now();
        let (status, finished, error, result, run_after) = match outcome {
            JobOutcome::Succeeded { result } => (
                JobStatus::Succeeded,
                Some(now.0),
                None,
                result.clone(),
                None,
            ),
            JobOutcome::Failed {
                error,
                retry_at: Some(at),
            } => (
                JobStatus::Queued,
                None,
                Some(error.clone()),
                None,
                Some(at.0),
            ),
            JobOutcome::Failed {
                error,
                retry_at: None,
            } => (
                JobStatus::Failed,
                Some(now.0),
                Some(error.clone()),
                None,
                None,
            ),
            JobOutcome::Cancelled { reason } => (
                JobStatus::Cancelled,
                Some(now.0),
                Some(reason.clone()),
                None,
                None,
            ),
        };
        let report = on_pool!(self, |p| {
            let mut tx = p.begin_with(self.begin_write_sql()).await?;
            let row: Option<FinishedRow> = sqlx::query_as(
                "UPDATE jobs SET status = $1, finished_at = $2, error = COALESCE($3, error), result = $4, \
                 run_after = COALESCE($5, run_after), lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id = $6 AND lease_owner = $7 AND status = 'running' \
                 RETURNING job_type, priority, max_attempts, schedule_run_id, step",
            )
            .bind(status.as_str())
            .bind(finished)
            .bind(error.clone())
            .bind(result)
            .bind(run_after)
            .bind(id)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((job_type, priority, max_attempts, run_id, step)) = row else {
                tx.commit().await?;
                return Ok(FinishReport {
                    recorded: false,
                    status,
                    next_job: None,
                    pipeline_failure: None,
                });
            };
            let mut report = FinishReport {
                recorded: true,
                status,
                next_job: None,
                pipeline_failure: None,
            };
            if let (Some(run_id), true) = (run_id, status.is_final()) {
                let (schedule, slot, steps): (String, i64, String) =
                    sqlx::query_as("SELECT schedule, slot, steps FROM schedule_runs WHERE id = $1")
                        .bind(run_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let steps: Vec<&str> = steps.split(',').filter(|s| !s.is_empty()).collect();
                let step = step.unwrap_or(0);
                let next = usize::try_from(step + 1).unwrap_or(usize::MAX);
                if status == JobStatus::Succeeded && next < steps.len() {
                    // The step's configured parameters, registered by the scheduler
                    // under `schedule:params:<schedule>:<step>` (validated when the config loaded), else `{}`.
                    let params: Option<(String,)> =
                        sqlx::query_as("SELECT value FROM live_state WHERE key = $1")
                            .bind(format!("schedule:params:{schedule}:{}", steps[next]))
                            .fetch_optional(&mut *tx)
                            .await?;
                    let params = params.map_or_else(|| "{}".to_string(), |(p,)| p);
                    let job = NewJob {
                        job_type: steps[next].to_string(),
                        params,
                        priority,
                        max_attempts: u32::try_from(max_attempts).unwrap_or(1),
                        run_after: None,
                    };
                    let new_id = insert_job!(&mut *tx, job, now, Some(run_id), Some(step + 1))?;
                    sqlx::query("UPDATE schedule_runs SET step = $1, job_id = $2 WHERE id = $3")
                        .bind(step + 1)
                        .bind(new_id)
                        .bind(run_id)
                        .execute(&mut *tx)
                        .await?;
                    report.next_job = Some(new_id);
                } else {
                    let run_status = match status {
                        JobStatus::Succeeded => "succeeded",
                        JobStatus::Cancelled => "cancelled",
                        _ => "failed",
                    };
                    sqlx::query("UPDATE schedule_runs SET status = $1, detail = $2, finished_at = $3 WHERE id = $4")
                        .bind(run_status)
                        .bind(error.clone())
                        .bind(now.0)
                        .bind(run_id)
                        .execute(&mut *tx)
                        .await?;
                    if status != JobStatus::Succeeded {
                        report.pipeline_failure = Some(PipelineFailure {
                            schedule,
                            slot: UnixNanos(slot),
                            step,
                            job_type,
                            error: error.clone().unwrap_or_default(),
                            skipped_steps: steps
                                .iter()
                                .skip(next)
                                .map(|s| (*s).to_string())
                                .collect(),
                        });
                    }
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(report)
        })?;
        Ok(report)
    }

    /// Queue again (or fail, when their attempts are used up) the running
    /// jobs whose lease expired before now: their worker died or stalled.
    /// `backoff` gives the delay in nanoseconds before attempt `n + 1`.
    /// Returns the jobs handled and what became of each.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn requeue_expired_jobs(
        &self,
        backoff: impl Fn(u32) -> i64,
    ) -> Result<Vec<(i64, FinishReport)>> {
        let now = self.now();
        let expired: Vec<(i64, String, i64, i64)> = on_pool!(self, |p| sqlx::query_as(
            "SELECT id, lease_owner, attempts, max_attempts FROM jobs \
             WHERE status = 'running' AND lease_expires_at < $1 ORDER BY id LIMIT 1000"
        )
        .bind(now.0)
        .fetch_all(p)
        .await)?;
        let mut out = Vec::with_capacity(expired.len());
        for (id, owner, attempts, max_attempts) in expired {
            let error =
                format!("lease of worker {owner} expired during attempt {attempts} (worker lost)");
            let retry_at = (attempts < max_attempts).then(|| {
                UnixNanos(
                    now.0
                        .saturating_add(backoff(u32::try_from(attempts).unwrap_or(u32::MAX))),
                )
            });
            let report = self
                .finish_job(id, &owner, &JobOutcome::Failed { error, retry_at })
                .await?;
            if report.recorded {
                out.push((id, report));
            }
        }
        Ok(out)
    }

    /// Cancel job `id`: a queued job is cancelled at once; a running job is
    /// flagged and its worker stops it at the next heartbeat. Returns the job
    /// afterwards (a finished job is returned unchanged).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn cancel_job(&self, id: i64) -> Result<Job> {
        let now = self.now();
        on_pool!(self, |p| {
            let mut tx = p.begin_with(self.begin_write_sql()).await?;
            let cancelled: Option<Option<i64>> = sqlx::query_scalar(
                "UPDATE jobs SET status = 'cancelled', finished_at = $1, error = 'cancelled before it started' \
                 WHERE id = $2 AND status = 'queued' RETURNING schedule_run_id",
            )
            .bind(now.0)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(Some(run_id)) = cancelled {
                sqlx::query("UPDATE schedule_runs SET status = 'cancelled', detail = $1, finished_at = $2 WHERE id = $3")
                    .bind(format!("job {id} cancelled"))
                    .bind(now.0)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND status = 'running'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        self.job(id).await
    }

    /// One job.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`], [`Error::Corrupt`].
    pub async fn job(&self, id: i64) -> Result<Job> {
        let row: Option<JobRow> = on_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1")
        ))
        .bind(id)
        .fetch_optional(p)
        .await)?;
        row.ok_or_else(|| Error::NotFound(format!("job {id}")))?
            .into_domain()
    }

    /// Jobs, newest first.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let limit = if filter.limit == 0 { 100 } else { filter.limit };
        let rows: Vec<JobRow> = on_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR job_type = $2) ORDER BY id DESC LIMIT $3"
        )))
        .bind(filter.status.map(JobStatus::as_str))
        .bind(filter.job_type.as_deref())
        .bind(i64::from(limit))
        .fetch_all(p)
        .await)?;
        rows.into_iter().map(JobRow::into_domain).collect()
    }

    /// How many jobs are in each status.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn job_counts(&self) -> Result<Vec<(JobStatus, i64)>> {
        let rows: Vec<(String, i64)> = on_pool!(self, |p| sqlx::query_as(
            "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status"
        )
        .fetch_all(p)
        .await)?;
        rows.into_iter()
            .map(|(s, n)| {
                s.parse().map(|s| (s, n)).map_err(|reason| Error::Corrupt {
                    place: "jobs.status".into(),
                    reason,
                })
            })
            .collect()
    }

    /// Append a log line to job `id`.
    ///
    /// # Errors
    /// [`Error::Database`] (e.g. an unknown job).
    pub async fn append_job_log(
        &self,
        id: i64,
        attempt: u32,
        level: &str,
        message: &str,
    ) -> Result<()> {
        let now = self.now();
        on_pool!(self, |p| sqlx::query(
            "INSERT INTO job_logs (job_id, attempt, ts, level, message) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(id)
        .bind(i64::from(attempt))
        .bind(now.0)
        .bind(level)
        .bind(message)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Every log line of job `id`, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn job_logs(&self, id: i64) -> Result<Vec<JobLogLine>> {
        let rows: Vec<(i64, i64, String, String)> = on_pool!(self, |p| sqlx::query_as(
            "SELECT attempt, ts, level, message FROM job_logs WHERE job_id = $1 ORDER BY id"
        )
        .bind(id)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(attempt, ts, level, message)| JobLogLine {
                job_id: id,
                attempt: u32::try_from(attempt.max(0)).unwrap_or(u32::MAX),
                ts: UnixNanos(ts),
                level,
                message,
            })
            .collect())
    }

    /// Delete finished jobs (with their log lines) and finished schedule runs
    /// that ended before `before`; returns how many jobs went.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn prune_jobs(&self, before: UnixNanos) -> Result<u64> {
        let n = on_pool!(self, |p| {
            let mut tx = p.begin_with(self.begin_write_sql()).await?;
            sqlx::query(
                "DELETE FROM job_logs WHERE job_id IN (SELECT id FROM jobs \
                 WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at < $1)",
            )
            .bind(before.0)
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query(
                "DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at < $1",
            )
            .bind(before.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "DELETE FROM schedule_runs WHERE status <> 'running' AND COALESCE(finished_at, created_at) < $1 \
                 AND id NOT IN (SELECT schedule_run_id FROM jobs WHERE schedule_run_id IS NOT NULL)",
            )
            .bind(before.0)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })?;
        Ok(n)
    }
}
