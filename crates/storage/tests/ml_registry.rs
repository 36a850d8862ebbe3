//! ML model registry repository, every method on SQLite and on PostgreSQL.

use tessera_core::UnixNanos;
use tessera_storage::testing::TestDb;
use tessera_storage::{
    Error, MlImportance, MlModel, MlModelRecord, MlPerformance, MlPrediction, Store,
};

fn model(name: &str, version: i64) -> MlModel {
    MlModel {
        execution_id: format!("exec-{name}-{version}"),
        name: name.into(),
        version,
        kind: "ridge".into(),
        task: "regression".into(),
        stage: "staged".into(),
        created_at: UnixNanos(1_000 + version),
        data_from: UnixNanos(10),
        data_to: UnixNanos(20),
        symbols: "AAPL,MSFT".into(),
        venue: "csv".into(),
        interval: "1d".into(),
        feature_set: "rsi:14,ret:1".into(),
        target: "fwd_ret:5".into(),
        data_query: r#"{"source":"store"}"#.into(),
        code_version: "0.1.0".into(),
        artefact_uri: format!("default/models/{name}/{version}/model.json"),
        artefact_sha256: "ab".repeat(32),
        metrics: r#"{"r2":0.1}"#.into(),
    }
}

fn record(name: &str, version: i64) -> MlModelRecord {
    MlModelRecord {
        model: Some(model(name, version)),
        params: vec![("alpha".into(), "1.0".into())],
        features: vec!["rsi_14".into(), "ret_1".into()],
        performance: vec![
            MlPerformance {
                evaluation: "train".into(),
                fold: None,
                rows: 100,
                data_from: UnixNanos(10),
                data_to: UnixNanos(15),
                metric: "r2".into(),
                value: 0.2,
            },
            MlPerformance {
                evaluation: "fold_1".into(),
                fold: Some(1),
                rows: 20,
                data_from: UnixNanos(16),
                data_to: UnixNanos(20),
                metric: "ic".into(),
                value: f64::NAN,
            },
        ],
        importance: vec![
            MlImportance {
                method: "native".into(),
                symbol: "*".into(),
                feature: "rsi_14".into(),
                value: 0.5,
            },
            MlImportance {
                method: "permutation".into(),
                symbol: "AAPL".into(),
                feature: "ret_1".into(),
                value: 0.01,
            },
        ],
    }
}

