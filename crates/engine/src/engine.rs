//! [`Engine`]: the event loop.
//!
//! Per market event, in this order: due timers fire; the venue sees the
//! event and reports fills of working orders (an order decided on an earlier
//! bar fills at this bar's open); the book marks the instrument; strategies
//! see the event and queue commands, which go to the venue at once; the
//! venue sees that the strategies are done (same-bar close fills); the
//! equity point of the bar is recorded. Venue events are handled as they
//! come, and strategies may react to them with more commands.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use tessera_analysis::{TradeBook, TradeRecord};
use tessera_core::{Clock, SimClock, SystemClock, UnixNanos};
use tessera_model::{ClientOrderId, Fill, Instrument, InstrumentId, Money, StrategyId};
use tessera_strategy::{
    BarHistory, BarValues, Command, Context, NoHistory, PortfolioView, Strategy, TimerEvent,
};

use crate::data::{DataSource, EventKind, Next};
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::venue::{Venue, VenueEvent};

/// A clock the engine can drive: historical clocks jump to each event's time, real ones ignore it.
pub trait EngineClock: Clock {
    /// Time has reached `t` in the event stream.
    fn advance_to(&self, t: UnixNanos);

    /// Whether time passes on its own (wall clock): then timers fire when they
    /// come due even if no market event arrives; on a historical clock they
    /// fire just before the first event at or after their time.
    fn is_realtime(&self) -> bool {
        false
    }
}

impl EngineClock for SimClock {
    #[inline]
    fn advance_to(&self, t: UnixNanos) {
        self.set(t);
    }
}

impl EngineClock for SystemClock {
    fn advance_to(&self, _t: UnixNanos) {}

