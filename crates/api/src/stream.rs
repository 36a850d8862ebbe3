//! `GET /api/v1/stream`: live updates as Server-Sent Events.
//!
//! Two sources feed one stream: the store, polled every
//! [`crate::ApiConfig::stream_poll_ms`] for the watched instrument's newest bar
//! and quote (this works under `tessera serve`, where collectors run in other
//! processes and write only to the database), and the in-process broadcast
//! behind [`crate::ApiState::publish`] (which `tessera up` can feed with bars,
//! quotes and job status without waiting for a poll). Besides the watched
//! instrument's bars, quotes and production-model predictions, every poll
//! compares the stored orders, fills and the newest 200 jobs with what this
//! subscriber saw before and sends the changes. Events are named `bar`,
//! `quote`, `prediction`, `order`, `fill` and `job`; their data is JSON. The
//! WebSocket at `/api/v1/ws` (see `ws`) carries the same events.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use tessera_core::UnixNanos;
use tessera_model::{Bar, Fill, InstrumentId, Interval, Order, Quote, StrategyId};
use tessera_storage::{JobFilter, MlPrediction, StoredFill};
use tokio::sync::broadcast;
use utoipa::IntoParams;

use crate::ApiState;
use crate::auth::ReadAccess;
use crate::error::Result;
use crate::market::{BarJson, QuoteJson};
use crate::params::{self, Query};
use crate::trading::{FillJson, OrderJson};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/stream", get(stream_events))
}

/// Something that happened, pushed to live-stream subscribers.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    /// A bar was stored.
    Bar(Bar),
    /// A quote was stored.
    Quote(Quote),
    /// A job changed status.
    Job {
        /// Job id.
        id: String,
        /// Job kind (`backfill`, `backtest`, …).
        kind: String,
        /// New status (`queued`, `running`, `succeeded`, `failed`, `cancelled`).
        status: String,
    },
    /// An order was stored or changed status (broker name, order).
    Order(String, Box<Order>),
    /// A fill was booked (broker name, strategy, fill).
    Fill(String, StrategyId, Box<Fill>),
    /// A model stored a prediction.
    Prediction(Box<MlPrediction>),
}

impl LiveEvent {
    fn instrument(&self) -> Option<InstrumentId> {
        match self {
            Self::Bar(b) => Some(b.instrument),
            Self::Quote(q) => Some(q.instrument),
            Self::Job { .. } | Self::Order(..) | Self::Fill(..) | Self::Prediction(_) => None,
        }
    }

    /// The event's name and JSON data, as sent over SSE (`event:`) and WebSocket (`type`).
    pub(crate) fn to_json(&self) -> (&'static str, serde_json::Value) {
        match self {
            Self::Bar(b) => ("bar", bar_data(b)),
            Self::Quote(q) => ("quote", quote_data(q)),
            Self::Job { id, kind, status } => {
                ("job", json!({"id": id, "kind": kind, "status": status}))
            }
            Self::Order(broker, o) => (
                "order",
                serde_json::to_value(OrderJson::new(broker, o)).unwrap_or_default(),
            ),
            Self::Fill(broker, strategy, f) => (
                "fill",
                serde_json::to_value(FillJson::from(&StoredFill {
                    broker: broker.clone(),
                    strategy: strategy.clone(),
                    fill: (**f).clone(),
                }))
                .unwrap_or_default(),
            ),
            Self::Prediction(p) => (
                "prediction",
                json!({
                    "model": p.execution_id,
                    "symbol": p.symbol,
                    "timestamp": p.ts.to_rfc3339(),
                    "horizon": p.horizon,
                    "value": p.value.is_finite().then_some(p.value),
                }),
            ),
        }
    }
}

fn bar_data(b: &Bar) -> serde_json::Value {
    json!({
        "symbol": b.instrument.symbol.as_str(),
        "venue": b.instrument.venue.as_str(),
        "interval": b.interval.to_string(),
        "bar": BarJson::from(b),
    })
}

