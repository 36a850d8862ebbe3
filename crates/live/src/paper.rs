//! [`PaperBroker`]: the backtest's simulated venue behind the [`Broker`] trait,
//! with its book persisted so it survives restarts.
//!
//! Matching, fill models, costs and slippage are [`SimVenue`]'s, unchanged,
//! so paper trading fills exactly as the backtest would on the same data.
//! After every change the broker stores what changed in its book (new fills,
//! changed and finished working orders; one row each, in one transaction)
//! **before** reporting the change: a crash between a paper fill and its
//! booking in the order stack is healed by [`Broker::fills_since`] at
//! recovery. A book stored by older versions as one JSON value under
//! `paper:<account>` is moved into the rows on open.
//!
//! Memory stays bounded however long the account trades: only working
//! orders and the newest fills ([`RECENT_FILLS`]) are held. Older fills and
//! finished orders are read back from the store (`fills_since` from before
//! the window, `lookup` of a finished order, the duplicate check of a client
//! order id not seen recently); on open the history is paged through once to
//! rebuild positions and cash.

use std::borrow::Cow;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;
use tessera_engine::{SimConfig, SimVenue, Venue, VenueEvent};
use tessera_execution::broker::OrderChange;
use tessera_execution::{Broker, BrokerEvent, BrokerOrder, MarketUpdate};
use tessera_model::{
    Account, ClientOrderId, Fill, Instrument, InstrumentId, Money, Order, OrderStatus, Quantity,
    TradeId,
};
use tessera_storage::{PaperBookChange, PaperFillRow, Store};
use tessera_strategy::{OrderIntent, OrderModify, OrderQty};

use crate::error::{Error, Result};

/// Fills a paper broker keeps in memory by default: enough for the order
/// stack's recovery after a short outage to be answered without the store.
pub const RECENT_FILLS: usize = 1_024;

/// Fills read per query when the history is paged through on open.
const PAGE: u32 = 5_000;

/// The book as older versions stored it (one JSON value); read only to move it into rows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct LegacyBook {
    next_trade: u64,
    fills: Vec<Fill>,
    open: Vec<Order>,
}

/// What the broker holds in memory.
#[derive(Clone, Debug, Default)]
struct Book {
    /// Sequence number of the newest fill (the paper trade counter).
    next_trade: u64,
    /// The newest fills with their sequence numbers, oldest first; at most `cap`.
    recent: VecDeque<(u64, Fill)>,
    /// Newest execution time among fills not in `recent` (dropped from it, or
    /// older than it on open): a `fills_since` after it is answered from memory.
    dropped_until: Option<UnixNanos>,
    /// Working orders, in the order they were sent.
    open: Vec<Order>,
}

impl Book {
    /// Remember `fill` (sequence `seq`) among the recent ones, dropping the oldest past `cap`.
    fn remember(&mut self, seq: u64, fill: Fill, cap: usize) {
        self.recent.push_back((seq, fill));
        while self.recent.len() > cap {
            if let Some((_, old)) = self.recent.pop_front() {
                self.dropped_until = Some(
                    self.dropped_until
                        .map_or(old.ts_event, |t| t.max(old.ts_event)),
                );
            }
        }
    }
}

/// The paper broker.
#[derive(Debug)]
pub struct PaperBroker {
    store: Store,
    account: String,
    /// Fills not stored yet, with their sequence numbers (empty between steps
    /// unless storing failed).
    new_fills: Vec<(u64, Fill)>,
    /// Orders whose row must be written (still working) or deleted (finished).
    touched: BTreeSet<ClientOrderId>,
    sim: SimVenue,
    instruments: Vec<Instrument>,
    index: BTreeMap<InstrumentId, usize>,
    book: Book,
    /// Most fills kept in `book.recent`.
    recent_cap: usize,
    cash: Money,
    /// Extra delay before an order reaches the simulated market, in nanoseconds of market time.
    latency: i64,
    delayed: Vec<(UnixNanos, Order)>,
}

fn intent(order: &Order, quantity: Quantity) -> OrderIntent {
    let r = &order.request;
    OrderIntent {
        instrument: r.instrument,
        side: r.side,
        quantity: OrderQty::Units(quantity),
        order_type: r.order_type,
        limit_price: r.limit_price,
        stop_price: r.stop_price,
        time_in_force: r.time_in_force,
    }
}

