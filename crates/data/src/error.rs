//! The error type of `tessera-data`.

/// Everything collecting, importing or exporting market data can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store refused or failed (database down, unknown instrument, invalid bar).
    #[error(transparent)]
    Storage(#[from] tessera_storage::Error),
    /// A domain value was refused (bad price text, invalid instrument).
    #[error(transparent)]
    Model(#[from] tessera_model::Error),
    /// A time could not be parsed or represented.
    #[error(transparent)]
    Time(#[from] tessera_core::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file cannot be read as the format it was given as (no usable header, wrong layout).
    #[error("{file}: {reason}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// `--strict` import: at least one row was invalid, so nothing was stored.
    #[error("{file}:{line}: {reason} ({count} invalid row(s) in all; --strict stored nothing)")]
    StrictRejected {
        /// File of the first invalid row.
        file: String,
        /// Its line number (1-based, counting a header).
        line: u64,
        /// Why it was refused.
        reason: String,
        /// Invalid rows over all files.
        count: u64,
    },
    /// An HTTP request to a venue failed.
    #[error("{venue}: {url}: {reason}")]
    Http {
        /// Venue name.
        venue: String,
        /// The URL requested (never holds credentials: public endpoints only).
        url: String,
        /// HTTP status, when one was received.
        status: Option<u16>,
        /// What went wrong.
        reason: String,
        /// Whether trying again later may succeed (429, 418, 5xx, timeouts, resets).
        retryable: bool,
    },
    /// The venue answered with something we cannot understand.
    #[error("{venue}: unexpected response from {what}: {reason}")]
    Protocol {
        /// Venue name.
        venue: String,
        /// Endpoint or stream.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// The venue does not list the symbol.
    #[error("{venue} does not list symbol {symbol}")]
    UnknownSymbol {
        /// Venue name.
        venue: String,
        /// The symbol asked for.
        symbol: String,
    },
    /// The WebSocket connection failed or dropped.
    #[error("{venue} websocket: {reason}")]
    WebSocket {
        /// Venue name.
        venue: String,
        /// What happened.
        reason: String,
    },
    /// No collector exists for a venue, or it cannot do what was asked.
    #[error("venue {venue}: {reason}")]
    Unsupported {
        /// Venue name.
        venue: String,
        /// What is not supported and what is.
        reason: String,
    },
    /// Writing a Parquet file failed.
    #[error("parquet {path}: {reason}")]
    Parquet {
        /// Output file.
        path: String,
        /// The writer's message.
        reason: String,
    },
}

impl Error {
    /// Whether the same call may succeed later (rate limits, server errors,
    /// dropped connections, a busy database).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http { retryable, .. } => *retryable,
            Self::WebSocket { .. } => true,
            Self::Storage(e) => e.is_retryable(),
            _ => false,
        }
    }

    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// Result alias for `tessera-data`.
pub type Result<T> = std::result::Result<T, Error>;
