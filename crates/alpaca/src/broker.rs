//! [`AlpacaBroker`]: Alpaca behind the [`Broker`] trait.
//!
//! Orders carry our client order id; answers of `POST /v2/orders` become
//! `Accepted`/`Rejected`, later news comes from the `trade_updates` stream
//! through [`Broker::poll_events`]. After the stream reconnects, fills are
//! caught up from the account activities and the status of every order we
//! know to be working is looked up, so nothing that happened during the gap
//! is lost.
//!
//! A fill's trade id is `<alpaca order id>:<cumulative filled quantity>`:
//! both the stream (the order's `filled_qty`) and the activities (`cum_qty`)
//! carry it, so the same execution seen through both is booked once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rust_decimal::Decimal;
use tessera_core::{Clock, UnixNanos};
use tessera_execution::broker::OrderChange;
use tessera_execution::{Broker, BrokerEvent, BrokerOrder, MarketUpdate};
use tessera_model::{
    Account, Balance, ClientOrderId, Currency, Fill, Instrument, InstrumentId, Money, Order,
    OrderStatus, OrderType, Price, Quantity, Side, TimeInForce, TradeId,
};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::AlpacaConfig;
use crate::error::{Error, Result};
use crate::failpoint::{BEFORE_SEND, FILL_BEFORE_BOOK, Failpoints};
use crate::http::{AlpacaClient, Submitted};
use crate::stream::{self, StreamItem};
use crate::wire::{self, FillActivity, NewOrder, ReplaceOrder, TradeUpdate};

/// The Alpaca broker.
#[derive(Debug)]
pub struct AlpacaBroker {
    client: AlpacaClient,
    /// Alpaca's times are wall-clock times; our market clock may differ.
    wall: Arc<dyn Clock>,
    /// Alpaca symbol → instrument.
    instruments: BTreeMap<String, Instrument>,
    /// Alpaca order id → our id.
    by_broker_id: BTreeMap<String, ClientOrderId>,
    /// Our id → Alpaca's current order id.
    broker_ids: BTreeMap<ClientOrderId, String>,
    /// Orders known to be working at Alpaca (looked up after a reconnect).
    working: BTreeSet<ClientOrderId>,
    stream: Option<UnboundedReceiver<StreamItem>>,
    failpoints: Failpoints,
    /// Latest fill time seen, for catching up after a reconnect.
    last_fill: Option<UnixNanos>,
}

/// The parts of one execution, from a stream update or an activity.
#[derive(Clone, Copy, Debug)]
struct FillParts<'a> {
    alpaca_order: &'a str,
    /// Filled quantity of the order after this execution (makes the trade id).
    cum_qty: Decimal,
    symbol: &'a str,
    side: &'a str,
    price: Decimal,
    qty: Decimal,
    at: &'a str,
}

fn decode(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Decode {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

fn time(s: &str) -> Result<UnixNanos> {
    s.parse::<UnixNanos>().map_err(|e| decode("timestamp", e))
}

fn side(s: &str) -> Result<Side> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" | "sell_short" => Ok(Side::Sell),
        other => Err(decode("side", format!("unknown side {other:?}"))),
    }
}

/// Alpaca's order status as ours.
fn status(s: &str) -> OrderStatus {
    match s {
        "partially_filled" => OrderStatus::PartiallyFilled,
        "filled" => OrderStatus::Filled,
        "pending_cancel" => OrderStatus::CancelRequested,
        "canceled" | "replaced" => OrderStatus::Cancelled,
        "expired" | "done_for_day" => OrderStatus::Expired,
        "rejected" | "suspended" => OrderStatus::Rejected,
        // new, accepted, pending_new, accepted_for_bidding, pending_replace, calculated, stopped, held
        _ => OrderStatus::Accepted,
    }
}

fn tif(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "gtc",
        TimeInForce::Day => "day",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
        TimeInForce::Opg => "opg",
    }
}

impl AlpacaBroker {
    /// A broker trading `instruments` (their symbols are Alpaca's tickers),
    /// connected to the `trade_updates` stream. `wall` is the real-time clock
    /// Alpaca's timestamps are compared with.
    ///
    /// # Errors
    /// The HTTP client cannot be built or the stream cannot be opened.
    pub async fn connect(
        config: AlpacaConfig,
        instruments: &[Instrument],
        wall: Arc<dyn Clock>,
        failpoints: Failpoints,
    ) -> Result<Self> {
        let mut me = Self::without_stream(config, instruments, wall, failpoints)?;
        me.stream = Some(stream::spawn(me.client.config().clone()).await?);
        Ok(me)
    }

