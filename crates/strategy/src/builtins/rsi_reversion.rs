//! RSI mean reversion.

use tessera_model::{Bar, InstrumentId};

use super::{Mode, SIZING_PARAMS, VolEstimate, close_and_enter, positive};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::indicators::Rsi;
use crate::params::Params;
use crate::sizing::Sizing;
use crate::strategy::Strategy;

/// Buys when Wilder's RSI falls below `lower` and exits when it rises above `exit`;
/// in `long_short` mode also sells above `upper` and covers below `exit`.
/// Acts only when no order of its own is working, so a signal that lasts
/// several bars enters once.
#[derive(Debug)]
pub struct RsiReversion {
    period: usize,
    lower: f64,
    upper: f64,
    exit: f64,
    mode: Mode,
    sizing: Sizing,
    rsi: Rsi,
    vol: VolEstimate,
    instrument: Option<InstrumentId>,
}

impl RsiReversion {
    /// Parameters `period`, `lower`, `upper`, `exit`, `mode` and sizing.
    ///
    /// # Errors
    /// [`Error::Param`] unless `0 < lower < exit < upper < 100`.
    pub fn from_params(p: &Params) -> Result<Self> {
        const NAME: &str = "rsi_reversion";
        let mut known = vec!["period", "lower", "upper", "exit", "mode"];
        known.extend_from_slice(SIZING_PARAMS);
        p.check_known(NAME, &known)?;
        let period = positive(NAME, "period", p.get_or(NAME, "period", 14)?)?;
        let lower: f64 = p.get_or(NAME, "lower", 30.0)?;
        let upper: f64 = p.get_or(NAME, "upper", 70.0)?;
        let exit: f64 = p.get_or(NAME, "exit", 50.0)?;
        if !(0.0 < lower && lower < exit && exit < upper && upper < 100.0) {
            return Err(Error::Param {
                strategy: NAME.into(),
                param: "lower/exit/upper".into(),
                reason: format!("need 0 < {lower} < {exit} < {upper} < 100"),
            });
        }
        Ok(Self {
            period,
            lower,
            upper,
            exit,
            mode: Mode::from_params(NAME, p, Mode::LongOnly)?,
            sizing: Sizing::from_params(NAME, p)?,
            rsi: Rsi::new(period),
            vol: VolEstimate::from_params(NAME, p)?,
            instrument: None,
        })
    }
}

impl Strategy for RsiReversion {
    fn name(&self) -> &str {
        "rsi_reversion"
    }

    fn warmup_bars(&self) -> usize {
        self.period
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> Result<()> {
        let instrument = *self.instrument.get_or_insert(bar.instrument);
        if instrument != bar.instrument {
            return Ok(());
        }
        let close = ctx.values().close;
        self.vol.update(close);
        let Some(rsi) = self.rsi.update(close) else {
            return Ok(());
        };
        if ctx.open_orders(&instrument) > 0 {
            return Ok(());
        }
        let pos = ctx.position(&instrument);
        if pos.is_sign_positive() && !pos.is_zero() {
            if rsi > self.exit {
                ctx.close_position(instrument)?;
            }
        } else if pos.is_sign_negative() {
            if rsi < self.exit {
                ctx.close_position(instrument)?;
            }
        } else if rsi < self.lower {
            close_and_enter(
                ctx,
                instrument,
                true,
                &self.sizing,
                close,
                self.vol.annual(),
            )?;
        } else if rsi > self.upper && self.mode == Mode::LongShort {
            close_and_enter(
                ctx,
                instrument,
                false,
                &self.sizing,
                close,
                self.vol.annual(),
            )?;
        }
        Ok(())
    }
}
