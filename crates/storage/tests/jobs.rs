//! The job queue, schedule runs, leases and processes, on SQLite and on PostgreSQL.

use std::sync::Arc;

use tessera_core::{SimClock, UnixNanos};
use tessera_storage::testing::TestDb;
use tessera_storage::{
    Error, Heartbeat, JobFilter, JobOutcome, JobStatus, NewJob, NewScheduleRun, ProcessRecord,
    ScheduleRunStart, Store,
};

const SEC: i64 = 1_000_000_000;

fn clocked(store: &Store) -> (Store, Arc<SimClock>) {
    let clock = Arc::new(SimClock::new(
        UnixNanos::parse("2024-12-20T12:00:00Z").unwrap(),
    ));
    (store.clone().with_clock(clock.clone()), clock)
}

async fn queue_story(store: &Store, clock: &SimClock) {
    let low = store
        .enqueue_job(&NewJob::new("reports", "{}"))
        .await
        .unwrap();
    let mut urgent = NewJob::new("cleaners", "{\"days\":30}");
    urgent.priority = 10;
    let high = store.enqueue_job(&urgent).await.unwrap();
    let mut later = NewJob::new("noop", "{}");
    later.run_after = Some(UnixNanos(clock.now_nanos() + 3600 * SEC));
    let later = store.enqueue_job(&later).await.unwrap();

    // Priority first; a job not yet due is not taken.
    let a = store
        .claim_job("w1", 30 * SEC, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.id, a.status, a.attempts), (high, JobStatus::Running, 1));
    let b = store
        .claim_job("w2", 30 * SEC, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.id, low);
    assert!(
        store
            .claim_job("w3", 30 * SEC, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim_job("w3", 30 * SEC, Some(later))
            .await
            .unwrap()
            .is_none()
    );

    // Heartbeats are fenced by the owner.
    assert_eq!(
        store.heartbeat_job(a.id, "w1", 30 * SEC).await.unwrap(),
        Heartbeat::Held
    );
    assert_eq!(
        store.heartbeat_job(a.id, "w2", 30 * SEC).await.unwrap(),
        Heartbeat::Lost
    );

    // Logs.
    store
        .append_job_log(a.id, 1, "info", "pruned 3 runs")
        .await
        .unwrap();
    store.append_job_log(a.id, 1, "warn", "slow").await.unwrap();
    let logs = store.job_logs(a.id).await.unwrap();
    assert_eq!(
        logs.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        ["pruned 3 runs", "slow"]
    );

    // Success; a second finish by a stale owner records nothing.
    clock.advance(2 * SEC);
    let r = store
        .finish_job(
            a.id,
            "w1",
            &JobOutcome::Succeeded {
                result: Some("{\"pruned\":3}".into()),
            },
        )
        .await
        .unwrap();
    assert!(r.recorded);
    let r = store
        .finish_job(
            a.id,
            "w1",
            &JobOutcome::Failed {
                error: "late".into(),
                retry_at: None,
            },
        )
        .await
        .unwrap();
    assert!(!r.recorded);
    let done = store.job(a.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.duration_nanos(), Some(2 * SEC));
    assert_eq!(done.result.as_deref(), Some("{\"pruned\":3}"));

    // Failure with a retry: queued again, due later, attempts kept.
    let retry_at = UnixNanos(clock.now_nanos() + 10 * SEC);
    store
        .finish_job(
            b.id,
            "w2",
            &JobOutcome::Failed {
                error: "boom".into(),
                retry_at: Some(retry_at),
            },
        )
        .await
        .unwrap();
    let j = store.job(b.id).await.unwrap();
    assert_eq!(
        (j.status, j.attempts, j.error.as_deref()),
        (JobStatus::Queued, 1, Some("boom"))
    );
    assert!(
        store
            .claim_job("w2", 30 * SEC, Some(b.id))
            .await
            .unwrap()
            .is_none()
    );
    clock.advance(10 * SEC);
    let again = store
        .claim_job("w2", 30 * SEC, Some(b.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempts, 2);

    // The worker dies: after the lease expires the job is queued again.
    clock.advance(31 * SEC);
    let requeued = store.requeue_expired_jobs(|_| 0).await.unwrap();
    assert_eq!(requeued.len(), 1);
    assert_eq!(store.job(b.id).await.unwrap().status, JobStatus::Queued);
    let third = store
        .claim_job("w4", 30 * SEC, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((third.id, third.attempts), (b.id, 3));
    clock.advance(31 * SEC);
    // Attempts used up: failed for good.
    store.requeue_expired_jobs(|_| 0).await.unwrap();
    let j = store.job(b.id).await.unwrap();
    assert_eq!(j.status, JobStatus::Failed);
    assert!(j.error.unwrap().contains("lease"), "expired lease named");

    // Cancel: queued at once, running by flag, finished unchanged.
    let c = store.cancel_job(later).await.unwrap();
    assert_eq!(c.status, JobStatus::Cancelled);
    let run = store.enqueue_job(&NewJob::new("noop", "{}")).await.unwrap();
    store
        .claim_job("w5", 30 * SEC, Some(run))
        .await
        .unwrap()
        .unwrap();
    assert!(store.cancel_job(run).await.unwrap().cancel_requested);
    assert_eq!(
        store.heartbeat_job(run, "w5", 30 * SEC).await.unwrap(),
        Heartbeat::CancelRequested
    );
    store
        .finish_job(
            run,
            "w5",
            &JobOutcome::Cancelled {
                reason: "cancelled".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.cancel_job(a.id).await.unwrap().status,
        JobStatus::Succeeded
    );
    assert!(matches!(store.job(999_999).await, Err(Error::NotFound(_))));

    // Listing and counts.
    let failed = store
        .list_jobs(&JobFilter {
            status: Some(JobStatus::Failed),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.iter().map(|j| j.id).collect::<Vec<_>>(), [b.id]);
    assert_eq!(
        store.list_jobs(&JobFilter::default()).await.unwrap().len(),
        4
    );
    let counts = store.job_counts().await.unwrap();
    assert!(counts.contains(&(JobStatus::Cancelled, 2)), "{counts:?}");

    // Bulk enqueue.
    let ids = store
        .enqueue_jobs(
            &(0..50)
                .map(|_| NewJob::new("noop", "{}"))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 50);

    // Pruning removes finished jobs and their logs.
    clock.advance(3600 * SEC);
    let pruned = store
        .prune_jobs(UnixNanos(clock.now_nanos()))
        .await
        .unwrap();
    assert_eq!(pruned, 4);
    assert!(store.job_logs(a.id).await.unwrap().is_empty());
}

async fn schedule_story(store: &Store, clock: &SimClock) {
    store
        .upsert_schedule("eod", "{\"cron\":\"0 18 * * *\"}")
        .await
        .unwrap();
    store
        .set_schedule_last_slot("eod", UnixNanos(100))
        .await
        .unwrap();
    store
        .set_schedule_last_slot("eod", UnixNanos(50))
        .await
        .unwrap();
    store
        .upsert_schedule("eod", "{\"cron\":\"0 19 * * *\"}")
        .await
        .unwrap();
    let s = store.list_schedules().await.unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0].last_slot,
        Some(UnixNanos(100)),
        "kept and never moved back"
    );
    assert!(s[0].definition.contains("19"));

    let steps: Vec<String> = ["daily_price_update", "reports", "cleaners"]
        .map(String::from)
        .to_vec();
    let run = |slot| NewScheduleRun {
        schedule: "eod".into(),
        slot: UnixNanos(slot),
        steps: steps.clone(),
        params: "{}".into(),
        priority: 5,
        max_attempts: 1,
    };
    let ScheduleRunStart::Started { run_id, job_id } =
        store.start_schedule_run(&run(1000)).await.unwrap()
    else {
        panic!("first start");
    };
    assert_eq!(
        store.start_schedule_run(&run(1000)).await.unwrap(),
        ScheduleRunStart::AlreadyHandled
    );
    // Still running: the next slot is skipped.
    let skipped = store.start_schedule_run(&run(2000)).await.unwrap();
    assert!(matches!(skipped, ScheduleRunStart::Skipped { running, .. } if running == run_id));

    // Step 1 succeeds: step 2 is queued with the run's priority.
    let j = store.claim_job("w", 30 * SEC, None).await.unwrap().unwrap();
    assert_eq!(
        (j.id, j.job_type.as_str(), j.priority),
        (job_id, "daily_price_update", 5)
    );
    let r = store
        .finish_job(j.id, "w", &JobOutcome::Succeeded { result: None })
        .await
        .unwrap();
    let next = r.next_job.unwrap();
    let j2 = store.claim_job("w", 30 * SEC, None).await.unwrap().unwrap();
    assert_eq!(
        (j2.id, j2.job_type.as_str(), j2.step),
        (next, "reports", Some(1))
    );
    // Step 2 fails: the pipeline stops, the failure names what is skipped.
    let r = store
        .finish_job(
            j2.id,
            "w",
            &JobOutcome::Failed {
                error: "disk full".into(),
                retry_at: None,
            },
        )
        .await
        .unwrap();
    let f = r.pipeline_failure.unwrap();
    assert_eq!(
        (f.schedule.as_str(), f.step, f.job_type.as_str()),
        ("eod", 1, "reports")
    );
    assert_eq!(f.skipped_steps, ["cleaners"]);
    let queued_cleaners = JobFilter {
        status: Some(JobStatus::Queued),
        job_type: Some("cleaners".into()),
        limit: 0,
    };
    assert!(store.list_jobs(&queued_cleaners).await.unwrap().is_empty());

    // A new slot starts now that nothing runs; a missed slot is recorded.
    assert!(matches!(
        store.start_schedule_run(&run(3000)).await.unwrap(),
        ScheduleRunStart::Started { .. }
    ));
    store
        .record_schedule_run("eod", UnixNanos(500), &steps, "missed", "down")
        .await
        .unwrap();
    let runs = store.schedule_runs(Some("eod"), 0).await.unwrap();
    let got: Vec<(i64, &str)> = runs.iter().map(|r| (r.slot.0, r.status.as_str())).collect();
    assert_eq!(
        got,
        [
            (3000, "running"),
            (2000, "skipped"),
            (1000, "failed"),
            (500, "missed")
        ]
    );
    assert_eq!(runs[2].steps, steps);

    // Leases.
    assert!(
        store
            .try_acquire_lease("scheduler", "a", 10 * SEC)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_acquire_lease("scheduler", "b", 10 * SEC)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_acquire_lease("scheduler", "a", 10 * SEC)
            .await
            .unwrap()
    );
    clock.advance(11 * SEC);
    assert!(
        store
            .try_acquire_lease("scheduler", "b", 10 * SEC)
            .await
            .unwrap()
    );
    assert_eq!(
        store.lease_holder("scheduler").await.unwrap().unwrap().0,
        "b"
    );
    store.release_lease("scheduler", "a").await.unwrap();
    assert_eq!(
        store.lease_holder("scheduler").await.unwrap().unwrap().0,
        "b"
    );
    store.release_lease("scheduler", "b").await.unwrap();
    assert!(store.lease_holder("scheduler").await.unwrap().is_none());

    // Processes.
    let mut p = ProcessRecord {
        name: "stream:sim".into(),
        kind: "stream".into(),
        state: "running".into(),
        host: "h".into(),
        pid: 42,
        restarts: 0,
        started_at: UnixNanos(1),
        heartbeat_at: UnixNanos(2),
        last_error: None,
    };
    store.upsert_process(&p).await.unwrap();
    p.state = "backoff".into();
    p.restarts = 1;
    p.last_error = Some("venue closed".into());
    store.upsert_process(&p).await.unwrap();
    assert_eq!(store.list_processes().await.unwrap(), [p]);
}

// Multi-threaded: the PostgreSQL `TestDb` closes its pool in `Drop`, which
// waits for connections whose return to the pool runs on this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_jobs_and_schedules_story_on_both_backends() {
    for db in TestDb::all().await {
        let (store, clock) = clocked(db.store());
        queue_story(&store, &clock).await;
        schedule_story(&store, &clock).await;
        eprintln!("jobs story passed on {}", db.backend());
    }
}

trait NowNanos {
    fn now_nanos(&self) -> i64;
}

impl NowNanos for SimClock {
    fn now_nanos(&self) -> i64 {
        tessera_core::Clock::now(self).0
    }
}