    /// A broker that only speaks REST (tools, reconciliation checks): nothing arrives through [`Broker::poll_events`].
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn without_stream(
        config: AlpacaConfig,
        instruments: &[Instrument],
        wall: Arc<dyn Clock>,
        failpoints: Failpoints,
    ) -> Result<Self> {
        Ok(Self {
            client: AlpacaClient::new(config)?,
            wall,
            instruments: instruments
                .iter()
                .map(|i| (i.id.symbol.as_str().to_string(), i.clone()))
                .collect(),
            by_broker_id: BTreeMap::new(),
            broker_ids: BTreeMap::new(),
            working: BTreeSet::new(),
            stream: None,
            failpoints,
            last_fill: None,
        })
    }

    /// The REST client.
    #[must_use]
    pub fn client(&self) -> &AlpacaClient {
        &self.client
    }

    fn remember(&mut self, id: &ClientOrderId, broker_id: &str) {
        self.by_broker_id.insert(broker_id.to_string(), id.clone());
        self.broker_ids.insert(id.clone(), broker_id.to_string());
    }

    fn instrument(&self, symbol: &str) -> Option<&Instrument> {
        self.instruments.get(symbol)
    }

    fn fill(&self, id: ClientOrderId, p: &FillParts<'_>) -> Result<Option<Fill>> {
        let FillParts {
            alpaca_order,
            cum_qty,
            symbol,
            side: side_text,
            price,
            qty,
            at,
        } = *p;
        let Some(inst) = self.instrument(symbol) else {
            tracing::debug!(symbol, "fill in an instrument not traded here; ignored");
            return Ok(None);
        };
        Ok(Some(Fill {
            client_order_id: id,
            trade_id: TradeId::new(&format!("{alpaca_order}:{}", cum_qty.normalize()))?,
            instrument: inst.id,
            side: side(side_text)?,
            price: Price::new(price)?,
            quantity: Quantity::new(qty)?,
            commission: Money::new(Decimal::ZERO, inst.quote_currency),
            ts_event: time(at)?,
        }))
    }

    /// Our id of an Alpaca order, asking Alpaca when we have not seen it.
    async fn client_id_of(&mut self, broker_id: &str) -> Result<Option<ClientOrderId>> {
        if let Some(id) = self.by_broker_id.get(broker_id) {
            return Ok(Some(id.clone()));
        }
        let Some(o) = self.client.order(broker_id).await? else {
            return Ok(None);
        };
        let Ok(id) = ClientOrderId::new(&o.client_order_id) else {
            return Ok(None);
        };
        self.by_broker_id.insert(broker_id.to_string(), id.clone());
        Ok(Some(id))
    }

    async fn activity_fill(&mut self, a: &FillActivity) -> Result<Option<Fill>> {
        let Some(id) = self.client_id_of(&a.order_id).await? else {
            return Ok(None);
        };
        self.fill(
            id,
            &FillParts {
                alpaca_order: &a.order_id,
                cum_qty: a.cum_qty,
                symbol: &a.symbol,
                side: &a.side,
                price: a.price,
                qty: a.qty,
                at: &a.transaction_time,
            },
        )
    }

    /// A stream update as broker events.
    fn translate(&mut self, u: &TradeUpdate) -> Result<Vec<BrokerEvent>> {
        let Ok(id) = ClientOrderId::new(&u.order.client_order_id) else {
            return Ok(Vec::new());
        };
        if self.instrument(&u.order.symbol).is_none() {
            return Ok(Vec::new());
        }
        self.remember(&id, &u.order.id);
        let terminal = |me: &mut Self| {
            me.working.remove(&id);
        };
        Ok(match u.event.as_str() {
            "new" | "accepted" | "pending_new" => {
                self.working.insert(id.clone());
                vec![BrokerEvent::Accepted {
                    id,
                    broker_order_id: Some(u.order.id.clone()),
                }]
            }
            "fill" | "partial_fill" => {
                let (Some(price), Some(qty)) = (u.price, u.qty) else {
                    return Err(decode("trade update", "fill without price or qty"));
                };
                let at = u.timestamp.as_deref().unwrap_or(&u.order.updated_at);
                if u.event == "fill" {
                    terminal(self);
                }
                let f = self.fill(
                    id,
                    &FillParts {
                        alpaca_order: &u.order.id,
                        cum_qty: u.order.filled_qty,
                        symbol: &u.order.symbol,
                        side: &u.order.side,
                        price,
                        qty,
                        at,
                    },
                )?;
                if let Some(f) = &f {
                    self.last_fill = self.last_fill.max(Some(f.ts_event));
                }
                f.map(BrokerEvent::Fill).into_iter().collect()
            }
            "canceled" => {
                terminal(self);
                vec![BrokerEvent::Cancelled {
                    id,
                    reason: Some("cancelled at Alpaca".into()),
                }]
            }
            "expired" => {
                terminal(self);
                vec![BrokerEvent::Expired { id }]
            }
            "rejected" => {
                terminal(self);
                vec![BrokerEvent::Rejected {
                    id,
                    reason: "rejected by Alpaca".into(),
                }]
            }
            "replaced" => {
                if let Some(new_id) = &u.order.replaced_by {
                    self.remember(&id, new_id);
                }
                Vec::new()
            }
            // pending_cancel, pending_replace, done_for_day, order_cancel_rejected, …: no change for us.
            _ => Vec::new(),
        })
    }