/// Move a book stored by older versions as one JSON value under
/// `paper:<account>` into the per-row tables (only when there are no rows yet).
async fn migrate_legacy(store: &Store, account: &str) -> Result<()> {
    let bad = |key: &str, e: &dyn std::fmt::Display| Error::PaperState {
        key: key.to_string(),
        reason: e.to_string(),
    };
    let legacy_key = format!("paper:{account}");
    let Some(text) = store.state(&legacy_key).await? else {
        return Ok(());
    };
    if !store.paper_fills_after(account, 0, 1).await?.is_empty()
        || !store.paper_open_orders(account).await?.is_empty()
    {
        return Ok(());
    }
    let book: LegacyBook = serde_json::from_str(&text).map_err(|e| bad(&legacy_key, &e))?;
    let first = book.next_trade.saturating_sub(book.fills.len() as u64);
    let mut change = PaperBookChange::default();
    for (k, f) in book.fills.iter().enumerate() {
        change.fills.push(PaperFillRow {
            seq: i64::try_from(first + k as u64 + 1).map_err(|e| bad(&legacy_key, &e))?,
            client_order_id: f.client_order_id.to_string(),
            ts_event: f.ts_event.0,
            body: serde_json::to_string(f).map_err(|e| bad(&legacy_key, &e))?,
        });
    }
    for o in &book.open {
        change.upsert.push((
            o.client_order_id.to_string(),
            serde_json::to_string(o).map_err(|e| bad(&legacy_key, &e))?,
        ));
    }
    store.paper_book_apply(account, &change).await?;
    store.delete_state(&legacy_key).await?;
    Ok(())
}

/// A stored fill row, read back.
fn parse_fill(r: &PaperFillRow) -> Result<(u64, Fill)> {
    let bad = |e: &dyn std::fmt::Display| Error::PaperState {
        key: "paper_fills".into(),
        reason: e.to_string(),
    };
    let seq = u64::try_from(r.seq).map_err(|e| bad(&e))?;
    let fill: Fill = serde_json::from_str(&r.body).map_err(|e| bad(&e))?;
    Ok((seq, fill))
}

fn broker_err(e: impl std::fmt::Display) -> tessera_execution::Error {
    tessera_execution::Error::Broker {
        broker: "paper".into(),
        message: e.to_string(),
        retryable: false,
    }
}

