//! `GET /metrics`: Prometheus (OpenMetrics text) for scrapers.
//!
//! HTTP latency histograms are recorded by the [`track`] middleware into a
//! per-state registry (no globals, so many servers can live in one test
//! process). Gauges that describe stored state — ingest lag per series,
//! series per collector state, jobs by status, orders by status — are computed from the store at scrape time, so they
//! are right even when collectors and workers run in other processes.

use std::fmt::Write as _;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tessera_core::UnixNanos;

use crate::ApiState;
use crate::auth::ReadAccess;
use crate::error::{Error, Result};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/metrics", get(metrics))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The API's own metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    started_at: UnixNanos,
}

impl Metrics {
    pub(crate) fn new(started_at: UnixNanos) -> Self {
        let mut registry = Registry::default();
        let http: Family<HttpLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "tessera_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            http.clone(),
        );
        Self {
            registry,
            http,
            started_at,
        }
    }

    pub(crate) fn started_at(&self) -> UnixNanos {
        self.started_at
    }
}

/// Middleware: time every request under its route template (not its raw path,
/// which would make one series per symbol and leak query strings).
pub(crate) async fn track(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().to_string();
    let t0 = Instant::now();
    let res = next.run(req).await;
    state
        .metrics()
        .http
        .get_or_create(&HttpLabels {
            method,
            route,
            status: res.status().as_u16(),
        })
        .observe(t0.elapsed().as_secs_f64());
    res
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "metrics", security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "OpenMetrics text: HTTP latency histograms, ingest lag per series, series by collector state, jobs by status, orders by status, process health", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn metrics(State(state): State<ApiState>, _auth: ReadAccess) -> Result<Response> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.metrics().registry)
        .map_err(|e| Error::Internal(format!("encoding metrics: {e}")))?;
    let body = text.trim_end().trim_end_matches("# EOF").to_string();
    let mut out = body;
    let now = state.clock().now();
    let status = crate::data::collect_status(&state).await?;
    // Writing to a String cannot fail; the `let _` below ignore that impossible error.
    let _ = writeln!(out, "# TYPE tessera_ingest_lag_seconds gauge");
    let _ = writeln!(
        out,
        "# HELP tessera_ingest_lag_seconds Seconds between the newest stored bar's close and now"
    );
    for s in &status {
        if let Some(lag) = s.lag_seconds {
            let _ = writeln!(
                out,
                "tessera_ingest_lag_seconds{{symbol=\"{}\",venue=\"{}\",interval=\"{}\"}} {lag}",
                escape(&s.symbol),
                escape(&s.venue),
                escape(&s.interval)
            );
        }
    }
    let _ = writeln!(out, "# TYPE tessera_ingest_series gauge");
    let _ = writeln!(
        out,
        "# HELP tessera_ingest_series Stored series by collector state (none = imported, never collected)"
    );
    let mut by_state = std::collections::BTreeMap::<String, u64>::new();
    for s in &status {
        *by_state
            .entry(s.state.clone().unwrap_or_else(|| "none".into()))
            .or_default() += 1;
    }
    for (st, n) in by_state {
        let _ = writeln!(
            out,
            "tessera_ingest_series{{state=\"{}\"}} {n}",
            escape(&st)
        );
    }
    let _ = writeln!(out, "# TYPE tessera_jobs gauge");
    let _ = writeln!(
        out,
        "# HELP tessera_jobs Jobs in the scheduler's queue by status"
    );
    for (st, n) in state.store().job_counts().await? {
        let _ = writeln!(out, "tessera_jobs{{status=\"{st}\"}} {n}");
    }
    let _ = writeln!(out, "# TYPE tessera_orders gauge");
    let _ = writeln!(
        out,
        "# HELP tessera_orders Orders in the order stack by status (every status listed, zeros included)"
    );
    let mut by_status: std::collections::BTreeMap<&str, u64> = tessera_model::OrderStatus::ALL
        .iter()
        .map(|s| (s.as_str(), 0))
        .collect();
    for o in state.store().orders(None).await? {
        *by_status.entry(o.order.status.as_str()).or_default() += 1;
    }
    for (st, n) in by_status {
        let _ = writeln!(out, "tessera_orders{{status=\"{st}\"}} {n}");
    }
    let started = state.metrics().started_at();
    let _ = writeln!(
        out,
        "# TYPE tessera_up gauge\n# HELP tessera_up Whether the API process is serving\ntessera_up 1"
    );
    let _ = writeln!(
        out,
        "# TYPE process_start_time_seconds gauge\n# HELP process_start_time_seconds Start time of the API, Unix seconds\nprocess_start_time_seconds {}",
        started.as_secs()
    );
    let _ = writeln!(
        out,
        "# TYPE process_uptime_seconds gauge\n# HELP process_uptime_seconds Seconds since the API started\nprocess_uptime_seconds {}",
        now.nanos_since(started) / 1_000_000_000
    );
    if let Some(rss) = resident_memory_bytes() {
        let _ = writeln!(
            out,
            "# TYPE process_resident_memory_bytes gauge\n# HELP process_resident_memory_bytes Resident memory\nprocess_resident_memory_bytes {rss}"
        );
    }
    out.push_str("# EOF\n");
    let mut res = out.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(res)
}
