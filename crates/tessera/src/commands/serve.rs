//! `tessera serve`: the HTTP API and dashboard alone (no collectors or
//! schedulers) over the configured database, until Ctrl-C.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result};
use clap::Args;
use tessera_api::{ApiConfig, ApiState};

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
    let state = ApiState::new(store.clone(), api_config(section));
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
