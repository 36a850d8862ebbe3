//! The error type of `tessera-scheduler`.

/// Everything the scheduler, queue and workers can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A schedule definition is invalid; the message names the schedule, the key and the reason.
    #[error("schedule {schedule:?}: {reason}")]
    InvalidSchedule {
        /// Schedule name.
        schedule: String,
        /// What was wrong and what is expected.
        reason: String,
    },
    /// A job type name that the registry does not know.
    #[error("unknown job type {0:?}; see `docs/scheduler.md` for the list")]
    UnknownJobType(String),
    /// Job parameters failed parsing or validation.
    #[error("job {job_type}: invalid parameters: {reason}")]
    InvalidParams {
        /// Job type.
        job_type: String,
        /// Which parameter and why.
        reason: String,
    },
    /// A calendar name other than `nyse` or `always`.
    #[error("unknown calendar {0:?}: expected \"nyse\" or \"always\"")]
    UnknownCalendar(String),
    /// The database refused or failed.
    #[error(transparent)]
    Storage(#[from] tessera_storage::Error),
    /// Reading or writing a file (reports) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Result alias for `tessera-scheduler`.
pub type Result<T> = std::result::Result<T, Error>;
