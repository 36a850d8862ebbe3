//! `tessera up`: the whole platform in one process — database, scheduler,
//! workers and the continuous processes this build has — until Ctrl-C or SIGTERM.
//!
//! Every continuous process is a [`tessera_scheduler::Process`] added to the
//! [`Supervisor`] in [`run`]: the scheduler, a worker, the market data stream
//! and the API with the dashboard on `--bind`:`--port`. On the first start
//! in a folder without a config file the database gets a demo market: three
//! symbols of the simulated venue, backfilled and then streamed live. (The
//! demo's model and paper trader are not started by `up` yet.)

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use tessera_core::SystemClock;
use tessera_scheduler::registry::BoxFuture;
use tessera_scheduler::{
    Process, RestartPolicy, Scheduler, SchedulerConfig, SchedulerProcess, Supervisor, Worker,
    WorkerProcess,
};
use tokio::sync::watch;

use super::Ctx;
use super::jobs::{identity, registry, worker_config};
use super::worker::NamedWorker;

/// `tessera up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Address the API and dashboard listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) bind: String,
    /// Port of the API and dashboard.
    #[arg(long, default_value_t = 8080)]
    pub(crate) port: u16,
}

/// Resolve when the process is asked to stop (Ctrl-C or SIGTERM).
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                // Without a SIGTERM handler, Ctrl-C still stops us gracefully.
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        // If the handler cannot be installed the platform runs until killed.
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `tessera data stream` in a child process, restarted by the supervisor.
#[derive(Debug)]
struct DataStream {
    config: Option<std::path::PathBuf>,
}

impl Process for DataStream {
    fn name(&self) -> &str {
        "stream:data"
    }
    fn kind(&self) -> &str {
        "stream"
    }
    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut cmd = tokio::process::Command::new(exe);
            if let Some(c) = &self.config {
                cmd.arg("--config").arg(c);
            }
            let mut child = cmd
                .args(["data", "stream"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start tessera data stream: {e}"))?;
            tokio::select! {
                status = child.wait() => Err(format!("tessera data stream exited: {}", status.map_or_else(|e| e.to_string(), |s| s.to_string()))),
                () = async {
                    // A closed channel means the supervisor is gone: stop as well.
                    let _ = shutdown.wait_for(|v| *v).await;
                } => {
                    // Ask it to flush and record its cursors, like Ctrl-C would.
                    if let Some(pid) = child.id() {
                        let _ = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
                    }
                    let _ = child.wait().await;
                    Ok(())
                }
            }
        })
    }
}

/// The HTTP API and dashboard, served until the supervisor stops.
#[derive(Debug)]
struct ApiServer {
    state: tessera_api::ApiState,
    addr: SocketAddr,
}

impl Process for ApiServer {
    fn name(&self) -> &str {
        "server:api"
    }
    fn kind(&self) -> &str {
        "server"
    }
    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let listener = tokio::net::TcpListener::bind(self.addr)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", self.addr))?;
            tracing::info!(addr = %self.addr, "serving API and dashboard");
            let app = tessera_api::router(self.state.clone());
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                // A closed channel means the supervisor is gone: stop as well.
                let _ = shutdown.wait_for(|v| *v).await;
            })
            .await
            .map_err(|e| format!("HTTP server failed: {e}"))
        })
    }
}

/// Symbols of the demo market on the simulated venue.
const DEMO_SYMBOLS: &[&str] = &["BTCUSDT", "ETHUSDT", "SOLUSDT"];

/// First start without a config file on an empty database: register the demo
/// market (`tessera data add SYMBOL --venue sim`), which the data stream then
/// backfills and follows live.
async fn seed_demo_market(ctx: &Ctx, store: &tessera_storage::Store) -> Result<()> {
    let has_config = ctx.global.config.is_some() || Path::new("tessera.toml").exists();
    if has_config || !store.list_instruments().await?.is_empty() {
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find the tessera executable")?;
    for sym in DEMO_SYMBOLS {
        let out = tokio::process::Command::new(&exe)
            .args(["data", "add", sym, "--venue", "sim"])
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("cannot run tessera data add {sym}"))?;
        if !out.status.success() {
            anyhow::bail!(
                "demo market: tessera data add {sym} --venue sim failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    tracing::info!(symbols = ?DEMO_SYMBOLS, "demo market registered on the simulated venue");
    Ok(())
}

pub(crate) async fn run(ctx: &Ctx, a: UpArgs) -> Result<()> {
    std::fs::create_dir_all(&ctx.config.data_dir).with_context(|| {
        format!(
            "cannot create the data folder {}",
            ctx.config.data_dir.display()
        )
    })?;
    let store = ctx.store().await?;
    seed_demo_market(ctx, &store).await?;
    let ip: IpAddr = a
        .bind
        .parse()
        .with_context(|| format!("--bind {:?}: expected an IP address", a.bind))?;
    let api_addr = SocketAddr::new(ip, a.port);
    let schedules = super::schedule::effective(ctx)?;
    let id = identity();
    let clock = Arc::new(SystemClock);
    let s = &ctx.config.scheduler;
    let scheduler = Scheduler::new(
        store.clone(),
        clock.clone(),
        schedules,
        SchedulerConfig {
            max_attempts: s.max_attempts.max(1),
            ..SchedulerConfig::default()
        },
        id.clone(),
    );
    scheduler.register().await?;
    let worker = Worker::new(
        store.clone(),
        Arc::new(registry(ctx)),
        clock.clone(),
        worker_config(ctx, None),
        id.clone(),
    );
    let mut sup = Supervisor::new(
        store.clone(),
        clock.clone(),
        RestartPolicy::default(),
        id.clone(),
    );
    sup.add(Arc::new(SchedulerProcess(scheduler)));
    sup.add(Arc::new(NamedWorker(
        format!("worker:{id}"),
        WorkerProcess(worker),
    )));
    if !store.list_cursors().await?.is_empty() {
        sup.add(Arc::new(DataStream {
            config: ctx.global.config.clone(),
        }));
    }
    sup.add(Arc::new(ApiServer {
        state: tessera_api::ApiState::new(store.clone(), super::serve::api_config(&ctx.config.api)),
        addr: api_addr,
    }));
    let names = sup.names();
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(sup.run(rx));
    eprintln!(
        "tessera up: ready — database {}, processes: {}; dashboard http://{api_addr}/ ; Ctrl-C to stop",
        store.url(),
        names.join(", ")
    );
    stop_signal().await;
    eprintln!("tessera up: stopping");
    // The supervisor holds a receiver until it returns, so sending cannot fail.
    let _ = tx.send(true);
    handle.await.context("supervisor")?;
    store.close().await;
    eprintln!("tessera up: stopped");
    Ok(())
}
