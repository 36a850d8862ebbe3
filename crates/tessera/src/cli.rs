//! The command line: every command, flag and argument (the CLI contract).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tessera: market data, research, backtests and trading in one program.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Args, Clone)]
pub(crate) struct GlobalArgs {
    /// Configuration file (default: ./tessera.toml when it exists).
    #[arg(long, global = true, env = "TESSERA_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub(crate) log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Database schema: apply migrations, show their state.
    #[command(subcommand)]
    Db(DbCommand),
    /// The security master: add, list, show and remove instruments.
    #[command(subcommand)]
    Instruments(InstrumentsCommand),
    /// Market data: collect (backfill, live), import, export, find gaps, show status.
    #[command(subcommand)]
    Data(DataCommand),
    /// Serve the HTTP API and the web dashboard over the configured database (no collectors or schedulers).
    Serve(crate::commands::ServeArgs),
    /// API tokens: create (shown once), list, revoke.
    #[command(subcommand)]
    Tokens(crate::commands::TokensCommand),
    /// Show the effective configuration (defaults, file and environment merged).
    Config,
    /// Schedules: list them, simulate the runs they would start.
    #[command(subcommand)]
    Schedule(crate::commands::ScheduleCommand),
    /// Jobs: list, run, show, cancel, read logs.
    #[command(subcommand)]
    Jobs(crate::commands::JobsCommand),
    /// Run only workers, taking jobs from the database's queue until Ctrl-C.
    Worker(crate::commands::WorkerArgs),
    /// Run the whole platform (database, scheduler, workers, streams) until Ctrl-C.
    Up(crate::commands::UpArgs),
    /// Restore a backup written by the `backups` job (database and artefacts), with the platform stopped.
    Restore(crate::commands::RestoreArgs),
    /// Technical indicators equal to TA-Lib: list them, compute them over bars.
    #[command(subcommand)]
    Indicators(crate::commands::IndicatorsCommand),
    /// Machine learning: train, list, show, promote, predict, import ONNX, serve predictions.
    #[command(subcommand)]
    Model(crate::commands::ModelCommand),
    /// Measure hot paths and print throughput.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run a strategy over historical bars; `backtest list` and `backtest show RUN_ID` read stored runs.
    Backtest(BacktestArgs),
    /// Run a strategy over a parameter grid in parallel and rank the runs.
    Sweep(SweepArgs),
    /// Optimise on rolling or anchored train windows and trade the following test windows.
    Walkforward(WalkforwardArgs),
    /// Trade a strategy live on the paper broker until Ctrl-C (state kept in the database).
    Trade(TradeArgs),
    /// Orders of live and paper trading.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// Fills of live and paper trading.
    #[command(subcommand)]
    Fills(FillsCommand),
    /// Positions per strategy and instrument, with realised and unrealised P&L.
    Positions,
    /// Latest account value per account and strategy.
    Account,
    /// Stop all trading: `on` cancels open orders and blocks new ones until `off`.
    KillSwitch {
        /// on, off or status.
        #[arg(value_enum)]
        action: KillSwitchAction,
    },
}

/// `tessera trade`.
#[derive(Debug, Args)]
pub(crate) struct TradeArgs {
    /// Built-in strategy name (sma_cross, ewmac, rsi_reversion, breakout, buy_hold).
    #[arg(long)]
    pub(crate) strategy: String,
    /// Strategy parameter `KEY=VALUE` (repeatable).
    #[arg(long = "param", value_name = "K=V")]
    pub(crate) params: Vec<String>,
    /// Symbol to trade (repeatable).
    #[arg(long = "symbol", value_name = "S", required = true)]
    pub(crate) symbols: Vec<String>,
    /// Market data venue: `sim` (in-process), `binance`, `binanceus` or `alpaca` (live stream, REST warm-up).
    #[arg(long, default_value = "sim")]
    pub(crate) venue: String,
    /// Broker: `paper` or `alpaca` (`[brokers.alpaca]` in the config).
    #[arg(long, default_value = "paper")]
    pub(crate) broker: String,
    /// Capital allocated to the strategy, in the instruments' quote currency.
    #[arg(long, default_value = "100000")]
    pub(crate) capital: rust_decimal::Decimal,
    /// Strategy id that owns this run's orders, fills and positions (default: the
    /// strategy name); give each of several traders of one strategy its own.
    #[arg(long, value_name = "ID")]
    pub(crate) name: Option<String>,
    /// Another strategy trading on the same account in this process
    /// (repeatable): `ID=STRATEGY[,K=V…][@CAPITAL]`, e.g.
    /// `meanrev=rsi_reversion,period=14@50000` (capital defaults to
    /// --capital). The strategies' market orders of one event are netted
    /// into one broker order per instrument; each keeps its own capital,
    /// orders, fills, positions and P&L.
    #[arg(long = "also", value_name = "ID=STRATEGY[,K=V…][@CAPITAL]")]
    pub(crate) also: Vec<String>,
}

