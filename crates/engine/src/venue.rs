//! The venue seam: where orders go and fills come from.

use tessera_core::UnixNanos;
use tessera_model::{Bar, ClientOrderId, Fill, Instrument, Quote, StrategyId};
use tessera_strategy::{OrderIntent, OrderModify, OrderUpdate};

use crate::error::Result;

/// What a venue reports back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VenueEvent {
    /// An order changed state.
    Update(OrderUpdate),
    /// An order (partly) filled; `instrument` is the index given at registration.
    Fill {
        /// Index of the instrument in [`Venue::register`]'s list.
        instrument: usize,
        /// The execution.
        fill: Fill,
    },
    /// A fill booked before this engine started (a restart), replayed so the
    /// books continue where they stopped: the account's book and trade list
    /// take it, and so does `strategy`'s own book when it has one; no strategy
    /// callback runs.
    Restored {
        /// Index of the instrument.
        instrument: usize,
        /// The strategy whose order filled.
        strategy: StrategyId,
        /// The execution.
        fill: Fill,
    },
}

/// A place that executes orders: the simulator, the paper broker or a real broker.
///
/// Requests return synchronously what the venue knows at once (accepted,
/// rejected, an immediate fill) by pushing events into `out`. Market data is
/// shown to the venue before the strategies see it (`on_bar`) and again after
/// they acted on it (`on_bar_processed`); a real broker ignores both, a
/// simulator matches against them.
pub trait Venue {
    /// The instruments that will trade, in the index order used everywhere else.
    ///
    /// # Errors
    /// When the venue cannot trade one of them.
    fn register(&mut self, instruments: &[Instrument]) -> Result<()>;

    /// Submit an order.
    ///
    /// # Errors
    /// Transport or protocol failures only; refusals are `Rejected` updates.
    fn submit(
        &mut self,
        id: ClientOrderId,
        intent: &OrderIntent,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()>;

    /// Cancel a working order.
    ///
    /// # Errors
    /// [`crate::Error::Venue`] for an unknown order.
    fn cancel(
        &mut self,
        id: &ClientOrderId,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()>;

    /// Modify a working order.
    ///
    /// # Errors
    /// [`crate::Error::Venue`] for an unknown order or an invalid change.
    fn modify(
        &mut self,
        id: &ClientOrderId,
        change: &OrderModify,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()>;

    /// A bar of `instrument` closed; called before strategies see it.
    ///
    /// # Errors
    /// Bookkeeping failures.
    fn on_bar(&mut self, instrument: usize, bar: &Bar, out: &mut Vec<VenueEvent>) -> Result<()>;

    /// Strategies have acted on the bar.
    ///
    /// # Errors
    /// Bookkeeping failures.
    fn on_bar_processed(
        &mut self,
        instrument: usize,
        bar: &Bar,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()>;

    /// A quote of `instrument`; called before strategies see it.
    ///
    /// # Errors
    /// Bookkeeping failures.
    fn on_quote(
        &mut self,
        instrument: usize,
        quote: &Quote,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()>;

    /// The strategies have acted on a quote or on fired timers (bars have
    /// [`Venue::on_bar_processed`]). A venue that batches what several
    /// strategies asked for during one event (the live venue nets their
    /// market orders) sends the batch here instead of at the next market
    /// event; the default does nothing.
    ///
    /// # Errors
    /// Bookkeeping or transport failures.
    /// Whether no order is working here, so that a bar can change nothing at this venue
    /// but its marks and clock (the engine may then fast-forward over quiet bars and show
    /// the venue only the last of them). The default `false` shows it every bar.
    fn is_idle(&self) -> bool {
        false
    }

    fn on_event_processed(&mut self, _now: UnixNanos, _out: &mut Vec<VenueEvent>) -> Result<()> {
        Ok(())
    }
}
