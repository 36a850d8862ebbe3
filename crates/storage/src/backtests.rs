//! Backtest runs: metadata, summary statistics, trades and equity curve.
//!
//! The records here are storage's own shapes: the backtest crate turns its
//! results into them (statistics as a JSON object, parameters and settings
//! as JSON text), so this crate needs no knowledge of the engine. A run and
//! everything under it are written in one transaction.

use sqlx::Row;
use tessera_core::UnixNanos;

use crate::error::{Error, Result};
use crate::store::{Store, on_pool};

/// One stored run (`backtest_runs` joined with `backtest_summary`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BacktestRun {
    /// Unique id.
    pub run_id: String,
    /// Strategy name.
    pub strategy: String,
    /// Parameters, a JSON object.
    pub params: String,
    /// Instruments traded, comma separated `SYMBOL.venue`.
    pub instruments: String,
    /// Bar interval (`1d`).
    pub interval: String,
    /// First bar label.
    pub data_from: UnixNanos,
    /// Last bar label.
    pub data_to: UnixNanos,
    /// Number of bars.
    pub bars: i64,
    /// File or query the bars came from.
    pub data_source: String,
    /// Fill, cost and account settings, a JSON object.
    pub settings: String,
    /// Version of the code that ran it.
    pub code_version: String,
    /// When the run started (wall clock).
    pub started_at: UnixNanos,
    /// When it finished.
    pub finished_at: UnixNanos,
    /// Final equity (statistic).
    pub equity_final: f64,
    /// Total return, %.
    pub return_pct: f64,
    /// Sharpe ratio, when defined.
    pub sharpe_ratio: Option<f64>,
    /// Maximum drawdown, % (negative).
    pub max_drawdown_pct: f64,
    /// Closed trades.
    pub trades: i64,
    /// Exact final equity with currency.
    pub final_equity_exact: String,
    /// Every statistic, a JSON object.
    pub stats: String,
}

/// One stored round trip.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BacktestTrade {
    /// `SYMBOL.venue`.
    pub instrument: String,
    /// `long` or `short`.
    pub side: String,
    /// Units, exact text.
    pub size: String,
    /// Entry fill time.
    pub entry_time: UnixNanos,
    /// Exit fill time.
    pub exit_time: UnixNanos,
    /// Entry price, exact text.
    pub entry_price: String,
    /// Exit price, exact text.
    pub exit_price: String,
    /// Net P&L, exact text.
    pub pnl: String,
    /// Commissions, exact text.
    pub commission: String,
    /// Net return, %.
    pub return_pct: f64,
    /// Entry bar index.
    pub entry_bar: i64,
    /// Exit bar index.
    pub exit_bar: i64,
}

const RUN_SELECT: &str = "SELECT r.run_id, r.strategy, r.params, r.instruments, r.bar_interval, r.data_from, r.data_to, r.bars, \
    r.data_source, r.settings, r.code_version, r.started_at, r.finished_at, s.equity_final, s.return_pct, s.sharpe_ratio, \
    s.max_drawdown_pct, s.trades, s.final_equity_exact, s.stats FROM backtest_runs r JOIN backtest_summary s ON s.run_id = r.run_id";

macro_rules! run_from_row {
    ($row:expr) => {{
        let r = $row;
        BacktestRun {
            run_id: r.try_get(0)?,
            strategy: r.try_get(1)?,
            params: r.try_get(2)?,
            instruments: r.try_get(3)?,
            interval: r.try_get(4)?,
            data_from: UnixNanos(r.try_get(5)?),
            data_to: UnixNanos(r.try_get(6)?),
            bars: r.try_get(7)?,
            data_source: r.try_get(8)?,
            settings: r.try_get(9)?,
            code_version: r.try_get(10)?,
            started_at: UnixNanos(r.try_get(11)?),
            finished_at: UnixNanos(r.try_get(12)?),
            equity_final: r.try_get(13)?,
            return_pct: r.try_get(14)?,
            sharpe_ratio: r.try_get(15)?,
            max_drawdown_pct: r.try_get(16)?,
            trades: r.try_get(17)?,
            final_equity_exact: r.try_get(18)?,
            stats: r.try_get(19)?,
        }
    }};
}

