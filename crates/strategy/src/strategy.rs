//! The [`Strategy`] trait.

use tessera_model::{Bar, Fill, Quote};

use crate::context::Context;
use crate::error::Result;
use crate::order::{OrderUpdate, TimerEvent};

/// A trading strategy: reacts to closed bars, quotes, order events and timers.
///
/// Only closed bars are delivered (at their close time), so a decision on a
/// bar can at the earliest execute after it. Callbacks other than `on_bar`
/// default to doing nothing. Implementations must be deterministic given the
/// same events: no wall clock, no unseeded randomness, no I/O.
pub trait Strategy: Send + std::fmt::Debug {
    /// Short name, used in order ids and results.
    fn name(&self) -> &str;

    /// Bars needed before the first decision (indicator warm-up). Buy-and-hold
    /// comparisons start at this bar.
    fn warmup_bars(&self) -> usize {
        0
    }

    /// Once, before the first event.
    ///
    /// # Errors
    /// Whatever stops the strategy from starting; the engine aborts the run.
    fn on_start(&mut self, _ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// A bar has closed.
    ///
    /// # Errors
    /// Aborts the run.
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> Result<()>;

    /// A top-of-book quote arrived.
    ///
    /// # Errors
    /// Aborts the run.
    fn on_quote(&mut self, _ctx: &mut Context<'_>, _quote: &Quote) -> Result<()> {
        Ok(())
    }

    /// One of this strategy's orders changed state.
    ///
    /// # Errors
    /// Aborts the run.
    fn on_order_update(&mut self, _ctx: &mut Context<'_>, _update: &OrderUpdate) -> Result<()> {
        Ok(())
    }

    /// One of this strategy's orders (partly) filled.
    ///
    /// # Errors
    /// Aborts the run.
    fn on_fill(&mut self, _ctx: &mut Context<'_>, _fill: &Fill) -> Result<()> {
        Ok(())
    }

    /// A timer set with [`Context::set_timer`] came due.
    ///
    /// # Errors
    /// Aborts the run.
    fn on_timer(&mut self, _ctx: &mut Context<'_>, _timer: &TimerEvent) -> Result<()> {
        Ok(())
    }

    /// Once, after the last event.
    ///
    /// # Errors
    /// Reported after the run.
    fn on_stop(&mut self, _ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }
}
