//! Workers: take jobs from the durable queue and run them.
//!
//! A worker claims a job under a lease, renews the lease with heartbeats
//! while the handler runs, and records the outcome fenced by that lease.
//! Failures the handler calls retryable are retried with exponential
//! backoff until `max_attempts`; a job whose worker died is queued again by
//! any worker once its lease has expired. Cancellation requested while a
//! job runs is seen at the next heartbeat and stops the handler.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tessera_core::{Clock, UnixNanos};
use tessera_storage::{FinishReport, Heartbeat, Job, JobOutcome, JobStatus, Store};
use tokio::sync::watch;

use crate::error::Result;
use crate::registry::{JobContext, JobError, Registry};

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Jobs run at the same time by one worker process.
    pub concurrency: usize,
    /// Lease length; a worker silent this long is presumed dead.
    pub lease: Duration,
    /// Heartbeat period (a third of the lease is a good value).
    pub heartbeat: Duration,
    /// Pause between polls of an empty queue.
    pub poll: Duration,
    /// Delay before the second attempt; doubles each attempt.
    pub backoff_base: Duration,
    /// Longest delay between attempts.
    pub backoff_max: Duration,
    /// Tessera's data folder (handed to handlers).
    pub data_dir: PathBuf,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_millis(200),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
            data_dir: PathBuf::from("./tessera-data"),
        }
    }
}

impl WorkerConfig {
    /// Delay before attempt `attempt + 1`, in nanoseconds:
    /// `backoff_base · 2^(attempt-1)`, at most `backoff_max`.
    #[must_use]
    pub fn backoff_nanos(&self, attempt: u32) -> i64 {
        let base = i64::try_from(self.backoff_base.as_nanos()).unwrap_or(i64::MAX);
        let max = i64::try_from(self.backoff_max.as_nanos()).unwrap_or(i64::MAX);
        let factor = 1_i64
            .checked_shl(attempt.saturating_sub(1).min(40))
            .unwrap_or(i64::MAX);
        base.saturating_mul(factor).min(max)
    }
}

/// A worker: one identity, up to `concurrency` jobs at a time.
#[derive(Clone, Debug)]
pub struct Worker {
    store: Store,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    id: String,
}

/// A job one worker ran, and what became of it.
#[derive(Clone, Debug)]
pub struct Executed {
    /// The job as claimed.
    pub job: Job,
    /// What was recorded.
    pub report: FinishReport,
}

