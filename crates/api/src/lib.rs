//! Tessera's HTTP API and web dashboard.
//!
//! [`router`] builds the whole HTTP surface over a [`tessera_storage::Store`]:
//!
//! * `/api/v1/…` — JSON resources (health, instruments, bars, quotes, data
//!   status and gaps, jobs, backtests, tokens), CSV for bars, a Server-Sent-Events stream of new
//!   bars and quotes, errors as RFC 9457 problem details;
//! * `/api/v1/openapi.json` — the OpenAPI 3.1 document, generated from the
//!   handlers' annotations (utoipa), and `/docs`, a page that renders it;
//! * `/metrics` — Prometheus text;
//! * `/` — the dashboard, plain HTML/JS/CSS embedded in the binary.
//!
//! The router holds no globals: everything lives in [`ApiState`], so tests
//! build as many independent servers as they like and drive them in process
//! (`tower::ServiceExt::oneshot`) or on `127.0.0.1:0`. `tessera serve` and
//! `tessera up` both call [`router`]; `up` can also push events into
//! [`ApiState::publish`] for the live stream.

pub mod auth;
mod backtests;
mod dashboard;
mod data;
pub mod desk;
pub mod error;
mod health;
mod instruments;
mod jobs;
mod market;
mod metrics;
mod models;
mod openapi;
pub mod params;
mod schedules;
mod stream;
mod systems;
mod tokens;
mod trading;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use futures_util::future::BoxFuture;
use tessera_core::{Clock, SystemClock};
use tessera_model::{InstrumentId, Interval};
use tessera_storage::Store;
use tokio::sync::broadcast;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use auth::{Caller, GeneratedToken, Scope, generate_token, hash_token};
pub use desk::{DeskError, OrderDesk, StackDesk, Submitted};
pub use error::{Error, Problem, Result};
pub use openapi::openapi_json;
pub use stream::LiveEvent;

/// Request bodies larger than this are refused with 413 unless configured otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Settings of the HTTP surface (the binary fills these from `[api]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// Allow reads without a token from loopback peers (127.0.0.1, ::1).
    pub open_read_on_loopback: bool,
    /// Origins allowed by CORS; empty turns CORS off (no headers sent).
    pub cors_origins: Vec<String>,
    /// Requests per minute per token (or per address for anonymous reads); 0 = unlimited.
    pub rate_limit_per_minute: u32,
    /// Largest accepted request body, bytes.
    pub body_limit_bytes: usize,
    /// Largest `limit` a page may ask for.
    pub max_page_size: usize,
    /// How often the live stream polls the store for new bars and quotes, milliseconds.
    pub stream_poll_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            open_read_on_loopback: false,
            cors_origins: Vec::new(),
            rate_limit_per_minute: 600,
            body_limit_bytes: DEFAULT_BODY_LIMIT,
            max_page_size: 10_000,
            stream_poll_ms: 1000,
        }
    }
}

/// Something that starts collecting a newly added instrument's history
/// (the scheduler's backfill job, once the platform runs one).
pub trait BackfillStarter: Send + Sync + std::fmt::Debug {
    /// Start (enqueue) the backfill of `id` at `interval`; returns a job reference to show.
    ///
    /// # Errors
    /// A message for the client when the job cannot be started.
    fn start_backfill(
        &self,
        id: InstrumentId,
        interval: Interval,
    ) -> BoxFuture<'_, std::result::Result<String, String>>;
}

/// [`BackfillStarter`] that queues the scheduler's `data_backfill` job for
/// the new instrument (its workers — `tessera up` or `tessera worker` — run it).
#[derive(Clone, Debug)]
pub struct QueueBackfill {
    store: Store,
    max_attempts: u32,
}

impl QueueBackfill {
    /// Queue backfill jobs in `store`, each allowed `max_attempts` attempts.
    #[must_use]
    pub fn new(store: Store, max_attempts: u32) -> Self {
        Self {
            store,
            max_attempts: max_attempts.max(1),
        }
    }
}

/// Job type of the scheduler's backfill job.
pub const BACKFILL_JOB: &str = "data_backfill";

