//! The error type of `tessera-execution`.

/// Everything execution can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker refused or failed a request; `retryable` says whether the same call may succeed later.
    #[error("broker {broker}: {message}")]
    Broker {
        /// Which broker.
        broker: String,
        /// What happened.
        message: String,
        /// Whether retrying may succeed (timeouts, dropped connections, 5xx).
        retryable: bool,
    },
    /// An event or request about an order we do not know.
    #[error("unknown order {0}")]
    UnknownOrder(String),
    /// Storage failed; nothing was sent.
    #[error(transparent)]
    Storage(#[from] tessera_storage::Error),
    /// The domain model refused a change (invalid transition, duplicate fill, …).
    #[error(transparent)]
    Model(#[from] tessera_model::Error),
}

impl Error {
    /// Whether retrying the same call may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Broker { retryable, .. } => *retryable,
            Self::Storage(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// Result alias for `tessera-execution`.
pub type Result<T> = std::result::Result<T, Error>;
