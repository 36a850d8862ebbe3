//! The prediction service end to end on SQLite and PostgreSQL: models trained and registered on
//! stored bars, promoted, then served over bars stored afterwards, a few at a time. Every closed
//! bar gets exactly one prediction per production model, re-runs and restarts store nothing
//! twice, the stored values equal the batch predictions `tessera model predict` computes on the
//! same bars (streaming features == batch features, nothing from the future), and promoting a
//! new version switches the model that scores the following bars.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_core::{SimClock, TimeRange, UnixNanos};
use tessera_indicators::features::{FeatureSet, Target};
use tessera_ml::artefact::{ArtefactConfig, ArtefactStore};
use tessera_ml::dataset::Dataset;
use tessera_ml::registry::{Registry, TrainMeta, panel_from_store};
use tessera_ml::service::PredictionService;
use tessera_ml::train::train;
use tessera_ml::{Kind, Params, SplitSpec, Task};
use tessera_model::{Bar, Instrument, InstrumentId, InstrumentKind, Interval, Price, Quantity};
use tessera_storage::testing::TestDb;
use tessera_storage::{InsertOptions, MlModel, MlPrediction, Store};

const SYMBOLS: [&str; 3] = ["AAA", "BBB", "CCC"];
const VENUE: &str = "sim";
const MINUTE: i64 = 60_000_000_000;
const START: i64 = 1_700_000_040 * 1_000_000_000; // on the minute grid
const HISTORY: usize = 300;
const FEATURES: &str = "rsi:14,ret:1,ret:5,sma:10,bbands:20,2,2";

/// A seeded random walk per symbol.
struct Walk {
    price: Vec<f64>,
    state: u64,
}

impl Walk {
    fn rnd(&mut self) -> f64 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    fn bar(&mut self, s: usize, i: usize) -> Bar {
        let r = self.rnd();
        let o = self.price[s];
        let c = o * (1.0 + r * 0.01);
        self.price[s] = c;
        let p = |x: f64| Price::parse(&format!("{x:.4}")).expect("price");
        Bar {
            instrument: InstrumentId::parse(SYMBOLS[s], VENUE).expect("id"),
            interval: Interval::M1,
            open_time: UnixNanos(START + i as i64 * MINUTE),
            open: p(o),
            high: p(o.max(c) * 1.001),
            low: p(o.min(c) * 0.999),
            close: p(c),
            volume: Quantity::parse(&format!("{}", 1000 + (self.state >> 54))).expect("qty"),
            trade_count: None,
            quote_volume: None,
        }
    }

    /// Bars `from..to` of every symbol.
    fn bars(&mut self, from: usize, to: usize) -> Vec<Bar> {
        (from..to)
            .flat_map(|i| (0..SYMBOLS.len()).map(move |s| (s, i)))
            .map(|(s, i)| self.bar(s, i))
            .collect()
    }
}

