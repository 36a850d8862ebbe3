//! The storage story: every repository method, run on SQLite and on PostgreSQL.

use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{
    Bar, IngestState, Instrument, InstrumentId, InstrumentKind, Interval, Price, Quantity, Quote,
};
use tessera_storage::testing::TestDb;
use tessera_storage::{CursorUpdate, Error, InsertOptions, Store};

fn btc() -> Instrument {
    Instrument::with_defaults(
        InstrumentId::parse("BTCUSDT", "binance").unwrap(),
        InstrumentKind::Crypto,
    )
    .unwrap()
}

fn bar(id: InstrumentId, minute: i64, close: &str) -> Bar {
    let c: Price = close.parse().unwrap();
    Bar {
        instrument: id,
        interval: Interval::M1,
        open_time: UnixNanos::from_secs(1_704_067_200 + minute * 60).unwrap(),
        open: "100.00".parse().unwrap(),
        high: c.max("100.00".parse().unwrap()),
        low: c.min("100.00".parse().unwrap()),
        close: c,
        volume: "1.50000000".parse().unwrap(),
        trade_count: Some(7),
        quote_volume: Some("150.5".parse().unwrap()),
    }
}

async fn instruments_story(store: &Store) {
    let inst = btc();
    store.add_instrument(&inst).await.unwrap();
    assert!(matches!(
        store.add_instrument(&inst).await,
        Err(Error::AlreadyExists(_))
    ));
    let back = store.instrument(&inst.id).await.unwrap();
    assert_eq!(back, inst);
    let mut changed = inst.clone();
    changed.tick_size = "0.01".parse().unwrap();
    store.upsert_instrument(&changed).await.unwrap();
    assert_eq!(
        store
            .instrument(&inst.id)
            .await
            .unwrap()
            .tick_size
            .to_string(),
        "0.01"
    );
    let other = Instrument::with_defaults(
        InstrumentId::parse("BTCUSDT", "sim").unwrap(),
        InstrumentKind::Crypto,
    )
    .unwrap();
    store.add_instrument(&other).await.unwrap();
    assert_eq!(store.list_instruments().await.unwrap().len(), 2);
    let e = store
        .find_instrument(inst.id.symbol, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("binance") && e.contains("sim"), "{e}");
    assert_eq!(
        store
            .find_instrument(inst.id.symbol, Some(other.id.venue))
            .await
            .unwrap()
            .id,
        other.id
    );
    let missing = InstrumentId::parse("NOPE", "binance").unwrap();
    assert!(matches!(
        store.instrument(&missing).await,
        Err(Error::NotFound(_))
    ));
    let mut bad = inst.clone();
    bad.id = missing;
    bad.multiplier = 5.into();
    assert!(matches!(
        store.add_instrument(&bad).await,
        Err(Error::Model(_))
    ));
}

