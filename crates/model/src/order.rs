//! Orders, their lifecycle state machine, and fills.
//!
//! The lifecycle is one transition table, [`OrderStatus::transition`]:
//! every status change of every order anywhere in Tessera goes through it,
//! so an order cannot be both cancelled and open, and an invalid move is an
//! error rather than a silently overwritten flag.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;

use crate::error::{Error, Result, invariant};
use crate::identifiers::{ClientOrderId, InstrumentId, StrategyId, TradeId};
use crate::numbers::{Money, Price, Quantity};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stable text form used in storage, CLI and JSON.
            #[must_use]
            pub const fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::Error;
            fn from_str(s: &str) -> $crate::error::Result<Self> {
                let lower = s.trim().to_ascii_lowercase().replace('-', "_");
                match lower.as_str() {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::error::Error::Parse {
                        what: $what,
                        input: s.to_string(),
                        reason: format!("expected one of: {}", [$($text),+].join(", ")),
                    }),
                }
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// Buy or sell.
    Side, "side" {
        /// Buy.
        Buy = "buy",
        /// Sell.
        Sell = "sell",
    }
);

impl Side {
    /// +1 for buys, −1 for sells.
    #[must_use]
    pub fn sign(&self) -> Decimal {
        match self {
            Self::Buy => Decimal::ONE,
            Self::Sell => Decimal::NEGATIVE_ONE,
        }
    }

    /// The other side.
    #[must_use]
    pub fn opposite(&self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

text_enum!(
    /// How an order meets the book.
    OrderType, "order type" {
        /// At the best available price.
        Market = "market",
        /// At the limit price or better.
        Limit = "limit",
        /// A market order triggered when the stop price trades.
        Stop = "stop",
        /// A limit order triggered when the stop price trades.
        StopLimit = "stop_limit",
    }
);

text_enum!(
    /// How long an order stays working.
    TimeInForce, "time in force" {
        /// Good till cancelled.
        Gtc = "gtc",
        /// Until the end of the trading day.
        Day = "day",
        /// Immediate or cancel: fill what can be filled now, cancel the rest.
        Ioc = "ioc",
        /// Fill or kill: fill completely now or not at all.
        Fok = "fok",
        /// Only at the opening auction / next bar's open.
        Opg = "opg",
    }
);

text_enum!(
    /// Where an order is in its life.
    OrderStatus, "order status" {
        /// Created and persisted, not yet handed to a broker.
        Created = "created",
        /// Handed to the broker; no answer yet.
        Submitted = "submitted",
        /// Acknowledged and working at the broker.
        Accepted = "accepted",
        /// Some quantity filled, the rest working.
        PartiallyFilled = "partially_filled",
        /// Completely filled (terminal).
        Filled = "filled",
        /// A cancel was sent; the order may still fill until confirmed.
        CancelRequested = "cancel_requested",
        /// Cancelled (terminal).
        Cancelled = "cancelled",
        /// Refused by risk checks or the broker (terminal).
        Rejected = "rejected",
        /// Ran out of time (terminal).
        Expired = "expired",
    }
);

/// What happened to an order: the input of the transition table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum OrderEvent {
    /// Sent to the broker.
    Submitted,
    /// Acknowledged by the broker.
    Accepted {
        /// The broker's own id for the order.
        broker_order_id: Option<String>,
    },
    /// Refused.
    Rejected {
        /// Why, in words.
        reason: String,
    },
    /// A fill that leaves quantity open.
    PartiallyFilled,
    /// A fill that completes the order.
    Filled,
    /// We asked the broker to cancel.
    CancelRequested,
    /// Cancel confirmed.
    Cancelled,
    /// Time in force ran out.
    Expired,
}

impl OrderEvent {
    fn name(&self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Accepted { .. } => "accepted",
            Self::Rejected { .. } => "rejected",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::CancelRequested => "cancel_requested",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
}

impl OrderStatus {
    /// Whether no further event can change the order.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Cancelled | Self::Rejected | Self::Expired
        )
    }

    /// Whether the order may still fill.
    #[must_use]
    pub fn is_open(&self) -> bool {
        !self.is_terminal()
    }