fn close_of(i: usize) -> UnixNanos {
    UnixNanos(START + (i as i64 + 1) * MINUTE)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Trains `kind` on the stored bars of `symbols`, registers it and promotes it.
async fn train_register_promote(
    registry: &Registry,
    name: &str,
    kind: Kind,
    target: &str,
    params: &[&str],
    symbols: &[&str],
) -> MlModel {
    let symbols = strings(symbols);
    let panel = panel_from_store(&registry.store, &symbols, VENUE, "1m", TimeRange::ALL)
        .await
        .expect("panel");
    let fs = FeatureSet::parse(FEATURES).expect("features");
    let t = Target::parse(target).expect("target");
    let ds = Dataset::build(&panel, &fs, Some(t), None).expect("dataset");
    let task = if target.starts_with("fwd_sign") {
        Task::Classification
    } else {
        Task::Regression
    };
    let trained = train(
        &ds,
        kind,
        task,
        &Params::parse(params).expect("params"),
        Some(SplitSpec::Holdout { fraction: 0.2 }),
        1,
    )
    .expect("train");
    let (from, to) = ds.time_span().expect("span");
    let meta = TrainMeta {
        name: name.to_owned(),
        feature_set: FEATURES.to_owned(),
        features: ds.features.clone(),
        target: target.to_owned(),
        horizon: 1,
        symbols,
        venue: VENUE.to_owned(),
        interval: "1m".to_owned(),
        data_from: from,
        data_to: to,
        data_query: serde_json::json!({}),
        params: Params::parse(params).expect("params"),
    };
    let row = registry.register(&trained, &meta).await.expect("register");
    registry
        .store
        .promote_ml_model(&row.name, row.version)
        .await
        .expect("promote")
}

/// What `tessera model predict NAME@VERSION --symbol … --venue sim --interval 1m` computes:
/// features over all stored bars in one batch, the model's predictions, by (symbol, time).
async fn batch(
    registry: &Registry,
    reference: &str,
) -> BTreeMap<(String, UnixNanos), (f64, Vec<f64>)> {
    let (row, loaded) = registry.load(reference).await.expect("load");
    let symbols: Vec<String> = row.symbols.split(',').map(str::to_owned).collect();
    let panel = panel_from_store(&registry.store, &symbols, VENUE, "1m", TimeRange::ALL)
        .await
        .expect("panel");
    let fs = FeatureSet::parse(&loaded.meta.feature_set).expect("features");
    let ds = Dataset::build(&panel, &fs, None, None).expect("dataset");
    assert_eq!(ds.features, loaded.meta.features);
    let preds = loaded.model.predict_batch(&ds.x).expect("predict");
    preds
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            (
                (ds.symbols[ds.symbol_idx[i]].clone(), ds.timestamps[i]),
                (p.value, p.probs),
            )
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// Checks the stored predictions of `model` for bar indices `bars` (closing times): exactly one
/// per symbol and bar, with the batch value and class probabilities.
async fn check_against_batch(
    registry: &Registry,
    model: &MlModel,
    bars: std::ops::Range<usize>,
    classes: &[f64],
) {
    let stored = registry
        .store
        .ml_predictions(&model.execution_id, None)
        .await
        .expect("predictions");
    let reference = format!("{}@{}", model.name, model.version);
    let want = batch(registry, &reference).await;
    let symbols: Vec<&str> = model.symbols.split(',').collect();
    let mut seen: BTreeMap<(String, UnixNanos), &MlPrediction> = BTreeMap::new();
    for p in &stored {
        assert!(
            seen.insert((p.symbol.clone(), p.ts), p).is_none(),
            "{reference}: two predictions for {} at {:?}",
            p.symbol,
            p.ts
        );
    }
    assert_eq!(
        stored.len(),
        symbols.len() * bars.len(),
        "{reference}: one prediction per symbol and bar closed while in production"
    );
    for i in bars {
        for s in &symbols {
            let key = ((*s).to_owned(), close_of(i));
            let p = seen
                .get(&key)
                .unwrap_or_else(|| panic!("{reference}: no prediction for {s} at bar {i}"));
            assert_eq!(p.horizon, 1);
            let (value, probs) = want.get(&key).expect("batch row");
            assert!(
                close(p.value, *value),
                "{reference} {s} bar {i}: served {} vs batch {value}",
                p.value
            );
            let got: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&p.probs).expect("probs JSON");
            assert_eq!(got.len(), classes.len(), "{reference}: probs {}", p.probs);
            for (c, want_p) in classes.iter().zip(probs) {
                let v = got[&format!("{}", *c as i64)].as_f64().expect("prob");
                assert!(
                    close(v, *want_p),
                    "{reference} {s} bar {i} class {c}: {v} vs {want_p}"
                );
            }
        }
    }
}

async fn count(store: &Store, model: &MlModel) -> usize {
    store
        .ml_predictions(&model.execution_id, None)
        .await
        .expect("predictions")
        .len()
}

async fn store_bars(store: &Store, bars: &[Bar]) {
    store
        .insert_bars(bars, InsertOptions::default())
        .await
        .expect("bars");
}

#[tokio::test]
async fn service_scores_each_closed_bar_once_like_the_batch_and_follows_promotions() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let store = db.store().clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let artefacts = ArtefactStore::open(&ArtefactConfig {
            url: dir.path().join("artefacts").display().to_string(),
            namespace: "test".to_owned(),
            ..ArtefactConfig::default()
        })
        .expect("artefacts");
        for s in SYMBOLS {
            let id = InstrumentId::parse(s, VENUE).expect("id");
            let inst = Instrument::with_defaults(id, InstrumentKind::Equity).expect("inst");
            store.upsert_instrument(&inst).await.expect("instrument");
        }
        let mut walk = Walk {
            price: vec![100.0, 50.0, 20.0],
            state: 11,
        };
        store_bars(&store, &walk.bars(0, HISTORY)).await;
        let clock = Arc::new(SimClock::new(close_of(HISTORY - 1)));
        let registry = Registry::new(store.clone(), artefacts, clock.clone());

        // A classifier over all three symbols, a regression over two.
        let cls = train_register_promote(
            &registry,
            "dir",
            Kind::Logistic,
            "fwd_sign:1",
            &[],
            &SYMBOLS,
        )
        .await;
        let reg1 = train_register_promote(
            &registry,
            "ret",
            Kind::Ridge,
            "fwd_ret:1",
            &["alpha=0.001"],
            &SYMBOLS[1..],
        )
        .await;
        let classes = registry.load("dir").await.expect("load").1.model.classes();
        assert!(classes.len() >= 2, "a classifier: {classes:?}");

        let mut svc = PredictionService::start(registry.clone(), VENUE, "1m", clock.clone())
            .await
            .expect("start");
        assert_eq!(svc.models().len(), 2, "{backend:?}: {:?}", svc.models());
        assert_eq!(count(&store, &cls).await, 0, "warm-up stores nothing");
        assert_eq!(svc.poll().await.expect("poll"), 0, "no new bar yet");

        // New bars arrive a few at a time; each poll scores only what is stored then, so a
        // batch match over all bars afterwards shows no prediction used a later bar.
        let mut next = HISTORY;
        for chunk in [1, 4, 10] {
            store_bars(&store, &walk.bars(next, next + chunk)).await;
            next += chunk;
            clock.set(close_of(next - 1));
            let n = svc.poll().await.expect("poll");
            assert_eq!(n as usize, chunk * (3 + 2), "{backend:?}: new predictions");
            assert_eq!(
                svc.poll().await.expect("re-poll"),
                0,
                "re-poll stores nothing"
            );
        }
        check_against_batch(&registry, &cls, HISTORY..next, &classes).await;
        check_against_batch(&registry, &reg1, HISTORY..next, &[]).await;

        // A restarted service replays the same bars and stores nothing twice.
        let mut again = PredictionService::start(registry.clone(), VENUE, "1m", clock.clone())
            .await
            .expect("restart");
        assert_eq!(again.poll().await.expect("poll"), 0, "{backend:?}: restart");
        assert_eq!(count(&store, &cls).await, 3 * (next - HISTORY));
        drop(again);

        // Promote a new version of `ret` (heavily regularised: different predictions). The
        // bars closing after the promotion are scored by version 2 only.
        let reg2 = train_register_promote(
            &registry,
            "ret",
            Kind::Ridge,
            "fwd_ret:1",
            &["alpha=1000"],
            &SYMBOLS[1..],
        )
        .await;
        assert_eq!(reg2.version, 2);
        let promoted_at = next;
        for chunk in [1, 5] {
            store_bars(&store, &walk.bars(next, next + chunk)).await;
            next += chunk;
            clock.set(close_of(next - 1));
            let n = svc.poll().await.expect("poll");
            assert_eq!(n as usize, chunk * (3 + 2), "{backend:?}: after promotion");
        }
        // A live feed pushes a few minutes' bars at once (stored as the feed stores them):
        // one insert, the same predictions, and a later poll finds nothing new.
        let live = walk.bars(next, next + 3);
        store_bars(&store, &live).await;
        next += 3;
        clock.set(close_of(next - 1));
        assert_eq!(svc.on_bars(&live).await.expect("on_bars"), 3 * (3 + 2));
        assert_eq!(
            svc.on_bars(&live).await.expect("replay"),
            0,
            "replayed bars"
        );
        assert_eq!(
            svc.poll().await.expect("poll"),
            0,
            "{backend:?}: pushed bars polled"
        );
        let mut served = svc.models();
        served.sort();
        assert_eq!(served, vec!["dir@1".to_owned(), "ret@2".to_owned()]);
        assert_eq!(
            count(&store, &reg1).await,
            2 * (promoted_at - HISTORY),
            "version 1 scores nothing after the promotion"
        );
        check_against_batch(&registry, &reg2, promoted_at..next, &[]).await;
        check_against_batch(&registry, &cls, HISTORY..next, &classes).await;
        // The switch is visible in the values: version 1 would have predicted otherwise.
        let v1 = batch(&registry, "ret@1").await;
        let v2 = registry
            .store
            .ml_predictions(&reg2.execution_id, None)
            .await
            .expect("predictions");
        assert!(
            v2.iter()
                .any(|p| !close(p.value, v1[&(p.symbol.clone(), p.ts)].0)),
            "versions 1 and 2 predict alike; the switch would go unnoticed"
        );
    }
}

/// The service runs under the scheduler's process control on a multi-threaded runtime: its
/// futures must be `Send`.
#[allow(dead_code)]
fn futures_are_send(svc: &mut PredictionService, bars: &[Bar], store: &Store) {
    fn send<T: Send>(_: &T) {}
    send(&svc.poll());
    send(&svc.refresh());
    send(&svc.on_bars(bars));
    send(&store.insert_ml_predictions_bulk(&[]));
}
