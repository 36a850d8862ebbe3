//! `tessera up`: the whole platform in one process — database, scheduler,
//! workers and the continuous processes this build has — until Ctrl-C or SIGTERM.
//!
//! Every continuous process is a [`tessera_scheduler::Process`] added to the
//! [`Supervisor`] in [`run`]: the scheduler, a worker, the market data stream
//! and the API with the dashboard on `--bind`:`--port`. Without a config
//! file `up` runs the demo: on the first start the database gets a demo
//! market (three symbols of the simulated venue, backfilled and then streamed
//! live); the prediction service queues a `model_training` job (promoted on
//! success) once the history is long enough and then stores a prediction per
//! symbol and minute; a paper trader runs the `model` strategy on that model.
//! With a config file `up` runs what it says: the prediction service when
//! `[predictions] enabled = true`, and one supervised `tessera trade` child
//! (`trader:NAME`) per `[[traders]]` entry.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tessera_core::time::NANOS_PER_SECOND;
use tessera_core::{Clock, SystemClock, TimeRange, UnixNanos};
use tessera_model::{InstrumentId, Interval};
use tessera_scheduler::registry::BoxFuture;
use tessera_scheduler::{
    Process, RestartPolicy, Scheduler, SchedulerConfig, SchedulerProcess, Supervisor, Worker,
    WorkerProcess,
};
use tessera_storage::{JobFilter, NewJob};
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

/// A `tessera` subcommand in a child process (`data stream`, `trade`),
/// restarted by the supervisor; stopped with SIGINT, as Ctrl-C would.
#[derive(Debug)]
struct ChildCommand {
    name: String,
    kind: &'static str,
    config: Option<std::path::PathBuf>,
    args: Vec<String>,
    /// Start only once a production model exists (the demo's `model` trader).
    needs_model: Option<tessera_storage::Store>,
}

