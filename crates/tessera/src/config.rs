//! Configuration: one TOML file, every key overridable from the environment.
//!
//! Precedence, lowest first: built-in defaults, the TOML file (`--config
//! PATH`, else `./tessera.toml` when present), then environment variables
//! `TESSERA_<SECTION>_<KEY>` (`TESSERA_DATA_DIR`, `TESSERA_DATABASE_URL`,
//! `TESSERA_VENUES_BINANCE_REST_URL`, …). The override names are derived
//! from the defaults, so a key added to [`Config`] is overridable without
//! further work. Every refusal names the key, the value and what was expected.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

/// Environment variable prefix.
const ENV_PREFIX: &str = "TESSERA";

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// Folder for the SQLite file, artefacts and backups.
    pub(crate) data_dir: PathBuf,
    /// Log filter when `RUST_LOG` is unset (`info`, `tessera=debug,sqlx=warn`, …).
    pub(crate) log_level: String,
    /// Database settings.
    pub(crate) database: DatabaseConfig,
    /// Market data venues.
    pub(crate) venues: VenuesConfig,
    /// Market data collection (`tessera data …`).
    pub(crate) collector: CollectorConfig,
    /// Model artefact storage (`tessera model …`).
    pub(crate) artefacts: ArtefactsConfig,
    /// Pre-trade risk limits and reconciliation (`tessera trade`).
    pub(crate) risk: RiskConfig,
    /// The paper broker's costs and latency (`tessera trade --broker paper`).
    pub(crate) paper: PaperConfig,
    /// Real brokers (`tessera trade --broker alpaca`).
    pub(crate) brokers: BrokersConfig,
    /// The HTTP API and dashboard.
    pub(crate) api: ApiSection,
    /// Workers and the scheduler loop (`tessera up`, `tessera worker`).
    pub(crate) scheduler: SchedulerSettings,
    /// `[[schedules]]`: when jobs and pipelines run; empty means the default `eod` pipeline.
    pub(crate) schedules: Vec<tessera_scheduler::ScheduleConfig>,
    /// `[predictions]`: the prediction service `tessera up` runs for production models.
    pub(crate) predictions: PredictionsSettings,
    /// `[[traders]]`: paper or live traders `tessera up` runs, each a supervised `tessera trade`.
    pub(crate) traders: Vec<TraderConfig>,
}

/// `[predictions]`: the prediction service under `tessera up` (with a config
/// file; the demo always runs its own).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PredictionsSettings {
    /// Run the service: every production model of `venue` scores each new closed bar.
    pub(crate) enabled: bool,
    /// Venue whose bars are scored.
    pub(crate) venue: String,
    /// Bar interval scored (`1m`, `1h`, `1d`, …).
    pub(crate) interval: String,
    /// Milliseconds between polls of the database for new bars.
    pub(crate) poll_ms: u64,
}

impl Default for PredictionsSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            venue: "sim".into(),
            interval: "1m".into(),
            poll_ms: 1000,
        }
    }
}

/// One `[[traders]]` entry: `tessera trade --strategy STRATEGY --param K=V …
/// --symbol S … --venue VENUE --broker BROKER --capital CAPITAL`, run by
/// `tessera up` as the supervised process `trader:NAME`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TraderConfig {
    /// Unique name; the process is `trader:NAME`.
    pub(crate) name: String,
    /// Built-in strategy (`sma_cross`, `ewmac`, …) or `model`.
    pub(crate) strategy: String,
    /// Strategy parameters, e.g. `{ fast = 10, slow = 30 }`.
    #[serde(default)]
    pub(crate) params: toml::Table,
    /// Symbols to trade (at least one).
    pub(crate) symbols: Vec<String>,
    /// Market data venue: `sim`, `binance`, `binanceus` or `alpaca`.
    #[serde(default = "default_trader_venue")]
    pub(crate) venue: String,
    /// Broker: `paper` or `alpaca`.
    #[serde(default = "default_trader_broker")]
    pub(crate) broker: String,
    /// Capital allocated to the strategy, in the quote currency (a number or a decimal string).
    #[serde(default = "default_trader_capital")]
    pub(crate) capital: toml::Value,
    /// More strategies trading on this trader's broker account in the same
    /// process (`[[traders.strategies]]`), each with its own capital and P&L;
    /// their market orders of one event are netted (`tessera trade --also`).
    #[serde(default)]
    pub(crate) strategies: Vec<TraderStrategy>,
}

/// One `[[traders.strategies]]` entry: `tessera trade --also NAME=STRATEGY,K=V…@CAPITAL`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TraderStrategy {
    /// Strategy id owning its orders, fills and positions; unique within the config's traders.
    pub(crate) name: String,
    /// Built-in strategy or `model`.
    pub(crate) strategy: String,
    /// Strategy parameters.
    #[serde(default)]
    pub(crate) params: toml::Table,
    /// Its capital (default: the trader's).
    #[serde(default)]
    pub(crate) capital: Option<toml::Value>,
}

