//! Buy on the first bar and hold.

use tessera_model::{Bar, InstrumentId};

use super::{SIZING_PARAMS, VolEstimate};
use crate::context::Context;
use crate::error::Result;
use crate::params::Params;
use crate::sizing::Sizing;
use crate::strategy::Strategy;

/// Enters long on the first bar with the sizing rule and never trades again.
#[derive(Debug)]
pub struct BuyHold {
    sizing: Sizing,
    vol: VolEstimate,
    instrument: Option<InstrumentId>,
    done: bool,
}

impl BuyHold {
    /// Sizing parameters only.
    ///
    /// # Errors
    /// [`crate::Error::Param`] for unknown names or bad sizes.
    pub fn from_params(p: &Params) -> Result<Self> {
        p.check_known("buy_hold", SIZING_PARAMS)?;
        Ok(Self {
            sizing: Sizing::from_params("buy_hold", p)?,
            vol: VolEstimate::from_params("buy_hold", p)?,
            instrument: None,
            done: false,
        })
    }
}

impl Strategy for BuyHold {
    fn name(&self) -> &str {
        "buy_hold"
    }

    /// Once bought, every later bar is quiet.
    fn quiet_bars(&self, instrument: &InstrumentId, _from: usize, max: usize) -> usize {
        if self.done && self.instrument == Some(*instrument) {
            max
        } else {
            0
        }
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> Result<()> {
        let instrument = *self.instrument.get_or_insert(bar.instrument);
        if self.done || instrument != bar.instrument {
            return Ok(());
        }
        let close = ctx.values().close;
        self.vol.update(close);
        if self.sizing.needs_vol() && self.vol.annual().is_none() {
            return Ok(());
        }
        if let Some(q) = self.sizing.quantity(ctx.equity(), close, self.vol.annual()) {
            ctx.buy(instrument, q)?;
            self.done = true;
        }
        Ok(())
    }
}