impl Process for ChildCommand {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &str {
        self.kind
    }
    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if let Some(store) = &self.needs_model {
                while store
                    .production_ml_models()
                    .await
                    .map_err(|e| e.to_string())?
                    .is_empty()
                {
                    tokio::select! {
                        () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                        _ = shutdown.wait_for(|v| *v) => return Ok(()),
                    }
                }
            }
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut cmd = tokio::process::Command::new(exe);
            if let Some(c) = &self.config {
                cmd.arg("--config").arg(c);
            }
            let what = self.args.join(" ");
            let mut child = cmd
                .args(&self.args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start tessera {what}: {e}"))?;
            tokio::select! {
                status = child.wait() => Err(format!("tessera {what} exited: {}", status.map_or_else(|e| e.to_string(), |s| s.to_string()))),
                () = async {
                    // A closed channel means the supervisor is gone: stop as well.
                    let _ = shutdown.wait_for(|v| *v).await;
                } => {
                    // Ask it to finish cleanly (flush cursors, finish the event in hand), like Ctrl-C.
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

/// The demo's paper trader: the `model` strategy on the demo model's
/// predictions (tessera-ml's `ModelStrategy` trades one instrument), started
/// once the model is in production.
struct DemoTrader {
    strategy: &'static str,
    params: &'static [&'static str],
    symbols: &'static [&'static str],
    needs_model: bool,
}

const DEMO_TRADER: DemoTrader = DemoTrader {
    strategy: "model",
    params: &["model=demo"],
    symbols: &["BTCUSDT"],
    needs_model: true,
};

/// Bars per symbol the demo model waits for before it is trained.
const DEMO_MIN_BARS: usize = 300;

/// The demo's model: ridge regression of the next minute's return.
fn demo_training_params() -> serde_json::Value {
    serde_json::json!({
        "name": "demo",
        "kind": "ridge",
        "features": "ret:1,ret:5,rsi:14",
        "target": "fwd_ret:1",
        "symbols": DEMO_SYMBOLS,
        "venue": "sim",
        "interval": "1m",
        "promote": true,
    })
}

/// The prediction service as a supervised process: every production model
/// scores each new closed bar of `venue` (polling the database the data
/// stream writes). In the demo it first gets a model: with no production
/// model it queues a `model_training` job (`promote = true`) for the
/// workers once the backfilled history is long enough, then waits for it.
#[derive(Debug)]
struct Predictions {
    store: tessera_storage::Store,
    registry: Arc<tessera_scheduler::Registry>,
    artefacts: tessera_ml::artefact::ArtefactConfig,
    venue: String,
    interval: String,
    /// Parameters of the training job queued when no production model exists.
    train: Option<serde_json::Value>,
    poll: Duration,
}

impl Predictions {
    /// Production models of this venue, by execution id.
    async fn production(&self) -> Result<Vec<String>, String> {
        production_models(&self.store, &self.venue).await
    }

    /// Queue the demo model's training job unless one is pending, failed
    /// within the last minute, or the history is still too short.
    async fn ensure_training(&self, params: &serde_json::Value) -> Result<(), String> {
        let err = |e: tessera_storage::Error| e.to_string();
        let last = self
            .store
            .list_jobs(&JobFilter {
                status: None,
                job_type: Some("model_training".into()),
                limit: 1,
            })
            .await
            .map_err(err)?;
        let now = SystemClock.now();
        if let Some(j) = last.first()
            && (!j.status.is_final()
                || j.finished_at
                    .is_some_and(|t| now.nanos_since(t) < 60 * NANOS_PER_SECOND))
        {
            return Ok(());
        }
        for sym in DEMO_SYMBOLS {
            let id = InstrumentId::parse(sym, &self.venue).map_err(|e| e.to_string())?;
            let since = UnixNanos(now.0 - 2 * DEMO_MIN_BARS as i64 * 60 * NANOS_PER_SECOND);
            let range = TimeRange::from_bounds(Some(since), None).map_err(|e| e.to_string())?;
            let n = self
                .store
                .bars_range(&id, Interval::M1, range)
                .await
                .map_err(err)?
                .len();
            if n < DEMO_MIN_BARS {
                tracing::info!(symbol = sym, bars = n, "demo model: waiting for history");
                return Ok(());
            }
        }
        let params = self
            .registry
            .validate("model_training", params)
            .map_err(|e| e.to_string())?;
        let id = self
            .store
            .enqueue_job(&NewJob::new("model_training", params.to_string()))
            .await
            .map_err(err)?;
        tracing::info!(
            job = id,
            "demo model: no production model yet; model_training job queued"
        );
        Ok(())
    }
}

/// Production models of `venue`, by execution id.
async fn production_models(
    store: &tessera_storage::Store,
    venue: &str,
) -> Result<Vec<String>, String> {
    Ok(store
        .production_ml_models()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|m| m.venue == venue && !m.feature_set.is_empty())
        .map(|m| m.execution_id)
        .collect())
}

/// Serve `models` until shutdown (true) or until the production models
/// change (false: the caller starts the service again).
async fn serve_predictions(
    store: tessera_storage::Store,
    artefacts: tessera_ml::artefact::ArtefactConfig,
    venue: String,
    interval: String,
    poll: Duration,
    models: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<bool, String> {
    let clock: Arc<dyn tessera_core::Clock> = Arc::new(SystemClock);
    let artefacts =
        tessera_ml::artefact::ArtefactStore::open(&artefacts).map_err(|e| e.to_string())?;
    let reg = tessera_ml::registry::Registry::new(store.clone(), artefacts, clock.clone());
    let mut svc = tessera_ml::service::PredictionService::start(reg, &venue, &interval, clock)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(models = ?svc.models(), venue = %venue, "prediction service started");
    let mut checked = std::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            _ = shutdown.wait_for(|v| *v) => return Ok(true),
        }
        let stored = svc.poll().await.map_err(|e| e.to_string())?;
        if stored > 0 {
            tracing::debug!(stored, "predictions stored");
        }
        // A model promoted meanwhile is served from the next start of the service.
        if checked.elapsed() > Duration::from_secs(30) {
            checked = std::time::Instant::now();
            if production_models(&store, &venue).await? != models {
                tracing::info!("production models changed; reloading the prediction service");
                return Ok(false);
            }
        }
    }
}

