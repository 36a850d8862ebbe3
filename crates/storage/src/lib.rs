//! The only Tessera crate that speaks SQL.
//!
//! One repository API, [`Store`], over two backends: SQLite (the embedded
//! default, in WAL mode) and PostgreSQL (for scale). Both run the same
//! versioned migrations (kept column-for-column identical under
//! `migrations/sqlite` and `migrations/postgres`) and, wherever the SQL
//! dialects agree, the very same statements: each repository method is
//! written once and expanded for both pools by the `on_pool!` macro. The few
//! backend-specific paths (bulk loading: multi-row `INSERT` on SQLite,
//! `COPY` on PostgreSQL) sit in small functions side by side.
//!
//! Prices and quantities are stored as exact decimal text, times as integer
//! nanoseconds (UTC).

mod api_tokens;
mod backtests;
mod bars;
mod cursors;
pub mod error;
mod instruments;
mod jobs;
mod live;
mod ml_registry;
mod netting;
mod paper;
mod postgres_admin;
mod quotes;
mod rows;
mod schedules;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use api_tokens::{ApiToken, NewApiToken};
pub use backtests::{BacktestRun, BacktestTrade};
pub use bars::{BarPage, InsertOptions, InsertReport};
pub use cursors::{CursorUpdate, IngestCursor};
pub use error::{Error, Result};
pub use instruments::RemoveReport;
pub use jobs::{
    FinishReport, Heartbeat, Job, JobFilter, JobLogLine, JobOutcome, JobStatus, NewJob,
    PipelineFailure,
};
pub use live::{AccountSnapshot, StoredFill, StoredOrder, StoredPosition};
pub use ml_registry::{
    ML_PREDICTIONS_PER_STATEMENT, ML_STAGES, MlImportance, MlModel, MlModelRecord, MlPerformance,
    MlPrediction,
};
pub use netting::{NETTED_STRATEGY, StackWrite, StoredAllocation, StoredInstrumentOrder};
pub use paper::{PaperBookChange, PaperFillRow};
pub use postgres_admin::{drop_postgres_database, postgres_url_with_database};
pub use schedules::{NewScheduleRun, ProcessRecord, ScheduleRun, ScheduleRunStart, ScheduleState};
pub use store::{Backend, MigrationInfo, Store, redact_url};
