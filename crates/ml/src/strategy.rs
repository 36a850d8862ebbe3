//! The `model` strategy: trades the sign and strength of a registry model's predictions.
//!
//! [`ModelStrategy`] implements [`tessera_strategy::Strategy`], so the one engine runs it in
//! backtests exactly like the built-in strategies. It lives here, not in `tessera-strategy`,
//! because it needs a fitted model: dependencies keep pointing down (`ml` → `strategy`), and
//! the binary, which resolves `model=NAME[@VERSION]` through the registry, builds it and hands
//! it to `tessera_backtest::run_strategy`.
//!
//! Features are computed bar by bar with [`StreamingFeatures`] from the bars the engine has
//! delivered so far (closed bars only), so the decision on bar `t` can only use bars up to
//! `t`: a test perturbs every bar after `t` and checks that the signals up to `t` are
//! bit-identical, and another that they equal the batch pipeline's predictions
//! (`tessera model predict`).
//!
//! The **signal** is the model's number for the bar: the predicted forward return for a
//! regression model, the expected class value `Σ p(c)·c` for a `fwd_sign` classifier (that is
//! `p(up) − p(down)`, in `[−1, 1]`). k-means models have no direction and are refused, as are
//! models without a feature set (ONNX imports fed ready-made features) and feature sets with
//! `rank(…)`, which need the whole cross-section while a backtest replays one instrument.
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `model` | required | `NAME` (production, else latest) or `NAME@VERSION`; resolved by the caller |
//! | `long_threshold` | 0 | be long while the signal is above it |
//! | `short_threshold` | −`long_threshold` | be short (long-only: flat) while the signal is below it |
//! | `neutral` | `flat` | between the thresholds: `flat` closes, `hold` keeps the position |
//! | `mode` | `long_short` | or `long_only` |
//! | `size` | all margin | below 1 a fraction of available margin, 1 or more a unit count |

use std::sync::{Arc, Mutex};

use tessera_core::UnixNanos;
use tessera_indicators::Ohlcv;
use tessera_indicators::features::{FeatureSet, SymbolBars};
use tessera_model::{Bar, InstrumentId};
use tessera_strategy::{Context, Params, Sizing, Strategy};

use crate::artefact::LoadedModel;
use crate::error::{Error, Result};
use crate::models::Task;
use crate::stream::StreamingFeatures;

/// The name the backtest CLI knows this strategy by.
pub const NAME: &str = "model";

/// Parameters [`ModelStrategy::new`] accepts.
pub const PARAMS: &[&str] = &[
    "model",
    "long_threshold",
    "short_threshold",
    "neutral",
    "mode",
    "size",
];

/// Signals recorded by a strategy: `(bar close time, signal)` for every bar with a prediction.
pub type SignalLog = Arc<Mutex<Vec<(UnixNanos, f64)>>>;

/// What to do between the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Neutral {
    Flat,
    Hold,
}

/// Desired exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Long,
    Short,
    Flat,
}

fn param_err(param: &str, reason: impl Into<String>) -> Error {
    Error::Strategy(tessera_strategy::Error::Param {
        strategy: NAME.into(),
        param: param.into(),
        reason: reason.into(),
    })
}

/// Trades a fitted model's predictions on one instrument (see the module docs).
#[derive(Debug)]
pub struct ModelStrategy {
    loaded: LoadedModel,
    features: StreamingFeatures,
    long_threshold: f64,
    short_threshold: f64,
    neutral: Neutral,
    long_only: bool,
    sizing: Sizing,
    warmup: usize,
    instrument: Option<InstrumentId>,
    log: Option<SignalLog>,
}