    fn is_realtime(&self) -> bool {
        true
    }
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineReport {
    /// Label (open time) of each equity point: one per distinct bar label
    /// (empty after [`Engine::set_record_labels`]`(false)`).
    pub timestamps: Vec<UnixNanos>,
    /// Equity after each labelled bar, in the account currency.
    pub equity: Vec<f64>,
    /// Closed round trips.
    pub trades: Vec<TradeRecord>,
    /// Every fill, in order.
    pub fills: Vec<Fill>,
    /// Exact equity at the end.
    pub final_equity: Money,
    /// Exact cash at the end.
    pub final_cash: Money,
    /// Commissions paid on all fills (open trades included).
    pub commissions_paid: Money,
    /// Signed positions at the end, per instrument.
    pub final_positions: Vec<(InstrumentId, Decimal)>,
    /// Orders rejected or cancelled by the venue, with the reason.
    pub refused_orders: Vec<(ClientOrderId, Cow<'static, str>)>,
}

struct Slot {
    id: StrategyId,
    strategy: Box<dyn Strategy>,
    next_order: u64,
    /// The strategy's own book when it trades its own capital beside others
    /// ([`Engine::add_strategy_with_capital`]); `None` = it sees the account's.
    book: Option<Ledger>,
    /// Its orders still working, per instrument.
    open_orders: Vec<usize>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("id", &self.id)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

/// Where each instrument sits in the engine's lists.
#[derive(Debug)]
struct InstrumentIndex {
    ids: Vec<InstrumentId>,
    map: BTreeMap<InstrumentId, usize>,
}

impl InstrumentIndex {
    /// Few instruments (the usual case) are found by comparing interned ids in order, which
    /// is cheaper than a map whose ordering compares their text; many go through the map.
    const SCAN: usize = 8;

    fn new(instruments: &[Instrument]) -> Self {
        let ids: Vec<InstrumentId> = instruments.iter().map(|i| i.id).collect();
        let map = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        Self { ids, map }
    }

    #[inline]
    fn get(&self, id: &InstrumentId) -> Option<usize> {
        if self.ids.len() <= Self::SCAN {
            self.ids.iter().position(|x| x == id)
        } else {
            self.map.get(id).copied()
        }
    }
}

/// The book as strategies see it.
struct Book<'a> {
    ledger: &'a Ledger,
    index: &'a InstrumentIndex,
    open_orders: &'a [usize],
}

impl PortfolioView for Book<'_> {
    fn position(&self, instrument: &InstrumentId) -> Decimal {
        self.index
            .get(instrument)
            .map_or(Decimal::ZERO, |i| self.ledger.quantity(i))
    }
    fn equity(&self) -> f64 {
        self.ledger.equity_f64()
    }
    fn cash(&self) -> Money {
        self.ledger.cash()
    }
    fn open_orders(&self, instrument: &InstrumentId) -> usize {
        self.index
            .get(instrument)
            .map_or(0, |i| self.open_orders[i])
    }
}

/// The event loop, generic over its clock and venue.
#[derive(Debug)]
pub struct Engine<C: EngineClock, V: Venue> {
    clock: C,
    venue: V,
    slots: Vec<Slot>,
    instruments: Vec<Instrument>,
    index: InstrumentIndex,
    ledger: Ledger,
    trades: TradeBook,
    fills: Vec<Fill>,
    /// Which strategy and instrument each open order belongs to.
    /// Hashed, not ordered: every order is inserted, looked up per event and removed, and
    /// ordering ids compares their text.
    order_owner: FxHashMap<ClientOrderId, (usize, usize)>,
    bar_index: Vec<usize>,
    timers: BinaryHeap<Reverse<(UnixNanos, u64, usize, String)>>,
    timer_seq: u64,
    timestamps: Vec<UnixNanos>,
    equity: Vec<f64>,
    refused: Vec<(ClientOrderId, Cow<'static, str>)>,
    commands: Vec<Command>,
    events: Vec<VenueEvent>,
    /// Venue events of the current market event (kept to reuse its allocation).
    step_events: Vec<VenueEvent>,
    equity_before_strategies: bool,
    /// Label of the last equity point.
    last_label: Option<UnixNanos>,
    /// Whether [`EngineReport::timestamps`] is filled.
    record_labels: bool,
    /// Whether quiet bars may be fast-forwarded ([`Engine::set_fast_forward`]).
    fast_forward: bool,
}

impl<C: EngineClock, V: Venue> Engine<C, V> {
    /// An engine trading `instruments` with `cash` at `leverage` on `venue`.
    ///
    /// # Errors
    /// When the venue cannot register the instruments or the ledger refuses them.
    pub fn new(
        clock: C,
        mut venue: V,
        instruments: Vec<Instrument>,
        cash: Money,
        leverage: Decimal,
    ) -> Result<Self> {
        venue.register(&instruments)?;
        let index = InstrumentIndex::new(&instruments);
        let n = instruments.len();
        Ok(Self {
            clock,
            venue,
            slots: Vec::new(),
            ledger: Ledger::new(cash, leverage, &instruments)?,
            instruments,
            index,
            trades: TradeBook::new(),
            fills: Vec::new(),
            order_owner: FxHashMap::default(),
            bar_index: vec![0; n],
            timers: BinaryHeap::new(),
            timer_seq: 0,
            timestamps: Vec::new(),
            equity: Vec::new(),
            refused: Vec::new(),
            commands: Vec::new(),
            events: Vec::new(),
            step_events: Vec::new(),
            equity_before_strategies: false,
            last_label: None,
            record_labels: true,
            fast_forward: true,
        })
    }

    /// Add a strategy under `id` (ids prefix its order ids, so keep them unique).
    /// It sees the account's book: positions, cash and equity of everything
    /// this engine trades.
    pub fn add_strategy(&mut self, id: StrategyId, strategy: Box<dyn Strategy>) {
        self.slots.push(Slot {
            id,
            strategy,
            next_order: 0,
            book: None,
            open_orders: vec![0; self.instruments.len()],
        });
    }

    /// Add a strategy that trades `capital` of its own beside others on the
    /// same account: it sees only its own positions, cash and equity (its
    /// fills, booked from `capital`), so closing "its" position never closes
    /// another strategy's, and sizing from `ctx.equity()` uses its allocation.
    /// The account's book, equity curve and trade list still hold everything.
    /// (Orders sized as a fraction of equity are sized by the venue: the live
    /// venue uses each strategy's capital, the simulator the account's.)
    ///
    /// # Errors
    /// When `capital` is in another currency than the instruments.
    pub fn add_strategy_with_capital(
        &mut self,
        id: StrategyId,
        strategy: Box<dyn Strategy>,
        capital: Money,
    ) -> Result<()> {
        let book = Ledger::new(capital, self.ledger.leverage(), &self.instruments)?;
        self.slots.push(Slot {
            id,
            strategy,
            next_order: 0,
            book: Some(book),
            open_orders: vec![0; self.instruments.len()],
        });
        Ok(())
    }

