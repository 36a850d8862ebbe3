//! `tessera worker`: run only workers against the configured database (scale out with many).

use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use tessera_core::SystemClock;
use tessera_scheduler::{RestartPolicy, Supervisor, Worker, WorkerProcess};
use tokio::sync::watch;

use super::Ctx;
use super::jobs::{identity, registry, worker_config};
use super::up::stop_signal;

/// `tessera worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Jobs run at the same time (default: `scheduler.worker_concurrency`).
    #[arg(long)]
    pub(crate) concurrency: Option<usize>,
}

pub(crate) async fn run(ctx: &Ctx, a: WorkerArgs) -> Result<()> {
    let store = ctx.store().await?;
    let id = identity();
    let cfg = worker_config(ctx, a.concurrency);
    tracing::info!(worker = %id, concurrency = cfg.concurrency, "worker started");
    let worker = Worker::new(
        store.clone(),
        Arc::new(registry(ctx)),
        Arc::new(SystemClock),
        cfg,
        id.clone(),
    );
    let mut sup = Supervisor::new(
        store.clone(),
        Arc::new(SystemClock),
        RestartPolicy::default(),
        id.clone(),
    );
    sup.add(Arc::new(NamedWorker(
        format!("worker:{id}"),
        WorkerProcess(worker),
    )));
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(sup.run(rx));
    stop_signal().await;
    tracing::info!("stopping: running jobs are queued again");
    // The supervisor holds a receiver until it returns, so sending cannot fail.
    let _ = tx.send(true);
    handle.await?;
    store.close().await;
    Ok(())
}

/// A worker process named after its identity, so many show up side by side in the health table.
#[derive(Debug)]
pub(crate) struct NamedWorker(pub(crate) String, pub(crate) WorkerProcess);

impl tessera_scheduler::Process for NamedWorker {
    fn name(&self) -> &str {
        &self.0
    }
    fn kind(&self) -> &str {
        "worker"
    }
    fn run(
        &self,
        shutdown: watch::Receiver<bool>,
    ) -> tessera_scheduler::registry::BoxFuture<'_, Result<(), String>> {
        self.1.run(shutdown)
    }
}
