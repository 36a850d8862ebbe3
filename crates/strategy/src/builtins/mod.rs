//! Built-in strategies and the registry that builds them by name.
//!
//! | name | parameters (defaults) |
//! |---|---|
//! | `sma_cross` | `fast`=10, `slow`=20, `mode`=`long_short` \| `long_only`, sizing |
//! | `ewmac` | `fast`=16, `slow`=4·fast, `vol_span`=35, `scalar` (pysystemtrade's table), `cap`=20, `vol_target`=20, `buffer`=0.1, `periods_per_year`=252 |
//! | `rsi_reversion` | `period`=14, `lower`=30, `upper`=70, `exit`=50, `mode`=`long_only`, sizing |
//! | `breakout` | `entry`=20, `exit`=10, `mode`=`long_only`, sizing |
//! | `buy_hold` | sizing |
//!
//! Sizing (all but `ewmac`): `size` below 1 is a fraction of available
//! margin (default 0.9999, as backtesting.py), 1 or more a unit count;
//! `vol_target`=PCT sizes for that annual volatility (with `vol_span`, `periods_per_year`).

mod breakout;
mod buy_hold;
mod ewmac;
mod rsi_reversion;
mod sma_cross;

pub use breakout::Breakout;
pub use buy_hold::BuyHold;
pub use ewmac::Ewmac;
pub use rsi_reversion::RsiReversion;
pub use sma_cross::{SmaCross, crosses, sma_crosses};

use serde::{Deserialize, Serialize};
use tessera_model::InstrumentId;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::indicators::EwmVol;
use crate::params::Params;
use crate::sizing::Sizing;
use crate::strategy::Strategy;

/// Names [`build`] accepts.
pub const BUILTIN_NAMES: &[&str] = &[
    "sma_cross",
    "ewmac",
    "rsi_reversion",
    "breakout",
    "buy_hold",
];

/// Build a built-in strategy from its name and parameters.
///
/// # Errors
/// [`Error::UnknownStrategy`], or [`Error::Param`] for a bad or unknown parameter.
pub fn build(name: &str, params: &Params) -> Result<Box<dyn Strategy>> {
    Ok(match name {
        "sma_cross" => Box::new(SmaCross::from_params(params)?),
        "ewmac" => Box::new(Ewmac::from_params(params)?),
        "rsi_reversion" => Box::new(RsiReversion::from_params(params)?),
        "breakout" => Box::new(Breakout::from_params(params)?),
        "buy_hold" => Box::new(BuyHold::from_params(params)?),
        _ => {
            return Err(Error::UnknownStrategy {
                name: name.to_string(),
                known: BUILTIN_NAMES.join(", "),
            });
        }
    })
}

/// Which directions a strategy trades.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Long or short; a signal in the other direction closes and reverses.
    LongShort,
    /// Long or flat; a short signal only closes.
    LongOnly,
}

impl Mode {
    fn from_params(strategy: &str, p: &Params, default: Mode) -> Result<Self> {
        match p.0.get("mode").map(String::as_str) {
            None => Ok(default),
            Some("long_short") => Ok(Self::LongShort),
            Some("long_only") => Ok(Self::LongOnly),
            Some(other) => Err(Error::Param {
                strategy: strategy.into(),
                param: "mode".into(),
                reason: format!("{other:?}; expected long_short or long_only"),
            }),
        }
    }
}

/// Parameter names every sizing-based strategy accepts.
const SIZING_PARAMS: &[&str] = &["size", "vol_target", "vol_span", "periods_per_year"];

/// Annualised volatility of close-to-close returns, for [`Sizing::VolTarget`].
#[derive(Clone, Debug)]
struct VolEstimate {
    vol: EwmVol,
    prev: Option<f64>,
    periods_per_year: f64,
    last: f64,
}

impl VolEstimate {
    fn from_params(strategy: &str, p: &Params) -> Result<Self> {
        let span: usize = p.get_or(strategy, "vol_span", 35)?;
        let ppy: f64 = p.get_or(strategy, "periods_per_year", 252.0)?;
        Ok(Self {
            vol: EwmVol::new(span),
            prev: None,
            periods_per_year: ppy,
            last: 0.0,
        })
    }

    fn update(&mut self, close: f64) {
        if let Some(prev) = self.prev.replace(close) {
            self.last = self.vol.update(close / prev - 1.0);
        }
    }

    fn annual(&self) -> Option<f64> {
        (self.vol.count() >= 2).then(|| self.last * self.periods_per_year.sqrt())
    }
}

/// Close any position and enter `long` (or short) with the sizing rule, as backtesting.py's
/// `position.close(); buy()` with exclusive orders does: the close executes first.
fn close_and_enter(
    ctx: &mut Context<'_>,
    instrument: InstrumentId,
    long: bool,
    sizing: &Sizing,
    price: f64,
    vol: Option<f64>,
) -> Result<()> {
    ctx.close_position(instrument)?;
    let equity = ctx.equity();
    if let Some(q) = sizing.quantity(equity, price, vol) {
        if long {
            ctx.buy(instrument, q)?;
        } else {
            ctx.sell(instrument, q)?;
        }
    }
    Ok(())
}

fn positive(strategy: &str, name: &str, v: usize) -> Result<usize> {
    if v == 0 {
        return Err(Error::Param {
            strategy: strategy.into(),
            param: name.into(),
            reason: "must be at least 1".into(),
        });
    }
    Ok(v)
}
