//! The error type of `tessera-alpaca`.

/// Everything the Alpaca adapter can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request did not complete (connect failure, timeout, dropped connection).
    #[error("alpaca {what}: transport: {reason}")]
    Transport {
        /// Which request.
        what: String,
        /// What happened.
        reason: String,
    },
    /// Alpaca answered with an error status.
    #[error("alpaca {what}: HTTP {status} (code {code}): {message}")]
    Api {
        /// Which request.
        what: String,
        /// HTTP status.
        status: u16,
        /// Alpaca's error code.
        code: u64,
        /// Alpaca's message.
        message: String,
    },
    /// Alpaca's answer could not be read.
    #[error("alpaca {what}: unreadable answer: {reason}")]
    Decode {
        /// Which request.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// Alpaca's market data stream answered with an `error` message.
    #[error("alpaca market data stream {step}: error {code}: {message}")]
    Stream {
        /// Handshake step (`connect`, `auth`, `subscribe`) or `read`.
        step: String,
        /// Alpaca's code (402 auth failed, 406 connection limit exceeded, …).
        code: u64,
        /// Alpaca's message.
        message: String,
    },
    /// A value did not fit the domain model.
    #[error(transparent)]
    Model(#[from] tessera_model::Error),
    /// The test server's state file.
    #[error("alpaca test server state {path}: {reason}")]
    State {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    /// Whether the same call may succeed later: transport failures, 429 and 5xx.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            // 404 auth timeout, 406 connection limit exceeded, 407 slow client, 500 internal.
            Self::Stream { code, .. } => matches!(code, 404 | 406 | 407 | 500),
            _ => false,
        }
    }

    /// HTTP status of an API error.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<Error> for tessera_execution::Error {
    fn from(e: Error) -> Self {
        Self::Broker {
            broker: "alpaca".into(),
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

/// Result alias for `tessera-alpaca`.
pub type Result<T> = std::result::Result<T, Error>;
