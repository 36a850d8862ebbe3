//! What a strategy sees and how it asks for things.
//!
//! The engine builds a [`Context`] for every callback from references to its
//! own state, so creating one costs nothing; the strategy reads through it
//! and queues [`Command`]s, which the engine sends to the venue after the
//! callback returns. Reading state and requesting changes are separated so
//! a strategy can never mutate positions or the account directly.

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{Bar, ClientOrderId, InstrumentId, Money, Quantity, Side, StrategyId};

use crate::error::Result;
use crate::order::{Command, OrderIntent, OrderModify, OrderQty};

/// Read-only view of the engine's book: positions, cash and equity.
pub trait PortfolioView {
    /// Signed position in units (positive long, negative short, zero flat).
    fn position(&self, instrument: &InstrumentId) -> Decimal;
    /// Account equity (cash plus open positions at their last price), as a statistic.
    fn equity(&self) -> f64;
    /// Cash in the account currency.
    fn cash(&self) -> Money;
    /// Number of orders still working for `instrument`.
    fn open_orders(&self, instrument: &InstrumentId) -> usize;
}

/// Recent bars of one instrument, newest last.
pub trait BarHistory {
    /// How many bars are available.
    fn len(&self) -> usize;
    /// Whether none are.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The bar `ago` bars back (`0` = the bar just closed), if available.
    fn bar(&self, ago: usize) -> Option<Bar>;
}

/// The current bar's values as `f64`, for indicators (never for orders).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BarValues {
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

/// The strategy's window onto the engine during one callback.
#[allow(
    missing_debug_implementations,
    reason = "holds trait objects of the engine's state; nothing useful to print"
)]
pub struct Context<'a> {
    now: UnixNanos,
    strategy: &'a StrategyId,
    portfolio: &'a dyn PortfolioView,
    history: &'a dyn BarHistory,
    values: BarValues,
    bar_index: usize,
    commands: &'a mut Vec<Command>,
    next_order: &'a mut u64,
}

impl<'a> Context<'a> {
    /// Built by the engine for each callback.
    #[allow(
        clippy::too_many_arguments,
        reason = "one reference per piece of engine state the strategy may read"
    )]
    #[must_use]
    pub fn new(
        now: UnixNanos,
        strategy: &'a StrategyId,
        portfolio: &'a dyn PortfolioView,
        history: &'a dyn BarHistory,
        values: BarValues,
        bar_index: usize,
        commands: &'a mut Vec<Command>,
        next_order: &'a mut u64,
    ) -> Self {
        Self {
            now,
            strategy,
            portfolio,
            history,
            values,
            bar_index,
            commands,
            next_order,
        }
    }

    /// Current time (of the engine's clock).
    #[must_use]
    pub fn now(&self) -> UnixNanos {
        self.now
    }

    /// This strategy's id.
    #[must_use]
    pub fn strategy_id(&self) -> &StrategyId {
        self.strategy
    }

    /// Signed position in `instrument`.
    #[must_use]
    pub fn position(&self, instrument: &InstrumentId) -> Decimal {
        self.portfolio.position(instrument)
    }

    /// Account equity, as a statistic.
    #[must_use]
    pub fn equity(&self) -> f64 {
        self.portfolio.equity()
    }

    /// Cash in the account currency.
    #[must_use]
    pub fn cash(&self) -> Money {
        self.portfolio.cash()
    }

    /// Orders still working in `instrument`.
    #[must_use]
    pub fn open_orders(&self, instrument: &InstrumentId) -> usize {
        self.portfolio.open_orders(instrument)
    }

    /// Recent bars of the instrument of the current event.
    #[must_use]
    pub fn history(&self) -> &dyn BarHistory {
        self.history
    }

    /// The current bar as `f64` values, for indicators.
    #[must_use]
    pub fn values(&self) -> BarValues {
        self.values
    }

    /// Index of the current bar of this instrument, counted from 0 since the start.
    #[must_use]
    pub fn bar_index(&self) -> usize {
        self.bar_index
    }

    /// Ask for an order; returns the id it will carry.
    ///
    /// # Errors
    /// [`crate::Error::Model`] if the id cannot be formed from the strategy id.
    pub fn submit(&mut self, intent: OrderIntent) -> Result<ClientOrderId> {
        *self.next_order += 1;
        let id = ClientOrderId::numbered(self.strategy.as_str(), '-', *self.next_order)?;
        self.commands.push(Command::Submit {
            id: id.clone(),
            intent,
        });
        Ok(id)
    }

    /// Market order to buy.
    ///
    /// # Errors
    /// As [`Context::submit`].
    pub fn buy(&mut self, instrument: InstrumentId, quantity: OrderQty) -> Result<ClientOrderId> {
        self.submit(OrderIntent::market(instrument, Side::Buy, quantity))
    }

    /// Market order to sell.
    ///
    /// # Errors
    /// As [`Context::submit`].
    pub fn sell(&mut self, instrument: InstrumentId, quantity: OrderQty) -> Result<ClientOrderId> {
        self.submit(OrderIntent::market(instrument, Side::Sell, quantity))
    }

    /// Market order that flattens the current position; `None` when already flat.
    ///
    /// # Errors
    /// As [`Context::submit`].
    pub fn close_position(&mut self, instrument: InstrumentId) -> Result<Option<ClientOrderId>> {
        let pos = self.position(&instrument);
        if pos.is_zero() {
            return Ok(None);
        }
        let side = if pos.is_sign_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        let qty = Quantity::new(pos.abs())?;
        self.submit(OrderIntent::market(instrument, side, OrderQty::Units(qty)))
            .map(Some)
    }

    /// Ask to cancel a working order.
    pub fn cancel(&mut self, id: ClientOrderId) {
        self.commands.push(Command::Cancel { id });
    }

    /// Ask to change a working order.
    pub fn modify(&mut self, id: ClientOrderId, change: OrderModify) {
        self.commands.push(Command::Modify { id, change });
    }

    /// Ask for `on_timer` at `at`.
    pub fn set_timer(&mut self, at: UnixNanos, name: &str) {
        self.commands.push(Command::SetTimer {
            at,
            name: name.to_string(),
        });
    }
}

/// A [`BarHistory`] with no bars, for callbacks not tied to a bar.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHistory;

impl BarHistory for NoHistory {
    fn len(&self) -> usize {
        0
    }
    fn bar(&self, _ago: usize) -> Option<Bar> {
        None
    }
}