impl ModelStrategy {
    /// A strategy trading `loaded` with `params` (see the module table) on one instrument.
    ///
    /// # Errors
    /// [`Error::Strategy`] for unknown or bad parameters; [`Error::Invalid`] for a model it
    /// cannot trade (clustering, no feature set, cross-sectional features).
    pub fn new(loaded: LoadedModel, params: &Params) -> Result<Self> {
        params.check_known(NAME, PARAMS)?;
        let task = loaded.model.task();
        let who = format!("model {}@{}", loaded.meta.name, loaded.meta.version);
        if task == Task::Clustering {
            return Err(Error::invalid(
                who,
                "a clustering model has no direction to trade; train a fwd_ret or fwd_sign model",
            ));
        }
        if loaded.meta.feature_set.trim().is_empty() {
            return Err(Error::invalid(
                who,
                "has no feature set to compute from bars (imported ONNX models take ready-made features)",
            ));
        }
        if loaded
            .meta
            .feature_set
            .to_ascii_lowercase()
            .contains("rank(")
        {
            return Err(Error::invalid(
                who,
                "rank(…) features need every symbol of the cross-section; a backtest replays one instrument",
            ));
        }
        let long_threshold: f64 = params.get_or(NAME, "long_threshold", 0.0)?;
        let short_threshold: f64 = params.get_or(NAME, "short_threshold", -long_threshold)?;
        if !long_threshold.is_finite() || !short_threshold.is_finite() {
            return Err(param_err("long_threshold", "thresholds must be finite"));
        }
        if short_threshold > long_threshold {
            return Err(param_err(
                "short_threshold",
                format!("{short_threshold} must not be above long_threshold {long_threshold}"),
            ));
        }
        let neutral = match params.0.get("neutral").map(String::as_str) {
            None | Some("flat") => Neutral::Flat,
            Some("hold") => Neutral::Hold,
            Some(other) => {
                return Err(param_err(
                    "neutral",
                    format!("{other:?}; expected flat or hold"),
                ));
            }
        };
        let long_only = match params.0.get("mode").map(String::as_str) {
            None | Some("long_short") => false,
            Some("long_only") => true,
            Some(other) => {
                return Err(param_err(
                    "mode",
                    format!("{other:?}; expected long_short or long_only"),
                ));
            }
        };
        let features = StreamingFeatures::new(&loaded.meta.feature_set, &[String::from("x")])?;
        if features.names() != loaded.meta.features.as_slice() {
            return Err(Error::invalid(
                who,
                format!(
                    "its feature set computes {} but it was trained on {}",
                    features.names().join(","),
                    loaded.meta.features.join(",")
                ),
            ));
        }
        Ok(Self {
            loaded,
            features,
            long_threshold,
            short_threshold,
            neutral,
            long_only,
            sizing: Sizing::from_params(NAME, params)?,
            warmup: 0,
            instrument: None,
            log: None,
        })
    }

    /// Record every `(bar close time, signal)` into `log` (tests, diagnostics).
    #[must_use]
    pub fn with_signal_log(mut self, log: SignalLog) -> Self {
        self.log = Some(log);
        self
    }

    /// Sets [`Strategy::warmup_bars`] to the number of leading bars of `bars` on which the
    /// model's features are still incomplete (statistics start buy-and-hold there).
    ///
    /// # Errors
    /// The feature pipeline's errors.
    pub fn with_warmup_from(mut self, bars: &SymbolBars) -> Result<Self> {
        let m = FeatureSet::parse(&self.loaded.meta.feature_set)?
            .compute(std::slice::from_ref(bars), None)?;
        self.warmup = (0..m.rows())
            .position(|t| m.row(t, 0).iter().all(|v| v.is_finite()))
            .unwrap_or(m.rows());
        Ok(self)
    }

    /// The signal of one complete feature row.
    ///
    /// # Errors
    /// Prediction errors of imported graphs.
    pub fn signal(&self, row: &[f64]) -> Result<f64> {
        let p = self.loaded.model.predict(row)?;
        Ok(match self.loaded.model.task() {
            Task::Classification => self
                .loaded
                .model
                .classes()
                .iter()
                .zip(&p.probs)
                .map(|(c, p)| c * p)
                .sum(),
            _ => p.value,
        })
    }

    fn desired(&self, signal: f64, current: Side) -> Side {
        if signal > self.long_threshold {
            Side::Long
        } else if signal < self.short_threshold {
            if self.long_only {
                Side::Flat
            } else {
                Side::Short
            }
        } else {
            match self.neutral {
                Neutral::Flat => Side::Flat,
                Neutral::Hold => current,
            }
        }
    }
}