/// `tessera orders …`.
#[derive(Debug, Subcommand)]
pub(crate) enum OrdersCommand {
    /// List orders, oldest first.
    List {
        /// Only orders in this status (created, submitted, accepted, partially_filled, filled, cancel_requested, cancelled, rejected, expired).
        #[arg(long)]
        status: Option<String>,
    },
    /// Run the order stack handler: send the `created` orders of an account's
    /// order stack (what the `order_generation` job writes) to the paper
    /// broker and book their fills, until Ctrl-C (`tessera up` runs it supervised).
    Handle {
        /// Order stack account (the `account` parameter of `order_generation`).
        #[arg(long, default_value = tessera_scheduler::builtin::DEFAULT_ORDER_ACCOUNT)]
        account: String,
        /// One pass (recovery, send, fills), then exit; prints what it did.
        #[arg(long)]
        once: bool,
        /// Cash of the paper account, in the instruments' quote currency.
        #[arg(long, default_value = "100000")]
        capital: rust_decimal::Decimal,
    },
}

/// `tessera fills …`.
#[derive(Debug, Subcommand)]
pub(crate) enum FillsCommand {
    /// List fills in execution order.
    List,
}

/// `tessera kill-switch ACTION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum KillSwitchAction {
    /// Turn it on.
    On,
    /// Release it.
    Off,
    /// Show it.
    Status,
}

/// `tessera backtest`: a run, or `list` / `show`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct BacktestArgs {
    #[command(subcommand)]
    pub(crate) action: Option<BacktestAction>,
    #[command(flatten)]
    pub(crate) run: BacktestRunArgs,
}

/// Stored runs.
#[derive(Debug, Subcommand)]
pub(crate) enum BacktestAction {
    /// List stored runs, newest first.
    List,
    /// Show one stored run's statistics.
    Show {
        /// The run id printed by `tessera backtest`.
        run_id: String,
    },
}

/// Where the bars come from.
#[derive(Debug, Args, Clone)]
pub(crate) struct DataArgs {
    /// CSV file with the header timestamp,open,high,low,close,volume.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["symbol", "venue", "interval", "from", "to"])]
    pub(crate) csv: Option<PathBuf>,
    /// Stored instrument's symbol.
    #[arg(long)]
    pub(crate) symbol: Option<String>,
    /// Its venue (needed when the symbol is listed on several).
    #[arg(long)]
    pub(crate) venue: Option<String>,
    /// Bar interval of the stored bars (default 1d).
    #[arg(long)]
    pub(crate) interval: Option<String>,
    /// First bar time (inclusive).
    #[arg(long, value_name = "T")]
    pub(crate) from: Option<String>,
    /// Last bar time (exclusive).
    #[arg(long, value_name = "T")]
    pub(crate) to: Option<String>,
}

/// Account, costs and fills.
#[derive(Debug, Args, Clone)]
pub(crate) struct CostArgs {
    /// Starting cash in the instrument's quote currency.
    #[arg(long, default_value = "10000")]
    pub(crate) cash: String,
    /// Commission as a fraction of notional per fill (0.002 = 0.2 %).
    #[arg(long, default_value = "0")]
    pub(crate) commission: String,
    /// Slippage against the trader on market and stop fills, in basis points.
    #[arg(long, value_name = "B")]
    pub(crate) slippage_bps: Option<String>,
    /// When orders decided on a bar fill: next-open (default; limits and stops along the intrabar path), close, intrabar (= next-open), open-only.
    #[arg(long, default_value = "next-open")]
    pub(crate) fill: String,
    /// Buying power multiple of equity (default 1: cash account).
    #[arg(long)]
    pub(crate) leverage: Option<String>,
    /// Refuse orders that would open short positions.
    #[arg(long)]
    pub(crate) no_short: bool,
}

