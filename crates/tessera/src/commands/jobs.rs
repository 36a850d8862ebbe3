//! `tessera jobs …`: queue, inspect, cancel jobs and read their logs; the registry the binary wires.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tessera_core::{SystemClock, UnixNanos};
use tessera_scheduler::registry::BoxFuture;
use tessera_scheduler::{JobContext, JobError, JobHandler, Registry, Worker, WorkerConfig};
use tessera_storage::{Job, JobFilter, JobStatus, NewJob};

use super::Ctx;
use crate::output::{print_json, print_table};

/// `tessera jobs …`
#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this status: queued, running, succeeded, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Queue a job (e.g. `jobs run reports --wait`); prints its id.
    Run(JobsRunArgs),
    /// Show one job: status, attempts, times, duration, error, result.
    Show {
        /// Job id.
        id: i64,
    },
    /// Cancel a job: a queued one at once, a running one at its next heartbeat.
    Cancel {
        /// Job id.
        id: i64,
    },
    /// Print the log lines a job captured, all attempts.
    Logs {
        /// Job id.
        id: i64,
    },
    /// List the job types with their parameters and whether this build runs them.
    Types,
}

/// `tessera jobs run`.
#[derive(Debug, Args)]
pub(crate) struct JobsRunArgs {
    /// Job type, e.g. reports, cleaners, data_backfill (see `jobs types`).
    pub(crate) job_type: String,
    /// A parameter KEY=VALUE (repeatable); values are JSON when they parse, text otherwise.
    #[arg(long = "param", value_name = "K=V")]
    pub(crate) params: Vec<String>,
    /// Wait until the job finishes (running it here when no worker takes it); exit non-zero unless it succeeded.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Priority (higher runs first).
    #[arg(long, default_value_t = 0)]
    pub(crate) priority: i64,
    /// Attempts before the job fails for good.
    #[arg(long)]
    pub(crate) max_attempts: Option<u32>,
}

/// Runs a `tessera` subcommand in a child process and captures its output
/// as the job's log: how the binary wires job types whose work is a command
/// of its own (data collection), without another copy of that command's code.
#[derive(Debug)]
struct SubcommandHandler {
    args: fn(&Value) -> Vec<String>,
    config: Option<PathBuf>,
}

impl JobHandler for SubcommandHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move {
            let args = (self.args)(params);
            super::handlers::run_tessera(ctx, self.config.as_ref(), args.clone()).await?;
            Ok(json!({"command": args}))
        })
    }
}

fn backfill_args(p: &Value) -> Vec<String> {
    let mut a = vec!["data".to_string(), "backfill".to_string()];
    if let Some(list) = p["symbols"].as_array() {
        a.extend(list.iter().filter_map(|s| s.as_str().map(String::from)));
    }
    for key in ["venue", "interval"] {
        if let Some(v) = p[key].as_str() {
            a.extend([format!("--{key}"), v.to_string()]);
        }
    }
    a
}

/// The registry of this build: the built-in types and handlers,
/// `data_backfill` and `daily_price_update` run as `tessera data backfill`,
/// and the handlers of [`super::handlers`] (systems, orders, models, backtests, backups).
pub(crate) fn registry(ctx: &Ctx) -> Registry {
    let mut r = Registry::builtin();
    super::handlers::wire(&mut r, ctx);
    for name in ["data_backfill", "daily_price_update"] {
        let handler = Arc::new(SubcommandHandler {
            args: backfill_args,
            config: ctx.global.config.clone(),
        });
        r.set_handler(name, handler).expect("built-in job type");
    }
    r
}

/// Worker settings from the configuration.
pub(crate) fn worker_config(ctx: &Ctx, concurrency: Option<usize>) -> WorkerConfig {
    let s = &ctx.config.scheduler;
    let lease = Duration::from_secs(s.lease_secs.max(1));
    WorkerConfig {
        concurrency: concurrency.unwrap_or(s.worker_concurrency as usize).max(1),
        lease,
        heartbeat: lease / 3,
        poll: Duration::from_millis(s.poll_ms.max(1)),
        backoff_base: Duration::from_secs(s.backoff_secs),
        backoff_max: Duration::from_secs(600),
        data_dir: ctx.config.data_dir.clone(),
    }
}

/// This process's worker identity: `host:pid`.
pub(crate) fn identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

fn opt_time(t: Option<UnixNanos>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

/// A job as printed by `--json` (and served by the API).
pub(crate) fn job_json(j: &Job) -> Value {
    let parse =
        |s: &str| serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.to_string()));
    json!({
        "id": j.id,
        "job": j.job_type,
        "type": j.job_type,
        "params": parse(&j.params),
        "status": j.status,
        "priority": j.priority,
        "attempts": j.attempts,
        "max_attempts": j.max_attempts,
        "created_at": j.created_at.to_rfc3339(),
        "run_after": j.run_after.to_rfc3339(),
        "started_at": opt_time(j.started_at),
        "finished_at": opt_time(j.finished_at),
        "duration_ms": j.duration_nanos().map(|d| d / 1_000_000),
        "error": j.error,
        "result": j.result.as_deref().map(parse),
        "schedule_run_id": j.schedule_run_id,
        "step": j.step,
        "lease_owner": j.lease_owner,
        "cancel_requested": j.cancel_requested,
    })
}

