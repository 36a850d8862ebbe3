//! The [`Strategy`] trait.

use tessera_model::{Bar, Fill, InstrumentId, Quote};

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

    /// Fast-forward hint: of the bars of `instrument` numbered `from`, `from + 1`, … (the
    /// index [`Context::bar_index`] will show), how many this strategy would certainly pass
    /// without queuing anything, at most `max`. The engine asks only when nothing else can
    /// happen on those bars (no order working, no timer due, history replayed), and then calls
    /// [`Strategy::skip_bars`] instead of `on_bar` for each of them, booking only their equity
    /// points. Strategies whose signals are known ahead (indicators computed once over the
    /// whole series) answer from them; the default `0` delivers every bar. Answering more bars
    /// than the strategy would really ignore changes results: tests compare both paths.
    fn quiet_bars(&self, _instrument: &InstrumentId, _from: usize, _max: usize) -> usize {
        0
    }

    /// Take the `n` bars from `from` (as promised by [`Strategy::quiet_bars`]) as passed: leave
    /// the state as `on_bar` would have after them.
    fn skip_bars(&mut self, _instrument: &InstrumentId, _from: usize, _n: usize) {}

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