    /// The book strategy `id` sees, when it has one of its own.
    #[must_use]
    pub fn strategy_book(&self, id: &StrategyId) -> Option<&Ledger> {
        self.slots
            .iter()
            .find(|s| &s.id == id)
            .and_then(|s| s.book.as_ref())
    }

    /// Record each bar's equity point before the strategies act on the bar instead of after.
    ///
    /// Only differs with same-bar close fills: backtesting.py (`trade_on_close=True`) records
    /// equity before the close fill's commission; Tessera by default after it.
    pub fn set_equity_before_strategies(&mut self, yes: bool) {
        self.equity_before_strategies = yes;
    }

    /// Leave [`EngineReport::timestamps`] empty (8 bytes a bar less). For callers
    /// that replay one series and already hold its labels: then the equity
    /// points are exactly one per bar of the series, in order.
    pub fn set_record_labels(&mut self, yes: bool) {
        self.record_labels = yes;
    }

    /// Allow fast-forwarding over quiet bars (the default): when the data source knows its
    /// next bars ([`DataSource::upcoming`]), no timer is set, the venue has no working order
    /// ([`Venue::is_idle`]) and every strategy declares the next bars quiet
    /// ([`Strategy::quiet_bars`]), those bars only get their equity points; strategies skip
    /// them and the venue sees the last one. Results are the same either way (tests run both).
    pub fn set_fast_forward(&mut self, yes: bool) {
        self.fast_forward = yes;
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> &V {
        &self.venue
    }

    /// The engine's book.
    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Largest warm-up among the strategies.
    #[must_use]
    pub fn warmup_bars(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.strategy.warmup_bars())
            .max()
            .unwrap_or(0)
    }