/// `K=V` arguments from a parameter table.
fn param_args_of(params: &toml::Table) -> Vec<String> {
    params
        .iter()
        .map(|(k, v)| match v {
            toml::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect()
}

/// A positive decimal from a TOML number or string, or a message naming `key`.
fn positive_amount(key: &str, v: &toml::Value) -> Result<rust_decimal::Decimal> {
    let text = match v {
        toml::Value::String(s) => s.trim().to_string(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        other => other.to_string(),
    };
    match text.parse::<rust_decimal::Decimal>() {
        Ok(d) if d > rust_decimal::Decimal::ZERO => Ok(d),
        _ => {
            bail!("config key `{key}` = {v}: expected a positive amount like 100000 or \"2500.50\"")
        }
    }
}

/// A name usable as a strategy id and process name.
fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Check a strategy name and its parameters; `key` names the entry.
fn validate_strategy(key: &str, strategy: &str, params: &toml::Table) -> Result<()> {
    let is_model = strategy == tessera_ml::strategy::NAME;
    if !is_model && !tessera_strategy::BUILTIN_NAMES.contains(&strategy) {
        bail!(
            "config key `{key}.strategy` = {strategy:?}: expected {} or {}",
            tessera_strategy::BUILTIN_NAMES.join(", "),
            tessera_ml::strategy::NAME
        );
    }
    for (k, v) in params {
        if matches!(v, toml::Value::Array(_) | toml::Value::Table(_)) {
            bail!("config key `{key}.params.{k}` = {v}: expected a number, string or boolean");
        }
    }
    let args = param_args_of(params);
    let parsed = tessera_strategy::Params::parse(args.iter().map(String::as_str))
        .map_err(|e| anyhow!("config key `{key}.params`: {e}"))?;
    if !is_model {
        tessera_strategy::build(strategy, &parsed)
            .map_err(|e| anyhow!("config key `{key}.params` of strategy {strategy:?}: {e}"))?;
    }
    Ok(())
}

fn default_trader_venue() -> String {
    "sim".into()
}

fn default_trader_broker() -> String {
    "paper".into()
}

fn default_trader_capital() -> toml::Value {
    toml::Value::String("100000".into())
}

impl TraderConfig {
    /// The strategy parameters as `K=V` arguments of `tessera trade --param`.
    pub(crate) fn param_args(&self) -> Vec<String> {
        param_args_of(&self.params)
    }

    /// The capital as an exact decimal.
    ///
    /// # Errors
    /// A message naming the key when it is not a positive number.
    pub(crate) fn capital(&self, key: &str) -> Result<rust_decimal::Decimal> {
        positive_amount(&format!("{key}.capital"), &self.capital)
    }

    /// The arguments of `tessera trade` this entry stands for.
    pub(crate) fn trade_args(&self) -> Vec<String> {
        let mut args: Vec<String> =
            vec!["trade".into(), "--strategy".into(), self.strategy.clone()];
        args.extend(["--name".to_string(), self.name.clone()]);
        for p in self.param_args() {
            args.extend(["--param".to_string(), p]);
        }
        for s in &self.symbols {
            args.extend(["--symbol".to_string(), s.clone()]);
        }
        args.extend(["--venue".to_string(), self.venue.clone()]);
        args.extend(["--broker".to_string(), self.broker.clone()]);
        let capital = self
            .capital("traders")
            .map_or_else(|_| "100000".into(), |d| d.to_string());
        args.extend(["--capital".to_string(), capital.clone()]);
        for s in &self.strategies {
            let mut spec = format!("{}={}", s.name, s.strategy);
            for p in param_args_of(&s.params) {
                spec.push(',');
                spec.push_str(&p);
            }
            let cap = s
                .capital
                .as_ref()
                .and_then(|c| positive_amount("capital", c).ok())
                .map_or_else(|| capital.clone(), |d| d.to_string());
            spec.push('@');
            spec.push_str(&cap);
            args.extend(["--also".to_string(), spec]);
        }
        args
    }

    /// Check one entry; `key` is `traders[I]` (or `traders.NAME`).
    fn validate(&self, key: &str) -> Result<()> {
        if !name_ok(&self.name) {
            bail!(
                "config key `{key}.name` = {:?}: expected letters, digits, `_` or `-`",
                self.name
            );
        }
        validate_strategy(key, &self.strategy, &self.params)?;
        let mut names = vec![self.name.as_str()];
        for (j, s) in self.strategies.iter().enumerate() {
            let k = format!("{key}.strategies[{j}]");
            if !name_ok(&s.name) || names.contains(&s.name.as_str()) {
                bail!(
                    "config key `{k}.name` = {:?}: expected a unique name of letters, digits, `_` or `-`",
                    s.name
                );
            }
            names.push(&s.name);
            validate_strategy(&k, &s.strategy, &s.params)?;
            // The spec `NAME=STRATEGY,K=V…@CAPITAL` cannot carry these in a value.
            for (pk, v) in &s.params {
                if v.to_string().contains([',', '@']) {
                    bail!("config key `{k}.params.{pk}` = {v}: `,` and `@` are not allowed here");
                }
            }
            if let Some(c) = &s.capital {
                positive_amount(&format!("{k}.capital"), c)?;
            }
        }
        if self.symbols.is_empty() || self.symbols.iter().any(|s| s.trim().is_empty()) {
            bail!(
                "config key `{key}.symbols` = {:?}: expected at least one symbol, e.g. [\"BTCUSDT\"]",
                self.symbols
            );
        }
        if !matches!(
            self.venue.as_str(),
            "sim" | "binance" | "binanceus" | "alpaca"
        ) {
            bail!(
                "config key `{key}.venue` = {:?}: expected sim, binance, binanceus or alpaca",
                self.venue
            );
        }
        if !matches!(self.broker.as_str(), "paper" | "alpaca") {
            bail!(
                "config key `{key}.broker` = {:?}: expected paper or alpaca",
                self.broker
            );
        }
        self.capital(key)?;
        Ok(())
    }
}

/// `[scheduler]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SchedulerSettings {
    /// Jobs one `tessera up` or `tessera worker` process runs at the same time.
    pub(crate) worker_concurrency: u32,
    /// Seconds a worker's lease on a job lasts without a heartbeat (a dead worker's job is retried after it).
    pub(crate) lease_secs: u64,
    /// Attempts of a job before it fails for good.
    pub(crate) max_attempts: u32,
    /// Seconds before the second attempt; doubles with each attempt (at most 10 minutes).
    pub(crate) backoff_secs: u64,
    /// Milliseconds between polls of an empty queue.
    pub(crate) poll_ms: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            worker_concurrency: 2,
            lease_secs: 30,
            max_attempts: 3,
            backoff_secs: 10,
            poll_ms: 200,
        }
    }
}