    /// What happened while the stream was down: fills from the activities,
    /// final statuses of the orders we knew to be working.
    async fn catch_up(&mut self) -> Result<Vec<BrokerEvent>> {
        let since = self
            .last_fill
            .unwrap_or_else(|| self.wall.now())
            .min(self.wall.now());
        let mut out: Vec<BrokerEvent> = self
            .fills_since_inner(since)
            .await?
            .into_iter()
            .map(BrokerEvent::Fill)
            .collect();
        for id in self.working.clone() {
            let Some(o) = self.client.order_by_client_id(id.as_str()).await? else {
                continue;
            };
            let ev = match status(&o.status) {
                OrderStatus::Cancelled => BrokerEvent::Cancelled {
                    id: id.clone(),
                    reason: Some("cancelled at Alpaca".into()),
                },
                OrderStatus::Expired => BrokerEvent::Expired { id: id.clone() },
                OrderStatus::Rejected => BrokerEvent::Rejected {
                    id: id.clone(),
                    reason: "rejected by Alpaca".into(),
                },
                OrderStatus::Filled => {
                    self.working.remove(&id);
                    continue;
                }
                _ => continue,
            };
            self.working.remove(&id);
            out.push(ev);
        }
        Ok(out)
    }

    async fn fills_since_inner(&mut self, since: UnixNanos) -> Result<Vec<Fill>> {
        let lookback = i64::try_from(self.client.config().catch_up.as_nanos()).unwrap_or(i64::MAX);
        let after = UnixNanos(since.0.min(self.wall.now().0).saturating_sub(lookback));
        let acts = self.client.fills_after(&after.to_rfc3339()).await?;
        let mut out = Vec::with_capacity(acts.len());
        for a in &acts {
            if let Some(f) = self.activity_fill(a).await? {
                out.push(f);
            }
        }
        Ok(out)
    }

    fn broker_id(&self, id: &ClientOrderId) -> Option<String> {
        self.broker_ids.get(id).cloned()
    }

    async fn resolve_broker_id(&mut self, id: &ClientOrderId) -> Result<Option<String>> {
        if let Some(b) = self.broker_id(id) {
            return Ok(Some(b));
        }
        let found = self.client.order_by_client_id(id.as_str()).await?;
        Ok(found.map(|o| {
            self.remember(id, &o.id);
            o.id
        }))
    }

    fn new_order(order: &Order) -> NewOrder {
        let r = &order.request;
        NewOrder {
            symbol: r.instrument.symbol.as_str().to_string(),
            qty: r.quantity.as_decimal(),
            side: r.side.as_str().to_string(),
            kind: match r.order_type {
                OrderType::Market => "market",
                OrderType::Limit => "limit",
                OrderType::Stop => "stop",
                OrderType::StopLimit => "stop_limit",
            }
            .to_string(),
            time_in_force: tif(r.time_in_force).to_string(),
            limit_price: r.limit_price.map(|p| p.as_decimal()),
            stop_price: r.stop_price.map(|p| p.as_decimal()),
            client_order_id: order.client_order_id.as_str().to_string(),
        }
    }

    fn broker_order(&self, o: &wire::Order) -> Option<BrokerOrder> {
        let inst = self.instrument(&o.symbol)?;
        Some(BrokerOrder {
            client_order_id: ClientOrderId::new(&o.client_order_id).ok()?,
            broker_order_id: Some(o.id.clone()),
            instrument: inst.id,
            status: status(&o.status),
            filled_quantity: Quantity::new(o.filled_qty).ok()?,
        })
    }
}

