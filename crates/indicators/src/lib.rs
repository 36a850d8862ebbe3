//! Technical indicators equal to TA-Lib, and the feature pipelines built on them.
//!
//! Every indicator has two faces:
//!
//! - **streaming**: a struct with `new(params…) -> Result<Self>`, `update(input) -> Option<output>`
//!   (O(1) work per bar except where noted, constant memory, `None` during warm-up) and
//!   `lookback()`: what a live strategy feeds bar by bar;
//! - **batch**: a function taking slices and returning vectors of the same length, with `NaN`
//!   in the warm-up: what research and backtests call.
//!
//! Most batch functions run the streaming structs; the hot ones (SMA, EMA, RSI, ATR, MACD,
//! BBANDS, ADX) have dedicated loops with the same floating-point operations, plus `*_into`
//! variants writing into caller buffers. Property tests prove the two faces equal bit for bit and
//! that no output looks ahead. Lookbacks, seeds (TA-Lib seeds EMA-style smoothing with an SMA of
//! the first period, unstable period 0) and zero tests follow TA-Lib 0.8, so results match it to
//! within 1e-9 (checked against fixtures generated with TA-Lib, see `tests/integration.rs`);
//! `docs/indicators.md` lists every indicator and every deliberate difference.
//!
//! [`registry`] maps spec strings such as `macd:12,26,9` to indicators and named output
//! columns; [`features`] compiles declarative feature sets for several symbols into a feature
//! matrix with a separate forward-looking target.

pub mod directional;
pub mod error;
pub mod features;
pub mod forecast;
pub mod ma;
pub mod momentum;
pub mod oscillators;
#[cfg(test)]
mod property_tests;
pub mod registry;
pub mod statistics;
pub mod volatility;
pub mod volume;
mod window;

pub use error::{Error, Result};
pub use registry::{IndicatorSpec, OhlcvColumns, OutputColumn, compute_specs};

/// TA-Lib's tolerance for "zero" (`TA_IS_ZERO`, `TA_IS_ZERO_OR_NEG`) in its 0.6+ C library.
const TA_EPSILON: f64 = 1e-14;

/// TA-Lib's `TA_IS_ZERO`.
#[inline]
pub(crate) fn is_zero(v: f64) -> bool {
    -TA_EPSILON < v && v < TA_EPSILON
}

/// TA-Lib's `TA_IS_ZERO_OR_NEG`.
#[inline]
pub(crate) fn is_zero_or_neg(v: f64) -> bool {
    v < TA_EPSILON
}

/// One bar's prices and volume, the input of the indicators that need more than one series.
///
/// Prices in quote currency, volume in base units; indicators that do not use a field ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ohlcv {
    /// First price of the bar.
    pub open: f64,
    /// Highest price of the bar.
    pub high: f64,
    /// Lowest price of the bar.
    pub low: f64,
    /// Last price of the bar.
    pub close: f64,
    /// Traded quantity during the bar.
    pub volume: f64,
}

impl Ohlcv {
    /// A bar from its five values.
    #[must_use]
    pub const fn new(open: f64, high: f64, low: f64, close: f64, volume: f64) -> Self {
        Self {
            open,
            high,
            low,
            close,
            volume,
        }
    }
}

/// The streaming face shared by every indicator.
pub trait Indicator {
    /// What one update consumes: `f64` for single-series indicators, [`Ohlcv`] otherwise.
    type Input: Copy;
    /// What one update produces once warmed up: `f64` or a struct of named outputs.
    type Output: Copy;

    /// Feeds the next input; `None` while fewer than `lookback() + 1` inputs have been seen.
    fn update(&mut self, input: Self::Input) -> Option<Self::Output>;

    /// Number of inputs consumed before the first output (TA-Lib's `*_Lookback`).
    fn lookback(&self) -> usize;

    /// Forgets every input, as if freshly constructed.
    fn reset(&mut self);
}

/// Output values an indicator produces per bar, in TA-Lib's output order.
pub trait Outputs: Copy {
    /// TA-Lib's lower-case output names.
    const NAMES: &'static [&'static str];

    /// Writes the values in [`Outputs::NAMES`] order into `row[..NAMES.len()]`.
    fn write(&self, row: &mut [f64]);
}

impl Outputs for f64 {
    const NAMES: &'static [&'static str] = &["real"];

    #[inline]
    fn write(&self, row: &mut [f64]) {
        row[0] = *self;
    }
}

/// Runs a single-output indicator over `n` inputs; `NaN` during warm-up.
#[inline]
pub(crate) fn run_single<I, F>(mut indicator: I, n: usize, input: F) -> Vec<f64>
where
    I: Indicator<Output = f64>,
    F: Fn(usize) -> I::Input,
{
    // `extend` over a `Range` knows its length, so there is no capacity check per element and
    // the output is written exactly once.
    let mut out = Vec::with_capacity(n);
    out.extend((0..n).map(|i| indicator.update(input(i)).unwrap_or(f64::NAN)));
    out
}

/// Runs a multi-output indicator over `n` inputs: one column per output, `NaN` during warm-up.
pub(crate) fn run_multi<I, F>(mut indicator: I, n: usize, input: F) -> Vec<Vec<f64>>
where
    I: Indicator,
    I::Output: Outputs,
    F: Fn(usize) -> I::Input,
{
    let k = <I::Output as Outputs>::NAMES.len();
    let mut cols: Vec<Vec<f64>> = (0..k).map(|_| Vec::with_capacity(n)).collect();
    let mut row = [f64::NAN; 8];
    for i in 0..n {
        match indicator.update(input(i)) {
            Some(o) => {
                o.write(&mut row);
                for (c, v) in cols.iter_mut().zip(row.iter()) {
                    c.push(*v);
                }
            }
            None => cols.iter_mut().for_each(|c| c.push(f64::NAN)),
        }
    }
    cols
}

/// Builds the [`Ohlcv`] input at `i` from columns (unused columns may be empty).
#[inline]
pub(crate) fn bar_at(
    open: &[f64],
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    i: usize,
) -> Ohlcv {
    Ohlcv {
        open: open.get(i).copied().unwrap_or(f64::NAN),
        high: high.get(i).copied().unwrap_or(f64::NAN),
        low: low.get(i).copied().unwrap_or(f64::NAN),
        close: close.get(i).copied().unwrap_or(f64::NAN),
        volume: volume.get(i).copied().unwrap_or(f64::NAN),
    }
}

/// Declares a multi-output struct generic over the value (`f64` streaming, `Vec<f64>` batch).
macro_rules! outputs {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident => $out:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        pub struct $name<T = f64> {
            $($(#[$fmeta])* pub $field: T,)+
        }

        impl $crate::Outputs for $name<f64> {
            const NAMES: &'static [&'static str] = &[$($out),+];

            #[inline]
            fn write(&self, row: &mut [f64]) {
                let mut i = 0;
                $(row[i] = self.$field; i += 1;)+
                let _ = i; // the last increment is unused by design of the macro
            }
        }

        impl $name<Vec<f64>> {
            /// Builds the batch output from columns in TA-Lib output order.
            #[allow(dead_code, reason = "used by the batch functions of some indicators only")]
            pub(crate) fn from_columns(cols: Vec<Vec<f64>>) -> Self {
                let mut it = cols.into_iter();
                Self { $($field: it.next().unwrap_or_default(),)+ }
            }
        }
    };
}
pub(crate) use outputs;
