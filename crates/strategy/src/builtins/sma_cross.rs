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

/// Fast and slow SMA series shared across sweep runs, indexed by bar.
type Precomputed = (Arc<Vec<f64>>, Arc<Vec<f64>>);

/// Buys when the fast SMA of closes crosses above the slow one and sells (or,
/// long-only, closes) when it crosses below. A cross is strict on both bars:
/// `fast[t−1] < slow[t−1]` and `fast[t] > slow[t]`, as backtesting.py's `crossover`.
#[derive(Debug)]
pub struct SmaCross {
    fast_n: usize,
    slow_n: usize,
    mode: Mode,
    sizing: Sizing,
    fast: Sma,
    slow: Sma,
    precomputed: Option<Precomputed>,
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
            precomputed: None,
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

    /// Use SMA series computed once for the whole data (indexed by bar index, `NaN` in warm-up)
    /// instead of streaming ones: sweeps share them across runs.
    #[must_use]
    pub fn with_precomputed(mut self, fast: Arc<Vec<f64>>, slow: Arc<Vec<f64>>) -> Self {
        self.precomputed = Some((fast, slow));
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

    /// With precomputed SMAs the next cross is known: every bar before it is quiet (the
    /// volatility estimate of vol-target sizing needs each close, so then nothing is).
    fn quiet_bars(&self, instrument: &InstrumentId, from: usize, max: usize) -> usize {
        let (Some((f, s)), Some(own)) = (&self.precomputed, self.instrument) else {
            return 0;
        };
        if own != *instrument || self.sizing.needs_vol() {
            return 0;
        }
        // Past the precomputed data `on_bar` decides.
        let end = from.saturating_add(max).min(f.len()).min(s.len());
        if from >= end {
            return 0;
        }
        // Which side the fast SMA is on: +1 above, −1 below, 0 equal or unknown (NaN, as
        // `prev = None`): a cross is a strict change of side between consecutive bars.
        let side = |f: f64, s: f64| i8::from(f > s) - i8::from(f < s);
        let mut prev = self.prev.map_or(0, |(pf, ps)| side(pf, ps));
        for (k, (&fj, &sj)) in f[from..end].iter().zip(&s[from..end]).enumerate() {
            let now = side(fj, sj);
            if prev * now < 0 {
                return k;
            }
            prev = now;
        }
        end - from
    }

    fn skip_bars(&mut self, _instrument: &InstrumentId, from: usize, n: usize) {
        // `on_bar` leaves `prev` at the last bar's pair, or `None` after a warm-up bar.
        let Some(last) = (from + n).checked_sub(1).filter(|_| n > 0) else {
            return;
        };
        if let Some((f, s)) = &self.precomputed {
            let pair = (
                f.get(last).copied().unwrap_or(f64::NAN),
                s.get(last).copied().unwrap_or(f64::NAN),
            );
            self.prev = (!pair.0.is_nan() && !pair.1.is_nan()).then_some(pair);
        }
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> Result<()> {
        let instrument = *self.instrument.get_or_insert(bar.instrument);
        if instrument != bar.instrument {
            return Ok(());
        }
        let close = ctx.values().close;
        let (f, s) = match &self.precomputed {
            Some((f, s)) => {
                let i = ctx.bar_index();
                (
                    f.get(i).copied().unwrap_or(f64::NAN),
                    s.get(i).copied().unwrap_or(f64::NAN),
                )
            }
            None => (
                self.fast.update(close).unwrap_or(f64::NAN),
                self.slow.update(close).unwrap_or(f64::NAN),
            ),
        };
        if self.sizing.needs_vol() {
            self.vol.update(close);
        }
        if f.is_nan() || s.is_nan() {
            self.prev = None;
            return Ok(());
        }
        if let Some((pf, ps)) = self.prev {
            if pf < ps && f > s {
                close_and_enter(
                    ctx,
                    instrument,
                    true,
                    &self.sizing,
                    close,
                    self.vol.annual(),
                )?;
            } else if ps < pf && s > f {
                match self.mode {
                    Mode::LongShort => close_and_enter(
                        ctx,
                        instrument,
                        false,
                        &self.sizing,
                        close,
                        self.vol.annual(),
                    )?,
                    Mode::LongOnly => {
                        ctx.close_position(instrument)?;
                    }
                }
            }
        }
        self.prev = Some((f, s));
        Ok(())
    }
}
