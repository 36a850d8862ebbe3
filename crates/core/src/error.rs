//! The error type of `tessera-core`.

/// Errors raised while parsing or computing with time values.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A timestamp string could not be understood.
    #[error("invalid timestamp {input:?}: {reason}")]
    InvalidTimestamp {
        /// The text that was given.
        input: String,
        /// Why it was refused, with the accepted forms.
        reason: String,
    },
    /// A timestamp is outside the range an `i64` of nanoseconds can hold (1677..2262).
    #[error("timestamp out of range: {0}")]
    OutOfRange(String),
    /// A time range whose end is before its start.
    #[error("invalid time range: end {end} is before start {start}")]
    InvalidRange {
        /// Start of the range.
        start: String,
        /// End of the range.
        end: String,
    },
}

/// Result alias for `tessera-core`.
pub type Result<T> = std::result::Result<T, Error>;
