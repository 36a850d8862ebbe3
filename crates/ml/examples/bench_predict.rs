//! Prediction-service latency: one new closed bar per symbol across 100 symbols, through
//! [`PredictionService::on_bar`] (streaming features, the production model, the prediction
//! stored in the database), as `tessera model serve` does for a live feed.
//!
//! `cargo run --release -p tessera-ml --example bench_predict` runs on a fresh SQLite file and a
//! fresh PostgreSQL database (`tessera_storage::testing::TestDb`, the local server; skipped when
//! unreachable) for each of two layouts:
//!
//! - `per_symbol`: 100 production models, one per symbol (each bar completes its own row, so
//!   every bar is scored and stored on arrival);
//! - `cross_section`: one production model over all 100 symbols (a row completes when the last
//!   symbol's bar of the minute arrives; that bar scores and stores 100 predictions).
//!
//! Each is warmed on 1,200 stored bars per symbol, then fed 200 new minutes, once bar by bar
//! through [`PredictionService::on_bar`] (one insert per bar that completes a row) and once a
//! minute at a time through [`PredictionService::on_bars`] (the minute's predictions in one
//! multi-row insert). Prints one JSON object per layout and feed: per-bar latency p50/p99
//! (bar-by-bar feed only) and the per-minute total (all 100 bars).

use std::sync::Arc;
use std::time::Instant;

use tessera_core::{SimClock, UnixNanos};
use tessera_indicators::features::{FeatureSet, SymbolBars, Target};
use tessera_ml::artefact::{ArtefactConfig, ArtefactStore};
use tessera_ml::dataset::Dataset;
use tessera_ml::registry::{Registry, TrainMeta};
use tessera_ml::service::PredictionService;
use tessera_ml::train::train;
use tessera_ml::{Kind, Params, SplitSpec, Task};
use tessera_model::{Bar, Instrument, InstrumentId, InstrumentKind, Interval, Price, Quantity};
use tessera_storage::testing::TestDb;
use tessera_storage::{InsertOptions, Store};

const SYMBOLS: usize = 100;
const WARM: usize = 1_200;
const LIVE: usize = 200;
const MINUTE: i64 = 60_000_000_000;
const START: i64 = 1_700_000_040 * 1_000_000_000; // on the minute grid
const FEATURES: &str = "rsi:14,macd:12,26,9,ret:1,ret:5,atr:14,bbands:20,2,2,sma:10,sma:50,ema:20,roc:10,willr:14,cci:20,adx:14,mfi:14,obv,stddev:20";

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
            instrument: InstrumentId::parse(&format!("S{s}"), "sim").expect("id"),
            interval: Interval::M1,
            open_time: UnixNanos(START + i as i64 * MINUTE),
            open: p(o),
            high: p(o.max(c) * 1.001),
            low: p(o.min(c) * 0.999),
            close: p(c),
            volume: Quantity::parse("1000").expect("qty"),
            trade_count: None,
            quote_volume: None,
        }
    }
}

fn panel_of(bars: &[Vec<Bar>]) -> Vec<SymbolBars> {
    bars.iter()
        .enumerate()
        .map(|(s, v)| {
            let mut sb = SymbolBars {
                symbol: format!("S{s}"),
                ..SymbolBars::default()
            };
            for b in v {
                sb.timestamps.push(b.close_time());
                sb.open.push(b.open.to_f64());
                sb.high.push(b.high.to_f64());
                sb.low.push(b.low.to_f64());
                sb.close.push(b.close.to_f64());
                sb.volume.push(b.volume.to_f64());
            }
            sb
        })
        .collect()
}

fn q(v: &mut [f64], f: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * f) as usize]
}