fn quote_data(q: &Quote) -> serde_json::Value {
    json!({
        "symbol": q.instrument.symbol.as_str(),
        "venue": q.instrument.venue.as_str(),
        "quote": QuoteJson::from(q),
    })
}

/// Parameters of `GET /api/v1/stream` and `GET /api/v1/ws`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Ticker to watch; without it only platform events (orders, fills, jobs, every pushed event) are sent.
    pub(crate) symbol: Option<String>,
    /// Venue; optional when the symbol is listed on one venue only.
    pub(crate) venue: Option<String>,
    /// Bar interval watched (default `1m`).
    pub(crate) interval: Option<String>,
}

/// One subscriber's view of the platform: polls the store and listens to the broadcast.
pub(crate) struct Watch {
    state: ApiState,
    id: Option<InstrumentId>,
    interval: Interval,
    rx: broadcast::Receiver<LiveEvent>,
    tick: tokio::time::Interval,
    last_bar: Option<UnixNanos>,
    last_quote: Option<UnixNanos>,
    /// Order id → (status, updated_at) last sent; `None` until the first poll set the baseline.
    orders: Option<BTreeMap<String, (String, i64)>>,
    /// Trade ids already seen.
    fills: Option<BTreeSet<(String, String)>>,
    /// Job id → status last seen.
    jobs: Option<BTreeMap<i64, String>>,
    last_prediction: Option<UnixNanos>,
    pending: VecDeque<(&'static str, serde_json::Value)>,
}

impl Watch {
    /// Watch `symbol`/`venue` at `interval` (or only platform events without a symbol).
    pub(crate) async fn new(state: ApiState, q: &StreamQuery) -> Result<Self> {
        let interval = params::interval("interval", q.interval.as_deref(), Interval::M1)?;
        let id = match q.symbol.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(
                params::instrument(&state, Some(s), q.venue.as_deref())
                    .await?
                    .id,
            ),
            None => None,
        };
        let mut tick =
            tokio::time::interval(Duration::from_millis(state.config().stream_poll_ms.max(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Self {
            rx: state.subscribe(),
            state,
            id,
            interval,
            tick,
            last_bar: None,
            last_quote: None,
            orders: None,
            fills: None,
            jobs: None,
            last_prediction: None,
            pending: VecDeque::new(),
        })
    }

    fn push(&mut self, ev: &LiveEvent) {
        self.pending.push_back(ev.to_json());
    }

    async fn poll_market(&mut self) -> tessera_storage::Result<()> {
        let Some(id) = self.id else { return Ok(()) };
        let store = self.state.store().clone();
        if let Some(b) = store.latest_bar(&id, self.interval).await?
            && self.last_bar.is_none_or(|t| b.open_time > t)
        {
            self.last_bar = Some(b.open_time);
            self.push(&LiveEvent::Bar(b));
        }
        if let Some(q) = store.latest_quote(&id).await?
            && self.last_quote.is_none_or(|t| q.ts_event > t)
        {
            self.last_quote = Some(q.ts_event);
            self.push(&LiveEvent::Quote(q));
        }
        // The production model's newest prediction for the watched symbol.
        let sym = id.symbol.to_string();
        let prod = store.production_ml_models().await?;
        if let Some(m) = prod
            .iter()
            .find(|m| m.symbols.split(',').any(|s| s.trim() == sym))
            && let Some(p) = store
                .ml_predictions(&m.execution_id, Some(&sym))
                .await?
                .into_iter()
                .last()
            && self.last_prediction.is_none_or(|t| p.ts > t)
        {
            self.last_prediction = Some(p.ts);
            self.push(&LiveEvent::Prediction(Box::new(p)));
        }
        Ok(())
    }

    /// Orders, fills and jobs written by any process: changes since the previous poll.
    async fn poll_platform(&mut self) -> tessera_storage::Result<()> {
        let store = self.state.store().clone();
        let mut changed = Vec::new();
        let orders = store.orders(None).await?;
        let first = self.orders.is_none();
        let seen = self.orders.get_or_insert_with(BTreeMap::new);
        for o in orders {
            let key = o.order.client_order_id.to_string();
            let now = (o.order.status.to_string(), o.order.updated_at.0);
            if seen.get(&key) != Some(&now) {
                seen.insert(key, now);
                if !first {
                    changed.push(LiveEvent::Order(o.broker, Box::new(o.order)));
                }
            }
        }
        let fills = store.fills().await?;
        let first = self.fills.is_none();
        let seen = self.fills.get_or_insert_with(BTreeSet::new);
        for f in fills {
            let key = (f.broker.clone(), f.fill.trade_id.to_string());
            if seen.insert(key) && !first {
                changed.push(LiveEvent::Fill(f.broker, f.strategy, Box::new(f.fill)));
            }
        }
        let jobs = store
            .list_jobs(&JobFilter {
                status: None,
                job_type: None,
                limit: 200,
            })
            .await?;
        let first = self.jobs.is_none();
        let seen = self.jobs.get_or_insert_with(BTreeMap::new);
        for j in jobs {
            let status = j.status.to_string();
            if seen.get(&j.id) != Some(&status) {
                seen.insert(j.id, status.clone());
                if !first {
                    changed.push(LiveEvent::Job {
                        id: j.id.to_string(),
                        kind: j.job_type,
                        status,
                    });
                }
            }
        }
        for ev in &changed {
            self.push(ev);
        }
        Ok(())
    }

    fn accept(&mut self, ev: &LiveEvent) {
        if let (Some(i), Some(w)) = (ev.instrument(), self.id)
            && i != w
        {
            return;
        }
        match ev {
            LiveEvent::Bar(b) if b.interval == self.interval => {
                self.last_bar = self.last_bar.max(Some(b.open_time));
            }
            LiveEvent::Quote(q) => self.last_quote = self.last_quote.max(Some(q.ts_event)),
            LiveEvent::Order(_, o) => {
                // Remember it so the next poll does not send it again.
                if let Some(seen) = self.orders.as_mut() {
                    seen.insert(
                        o.client_order_id.to_string(),
                        (o.status.to_string(), o.updated_at.0),
                    );
                }
            }
            LiveEvent::Fill(broker, _, f) => {
                if let Some(seen) = self.fills.as_mut() {
                    seen.insert((broker.clone(), f.trade_id.to_string()));
                }
            }
            _ => {}
        }
        self.push(ev);
    }

    /// The next event's name and data.
    pub(crate) async fn next_event(&mut self) -> (&'static str, serde_json::Value) {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return ev;
            }
            tokio::select! {
                _ = self.tick.tick() => {
                    // A transient database error skips one poll; the next one catches up.
                    if let Err(e) = self.poll_market().await {
                        tracing::warn!(error = %e, "live stream poll failed");
                    }
                    if let Err(e) = self.poll_platform().await {
                        tracing::warn!(error = %e, "live stream poll failed");
                    }
                }
                ev = self.rx.recv() => match ev {
                    Ok(ev) => self.accept(&ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.pending.push_back(("lagged", json!({"skipped": n})));
                    }
                    // The sender lives as long as the state; closed only at shutdown.
                    Err(broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                },
            }
        }
    }
}

/// Live bars, quotes, predictions, orders, fills and job status as Server-Sent Events.
#[utoipa::path(get, path = "/api/v1/stream", tag = "live", params(StreamQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "An endless `text/event-stream`: events `bar` ({symbol, venue, interval, bar}), `quote` ({symbol, venue, quote}), `prediction` ({model, symbol, timestamp, horizon, value}), `order` (an order as in /orders), `fill` (a fill as in /fills), `job` ({id, kind, status}); the newest bar, quote and prediction are sent first", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn stream_events(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let watch = Watch::new(state, &q).await?;
    let events = stream::unfold(watch, |mut w| async move {
        let (name, data) = w.next_event().await;
        Some((Ok(Event::default().event(name).data(data.to_string())), w))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