    /// The one transition table of the order lifecycle.
    ///
    /// A harmless repeat (a second `accepted`, a second cancel request)
    /// returns the status unchanged.
    ///
    /// # Errors
    /// The current status and the event's name for moves the lifecycle
    /// forbids; [`Order`] turns them into [`Error::InvalidTransition`].
    pub fn transition(
        &self,
        event: &OrderEvent,
    ) -> std::result::Result<OrderStatus, (OrderStatus, &'static str)> {
        use OrderEvent as E;
        use OrderStatus as S;
        let next = match (self, event) {
            (S::Created, E::Submitted) => S::Submitted,
            // Risk checks reject before anything is sent.
            (S::Created | S::Submitted | S::Accepted, E::Rejected { .. }) => S::Rejected,
            (S::Submitted, E::Accepted { .. }) => S::Accepted,
            // Repeated acks arrive when a broker stream reconnects and replays.
            (S::Accepted | S::PartiallyFilled, E::Accepted { .. }) => *self,
            // A fill can race ahead of the ack.
            (S::Submitted | S::Accepted | S::PartiallyFilled, E::PartiallyFilled) => {
                S::PartiallyFilled
            }
            (S::Submitted | S::Accepted | S::PartiallyFilled, E::Filled) => S::Filled,
            (S::Submitted | S::Accepted | S::PartiallyFilled, E::CancelRequested) => {
                S::CancelRequested
            }
            (S::CancelRequested, E::CancelRequested) => S::CancelRequested,
            // A fill after the cancel request but before its confirmation is real and must be booked;
            // the order stays cancel-requested until the rest is confirmed cancelled or fills.
            (S::CancelRequested, E::PartiallyFilled) => S::CancelRequested,
            (S::CancelRequested, E::Filled) => S::Filled,
            // The broker may cancel on its own (end of session, IOC remainder).
            (
                S::Created | S::Submitted | S::Accepted | S::PartiallyFilled | S::CancelRequested,
                E::Cancelled,
            ) => S::Cancelled,
            (S::Submitted | S::Accepted | S::PartiallyFilled | S::CancelRequested, E::Expired) => {
                S::Expired
            }
            // A stale order found at housekeeping that never left us.
            (S::Created, E::Expired) => S::Expired,
            _ => return Err((*self, event.name())),
        };
        Ok(next)
    }
}

/// What a strategy or user asks for; becomes an [`Order`] once it has an id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Who asks.
    pub strategy: StrategyId,
    /// What.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// How.
    pub order_type: OrderType,
    /// How much; positive.
    pub quantity: Quantity,
    /// Limit price for limit and stop-limit orders.
    pub limit_price: Option<Price>,
    /// Trigger price for stop and stop-limit orders.
    pub stop_price: Option<Price>,
    /// How long.
    pub time_in_force: TimeInForce,
}

impl OrderRequest {
    /// Check that the prices match the order type and the quantity is positive.
    ///
    /// # Errors
    /// [`Error::Invariant`] naming what is missing or superfluous.
    pub fn validate(&self) -> Result<()> {
        if self.quantity.is_zero() {
            return Err(invariant("order", "quantity must be positive"));
        }
        let (needs_limit, needs_stop) = match self.order_type {
            OrderType::Market => (false, false),
            OrderType::Limit => (true, false),
            OrderType::Stop => (false, true),
            OrderType::StopLimit => (true, true),
        };
        for (needed, given, name) in [
            (needs_limit, self.limit_price.is_some(), "limit price"),
            (needs_stop, self.stop_price.is_some(), "stop price"),
        ] {
            if needed && !given {
                return Err(invariant(
                    "order",
                    format!("a {} order needs a {name}", self.order_type),
                ));
            }
            if !needed && given {
                return Err(invariant(
                    "order",
                    format!("a {} order takes no {name}", self.order_type),
                ));
            }
        }
        Ok(())
    }
}

/// One execution against an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The order filled.
    pub client_order_id: ClientOrderId,
    /// The venue's execution id; the same id twice is one fill, not two.
    pub trade_id: TradeId,
    /// The instrument.
    pub instrument: InstrumentId,
    /// Side of the order.
    pub side: Side,
    /// Execution price.
    pub price: Price,
    /// Executed quantity; positive.
    pub quantity: Quantity,
    /// Fees charged for this fill.
    pub commission: Money,
    /// When it executed.
    pub ts_event: UnixNanos,
}

/// An order with its identity and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Our id, which the broker sees.
    pub client_order_id: ClientOrderId,
    /// The broker's id once known.
    pub broker_order_id: Option<String>,
    /// What was asked.
    pub request: OrderRequest,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// Quantity filled so far.
    pub filled_quantity: Quantity,
    /// Volume-weighted average fill price, exact.
    pub avg_fill_price: Option<Decimal>,
    /// When it was created.
    pub created_at: UnixNanos,
    /// When it last changed.
    pub updated_at: UnixNanos,
    /// Why it was rejected, when it was.
    pub reject_reason: Option<String>,
    /// Trade ids already applied, to refuse duplicate fills.
    pub trade_ids: Vec<TradeId>,
}