async fn run(db: &TestDb, per_symbol: bool, batched: bool) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(db.url()).await.expect("store");
    let artefacts = ArtefactStore::open(&ArtefactConfig {
        url: dir.path().join("artefacts").display().to_string(),
        namespace: format!("bench{}", u8::from(per_symbol)),
        ..ArtefactConfig::default()
    })
    .expect("artefacts");
    let mut walk = Walk {
        price: (0..SYMBOLS).map(|s| 100.0 + s as f64).collect(),
        state: 7,
    };
    let mut history: Vec<Vec<Bar>> = vec![Vec::new(); SYMBOLS];
    for i in 0..WARM {
        for (s, h) in history.iter_mut().enumerate() {
            h.push(walk.bar(s, i));
        }
    }
    for h in &history {
        let inst =
            Instrument::with_defaults(h[0].instrument, InstrumentKind::Equity).expect("inst");
        store.upsert_instrument(&inst).await.expect("instrument");
        store
            .insert_bars(h, InsertOptions::default())
            .await
            .expect("bars");
    }
    // One GBT (100 trees) fitted on the first symbols' history, registered as the production
    // model of each layout.
    let panel = panel_of(&history[..4]);
    let fs = FeatureSet::parse(FEATURES).expect("features");
    let target = Target::parse("fwd_ret:1").expect("target");
    let ds = Dataset::build(&panel, &fs, Some(target), None).expect("dataset");
    let trained = train(
        &ds,
        Kind::Gbt,
        Task::Regression,
        &Params::parse(&["n_trees=100"]).expect("params"),
        Some(SplitSpec::Holdout { fraction: 0.2 }),
        1,
    )
    .expect("train");
    let clock = Arc::new(SimClock::new(history[0][WARM - 1].close_time()));
    let registry = Registry::new(store.clone(), artefacts, clock.clone());
    let groups: Vec<Vec<String>> = if per_symbol {
        (0..SYMBOLS).map(|s| vec![format!("S{s}")]).collect()
    } else {
        vec![(0..SYMBOLS).map(|s| format!("S{s}")).collect()]
    };
    for (g, symbols) in groups.iter().enumerate() {
        let meta = TrainMeta {
            name: format!("m{g}"),
            feature_set: FEATURES.to_owned(),
            features: ds.features.clone(),
            target: "fwd_ret:1".to_owned(),
            horizon: 1,
            symbols: symbols.clone(),
            venue: "sim".to_owned(),
            interval: "1m".to_owned(),
            data_query: serde_json::json!({}),
            ..TrainMeta::default()
        };
        registry.register(&trained, &meta).await.expect("register");
        store
            .promote_ml_model(&meta.name, 1)
            .await
            .expect("promote");
    }
    let t = Instant::now();
    let mut svc = PredictionService::start(registry, "sim", "1m", clock.clone())
        .await
        .expect("start");
    let start_s = t.elapsed().as_secs_f64();
    let (mut per_bar, mut per_minute, mut stored) = (Vec::new(), Vec::new(), 0u64);
    for i in WARM..WARM + LIVE {
        let bars: Vec<Bar> = (0..SYMBOLS).map(|s| walk.bar(s, i)).collect();
        clock.set(bars[0].close_time());
        let minute = Instant::now();
        if batched {
            stored += svc.on_bars(&bars).await.expect("on_bars");
        } else {
            for b in &bars {
                let t = Instant::now();
                stored += svc.on_bar(b).await.expect("on_bar");
                per_bar.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        per_minute.push(minute.elapsed().as_secs_f64() * 1e3);
    }
    assert_eq!(stored, (SYMBOLS * LIVE) as u64, "every bar scored once");
    serde_json::json!({
        "layout": if per_symbol { "per_symbol" } else { "cross_section" },
        "feed": if batched { "on_bars (the minute's 100 bars, one insert)" } else { "on_bar (each bar, one insert)" },
        "database": format!("{:?}", db.backend()),
        "models": groups.len(), "symbols": SYMBOLS, "features": ds.features.len(), "trees": 100,
        "start_s": start_s,
        "bar_us_p50": (!batched).then(|| q(&mut per_bar, 0.5)),
        "bar_us_p99": (!batched).then(|| q(&mut per_bar, 0.99)),
        "minute_ms_p50": q(&mut per_minute, 0.5), "minute_ms_p99": q(&mut per_minute, 0.99),
        "predictions_stored": stored,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for (per_symbol, batched) in [(true, false), (true, true), (false, false), (false, true)] {
        for db in TestDb::all().await {
            println!("{}", run(&db, per_symbol, batched).await);
        }
    }
}
