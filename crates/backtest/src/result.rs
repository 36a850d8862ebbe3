//! What a backtest run produces and keeps.

use serde::{Deserialize, Serialize};
use tessera_analysis::{Stats, TradeRecord};
use tessera_core::UnixNanos;
use tessera_engine::SimConfig;
use tessera_strategy::Params;

/// How a run was made: enough to repeat it (algoMosaic's `backtest_metadata`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMetadata {
    /// Strategy name.
    pub strategy: String,
    /// Its parameters.
    pub params: Params,
    /// Instruments traded (`SYMBOL.venue`).
    pub instruments: Vec<String>,
    /// Bar interval, e.g. `1d`.
    pub interval: String,
    /// Label of the first bar.
    pub data_from: UnixNanos,
    /// Label of the last bar.
    pub data_to: UnixNanos,
    /// Number of bars.
    pub bars: usize,
    /// Where the data came from (a file path or a storage query).
    pub data_source: String,
    /// Venue settings: cash, fill model, commission, slippage, leverage.
    pub sim: SimConfig,
    /// Version of the code that ran it (crate version).
    pub code_version: String,
}

/// A finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BacktestResult {
    /// How it was made.
    pub metadata: RunMetadata,
    /// Summary statistics (`run_id` set once stored).
    pub stats: Stats,
    /// Closed round trips.
    pub trades: Vec<TradeRecord>,
    /// Label of each equity point.
    pub timestamps: Vec<UnixNanos>,
    /// Equity after each bar.
    pub equity: Vec<f64>,
    /// Exact final equity, as text with its currency (`"56263.51934 USD"`).
    pub final_equity: String,
    /// Commissions paid on every fill, open trades included.
    pub commissions_paid: String,
}

impl BacktestResult {
    /// The trade list as CSV with the header
    /// `entry_time,exit_time,side,size,entry_price,exit_price,pnl,return_pct,commission,entry_bar,exit_bar`.
    #[must_use]
    pub fn trades_csv(&self) -> String {
        let mut s = String::from(
            "entry_time,exit_time,side,size,entry_price,exit_price,pnl,return_pct,commission,entry_bar,exit_bar\n",
        );
        for t in &self.trades {
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                t.entry_time.to_rfc3339(),
                t.exit_time.to_rfc3339(),
                if t.is_long() { "long" } else { "short" },
                t.size,
                t.entry_price,
                t.exit_price,
                t.pnl.normalize(),
                t.return_pct,
                t.commission.normalize(),
                t.entry_bar,
                t.exit_bar
            ));
        }
        s
    }
}