    /// Run a callback of strategy `s` with a fresh context, then route its commands.
    fn call<F>(
        &mut self,
        s: usize,
        history: &dyn BarHistory,
        values: BarValues,
        bar_index: usize,
        f: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut dyn Strategy, &mut Context<'_>) -> tessera_strategy::Result<()>,
    {
        let now = self.clock.now();
        let Slot {
            id,
            strategy,
            next_order,
            book,
            open_orders,
        } = &mut self.slots[s];
        let view = Book {
            ledger: book.as_ref().unwrap_or(&self.ledger),
            index: &self.index,
            open_orders,
        };
        let mut ctx = Context::new(
            now,
            id,
            &view,
            history,
            values,
            bar_index,
            &mut self.commands,
            next_order,
        );
        f(strategy.as_mut(), &mut ctx).map_err(|source| Error::Strategy {
            strategy: id.to_string(),
            source,
        })?;
        if !self.commands.is_empty() {
            self.route_commands(s)?;
        }
        Ok(())
    }

    fn route_commands(&mut self, s: usize) -> Result<()> {
        let now = self.clock.now();
        // Work on the buffers' own allocations and hand them back afterwards:
        // an order must not cost a fresh `Vec` per command and per event batch.
        let mut commands = std::mem::take(&mut self.commands);
        for c in commands.drain(..) {
            let mut events = std::mem::take(&mut self.events);
            match c {
                Command::Submit { id, intent } => {
                    let i = self.index.get(&intent.instrument).unwrap_or(usize::MAX);
                    if let Some(c) = self.slots[s].open_orders.get_mut(i) {
                        *c += 1;
                    }
                    self.order_owner.insert(id.clone(), (s, i));
                    self.venue.submit(id, &intent, now, &mut events)?;
                }
                Command::Cancel { id } => self.venue.cancel(&id, now, &mut events)?,
                Command::Modify { id, change } => {
                    self.venue.modify(&id, &change, now, &mut events)?
                }
                Command::SetTimer { at, name } => {
                    self.timer_seq += 1;
                    self.timers.push(Reverse((at, self.timer_seq, s, name)));
                }
            }
            self.handle_venue_events(&mut events)?;
            if self.events.capacity() < events.capacity() {
                self.events = events;
            }
        }
        if self.commands.capacity() < commands.capacity() {
            self.commands = commands;
        }
        Ok(())
    }

    /// Handle and empty `events` (strategies may react with more commands).
    fn handle_venue_events(&mut self, events: &mut Vec<VenueEvent>) -> Result<()> {
        let mut batch = std::mem::take(events);
        for ev in batch.drain(..) {
            match ev {
                VenueEvent::Restored {
                    instrument,
                    strategy,
                    fill,
                } => {
                    if let Some(slot) = self.slots.iter_mut().find(|s| s.id == strategy)
                        && let Some(book) = slot.book.as_mut()
                    {
                        book.apply_fill(instrument, &fill)?;
                    }
                    self.book_fill(instrument, &fill)?;
                    self.fills.push(fill);
                }
                VenueEvent::Fill { instrument, fill } => {
                    let owner = self.order_owner.get(&fill.client_order_id).map(|&(s, _)| s);
                    if let Some(book) = owner.and_then(|s| self.slots[s].book.as_mut()) {
                        book.apply_fill(instrument, &fill)?;
                    }
                    let bar = self.book_fill(instrument, &fill)?;
                    if let Some(s) = owner {
                        self.call(s, &NoHistory, BarValues::default(), bar, |st, ctx| {
                            st.on_fill(ctx, &fill)
                        })?;
                    }
                    self.fills.push(fill);
                }
                VenueEvent::Update(u) => {
                    let owner = self.order_owner.get(&u.client_order_id).copied();
                    if u.status.is_terminal() {
                        if let Some((s, i)) = owner
                            && let Some(c) = self.slots[s].open_orders.get_mut(i)
                        {
                            *c = c.saturating_sub(1);
                        }
                        self.order_owner.remove(&u.client_order_id);
                        if matches!(
                            u.status,
                            tessera_model::OrderStatus::Rejected
                                | tessera_model::OrderStatus::Cancelled
                                | tessera_model::OrderStatus::Expired
                        ) {
                            self.refused.push((
                                u.client_order_id.clone(),
                                u.reason.clone().unwrap_or_default(),
                            ));
                        }
                    }
                    if let Some((s, i)) = owner {
                        let bar = self.bar_index.get(i).map_or(0, |b| b.saturating_sub(1));
                        self.call(s, &NoHistory, BarValues::default(), bar, |st, ctx| {
                            st.on_order_update(ctx, &u)
                        })?;
                    }
                }
            }
        }
        if events.capacity() < batch.capacity() {
            *events = batch;
        }
        Ok(())
    }

    /// Book a fill in the account's ledger and trade list; returns the bar index it belongs to.
    fn book_fill(&mut self, instrument: usize, fill: &Fill) -> Result<usize> {
        self.ledger.apply_fill(instrument, fill)?;
        let mult = self
            .instruments
            .get(instrument)
            .map_or(Decimal::ONE, |i| i.multiplier);
        let bar = self
            .bar_index
            .get(instrument)
            .map_or(0, |b| b.saturating_sub(1));
        self.trades.on_fill(
            fill.instrument,
            fill.side,
            fill.quantity,
            fill.price,
            fill.commission.amount,
            fill.ts_event,
            bar,
            mult,
        )?;
        Ok(bar)
    }

    /// Fire the timers due by `until`, in time order; after the timers of one instant the
    /// venue hears that the strategies are done ([`Venue::on_event_processed`]).
    fn fire_timers(&mut self, until: UnixNanos) -> Result<()> {
        while let Some(Reverse((at, _, _, _))) = self.timers.peek() {
            if *at > until {
                break;
            }
            let Some(Reverse((at, _, s, name))) = self.timers.pop() else {
                break;
            };
            self.clock.advance_to(at);
            let t = TimerEvent { name, at };
            self.call(s, &NoHistory, BarValues::default(), 0, |st, ctx| {
                st.on_timer(ctx, &t)
            })?;
            let same_instant = self
                .timers
                .peek()
                .is_some_and(|Reverse((next, ..))| *next == at);
            if !same_instant {
                self.event_processed(at)?;
            }
        }
        Ok(())
    }

    /// Tell the venue the strategies have acted on a quote or timers, and handle what it reports.
    fn event_processed(&mut self, now: UnixNanos) -> Result<()> {
        let mut events = std::mem::take(&mut self.events);
        self.venue.on_event_processed(now, &mut events)?;
        if !events.is_empty() {
            self.handle_venue_events(&mut events)?;
        }
        if self.events.capacity() < events.capacity() {
            self.events = events;
        }
        Ok(())
    }

    /// One closed bar: venue matching, mark, strategies, close fills, equity point.
    #[inline]
    fn on_bar(
        &mut self,
        i: usize,
        bar: &tessera_model::Bar,
        values: BarValues,
        history: &dyn BarHistory,
        events: &mut Vec<VenueEvent>,
    ) -> Result<()> {
        self.bar_index[i] += 1;
        self.venue.on_bar(i, bar, events)?;
        if !events.is_empty() {
            self.handle_venue_events(events)?;
        }
        self.ledger.mark(i, bar.close, values.close);
        for slot in &mut self.slots {
            if let Some(book) = slot.book.as_mut() {
                book.mark(i, bar.close, values.close);
            }
        }
        let early = self
            .equity_before_strategies
            .then(|| self.ledger.equity_f64());
        let bi = self.bar_index[i] - 1;
        for s in 0..self.slots.len() {
            self.call(s, history, values, bi, |st, ctx| st.on_bar(ctx, bar))?;
        }
        self.venue.on_bar_processed(i, bar, events)?;
        if !events.is_empty() {
            self.handle_venue_events(events)?;
        }
        let e = early.unwrap_or_else(|| self.ledger.equity_f64());
        if self.last_label == Some(bar.open_time) {
            if let Some(last) = self.equity.last_mut() {
                *last = e;
            }
        } else {
            self.last_label = Some(bar.open_time);
            if self.record_labels {
                self.timestamps.push(bar.open_time);
            }
            self.equity.push(e);
        }
        Ok(())
    }

    /// Pass over the quiet bars ahead, if any (see [`Engine::set_fast_forward`]); returns
    /// whether it did.
    fn fast_forward<D: DataSource + ?Sized>(&mut self, data: &mut D) -> Result<bool> {
        if !self.fast_forward
            || self.slots.is_empty()
            || !self.timers.is_empty()
            || !self.venue.is_idle()
        {
            return Ok(false);
        }
        let Some(up) = data.upcoming() else {
            return Ok(false);
        };
        let i = up.instrument;
        let Some(instrument) = self.instruments.get(i).map(|inst| inst.id) else {
            return Ok(false);
        };
        let from = self.bar_index[i];
        let mut n = up.series.len().saturating_sub(up.next);
        for slot in &self.slots {
            n = n.min(slot.strategy.quiet_bars(&instrument, from, n));
            if n == 0 {
                return Ok(false);
            }
        }
        // Equity points as `on_bar` records them: positions are unchanged, only the mark moves.
        let series = up.series;
        let range = up.next..up.next + n;
        for (j, close) in series.closes_f64_in(range.clone()).enumerate() {
            let j = range.start + j;
            self.ledger.mark_f64(i, close);
            let e = self.ledger.equity_f64();
            let label = UnixNanos(series.open_time[j]);
            if self.last_label == Some(label) {
                if let Some(last) = self.equity.last_mut() {
                    *last = e;
                }
            } else {
                self.last_label = Some(label);
                if self.record_labels {
                    self.timestamps.push(label);
                }
                self.equity.push(e);
            }
        }
        data.skip(n);
        self.bar_index[i] += n;
        for slot in &mut self.slots {
            slot.strategy.skip_bars(&instrument, from, n);
        }
        // The last bar as every other part of the engine would have left it.
        let Some(bar) = data.bar(i) else {
            return Err(Error::Data(format!(
                "source skipped bars of instrument {i} it does not hold"
            )));
        };
        let values = data.values(i);
        self.clock.advance_to(bar.close_time());
        self.ledger.mark(i, bar.close, values.close);
        for slot in &mut self.slots {
            if let Some(book) = slot.book.as_mut() {
                book.mark(i, bar.close, values.close);
            }
        }
        let mut events = std::mem::take(&mut self.step_events);
        self.venue.on_bar(i, bar, &mut events)?;
        self.venue.on_bar_processed(i, bar, &mut events)?;
        if !events.is_empty() {
            self.handle_venue_events(&mut events)?;
        }
        self.step_events = events;
        Ok(true)
    }

    /// Replay `data` to the end and report.
    ///
    /// # Errors
    /// The first strategy, venue or bookkeeping error; the run stops there.
    pub fn run<D: DataSource>(mut self, data: &mut D) -> Result<EngineReport> {
        self.begin(data)?;
        let realtime = self.clock.is_realtime();
        loop {
            if !realtime && self.fast_forward(data)? {
                continue;
            }
            let next = match self.timers.peek() {
                Some(Reverse((at, ..))) if realtime => data.advance_until(*at),
                _ => data.advance().map_or(Next::End, Next::Event),
            };
            match next {
                Next::Event(kind) => self.step(data, kind)?,
                Next::Idle => self.fire_timers(self.clock.now())?,
                Next::End => break,
            }
        }
        self.finish()
    }

    /// Check `data` against the engine's instruments, start the strategies and size the curves.
    /// With [`Engine::step`] and [`Engine::finish`] this lets one caller drive several engines
    /// over one data source in lockstep (each bar decoded once for all of them; no fast-forward).
    ///
    /// # Errors
    /// Other instruments than the engine's; a strategy's `on_start` error.
    pub fn begin<D: DataSource + ?Sized>(&mut self, data: &D) -> Result<()> {
        if data
            .instruments()
            .iter()
            .map(|i| i.id)
            .ne(self.instruments.iter().map(|i| i.id))
        {
            return Err(Error::Data(
                "the data source's instruments differ from the engine's".into(),
            ));
        }
        for s in 0..self.slots.len() {
            self.call(s, &NoHistory, BarValues::default(), 0, |st, ctx| {
                st.on_start(ctx)
            })?;
        }
        let hint = data.remaining_hint();
        if self.record_labels {
            self.timestamps.reserve(hint);
        }
        self.equity.reserve(hint);
        Ok(())
    }

    /// Process the event `data` has just advanced to (timers due before it fire first).
    ///
    /// # Errors
    /// The first strategy, venue or bookkeeping error.
    pub fn step<D: DataSource + ?Sized>(&mut self, data: &D, kind: EventKind) -> Result<()> {
        let mut events = std::mem::take(&mut self.step_events);
        match kind {
            EventKind::Bar(i) => {
                let bar = data.bar(i).ok_or_else(|| {
                    Error::Data(format!(
                        "source announced a bar of instrument {i} it does not hold"
                    ))
                })?;
                let t = bar.close_time();
                if !self.timers.is_empty() {
                    self.fire_timers(t)?;
                }
                self.clock.advance_to(t);
                self.on_bar(i, bar, data.values(i), data.history(i), &mut events)?;
            }
            EventKind::Quote(i) => {
                let quote = *data.quote(i).ok_or_else(|| {
                    Error::Data(format!(
                        "source announced a quote of instrument {i} it does not hold"
                    ))
                })?;
                let t = quote.ts_event;
                if !self.timers.is_empty() {
                    self.fire_timers(t)?;
                }
                self.clock.advance_to(t);
                self.venue.on_quote(i, &quote, &mut events)?;
                if !events.is_empty() {
                    self.handle_venue_events(&mut events)?;
                }
                let mid = tessera_model::Price::new(quote.mid())?;
                let mid_f64 = mid.to_f64();
                self.ledger.mark(i, mid, mid_f64);
                for slot in &mut self.slots {
                    if let Some(book) = slot.book.as_mut() {
                        book.mark(i, mid, mid_f64);
                    }
                }
                for s in 0..self.slots.len() {
                    self.call(
                        s,
                        data.history(i),
                        BarValues::default(),
                        self.bar_index[i].saturating_sub(1),
                        |st, ctx| st.on_quote(ctx, &quote),
                    )?;
                }
                self.event_processed(t)?;
            }
        }
        self.step_events = events;
        Ok(())
    }

    /// Stop the strategies and report.
    ///
    /// # Errors
    /// A strategy's `on_stop` error.
    pub fn finish(mut self) -> Result<EngineReport> {
        for s in 0..self.slots.len() {
            self.call(s, &NoHistory, BarValues::default(), 0, |st, ctx| {
                st.on_stop(ctx)
            })?;
        }
        let final_positions = self
            .instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.id, self.ledger.quantity(i)))
            .collect();
        Ok(EngineReport {
            timestamps: self.timestamps,
            equity: self.equity,
            trades: self.trades.into_closed(),
            fills: self.fills,
            final_equity: self.ledger.equity(),
            final_cash: self.ledger.cash(),
            commissions_paid: self.ledger.commissions(),
            final_positions,
            refused_orders: self.refused,
        })
    }
}