impl Order {
    /// A new order in status `created`.
    ///
    /// # Errors
    /// [`Error::Invariant`] when the request is inconsistent.
    pub fn new(
        client_order_id: ClientOrderId,
        request: OrderRequest,
        now: UnixNanos,
    ) -> Result<Self> {
        request.validate()?;
        Ok(Self {
            client_order_id,
            broker_order_id: None,
            request,
            status: OrderStatus::Created,
            filled_quantity: Quantity::ZERO,
            avg_fill_price: None,
            created_at: now,
            updated_at: now,
            reject_reason: None,
            trade_ids: Vec::new(),
        })
    }

    /// Quantity still to fill.
    #[must_use]
    pub fn leaves_quantity(&self) -> Quantity {
        // filled ≤ quantity is an invariant kept by `apply_fill`.
        self.request
            .quantity
            .checked_sub(self.filled_quantity)
            .unwrap_or(Quantity::ZERO)
    }

    /// Apply a non-fill event through the transition table.
    ///
    /// # Errors
    /// [`Error::InvalidTransition`]; fills must go through [`Order::apply_fill`].
    pub fn apply(&mut self, event: &OrderEvent, now: UnixNanos) -> Result<()> {
        if matches!(event, OrderEvent::PartiallyFilled | OrderEvent::Filled) {
            return Err(invariant(
                "order event",
                "fills are applied with apply_fill",
            ));
        }
        self.status =
            self.status
                .transition(event)
                .map_err(|(status, ev)| Error::InvalidTransition {
                    order: self.client_order_id.to_string(),
                    status: status.to_string(),
                    event: ev.to_string(),
                })?;
        match event {
            OrderEvent::Accepted {
                broker_order_id: Some(id),
            } => self.broker_order_id = Some(id.clone()),
            OrderEvent::Rejected { reason } => self.reject_reason = Some(reason.clone()),
            _ => {}
        }
        self.updated_at = now;
        Ok(())
    }

