//! The scheduler loop: turns schedules into jobs, once per slot.
//!
//! Only the holder of the `scheduler` lease in the database acts; any number
//! of `tessera up` processes may run, and a standby takes over when the
//! leader stops renewing. Even two leaders at once (a paused leader whose
//! lease expired waking up) cannot run a slot twice: each slot is one
//! unique row, written in the same transaction as its first job.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::{Clock, UnixNanos};
use tessera_storage::{NewScheduleRun, ScheduleRunStart, Store};
use tokio::sync::watch;

use crate::error::Result;
use crate::schedule::Schedule;

/// Name of the leader lease.
pub const LEADER_LEASE: &str = "scheduler";

/// Scheduler settings.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// How often the leader looks for due slots.
    pub tick: Duration,
    /// A slot this late still runs on time; later ones follow the catch-up policy.
    pub grace: Duration,
    /// Leader lease length (renewed every tick).
    pub lease: Duration,
    /// Attempts per scheduled job.
    pub max_attempts: u32,
    /// Priority of scheduled jobs.
    pub priority: i64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            grace: Duration::from_secs(300),
            lease: Duration::from_secs(15),
            max_attempts: 3,
            priority: 10,
        }
    }
}

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Whether this scheduler led.
    pub leader: bool,
    /// Runs started: (schedule, slot, first job id).
    pub started: Vec<(String, UnixNanos, i64)>,
    /// Slots skipped because the previous run was still running.
    pub skipped: Vec<(String, UnixNanos)>,
    /// Slots missed while nothing ran and not caught up: (schedule, count).
    pub missed: Vec<(String, usize)>,
}

/// One scheduler: its identity, schedules and settings.
#[derive(Clone, Debug)]
pub struct Scheduler {
    store: Store,
    clock: Arc<dyn Clock>,
    schedules: Vec<Schedule>,
    config: SchedulerConfig,
    id: String,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Scheduler {
    /// A scheduler named `id` (unique per process).
    #[must_use]
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        schedules: Vec<Schedule>,
        config: SchedulerConfig,
        id: impl Into<String>,
    ) -> Self {
        Self {
            store,
            clock,
            schedules,
            config,
            id: id.into(),
        }
    }

    /// The schedules.
    #[must_use]
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// Store each schedule's definition (for the API and `schedule list`).
    ///
    /// # Errors
    /// [`crate::Error::Storage`].
    pub async fn register(&self) -> Result<()> {
        for s in &self.schedules {
            let def = serde_json::to_string(s.config()).unwrap_or_default();
            self.store.upsert_schedule(s.name(), &def).await?;
            // Later pipeline steps are queued by the store when the step before
            // succeeds; it reads their parameters from here.
            for step in s.steps() {
                self.store
                    .set_state(
                        &format!("schedule:params:{}:{step}", s.name()),
                        &s.step_params(step),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Look at the clock once: when this scheduler leads, start every due slot.
    /// A schedule seen for the first time starts from now (no history is replayed).
    ///
    /// # Errors
    /// [`crate::Error::Storage`].
    pub async fn tick(&self) -> Result<TickReport> {
        let mut report = TickReport::default();
        if !self
            .store
            .try_acquire_lease(LEADER_LEASE, &self.id, nanos(self.config.lease))
            .await?
        {
            return Ok(report);
        }
        report.leader = true;
        let now = self.clock.now();
        let states = self.store.list_schedules().await?;
        for s in &self.schedules {
            let last = states
                .iter()
                .find(|st| st.name == s.name())
                .and_then(|st| st.last_slot);
            let Some(last) = last else {
                let def = serde_json::to_string(s.config()).unwrap_or_default();
                self.store.upsert_schedule(s.name(), &def).await?;
                self.store.set_schedule_last_slot(s.name(), now).await?;
                continue;
            };
            let plan = s.plan(last, now, nanos(self.config.grace));
            if let Some(missed) = plan.missed {
                self.store
                    .record_schedule_run(
                        s.name(),
                        missed,
                        s.steps(),
                        "missed",
                        &format!(
                            "{} run(s) missed while no scheduler ran; catch_up = {}",
                            plan.missed_count,
                            s.catch_up()
                        ),
                    )
                    .await?;
                tracing::warn!(schedule = s.name(), missed = plan.missed_count, catch_up = %s.catch_up(), "runs missed while down");
                report
                    .missed
                    .push((s.name().to_string(), plan.missed_count));
            }
            for slot in plan.run {
                let start = self
                    .store
                    .start_schedule_run(&NewScheduleRun {
                        schedule: s.name().to_string(),
                        slot,
                        steps: s.steps().to_vec(),
                        params: s.step_params(s.first_job()),
                        priority: self.config.priority,
                        max_attempts: self.config.max_attempts,
                    })
                    .await?;
                match start {
                    ScheduleRunStart::Started { job_id, .. } => {
                        tracing::info!(schedule = s.name(), slot = %slot.to_rfc3339(), job = job_id, "schedule run started");
                        report.started.push((s.name().to_string(), slot, job_id));
                    }
                    ScheduleRunStart::Skipped { running, .. } => {
                        tracing::warn!(schedule = s.name(), slot = %slot.to_rfc3339(), running, "previous run still running: slot skipped");
                        report.skipped.push((s.name().to_string(), slot));
                    }
                    ScheduleRunStart::AlreadyHandled => {}
                }
            }
            self.store.set_schedule_last_slot(s.name(), now).await?;
        }
        Ok(report)
    }

    /// Tick every `config.tick` until `shutdown` turns true, then give up the lease.
    ///
    /// # Errors
    /// [`crate::Error::Storage`] from registering or releasing.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        self.register().await?;
        let mut was_leader = false;
        while !*shutdown.borrow() {
            match self.tick().await {
                Ok(r) => {
                    if r.leader != was_leader {
                        tracing::info!(scheduler = %self.id, leader = r.leader, "scheduler leadership changed");
                        was_leader = r.leader;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "scheduler tick failed; retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.tick) => {}
                _ = shutdown.changed() => {}
            }
        }
        self.store.release_lease(LEADER_LEASE, &self.id).await?;
        Ok(())
    }
}
