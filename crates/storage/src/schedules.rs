//! Schedules' state and runs, leases for leader election, and supervised processes.
//!
//! A schedule run is one slot of one schedule. `(schedule, slot)` is unique,
//! so two schedulers that race on the same slot insert one row between
//! them and only the winner queues the job: no slot ever runs twice, even in
//! the instant where two processes both believe they lead.

use serde::Serialize;
use tessera_core::UnixNanos;

use crate::error::Result;
use crate::jobs::{NewJob, insert_job};
use crate::store::{Store, on_pool};

/// A schedule as registered by a scheduler, with how far it has handled slots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduleState {
    /// Name.
    pub name: String,
    /// Its definition, JSON text.
    pub definition: String,
    /// Every slot up to here was handled (run, skipped or missed).
    pub last_slot: Option<UnixNanos>,
    /// Last change.
    pub updated_at: UnixNanos,
}

/// One slot of a schedule and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduleRun {
    /// Row id.
    pub id: i64,
    /// Schedule name.
    pub schedule: String,
    /// The time the run was due.
    pub slot: UnixNanos,
    /// `running`, `succeeded`, `failed`, `cancelled`, `skipped` (the
    /// previous run was still running) or `missed` (nothing ran at the time).
    pub status: String,
    /// Job types, in order.
    pub steps: Vec<String>,
    /// The step reached (0-based).
    pub step: i64,
    /// The job of that step.
    pub job_id: Option<i64>,
    /// Why it was skipped, missed or failed.
    pub detail: Option<String>,
    /// When the row was written.
    pub created_at: UnixNanos,
    /// When it ended.
    pub finished_at: Option<UnixNanos>,
}

/// A schedule run to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewScheduleRun {
    /// Schedule name.
    pub schedule: String,
    /// The due time.
    pub slot: UnixNanos,
    /// Job types run in order (at least one, no commas in names).
    pub steps: Vec<String>,
    /// Parameters of the first step, JSON text (later steps get `{}`).
    pub params: String,
    /// Priority of its jobs.
    pub priority: i64,
    /// Attempts per step.
    pub max_attempts: u32,
}

/// What [`Store::start_schedule_run`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleRunStart {
    /// Started: the run row and its first job.
    Started {
        /// Schedule run id.
        run_id: i64,
        /// First job id.
        job_id: i64,
    },
    /// Recorded as skipped because run `running` had not finished.
    Skipped {
        /// Schedule run id of the skipped slot.
        run_id: i64,
        /// The run still running.
        running: i64,
    },
    /// The slot was already handled (another scheduler got there first).
    AlreadyHandled,
}

/// The health of a supervised process or worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessRecord {
    /// Unique name, e.g. `worker:host:1234` or `stream:sim`.
    pub name: String,
    /// What it is: `worker`, `scheduler`, `stream`, `api`, …
    pub kind: String,
    /// `starting`, `running`, `backoff`, `failed` or `stopped`.
    pub state: String,
    /// Host name.
    pub host: String,
    /// Operating-system process id.
    pub pid: i64,
    /// Restarts after failures so far.
    pub restarts: i64,
    /// When it (last) started.
    pub started_at: UnixNanos,
    /// Its last sign of life.
    pub heartbeat_at: UnixNanos,
    /// Why it last failed.
    pub last_error: Option<String>,
}

type RunRow = (
    i64,
    String,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
);

fn run_from_row(r: RunRow) -> ScheduleRun {
    ScheduleRun {
        id: r.0,
        schedule: r.1,
        slot: UnixNanos(r.2),
        status: r.3,
        steps: r
            .4
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        step: r.5,
        job_id: r.6,
        detail: r.7,
        created_at: UnixNanos(r.8),
        finished_at: r.9.map(UnixNanos),
    }
}

const RUN_COLUMNS: &str =
    "id, schedule, slot, status, steps, step, job_id, detail, created_at, finished_at";

impl Store {
    /// Register a schedule's definition (JSON text), keeping how far it got.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn upsert_schedule(&self, name: &str, definition: &str) -> Result<()> {
        let now = self.now();
        on_pool!(self, |p| {
            sqlx::query(
            "INSERT INTO schedules (name, definition, last_slot, updated_at) VALUES ($1, $2, NULL, $3) \
             ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at"
        )
        .bind(name)
        .bind(definition)
        .bind(now.0)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// Every registered schedule, by name.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn list_schedules(&self) -> Result<Vec<ScheduleState>> {
        let rows: Vec<(String, String, Option<i64>, i64)> = on_pool!(self, |p| sqlx::query_as(
            "SELECT name, definition, last_slot, updated_at FROM schedules ORDER BY name"
        )
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(name, definition, last_slot, updated_at)| ScheduleState {
                name,
                definition,
                last_slot: last_slot.map(UnixNanos),
                updated_at: UnixNanos(updated_at),
            })
            .collect())
    }