impl Store {
    /// Store a run with its trades and equity points `(label, equity)`, atomically.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] for a taken run id, [`Error::Database`].
    pub async fn insert_backtest(
        &self,
        run: &BacktestRun,
        trades: &[BacktestTrade],
        equity: &[(UnixNanos, f64)],
    ) -> Result<()> {
        let begin = self.begin_write_sql();
        on_pool!(self, |p| {
            async {
            let mut tx = p.begin_with(begin).await?;
            let taken: Option<String> = sqlx::query_scalar("SELECT run_id FROM backtest_runs WHERE run_id = $1").bind(&run.run_id).fetch_optional(&mut *tx).await?;
            if taken.is_some() {
                return Err(Error::AlreadyExists(format!("backtest run {}", run.run_id)));
            }
            sqlx::query(
                "INSERT INTO backtest_runs (run_id, strategy, params, instruments, bar_interval, data_from, data_to, bars, data_source, \
                 settings, code_version, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&run.run_id)
            .bind(&run.strategy)
            .bind(&run.params)
            .bind(&run.instruments)
            .bind(&run.interval)
            .bind(run.data_from.0)
            .bind(run.data_to.0)
            .bind(run.bars)
            .bind(&run.data_source)
            .bind(&run.settings)
            .bind(&run.code_version)
            .bind(run.started_at.0)
            .bind(run.finished_at.0)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO backtest_summary (run_id, equity_final, return_pct, sharpe_ratio, max_drawdown_pct, trades, final_equity_exact, stats) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&run.run_id)
            .bind(run.equity_final)
            .bind(run.return_pct)
            .bind(run.sharpe_ratio)
            .bind(run.max_drawdown_pct)
            .bind(run.trades)
            .bind(&run.final_equity_exact)
            .bind(&run.stats)
            .execute(&mut *tx)
            .await?;
            for (seq, t) in trades.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO backtest_trades (run_id, seq, instrument, side, size, entry_time, exit_time, entry_price, exit_price, pnl, \
                     commission, return_pct, entry_bar, exit_bar) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(&run.run_id)
                .bind(seq as i64)
                .bind(&t.instrument)
                .bind(&t.side)
                .bind(&t.size)
                .bind(t.entry_time.0)
                .bind(t.exit_time.0)
                .bind(&t.entry_price)
                .bind(&t.exit_price)
                .bind(&t.pnl)
                .bind(&t.commission)
                .bind(t.return_pct)
                .bind(t.entry_bar)
                .bind(t.exit_bar)
                .execute(&mut *tx)
                .await?;
            }
            // Multi-row inserts in chunks: portable SQL, far fewer round trips than one row each.
            for (c, chunk) in equity.chunks(500).enumerate() {
                let mut sql = String::from("INSERT INTO backtest_equity (run_id, seq, ts, equity) VALUES ");
                for k in 0..chunk.len() {
                    let b = k * 4;
                    sql.push_str(&format!("{}(${}, ${}, ${}, ${})", if k > 0 { ", " } else { "" }, b + 1, b + 2, b + 3, b + 4));
                }
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (k, (ts, e)) in chunk.iter().enumerate() {
                    q = q.bind(&run.run_id).bind((c * 500 + k) as i64).bind(ts.0).bind(*e);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<(), Error>(())
        }
        .await
        })
    }

    /// Every stored run, newest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn list_backtests(&self) -> Result<Vec<BacktestRun>> {
        on_pool!(self, |p| async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{RUN_SELECT} ORDER BY r.started_at DESC, r.run_id"
            )))
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(run_from_row!(r));
            }
            Ok::<_, Error>(out)
        }
        .await)
    }

    /// One run.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn backtest(&self, run_id: &str) -> Result<BacktestRun> {
        on_pool!(self, |p| async {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{RUN_SELECT} WHERE r.run_id = $1"
            )))
            .bind(run_id)
            .fetch_optional(p)
            .await?;
            let Some(r) = row else {
                return Err(Error::NotFound(format!("backtest run {run_id}")));
            };
            Ok::<_, Error>(run_from_row!(&r))
        }
        .await)
    }

    /// The trades of a run, in order.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn backtest_trades(&self, run_id: &str) -> Result<Vec<BacktestTrade>> {
        on_pool!(self, |p| {
            async {
            let rows = sqlx::query(
                "SELECT instrument, side, size, entry_time, exit_time, entry_price, exit_price, pnl, commission, return_pct, entry_bar, exit_bar \
                 FROM backtest_trades WHERE run_id = $1 ORDER BY seq",
            )
            .bind(run_id)
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(BacktestTrade {
                    instrument: r.try_get(0)?,
                    side: r.try_get(1)?,
                    size: r.try_get(2)?,
                    entry_time: UnixNanos(r.try_get(3)?),
                    exit_time: UnixNanos(r.try_get(4)?),
                    entry_price: r.try_get(5)?,
                    exit_price: r.try_get(6)?,
                    pnl: r.try_get(7)?,
                    commission: r.try_get(8)?,
                    return_pct: r.try_get(9)?,
                    entry_bar: r.try_get(10)?,
                    exit_bar: r.try_get(11)?,
                });
            }
            Ok::<_, Error>(out)
        }
        .await
        })
    }

    /// The stored equity points of a run, in order.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn backtest_equity(&self, run_id: &str) -> Result<Vec<(UnixNanos, f64)>> {
        on_pool!(self, |p| async {
            let rows = sqlx::query(
                "SELECT ts, equity FROM backtest_equity WHERE run_id = $1 ORDER BY seq",
            )
            .bind(run_id)
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((UnixNanos(r.try_get(0)?), r.try_get(1)?));
            }
            Ok::<_, Error>(out)
        }
        .await)
    }

    /// Delete a run and everything under it.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn delete_backtest(&self, run_id: &str) -> Result<()> {
        let begin = self.begin_write_sql();
        on_pool!(self, |p| async {
            let mut tx = p.begin_with(begin).await?;
            for table in ["backtest_equity", "backtest_trades", "backtest_summary"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE run_id = $1"
                )))
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
            }
            let n = sqlx::query("DELETE FROM backtest_runs WHERE run_id = $1")
                .bind(run_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(Error::NotFound(format!("backtest run {run_id}")));
            }
            tx.commit().await?;
            Ok::<(), Error>(())
        }
        .await)
    }
}
