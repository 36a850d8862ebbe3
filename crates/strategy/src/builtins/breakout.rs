//! Donchian channel breakout.

use tessera_model::{Bar, InstrumentId};

use super::{Mode, SIZING_PARAMS, VolEstimate, close_and_enter, positive};
use crate::context::Context;
use crate::error::Result;
use crate::indicators::MinMax;
use crate::params::Params;
use crate::sizing::Sizing;
use crate::strategy::Strategy;

/// Enters long when the close exceeds the highest high of the previous `entry`
/// bars and exits when it falls below the lowest low of the previous `exit`
/// bars (mirrored for shorts in `long_short` mode).
#[derive(Debug)]
pub struct Breakout {
    entry_n: usize,
    mode: Mode,
    sizing: Sizing,
    entry: MinMax,
    exit: MinMax,
    prev_entry: Option<(f64, f64)>,
    prev_exit: Option<(f64, f64)>,
    vol: VolEstimate,
    instrument: Option<InstrumentId>,
}

impl Breakout {
    /// Parameters `entry`, `exit`, `mode` and sizing.
    ///
    /// # Errors
    /// [`crate::Error::Param`] for unknown names or zero lengths.
    pub fn from_params(p: &Params) -> Result<Self> {
        const NAME: &str = "breakout";
        let mut known = vec!["entry", "exit", "mode"];
        known.extend_from_slice(SIZING_PARAMS);
        p.check_known(NAME, &known)?;
        let entry = positive(NAME, "entry", p.get_or(NAME, "entry", 20)?)?;
        let exit = positive(NAME, "exit", p.get_or(NAME, "exit", 10)?)?;
        Ok(Self {
            entry_n: entry,
            mode: Mode::from_params(NAME, p, Mode::LongOnly)?,
            sizing: Sizing::from_params(NAME, p)?,
            entry: MinMax::new(entry),
            exit: MinMax::new(exit),
            prev_entry: None,
            prev_exit: None,
            vol: VolEstimate::from_params(NAME, p)?,
            instrument: None,
        })
    }
}

impl Strategy for Breakout {
    fn name(&self) -> &str {
        "breakout"
    }

    fn warmup_bars(&self) -> usize {
        self.entry_n
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> Result<()> {
        let instrument = *self.instrument.get_or_insert(bar.instrument);
        if instrument != bar.instrument {
            return Ok(());
        }
        let v = ctx.values();
        self.vol.update(v.close);
        // Channels of the *previous* bars: the current bar is compared, then added.
        let (entry, exit) = (self.prev_entry, self.prev_exit);
        self.prev_entry = self.entry.update(v.high, v.low);
        self.prev_exit = self.exit.update(v.high, v.low);
        let (Some((hi, lo)), Some((exit_hi, exit_lo))) = (entry, exit) else {
            return Ok(());
        };
        if ctx.open_orders(&instrument) > 0 {
            return Ok(());
        }
        let pos = ctx.position(&instrument);
        let long = pos.is_sign_positive() && !pos.is_zero();
        let short = pos.is_sign_negative();
        if long && v.close < exit_lo || short && v.close > exit_hi {
            ctx.close_position(instrument)?;
        } else if !long && v.close > hi {
            close_and_enter(
                ctx,
                instrument,
                true,
                &self.sizing,
                v.close,
                self.vol.annual(),
            )?;
        } else if !short && v.close < lo && self.mode == Mode::LongShort {
            close_and_enter(
                ctx,
                instrument,
                false,
                &self.sizing,
                v.close,
                self.vol.annual(),
            )?;
        }
        Ok(())
    }
}