    /// Apply a fill: checks the instrument, side, trade id and remaining quantity,
    /// then updates filled quantity, average price and status.
    ///
    /// # Errors
    /// [`Error::DuplicateFill`], [`Error::Invariant`] (overfill, wrong side) or [`Error::InvalidTransition`].
    pub fn apply_fill(&mut self, fill: &Fill) -> Result<()> {
        if self.trade_ids.contains(&fill.trade_id) {
            return Err(Error::DuplicateFill {
                order: self.client_order_id.to_string(),
                trade_id: fill.trade_id.to_string(),
            });
        }
        if fill.instrument != self.request.instrument || fill.side != self.request.side {
            return Err(invariant(
                "fill",
                format!(
                    "{} does not match order {}",
                    fill.trade_id, self.client_order_id
                ),
            ));
        }
        if fill.quantity.is_zero() || fill.quantity > self.leaves_quantity() {
            return Err(invariant(
                "fill",
                format!(
                    "quantity {} with {} left on order {}",
                    fill.quantity,
                    self.leaves_quantity(),
                    self.client_order_id
                ),
            ));
        }
        let new_filled = self.filled_quantity.checked_add(fill.quantity)?;
        let event = if new_filled == self.request.quantity {
            OrderEvent::Filled
        } else {
            OrderEvent::PartiallyFilled
        };
        let status =
            self.status
                .transition(&event)
                .map_err(|(status, ev)| Error::InvalidTransition {
                    order: self.client_order_id.to_string(),
                    status: status.to_string(),
                    event: ev.to_string(),
                })?;
        let prev_value =
            self.avg_fill_price.unwrap_or_default() * self.filled_quantity.as_decimal();
        let value = prev_value
            .checked_add(fill.price.as_decimal() * fill.quantity.as_decimal())
            .ok_or_else(|| Error::Overflow("fill value".into()))?;
        self.avg_fill_price = Some(value / new_filled.as_decimal());
        self.filled_quantity = new_filled;
        self.status = status;
        self.trade_ids.push(fill.trade_id.clone());
        self.updated_at = fill.ts_event;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::Currency;

    fn request(order_type: OrderType, limit: Option<&str>, stop: Option<&str>) -> OrderRequest {
        OrderRequest {
            strategy: StrategyId::new("s1").unwrap(),
            instrument: InstrumentId::parse("AAPL", "nasdaq").unwrap(),
            side: Side::Buy,
            order_type,
            quantity: Quantity::parse("10").unwrap(),
            limit_price: limit.map(|p| Price::parse(p).unwrap()),
            stop_price: stop.map(|p| Price::parse(p).unwrap()),
            time_in_force: TimeInForce::Gtc,
        }
    }

    fn fill(trade: &str, qty: &str, px: &str) -> Fill {
        Fill {
            client_order_id: ClientOrderId::new("o1").unwrap(),
            trade_id: TradeId::new(trade).unwrap(),
            instrument: InstrumentId::parse("AAPL", "nasdaq").unwrap(),
            side: Side::Buy,
            price: Price::parse(px).unwrap(),
            quantity: Quantity::parse(qty).unwrap(),
            commission: Money::zero(Currency::new("USD").unwrap()),
            ts_event: UnixNanos(5),
        }
    }

    #[test]
    fn test_request_price_rules() {
        assert!(request(OrderType::Market, None, None).validate().is_ok());
        assert!(request(OrderType::Limit, None, None).validate().is_err());
        assert!(
            request(OrderType::Market, Some("1"), None)
                .validate()
                .is_err()
        );
        assert!(
            request(OrderType::StopLimit, Some("1"), Some("2"))
                .validate()
                .is_ok()
        );
        assert!(
            request(OrderType::Stop, None, None)
                .validate()
                .unwrap_err()
                .to_string()
                .contains("stop price")
        );
    }

    #[test]
    fn test_lifecycle_partial_then_full() {
        let mut o = Order::new(
            ClientOrderId::new("o1").unwrap(),
            request(OrderType::Market, None, None),
            UnixNanos(1),
        )
        .unwrap();
        o.apply(&OrderEvent::Submitted, UnixNanos(2)).unwrap();
        o.apply(
            &OrderEvent::Accepted {
                broker_order_id: Some("B1".into()),
            },
            UnixNanos(3),
        )
        .unwrap();
        o.apply_fill(&fill("t1", "4", "100")).unwrap();
        assert_eq!(o.status, OrderStatus::PartiallyFilled);
        assert!(matches!(
            o.apply_fill(&fill("t1", "1", "100")),
            Err(Error::DuplicateFill { .. })
        ));
        assert!(
            o.apply_fill(&fill("t2", "7", "100")).is_err(),
            "overfill refused"
        );
        o.apply_fill(&fill("t2", "6", "101")).unwrap();
        assert_eq!(o.status, OrderStatus::Filled);
        assert_eq!(
            o.avg_fill_price.unwrap(),
            Decimal::from_str_exact("100.6").unwrap()
        );
        assert!(
            o.apply(&OrderEvent::Cancelled, UnixNanos(9)).is_err(),
            "terminal"
        );
    }

    #[test]
    fn test_fill_after_cancel_request_is_booked() {
        let mut o = Order::new(
            ClientOrderId::new("o1").unwrap(),
            request(OrderType::Market, None, None),
            UnixNanos(1),
        )
        .unwrap();
        o.apply(&OrderEvent::Submitted, UnixNanos(2)).unwrap();
        o.apply(&OrderEvent::CancelRequested, UnixNanos(3)).unwrap();
        o.apply_fill(&fill("t1", "4", "100")).unwrap();
        assert_eq!(o.status, OrderStatus::CancelRequested);
        o.apply(&OrderEvent::Cancelled, UnixNanos(4)).unwrap();
        assert_eq!(o.status, OrderStatus::Cancelled);
        assert_eq!(o.filled_quantity, Quantity::parse("4").unwrap());
    }

    #[test]
    fn test_transition_table_is_closed_on_terminal_states() {
        let events = [
            OrderEvent::Submitted,
            OrderEvent::Accepted {
                broker_order_id: None,
            },
            OrderEvent::Rejected { reason: "x".into() },
            OrderEvent::PartiallyFilled,
            OrderEvent::Filled,
            OrderEvent::CancelRequested,
            OrderEvent::Cancelled,
            OrderEvent::Expired,
        ];
        for s in OrderStatus::ALL.iter().filter(|s| s.is_terminal()) {
            for e in &events {
                assert!(s.transition(e).is_err(), "{s} accepted {e:?}");
            }
        }
        assert!(
            OrderStatus::Created
                .transition(&OrderEvent::Filled)
                .is_err(),
            "no fill before submission"
        );
    }

    #[test]
    fn test_text_enums_parse() {
        assert_eq!(
            "stop-limit".parse::<OrderType>().unwrap(),
            OrderType::StopLimit
        );
        assert_eq!("BUY".parse::<Side>().unwrap(), Side::Buy);
        let e = "hold".parse::<Side>().unwrap_err().to_string();
        assert!(e.contains("buy, sell"), "{e}");
    }
}
