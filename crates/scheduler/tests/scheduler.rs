//! Schedules on an accelerated clock against real databases: six weeks over
//! Christmas and New Year, catch-up after downtime, and racing schedulers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Weekday};
use tessera_core::{Clock, SimClock, UnixNanos};
use tessera_scheduler::builtin::{NoopHandler, NoopParams};
use tessera_scheduler::{
    Calendar, JobType, Registry, Schedule, ScheduleConfig, Scheduler, SchedulerConfig, Worker,
    WorkerConfig,
};
use tessera_storage::Store;
use tessera_storage::testing::TestDb;

const MINUTE: i64 = 60_000_000_000;

fn t(s: &str) -> UnixNanos {
    UnixNanos::parse(s).unwrap()
}

/// A registry where every EOD step succeeds at once.
fn registry() -> Arc<Registry> {
    let mut r = Registry::new();
    for name in [
        "daily_price_update",
        "run_systems",
        "order_generation",
        "cleaners",
        "reports",
        "noop",
    ] {
        r.register(
            JobType::new::<NoopParams>(name, "test step").with_handler(Arc::new(NoopHandler)),
        );
    }
    Arc::new(r)
}

fn window_schedule() -> ScheduleConfig {
    ScheduleConfig {
        name: "window".into(),
        pipeline: None,
        job: Some("noop".into()),
        cron: "30 */3 * * *".into(),
        timezone: "America/New_York".into(),
        calendar: "always".into(),
        week_start: Some("mon 00:00".into()),
        week_end: Some("fri 22:00".into()),
        catch_up: "skip".into(),
        params: Default::default(),
    }
}

fn config(tick_minutes: i64) -> SchedulerConfig {
    SchedulerConfig {
        tick: Duration::from_millis(1),
        grace: Duration::from_secs(u64::try_from(tick_minutes * 60 + 60).unwrap()),
        lease: Duration::from_secs(3600),
        max_attempts: 1,
        priority: 10,
    }
}

async fn drain(worker: &Worker) {
    while worker.run_one(None, 0).await.unwrap().is_some() {}
}

