//! The error type of `tessera-ml`.

/// Everything training, prediction, the registry and artefacts can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the caller: a parameter, a feature list, a split, a CSV file.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was refused (`parameter alpha`, `split`, `csv file x.csv`).
        what: String,
        /// Why, and what is accepted.
        reason: String,
    },
    /// Not enough usable rows (after warm-up, purging and dropping missing targets).
    #[error("not enough data for {place}: {reason}")]
    NotEnoughData {
        /// The step that needed data.
        place: String,
        /// How many rows there were and how many are needed.
        reason: String,
    },
    /// A numerical method failed (a singular system, a diverging fit).
    #[error("numerical failure in {place}: {reason}")]
    Numerical {
        /// The method.
        place: String,
        /// What happened.
        reason: String,
    },
    /// An ONNX file uses something this runtime does not implement, or is malformed.
    #[error("onnx: {0}")]
    Onnx(String),
    /// An artefact's bytes do not match the SHA-256 recorded for it.
    #[error("artefact {path} is corrupt: expected sha256 {expected}, got {actual}")]
    HashMismatch {
        /// Object path.
        path: String,
        /// Recorded hash.
        expected: String,
        /// Hash of the bytes read.
        actual: String,
    },
    /// The object store failed (missing object, unreachable S3, permissions).
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// The registry database failed.
    #[error(transparent)]
    Storage(#[from] tessera_storage::Error),
    /// A feature or target expression was refused by the pipelines.
    #[error(transparent)]
    Indicators(#[from] tessera_indicators::Error),
    /// A strategy error (from the `model` strategy).
    #[error(transparent)]
    Strategy(#[from] tessera_strategy::Error),
    /// Serialising or parsing an artefact failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading a local file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn not_enough(place: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::NotEnoughData {
            place: place.into(),
            reason: reason.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