/// `[api]`: the HTTP API and dashboard (`tessera serve`, `tessera up`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ApiSection {
    /// Address to listen on; 127.0.0.1 keeps the API on this machine.
    pub(crate) bind: String,
    /// TCP port.
    pub(crate) port: u16,
    /// Allow reads without a token from 127.0.0.1 / ::1 (mutations always need a token).
    pub(crate) open_read_on_loopback: bool,
    /// Comma-separated origins allowed by CORS; empty turns CORS off.
    pub(crate) cors_origins: String,
    /// Requests per minute per token (or per address for open reads); 0 = unlimited.
    pub(crate) rate_limit_per_minute: u32,
    /// Largest request body accepted, bytes.
    pub(crate) body_limit_bytes: u64,
    /// Largest page a request may ask for (`limit`).
    pub(crate) max_page_size: u64,
    /// How often the live stream polls the database, milliseconds.
    pub(crate) stream_poll_ms: u64,
    /// Where `POST /api/v1/orders` goes: empty = nowhere (409), `paper` = the paper account through risk and the order stack.
    pub(crate) order_desk: String,
    /// Starting cash of the API's paper account, in the first instrument's quote currency.
    pub(crate) order_desk_capital: String,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".into(),
            port: 8080,
            open_read_on_loopback: false,
            cors_origins: String::new(),
            rate_limit_per_minute: 600,
            body_limit_bytes: 65_536,
            max_page_size: 10_000,
            stream_poll_ms: 1000,
            order_desk: String::new(),
            order_desk_capital: "100000".into(),
        }
    }
}

/// `[risk]`: pre-trade limits; an empty string or 0 disables a limit.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RiskConfig {
    /// Largest quantity of one order, in units.
    pub(crate) max_order_quantity: String,
    /// Largest notional of one order, in the account currency.
    pub(crate) max_order_notional: String,
    /// Largest absolute net position per instrument (all strategies), in units.
    pub(crate) max_position_per_instrument: String,
    /// Largest absolute position of one strategy in one instrument, in units.
    pub(crate) max_position_per_strategy: String,
    /// Most orders working at once; 0 = no limit.
    pub(crate) max_open_orders: u32,
    /// Largest distance of a limit or stop price from the last price, in percent.
    pub(crate) price_collar_pct: String,
    /// Largest loss of one strategy today, in the account currency.
    pub(crate) max_daily_loss_per_strategy: String,
    /// Largest loss of the account today, in the account currency.
    pub(crate) max_daily_loss_account: String,
    /// `HH:MM-HH:MM` UTC, optionally followed by ` weekdays`; empty = always.
    pub(crate) trading_hours: String,
    /// Halt an instrument when our position differs from the broker's.
    pub(crate) halt_on_difference: bool,
    /// Seconds of market time between reconciliations, kill-switch checks and account snapshots.
    pub(crate) reconcile_seconds: u64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            max_order_quantity: String::new(),
            max_order_notional: String::new(),
            max_position_per_instrument: String::new(),
            max_position_per_strategy: String::new(),
            max_open_orders: 0,
            price_collar_pct: "10".into(),
            max_daily_loss_per_strategy: String::new(),
            max_daily_loss_account: String::new(),
            trading_hours: String::new(),
            halt_on_difference: true,
            reconcile_seconds: 60,
        }
    }
}