    /// Move a schedule's handled-up-to mark forward (never back).
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn set_schedule_last_slot(&self, name: &str, slot: UnixNanos) -> Result<()> {
        let now = self.now();
        on_pool!(self, |p| sqlx::query(
            "UPDATE schedules SET last_slot = $1, updated_at = $2 \
             WHERE name = $3 AND (last_slot IS NULL OR last_slot < $1)"
        )
        .bind(slot.0)
        .bind(now.0)
        .bind(name)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Start one slot of a schedule: unless the slot was handled already,
    /// either queue its first job, or — when an earlier run of the same
    /// schedule is still running — record the slot as skipped.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn start_schedule_run(&self, run: &NewScheduleRun) -> Result<ScheduleRunStart> {
        let now = self.now();
        let steps = run.steps.join(",");
        let out = on_pool!(self, |p| {
            let mut tx = p.begin_with(self.begin_write_sql()).await?;
            let running: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM schedule_runs WHERE schedule = $1 AND status = 'running' ORDER BY id LIMIT 1",
            )
            .bind(&run.schedule)
            .fetch_optional(&mut *tx)
            .await?;
            let (status, detail) = match running {
                Some(r) => ("skipped", Some(format!("previous run {r} still running"))),
                None => ("running", None),
            };
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO schedule_runs (schedule, slot, status, steps, step, job_id, detail, created_at, finished_at) \
                 VALUES ($1, $2, $3, $4, 0, NULL, $5, $6, $7) ON CONFLICT (schedule, slot) DO NOTHING RETURNING id",
            )
            .bind(&run.schedule)
            .bind(run.slot.0)
            .bind(status)
            .bind(&steps)
            .bind(detail)
            .bind(now.0)
            .bind(running.map(|_| now.0))
            .fetch_optional(&mut *tx)
            .await?;
            let out = match (inserted, running) {
                (None, _) => ScheduleRunStart::AlreadyHandled,
                (Some(run_id), Some(running)) => ScheduleRunStart::Skipped { run_id, running },
                (Some(run_id), None) => {
                    let job = NewJob {
                        job_type: run.steps.first().cloned().unwrap_or_default(),
                        params: run.params.clone(),
                        priority: run.priority,
                        max_attempts: run.max_attempts,
                        run_after: None,
                    };
                    let job_id = insert_job!(&mut *tx, job, now, Some(run_id), Some(0_i64))?;
                    sqlx::query("UPDATE schedule_runs SET job_id = $1 WHERE id = $2")
                        .bind(job_id)
                        .bind(run_id)
                        .execute(&mut *tx)
                        .await?;
                    ScheduleRunStart::Started { run_id, job_id }
                }
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>(out)
        })?;
        Ok(out)
    }

    /// Record a slot that did not run (`missed`), unless it was handled already.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn record_schedule_run(
        &self,
        schedule: &str,
        slot: UnixNanos,
        steps: &[String],
        status: &str,
        detail: &str,
    ) -> Result<()> {
        let now = self.now();
        on_pool!(self, |p| {
            sqlx::query(
            "INSERT INTO schedule_runs (schedule, slot, status, steps, step, job_id, detail, created_at, finished_at) \
             VALUES ($1, $2, $3, $4, 0, NULL, $5, $6, $6) ON CONFLICT (schedule, slot) DO NOTHING"
        )
        .bind(schedule)
        .bind(slot.0)
        .bind(status)
        .bind(steps.join(","))
        .bind(detail)
        .bind(now.0)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// Schedule runs, newest slot first; of one schedule when `schedule` is set.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn schedule_runs(
        &self,
        schedule: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ScheduleRun>> {
        let rows: Vec<RunRow> = on_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM schedule_runs WHERE ($1 IS NULL OR schedule = $1) \
             ORDER BY slot DESC, id DESC LIMIT $2"
        )))
        .bind(schedule)
        .bind(i64::from(if limit == 0 { 100 } else { limit }))
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(run_from_row).collect())
    }

    /// Take or renew the lease `name` for `holder` until `now + ttl_nanos`.
    /// Succeeds when the lease is free, expired, or already `holder`'s.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_nanos: i64,
    ) -> Result<bool> {
        let now = self.now();
        let got: Option<String> = on_pool!(self, |p| {
            sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, \
             acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4 RETURNING holder"
        )
        .bind(name)
        .bind(holder)
        .bind(now.0.saturating_add(ttl_nanos))
        .bind(now.0)
        .fetch_optional(p)
        .await
        })?;
        Ok(got.is_some())
    }

    /// Give up the lease `name` if `holder` has it.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        on_pool!(self, |p| sqlx::query(
            "DELETE FROM leases WHERE name = $1 AND holder = $2"
        )
        .bind(name)
        .bind(holder)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Who holds lease `name` and until when, if anyone does.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn lease_holder(&self, name: &str) -> Result<Option<(String, UnixNanos)>> {
        let row: Option<(String, i64)> = on_pool!(self, |p| sqlx::query_as(
            "SELECT holder, expires_at FROM leases WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|(h, t)| (h, UnixNanos(t))))
    }

    /// Create or replace a process's health record.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn upsert_process(&self, p: &ProcessRecord) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO processes (name, kind, state, host, pid, restarts, started_at, heartbeat_at, last_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, \
             state = excluded.state, host = excluded.host, pid = excluded.pid, restarts = excluded.restarts, \
             started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, last_error = excluded.last_error"
        )
        .bind(&p.name)
        .bind(&p.kind)
        .bind(&p.state)
        .bind(&p.host)
        .bind(p.pid)
        .bind(p.restarts)
        .bind(p.started_at.0)
        .bind(p.heartbeat_at.0)
        .bind(&p.last_error)
        .execute(pool)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// Every process record, by name.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn list_processes(&self) -> Result<Vec<ProcessRecord>> {
        type Row = (
            String,
            String,
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            Option<String>,
        );
        let rows: Vec<Row> = on_pool!(self, |p| {
            sqlx::query_as(
            "SELECT name, kind, state, host, pid, restarts, started_at, heartbeat_at, last_error \
             FROM processes ORDER BY name"
        )
        .fetch_all(p)
        .await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| ProcessRecord {
                name: r.0,
                kind: r.1,
                state: r.2,
                host: r.3,
                pid: r.4,
                restarts: r.5,
                started_at: UnixNanos(r.6),
                heartbeat_at: UnixNanos(r.7),
                last_error: r.8,
            })
            .collect())
    }
}