impl Strategy for ModelStrategy {
    fn name(&self) -> &str {
        NAME
    }

    fn warmup_bars(&self) -> usize {
        self.warmup
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> tessera_strategy::Result<()> {
        let instrument = *self.instrument.get_or_insert(bar.instrument);
        if instrument != bar.instrument {
            return Ok(());
        }
        let v = ctx.values();
        let rows = self.features.push(
            0,
            bar.close_time(),
            Ohlcv {
                open: v.open,
                high: v.high,
                low: v.low,
                close: v.close,
                volume: v.volume,
            },
        );
        // One symbol: each bar completes at most one row.
        let Some((ts, row)) = rows.into_iter().last() else {
            return Ok(());
        };
        let Some(x) = row.first().filter(|x| x.iter().all(|f| f.is_finite())) else {
            return Ok(()); // indicators still warming up
        };
        let signal = self.signal(x).map_err(|e| tessera_strategy::Error::Param {
            strategy: NAME.into(),
            param: "model".into(),
            reason: format!("prediction failed: {e}"),
        })?;
        if let Some(log) = &self.log {
            // A poisoned log only means a test thread panicked; keep trading regardless.
            if let Ok(mut l) = log.lock() {
                l.push((ts, signal));
            }
        }
        if ctx.open_orders(&instrument) > 0 {
            return Ok(()); // the last decision has not executed yet
        }
        let pos = ctx.position(&instrument);
        let current = if pos.is_sign_positive() && !pos.is_zero() {
            Side::Long
        } else if pos.is_sign_negative() && !pos.is_zero() {
            Side::Short
        } else {
            Side::Flat
        };
        let want = self.desired(signal, current);
        if want == current {
            return Ok(());
        }
        ctx.close_position(instrument)?;
        if want == Side::Flat {
            return Ok(());
        }
        if let Some(q) = self.sizing.quantity(ctx.equity(), v.close, None) {
            if want == Side::Long {
                ctx.buy(instrument, q)?;
            } else {
                ctx.sell(instrument, q)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tessera_model::{Decimal, Interval, Money, Price, Quantity, StrategyId};
    use tessera_strategy::{BarHistory, Command, NoHistory, PortfolioView};

    use super::*;
    use crate::artefact::ModelFile;
    use crate::dataset::Dataset;
    use crate::models::{Kind, Model};
    use crate::stubs::panel;
    use tessera_indicators::features::Target;

    const FEATURES: &str = "rsi:14,macd:12,26,9,lag(ret:1,2),ratio(sma:5,sma:20),atr:14";

    /// A flat book: enough for the strategy to decide; fills are the engine's business.
    struct Flat;

    impl PortfolioView for Flat {
        fn position(&self, _: &InstrumentId) -> Decimal {
            Decimal::ZERO
        }
        fn equity(&self) -> f64 {
            10_000.0
        }
        fn cash(&self) -> Money {
            Money::new(
                Decimal::from(10_000),
                tessera_model::Currency::new("USD").unwrap(),
            )
        }
        fn open_orders(&self, _: &InstrumentId) -> usize {
            0
        }
    }

    fn model(kind: Kind, target: &str, bars: &SymbolBars) -> LoadedModel {
        let fs = FeatureSet::parse(FEATURES).unwrap();
        let t = Target::parse(target).unwrap();
        let ds = Dataset::build(std::slice::from_ref(bars), &fs, Some(t), None).unwrap();
        let task = crate::train::task_for(kind, matches!(t, Target::FwdSign(_)));
        let m = Model::fit(kind, task, &ds.x, &ds.y, &crate::Params::default()).unwrap();
        LoadedModel {
            meta: ModelFile {
                format: 1,
                name: "m".into(),
                version: 1,
                kind,
                task,
                features: ds.features,
                feature_set: FEATURES.into(),
                target: target.into(),
                horizon: 1,
                classes: m.classes(),
                model: Some(m.clone()),
                onnx_file: None,
            },
            model: m,
        }
    }

    fn bar_of(b: &SymbolBars, i: usize, id: InstrumentId) -> Bar {
        let p = |x: f64| Price::parse(&format!("{x:.8}")).unwrap();
        Bar {
            instrument: id,
            interval: Interval::M1,
            open_time: UnixNanos(b.timestamps[i].0 - 60_000_000_000),
            open: p(b.open[i]),
            high: p(b.high[i]),
            low: p(b.low[i]),
            close: p(b.close[i]),
            volume: Quantity::parse(&format!("{:.4}", b.volume[i])).unwrap(),
            trade_count: None,
            quote_volume: None,
        }
    }

    /// Drives `s` over `bars` as the engine does (closed bars, values as f64); returns the
    /// signals and the commands of each bar.
    fn drive(s: &mut ModelStrategy, bars: &SymbolBars) -> (Vec<(UnixNanos, f64)>, Vec<usize>) {
        let log: SignalLog = Arc::default();
        s.log = Some(log.clone());
        let id = InstrumentId::parse("S0", "sim").unwrap();
        let sid = StrategyId::new("model").unwrap();
        let mut next = 0u64;
        let mut orders = Vec::new();
        for i in 0..bars.timestamps.len() {
            let bar = bar_of(bars, i, id);
            let mut cmds: Vec<Command> = Vec::new();
            let values = tessera_strategy::BarValues {
                open: bars.open[i],
                high: bars.high[i],
                low: bars.low[i],
                close: bars.close[i],
                volume: bars.volume[i],
            };
            let hist: &dyn BarHistory = &NoHistory;
            let mut ctx = Context::new(
                bar.close_time(),
                &sid,
                &Flat,
                hist,
                values,
                i,
                &mut cmds,
                &mut next,
            );
            s.on_bar(&mut ctx, &bar).unwrap();
            orders.push(cmds.len());
        }
        let out = log.lock().unwrap().clone();
        (out, orders)
    }

    /// Perturbing every bar after `k` leaves every signal up to `k` bit-identical: the
    /// decision on a bar sees only bars up to it. The perturbation does change later signals,
    /// so the test can fail.
    #[test]
    fn test_model_strategy_signals_do_not_look_ahead() {
        let bars = panel(400, 1, 9).remove(0);
        let m = model(Kind::Ridge, "fwd_ret:1", &bars);
        let params = Params::new().with("model", "m@1");
        let (base, _) = drive(&mut ModelStrategy::new(m.clone(), &params).unwrap(), &bars);
        assert!(base.len() > 300, "{}", base.len());
        let k = 250;
        let mut moved = bars.clone();
        for i in k + 1..moved.timestamps.len() {
            let f = 1.0 + 0.05 * ((i * 7919) % 13) as f64 / 13.0;
            moved.open[i] *= f;
            moved.high[i] *= f * 1.01;
            moved.low[i] *= f * 0.99;
            moved.close[i] *= f;
            moved.volume[i] *= 2.0;
        }
        let (other, _) = drive(&mut ModelStrategy::new(m, &params).unwrap(), &moved);
        let cut = bars.timestamps[k];
        let mut checked = 0;
        for (a, b) in base.iter().zip(&other) {
            assert_eq!(a.0, b.0);
            if a.0 <= cut {
                assert_eq!(a.1.to_bits(), b.1.to_bits(), "signal at {:?} changed", a.0);
                checked += 1;
            }
        }
        assert!(checked > 200);
        assert!(
            base.iter()
                .zip(&other)
                .any(|(a, b)| a.0 > cut && a.1 != b.1),
            "perturbing the future must change future signals"
        );
    }

    /// The streaming signals equal the batch predictions of `tessera model predict` on the same
    /// bars, for a regression and a classification model.
    #[test]
    fn test_model_strategy_matches_batch_predictions() {
        let bars = panel(300, 1, 4).remove(0);
        for (kind, target) in [(Kind::Ridge, "fwd_ret:2"), (Kind::Gbt, "fwd_sign:1")] {
            let m = model(kind, target, &bars);
            let fs = FeatureSet::parse(FEATURES).unwrap();
            let ds = Dataset::build(std::slice::from_ref(&bars), &fs, None, None).unwrap();
            let batch = m.model.predict_batch(&ds.x).unwrap();
            let s = ModelStrategy::new(m, &Params::new()).unwrap();
            let want: Vec<f64> = (0..ds.len())
                .map(|i| s.signal(ds.x.row(i)).unwrap())
                .collect();
            let mut s = s;
            let (got, _) = drive(&mut s, &bars);
            assert_eq!(got.len(), ds.len());
            for (i, (t, v)) in got.iter().enumerate() {
                assert_eq!(*t, ds.timestamps[i]);
                assert_eq!(v.to_bits(), want[i].to_bits(), "{kind:?} row {i}");
            }
            if kind == Kind::Ridge {
                assert!(got.iter().zip(&batch).all(|(g, b)| g.1 == b.value));
            } else {
                assert!(got.iter().all(|(_, v)| (-1.0..=1.0).contains(v)));
            }
        }
    }

    #[test]
    fn test_model_strategy_thresholds_and_refusals() {
        let bars = panel(300, 1, 4).remove(0);
        let m = model(Kind::Ridge, "fwd_ret:1", &bars);
        // Thresholds no prediction reaches: never trades.
        let p = Params::new()
            .with("long_threshold", 1e9)
            .with("short_threshold", -1e9);
        let (sig, orders) = drive(&mut ModelStrategy::new(m.clone(), &p).unwrap(), &bars);
        assert!(!sig.is_empty());
        assert_eq!(orders.iter().sum::<usize>(), 0);
        // Zero thresholds on a flat book: every bar with a signal asks for an entry.
        let (sig, orders) = drive(
            &mut ModelStrategy::new(m.clone(), &Params::new()).unwrap(),
            &bars,
        );
        let entries = orders.iter().filter(|n| **n > 0).count();
        assert_eq!(entries, sig.iter().filter(|(_, v)| *v != 0.0).count());
        // Long-only never sells from flat.
        let s = ModelStrategy::new(m.clone(), &Params::new().with("mode", "long_only")).unwrap();
        assert_eq!(s.desired(-1.0, Side::Flat), Side::Flat);
        assert_eq!(s.desired(1.0, Side::Flat), Side::Long);
        let s = ModelStrategy::new(
            m.clone(),
            &Params::new()
                .with("neutral", "hold")
                .with("long_threshold", 0.5),
        )
        .unwrap();
        assert_eq!(s.desired(0.1, Side::Short), Side::Short);
        assert_eq!(s.desired(-0.6, Side::Long), Side::Short);
        for bad in [
            Params::new().with("lookahead", 1),
            Params::new()
                .with("long_threshold", -1)
                .with("short_threshold", 1),
            Params::new().with("neutral", "maybe"),
            Params::new().with("mode", "short_only"),
        ] {
            assert!(ModelStrategy::new(m.clone(), &bad).is_err(), "{bad}");
        }
        let km = {
            let mut k = m.clone();
            let fs = FeatureSet::parse(FEATURES).unwrap();
            let ds = Dataset::build(std::slice::from_ref(&bars), &fs, None, None).unwrap();
            k.model = Model::fit(
                Kind::Kmeans,
                Task::Clustering,
                &ds.x,
                &[],
                &crate::Params::default(),
            )
            .unwrap();
            k
        };
        let e = ModelStrategy::new(km, &Params::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("clustering"), "{e}");
        let mut ranked = m;
        ranked.meta.feature_set = "rank(ret:5)".into();
        assert!(
            ModelStrategy::new(ranked, &Params::new())
                .unwrap_err()
                .to_string()
                .contains("rank")
        );
    }

    #[test]
    fn test_model_strategy_warmup_from_bars() {
        let bars = panel(200, 1, 2).remove(0);
        let m = model(Kind::Ridge, "fwd_ret:1", &bars);
        let s = ModelStrategy::new(m, &Params::new())
            .unwrap()
            .with_warmup_from(&bars)
            .unwrap();
        // macd:12,26,9 needs 33 bars before its first value.
        assert_eq!(s.warmup_bars(), 33);
    }
}