impl RiskConfig {
    /// The limits as the risk engine takes them.
    ///
    /// # Errors
    /// A message naming the key whose value is not a number or a valid window.
    pub(crate) fn limits(&self) -> Result<tessera_risk::RiskLimits> {
        let dec = |key: &str, v: &str| -> Result<Option<rust_decimal::Decimal>> {
            if v.trim().is_empty() {
                return Ok(None);
            }
            v.trim()
                .parse()
                .map(Some)
                .map_err(|e| anyhow!("config key `risk.{key}` = {v:?}: {e}"))
        };
        Ok(tessera_risk::RiskLimits {
            max_order_quantity: dec("max_order_quantity", &self.max_order_quantity)?,
            max_order_notional: dec("max_order_notional", &self.max_order_notional)?,
            max_position_per_instrument: dec(
                "max_position_per_instrument",
                &self.max_position_per_instrument,
            )?,
            max_position_per_strategy: dec(
                "max_position_per_strategy",
                &self.max_position_per_strategy,
            )?,
            max_open_orders: (self.max_open_orders > 0).then_some(self.max_open_orders as usize),
            price_collar_pct: dec("price_collar_pct", &self.price_collar_pct)?,
            max_daily_loss_per_strategy: dec(
                "max_daily_loss_per_strategy",
                &self.max_daily_loss_per_strategy,
            )?,
            max_daily_loss_account: dec("max_daily_loss_account", &self.max_daily_loss_account)?,
            trading_hours: if self.trading_hours.trim().is_empty() {
                None
            } else {
                Some(
                    tessera_risk::TradingHours::parse(&self.trading_hours)
                        .map_err(|e| anyhow!("config key `risk.trading_hours`: {e}"))?,
                )
            },
        })
    }
}

/// `[paper]`: the paper broker.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PaperConfig {
    /// Commission as a fraction of notional (0.001 = 0.1 %).
    pub(crate) commission_rate: String,
    /// Slippage of market and stop fills, in basis points.
    pub(crate) slippage_bps: String,
    /// Delay before an order reaches the simulated market, in milliseconds of market time.
    pub(crate) latency_ms: u64,
}

impl PaperConfig {
    /// Commission rate and slippage in basis points, parsed.
    ///
    /// # Errors
    /// `paper.commission_rate` or `paper.slippage_bps` not a decimal number.
    pub(crate) fn costs(&self) -> Result<(rust_decimal::Decimal, rust_decimal::Decimal)> {
        let rate = self.commission_rate.trim().parse().with_context(|| {
            format!(
                "config key `paper.commission_rate` = {:?}",
                self.commission_rate
            )
        })?;
        let bps = self.slippage_bps.trim().parse().with_context(|| {
            format!("config key `paper.slippage_bps` = {:?}", self.slippage_bps)
        })?;
        Ok((rate, bps))
    }

    /// Simulator settings of a paper account starting with `capital`, so that
    /// `trade`, the API's order desk and the order-stack handler fill alike.
    ///
    /// # Errors
    /// As [`PaperConfig::costs`].
    pub(crate) fn sim_config(
        &self,
        capital: tessera_model::Money,
    ) -> Result<tessera_engine::SimConfig> {
        use tessera_engine::{Commission, SimConfig, Slippage};
        let (rate, bps) = self.costs()?;
        let mut sim = SimConfig::new(capital);
        sim.commission = Commission::rate(rate);
        sim.slippage = if bps.is_zero() {
            Slippage::None
        } else {
            Slippage::Bps(bps)
        };
        Ok(sim)
    }
}

impl Default for PaperConfig {
    fn default() -> Self {
        Self {
            commission_rate: "0".into(),
            slippage_bps: "0".into(),
            latency_ms: 0,
        }
    }
}

/// `[brokers]`: real brokers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BrokersConfig {
    /// `[brokers.alpaca]`.
    pub(crate) alpaca: AlpacaSection,
}

/// `[brokers.alpaca]`: Alpaca's trading API (paper or live by URL). `Debug` hides the key and secret.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlpacaSection {
    /// Trading API root: `https://paper-api.alpaca.markets` (paper) or `https://api.alpaca.markets` (live).
    pub(crate) base_url: String,
    /// Market data API root (`tessera trade --venue alpaca`).
    pub(crate) data_url: String,
    /// Stock data feed: `iex` (free plans) or `sip` (paid).
    pub(crate) feed: String,
    /// API key id (`APCA-API-KEY-ID`); better given as `TESSERA_BROKERS_ALPACA_KEY_ID`.
    pub(crate) key_id: String,
    /// API secret (`APCA-API-SECRET-KEY`); better given as `TESSERA_BROKERS_ALPACA_SECRET`.
    pub(crate) secret: String,
    /// Time allowed for one HTTP request, milliseconds.
    pub(crate) timeout_ms: u64,
    /// Attempts of one request before it is reported as failed.
    pub(crate) attempts: u32,
}

impl Default for AlpacaSection {
    fn default() -> Self {
        let d = tessera_alpaca::AlpacaConfig::default();
        Self {
            base_url: d.base_url,
            data_url: d.data_url,
            feed: d.feed,
            key_id: String::new(),
            secret: String::new(),
            timeout_ms: 10_000,
            attempts: d.attempts,
        }
    }
}

