//! The error type of `tessera-backtest`.

/// Why a backtest, sweep or walk-forward could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the CSV is malformed.
    #[error("{path}:{line}:{column}: {reason}")]
    Csv {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// 1-based column (field) number; 0 when the whole line is at fault.
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// Settings that do not make sense (empty grid, bad window sizes, unknown metric).
    #[error("invalid backtest settings: {0}")]
    Config(String),
    /// The engine stopped.
    #[error(transparent)]
    Engine(#[from] tessera_engine::Error),
    /// Building the strategy failed.
    #[error(transparent)]
    Strategy(#[from] tessera_strategy::Error),
    /// Statistics failed.
    #[error(transparent)]
    Analysis(#[from] tessera_analysis::Error),
    /// A domain value was refused.
    #[error(transparent)]
    Model(#[from] tessera_model::Error),
}

/// Result alias for `tessera-backtest`.
pub type Result<T> = std::result::Result<T, Error>;
