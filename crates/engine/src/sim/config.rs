//! Settings of the simulated venue: fill model, commissions, slippage, limits.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tessera_model::{Money, Price, Quantity};

/// When and at what price orders decided on a bar execute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FillModel {
    /// Market orders fill at the next bar's open; limit and stop orders fill
    /// along the next bars' intrabar path (see [`crate::sim::bar_path`]). The default:
    /// a decision on a bar's close cannot trade at that close.
    #[default]
    NextOpen,
    /// Market orders fill at the close of the bar they were decided on
    /// (backtesting.py's `trade_on_close=True`, backtrader's `cheat_on_close`);
    /// limit and stop orders as in `NextOpen`.
    Close,
    /// Every order type is checked only at bar opens: a limit or stop fills at
    /// the first open that satisfies it. Conservative: no intrabar path assumed.
    OpenOnly,
}

impl std::str::FromStr for FillModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "next-open" | "next_open" | "intrabar" => Ok(Self::NextOpen),
            "close" => Ok(Self::Close),
            "open-only" | "open_only" => Ok(Self::OpenOnly),
            other => Err(format!(
                "unknown fill model {other:?}; expected next-open, close, intrabar or open-only"
            )),
        }
    }
}

/// Commission per fill: `rate × notional + per_unit × quantity + fixed`, at least `minimum`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commission {
    /// Fraction of notional (0.002 = 0.2 %).
    pub rate: Decimal,
    /// Per unit (share, contract) in the account currency.
    pub per_unit: Decimal,
    /// Per fill in the account currency.
    pub fixed: Decimal,
    /// Least charged per fill.
    pub minimum: Decimal,
}

impl Commission {
    /// A pure fraction of notional.
    #[must_use]
    pub fn rate(rate: Decimal) -> Self {
        Self {
            rate,
            ..Self::default()
        }
    }

    /// Commission for `quantity` at `price` with contract `multiplier`.
    #[must_use]
    pub fn charge(&self, quantity: Quantity, price: Price, multiplier: Decimal) -> Decimal {
        let q = quantity.as_decimal();
        let c = self.rate * q * price.as_decimal() * multiplier + self.per_unit * q + self.fixed;
        c.max(self.minimum)
    }
}

/// Price slippage against the trader on market and stop fills (limit fills never slip).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Slippage {
    /// None.
    #[default]
    None,
    /// Basis points of the price (1 bp = 0.01 %); not rounded to the tick.
    Bps(Decimal),
    /// Whole ticks of the instrument.
    Ticks(u32),
}

/// Everything the simulated venue needs to know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Starting cash (its currency is the account currency).
    pub cash: Money,
    /// When market orders execute.
    pub fill_model: FillModel,
    /// Costs.
    pub commission: Commission,
    /// Slippage.
    pub slippage: Slippage,
    /// At most this fraction of a bar's volume fills per bar (partial fills); `None` = unlimited.
    pub volume_cap: Option<Decimal>,
    /// Buying power multiple of equity (1 = cash account).
    pub leverage: Decimal,
    /// Whether sells may open or add to short positions.
    pub allow_short: bool,
}

impl SimConfig {
    /// Cash account, next-open fills, no costs, shorting allowed.
    #[must_use]
    pub fn new(cash: Money) -> Self {
        Self {
            cash,
            fill_model: FillModel::NextOpen,
            commission: Commission::default(),
            slippage: Slippage::None,
            volume_cap: None,
            leverage: Decimal::ONE,
            allow_short: true,
        }
    }
}
