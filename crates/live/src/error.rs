//! The error type of `tessera-live`.

/// Everything live trading can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Execution (order stack or broker) failed.
    #[error(transparent)]
    Execution(#[from] tessera_execution::Error),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] tessera_storage::Error),
    /// The simulator behind the paper broker failed.
    #[error(transparent)]
    Engine(#[from] tessera_engine::Error),
    /// The domain model refused a value.
    #[error(transparent)]
    Model(#[from] tessera_model::Error),
    /// Stored paper broker state could not be read back.
    #[error("paper broker state {key}: {reason}")]
    PaperState {
        /// The state key.
        key: String,
        /// What was wrong.
        reason: String,
    },
}

/// Result alias for `tessera-live`.
pub type Result<T> = std::result::Result<T, Error>;