async fn six_weeks(store: &Store) {
    let start = t("2024-12-02T00:00:00Z");
    let end = t("2025-01-13T00:00:00Z");
    let clock = Arc::new(SimClock::new(start));
    let store = store.clone().with_clock(clock.clone());
    // Per-step parameters: a later pipeline step gets its own table (the
    // test registry's job types all take the noop handler's parameters).
    let mut eod = ScheduleConfig::default_eod();
    eod.params
        .insert("run_systems".into(), serde_json::json!({"sleep_ms": 0}));
    let schedules = vec![
        Schedule::from_config(&eod).unwrap(),
        Schedule::from_config(&window_schedule()).unwrap(),
    ];
    let tick = 15;
    let scheduler = Scheduler::new(
        store.clone(),
        clock.clone(),
        schedules.clone(),
        config(tick),
        "a",
    );
    // Registering stores each step's parameters for the store to queue later steps with.
    scheduler.register().await.unwrap();
    let worker = Worker::new(
        store.clone(),
        registry(),
        clock.clone(),
        WorkerConfig::default(),
        "w",
    );
    // The clock leaps: to half a minute after each due slot (the tick that
    // starts it), and to halfway before the next (a tick with nothing due).
    while clock.now() <= end {
        let r = scheduler.tick().await.unwrap();
        assert!(r.leader);
        assert!(r.missed.is_empty() && r.skipped.is_empty(), "{r:?}");
        drain(&worker).await;
        let now = clock.now();
        let Some(next) = schedules.iter().filter_map(|s| s.next_after(now)).min() else {
            break;
        };
        let halfway = UnixNanos(now.0 + (next.0 - now.0) / 2);
        if halfway.0 - now.0 > MINUTE {
            clock.set(halfway);
            assert!(scheduler.tick().await.unwrap().started.is_empty());
        }
        clock.set(UnixNanos(next.0 + MINUTE / 2));
    }
    let jobs = |ty: &str| tessera_storage::JobFilter {
        status: None,
        job_type: Some(ty.into()),
        limit: 10_000,
    };
    let run_systems = store.list_jobs(&jobs("run_systems")).await.unwrap();
    assert!(!run_systems.is_empty());
    for j in &run_systems {
        let p: serde_json::Value = serde_json::from_str(&j.params).unwrap();
        assert_eq!(p["sleep_ms"], 0, "{j:?}");
    }
    for j in store.list_jobs(&jobs("order_generation")).await.unwrap() {
        assert_eq!(j.params, "{}", "a step without params gets its defaults");
    }
    for s in &schedules {
        let want = s.runs_between(UnixNanos(start.0 + 1), UnixNanos(end.0 + 1));
        let mut runs = store.schedule_runs(Some(s.name()), 10_000).await.unwrap();
        runs.reverse();
        let got: Vec<UnixNanos> = runs.iter().map(|r| r.slot).collect();
        assert_eq!(got, want, "{}: every run exactly once", s.name());
        for r in &runs {
            assert_eq!(r.status, "succeeded", "{r:?}");
            assert_eq!(
                r.step as usize,
                s.steps().len() - 1,
                "every pipeline step ran"
            );
            let local = r.slot.to_datetime().with_timezone(&s.timezone());
            assert!(
                !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
                "{r:?} on a weekend"
            );
            if s.name() == "eod" {
                assert!(
                    Calendar::Nyse.is_trading_day(local.date_naive()),
                    "{r:?} on a holiday"
                );
                assert_eq!(r.slot.0 % MINUTE, 0);
            } else {
                let friday_late = local.weekday() == Weekday::Fri
                    && local.time() >= chrono::NaiveTime::from_hms_opt(22, 0, 0).unwrap();
                assert!(!friday_late, "{r:?} outside the trading week");
            }
        }
        eprintln!("{}: {} runs", s.name(), runs.len());
    }
    let eod_days: Vec<String> = store
        .schedule_runs(Some("eod"), 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.slot.to_datetime().date_naive().to_string())
        .collect();
    for holiday in ["2024-12-25", "2025-01-01", "2025-01-09"] {
        assert!(!eod_days.contains(&holiday.to_string()), "ran on {holiday}");
    }
    assert!(
        eod_days.contains(&"2024-12-24".to_string()),
        "early close is still a trading day"
    );
    // 30 weekdays in the window, less Christmas, New Year and the Carter day of mourning.
    assert_eq!(eod_days.len(), 27);
    // Every job of every run succeeded once: none left, none doubled.
    let jobs = store
        .list_jobs(&tessera_storage::JobFilter {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        jobs.iter()
            .all(|j| j.status == tessera_storage::JobStatus::Succeeded && j.attempts == 1)
    );
    assert_eq!(
        jobs.len(),
        27 * 5
            + store
                .schedule_runs(Some("window"), 10_000)
                .await
                .unwrap()
                .len()
    );
}

async fn catch_up(store: &Store) {
    for (policy, want_runs) in [("skip", 0), ("once", 1)] {
        let clock = Arc::new(SimClock::new(t("2024-12-20T12:00:00Z")));
        let store = store.clone().with_clock(clock.clone());
        let mut c = ScheduleConfig::default_eod();
        c.name = format!("cu_{policy}");
        c.catch_up = policy.into();
        let s = Scheduler::new(
            store.clone(),
            clock.clone(),
            vec![Schedule::from_config(&c).unwrap()],
            config(1),
            format!("cu-{policy}"),
        );
        store
            .release_lease(tessera_scheduler::scheduler::LEADER_LEASE, "a")
            .await
            .unwrap();
        assert!(s.tick().await.unwrap().leader, "baseline");
        // Down from Friday noon to the next Friday noon: Fri 20, Mon 23, Tue 24, Thu 26 missed.
        clock.set(t("2024-12-27T12:00:00Z"));
        let r = s.tick().await.unwrap();
        assert_eq!(r.started.len(), want_runs, "{policy}: {r:?}");
        if policy == "once" {
            assert_eq!(
                r.started[0].1,
                t("2024-12-26T23:00:00Z"),
                "the latest missed slot"
            );
        }
        assert_eq!(r.missed, [(c.name.clone(), 4 - want_runs)]);
        // Nothing more on the next tick, and the evening run is on time again.
        assert!(s.tick().await.unwrap().started.is_empty());
        // With `once` the catch-up run was never picked up (no worker here),
        // so the on-time slot is recorded as skipped rather than doubled.
        clock.set(t("2024-12-27T23:00:30Z"));
        let r = s.tick().await.unwrap();
        assert_eq!(
            (r.started.len(), r.skipped.len()),
            (1 - want_runs, want_runs),
            "{policy}: {r:?}"
        );
        store
            .release_lease(
                tessera_scheduler::scheduler::LEADER_LEASE,
                &format!("cu-{policy}"),
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_six_weeks_over_the_holidays_every_run_once_and_catch_up() {
    for db in TestDb::all().await {
        six_weeks(db.store()).await;
        catch_up(db.store()).await;
        eprintln!("passed on {}", db.backend());
    }
}

/// Two schedulers whose leases always look expired (so both act as leader on
/// every tick) still start each slot once: the slot row is unique.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_racing_schedulers_never_run_a_slot_twice() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let clock = Arc::new(SimClock::new(t("2024-12-02T00:00:00Z")));
    let every_minute = ScheduleConfig {
        name: "minutely".into(),
        pipeline: None,
        job: Some("noop".into()),
        cron: "* * * * *".into(),
        timezone: "UTC".into(),
        calendar: "always".into(),
        week_start: None,
        week_end: None,
        catch_up: "skip".into(),
        params: Default::default(),
    };
    let mut cfg = config(1);
    cfg.lease = Duration::ZERO;
    let mk = |id: &str| {
        // Separate pools, as two processes would have.
        let clock = clock.clone();
        let url = db.url().to_string();
        let cfg = cfg.clone();
        let c = every_minute.clone();
        let id = id.to_string();
        async move {
            let store = Store::open(&url).await.unwrap().with_clock(clock.clone());
            Scheduler::new(
                store,
                clock,
                vec![Schedule::from_config(&c).unwrap()],
                cfg,
                id,
            )
        }
    };
    let (a, b) = (mk("a").await, mk("b").await);
    a.tick().await.unwrap();
    let mut started = 0;
    for _ in 0..200 {
        clock.advance(MINUTE);
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        started += ra.unwrap().started.len() + rb.unwrap().started.len();
    }
    let runs = db
        .store()
        .schedule_runs(Some("minutely"), 10_000)
        .await
        .unwrap();
    let mut slots: Vec<i64> = runs.iter().map(|r| r.slot.0).collect();
    slots.dedup();
    assert_eq!(slots.len(), runs.len(), "a slot recorded twice");
    let jobs = db
        .store()
        .list_jobs(&tessera_storage::JobFilter {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), started, "one job per started run");
    assert_eq!(
        runs.iter().filter(|r| r.status == "running").count(),
        1,
        "later slots skipped while the first runs"
    );
    assert_eq!(
        runs.len(),
        200,
        "every slot handled once (started or skipped)"
    );
}

/// The `backups` job through a worker on both backends: a consistent
/// database copy plus artefacts in a timestamped folder, `keep` honoured,
/// and (SQLite) the copy opened as a database with the data read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_backups_job_copies_database_and_artefacts_and_restores() {
    for db in TestDb::all().await {
        let store = db.store();
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join("artefacts/models/m/1")).unwrap();
        std::fs::write(data.path().join("artefacts/models/m/1/model.json"), b"{}").unwrap();
        let dest = data.path().join("bk");
        let registry = Arc::new(Registry::builtin());
        let worker = Worker::new(
            store.clone(),
            registry.clone(),
            Arc::new(tessera_core::SystemClock),
            WorkerConfig {
                data_dir: data.path().to_path_buf(),
                ..WorkerConfig::default()
            },
            "w",
        );
        let params = serde_json::json!({"destination": dest.display().to_string(), "keep": 1});
        let params = registry.validate("backups", &params).unwrap();
        let mut paths = Vec::new();
        for _ in 0..2 {
            let id = store
                .enqueue_job(&tessera_storage::NewJob::new("backups", params.to_string()))
                .await
                .unwrap();
            let done = worker.run_one(Some(id), 0).await.unwrap().unwrap();
            assert_eq!(done.report.status, tessera_storage::JobStatus::Succeeded);
            let j = store.job(id).await.unwrap();
            let result: serde_json::Value =
                serde_json::from_str(j.result.as_deref().unwrap()).unwrap();
            assert_eq!(result["artefact_files"], 1, "{result}");
            paths.push(std::path::PathBuf::from(result["path"].as_str().unwrap()));
            let logs = store.job_logs(id).await.unwrap();
            assert!(
                logs.iter()
                    .any(|l| l.message.starts_with("backup complete"))
            );
            // Folder names have one-second resolution.
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
        assert!(!paths[0].exists(), "keep = 1 removed the older backup");
        let p = &paths[1];
        assert!(p.join("artefacts/models/m/1/model.json").exists());
        assert!(p.join("manifest.json").exists());
        if db.url().starts_with("sqlite:") {
            let restored = Store::open(&format!("sqlite://{}", p.join("tessera.db").display()))
                .await
                .unwrap();
            let jobs = restored
                .list_jobs(&tessera_storage::JobFilter {
                    limit: 10,
                    ..tessera_storage::JobFilter::default()
                })
                .await
                .unwrap();
            // The first backup job's success is in the second backup.
            assert!(
                jobs.iter().any(|j| j.job_type == "backups"
                    && j.status == tessera_storage::JobStatus::Succeeded),
                "{jobs:?}"
            );
            restored.close().await;
        } else {
            let sql = std::fs::read_to_string(p.join("tessera.sql")).unwrap();
            assert!(sql.contains("CREATE TABLE public.jobs"), "pg_dump output");
        }
    }
}