impl Broker for AlpacaBroker {
    fn name(&self) -> &str {
        "alpaca"
    }

    async fn submit(
        &mut self,
        order: &Order,
        _now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.failpoints.hit(BEFORE_SEND);
        let id = order.client_order_id.clone();
        match self.client.submit_order(&Self::new_order(order)).await? {
            Submitted::Known(o) => {
                self.remember(&id, &o.id);
                Ok(match status(&o.status) {
                    OrderStatus::Rejected => vec![BrokerEvent::Rejected {
                        id,
                        reason: "rejected by Alpaca".into(),
                    }],
                    _ => {
                        self.working.insert(id.clone());
                        vec![BrokerEvent::Accepted {
                            id,
                            broker_order_id: Some(o.id),
                        }]
                    }
                })
            }
            Submitted::Refused(reason) => Ok(vec![BrokerEvent::Rejected { id, reason }]),
        }
    }

    async fn cancel(
        &mut self,
        id: &ClientOrderId,
        _now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        let Some(bid) = self.resolve_broker_id(id).await? else {
            return Err(tessera_execution::Error::UnknownOrder(id.to_string()));
        };
        // The confirmation (or the fill that beat the cancel) arrives on the stream.
        self.client.cancel_order(&bid).await?;
        Ok(Vec::new())
    }

    async fn modify(
        &mut self,
        id: &ClientOrderId,
        change: OrderChange,
        _now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        let Some(bid) = self.resolve_broker_id(id).await? else {
            return Err(tessera_execution::Error::UnknownOrder(id.to_string()));
        };
        let body = ReplaceOrder {
            qty: change.quantity.map(|q| q.as_decimal()),
            limit_price: change.limit_price.map(|p| p.as_decimal()),
            stop_price: change.stop_price.map(|p| p.as_decimal()),
        };
        let new = self.client.replace_order(&bid, &body).await?;
        self.remember(id, &new.id);
        Ok(Vec::new())
    }

    async fn open_orders(&mut self) -> tessera_execution::Result<Vec<BrokerOrder>> {
        let orders = self.client.open_orders().await?;
        let mut out = Vec::with_capacity(orders.len());
        for o in &orders {
            if let Some(b) = self.broker_order(o) {
                self.remember(&b.client_order_id, &o.id);
                self.working.insert(b.client_order_id.clone());
                out.push(b);
            }
        }
        Ok(out)
    }

    async fn lookup(
        &mut self,
        id: &ClientOrderId,
    ) -> tessera_execution::Result<Option<BrokerOrder>> {
        let Some(o) = self.client.order_by_client_id(id.as_str()).await? else {
            return Ok(None);
        };
        self.remember(id, &o.id);
        Ok(self.broker_order(&o))
    }

    async fn fills_since(&mut self, since: UnixNanos) -> tessera_execution::Result<Vec<Fill>> {
        Ok(self.fills_since_inner(since).await?)
    }

    async fn positions(&mut self) -> tessera_execution::Result<Vec<(InstrumentId, Decimal)>> {
        Ok(self
            .client
            .positions()
            .await?
            .into_iter()
            .filter_map(|p| self.instrument(&p.symbol).map(|i| (i.id, p.qty)))
            .collect())
    }

    async fn account(&mut self) -> tessera_execution::Result<Account> {
        let a = self.client.account().await?;
        let ccy = Currency::new(&a.currency).map_err(Error::from)?;
        let mut balances = BTreeMap::new();
        balances.insert(
            ccy,
            Balance {
                currency: ccy,
                total: a.cash,
                locked: Decimal::ZERO,
            },
        );
        Ok(Account {
            id: a.id,
            base_currency: ccy,
            balances,
            leverage: a.multiplier,
        })
    }

    async fn on_market(
        &mut self,
        _update: MarketUpdate<'_>,
        _now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        // Alpaca matches on its own market.
        Ok(Vec::new())
    }

    async fn poll_events(&mut self) -> tessera_execution::Result<Vec<BrokerEvent>> {
        let mut items = Vec::new();
        if let Some(rx) = &mut self.stream {
            while let Ok(item) = rx.try_recv() {
                items.push(item);
            }
        }
        let mut out = Vec::new();
        for item in items {
            match item {
                StreamItem::Update(u) => out.extend(self.translate(&u)?),
                StreamItem::Reconnected => out.extend(self.catch_up().await?),
            }
        }
        if out.iter().any(|e| matches!(e, BrokerEvent::Fill(_))) {
            self.failpoints.hit(FILL_BEFORE_BOOK);
        }
        Ok(out)
    }
}
