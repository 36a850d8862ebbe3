//! Supervised continuous processes: restarted with backoff, health stored.
//!
//! Market data streams, the live engine, the API server, workers and the
//! scheduler itself run as [`Process`]es under one [`Supervisor`]: a
//! process that fails (or returns while it should be running) is restarted
//! after a delay that doubles up to a cap and resets after a healthy run;
//! its state, restarts, last heartbeat and last error are written to the
//! `processes` table for `tessera up`, the API and the dashboard. Shutdown
//! (Ctrl-C, SIGTERM) reaches every process through one watch channel.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::Clock;
use tessera_storage::{ProcessRecord, Store};
use tokio::sync::watch;

use crate::registry::BoxFuture;

/// A continuous process.
pub trait Process: Send + Sync + std::fmt::Debug {
    /// Unique name, e.g. `scheduler`, `worker`, `stream:sim`, `api`.
    fn name(&self) -> &str;
    /// Kind shown in health output.
    fn kind(&self) -> &str;
    /// Run until `shutdown` turns true (then return `Ok`), or fail.
    fn run(&self, shutdown: watch::Receiver<bool>) -> BoxFuture<'_, Result<(), String>>;
}

/// Restart policy.
#[derive(Clone, Debug)]
pub struct RestartPolicy {
    /// First delay after a failure.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
    /// A run at least this long resets the delay.
    pub healthy_after: Duration,
    /// Heartbeat written while a process runs.
    pub heartbeat: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            healthy_after: Duration::from_secs(60),
            heartbeat: Duration::from_secs(5),
        }
    }
}

/// Runs processes until shutdown.
#[derive(Debug)]
pub struct Supervisor {
    store: Store,
    clock: Arc<dyn Clock>,
    policy: RestartPolicy,
    host: String,
    processes: Vec<Arc<dyn Process>>,
}

impl Supervisor {
    /// A supervisor recording health in `store`.
    #[must_use]
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        policy: RestartPolicy,
        host: impl Into<String>,
    ) -> Self {
        Self {
            store,
            clock,
            policy,
            host: host.into(),
            processes: Vec::new(),
        }
    }

    /// Add a process (the extension point `tessera up` uses for streams, the API, …).
    pub fn add(&mut self, p: Arc<dyn Process>) {
        self.processes.push(p);
    }

    /// Names of the processes added.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.processes
            .iter()
            .map(|p| p.name().to_string())
            .collect()
    }

    /// Run every process until `shutdown` turns true and all have returned.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let mut set = tokio::task::JoinSet::new();
        for p in self.processes {
            let store = self.store.clone();
            let clock = self.clock.clone();
            let policy = self.policy.clone();
            let host = self.host.clone();
            let shutdown = shutdown.clone();
            set.spawn(supervise(p, store, clock, policy, host, shutdown));
        }
        while let Some(r) = set.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "supervised task panicked");
            }
        }
    }
}

async fn record(store: &Store, rec: &ProcessRecord) {
    if let Err(e) = store.upsert_process(rec).await {
        // Health is informative; a failed write must not stop the process.
        tracing::warn!(process = %rec.name, error = %e, "could not record process health");
    }
}

async fn supervise(
    p: Arc<dyn Process>,
    store: Store,
    clock: Arc<dyn Clock>,
    policy: RestartPolicy,
    host: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut rec = ProcessRecord {
        name: p.name().to_string(),
        kind: p.kind().to_string(),
        state: "starting".into(),
        host,
        pid: i64::from(std::process::id()),
        restarts: 0,
        started_at: clock.now(),
        heartbeat_at: clock.now(),
        last_error: None,
    };
    let mut delay = policy.base;
    loop {
        rec.state = "running".into();
        rec.started_at = clock.now();
        rec.heartbeat_at = rec.started_at;
        record(&store, &rec).await;
        tracing::info!(process = %rec.name, "process started");
        let started = std::time::Instant::now();
        let mut fut = p.run(shutdown.clone());
        let mut beat = tokio::time::interval(policy.heartbeat);
        let result = loop {
            tokio::select! {
                r = &mut fut => break r,
                _ = beat.tick() => {
                    rec.heartbeat_at = clock.now();
                    record(&store, &rec).await;
                }
            }
        };
        drop(fut);
        if *shutdown.borrow() {
            rec.state = "stopped".into();
            rec.heartbeat_at = clock.now();
            if let Err(e) = result {
                rec.last_error = Some(e);
            }
            record(&store, &rec).await;
            tracing::info!(process = %rec.name, "process stopped");
            return;
        }
        let error = result
            .err()
            .unwrap_or_else(|| "returned while it should keep running".into());
        if started.elapsed() >= policy.healthy_after {
            delay = policy.base;
        }
        rec.restarts += 1;
        rec.state = "backoff".into();
        rec.last_error = Some(error.clone());
        rec.heartbeat_at = clock.now();
        record(&store, &rec).await;
        tracing::warn!(process = %rec.name, error = %error, restart_in = ?delay, "process failed; restarting");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            rec.state = "stopped".into();
            record(&store, &rec).await;
            return;
        }
        delay = (delay * 2).min(policy.max);
    }
}

/// The scheduler loop as a supervised process.
#[derive(Debug)]
pub struct SchedulerProcess(pub crate::scheduler::Scheduler);

impl Process for SchedulerProcess {
    fn name(&self) -> &str {
        "scheduler"
    }
    fn kind(&self) -> &str {
        "scheduler"
    }
    fn run(&self, shutdown: watch::Receiver<bool>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.run(shutdown).await.map_err(|e| e.to_string()) })
    }
}

/// Workers as a supervised process.
#[derive(Debug)]
pub struct WorkerProcess(pub crate::worker::Worker);

impl Process for WorkerProcess {
    fn name(&self) -> &str {
        "worker"
    }
    fn kind(&self) -> &str {
        "worker"
    }
    fn run(&self, shutdown: watch::Receiver<bool>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.run(shutdown).await.map_err(|e| e.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use tessera_core::SystemClock;
    use tessera_storage::testing::TestDb;

    use super::*;

    #[derive(Debug)]
    struct Flaky(AtomicU32);

    impl Process for Flaky {
        fn name(&self) -> &str {
            "flaky"
        }
        fn kind(&self) -> &str {
            "test"
        }
        fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async move {
                if self.0.fetch_add(1, Ordering::SeqCst) < 2 {
                    return Err("boom".into());
                }
                // Closed channel: the supervisor is gone, stop too.
                let _ = shutdown.wait_for(|v| *v).await;
                Ok(())
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_supervisor_restarts_with_backoff_and_stops_cleanly() {
        let db = TestDb::sqlite().await;
        let policy = RestartPolicy {
            base: Duration::from_millis(10),
            max: Duration::from_millis(40),
            healthy_after: Duration::from_secs(60),
            heartbeat: Duration::from_millis(20),
        };
        let mut sup = Supervisor::new(
            db.store().clone(),
            Arc::new(SystemClock),
            policy,
            "test-host",
        );
        sup.add(Arc::new(Flaky(AtomicU32::new(0))));
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(sup.run(rx));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let procs = db.store().list_processes().await.unwrap();
        assert_eq!((procs[0].state.as_str(), procs[0].restarts), ("running", 2));
        assert_eq!(procs[0].last_error.as_deref(), Some("boom"));
        tx.send(true).unwrap();
        handle.await.unwrap();
        assert_eq!(
            db.store().list_processes().await.unwrap()[0].state,
            "stopped"
        );
    }
}