impl std::fmt::Debug for AlpacaSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Same redaction as the adapter's own config.
        write!(f, "{:?}", self.to_alpaca())
    }
}

impl AlpacaSection {
    /// The adapter's settings.
    pub(crate) fn to_alpaca(&self) -> tessera_alpaca::AlpacaConfig {
        tessera_alpaca::AlpacaConfig {
            base_url: self.base_url.clone(),
            data_url: self.data_url.clone(),
            feed: self.feed.clone(),
            key_id: self.key_id.clone(),
            secret: self.secret.clone(),
            timeout: std::time::Duration::from_millis(self.timeout_ms.max(1)),
            attempts: self.attempts.max(1),
            ..tessera_alpaca::AlpacaConfig::default()
        }
    }
}

/// `[artefacts]`: where trained models are stored (`{namespace}/models/{name}/{version}/`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ArtefactsConfig {
    /// A folder, `file:///folder` or `s3://bucket[/prefix]`; empty means `<data_dir>/artefacts`.
    pub(crate) url: String,
    /// First path segment under the store (empty means `default`).
    pub(crate) namespace: String,
    /// Endpoint of an S3-compatible service (MinIO, GCS); empty for AWS.
    pub(crate) s3_endpoint: String,
    /// S3 region; empty means `us-east-1`.
    pub(crate) s3_region: String,
    /// S3 access key id; empty means the AWS_* environment or instance credentials.
    pub(crate) s3_access_key_id: String,
    /// S3 secret access key.
    pub(crate) s3_secret_access_key: String,
}

/// `[collector]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CollectorConfig {
    /// Top of book stored: `minute` (last quote of each minute), `every` (each update) or `off`.
    pub(crate) quotes: String,
    /// Symbols backfilled at the same time.
    pub(crate) backfill_concurrency: u32,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            quotes: "minute".into(),
            backfill_concurrency: 4,
        }
    }
}

/// `[venues.eod]`: a generic HTTP CSV source of end-of-day bars.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct EodConfig {
    /// Venue name its instruments are stored under.
    pub(crate) venue: String,
    /// URL of one symbol's daily CSV; `{symbol}` and `{symbol_lower}` are replaced.
    pub(crate) url_template: String,
}

impl Default for EodConfig {
    fn default() -> Self {
        Self {
            venue: "stooq".into(),
            url_template: "https://stooq.com/q/d/l/?s={symbol_lower}&i=d".into(),
        }
    }
}

/// `[database]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`; empty means `sqlite://<data_dir>/tessera.db`.
    pub(crate) url: String,
}

/// `[venues]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct VenuesConfig {
    /// `[venues.binance]`
    pub(crate) binance: BinanceConfig,
    /// `[venues.sim]`
    pub(crate) sim: SimConfig,
    /// `[venues.eod]`
    pub(crate) eod: EodConfig,
}

/// `[venues.binance]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BinanceConfig {
    /// REST base URL.
    pub(crate) rest_url: String,
    /// WebSocket base URL.
    pub(crate) ws_url: String,
    /// Most request weight used per minute (Binance allows 6,000 per IP).
    pub(crate) weight_budget: u32,
    /// Timeout of one REST request, seconds.
    pub(crate) timeout_secs: u64,
    /// Retries of a failing request (429, 418, 5xx, timeouts) before giving up.
    pub(crate) max_retries: u32,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        Self {
            rest_url: "https://api.binance.com".into(),
            ws_url: "wss://stream.binance.com:9443".into(),
            weight_budget: 3_000,
            timeout_secs: 10,
            max_retries: 8,
        }
    }
}

/// `[venues.sim]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SimConfig {
    /// Market seconds per real second (1 = real time, 600 = ten minutes a second).
    pub(crate) speed: f64,
    /// Seed of the simulated market; the same seed gives the same market.
    pub(crate) seed: u64,
    /// Days of simulated history available to backfill.
    pub(crate) history_days: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            speed: 1.0,
            seed: 42,
            history_days: 7,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./tessera-data"),
            log_level: "info".into(),
            database: DatabaseConfig::default(),
            venues: VenuesConfig::default(),
            collector: CollectorConfig::default(),
            artefacts: ArtefactsConfig::default(),
            risk: RiskConfig::default(),
            paper: PaperConfig::default(),
            brokers: BrokersConfig::default(),
            api: ApiSection::default(),
            scheduler: SchedulerSettings::default(),
            schedules: Vec::new(),
            predictions: PredictionsSettings::default(),
            traders: Vec::new(),
        }
    }
}