/// `tessera backtest` run flags.
#[derive(Debug, Args)]
pub(crate) struct BacktestRunArgs {
    /// Built-in strategy: sma_cross, ewmac, rsi_reversion, breakout, buy_hold; or `model`
    /// (a registry model's predictions: --param model=NAME[@VERSION], long_threshold, …).
    #[arg(long)]
    pub(crate) strategy: Option<String>,
    /// Strategy parameter, repeatable.
    #[arg(long = "param", value_name = "K=V")]
    pub(crate) params: Vec<String>,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    #[command(flatten)]
    pub(crate) costs: CostArgs,
    /// Write the trade list as CSV.
    #[arg(long, value_name = "FILE")]
    pub(crate) trades: Option<PathBuf>,
    /// Write the equity and drawdown chart as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// Do not store the run in the database (run_id is then null).
    #[arg(long)]
    pub(crate) no_store: bool,
}

/// `tessera sweep` flags.
#[derive(Debug, Args)]
pub(crate) struct SweepArgs {
    /// Built-in strategy.
    #[arg(long)]
    pub(crate) strategy: String,
    /// Fixed strategy parameter, repeatable.
    #[arg(long = "param", value_name = "K=V")]
    pub(crate) params: Vec<String>,
    /// Parameter range K=START:END:STEP (inclusive) or K=a,b,c; repeatable.
    #[arg(long, value_name = "K=START:END:STEP")]
    pub(crate) grid: Vec<String>,
    /// Constraint such as "fast<slow"; repeatable.
    #[arg(long)]
    pub(crate) constraint: Vec<String>,
    /// Statistic to rank by (higher is better).
    #[arg(long, default_value = "sharpe_ratio")]
    pub(crate) metric: String,
    /// Show the best N runs.
    #[arg(long, value_name = "N")]
    pub(crate) top: Option<usize>,
    /// Random search: try N combinations instead of the whole grid.
    #[arg(long, value_name = "N")]
    pub(crate) random: Option<usize>,
    /// Seed of the random search.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    #[command(flatten)]
    pub(crate) costs: CostArgs,
}