impl PaperBroker {
    /// Open (or resume) the paper account `account` trading `instruments` with the simulator settings `config`.
    ///
    /// # Errors
    /// Storage failures, unreadable stored state, instruments the simulator refuses.
    pub async fn open(
        store: Store,
        account: &str,
        config: SimConfig,
        instruments: &[Instrument],
        latency_nanos: i64,
    ) -> Result<Self> {
        migrate_legacy(&store, account).await?;
        let cash = config.cash;
        let mut sim = SimVenue::new(config);
        sim.register(instruments)?;
        let index: BTreeMap<InstrumentId, usize> = instruments
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, i))
            .collect();
        // Positions and cash are rebuilt from the whole history, a page at a
        // time; only the newest fills stay.
        let recent_cap = RECENT_FILLS;
        let mut book = Book::default();
        let mut after = 0_i64;
        loop {
            let page = store.paper_fills_after(account, after, PAGE).await?;
            for r in &page {
                let (seq, fill) = parse_fill(r)?;
                if let Some(&i) = index.get(&fill.instrument) {
                    sim.restore_fill(i, &fill)?;
                }
                book.next_trade = book.next_trade.max(seq);
                book.remember(seq, fill, recent_cap);
            }
            match page.last() {
                Some(r) if page.len() == PAGE as usize => after = r.seq,
                _ => break,
            }
        }
        for (_, body) in store.paper_open_orders(account).await? {
            book.open
                .push(serde_json::from_str(&body).map_err(|e| Error::PaperState {
                    key: "paper_orders".into(),
                    reason: e.to_string(),
                })?);
        }
        // Stored in client-order-id order; keep the order they were sent in.
        book.open
            .sort_by_key(|o: &Order| (o.created_at, o.client_order_id.clone()));
        let mut me = Self {
            store,
            account: account.to_string(),
            new_fills: Vec::new(),
            touched: BTreeSet::new(),
            sim,
            instruments: instruments.to_vec(),
            index,
            book,
            recent_cap,
            cash,
            latency: latency_nanos.max(0),
            delayed: Vec::new(),
        };
        // Orders working before the restart work again, for what is left of them.
        let mut scratch = Vec::new();
        for o in me.book.open.clone() {
            if me.index.contains_key(&o.request.instrument) && !o.leaves_quantity().is_zero() {
                me.sim.submit(
                    o.client_order_id.clone(),
                    &intent(&o, o.leaves_quantity()),
                    o.updated_at,
                    &mut scratch,
                )?;
            }
        }
        Ok(me)
    }

    /// Store what changed since the last save, in one transaction.
    async fn save(&mut self) -> tessera_execution::Result<()> {
        let mut change = PaperBookChange::default();
        for (seq, f) in &self.new_fills {
            change.fills.push(PaperFillRow {
                seq: i64::try_from(*seq).map_err(broker_err)?,
                client_order_id: f.client_order_id.to_string(),
                ts_event: f.ts_event.0,
                body: serde_json::to_string(f).map_err(broker_err)?,
            });
        }
        for id in &self.touched {
            match self.book.open.iter().find(|o| &o.client_order_id == id) {
                Some(o) => change.upsert.push((
                    id.to_string(),
                    serde_json::to_string(o).map_err(broker_err)?,
                )),
                None => change.remove.push(id.to_string()),
            }
        }
        self.store.paper_book_apply(&self.account, &change).await?;
        self.new_fills.clear();
        self.touched.clear();
        Ok(())
    }

    /// Turn the simulator's events into broker events, keeping the book.
    fn translate(
        &mut self,
        events: Vec<VenueEvent>,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        let mut out = Vec::new();
        for ev in events {
            match ev {
                VenueEvent::Fill { fill, .. } => {
                    self.book.next_trade += 1;
                    let fill = Fill {
                        trade_id: TradeId::new(&format!("paper-{}", self.book.next_trade))?,
                        ..fill
                    };
                    if let Some(o) = self
                        .book
                        .open
                        .iter_mut()
                        .find(|o| o.client_order_id == fill.client_order_id)
                    {
                        o.filled_quantity = o.filled_quantity.checked_add(fill.quantity)?;
                    }
                    self.touched.insert(fill.client_order_id.clone());
                    self.new_fills.push((self.book.next_trade, fill.clone()));
                    self.book
                        .remember(self.book.next_trade, fill.clone(), self.recent_cap);
                    out.push(BrokerEvent::Fill(fill));
                }
                // The simulator only reports fills of orders it executes now.
                VenueEvent::Restored { .. } => {}
                VenueEvent::Update(u) => {
                    let id = u.client_order_id.clone();
                    let event = match u.status {
                        OrderStatus::Accepted => Some(BrokerEvent::Accepted {
                            broker_order_id: Some(format!("paper-{id}")),
                            id: id.clone(),
                        }),
                        OrderStatus::Rejected => Some(BrokerEvent::Rejected {
                            id: id.clone(),
                            reason: u.reason.map_or_else(|| "rejected".into(), Cow::into_owned),
                        }),
                        OrderStatus::Cancelled => Some(BrokerEvent::Cancelled {
                            id: id.clone(),
                            reason: u.reason.map(Cow::into_owned),
                        }),
                        OrderStatus::Expired => Some(BrokerEvent::Expired { id: id.clone() }),
                        // Fills carry these.
                        _ => None,
                    };
                    if u.status.is_terminal() {
                        self.book.open.retain(|o| o.client_order_id != id);
                        self.touched.insert(id.clone());
                    }
                    out.extend(event);
                }
            }
        }
        Ok(out)
    }

    async fn finish(
        &mut self,
        events: Vec<VenueEvent>,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let out = self.translate(events)?;
        self.save().await?;
        Ok(out)
    }

    fn release_delayed(
        &mut self,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_execution::Result<()> {
        let due: Vec<Order> = {
            let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed)
                .into_iter()
                .partition(|(t, _)| *t <= now);
            self.delayed = keep;
            due.into_iter().map(|(_, o)| o).collect()
        };
        for o in due {
            self.sim
                .submit(
                    o.client_order_id.clone(),
                    &intent(&o, o.request.quantity),
                    now,
                    out,
                )
                .map_err(broker_err)?;
        }
        Ok(())
    }
}