impl Config {
    /// Load from `path` (or `./tessera.toml` when present), then apply environment overrides.
    ///
    /// # Errors
    /// A message naming the file, key, value and expectation.
    pub(crate) fn load(path: Option<&Path>) -> Result<Self> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("TESSERA_"))
            .collect();
        let (text, source) = match path {
            Some(p) => (
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?,
                Some(p.to_path_buf()),
            ),
            None if Path::new("tessera.toml").exists() => (
                std::fs::read_to_string("tessera.toml").context("cannot read ./tessera.toml")?,
                Some(PathBuf::from("tessera.toml")),
            ),
            None => (String::new(), None),
        };
        Self::from_parts(&text, source.as_deref(), &env)
    }

    /// Build from TOML text and environment pairs (testable without touching the process).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub(crate) fn from_parts(
        toml_text: &str,
        source: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Self> {
        let where_ =
            source.map_or_else(|| "configuration".to_string(), |p| p.display().to_string());
        let mut value = toml::Value::try_from(Self::default()).context("defaults serialise")?;
        let file: toml::Table = toml_text
            .parse()
            .map_err(|e: toml::de::Error| anyhow!("{where_}: {}", e.to_string().trim()))?;
        merge(&mut value, toml::Value::Table(file));
        // Check the file alone first so its errors name the file.
        let from_file: Self = value
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| anyhow!("{where_}: {}", e.to_string().trim()))?;
        let defaults = toml::Value::try_from(Self::default()).context("defaults serialise")?;
        let mut overrides = Vec::new();
        collect_keys(&defaults, &mut Vec::new(), &mut overrides);
        for (k, v) in env {
            let Some(path) = overrides
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, p)| p.clone())
            else {
                if k.starts_with("TESSERA_") && !KNOWN_NON_CONFIG_ENV.contains(&k.as_str()) {
                    tracing::warn!(variable = %k, "environment variable looks like a Tessera setting but matches no config key");
                }
                continue;
            };
            let default_leaf = lookup(&defaults, &path).expect("key from defaults");
            let parsed = parse_like(default_leaf, v).map_err(|expected| {
                anyhow!(
                    "environment variable {k}={v:?} (config key `{}`): expected {expected}",
                    path.join(".")
                )
            })?;
            set(&mut value, &path, parsed);
        }
        let cfg: Self = if env.is_empty() {
            from_file
        } else {
            value.try_into().map_err(|e: toml::de::Error| {
                anyhow!("environment overrides: {}", e.to_string().trim())
            })?
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        if !(self.venues.sim.speed > 0.0 && self.venues.sim.speed.is_finite()) {
            bail!(
                "config key `venues.sim.speed` = {}: expected a positive number of market seconds per second",
                self.venues.sim.speed
            );
        }
        let url = self.database_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!(
                "config key `database.url` = {url:?}: expected sqlite://PATH or postgres://USER@HOST:PORT/DB"
            );
        }
        if tessera_data::quotes::QuoteMode::parse(&self.collector.quotes).is_err() {
            bail!(
                "config key `collector.quotes` = {:?}: expected minute, every or off",
                self.collector.quotes
            );
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| anyhow!("config key `log_level` = {:?}: expected a log filter like `info` or `tessera=debug` ({e})", self.log_level))?;
        self.validate_up()?;
        Ok(())
    }

    /// `[predictions]` and `[[traders]]`: what `tessera up` starts.
    fn validate_up(&self) -> Result<()> {
        let p = &self.predictions;
        if p.venue.trim().is_empty() {
            bail!("config key `predictions.venue` = \"\": expected a venue such as sim or binance");
        }
        if p.interval.parse::<tessera_model::Interval>().is_err() {
            bail!(
                "config key `predictions.interval` = {:?}: expected a bar interval such as 1m, 1h or 1d",
                p.interval
            );
        }
        if p.poll_ms == 0 {
            bail!(
                "config key `predictions.poll_ms` = 0: expected a positive number of milliseconds"
            );
        }
        let mut seen = std::collections::HashSet::new();
        // One order stack and one broker book per broker account: two trader
        // processes on one account would race on its order ids and fills.
        let mut brokers = std::collections::HashSet::new();
        for (i, t) in self.traders.iter().enumerate() {
            let key = format!("traders[{i}]");
            t.validate(&key)?;
            if !seen.insert(t.name.as_str()) {
                bail!(
                    "config key `{key}.name` = {:?}: expected a unique name (another trader has it)",
                    t.name
                );
            }
            for (j, s) in t.strategies.iter().enumerate() {
                if !seen.insert(s.name.as_str()) {
                    bail!(
                        "config key `{key}.strategies[{j}].name` = {:?}: expected a unique name (another trader or strategy has it)",
                        s.name
                    );
                }
            }
            if !brokers.insert(t.broker.as_str()) {
                bail!(
                    "config key `{key}.broker` = {:?}: another trader already uses this broker \
                     account; one trader per broker (run several strategies on it with \
                     [[traders.strategies]])",
                    t.broker
                );
            }
        }
        Ok(())
    }

    /// The database URL, defaulting to the SQLite file in the data folder.
    #[must_use]
    pub(crate) fn database_url(&self) -> String {
        if self.database.url.trim().is_empty() {
            format!("sqlite://{}", self.data_dir.join("tessera.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// Every config key with its environment variable name (checked against the example file).
    #[cfg(test)]
    pub(crate) fn env_names() -> Vec<(String, String)> {
        let defaults = toml::Value::try_from(Self::default()).expect("defaults serialise");
        let mut out = Vec::new();
        collect_keys(&defaults, &mut Vec::new(), &mut out);
        out.into_iter()
            .map(|(env, path)| (path.join("."), env))
            .collect()
    }
}

/// Environment variables that start with `TESSERA_` but are not config keys.
const KNOWN_NON_CONFIG_ENV: &[&str] = &[
    "TESSERA_TEST_POSTGRES_URL",
    "TESSERA_CONFIG",
    // Crash-test freeze points of `tessera trade` (see tessera_alpaca::failpoint).
    "TESSERA_FAILPOINT",
];

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_table() && v.is_table() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn collect_keys(v: &toml::Value, path: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, child) in t {
                path.push(k.clone());
                collect_keys(child, path, out);
                path.pop();
            }
        }
        _ => {
            let name = std::iter::once(ENV_PREFIX.to_string())
                .chain(path.iter().map(|p| p.to_ascii_uppercase()))
                .collect::<Vec<_>>()
                .join("_");
            out.push((name, path.clone()));
        }
    }
}

