//! The error type of `tessera-engine`.

/// Why a run stopped or a venue refused a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A strategy callback failed; the run stops.
    #[error("strategy {strategy}: {source}")]
    Strategy {
        /// Strategy id.
        strategy: String,
        /// What it reported.
        #[source]
        source: tessera_strategy::Error,
    },
    /// A request to the venue that it cannot accept (unknown order id, bad modification).
    #[error("venue: {0}")]
    Venue(String),
    /// Input data that cannot be replayed (unsorted, mismatched columns, unknown instrument).
    #[error("data: {0}")]
    Data(String),
    /// Exact arithmetic or a domain rule failed.
    #[error(transparent)]
    Model(#[from] tessera_model::Error),
    /// Trade bookkeeping failed.
    #[error(transparent)]
    Analysis(#[from] tessera_analysis::Error),
}

/// Result alias for `tessera-engine`.
pub type Result<T> = std::result::Result<T, Error>;
