//! Tessera's scheduler: jobs, a durable queue, workers, schedules, trading
//! calendars and supervised continuous processes.
//!
//! What lives here and why:
//! * [`calendar`]: the NYSE calendar computed from its rules, and 24/7;
//! * [`schedule`]: cron + time zone + calendar + trading-week window +
//!   catch-up, pure functions so `schedule simulate` and the accelerated
//!   clock tests need no waiting;
//! * [`backup`]: the `backups` job (SQLite `VACUUM INTO`, `pg_dump`, artefacts);
//! * [`registry`]: every job type with typed, validated parameters and a
//!   pluggable handler (the binary wires handlers that live in other crates);
//! * [`worker`]: takes jobs from the durable queue in `tessera-storage`
//!   under a lease with heartbeats, retries with exponential backoff,
//!   honours cancellation, records attempts and log lines;
//! * [`scheduler`]: the leader-elected loop that turns schedules into jobs,
//!   exactly once per slot;
//! * [`supervisor`]: continuous processes restarted with backoff, their
//!   health stored for the API and `tessera up`.
//!
//! Time is read only through an injected [`tessera_core::Clock`]; SQL lives
//! only in `tessera-storage`.

pub mod backup;
pub mod builtin;
pub mod calendar;
pub mod error;
pub mod registry;
pub mod schedule;
pub mod scheduler;
pub mod supervisor;
pub mod systems;
pub mod worker;

pub use calendar::{Calendar, Session};
pub use error::{Error, Result};
pub use registry::{JobContext, JobError, JobHandler, JobType, Registry};
pub use schedule::{CatchUp, Plan, Schedule, ScheduleConfig, SimulatedRun, WeekWindow, simulate};
pub use scheduler::{Scheduler, SchedulerConfig, TickReport};
pub use supervisor::{Process, RestartPolicy, SchedulerProcess, Supervisor, WorkerProcess};
pub use systems::{SystemTarget, TARGET_PREFIX, target_key};
pub use worker::{Executed, Worker, WorkerConfig};
