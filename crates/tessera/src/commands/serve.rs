//! `tessera serve`: the HTTP API and dashboard alone (no collectors or
//! schedulers) over the configured database, until Ctrl-C.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use rust_decimal::Decimal;
use tessera_api::{ApiConfig, ApiState, QueueBackfill, StackDesk};
use tessera_core::SystemClock;
use tessera_execution::OrderStack;
use tessera_live::PaperBroker;
use tessera_model::{Currency, Money};
use tessera_risk::RiskEngine;
use tessera_storage::Store;

use super::Ctx;
use crate::config::ApiSection;

/// Flags of `tessera serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (default: `api.bind`, 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<IpAddr>,
    /// Port to listen on; 0 picks a free one (default: `api.port`).
    #[arg(long, value_name = "P")]
    pub(crate) port: Option<u16>,
}

/// The library's settings from the `[api]` section.
pub(crate) fn api_config(s: &ApiSection) -> ApiConfig {
    ApiConfig {
        open_read_on_loopback: s.open_read_on_loopback,
        cors_origins: s
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect(),
        rate_limit_per_minute: s.rate_limit_per_minute,
        body_limit_bytes: usize::try_from(s.body_limit_bytes).unwrap_or(usize::MAX),
        max_page_size: usize::try_from(s.max_page_size).unwrap_or(usize::MAX),
        stream_poll_ms: s.stream_poll_ms,
    }
}

/// The API's state as `serve` and `up` run it: adding an instrument queues
/// the scheduler's `data_backfill` job, and with `api.order_desk = "paper"`
/// orders go through risk and the order stack to the paper account.
///
/// # Errors
/// An unknown `api.order_desk`, invalid `[risk]` or `[paper]` settings, an unreadable paper account.
pub(crate) async fn api_state(ctx: &Ctx, store: &Store) -> Result<ApiState> {
    let backfill = QueueBackfill::new(store.clone(), ctx.config.scheduler.max_attempts);
    let state = ApiState::with_parts(
        store.clone(),
        api_config(&ctx.config.api),
        Arc::new(SystemClock),
        Some(Arc::new(backfill)),
    );
    match ctx.config.api.order_desk.trim() {
        "" | "none" => Ok(state),
        "paper" => Ok(state.with_desk(Arc::new(paper_desk(ctx, store).await?))),
        other => bail!("config key `api.order_desk` = {other:?}: expected \"\" or \"paper\""),
    }
}

async fn paper_desk(ctx: &Ctx, store: &Store) -> Result<StackDesk<PaperBroker>> {
    let instruments = store.list_instruments().await?;
    let ccy = instruments
        .first()
        .map_or_else(|| Currency::new("USD"), |i| Ok(i.quote_currency))?;
    let capital: Decimal = ctx
        .config
        .api
        .order_desk_capital
        .trim()
        .parse()
        .context("config key `api.order_desk_capital`")?;
    let sim = ctx.config.paper.sim_config(Money::new(capital, ccy))?;
    let latency = i64::try_from(ctx.config.paper.latency_ms)
        .unwrap_or(i64::MAX / 1_000_000)
        .saturating_mul(1_000_000);
    let broker = PaperBroker::open(store.clone(), "paper", sim, &instruments, latency).await?;
    let stack = OrderStack::load(store.clone(), "paper", ccy, &instruments).await?;
    let risk = RiskEngine::new(ctx.config.risk.limits()?)?;
    Ok(StackDesk::new(
        stack,
        risk,
        broker,
        Arc::new(SystemClock),
        "api",
    ))
}

pub(crate) async fn run(ctx: &Ctx, args: ServeArgs) -> Result<()> {
    let section = &ctx.config.api;
    let ip: IpAddr = match args.bind {
        Some(ip) => ip,
        None => section.bind.parse().with_context(|| {
            format!(
                "config key `api.bind` = {:?}: expected an IP address",
                section.bind
            )
        })?,
    };
    let addr = SocketAddr::new(ip, args.port.unwrap_or(section.port));
    if !ip.is_loopback() {
        tracing::warn!(%addr, "the API listens beyond this machine; every request needs a token");
    }
    let store = ctx.store().await?;
    let state = api_state(ctx, &store).await?;
    let app = tessera_api::router(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // Scripts wait for this line (and read the port from it when --port 0).
    println!("tessera serve: listening on http://{local} (dashboard /, API /api/v1, docs /docs)");
    tracing::info!(addr = %local, database = %store.url(), "serving API and dashboard");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        // An error installing the handler means no Ctrl-C: serve until killed.
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await
    .context("HTTP server failed")?;
    store.close().await;
    Ok(())
}
