//! The error type of `tessera-storage`.

/// Everything a repository call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The requested record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The record exists already (unique key taken).
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The operation was refused to protect stored data; the message says how to proceed.
    #[error("refused: {0}")]
    Refused(String),
    /// The database URL is not one Tessera can use.
    #[error("invalid database url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, with any password removed.
        url: String,
        /// Why, and what is accepted.
        reason: String,
    },
    /// A stored value could not be turned back into a domain value.
    #[error("corrupt stored value in {place}: {reason}")]
    Corrupt {
        /// Table and column.
        place: String,
        /// What was wrong.
        reason: String,
    },
    /// Input refused by the domain model (invalid bar, instrument, …).
    #[error(transparent)]
    Model(#[from] tessera_model::Error),
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Creating the folder of a SQLite file failed.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// Whether retrying the same call may succeed (lost connection, busy database, pool timeout).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Database(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ) || e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "5" || c == "6" || c == "40001" || c == "40P01")
            }
            _ => false,
        }
    }
}

/// Result alias for `tessera-storage`.
pub type Result<T> = std::result::Result<T, Error>;
