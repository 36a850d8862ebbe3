//! Indicators computed once over the whole series, shared by the runs that use them.
//!
//! A replay of history knows every close in advance, so a strategy whose signals come
//! from causal indicators (each value from the closes up to its bar, never later ones)
//! can read them from a column instead of updating them bar by bar — and the engine can
//! then fast-forward to the next signal ([`tessera_strategy::Strategy::quiet_bars`]).
//! Sweeps compute each distinct length once for all their runs. Today `sma_cross` uses
//! this; other strategies stream their indicators bar by bar.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;
use tessera_engine::BarSeries;
use tessera_strategy::builtins::SmaCross;
use tessera_strategy::indicators::sma_series;
use tessera_strategy::{Params, Strategy, build};

use crate::error::Result;

/// Moving averages by length, for every `sma_cross` run of a backtest or sweep.
#[derive(Debug, Default)]
pub(crate) struct Precomputed {
    strategy: String,
    sma: BTreeMap<usize, Arc<Vec<f64>>>,
}

impl Precomputed {
    /// What `strategy` with each of `combos` will read, computed over `series`.
    pub(crate) fn new(series: &BarSeries, strategy: &str, combos: &[Params]) -> Self {
        let mut sma = BTreeMap::new();
        if strategy == "sma_cross" {
            let mut lengths: Vec<usize> = combos
                .iter()
                .flat_map(|p| {
                    [
                        p.get_or("sma_cross", "fast", 10usize).ok(),
                        p.get_or("sma_cross", "slow", 20usize).ok(),
                    ]
                })
                .flatten()
                .filter(|&n| n > 0)
                .collect();
            lengths.sort_unstable();
            lengths.dedup();
            // Straight from the close column: no `f64` copy of it, no copy of the results.
            let closes = || (0..series.len()).map(|i| series.close_f64(i));
            sma = lengths
                .par_iter()
                .map(|&n| (n, Arc::new(sma_series(closes(), n))))
                .collect();
        }
        Self {
            strategy: strategy.to_string(),
            sma,
        }
    }

    /// The strategy for `params`, reading the shared columns where it can.
    ///
    /// # Errors
    /// Unknown strategy or bad parameters.
    pub(crate) fn build(&self, params: &Params) -> Result<Box<dyn Strategy>> {
        if self.strategy != "sma_cross" {
            return Ok(build(&self.strategy, params)?);
        }
        let s = SmaCross::from_params(params)?;
        let (f, sl) = s.lengths();
        Ok(match (self.sma.get(&f), self.sma.get(&sl)) {
            (Some(a), Some(b)) => Box::new(s.with_precomputed(a.clone(), b.clone())),
            _ => Box::new(s),
        })
    }
}