impl PaperBroker {
    /// Keep at most `cap` (at least 1) fills in memory instead of
    /// [`RECENT_FILLS`]; older ones are read from the store when asked for.
    #[must_use]
    pub fn with_recent_fills(mut self, cap: usize) -> Self {
        self.recent_cap = cap.max(1);
        while self.book.recent.len() > self.recent_cap {
            if let Some((_, old)) = self.book.recent.pop_front() {
                self.book.dropped_until = Some(
                    self.book
                        .dropped_until
                        .map_or(old.ts_event, |t| t.max(old.ts_event)),
                );
            }
        }
        self
    }

    /// Fills held in memory now (recent ones and any not stored yet): what
    /// the bound on memory is about.
    #[must_use]
    pub fn fills_in_memory(&self) -> usize {
        self.book.recent.len() + self.new_fills.len()
    }

    /// Whether the broker has seen `id`: working, or filled (recently, or
    /// earlier according to the store). Checked in memory first; the store is
    /// asked only when fills have left memory.
    async fn seen(&self, id: &ClientOrderId) -> tessera_execution::Result<bool> {
        if self.book.open.iter().any(|o| &o.client_order_id == id)
            || self
                .book
                .recent
                .iter()
                .any(|(_, f)| &f.client_order_id == id)
            || self.new_fills.iter().any(|(_, f)| &f.client_order_id == id)
        {
            return Ok(true);
        }
        if self.book.dropped_until.is_none() {
            // Every fill of the account is in memory.
            return Ok(false);
        }
        self.store
            .paper_order_filled(&self.account, id.as_str())
            .await
            .map_err(broker_err)
    }

    /// Every fill of order `id`, in execution order.
    async fn fills_of(&self, id: &ClientOrderId) -> tessera_execution::Result<Vec<Fill>> {
        let rows = self
            .store
            .paper_fills_of(&self.account, id.as_str())
            .await
            .map_err(broker_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(parse_fill(r).map_err(broker_err)?);
        }
        self.with_unsaved(out, |f| &f.client_order_id == id)
    }

    /// `stored` (sequence order) plus the fills not stored yet that `keep` selects.
    fn with_unsaved(
        &self,
        mut stored: Vec<(u64, Fill)>,
        keep: impl Fn(&Fill) -> bool,
    ) -> tessera_execution::Result<Vec<Fill>> {
        let newest = stored.last().map_or(0, |(seq, _)| *seq);
        stored.extend(
            self.new_fills
                .iter()
                .filter(|(seq, f)| *seq > newest && keep(f))
                .cloned(),
        );
        Ok(stored.into_iter().map(|(_, f)| f).collect())
    }
}

impl Broker for PaperBroker {
    fn name(&self) -> &str {
        "paper"
    }

    async fn submit(
        &mut self,
        order: &Order,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        if self.seen(&order.client_order_id).await? {
            // A broker refuses a client order id it has seen: a resend after a crash is harmless.
            return Ok(vec![BrokerEvent::Rejected {
                id: order.client_order_id.clone(),
                reason: "duplicate client order id".into(),
            }]);
        }
        self.book.open.push(order.clone());
        self.touched.insert(order.client_order_id.clone());
        let mut events = Vec::new();
        if self.latency > 0 {
            self.delayed
                .push((UnixNanos(now.0 + self.latency), order.clone()));
            self.save().await?;
            return Ok(Vec::new());
        }
        self.sim
            .submit(
                order.client_order_id.clone(),
                &intent(order, order.request.quantity),
                now,
                &mut events,
            )
            .map_err(broker_err)?;
        let out = self.translate(events)?;
        self.save().await?;
        Ok(out)
    }

    async fn cancel(
        &mut self,
        id: &ClientOrderId,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        if let Some(k) = self
            .delayed
            .iter()
            .position(|(_, o)| &o.client_order_id == id)
        {
            self.delayed.remove(k);
            self.book.open.retain(|o| &o.client_order_id != id);
            self.touched.insert(id.clone());
            self.save().await?;
            return Ok(vec![BrokerEvent::Cancelled {
                id: id.clone(),
                reason: Some("cancelled before reaching the market".into()),
            }]);
        }
        let mut events = Vec::new();
        self.sim.cancel(id, now, &mut events).map_err(broker_err)?;
        self.finish(events).await
    }

