//! `tessera up`, `tessera worker` and `tessera jobs` as processes: clean
//! shutdown and restart, a worker killed with SIGKILL mid-job, and four
//! worker processes draining 10,000 jobs from one PostgreSQL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_storage::testing::TestDb;
use tessera_storage::{JobFilter, JobStatus, NewJob, Store};

fn tessera(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.current_dir(dir).env_remove("RUST_LOG");
    for k in ["TESSERA_DATABASE_URL", "TESSERA_CONFIG", "TESSERA_DATA_DIR"] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Start a long-running command; the returned channel yields its stderr lines.
fn spawn(mut c: Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tessera");
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            // The test may have stopped listening; the line is only diagnostic then.
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = l.contains(needle);
            seen.push(l);
            if hit {
                return seen;
            }
        }
    }
    panic!(
        "no {needle:?} within {timeout:?}; saw:\n{}",
        seen.join("\n")
    );
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "did not exit within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Poll `what` until it is true or `timeout` passes.
async fn eventually<F, Fut>(timeout: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "no {what} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The demo platform: `up` in an empty folder backfills the simulated
/// market, trains and promotes a model through a worker, stores minute
/// predictions and paper-trades; Ctrl-C stops it and the next `up` goes on
/// with the same model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_up_in_an_empty_folder_starts_stops_on_sigint_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tessera-data/tessera.db");
    // A fast demo market: two minutes of market per second, one day of history.
    let env = [
        ("TESSERA_VENUES_SIM_SPEED", "120"),
        ("TESSERA_VENUES_SIM_HISTORY_DAYS", "1"),
    ];
    for round in 0..2 {
        let (mut child, rx) = spawn({
            let mut c = tessera(dir.path(), &env);
            c.args(["up", "--port", "0"]);
            c
        });
        wait_for(&rx, "tessera up: ready", Duration::from_secs(60));
        // The previous run gave the leader lease back, so this one leads at once.
        wait_for(&rx, "scheduler leadership changed", Duration::from_secs(30));
        let store = Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        eventually(Duration::from_secs(45), "stored predictions", || async {
            let Some(m) = store.production_ml_models().await.unwrap().pop() else {
                return false;
            };
            let before = store.ml_predictions(&m.execution_id, None).await.unwrap();
            !before.is_empty()
        })
        .await;
        if round == 0 {
            eventually(
                Duration::from_secs(45),
                "paper orders and fills",
                || async {
                    !store.orders(None).await.unwrap().is_empty()
                        && !store.fills().await.unwrap().is_empty()
                },
            )
            .await;
        }
        store.close().await;
        signal(&child, "-INT");
        let status = wait_exit(&mut child, Duration::from_secs(30));
        assert!(status.success(), "round {round}: {status}");
    }
    assert!(db.exists());
    let store = Store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    // The second run served the model the first one trained: one training job.
    let training = store
        .list_jobs(&JobFilter {
            status: None,
            job_type: Some("model_training".into()),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(training.len(), 1, "{training:?}");
    assert_eq!(training[0].status, JobStatus::Succeeded);
    assert_eq!(store.production_ml_models().await.unwrap().len(), 1);
    let schedules = store.list_schedules().await.unwrap();
    assert_eq!(
        schedules
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["eod"]
    );
    assert!(schedules[0].last_slot.is_some(), "the scheduler led");
    let procs = store.list_processes().await.unwrap();
    for name in [
        "scheduler",
        "stream:data",
        "server:api",
        "service:predictions",
        "service:order_stack",
        "trader:model",
    ] {
        assert!(procs.iter().any(|p| p.name == name), "{name}: {procs:?}");
    }
    assert!(procs.iter().all(|p| p.state == "stopped"), "{procs:?}");
    // Its schedule is what `schedule list` shows, and `jobs run --wait` works beside it.
    let out = tessera(dir.path(), &[])
        .args(["schedule", "list", "--json"])
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["name"], "eod");
    assert_eq!(list[0]["job"], "daily_price_update");
    let out = tessera(dir.path(), &[])
        .args(["jobs", "run", "reports", "--wait", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "succeeded");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_simulate_prints_runs_without_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tessera.toml"),
        "[[schedules]]\nname = \"eod\"\npipeline = [\"daily_price_update\", \"reports\"]\ncron = \"0 18 * * *\"\n\
         timezone = \"America/New_York\"\ncalendar = \"nyse\"\nweek_start = \"mon 00:00\"\nweek_end = \"fri 22:00\"\n\
         catch_up = \"skip\"\n\n[[schedules]]\nname = \"crypto\"\njob = \"reports\"\ncron = \"0 0 * * *\"\n",
    )
    .unwrap();
    let out = tessera(dir.path(), &[])
        .args([
            "schedule",
            "simulate",
            "--from",
            "2024-12-23",
            "--to",
            "2024-12-27",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(String, String, String)> = runs
        .iter()
        .map(|r| {
            (
                r["schedule"].as_str().unwrap().into(),
                r["job"].as_str().unwrap().into(),
                r["at"].as_str().unwrap().into(),
            )
        })
        .collect();
    let eod: Vec<&str> = got
        .iter()
        .filter(|r| r.0 == "eod")
        .map(|r| r.2.as_str())
        .collect();
    assert_eq!(
        eod,
        [
            "2024-12-23T23:00:00Z",
            "2024-12-24T23:00:00Z",
            "2024-12-26T23:00:00Z",
            "2024-12-27T23:00:00Z"
        ]
    );
    assert!(
        got.iter()
            .all(|r| r.0 != "eod" || r.1 == "daily_price_update")
    );
    assert_eq!(got.iter().filter(|r| r.0 == "crypto").count(), 5);
    assert!(
        !dir.path().join("tessera-data").exists(),
        "nothing was run or created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_worker_killed_mid_job_is_retried_after_lease_expiry_and_completes_once() {
    for db in TestDb::all().await {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("TESSERA_DATABASE_URL", db.url()),
            ("TESSERA_SCHEDULER_LEASE_SECS", "2"),
            ("TESSERA_SCHEDULER_POLL_MS", "50"),
        ];
        let store = db.store();
        let id = store
            .enqueue_job(&NewJob::new("noop", "{\"sleep_ms\":3000}"))
            .await
            .unwrap();
        let (mut first, _rx1) = spawn({
            let mut c = tessera(dir.path(), &env);
            c.args(["worker", "--concurrency", "1"]);
            c
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while store.job(id).await.unwrap().status != JobStatus::Running {
            assert!(Instant::now() < deadline, "never picked up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        signal(&first, "-KILL");
        wait_exit(&mut first, Duration::from_secs(10));
        let (mut second, _rx2) = spawn({
            let mut c = tessera(dir.path(), &env);
            c.args(["worker"]);
            c
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let job = loop {
            let j = store.job(id).await.unwrap();
            if j.status.is_final() {
                break j;
            }
            assert!(Instant::now() < deadline, "not retried: {j:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        signal(&second, "-TERM");
        assert!(wait_exit(&mut second, Duration::from_secs(30)).success());
        assert_eq!(
            (job.status, job.attempts),
            (JobStatus::Succeeded, 2),
            "{job:?}"
        );
        let logs = store.job_logs(id).await.unwrap();
        assert_eq!(
            logs.iter().filter(|l| l.message == "noop done").count(),
            1,
            "{logs:?}"
        );
        assert!(
            job.error.unwrap_or_default().contains("lease"),
            "the lost attempt is explained"
        );
    }
}

/// Four worker processes on one PostgreSQL drain 10,000 jobs: none lost,
/// none run twice. Prints throughput and pickup latency (docs/benchmarks.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_four_worker_processes_drain_ten_thousand_jobs_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let n: usize = std::env::var("TESSERA_DRAIN_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TESSERA_DATABASE_URL", db.url()),
        ("TESSERA_SCHEDULER_POLL_MS", "20"),
        ("TESSERA_LOG_LEVEL", "warn"),
    ];
    let store = db.store();
    let mut workers: Vec<(Child, mpsc::Receiver<String>)> = (0..4)
        .map(|_| {
            let mut c = tessera(dir.path(), &env);
            c.args(["worker", "--concurrency", "4"]);
            spawn(c)
        })
        .collect();
    // Pickup latency with idle workers: one job at a time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies = Vec::new();
    for _ in 0..40 {
        let id = store.enqueue_job(&NewJob::new("noop", "{}")).await.unwrap();
        let j = loop {
            let j = store.job(id).await.unwrap();
            if j.status.is_final() {
                break j;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        latencies.push((j.started_at.unwrap().0 - j.created_at.0) as f64 / 1e6);
    }
    latencies.sort_by(f64::total_cmp);
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        store
            .enqueue_jobs(
                &chunk
                    .iter()
                    .map(|_| NewJob::new("noop", "{}"))
                    .collect::<Vec<_>>(),
            )
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let counts = store.job_counts().await.unwrap();
        let done: i64 = counts
            .iter()
            .filter(|(s, _)| s.is_final())
            .map(|(_, c)| c)
            .sum();
        if done as usize >= n + 40 {
            break;
        }
        assert!(Instant::now() < deadline, "not drained: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    for (w, _) in &workers {
        signal(w, "-TERM");
    }
    for (w, _) in &mut workers {
        assert!(wait_exit(w, Duration::from_secs(30)).success());
    }
    let jobs = store
        .list_jobs(&JobFilter {
            limit: u32::MAX,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), n + 40);
    assert!(
        jobs.iter()
            .all(|j| j.status == JobStatus::Succeeded && j.attempts == 1),
        "lost or retried"
    );
    let done_lines: i64 = sqlx_count(db.url()).await;
    assert_eq!(
        done_lines as usize,
        n + 40,
        "each job completed exactly once"
    );
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "BENCH scheduler drain: {n} jobs, 4 worker processes x 4 slots, PostgreSQL: {secs:.1} s = {:.0} jobs/s; \
         pickup latency idle p50 {:.1} ms, p99 {:.1} ms",
        n as f64 / secs,
        p(0.5),
        p(0.99)
    );
}

/// "noop done" log lines: one per completed handler run (one query, not one per job).
async fn sqlx_count(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_logs WHERE message = 'noop done'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

/// `[schedules.params.STEP]` tables are checked when the config loads: a
/// valid one is accepted, a bad value or a step outside the pipeline is
/// refused with a message naming the schedule and the table.
#[test]
fn test_schedule_step_params_validated_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[[schedules]]\nname = \"eod\"\npipeline = [\"run_systems\", \"order_generation\"]\ncron = \"0 18 * * *\"\n";
    let list = |extra: &str| {
        std::fs::write(dir.path().join("tessera.toml"), format!("{base}{extra}")).unwrap();
        tessera(dir.path(), &[])
            .args(["schedule", "list", "--json"])
            .output()
            .unwrap()
    };
    let out = list("\n[schedules.params.run_systems]\nstrategy = \"ewmac\"\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (extra, needles) in [
        (
            "\n[schedules.params.order_generation]\nbuffer = \"-1\"\n",
            &["eod", "schedules.params.order_generation", "buffer"][..],
        ),
        (
            "\n[schedules.params.run_systems]\nno_such_key = 1\n",
            &["schedules.params.run_systems", "no_such_key"][..],
        ),
        (
            "\n[schedules.params.reports]\nx = 1\n",
            &["params.reports", "not a step"][..],
        ),
    ] {
        let out = list(extra);
        assert!(!out.status.success(), "{extra} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        for n in needles {
            assert!(err.contains(n), "{extra}: {n} missing in {err}");
        }
    }
}