impl Worker {
    /// A worker named `id` (unique per process, e.g. `host:pid`).
    #[must_use]
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        config: WorkerConfig,
        id: impl Into<String>,
    ) -> Self {
        Self {
            store,
            registry,
            clock,
            config,
            id: id.into(),
        }
    }

    /// The worker's identity.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    fn lease_nanos(&self) -> i64 {
        i64::try_from(self.config.lease.as_nanos()).unwrap_or(i64::MAX)
    }

    /// Queue again the jobs of dead workers.
    ///
    /// # Errors
    /// [`crate::Error::Storage`].
    pub async fn reap(&self) -> Result<usize> {
        let cfg = self.config.clone();
        let handled = self
            .store
            .requeue_expired_jobs(|a| cfg.backoff_nanos(a))
            .await?;
        for (id, report) in &handled {
            tracing::warn!(job = id, status = %report.status, "lease expired: worker lost, job handled again");
            self.notify(report);
        }
        Ok(handled.len())
    }

    /// Claim and run one due job (`only` that job, when set); `None` when
    /// there was nothing to do.
    ///
    /// # Errors
    /// [`crate::Error::Storage`] when the database fails.
    pub async fn run_one(&self, only: Option<i64>, slot: usize) -> Result<Option<Executed>> {
        let owner = format!("{}#{slot}", self.id);
        let Some(job) = self
            .store
            .claim_job(&owner, self.lease_nanos(), only)
            .await?
        else {
            return Ok(None);
        };
        let report = self.execute(&job, &owner).await?;
        Ok(Some(Executed { job, report }))
    }

    /// Run until `shutdown` turns true: `concurrency` loops that claim and
    /// run jobs; jobs running at shutdown are stopped and queued again.
    ///
    /// # Errors
    /// [`crate::Error::Storage`] when the database keeps failing.
    pub async fn run(&self, shutdown: watch::Receiver<bool>) -> Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for slot in 0..self.config.concurrency.max(1) {
            let me = self.clone();
            let mut shutdown = shutdown.clone();
            tasks.spawn(async move {
                let mut last_reap = UnixNanos::MIN;
                while !*shutdown.borrow() {
                    let now = me.clock.now();
                    // One slot per process reaps (about once a second): the
                    // other slots' reaps would only add write transactions.
                    if slot == 0 && now.0.saturating_sub(last_reap.0) > 1_000_000_000 {
                        last_reap = now;
                        if let Err(e) = me.reap().await {
                            tracing::warn!(error = %e, "reaping expired leases failed");
                        }
                    }
                    let owner = format!("{}#{slot}", me.id);
                    let claimed = tokio::select! {
                        r = me.store.claim_job(&owner, me.lease_nanos(), None) => r,
                        _ = shutdown.changed() => break,
                    };
                    match claimed {
                        Ok(Some(job)) => {
                            if let Err(e) = me.execute_until(&job, &owner, Some(shutdown.clone())).await {
                                tracing::error!(job = job.id, error = %e, "recording the job's outcome failed");
                            }
                        }
                        Ok(None) => {
                            tokio::select! {
                                () = tokio::time::sleep(me.config.poll) => {}
                                _ = shutdown.changed() => {}
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "claiming a job failed; retrying");
                            tokio::select! {
                                () = tokio::time::sleep(me.config.poll * 5) => {}
                                _ = shutdown.changed() => {}
                            }
                        }
                    }
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "worker task panicked");
            }
        }
        Ok(())
    }

    async fn execute(&self, job: &Job, owner: &str) -> Result<FinishReport> {
        self.execute_until(job, owner, None).await
    }

    async fn execute_until(
        &self,
        job: &Job,
        owner: &str,
        shutdown: Option<watch::Receiver<bool>>,
    ) -> Result<FinishReport> {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let ctx = JobContext {
            store: self.store.clone(),
            clock: self.clock.clone(),
            data_dir: self.config.data_dir.clone(),
            job_id: job.id,
            attempt: job.attempts,
            cancel: cancel_rx,
        };
        ctx.info(&format!(
            "attempt {}/{} of {} started on {owner}",
            job.attempts, job.max_attempts, job.job_type
        ))
        .await;
        let started = self.clock.now();
        let result: std::result::Result<Value, JobError> = match self.prepare(job) {
            Err(e) => Err(e),
            Ok((handler, params)) => {
                let mut fut = handler.run(&ctx, &params);
                let mut beat = tokio::time::interval(self.config.heartbeat);
                beat.tick().await;
                let mut shutdown = shutdown;
                loop {
                    let stop = async {
                        match shutdown.as_mut() {
                            Some(s) => {
                                // A closed channel means the owner is gone: treat as shutdown.
                                let _ = s.wait_for(|v| *v).await;
                            }
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        r = &mut fut => break r,
                        _ = beat.tick() => {
                            match self.store.heartbeat_job(job.id, owner, self.lease_nanos()).await {
                                Ok(Heartbeat::Held) => {}
                                Ok(Heartbeat::CancelRequested) => {
                                    // Receivers may be gone already; the flag is advisory.
                                    let _ = cancel_tx.send(true);
                                    drop(fut);
                                    ctx.log("warn", "cancelled while running").await;
                                    return self.finish(job, owner, &JobOutcome::Cancelled {
                                        reason: "cancelled while running".into(),
                                    }).await;
                                }
                                Ok(Heartbeat::Lost) => {
                                    drop(fut);
                                    tracing::warn!(job = job.id, "lease lost (another worker took the job over); abandoning this attempt");
                                    return Ok(FinishReport { recorded: false, status: JobStatus::Queued, next_job: None, pipeline_failure: None });
                                }
                                Err(e) => tracing::warn!(job = job.id, error = %e, "heartbeat failed; will retry"),
                            }
                        }
                        () = stop => {
                            drop(fut);
                            ctx.log("warn", "worker shutting down; job queued again").await;
                            return self.finish(job, owner, &JobOutcome::Failed {
                                error: "interrupted: worker shut down".into(),
                                retry_at: Some(self.clock.now()),
                            }).await;
                        }
                    }
                }
            }
        };
        let elapsed_ms = self.clock.now().nanos_since(started) / 1_000_000;
        let outcome = match result {
            Ok(v) => {
                ctx.info(&format!("succeeded in {elapsed_ms} ms")).await;
                JobOutcome::Succeeded {
                    result: Some(v.to_string()),
                }
            }
            Err(e) => {
                let retry_at = (e.retryable && job.attempts < job.max_attempts).then(|| {
                    UnixNanos(
                        self.clock
                            .now()
                            .0
                            .saturating_add(self.config.backoff_nanos(job.attempts)),
                    )
                });
                let next = retry_at.map_or_else(
                    || "no retry".to_string(),
                    |t| format!("retry at {}", t.to_rfc3339()),
                );
                ctx.log(
                    "error",
                    &format!("failed after {elapsed_ms} ms: {e} ({next})"),
                )
                .await;
                JobOutcome::Failed {
                    error: e.message,
                    retry_at,
                }
            }
        };
        self.finish(job, owner, &outcome).await
    }

    fn prepare(
        &self,
        job: &Job,
    ) -> std::result::Result<(Arc<dyn crate::registry::JobHandler>, Value), JobError> {
        let raw: Value = serde_json::from_str(&job.params)
            .map_err(|e| JobError::permanent(format!("stored parameters are not JSON: {e}")))?;
        let params = self
            .registry
            .validate(&job.job_type, &raw)
            .map_err(|e| JobError::permanent(e.to_string()))?;
        let handler = self.registry.handler(&job.job_type).ok_or_else(|| {
            JobError::permanent(format!(
                "job type {:?}: handler not available in this build",
                job.job_type
            ))
        })?;
        Ok((handler, params))
    }

    async fn finish(&self, job: &Job, owner: &str, outcome: &JobOutcome) -> Result<FinishReport> {
        let report = self.store.finish_job(job.id, owner, outcome).await?;
        if !report.recorded {
            tracing::warn!(
                job = job.id,
                "outcome not recorded: the lease had passed to another worker"
            );
        }
        self.notify(&report);
        Ok(report)
    }

    /// Raise the notification event of a pipeline stopped by a failed step.
    /// The notifications issue consumes these; until then they are logged.
    fn notify(&self, report: &FinishReport) {
        if let Some(f) = &report.pipeline_failure {
            tracing::error!(
                target: "tessera::notify",
                event = "pipeline_failed",
                schedule = %f.schedule,
                slot = %f.slot.to_rfc3339(),
                step = f.step,
                job = %f.job_type,
                error = %f.error,
                skipped = ?f.skipped_steps,
                "pipeline {} stopped at step {} ({}): {}",
                f.schedule, f.step, f.job_type, f.error
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_backoff_doubles_and_caps() {
        let c = WorkerConfig::default();
        assert_eq!(c.backoff_nanos(1), 10_000_000_000);
        assert_eq!(c.backoff_nanos(2), 20_000_000_000);
        assert_eq!(c.backoff_nanos(3), 40_000_000_000);
        assert_eq!(c.backoff_nanos(30), 600_000_000_000);
    }
}