    async fn modify(
        &mut self,
        id: &ClientOrderId,
        change: OrderChange,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        let mut events = Vec::new();
        let m = OrderModify {
            quantity: change.quantity,
            limit_price: change.limit_price,
            stop_price: change.stop_price,
        };
        self.sim
            .modify(id, &m, now, &mut events)
            .map_err(broker_err)?;
        self.finish(events).await
    }

    async fn open_orders(&mut self) -> tessera_execution::Result<Vec<BrokerOrder>> {
        Ok(self
            .book
            .open
            .iter()
            .map(|o| BrokerOrder {
                client_order_id: o.client_order_id.clone(),
                broker_order_id: Some(format!("paper-{}", o.client_order_id)),
                instrument: o.request.instrument,
                status: if o.filled_quantity.is_zero() {
                    OrderStatus::Accepted
                } else {
                    OrderStatus::PartiallyFilled
                },
                filled_quantity: o.filled_quantity,
            })
            .collect())
    }

    async fn lookup(
        &mut self,
        id: &ClientOrderId,
    ) -> tessera_execution::Result<Option<BrokerOrder>> {
        if let Some(o) = self
            .open_orders()
            .await?
            .into_iter()
            .find(|o| &o.client_order_id == id)
        {
            return Ok(Some(o));
        }
        // Finished orders leave only their fills in the book.
        let fills = self.fills_of(id).await?;
        let Some(first) = fills.first() else {
            return Ok(None);
        };
        let mut filled = Quantity::ZERO;
        for f in &fills {
            filled = filled.checked_add(f.quantity)?;
        }
        Ok(Some(BrokerOrder {
            client_order_id: id.clone(),
            broker_order_id: Some(format!("paper-{id}")),
            instrument: first.instrument,
            status: OrderStatus::Filled,
            filled_quantity: filled,
        }))
    }

    async fn fills_since(&mut self, since: UnixNanos) -> tessera_execution::Result<Vec<Fill>> {
        if self.book.dropped_until.is_none_or(|t| t < since) {
            // Every fill at or after `since` is still in memory.
            return Ok(self
                .book
                .recent
                .iter()
                .filter(|(_, f)| f.ts_event >= since)
                .map(|(_, f)| f.clone())
                .collect());
        }
        let rows = self
            .store
            .paper_fills_since(&self.account, since.0)
            .await
            .map_err(broker_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(parse_fill(r).map_err(broker_err)?);
        }
        self.with_unsaved(out, |f| f.ts_event >= since)
    }

    async fn positions(&mut self) -> tessera_execution::Result<Vec<(InstrumentId, Decimal)>> {
        let ledger = self.sim.ledger().map_err(broker_err)?;
        Ok(self
            .instruments
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, ledger.quantity(i)))
            .collect())
    }

    async fn account(&mut self) -> tessera_execution::Result<Account> {
        let ledger = self.sim.ledger().map_err(broker_err)?;
        let mut a = Account::cash("paper", Money::zero(self.cash.currency))?;
        a.leverage = ledger.leverage();
        let cash = ledger.cash();
        a.balances.insert(
            cash.currency,
            tessera_model::Balance {
                currency: cash.currency,
                total: cash.amount,
                locked: Decimal::ZERO,
            },
        );
        Ok(a)
    }

    async fn on_market(
        &mut self,
        update: MarketUpdate<'_>,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        let mut events = Vec::new();
        if !self.delayed.is_empty() {
            self.release_delayed(now, &mut events)?;
        }
        let instrument = match update {
            MarketUpdate::Bar(b) | MarketUpdate::BarProcessed(b) => b.instrument,
            MarketUpdate::Quote(q) => q.instrument,
        };
        let Some(&i) = self.index.get(&instrument) else {
            return self.finish(events).await;
        };
        match update {
            MarketUpdate::Bar(b) => self.sim.on_bar(i, b, &mut events),
            MarketUpdate::BarProcessed(b) => self.sim.on_bar_processed(i, b, &mut events),
            MarketUpdate::Quote(q) => self.sim.on_quote(i, q, &mut events),
        }
        .map_err(broker_err)?;
        self.finish(events).await
    }

    async fn poll_events(&mut self) -> tessera_execution::Result<Vec<BrokerEvent>> {
        Ok(Vec::new())
    }
}
