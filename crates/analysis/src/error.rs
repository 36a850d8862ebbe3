//! The error type of `tessera-analysis`.

/// Why an analysis could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The inputs do not fit together (lengths, empty series).
    #[error("invalid analysis input: {0}")]
    Input(String),
    /// Exact arithmetic on a record failed.
    #[error(transparent)]
    Model(#[from] tessera_model::Error),
}

/// Result alias for `tessera-analysis`.
pub type Result<T> = std::result::Result<T, Error>;
