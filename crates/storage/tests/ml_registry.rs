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
