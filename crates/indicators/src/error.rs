//! The error type of `tessera-indicators`.

/// Errors raised while building indicators, parsing specs or computing features.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A parameter is outside the range the indicator accepts.
    #[error("{indicator}: parameter `{param}` = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The indicator (lower-case TA-Lib name).
        indicator: &'static str,
        /// The parameter name (TA-Lib's argument name).
        param: &'static str,
        /// The value that was given.
        value: f64,
        /// What is accepted.
        reason: String,
    },
    /// Input columns of one call have different lengths.
    #[error(
        "{indicator}: input columns have different lengths (expected {expected}, found {found})"
    )]
    LengthMismatch {
        /// The indicator or function that was called.
        indicator: &'static str,
        /// Length of the first column.
        expected: usize,
        /// Length of the offending column.
        found: usize,
    },
    /// An indicator spec (`sma:20`, `macd:12,26,9`) could not be understood.
    #[error("invalid indicator spec `{spec}`: {reason}\n{help}")]
    InvalidSpec {
        /// The spec as given.
        spec: String,
        /// Why it was refused.
        reason: String,
        /// The valid names and parameters, one per line.
        help: String,
    },
    /// A feature expression (`lag(ret:1,3)`, `ratio(sma:10,sma:50)`) could not be understood.
    #[error("invalid feature `{expr}`: {reason}")]
    InvalidFeature {
        /// The expression as given.
        expr: String,
        /// Why it was refused.
        reason: String,
    },
    /// Symbols given to a feature pipeline share no timestamp, or a series is not ascending.
    #[error("invalid panel: {0}")]
    InvalidPanel(String),
}

/// Result alias for `tessera-indicators`.
pub type Result<T> = std::result::Result<T, Error>;

/// Checks that an integer period is at least `min` (TA-Lib's lower bound) and at most TA-Lib's 100,000.
pub(crate) fn check_period(
    indicator: &'static str,
    param: &'static str,
    value: usize,
    min: usize,
) -> Result<()> {
    if value < min || value > 100_000 {
        return Err(Error::InvalidParameter {
            indicator,
            param,
            value: value as f64,
            reason: format!("must be an integer in {min}..=100000"),
        });
    }
    Ok(())
}

/// Checks that a real parameter is finite.
pub(crate) fn check_finite(indicator: &'static str, param: &'static str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::InvalidParameter {
            indicator,
            param,
            value,
            reason: "must be a finite number".to_owned(),
        });
    }
    Ok(())
}

/// Checks that every column has the length of the first.
pub(crate) fn check_lengths(indicator: &'static str, lens: &[usize]) -> Result<usize> {
    let expected = lens.first().copied().unwrap_or(0);
    for &found in lens {
        if found != expected {
            return Err(Error::LengthMismatch {
                indicator,
                expected,
                found,
            });
        }
    }
    Ok(expected)
}
