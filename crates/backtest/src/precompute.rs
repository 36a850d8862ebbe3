//! Signals computed once over the whole series, for the runs that use them.
//!
//! A replay of history knows every close in advance, so a strategy whose signals come
//! from causal indicators (each value from the closes up to its bar, never later ones)
//! can read them from a column instead of updating them bar by bar — and the engine can
//! then fast-forward to the next signal ([`tessera_strategy::Strategy::quiet_bars`]).
//! Today `sma_cross` does this: a single run streams its two SMAs once into a column of
//! crosses (one byte a bar); a sweep computes each distinct SMA length once and derives
//! each run's crosses from the two it needs. Other strategies stream bar by bar.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;
use tessera_engine::BarSeries;
use tessera_strategy::builtins::{SmaCross, crosses, sma_crosses};
use tessera_strategy::indicators::sma_series;
use tessera_strategy::{Params, Strategy, build};

use crate::error::Result;

/// What the runs of one backtest or sweep share.
#[derive(Debug)]
pub(crate) struct Precomputed<'a> {
    series: &'a BarSeries,
    strategy: String,
    /// `sma_cross` sweeps: each SMA length's series.
    sma: BTreeMap<usize, Vec<f64>>,
}

/// `(fast, slow)` of `sma_cross` parameters, if they parse.
fn sma_lengths(p: &Params) -> Option<(usize, usize)> {
    Some((
        p.get_or("sma_cross", "fast", 10usize).ok()?,
        p.get_or("sma_cross", "slow", 20usize).ok()?,
    ))
}

impl<'a> Precomputed<'a> {
    /// What `strategy` with each of `combos` will read from `series`.
    pub(crate) fn new(series: &'a BarSeries, strategy: &str, combos: &[Params]) -> Self {
        let mut sma = BTreeMap::new();
        if strategy == "sma_cross" && combos.len() > 1 {
            let mut lengths: Vec<usize> = combos
                .iter()
                .filter_map(sma_lengths)
                .flat_map(|(f, s)| [f, s])
                .filter(|&n| n > 0)
                .collect();
            lengths.sort_unstable();
            lengths.dedup();
            sma = lengths
                .par_iter()
                .map(|&n| (n, sma_series(closes(series), n)))
                .collect();
        }
        Self {
            series,
            strategy: strategy.to_string(),
            sma,
        }
    }

    /// The strategy for `params`, reading precomputed signals where it can.
    ///
    /// # Errors
    /// Unknown strategy or bad parameters.
    pub(crate) fn build(&self, params: &Params) -> Result<Box<dyn Strategy>> {
        if self.strategy != "sma_cross" {
            return Ok(build(&self.strategy, params)?);
        }
        let s = SmaCross::from_params(params)?;
        let (f, sl) = s.lengths();
        let crosses = match (self.sma.get(&f), self.sma.get(&sl)) {
            (Some(a), Some(b)) => crosses(a.iter().copied().zip(b.iter().copied())),
            _ => sma_crosses(closes(self.series), f, sl),
        };
        Ok(Box::new(s.with_crosses(Arc::new(crosses))))
    }
}

/// The closes as `f64`, straight from the column (no copy of it).
fn closes(series: &BarSeries) -> impl ExactSizeIterator<Item = f64> + '_ {
    series.closes_f64_in(0..series.len())
}