fn lookup<'a>(v: &'a toml::Value, path: &[String]) -> Option<&'a toml::Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k))
}

fn set(v: &mut toml::Value, path: &[String], new: toml::Value) {
    let mut cur = v;
    for k in &path[..path.len() - 1] {
        if cur.get(k).is_none()
            && let toml::Value::Table(t) = cur
        {
            t.insert(k.clone(), toml::Value::Table(toml::Table::new()));
        }
        cur = cur.get_mut(k).expect("inserted above");
    }
    if let toml::Value::Table(t) = cur {
        t.insert(path[path.len() - 1].clone(), new);
    }
}

/// Parse an environment string as the same TOML type as the default value.
fn parse_like(default: &toml::Value, s: &str) -> std::result::Result<toml::Value, &'static str> {
    match default {
        toml::Value::String(_) => Ok(toml::Value::String(s.to_string())),
        toml::Value::Integer(_) => s
            .trim()
            .parse()
            .map(toml::Value::Integer)
            .map_err(|_| "an integer"),
        toml::Value::Float(_) => s
            .trim()
            .parse()
            .map(toml::Value::Float)
            .map_err(|_| "a number"),
        toml::Value::Boolean(_) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err("true or false"),
        },
        _ => s.parse::<toml::Value>().map_err(|_| "a TOML value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn test_defaults() {
        let c = Config::from_parts("", None, &[]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./tessera-data"));
        assert_eq!(c.database_url(), "sqlite://./tessera-data/tessera.db");
    }

    #[test]
    fn test_env_overrides_file() {
        let toml = "data_dir = \"/tmp/a\"\n[database]\nurl = \"sqlite:///tmp/x.db\"\n[venues.sim]\nspeed = 60.0\n";
        let c = Config::from_parts(
            toml,
            None,
            &env(&[
                ("TESSERA_DATA_DIR", "/tmp/b"),
                ("TESSERA_VENUES_BINANCE_REST_URL", "http://127.0.0.1:9000"),
                ("TESSERA_VENUES_SIM_SEED", "7"),
            ]),
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/b"));
        assert_eq!(c.database_url(), "sqlite:///tmp/x.db");
        assert_eq!(c.venues.binance.rest_url, "http://127.0.0.1:9000");
        assert_eq!(c.venues.sim.seed, 7);
        assert!((c.venues.sim.speed - 60.0).abs() < f64::EPSILON);
    }

    #[test]
    fn test_errors_name_key_value_and_expectation() {
        let e = Config::from_parts(
            "[venues.sim]\nspeed = \"fast\"\n",
            Some(Path::new("t.toml")),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("t.toml") && e.contains("speed") && e.contains("fast"),
            "{e}"
        );
        let e = Config::from_parts("", None, &env(&[("TESSERA_VENUES_SIM_SEED", "abc")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("TESSERA_VENUES_SIM_SEED") && e.contains("abc") && e.contains("integer"),
            "{e}"
        );
        let e = Config::from_parts("[database]\nurl = \"mysql://x\"\n", None, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("database.url") && e.contains("mysql://x"), "{e}");
        let e = Config::from_parts("[databse]\nurl = \"x\"\n", None, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("databse"), "{e}");
        let e = Config::from_parts("[venues.sim]\nspeed = -1.0\n", None, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("venues.sim.speed"), "{e}");
    }

    #[test]
    fn test_every_key_has_an_env_name() {
        let names = Config::env_names();
        for want in [
            "TESSERA_DATA_DIR",
            "TESSERA_DATABASE_URL",
            "TESSERA_VENUES_BINANCE_WS_URL",
            "TESSERA_VENUES_SIM_SPEED",
        ] {
            assert!(
                names.iter().any(|(_, e)| e == want),
                "{want} missing from {names:?}"
            );
        }
    }

    const TRADER: &str = "[predictions]\nenabled = true\n\n[[traders]]\nname = \"btc_trend\"\nstrategy = \"sma_cross\"\nparams = { fast = 10, slow = 30 }\nsymbols = [\"BTCUSDT\"]\ncapital = 2500\n";

    #[test]
    fn test_traders_and_predictions_load_into_trade_args() {
        let c = Config::from_parts(TRADER, None, &[]).unwrap();
        assert!(c.predictions.enabled);
        assert_eq!(c.traders.len(), 1);
        assert_eq!(
            c.traders[0].trade_args().join(" "),
            "trade --strategy sma_cross --name btc_trend --param fast=10 --param slow=30 --symbol BTCUSDT \
             --venue sim --broker paper --capital 2500"
        );
        // Env overrides are derived as for every other key.
        let c = Config::from_parts(
            TRADER,
            None,
            &env(&[
                ("TESSERA_PREDICTIONS_ENABLED", "false"),
                ("TESSERA_PREDICTIONS_POLL_MS", "250"),
                (
                    "TESSERA_TRADERS",
                    "[{ name = \"eth\", strategy = \"buy_hold\", symbols = [\"ETHUSDT\"] }]",
                ),
            ]),
        )
        .unwrap();
        assert!(!c.predictions.enabled);
        assert_eq!(c.predictions.poll_ms, 250);
        assert_eq!(c.traders.len(), 1);
        assert_eq!(c.traders[0].name, "eth");
        assert_eq!(c.traders[0].broker, "paper");
    }

    #[test]
    fn test_trader_strategies_become_also_arguments() {
        let text = format!(
            "{TRADER}\n[[traders.strategies]]\nname = \"meanrev\"\nstrategy = \"rsi_reversion\"\nparams = {{ period = 14 }}\ncapital = 500\n\n[[traders.strategies]]\nname = \"hold\"\nstrategy = \"buy_hold\"\n"
        );
        let c = Config::from_parts(&text, None, &[]).unwrap();
        let args = c.traders[0].trade_args().join(" ");
        assert!(
            args.ends_with(
                "--capital 2500 --also meanrev=rsi_reversion,period=14@500 --also hold=buy_hold@2500"
            ),
            "{args}"
        );
        let bad = |extra: &str| {
            Config::from_parts(&format!("{TRADER}\n{extra}"), None, &[])
                .unwrap_err()
                .to_string()
        };
        let e = bad("[[traders.strategies]]\nname = \"btc_trend\"\nstrategy = \"buy_hold\"\n");
        assert!(e.contains("traders[0].strategies[0].name"), "{e}");
        let e = bad("[[traders.strategies]]\nname = \"x\"\nstrategy = \"nope\"\n");
        assert!(e.contains("traders[0].strategies[0].strategy"), "{e}");
        let e = bad("[[traders.strategies]]\nname = \"x\"\nstrategy = \"buy_hold\"\ncapital = 0\n");
        assert!(e.contains("traders[0].strategies[0].capital"), "{e}");
    }

    #[test]
    fn test_bad_trader_entries_fail_at_load_naming_the_key() {
        let bad = |from: &str, to: &str| {
            Config::from_parts(&TRADER.replace(from, to), Some(Path::new("t.toml")), &[])
                .unwrap_err()
                .to_string()
        };
        let e = bad("sma_cross", "sma_crosss");
        assert!(
            e.contains("traders[0].strategy") && e.contains("sma_crosss"),
            "{e}"
        );
        let e = bad("[\"BTCUSDT\"]", "[]");
        assert!(e.contains("traders[0].symbols"), "{e}");
        let e = bad("capital = 2500", "capital = -5");
        assert!(e.contains("traders[0].capital"), "{e}");
        let e = bad("capital = 2500", "capital = 2500\nbrokr = \"paper\"");
        assert!(e.contains("t.toml") && e.contains("brokr"), "{e}");
        let e = bad("fast = 10", "fast = \"quick\"");
        assert!(e.contains("traders[0].params"), "{e}");
        let e = bad("name = \"btc_trend\"", "name = \"btc trend\"");
        assert!(e.contains("traders[0].name"), "{e}");
        let twice = format!(
            "{TRADER}\n[[traders]]\nname = \"btc_trend\"\nstrategy = \"buy_hold\"\nsymbols = [\"X\"]\n"
        );
        let e = Config::from_parts(&twice, None, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("traders[1].name") && e.contains("unique"), "{e}");
        let shared = format!(
            "{TRADER}\n[[traders]]\nname = \"eth\"\nstrategy = \"buy_hold\"\nsymbols = [\"X\"]\n"
        );
        let e = Config::from_parts(&shared, None, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("traders[1].broker"), "{e}");
        let e = Config::from_parts("[predictions]\ninterval = \"7q\"\n", None, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("predictions.interval"), "{e}");
    }

    #[test]
    fn test_example_file_parses_and_documents_every_key() {
        let text = include_str!("../../../tessera.example.toml");
        let c = Config::from_parts(text, Some(Path::new("tessera.example.toml")), &[]).unwrap();
        assert_eq!(c, Config::default(), "the example shows the defaults");
        for (key, env) in Config::env_names() {
            let leaf = key.rsplit('.').next().unwrap();
            assert!(
                text.contains(leaf) && text.contains(&env),
                "{key} / {env} undocumented in tessera.example.toml"
            );
        }
    }
}
