//! The error type of `tessera-model`.

/// Every way a domain value can be refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Text that should hold a number, identifier or enum value did not.
    #[error("invalid {what} {input:?}: {reason}")]
    Parse {
        /// What was being parsed (`price`, `interval`, …).
        what: &'static str,
        /// The text that was given.
        input: String,
        /// Why it was refused and what is accepted.
        reason: String,
    },
    /// Checked arithmetic overflowed; the operation is named.
    #[error("arithmetic overflow in {0}")]
    Overflow(String),
    /// Money of two currencies combined.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// Currency of the left operand.
        left: String,
        /// Currency of the right operand.
        right: String,
    },
    /// A value broke one of its type's invariants.
    #[error("invalid {what}: {reason}")]
    Invariant {
        /// The record or field concerned.
        what: &'static str,
        /// Which rule was broken.
        reason: String,
    },
    /// An order event that its current state does not allow.
    #[error("order {order}: cannot apply {event} in state {status}")]
    InvalidTransition {
        /// Client order id.
        order: String,
        /// Current status.
        status: String,
        /// Event refused.
        event: String,
    },
    /// A fill whose trade id was already applied to the order.
    #[error("order {order}: duplicate fill with trade id {trade_id}")]
    DuplicateFill {
        /// Client order id.
        order: String,
        /// Trade id seen twice.
        trade_id: String,
    },
    /// Time parsing failed in `tessera-core`.
    #[error(transparent)]
    Time(#[from] tessera_core::Error),
}

/// Result alias for `tessera-model`.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invariant(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Invariant {
        what,
        reason: reason.into(),
    }
}