fn job_row(j: &Job) -> Vec<String> {
    let t = |t: Option<UnixNanos>| t.map_or("-".into(), UnixNanos::to_rfc3339);
    vec![
        j.id.to_string(),
        j.job_type.clone(),
        j.status.to_string(),
        format!("{}/{}", j.attempts, j.max_attempts),
        j.created_at.to_rfc3339(),
        t(j.started_at),
        j.duration_nanos()
            .map_or("-".into(), |d| format!("{} ms", d / 1_000_000)),
        j.error.clone().unwrap_or_default(),
    ]
}

const HEADER: [&str; 8] = [
    "ID", "TYPE", "STATUS", "ATTEMPTS", "CREATED", "STARTED", "DURATION", "ERROR",
];

fn print_job(ctx: &Ctx, j: &Job) -> Result<()> {
    if ctx.global.json {
        return print_json(&job_json(j));
    }
    let v = job_json(j);
    for (k, val) in v.as_object().expect("object") {
        let text = match val {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("{k:<16} {text}");
    }
    Ok(())
}

pub(crate) async fn run(ctx: &Ctx, cmd: JobsCommand) -> Result<()> {
    if let JobsCommand::Types = cmd {
        let r = registry(ctx);
        let items: Vec<Value> = r
            .types()
            .map(|t| json!({"name": t.name, "description": t.description, "available": t.has_handler()}))
            .collect();
        if ctx.global.json {
            return print_json(&items);
        }
        let rows: Vec<Vec<String>> = r
            .types()
            .map(|t| {
                vec![
                    t.name.to_string(),
                    if t.has_handler() {
                        "yes"
                    } else {
                        "no (handler not in this build)"
                    }
                    .to_string(),
                    t.description.to_string(),
                ]
            })
            .collect();
        print_table(&["TYPE", "AVAILABLE", "DESCRIPTION"], &rows);
        return Ok(());
    }
    let store = ctx.store().await?;
    let result = match cmd {
        JobsCommand::List { status, limit } => {
            let status = status
                .map(|s| s.parse::<JobStatus>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("--status: {e}"))?;
            let jobs = store
                .list_jobs(&JobFilter {
                    status,
                    job_type: None,
                    limit,
                })
                .await?;
            if ctx.global.json {
                print_json(&jobs.iter().map(job_json).collect::<Vec<_>>())
            } else {
                print_table(&HEADER, &jobs.iter().map(job_row).collect::<Vec<_>>());
                Ok(())
            }
        }
        JobsCommand::Run(a) => run_job(ctx, &store, a).await,
        JobsCommand::Show { id } => print_job(ctx, &store.job(id).await?),
        JobsCommand::Cancel { id } => {
            let j = store.cancel_job(id).await?;
            if !ctx.global.json {
                match j.status {
                    JobStatus::Cancelled => eprintln!("job {id} cancelled"),
                    JobStatus::Running => {
                        eprintln!("job {id} is running; its worker stops it at the next heartbeat")
                    }
                    s => eprintln!("job {id} already {s}; nothing to cancel"),
                }
            }
            print_job(ctx, &j)
        }
        JobsCommand::Logs { id } => {
            store.job(id).await?;
            let lines = store.job_logs(id).await?;
            if ctx.global.json {
                print_json(&lines
                    .iter()
                    .map(|l| json!({"ts": l.ts.to_rfc3339(), "attempt": l.attempt, "level": l.level, "message": l.message}))
                    .collect::<Vec<_>>())
            } else {
                for l in &lines {
                    println!(
                        "{} {:<5} [attempt {}] {}",
                        l.ts.to_rfc3339(),
                        l.level,
                        l.attempt,
                        l.message
                    );
                }
                Ok(())
            }
        }
        JobsCommand::Types => unreachable!("handled above"),
    };
    store.close().await;
    result
}

async fn run_job(ctx: &Ctx, store: &tessera_storage::Store, a: JobsRunArgs) -> Result<()> {
    let registry = Arc::new(registry(ctx));
    let params = registry.params_from_pairs(&a.job_type, &a.params)?;
    let mut job = NewJob::new(&a.job_type, params.to_string());
    job.priority = a.priority;
    job.max_attempts = a
        .max_attempts
        .unwrap_or(ctx.config.scheduler.max_attempts)
        .max(1);
    let id = store.enqueue_job(&job).await?;
    if !a.wait {
        if ctx.global.json {
            return print_json(&job_json(&store.job(id).await?));
        }
        println!("{id}");
        eprintln!(
            "job {id} ({}) queued; `tessera jobs show {id}` follows it",
            a.job_type
        );
        return Ok(());
    }
    let worker = Worker::new(
        store.clone(),
        registry,
        Arc::new(SystemClock),
        worker_config(ctx, Some(1)),
        format!("{}:cli", identity()),
    );
    let job = loop {
        // Run it here when it is due and no worker has taken it; otherwise follow it.
        worker
            .run_one(Some(id), 0)
            .await
            .context("running the job")?;
        let j = store.job(id).await?;
        if j.status.is_final() {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    print_job(ctx, &job)?;
    if job.status != JobStatus::Succeeded {
        bail!("job {id} {}: {}", job.status, job.error.unwrap_or_default());
    }
    Ok(())
}
