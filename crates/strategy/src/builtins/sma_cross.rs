//! Moving-average crossover: backtesting.py's classic `SmaCross`.

use std::sync::Arc;

use tessera_model::{Bar, InstrumentId};

use super::{Mode, SIZING_PARAMS, VolEstimate, close_and_enter, positive};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::indicators::Sma;
use crate::params::Params;
use crate::sizing::Sizing;
use crate::strategy::Strategy;

/// The cross on each bar: `+1` when the fast SMA crossed above the slow one, `−1` below, `0`
/// none. A cross is strict on both bars, `fast[t−1] < slow[t−1]` and `fast[t] > slow[t]`
/// (as backtesting.py's `crossover`); a bar where either SMA is unknown (`NaN`, warm-up)
/// neither crosses nor lets the next bar cross. `pairs` are the `(fast, slow)` values bar by bar.
pub fn crosses(pairs: impl ExactSizeIterator<Item = (f64, f64)>) -> Vec<i8> {
    // Side of the fast SMA: +1 above, −1 below, 0 equal or unknown; a cross is a change of
    // sign between consecutive bars.
    let side = |(f, s): (f64, f64)| i8::from(f > s) - i8::from(f < s);
    let mut prev = 0;
    let mut out = Vec::with_capacity(pairs.len());
    out.extend(pairs.map(|pair| {
        let now = side(pair);
        let cross = if prev * now < 0 { now } else { 0 };
        prev = now;
        cross
    }));
    out
}

/// [`crosses`] of the fast and slow SMAs of `closes`, streamed once over the series. The
/// arithmetic is that of two streaming SMAs (`tessera-indicators`: a running sum that adds
/// the new value, is averaged, then drops the oldest), so the values are the same bit for bit,
/// but both read one window of the last closes instead of keeping a ring buffer each.
pub fn sma_crosses(
    closes: impl ExactSizeIterator<Item = f64>,
    fast: usize,
    slow: usize,
) -> Vec<i8> {
    crosses(sma_pairs(closes, fast, slow))
}

/// The `(fast, slow)` SMAs of [`sma_crosses`], bar by bar (`NaN` in warm-up).
fn sma_pairs(
    closes: impl ExactSizeIterator<Item = f64>,
    fast: usize,
    slow: usize,
) -> impl ExactSizeIterator<Item = (f64, f64)> {
    // The streaming SMA's limits (`Sma::new`).
    let (fast, slow) = (fast.clamp(1, 100_000), slow.clamp(1, 100_000));
    let width = fast.max(slow).next_power_of_two();
    let mask = width - 1;
    let mut window = vec![0.0; width];
    let mut sums = (0.0, 0.0);
    let step = move |sum: &mut f64, x: f64, i: usize, n: usize, window: &[f64]| {
        if i + 1 < n {
            *sum += x;
            return f64::NAN;
        }
        let total = *sum + x;
        // The value `n − 1` bars back: still in the window, which is at least `n` wide.
        *sum = total - window[(i + 1 - n) & mask];
        total * (1.0 / n as f64)
    };
    closes.enumerate().map(move |(i, x)| {
        // Exactly `mask + 1` long, so indices `& mask` need no bounds check.
        let window = &mut window[..=mask];
        window[i & mask] = x;
        (
            step(&mut sums.0, x, i, fast, window),
            step(&mut sums.1, x, i, slow, window),
        )
    })
}

/// Buys when the fast SMA of closes crosses above the slow one and sells (or,
/// long-only, closes) when it crosses below (see [`crosses`]).
#[derive(Debug)]
pub struct SmaCross {
    fast_n: usize,
    slow_n: usize,
    mode: Mode,
    sizing: Sizing,
    fast: Sma,
    slow: Sma,
    /// Crosses known ahead, indexed by bar ([`SmaCross::with_crosses`]).
    crosses: Option<Arc<Vec<i8>>>,
    prev: Option<(f64, f64)>,
    vol: VolEstimate,
    instrument: Option<InstrumentId>,
}

impl SmaCross {
    /// Parameters `fast`, `slow`, `mode` and sizing (see the module table).
    ///
    /// # Errors
    /// [`Error::Param`] for unknown names, zero lengths or `fast ≥ slow`.
    pub fn from_params(p: &Params) -> Result<Self> {
        const NAME: &str = "sma_cross";
        let mut known = vec!["fast", "slow", "mode"];
        known.extend_from_slice(SIZING_PARAMS);
        p.check_known(NAME, &known)?;
        let fast = positive(NAME, "fast", p.get_or(NAME, "fast", 10)?)?;
        let slow = positive(NAME, "slow", p.get_or(NAME, "slow", 20)?)?;
        if fast >= slow {
            return Err(Error::Param {
                strategy: NAME.into(),
                param: "fast".into(),
                reason: format!("{fast} must be below slow {slow}"),
            });
        }
        Ok(Self {
            fast_n: fast,
            slow_n: slow,
            mode: Mode::from_params(NAME, p, Mode::LongShort)?,
            sizing: Sizing::from_params(NAME, p)?,
            fast: Sma::new(fast),
            slow: Sma::new(slow),
            crosses: None,
            prev: None,
            vol: VolEstimate::from_params(NAME, p)?,
            instrument: None,
        })
    }

