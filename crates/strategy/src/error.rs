//! The error type of `tessera-strategy`.

/// Why a strategy could not be built or could not act.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No built-in strategy of that name.
    #[error("unknown strategy {name:?}; built-in strategies: {known}")]
    UnknownStrategy {
        /// The name asked for.
        name: String,
        /// The names available, comma separated.
        known: String,
    },
    /// A parameter is missing, unknown or out of range.
    #[error("strategy {strategy}: parameter {param}: {reason}")]
    Param {
        /// Strategy name.
        strategy: String,
        /// Parameter name.
        param: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A domain value was refused (quantity, price, id).
    #[error(transparent)]
    Model(#[from] tessera_model::Error),
}

/// Result alias for `tessera-strategy`.
pub type Result<T> = std::result::Result<T, Error>;