async fn bars_story(store: &Store) {
    let id = btc().id;
    let bars: Vec<Bar> = (0..1000)
        .map(|m| bar(id, m, &format!("{}.{:02}", 100 + m % 7, m % 100)))
        .collect();
    let r = store
        .insert_bars(&bars, InsertOptions::default())
        .await
        .unwrap();
    assert_eq!((r.inserted, r.duplicate, r.conflicting), (1000, 0, 0));
    // The same bars again, written with other decimals: all duplicates, nothing changes.
    let mut again = bars[..10].to_vec();
    again[0].volume = "1.5".parse().unwrap();
    let r = store
        .insert_bars(&again, InsertOptions::default())
        .await
        .unwrap();
    assert_eq!((r.inserted, r.duplicate, r.conflicting), (0, 10, 0));
    // A different bar at a stored key is a conflict, kept unless overwrite.
    let mut conflict = bars[5];
    conflict.close = "101.01".parse().unwrap();
    conflict.high = "101.01".parse().unwrap();
    let r = store
        .insert_bars(&[conflict, bar(id, 1000, "99")], InsertOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (r.inserted, r.duplicate, r.conflicting, r.overwritten),
        (1, 0, 1, 0)
    );
    let stored = store
        .bars_range(&id, Interval::M1, TimeRange::ALL)
        .await
        .unwrap();
    assert_eq!(stored[5], bars[5]);
    let r = store
        .insert_bars(&[conflict], InsertOptions { overwrite: true })
        .await
        .unwrap();
    assert_eq!((r.conflicting, r.overwritten), (1, 1));
    let stored = store
        .bars_range(&id, Interval::M1, TimeRange::ALL)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1001);
    assert_eq!(stored[5], conflict);
    // Values come back with the decimals they were written with.
    assert_eq!(stored[0].volume.to_string(), "1.50000000");
    assert_eq!(stored[0].open.to_string(), "100.00");
    // Invalid bars are refused and nothing of the call is stored.
    let mut broken = bar(id, 2000, "100");
    broken.high = "1".parse().unwrap();
    let e = store
        .insert_bars(&[bar(id, 1999, "100"), broken], InsertOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("high 1"), "{e}");
    assert_eq!(store.bar_count(&id, Interval::M1).await.unwrap(), 1001);

    // Pagination.
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = store
            .bars_page(&id, Interval::M1, TimeRange::ALL, 300, after)
            .await
            .unwrap();
        seen.extend(page.bars);
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, stored);
    let from = UnixNanos::from_secs(1_704_067_200 + 10 * 60).unwrap();
    let to = UnixNanos::from_secs(1_704_067_200 + 20 * 60).unwrap();
    let window = store
        .bars_range(&id, Interval::M1, TimeRange::new(from, to).unwrap())
        .await
        .unwrap();
    assert_eq!(window.len(), 10);
    assert_eq!(window[0].open_time, from);
    assert_eq!(
        store
            .latest_bar(&id, Interval::M1)
            .await
            .unwrap()
            .unwrap()
            .open_time,
        stored[1000].open_time
    );
    assert_eq!(
        store
            .first_bar(&id, Interval::M1)
            .await
            .unwrap()
            .unwrap()
            .open_time,
        stored[0].open_time
    );
    assert_eq!(store.bar_intervals(&id).await.unwrap(), vec![Interval::M1]);

    // Resampling equals the domain aggregation of what is stored.
    for target in ["5m", "15m", "1h", "4h", "1d"] {
        let t = Interval::parse(target).unwrap();
        let got = store
            .resampled_bars(&id, Interval::M1, t, TimeRange::ALL)
            .await
            .unwrap();
        assert_eq!(
            got,
            tessera_model::resample::resample(&stored, t).unwrap(),
            "{target}"
        );
    }
    let h = store
        .resampled_bars(
            &id,
            Interval::M1,
            Interval::parse("1h").unwrap(),
            TimeRange::new(from, to).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].open, stored[0].open, "range widened to the whole hour");
    assert!(
        store
            .resampled_bars(
                &id,
                Interval::M1,
                Interval::parse("90s").unwrap(),
                TimeRange::ALL
            )
            .await
            .is_err()
    );
}

async fn cursor_story(store: &Store) {
    let id = btc().id;
    assert!(store.cursor(&id, Interval::M1).await.unwrap().is_none());
    let upd = |state, last: Option<i64>, err: Option<&str>| CursorUpdate {
        instrument: id,
        interval: Interval::M1,
        state,
        last_open_time: last.map(UnixNanos),
        last_error: err.map(str::to_string),
    };
    store
        .update_cursor(&upd(IngestState::Created, None, None))
        .await
        .unwrap();
    let b = bar(id, 5000, "100");
    let r = store
        .insert_bars_with_cursor(
            &[b],
            InsertOptions::default(),
            Some(&upd(IngestState::Backfilling, Some(b.open_time.0), None)),
        )
        .await
        .unwrap();
    assert_eq!(r.inserted, 1);
    let c = store.cursor(&id, Interval::M1).await.unwrap().unwrap();
    assert_eq!(
        (c.state, c.last_open_time),
        (IngestState::Backfilling, Some(b.open_time))
    );
    // The cursor never moves back, and a failure keeps its reason.
    store
        .update_cursor(&upd(IngestState::Failed, Some(5), Some("venue said 418")))
        .await
        .unwrap();
    let c = store.cursor(&id, Interval::M1).await.unwrap().unwrap();
    assert_eq!(
        (c.state, c.last_open_time, c.last_error.as_deref()),
        (
            IngestState::Failed,
            Some(b.open_time),
            Some("venue said 418")
        )
    );
    assert_eq!(store.list_cursors().await.unwrap().len(), 1);
}

