//! The [`Broker`] trait: where orders go and what comes back.

use std::future::Future;

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{
    Account, Bar, ClientOrderId, Fill, InstrumentId, Order, OrderStatus, Price, Quantity, Quote,
};

use crate::error::Result;

/// What a broker reports about our orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerEvent {
    /// The order is working at the broker.
    Accepted {
        /// Our id.
        id: ClientOrderId,
        /// The broker's id.
        broker_order_id: Option<String>,
    },
    /// Refused by the broker.
    Rejected {
        /// Our id.
        id: ClientOrderId,
        /// The broker's reason.
        reason: String,
    },
    /// Cancelled (on request, or by the broker: IOC remainder, margin, session end).
    Cancelled {
        /// Our id.
        id: ClientOrderId,
        /// Why, when known.
        reason: Option<String>,
    },
    /// Ran out of time.
    Expired {
        /// Our id.
        id: ClientOrderId,
    },
    /// An execution; its trade id makes a repeat harmless.
    Fill(Fill),
}

impl BrokerEvent {
    /// The order the event is about.
    #[must_use]
    pub fn order_id(&self) -> &ClientOrderId {
        match self {
            Self::Accepted { id, .. }
            | Self::Rejected { id, .. }
            | Self::Cancelled { id, .. }
            | Self::Expired { id } => id,
            Self::Fill(f) => &f.client_order_id,
        }
    }
}

/// An order as the broker sees it (for reconciliation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerOrder {
    /// Our id, as we sent it.
    pub client_order_id: ClientOrderId,
    /// The broker's id.
    pub broker_order_id: Option<String>,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Status at the broker.
    pub status: OrderStatus,
    /// Quantity filled at the broker.
    pub filled_quantity: Quantity,
}

/// Market data shown to a broker that matches orders itself (the paper broker).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MarketUpdate<'a> {
    /// A bar closed; strategies have not seen it yet.
    Bar(&'a Bar),
    /// Strategies have acted on the bar (same-bar close fills).
    BarProcessed(&'a Bar),
    /// A quote.
    Quote(&'a Quote),
}

/// A change to a working order; `None` keeps the current value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderChange {
    /// New total quantity.
    pub quantity: Option<Quantity>,
    /// New limit price.
    pub limit_price: Option<Price>,
    /// New stop price.
    pub stop_price: Option<Price>,
}

/// A broker: the paper broker, Alpaca, … Requests return what the broker
/// answered at once; later news (fills of working orders, cancels by the
/// broker) comes from [`Broker::poll_events`] and [`Broker::on_market`].
///
/// Every order carries our client order id, and a broker must refuse a
/// second order with the same id: that is what makes a resend after a crash
/// harmless.
pub trait Broker: Send {
    /// Short name stored with orders and fills (`paper`, `alpaca`).
    fn name(&self) -> &str;

    /// Send an order.
    ///
    /// # Errors
    /// Transport failures ([`crate::Error::Broker`], with `retryable`); refusals are `Rejected` events.
    fn submit(
        &mut self,
        order: &Order,
        now: UnixNanos,
    ) -> impl Future<Output = Result<Vec<BrokerEvent>>> + Send;

    /// Ask to cancel a working order.
    ///
    /// # Errors
    /// Transport failures; an unknown order.
    fn cancel(
        &mut self,
        id: &ClientOrderId,
        now: UnixNanos,
    ) -> impl Future<Output = Result<Vec<BrokerEvent>>> + Send;

    /// Change a working order.
    ///
    /// # Errors
    /// Transport failures; an unknown order or a change the broker refuses.
    fn modify(
        &mut self,
        id: &ClientOrderId,
        change: OrderChange,
        now: UnixNanos,
    ) -> impl Future<Output = Result<Vec<BrokerEvent>>> + Send;

    /// Orders working at the broker.
    ///
    /// # Errors
    /// Transport failures.
    fn open_orders(&mut self) -> impl Future<Output = Result<Vec<BrokerOrder>>> + Send;

    /// One order by our id, whatever its status; `None` when the broker has
    /// never seen it. Recovery uses it to tell an order that never left us
    /// from one the broker already finished (filled, cancelled, rejected).
    ///
    /// # Errors
    /// Transport failures.
    fn lookup(
        &mut self,
        id: &ClientOrderId,
    ) -> impl Future<Output = Result<Option<BrokerOrder>>> + Send;

    /// Fills executed at or after `since`.
    ///
    /// # Errors
    /// Transport failures.
    fn fills_since(&mut self, since: UnixNanos) -> impl Future<Output = Result<Vec<Fill>>> + Send;

    /// Net positions held at the broker, by instrument.
    ///
    /// # Errors
    /// Transport failures.
    fn positions(&mut self) -> impl Future<Output = Result<Vec<(InstrumentId, Decimal)>>> + Send;

    /// The account (cash by currency).
    ///
    /// # Errors
    /// Transport failures.
    fn account(&mut self) -> impl Future<Output = Result<Account>> + Send;

    /// Show market data to the broker. A real broker matches on its own and
    /// returns nothing; the paper broker matches working orders here.
    ///
    /// # Errors
    /// Bookkeeping failures.
    fn on_market(
        &mut self,
        update: MarketUpdate<'_>,
        now: UnixNanos,
    ) -> impl Future<Output = Result<Vec<BrokerEvent>>> + Send;

    /// Events that arrived since the last call (a real broker's stream).
    ///
    /// # Errors
    /// A stream that failed for good.
    fn poll_events(&mut self) -> impl Future<Output = Result<Vec<BrokerEvent>>> + Send;
}
