//! `GET /api/v1/stream`: live updates as Server-Sent Events.
//!
//! Two sources feed one stream: the store, polled every
//! [`crate::ApiConfig::stream_poll_ms`] for the watched instrument's newest bar
//! and quote (this works under `tessera serve`, where collectors run in other
//! processes and write only to the database), and the in-process broadcast
//! behind [`crate::ApiState::publish`] (which `tessera up` can feed with bars,
//! quotes and job status without waiting for a poll). Events are named `bar`,
//! `quote` and `job`; their data is JSON.

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
use tessera_model::{Bar, InstrumentId, Interval, Quote};
use tokio::sync::broadcast;
use utoipa::IntoParams;

use crate::ApiState;
use crate::auth::ReadAccess;
use crate::error::Result;
use crate::market::{BarJson, QuoteJson};
use crate::params::{self, Query};

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
}

impl LiveEvent {
    fn instrument(&self) -> Option<InstrumentId> {
        match self {
            Self::Bar(b) => Some(b.instrument),
            Self::Quote(q) => Some(q.instrument),
            Self::Job { .. } => None,
        }
    }

    fn to_sse(&self) -> Event {
        let (name, data) = match self {
            Self::Bar(b) => ("bar", bar_data(b)),
            Self::Quote(q) => ("quote", quote_data(q)),
            Self::Job { id, kind, status } => {
                ("job", json!({"id": id, "kind": kind, "status": status}))
            }
        };
        Event::default().event(name).data(data.to_string())
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

/// Parameters of `GET /api/v1/stream`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Ticker to watch; without it only pushed events (jobs, every instrument) are sent.
    symbol: Option<String>,
    /// Venue; optional when the symbol is listed on one venue only.
    venue: Option<String>,
    /// Bar interval watched (default `1m`).
    interval: Option<String>,
}

struct Watch {
    state: ApiState,
    id: Option<InstrumentId>,
    interval: Interval,
    rx: broadcast::Receiver<LiveEvent>,
    tick: tokio::time::Interval,
    last_bar: Option<UnixNanos>,
    last_quote: Option<UnixNanos>,
    pending: Vec<Event>,
}

impl Watch {
    async fn poll_store(&mut self) {
        let Some(id) = self.id else { return };
        let store = self.state.store();
        match store.latest_bar(&id, self.interval).await {
            Ok(Some(b)) if self.last_bar.is_none_or(|t| b.open_time > t) => {
                self.last_bar = Some(b.open_time);
                self.pending.push(LiveEvent::Bar(b).to_sse());
            }
            Ok(_) => {}
            // A transient database error skips one poll; the next one catches up.
            Err(e) => tracing::warn!(error = %e, "live stream poll failed"),
        }
        match store.latest_quote(&id).await {
            Ok(Some(q)) if self.last_quote.is_none_or(|t| q.ts_event > t) => {
                self.last_quote = Some(q.ts_event);
                self.pending.push(LiveEvent::Quote(q).to_sse());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "live stream poll failed"),
        }
    }

    fn accept(&mut self, ev: &LiveEvent) {
        match (ev.instrument(), self.id) {
            (Some(i), Some(w)) if i != w => {}
            _ => {
                match ev {
                    LiveEvent::Bar(b) if b.interval == self.interval => {
                        self.last_bar = self.last_bar.max(Some(b.open_time));
                    }
                    LiveEvent::Quote(q) => self.last_quote = self.last_quote.max(Some(q.ts_event)),
                    _ => {}
                }
                self.pending.push(ev.to_sse());
            }
        }
    }

    async fn next_event(&mut self) -> Event {
        loop {
            if !self.pending.is_empty() {
                return self.pending.remove(0);
            }
            tokio::select! {
                _ = self.tick.tick() => self.poll_store().await,
                ev = self.rx.recv() => match ev {
                    Ok(ev) => self.accept(&ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.pending.push(Event::default().event("lagged").data(json!({"skipped": n}).to_string()));
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

/// Live bars, quotes and job status as Server-Sent Events.
#[utoipa::path(get, path = "/api/v1/stream", tag = "live", params(StreamQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "An endless `text/event-stream`: events `bar` ({symbol, venue, interval, bar}), `quote` ({symbol, venue, quote}), `job` ({id, kind, status}); the newest bar and quote are sent first", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn stream_events(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
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
    let watch = Watch {
        rx: state.subscribe(),
        state,
        id,
        interval,
        tick,
        last_bar: None,
        last_quote: None,
        pending: Vec::new(),
    };
    let events = stream::unfold(watch, |mut w| async move {
        let ev = w.next_event().await;
        Some((Ok(ev), w))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