/// `tessera walkforward` flags.
#[derive(Debug, Args)]
pub(crate) struct WalkforwardArgs {
    #[command(flatten)]
    pub(crate) sweep: SweepArgs,
    /// Train window in bars.
    #[arg(long, default_value_t = 500)]
    pub(crate) train: usize,
    /// Test window in bars.
    #[arg(long, default_value_t = 100)]
    pub(crate) test: usize,
    /// Grow the train window from the first bar instead of rolling it.
    #[arg(long)]
    pub(crate) anchored: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Bulk insert and range read of bars on SQLite and PostgreSQL, against sqlite3 .import and psql \copy.
    Storage(BenchStorageArgs),
    /// `data import` of a 1M-row Binance kline CSV on SQLite and PostgreSQL, against sqlite3 .import and psql \copy.
    Data(BenchDataArgs),
    /// sma_cross 10/20 on 1M one-minute bars: whole process, CSV parse, engine bars/s, 100-pair sweep, peak RSS.
    Backtest(BenchBacktestArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BenchBacktestArgs {
    /// Bars CSV (timestamp,open,high,low,close,volume); default: written to the temp folder from
    /// the real BTCUSDT 1m candles of ../shared/data, as tools/backtest/make_1m_bars.py does.
    #[arg(long)]
    pub(crate) csv: Option<PathBuf>,
    /// Number of bars in the generated file.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) bars: usize,
    /// Runs per timing (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub(crate) repeat: usize,
    /// Internal: run once on FILE and report timings and peak RSS (used for the child process).
    #[arg(long, hide = true, value_name = "FILE")]
    pub(crate) child: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct BenchDataArgs {
    /// Number of kline rows in the generated file.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) rows: usize,
    /// Seed candles (CSV with header open_time,open,high,low,close,volume), repeated with shifted times.
    #[arg(long)]
    pub(crate) csv: Option<PathBuf>,
    /// PostgreSQL server; temporary databases are created on it and dropped afterwards.
    #[arg(
        long,
        env = "TESSERA_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub(crate) postgres_url: String,
    /// Skip the SQLite half.
    #[arg(long)]
    pub(crate) skip_sqlite: bool,
    /// Skip the PostgreSQL half.
    #[arg(long)]
    pub(crate) skip_postgres: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BenchStorageArgs {
    /// Number of one-minute bars.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) rows: usize,
    /// Seed candles (CSV with header open_time,open,high,low,close,volume), repeated with shifted times.
    #[arg(long)]
    pub(crate) csv: Option<PathBuf>,
    /// PostgreSQL server; a temporary database is created on it and dropped afterwards.
    #[arg(
        long,
        env = "TESSERA_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub(crate) postgres_url: String,
    /// Skip the SQLite half.
    #[arg(long)]
    pub(crate) skip_sqlite: bool,
    /// Skip the PostgreSQL half.
    #[arg(long)]
    pub(crate) skip_postgres: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Apply pending migrations.
    Migrate,
    /// Show the backend, the database and applied and pending migrations.
    Status,
}

#[derive(Debug, Subcommand)]
pub(crate) enum InstrumentsCommand {
    /// Add an instrument to the security master.
    Add(AddInstrumentArgs),
    /// List instruments.
    List,
    /// Show one instrument.
    Show(InstrumentRef),
    /// Remove an instrument (refused while data is stored for it, unless --force).
    Remove {
        #[command(flatten)]
        instrument: InstrumentRef,
        /// Also delete its stored bars, quotes and collector state.
        #[arg(long)]
        force: bool,
    },
}

/// A symbol, optionally on a venue.
#[derive(Debug, Args)]
pub(crate) struct InstrumentRef {
    /// Ticker, e.g. BTCUSDT or AAPL.
    pub(crate) symbol: String,
    /// Venue; needed only when the symbol is listed on several.
    #[arg(long)]
    pub(crate) venue: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AddInstrumentArgs {
    /// Ticker, e.g. BTCUSDT, AAPL, ES, EURUSD.
    pub(crate) symbol: String,
    /// Venue, e.g. binance, nasdaq, cme, sim.
    #[arg(long)]
    pub(crate) venue: String,
    /// Asset class; decides the defaults below.
    #[arg(long, value_enum)]
    pub(crate) kind: KindArg,
    /// Quote currency (default: USD for equities and futures, the pair's quote asset for crypto and fx).
    #[arg(long)]
    pub(crate) currency: Option<String>,
    /// Base currency of a crypto or fx pair (default: split from the symbol).
    #[arg(long)]
    pub(crate) base_currency: Option<String>,
    /// Smallest price step (default: 0.01 equities and futures, 0.00000001 crypto, 0.00001 fx).
    #[arg(long)]
    pub(crate) tick_size: Option<String>,
    /// Quantity step (default: 1; 0.00000001 for crypto).
    #[arg(long)]
    pub(crate) lot_size: Option<String>,
    /// Smallest order quantity (default: the lot size).
    #[arg(long)]
    pub(crate) min_quantity: Option<String>,
    /// Contract multiplier, futures only (default: 1).
    #[arg(long)]
    pub(crate) multiplier: Option<String>,
    /// Exchange time zone, IANA name (default: America/New_York equities, America/Chicago futures, UTC otherwise).
    #[arg(long)]
    pub(crate) timezone: Option<String>,
    /// Add it as inactive (not collected or traded).
    #[arg(long)]
    pub(crate) inactive: bool,
}

/// `--kind` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KindArg {
    /// Shares.
    Equity,
    /// Futures contracts.
    Future,
    /// Crypto spot pairs.
    Crypto,
    /// Currency pairs.
    Fx,
}

impl From<KindArg> for tessera_model::InstrumentKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Equity => Self::Equity,
            KindArg::Future => Self::Future,
            KindArg::Crypto => Self::Crypto,
            KindArg::Fx => Self::Fx,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn test_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum DataCommand {
    /// Register a symbol for collection: its definition from the venue, its cursor in state `created`.
    Add(DataAddArgs),
    /// Backfill registered symbols until caught up with the venue (or --until), then exit.
    Backfill(DataBackfillArgs),
    /// Backfill, then follow live candles and top of book until Ctrl-C (graceful: flushes, records cursors).
    Stream(DataStreamArgs),
    /// Import bar files (validated row by row; --strict refuses the whole import on any bad row).
    Import(DataImportArgs),
    /// Export stored bars to CSV or Parquet.
    Export(DataExportArgs),
    /// List missing candles between the first and last stored one (24/7 calendar).
    Gaps(DataGapsArgs),
    /// Per symbol and interval: collector state, first and last candle, rows, lag, last error.
    Status,
    /// Import end-of-day files dropped into a folder, once each; move them to processed/ or failed/.
    Watch(DataWatchArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DataAddArgs {
    /// Ticker on the venue, e.g. BTCUSDT.
    pub(crate) symbol: String,
    /// Venue: binance, binanceus, alpaca, sim (the offline simulated market) or the [venues.eod] venue.
    #[arg(long, default_value = "sim")]
    pub(crate) venue: String,
    /// Candle interval collected.
    #[arg(long, default_value = "1m")]
    pub(crate) interval: String,
    /// Collect from this date or time (default: the first candle the venue has).
    #[arg(long, value_name = "DATE")]
    pub(crate) start: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DataBackfillArgs {
    /// Symbols to backfill (default: every registered one).
    pub(crate) symbols: Vec<String>,
    /// Only this venue.
    #[arg(long)]
    pub(crate) venue: Option<String>,
    /// Only this interval.
    #[arg(long)]
    pub(crate) interval: Option<String>,
    /// Stop before this date or time (exclusive).
    #[arg(long, value_name = "DATE")]
    pub(crate) until: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DataStreamArgs {
    /// Symbols to follow (default: every registered one).
    pub(crate) symbols: Vec<String>,
    /// Only this venue.
    #[arg(long)]
    pub(crate) venue: Option<String>,
    /// Only this interval.
    #[arg(long)]
    pub(crate) interval: Option<String>,
}

/// `--format` of `data import`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ImportFormatArg {
    /// data.binance.vision klines: no header, 12 columns, ms or µs open times.
    BinanceKlines,
    /// CSV with a header naming time, open, high, low, close and (optional) volume columns.
    OhlcvCsv,
    /// pysystemtrade `DATETIME,price`.
    PriceCsv,
}

#[derive(Debug, Args)]
pub(crate) struct DataImportArgs {
    /// Files to import.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// File format.
    #[arg(long, value_enum)]
    pub(crate) format: ImportFormatArg,
    /// Ticker the bars belong to.
    #[arg(long)]
    pub(crate) symbol: String,
    /// Venue the bars belong to.
    #[arg(long)]
    pub(crate) venue: String,
    /// Bar interval of the files.
    #[arg(long)]
    pub(crate) interval: String,
    /// Refuse the whole import (store nothing) when any row is invalid.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Replace stored bars whose values differ (default: keep them and count conflicts).
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Asset class when the instrument is created (default: from the venue).
    #[arg(long, value_enum)]
    pub(crate) kind: Option<KindArg>,
    /// Tick size when the instrument is created (default: the finest price decimals in the files).
    #[arg(long)]
    pub(crate) tick_size: Option<String>,
    /// Lot size when the instrument is created (default: the finest volume decimals in the files).
    #[arg(long)]
    pub(crate) lot_size: Option<String>,
    /// chrono format of the time column, e.g. "%d/%m/%Y %H:%M" (default: auto-detected).
    #[arg(long)]
    pub(crate) date_format: Option<String>,
    /// IANA time zone of times written without an offset (default: UTC).
    #[arg(long, default_value = "UTC")]
    pub(crate) timezone: String,
    /// Name of the time column (default: auto-detected).
    #[arg(long)]
    pub(crate) time_column: Option<String>,
}

/// `--format` of `data export`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormatArg {
    /// timestamp,open,high,low,close,volume with RFC 3339 UTC times.
    Csv,
    /// Apache Parquet (timestamp ns UTC, exact decimals).
    Parquet,
}

#[derive(Debug, Args)]
pub(crate) struct DataExportArgs {
    /// Ticker.
    #[arg(long)]
    pub(crate) symbol: String,
    /// Venue.
    #[arg(long)]
    pub(crate) venue: String,
    /// Bar interval.
    #[arg(long)]
    pub(crate) interval: String,
    /// First open time included.
    #[arg(long, value_name = "TIME")]
    pub(crate) from: Option<String>,
    /// First open time excluded.
    #[arg(long, value_name = "TIME")]
    pub(crate) to: Option<String>,
    /// Output format.
    #[arg(long, value_enum)]
    pub(crate) format: ExportFormatArg,
    /// Output file.
    #[arg(long)]
    pub(crate) output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct DataGapsArgs {
    /// Ticker.
    #[arg(long)]
    pub(crate) symbol: String,
    /// Venue.
    #[arg(long)]
    pub(crate) venue: String,
    /// Bar interval.
    #[arg(long)]
    pub(crate) interval: String,
}

#[derive(Debug, Args)]
pub(crate) struct DataWatchArgs {
    /// Folder watched; files go to FOLDER/processed or FOLDER/failed (with a .reason.txt).
    pub(crate) folder: PathBuf,
    /// Format of the files.
    #[arg(long, value_enum, default_value = "ohlcv-csv")]
    pub(crate) format: ImportFormatArg,
    /// Venue of the instruments (the symbol is the file name up to the first '.' or '_').
    #[arg(long)]
    pub(crate) venue: String,
    /// Bar interval of the files.
    #[arg(long, default_value = "1d")]
    pub(crate) interval: String,
    /// Asset class of created instruments (default: from the venue).
    #[arg(long, value_enum)]
    pub(crate) kind: Option<KindArg>,
    /// Seconds between scans.
    #[arg(long, default_value_t = 5)]
    pub(crate) poll_secs: u64,
    /// Scan once and exit.
    #[arg(long)]
    pub(crate) once: bool,
}
