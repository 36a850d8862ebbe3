//! Every job handler the binary wires, run through a worker (`tessera jobs
//! run TYPE --wait` claims the job from the queue and runs it like any
//! worker) on SQLite and PostgreSQL: backtest, sweep, model_training,
//! predictions, run_systems, order_generation and backups, plus refused
//! parameters, a permanent handler failure, and a restored SQLite backup.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use tessera_storage::testing::TestDb;
use tessera_storage::{JobStatus, Store};

fn tessera(dir: &Path, db_url: &str, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.args(args)
        .current_dir(dir)
        .env("TESSERA_DATABASE_URL", db_url)
        .env("TESSERA_DATA_DIR", dir.join("tessera-data"))
        .env("TESSERA_VENUES_SIM_HISTORY_DAYS", "1")
        .env_remove("TESSERA_CONFIG")
        .env_remove("RUST_LOG");
    c.output().expect("run tessera")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: stdout={} stderr={}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Run a job to its end through a worker; returns the job as JSON.
fn job(dir: &Path, url: &str, job_type: &str, params: &[&str]) -> Value {
    let mut args = vec!["--json", "jobs", "run", job_type, "--wait"];
    for p in params {
        args.extend(["--param", p]);
    }
    let j: Value = serde_json::from_str(&ok(&tessera(dir, url, &args))).unwrap();
    assert_eq!(j["status"], "succeeded", "{j}");
    j
}

fn logs(dir: &Path, url: &str, id: &Value) -> String {
    let id = id.to_string();
    let v: Value =
        serde_json::from_str(&ok(&tessera(dir, url, &["--json", "jobs", "logs", &id]))).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn story(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = db.url();
    let store = db.store();
    ok(&tessera(
        d,
        url,
        &["data", "add", "BTCUSDT", "--venue", "sim"],
    ));
    ok(&tessera(d, url, &["data", "backfill", "BTCUSDT"]));
    let data = ["symbol=BTCUSDT", "venue=sim", "interval=1m"];

    // backtest: run and stored.
    let mut p = vec!["strategy=sma_cross", "params=fast=5,slow=20"];
    p.extend(data);
    let j = job(d, url, "backtest", &p);
    let run_id = j["result"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(store.backtest(&run_id).await.unwrap().strategy, "sma_cross");
    assert!(logs(d, url, &j["id"]).contains("backtest run"), "log");

    // sweep: four grid points, the best stored as a run.
    let mut p = vec!["strategy=sma_cross", "grid=fast=5:10:5,slow=20:30:10"];
    p.extend(data);
    let j = job(d, url, "sweep", &p);
    assert_eq!(j["result"]["grid_points"], 4, "{j}");
    let best = j["result"]["run_id"].as_str().unwrap();
    assert_ne!(best, run_id);
    store.backtest(best).await.unwrap();

    // model_training on what is collected, promoted; then one prediction pass.
    let j = job(d, url, "model_training", &["promote=true"]);
    assert_eq!(j["result"]["stage"], "production", "{j}");
    let prod = store.production_ml_models().await.unwrap();
    assert_eq!(prod.len(), 1);
    assert_eq!(prod[0].name, "demo");
    let j = job(d, url, "predictions", &["bars=50"]);
    assert_eq!(j["result"]["stored"], 50, "{j}");
    // Idempotent: the same bars again store nothing new.
    let j = job(d, url, "predictions", &["bars=50"]);
    assert_eq!(j["result"]["stored"], 0, "{j}");

    // run_systems: buy_hold holds a long position at the last bar.
    let j = job(d, url, "run_systems", &["strategy=buy_hold", "system=hold"]);
    let t = &j["result"]["targets"][0];
    assert_eq!(t["instrument"], "BTCUSDT.sim");
    let target: f64 = t["target"].as_str().unwrap().parse().unwrap();
    assert!(target > 0.0, "{j}");
    assert!(logs(d, url, &j["id"]).contains("target position"));

    // order_generation: one order to reach the target, stored as created; a
    // second run counts it as working and orders nothing.
    let j = job(d, url, "order_generation", &[]);
    let orders = j["result"]["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{j}");
    assert_eq!(orders[0]["status"], "created");
    let stored = store.orders(None).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].order.request.strategy.to_string(), "hold");
    let j = job(d, url, "order_generation", &[]);
    assert_eq!(j["result"]["orders"].as_array().unwrap().len(), 0, "{j}");

    // The order stack handler sends the created order to the paper broker
    // once: the first pass sends it, a second (a restart: recovery first)
    // sends nothing, and the paper book holds it once.
    let pass = |d: &Path| -> Value {
        // buy_hold targets all of run_systems' 100 000: room for the next bar's open.
        let o = tessera(
            d,
            url,
            &[
                "--json",
                "orders",
                "handle",
                "--once",
                "--capital",
                "1000000",
            ],
        );
        serde_json::from_str(&ok(&o)).unwrap()
    };
    let r = pass(d);
    assert_eq!(r["sent"], 1, "{r}");
    let r = pass(d);
    assert_eq!(r["sent"], 0, "{r}");
    // A bar after the order went out: the paper broker fills it, once.
    let id = tessera_model::InstrumentId::parse("BTCUSDT", "sim").unwrap();
    let mut bar = store
        .latest_bar(&id, tessera_model::Interval::M1)
        .await
        .unwrap()
        .unwrap();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    bar.open_time = tessera_model::UnixNanos((wall / 60_000_000_000 + 1) * 60_000_000_000);
    store
        .insert_bars(&[bar], tessera_storage::InsertOptions::default())
        .await
        .unwrap();
    let r = pass(d);
    assert_eq!(r["sent"], 0, "{r}");
    assert!(r["fills"].as_u64().unwrap() >= 1, "{r}");
    let r = pass(d);
    assert_eq!(
        (r["sent"].as_u64(), r["fills"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    let fills = store.fills().await.unwrap();
    assert!(!fills.is_empty());
    let mut trade_ids: Vec<String> = fills.iter().map(|f| f.fill.trade_id.to_string()).collect();
    trade_ids.sort();
    trade_ids.dedup();
    assert_eq!(trade_ids.len(), fills.len(), "a fill booked twice");
    let filled: rust_decimal::Decimal = fills.iter().map(|f| f.fill.quantity.as_decimal()).sum();
    let order = &store.orders(None).await.unwrap()[0].order;
    assert_eq!(
        filled,
        order.filled_quantity.as_decimal(),
        "fills add up to the order's"
    );
    let stored = store.orders(None).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].broker, "eod");
    let status = stored[0].order.status.as_str();
    assert!(
        ["partially_filled", "filled"].contains(&status),
        "{status}: {:?}",
        stored[0].order.reject_reason
    );
    let (paper_fills, _) = store.paper_book("eod").await.unwrap();
    assert_eq!(paper_fills.len(), fills.len(), "paper book and stack agree");
    // A third run of order_generation still orders nothing (the order works or is filled).
    let j = job(d, url, "order_generation", &[]);
    assert_eq!(j["result"]["orders"].as_array().unwrap().len(), 0, "{j}");

    // Refused parameters: never queued, the message names the parameter.
    for (ty, p, needle) in [
        ("run_systems", "lookback_bars=1", "lookback_bars"),
        ("backtest", "strategy=sma_cross", "symbol"),
        ("order_generation", "buffer=-1", "buffer"),
        ("model_training", "kind=forest", "kind"),
        ("sweep", "strategy=sma_cross", "grid"),
        ("backups", "keep=0", "keep"),
    ] {
        let out = tessera(d, url, &["jobs", "run", ty, "--param", p, "--wait"]);
        assert!(!out.status.success(), "{ty} {p} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{ty} {p}: {err}");
    }
    // A handler's own refusal is permanent: failed after one attempt.
    let out = tessera(
        d,
        url,
        &[
            "--json",
            "jobs",
            "run",
            "run_systems",
            "--param",
            "strategy=no_such_strategy",
            "--wait",
        ],
    );
    assert!(!out.status.success());
    let failed = store
        .list_jobs(&tessera_storage::JobFilter {
            status: Some(JobStatus::Failed),
            job_type: Some("run_systems".into()),
            limit: 5,
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 1);
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap()
            .contains("no_such_strategy"),
        "{:?}",
        failed[0].error
    );

    // backups: database and artefacts copied into a timestamped folder.
    let dest = d.join("bk");
    let dest_param = format!("destination={}", dest.display());
    let j = job(d, url, "backups", &[&dest_param, "keep=1"]);
    let path = Path::new(j["result"]["path"].as_str().unwrap()).to_path_buf();
    assert!(path.join("manifest.json").exists());
    assert!(
        j["result"]["artefact_files"].as_u64().unwrap() >= 1,
        "the model's artefact: {j}"
    );
    if url.starts_with("sqlite:") {
        // Restore: the copy is a complete database.
        let restored = d.join("restored.db");
        std::fs::copy(path.join("tessera.db"), &restored).unwrap();
        let r = Store::open(&format!("sqlite://{}", restored.display()))
            .await
            .unwrap();
        assert_eq!(r.list_instruments().await.unwrap().len(), 1);
        assert_eq!(r.backtest(&run_id).await.unwrap().run_id, run_id);
        assert_eq!(r.production_ml_models().await.unwrap().len(), 1);
        assert_eq!(r.orders(None).await.unwrap().len(), 1);
        r.close().await;

        // `tessera restore`: a change after the backup is undone.
        ok(&tessera(
            d,
            url,
            &["data", "add", "ETHUSDT", "--venue", "sim"],
        ));
        let bk = path.display().to_string();
        let out = tessera(d, url, &["restore", &bk]);
        assert!(!out.status.success(), "replaced without --yes");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
        // This test still holds the database open: refused as in use.
        let out = tessera(d, url, &["restore", &bk, "--yes"]);
        assert!(!out.status.success(), "replaced a database in use");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(err.contains("in use"), "{err}");
        store.close().await;
        let art = d.join("tessera-data").join("artefacts");
        std::fs::remove_dir_all(&art).unwrap();
        let v: Value =
            serde_json::from_str(&ok(&tessera(d, url, &["--json", "restore", &bk, "--yes"])))
                .unwrap();
        assert_eq!(v["instruments"], 1, "{v}");
        assert!(v["artefact_files"].as_u64().unwrap() >= 1, "{v}");
        assert!(art.is_dir());
        // Read back through the CLI.
        let list: Value =
            serde_json::from_str(&ok(&tessera(d, url, &["--json", "instruments", "list"])))
                .unwrap();
        let syms: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["symbol"].as_str().unwrap())
            .collect();
        assert_eq!(syms, ["BTCUSDT"], "{list}");
        let orders: Value =
            serde_json::from_str(&ok(&tessera(d, url, &["--json", "orders", "list"]))).unwrap();
        assert_eq!(orders.as_array().unwrap().len(), 1, "{orders}");
        let runs = ok(&tessera(d, url, &["--json", "model", "list"]));
        assert!(runs.contains("demo"), "{runs}");
    } else {
        let sql = std::fs::read_to_string(path.join("tessera.sql")).unwrap();
        assert!(sql.contains("CREATE TABLE") && sql.contains("COPY"), "dump");
        // `tessera restore` through psql: refused while this test is connected, then restored.
        ok(&tessera(
            d,
            url,
            &["data", "add", "ETHUSDT", "--venue", "sim"],
        ));
        let bk = path.display().to_string();
        let out = tessera(d, url, &["restore", &bk, "--yes"]);
        assert!(!out.status.success(), "replaced a database in use");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(err.contains("other session"), "{err}");
        store.close().await;
        let out = tessera(d, url, &["restore", &bk]);
        assert!(!out.status.success(), "replaced without --yes");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
        let v: Value =
            serde_json::from_str(&ok(&tessera(d, url, &["--json", "restore", &bk, "--yes"])))
                .unwrap();
        assert_eq!(v["instruments"], 1, "{v}");
        let orders: Value =
            serde_json::from_str(&ok(&tessera(d, url, &["--json", "orders", "list"]))).unwrap();
        assert_eq!(orders.as_array().unwrap().len(), 1, "{orders}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_job_handlers_run_through_a_worker_on_every_backend() {
    for db in TestDb::all().await {
        story(&db).await;
    }
}