impl BackfillStarter for QueueBackfill {
    fn start_backfill(
        &self,
        id: InstrumentId,
        interval: Interval,
    ) -> BoxFuture<'_, std::result::Result<String, String>> {
        Box::pin(async move {
            let params = serde_json::json!({
                "symbols": [id.symbol.as_str()],
                "venue": id.venue.as_str(),
                "interval": interval.to_string(),
            });
            let registry = tessera_scheduler::Registry::builtin();
            let params = registry
                .validate(BACKFILL_JOB, &params)
                .map_err(|e| e.to_string())?;
            let mut job = tessera_storage::NewJob::new(BACKFILL_JOB, params.to_string());
            job.max_attempts = self.max_attempts;
            let job_id = self
                .store
                .enqueue_job(&job)
                .await
                .map_err(|e| e.to_string())?;
            Ok(job_id.to_string())
        })
    }
}

#[derive(Debug)]
struct Inner {
    store: Store,
    config: ApiConfig,
    clock: Arc<dyn Clock>,
    guard: auth::Guard,
    metrics: metrics::Metrics,
    events: broadcast::Sender<LiveEvent>,
    backfill: Option<Arc<dyn BackfillStarter>>,
    desk: Option<Arc<dyn OrderDesk>>,
}

/// Everything handlers share; cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiState {
    inner: Arc<Inner>,
}

impl ApiState {
    /// State over `store` with `config`, the system clock and no backfill starter.
    #[must_use]
    pub fn new(store: Store, config: ApiConfig) -> Self {
        Self::with_parts(store, config, Arc::new(SystemClock), None)
    }

    /// State with an explicit clock (for lag and uptime) and backfill starter.
    #[must_use]
    pub fn with_parts(
        store: Store,
        config: ApiConfig,
        clock: Arc<dyn Clock>,
        backfill: Option<Arc<dyn BackfillStarter>>,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                metrics: metrics::Metrics::new(clock.now()),
                store,
                config,
                clock,
                guard: auth::Guard::default(),
                events,
                backfill,
                desk: None,
            }),
        }
    }

    /// The same state with `desk` routing orders submitted over the API
    /// (call before [`router`]; clones made earlier keep no desk).
    #[must_use]
    pub fn with_desk(mut self, desk: Arc<dyn OrderDesk>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.desk = Some(desk);
        } else {
            let i = &self.inner;
            self = Self {
                inner: Arc::new(Inner {
                    store: i.store.clone(),
                    config: i.config.clone(),
                    clock: i.clock.clone(),
                    guard: auth::Guard::default(),
                    metrics: metrics::Metrics::new(i.clock.now()),
                    events: i.events.clone(),
                    backfill: i.backfill.clone(),
                    desk: Some(desk),
                }),
            };
        }
        self
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    pub(crate) fn guard(&self) -> &auth::Guard {
        &self.inner.guard
    }

    pub(crate) fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    pub(crate) fn backfill(&self) -> Option<&Arc<dyn BackfillStarter>> {
        self.inner.backfill.as_ref()
    }

    pub(crate) fn desk(&self) -> Option<&Arc<dyn OrderDesk>> {
        self.inner.desk.as_ref()
    }

    /// Push an event to every live-stream subscriber (for an in-process feed such as `tessera up`).
    /// Returns how many subscribers received it.
    pub fn publish(&self, event: LiveEvent) -> usize {
        // No subscriber is not an error: nobody is watching right now.
        self.inner.events.send(event).unwrap_or(0)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.inner.events.subscribe()
    }
}

/// The whole HTTP surface: API, OpenAPI document, docs page, metrics and dashboard.
pub fn router(state: ApiState) -> Router {
    let cfg = state.config().clone();
    let api = Router::new()
        .merge(health::routes())
        .merge(instruments::routes())
        .merge(market::routes())
        .merge(data::routes())
        .merge(tokens::routes())
        .merge(jobs::routes())
        .merge(backtests::routes())
        .merge(trading::routes())
        .merge(models::routes())
        .merge(schedules::routes())
        .merge(systems::routes())
        .merge(stream::routes())
        .merge(ws::routes())
        .merge(openapi::routes());
    let mut app = Router::new()
        .nest("/api/v1", api)
        .merge(metrics::routes())
        .merge(dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(cfg.body_limit_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    if !cfg.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = cfg
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
                .max_age(Duration::from_secs(600)),
        );
    }
    app
}

async fn not_found(uri: axum::http::Uri) -> Error {
    Error::NotFound(format!("no resource at {}", uri.path()))
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
