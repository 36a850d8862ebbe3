//! Backtest run repository, on SQLite and on PostgreSQL.

use tessera_core::UnixNanos;
use tessera_storage::testing::TestDb;
use tessera_storage::{BacktestRun, BacktestTrade, Error, Store};

fn run(id: &str, started: i64) -> BacktestRun {
    BacktestRun {
        run_id: id.into(),
        strategy: "sma_cross".into(),
        params: r#"{"fast":"10","slow":"20"}"#.into(),
        instruments: "GOOG.csv".into(),
        interval: "1d".into(),
        data_from: UnixNanos(1),
        data_to: UnixNanos(2),
        bars: 2148,
        data_source: "goog.csv".into(),
        settings: r#"{"fill_model":"next-open"}"#.into(),
        code_version: "0.1.0".into(),
        started_at: UnixNanos(started),
        finished_at: UnixNanos(started + 5),
        equity_final: 56263.51934,
        return_pct: 462.6,
        sharpe_ratio: None,
        max_drawdown_pct: -33.9,
        trades: 1,
        final_equity_exact: "56263.51934 USD".into(),
        stats: r#"{"trades":1}"#.into(),
    }
}

fn trade() -> BacktestTrade {
    BacktestTrade {
        instrument: "GOOG.csv".into(),
        side: "short".into(),
        size: "59".into(),
        entry_time: UnixNanos(10),
        exit_time: UnixNanos(20),
        entry_price: "169.02".into(),
        exit_price: "179.13".into(),
        pnl: "-637.5717".into(),
        commission: "41.0817".into(),
        return_pct: -6.39,
        entry_bar: 63,
        exit_bar: 75,
    }
}

async fn story(store: &Store) {
    eprintln!("backtest runs story on {}", store.backend());
    let equity: Vec<(UnixNanos, f64)> = (0..1234)
        .map(|i| (UnixNanos(i), 10_000.0 + i as f64 * 0.5))
        .collect();
    store
        .insert_backtest(&run("a", 100), &[trade(), trade()], &equity)
        .await
        .unwrap();
    store
        .insert_backtest(&run("b", 200), &[], &[])
        .await
        .unwrap();
    assert!(matches!(
        store.insert_backtest(&run("a", 300), &[], &[]).await,
        Err(Error::AlreadyExists(_))
    ));
    let list = store.list_backtests().await.unwrap();
    assert_eq!(
        list.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    assert_eq!(store.backtest("a").await.unwrap(), run("a", 100));
    assert!(matches!(
        store.backtest("zz").await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        store.backtest_trades("a").await.unwrap(),
        vec![trade(), trade()]
    );
    assert_eq!(store.backtest_equity("a").await.unwrap(), equity);
    store.delete_backtest("a").await.unwrap();
    assert!(store.backtest_trades("a").await.unwrap().is_empty());
    assert!(matches!(
        store.delete_backtest("a").await,
        Err(Error::NotFound(_))
    ));
}

// Multi-threaded: `TestDb`'s drop closes the pool from another thread while this runtime keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_backtest_runs_story_on_every_backend() {
    for db in TestDb::all().await {
        story(db.store()).await;
    }
}