async fn story(store: &Store) {
    assert_eq!(store.next_ml_model_version("alpha").await.unwrap(), 1);
    store.insert_ml_model(&record("alpha", 1)).await.unwrap();
    store.insert_ml_model(&record("alpha", 2)).await.unwrap();
    assert!(matches!(
        store.insert_ml_model(&record("alpha", 2)).await,
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(store.next_ml_model_version("alpha").await.unwrap(), 3);
    assert_eq!(store.list_ml_models().await.unwrap().len(), 2);

    // Without production, the latest version answers; after promotion, production does.
    assert_eq!(store.ml_model("alpha", None).await.unwrap().version, 2);
    let m = store.promote_ml_model("alpha", 1).await.unwrap();
    assert_eq!(m.stage, "production");
    assert_eq!(store.ml_model("alpha", None).await.unwrap().version, 1);
    store.promote_ml_model("alpha", 2).await.unwrap();
    assert_eq!(
        store.ml_model("alpha", Some(1)).await.unwrap().stage,
        "archived"
    );
    assert_eq!(store.production_ml_models().await.unwrap().len(), 1);
    assert!(matches!(
        store.promote_ml_model("alpha", 9).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store.ml_model("nope", None).await,
        Err(Error::NotFound(_))
    ));
    store
        .set_ml_model_stage("alpha", 1, "staged")
        .await
        .unwrap();
    assert!(matches!(
        store.set_ml_model_stage("alpha", 1, "bogus").await,
        Err(Error::Refused(_))
    ));

    let d = store.ml_model_details("exec-alpha-1").await.unwrap();
    assert_eq!(d.features, ["rsi_14", "ret_1"]);
    assert_eq!(d.params, [("alpha".to_string(), "1.0".to_string())]);
    assert_eq!(d.performance.len(), 2);
    assert_eq!(d.performance[0].evaluation, "train");
    assert!(d.performance[1].value.is_nan(), "NaN round-trips as NULL");
    assert_eq!(d.performance[1].fold, Some(1));
    assert_eq!(d.importance.len(), 2);

    store
        .link_ml_backtest("exec-alpha-1", "bt-1", UnixNanos(5))
        .await
        .unwrap();
    store
        .link_ml_backtest("exec-alpha-1", "bt-1", UnixNanos(6))
        .await
        .unwrap();
    assert_eq!(
        store.ml_model_backtests("exec-alpha-1").await.unwrap(),
        ["bt-1"]
    );
    assert!(matches!(
        store.link_ml_backtest("nope", "bt", UnixNanos(1)).await,
        Err(Error::NotFound(_))
    ));

    let pred = |sym: &str, ts: i64| MlPrediction {
        execution_id: "exec-alpha-2".into(),
        symbol: sym.into(),
        ts: UnixNanos(ts),
        horizon: 5,
        value: 0.01,
        probs: "{}".into(),
        created_at: UnixNanos(ts + 1),
    };
    assert_eq!(
        store
            .insert_ml_predictions(&[pred("AAPL", 1), pred("MSFT", 1), pred("AAPL", 2)])
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .insert_ml_predictions(&[pred("AAPL", 2)])
            .await
            .unwrap(),
        0,
        "idempotent"
    );
    assert_eq!(
        store
            .ml_predictions("exec-alpha-2", Some("AAPL"))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .ml_predictions("exec-alpha-2", None)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_ml_registry_story_on_both_backends() {
    for db in TestDb::all().await {
        story(db.store()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_ml_predictions_bulk_matches_row_by_row_on_both_backends() {
    for db in TestDb::all().await {
        let store = db.store();
        store.insert_ml_model(&record("bulk", 1)).await.unwrap();
        store.insert_ml_model(&record("rows", 1)).await.unwrap();
        // More rows than one statement holds, a NaN value, class probabilities, a row already
        // stored and a duplicate inside the batch.
        let n = tessera_storage::ML_PREDICTIONS_PER_STATEMENT * 2 + 7;
        let preds = |exec: &str| -> Vec<MlPrediction> {
            (0..n)
                .map(|i| MlPrediction {
                    execution_id: exec.into(),
                    symbol: format!("S{}", i % 3),
                    ts: UnixNanos(1_000 + (i / 3) as i64),
                    horizon: 1,
                    value: if i == 5 { f64::NAN } else { i as f64 * 0.5 },
                    probs: format!(r#"{{"0":{},"1":{}}}"#, 0.25, 0.75),
                    created_at: UnixNanos(9),
                })
                .collect()
        };
        let (mut bulk, mut rows) = (preds("exec-bulk-1"), preds("exec-rows-1"));
        let first_bulk = store.insert_ml_predictions_bulk(&bulk[..10]).await.unwrap();
        let first_rows = store.insert_ml_predictions(&rows[..10]).await.unwrap();
        assert_eq!((first_bulk, first_rows), (10, 10));
        bulk.push(bulk[20].clone());
        rows.push(rows[20].clone());
        let b = store.insert_ml_predictions_bulk(&bulk).await.unwrap();
        let r = store.insert_ml_predictions(&rows).await.unwrap();
        assert_eq!(b, (n - 10) as u64, "{:?}", db.backend());
        assert_eq!(b, r);
        assert_eq!(store.insert_ml_predictions_bulk(&bulk).await.unwrap(), 0);
        assert_eq!(store.insert_ml_predictions_bulk(&[]).await.unwrap(), 0);
        let got_b = store.ml_predictions("exec-bulk-1", None).await.unwrap();
        let got_r = store.ml_predictions("exec-rows-1", None).await.unwrap();
        assert_eq!(got_b.len(), n);
        for (x, y) in got_b.iter().zip(&got_r) {
            assert_eq!((&x.symbol, x.ts, x.horizon), (&y.symbol, y.ts, y.horizon));
            assert_eq!(x.value.to_bits(), y.value.to_bits());
            assert_eq!((&x.probs, x.created_at), (&y.probs, y.created_at));
        }
        assert!(got_b.iter().any(|p| p.value.is_nan()), "NaN stored as NULL");
    }
}