    /// The `(fast, slow)` lengths.
    #[must_use]
    pub fn lengths(&self) -> (usize, usize) {
        (self.fast_n, self.slow_n)
    }

    /// Read the crosses from `crosses` (one per bar index, as [`sma_crosses`] computes them
    /// over the whole series) instead of streaming SMAs: a replay computes them once, sweeps
    /// from SMAs shared by their runs, and the engine can fast-forward to the next cross.
    #[must_use]
    pub fn with_crosses(mut self, crosses: Arc<Vec<i8>>) -> Self {
        self.crosses = Some(crosses);
        self
    }
}

impl Strategy for SmaCross {
    fn name(&self) -> &str {
        "sma_cross"
    }

    fn warmup_bars(&self) -> usize {
        self.slow_n - 1
    }

    /// With the crosses known ahead every bar before the next one is quiet (the volatility
    /// estimate of vol-target sizing needs each close, so then nothing is).
    fn quiet_bars(&self, instrument: &InstrumentId, from: usize, max: usize) -> usize {
        let (Some(crosses), Some(own)) = (&self.crosses, self.instrument) else {
            return 0;
        };
        if own != *instrument || self.sizing.needs_vol() {
            return 0;
        }
        // Past the known crosses `on_bar` decides.
        let ahead = crosses.get(from..).unwrap_or_default();
        let ahead = &ahead[..max.min(ahead.len())];
        ahead.iter().position(|&c| c != 0).unwrap_or(ahead.len())
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> Result<()> {
        let instrument = *self.instrument.get_or_insert(bar.instrument);
        if instrument != bar.instrument {
            return Ok(());
        }
        let close = ctx.values().close;
        if self.sizing.needs_vol() {
            self.vol.update(close);
        }
        let cross = match &self.crosses {
            Some(c) => c.get(ctx.bar_index()).copied().unwrap_or(0),
            None => {
                let pair = (
                    self.fast.update(close).unwrap_or(f64::NAN),
                    self.slow.update(close).unwrap_or(f64::NAN),
                );
                let known = !pair.0.is_nan() && !pair.1.is_nan();
                let cross = match self.prev {
                    Some((pf, ps)) if known && pf < ps && pair.0 > pair.1 => 1,
                    Some((pf, ps)) if known && ps < pf && pair.1 > pair.0 => -1,
                    _ => 0,
                };
                self.prev = known.then_some(pair);
                cross
            }
        };
        match (cross, self.mode) {
            (0, _) => {}
            (-1, Mode::LongOnly) => {
                ctx.close_position(instrument)?;
            }
            (c, _) => close_and_enter(
                ctx,
                instrument,
                c > 0,
                &self.sizing,
                close,
                self.vol.annual(),
            )?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_crosses_are_strict_and_reset_by_unknown_values() {
        let nan = f64::NAN;
        let pairs = [
            (nan, 1.0), // warm-up
            (1.0, 2.0), // below
            (3.0, 2.0), // above: up-cross
            (2.0, 2.0), // equal
            (1.0, 2.0), // below, but from equal: no cross
            (3.0, nan), // unknown
            (3.0, 2.0), // above, but after an unknown bar: no cross
            (1.0, 2.0), // down-cross
        ];
        assert_eq!(crosses(pairs.into_iter()), [0, 0, 1, 0, 0, 0, 0, -1]);
    }

    /// The batch SMAs equal the streaming ones bit for bit (closes of a random walk with
    /// awkward decimals, several length pairs including ones wider than the data).
    #[test]
    fn test_sma_crosses_equal_streaming_smas() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut c = 100.0_f64;
        let closes: Vec<f64> = (0..5_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                c = (c + (x % 2001) as f64 / 1000.0 - 1.0).max(0.01);
                (c * 100.0).round() / 100.0
            })
            .collect();
        for (fast, slow) in [(1, 2), (2, 3), (10, 20), (7, 64), (50, 240), (3, 9_000)] {
            let (mut f, mut s) = (Sma::new(fast), Sma::new(slow));
            let pairs: Vec<(f64, f64)> = closes
                .iter()
                .map(|&c| {
                    (
                        f.update(c).unwrap_or(f64::NAN),
                        s.update(c).unwrap_or(f64::NAN),
                    )
                })
                .collect();
            let bits = |v: Vec<(f64, f64)>| -> Vec<(u64, u64)> {
                v.iter().map(|(f, s)| (f.to_bits(), s.to_bits())).collect()
            };
            let batch: Vec<(f64, f64)> = sma_pairs(closes.iter().copied(), fast, slow).collect();
            assert_eq!(bits(batch), bits(pairs.clone()), "{fast}/{slow}");
            let expected = crosses(pairs.into_iter());
            assert!(expected.iter().any(|&c| c != 0) || slow > closes.len());
            assert_eq!(
                sma_crosses(closes.iter().copied(), fast, slow),
                expected,
                "{fast}/{slow}"
            );
        }
    }
}