impl Process for Predictions {
    fn name(&self) -> &str {
        "service:predictions"
    }
    fn kind(&self) -> &str {
        "service"
    }
    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            loop {
                let models = loop {
                    let models = self.production().await?;
                    if !models.is_empty() {
                        break models;
                    }
                    if let Some(p) = &self.train {
                        self.ensure_training(p).await?;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = shutdown.wait_for(|v| *v) => return Ok(()),
                    }
                };
                let stopped = serve_predictions(
                    self.store.clone(),
                    self.artefacts.clone(),
                    self.venue.clone(),
                    self.interval.clone(),
                    self.poll,
                    models,
                    shutdown.clone(),
                )
                .await?;
                if stopped {
                    return Ok(());
                }
            }
        })
    }
}

/// First start without a config file on an empty database: register the demo
/// market (`tessera data add SYMBOL --venue sim`), which the data stream then
/// backfills and follows live.
/// Whether `up` runs the demo: no config file given or found.
fn is_demo(ctx: &Ctx) -> bool {
    ctx.global.config.is_none() && !Path::new("tessera.toml").exists()
}

async fn seed_demo_market(ctx: &Ctx, store: &tessera_storage::Store) -> Result<()> {
    if !is_demo(ctx) || !store.list_instruments().await?.is_empty() {
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
    let registry = Arc::new(registry(ctx));
    let worker = Worker::new(
        store.clone(),
        registry.clone(),
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
    // The order stack handler sends what the `order_generation` job leaves on the stack.
    sup.add(Arc::new(super::order_handler::OrderStackHandler::new(
        store.clone(),
        super::order_handler::OrderHandlerConfig::from_config(
            &ctx.config,
            tessera_scheduler::builtin::DEFAULT_ORDER_ACCOUNT,
        )
        .map_err(anyhow::Error::msg)?,
    )));
    if !store.list_cursors().await?.is_empty() {
        sup.add(Arc::new(ChildCommand {
            name: "stream:data".into(),
            kind: "stream",
            config: ctx.global.config.clone(),
            args: vec!["data".into(), "stream".into()],
            needs_model: None,
        }));
    }
    let demo = is_demo(ctx);
    let p = &ctx.config.predictions;
    if !demo && p.enabled {
        // `[predictions]`: serve the production models; training is the user's (jobs, schedules).
        sup.add(Arc::new(Predictions {
            store: store.clone(),
            registry: registry.clone(),
            artefacts: super::handlers::artefact_config(&ctx.config),
            venue: p.venue.clone(),
            interval: p.interval.clone(),
            train: None,
            poll: Duration::from_millis(p.poll_ms.max(1)),
        }));
    }
    // `[[traders]]`: each a supervised `tessera trade` child on the same config.
    for t in &ctx.config.traders {
        sup.add(Arc::new(ChildCommand {
            name: format!("trader:{}", t.name),
            kind: "trader",
            config: ctx.global.config.clone(),
            args: t.trade_args(),
            needs_model: (t.strategy == tessera_ml::strategy::NAME).then(|| store.clone()),
        }));
    }
    if demo {
        sup.add(Arc::new(Predictions {
            store: store.clone(),
            registry: registry.clone(),
            artefacts: super::handlers::artefact_config(&ctx.config),
            venue: "sim".into(),
            interval: "1m".into(),
            train: Some(demo_training_params()),
            poll: Duration::from_secs(1),
        }));
        let t = DEMO_TRADER;
        let mut args: Vec<String> = vec!["trade".into(), "--strategy".into(), t.strategy.into()];
        for p in t.params {
            args.extend(["--param".to_string(), (*p).to_string()]);
        }
        for sym in t.symbols {
            args.extend(["--symbol".to_string(), (*sym).to_string()]);
        }
        sup.add(Arc::new(ChildCommand {
            name: format!("trader:{}", t.strategy),
            kind: "trader",
            config: None,
            args,
            needs_model: t.needs_model.then(|| store.clone()),
        }));
    }
    sup.add(Arc::new(ApiServer {
        state: super::serve::api_state(ctx, &store).await?,
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