async fn quotes_story(store: &Store) {
    let id = btc().id;
    let q = |s: i64, bid: &str| Quote {
        instrument: id,
        ts_event: UnixNanos::from_secs(1_704_067_200 + s).unwrap(),
        bid_price: bid.parse().unwrap(),
        bid_size: Quantity::parse("0.5").unwrap(),
        ask_price: "42000.10".parse().unwrap(),
        ask_size: Quantity::parse("1.25").unwrap(),
    };
    let r = store
        .insert_quotes(&[q(0, "42000.00"), q(60, "42000.05")])
        .await
        .unwrap();
    assert_eq!(r.inserted, 2);
    let r = store
        .insert_quotes(&[q(0, "42000.00"), q(60, "41999.00")])
        .await
        .unwrap();
    assert_eq!((r.inserted, r.duplicate, r.conflicting), (0, 1, 1));
    let mut crossed = q(120, "50000");
    crossed.ask_price = "1".parse().unwrap();
    assert!(store.insert_quotes(&[crossed]).await.is_err());
    assert_eq!(
        store
            .quotes_range(&id, TimeRange::ALL, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .latest_quote(&id)
            .await
            .unwrap()
            .unwrap()
            .bid_price
            .to_string(),
        "42000.05"
    );
    assert_eq!(store.quote_count(&id).await.unwrap(), 2);
}

async fn remove_story(store: &Store) {
    let id = btc().id;
    let e = store
        .remove_instrument(&id, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("--force"), "{e}");
    assert_eq!(store.bar_count(&id, Interval::M1).await.unwrap(), 1002);
    let r = store.remove_instrument(&id, true).await.unwrap();
    assert_eq!((r.bars, r.quotes), (1002, 2));
    assert!(matches!(
        store.instrument(&id).await,
        Err(Error::NotFound(_))
    ));
    let sim = InstrumentId::parse("BTCUSDT", "sim").unwrap();
    assert_eq!(store.remove_instrument(&sim, false).await.unwrap().bars, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_storage_story_on_every_backend() {
    for db in TestDb::all().await {
        let store = db.store();
        eprintln!("storage story on {}", store.backend());
        let status = store.migration_status().await.unwrap();
        assert!(status.iter().all(|m| m.applied), "{status:?}");
        assert_eq!(
            store.migrate().await.unwrap(),
            0,
            "second migrate is a no-op"
        );
        instruments_story(store).await;
        bars_story(store).await;
        cursor_story(store).await;
        quotes_story(store).await;
        remove_story(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_concurrent_inserts_of_the_same_bars_store_each_once() {
    for db in TestDb::all().await {
        let store = db.store().clone();
        store.add_instrument(&btc()).await.unwrap();
        let id = btc().id;
        let bars: Vec<Bar> = (0..3000).map(|m| bar(id, m, "101")).collect();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (s, b) = (store.clone(), bars.clone());
            tasks.push(tokio::spawn(async move {
                s.insert_bars(&b, InsertOptions::default()).await.unwrap()
            }));
        }
        let mut total = tessera_storage::InsertReport::default();
        for t in tasks {
            total.add(&t.await.unwrap());
        }
        assert_eq!(total.inserted, 3000, "{}: {total:?}", store.backend());
        assert_eq!(total.duplicate, 9000);
        assert_eq!(store.bar_count(&id, Interval::M1).await.unwrap(), 3000);
    }
}

#[tokio::test]
async fn test_fresh_sqlite_file_is_created_with_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/t.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());
    assert!(
        store
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|m| m.applied)
    );
}

/// `TestDb` must drop cleanly under the default current-thread test runtime too.
#[tokio::test]
async fn test_test_db_drops_on_a_current_thread_runtime() {
    for db in TestDb::all().await {
        db.store().list_instruments().await.unwrap();
    }
}
