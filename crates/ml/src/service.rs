//! The prediction service: every production model scores each new closed bar of its symbols.
//!
//! [`PredictionService::start`] loads the production version of every model in the registry
//! that was trained on bars (it has a feature set and symbols), checked by artefact hash, and
//! warms its [`StreamingFeatures`] on recent history. Then, for each closed bar, features are
//! updated in O(1) per indicator (no recomputation) and a prediction (model execution id,
//! symbol, bar close time, horizon, value, class probabilities) is stored. Two ways in:
//!
//! - [`PredictionService::poll`]: read bars newer than the last seen from the database (what
//!   `tessera model serve` and a scheduler job call every few seconds);
//! - [`PredictionService::on_bar`] / [`PredictionService::on_bars`]: push a bar (or a
//!   minute's bars, stored in one insert) from a live stream.
//!
//! Stored predictions are idempotent per (model, symbol, time), so a restart that replays
//! bars does not duplicate rows.

use std::sync::Arc;

use tessera_core::{Clock, TimeRange, UnixNanos};
use tessera_indicators::Ohlcv;
use tessera_model::{Bar, InstrumentId, Interval};
use tessera_storage::{MlModel, MlPrediction};

use crate::artefact::LoadedModel;
use crate::error::{Error, Result};
use crate::models::Task;
use crate::registry::Registry;
use crate::stream::StreamingFeatures;

/// Bars of history fed at start-up so indicators are warm before the first live bar.
pub const WARMUP_BARS: i64 = 1_000;

#[derive(Debug)]
struct LiveModel {
    row: MlModel,
    loaded: LoadedModel,
    features: StreamingFeatures,
    ids: Vec<InstrumentId>,
}

/// Scores closing bars with the production models and stores the predictions.
#[derive(Debug)]
pub struct PredictionService {
    registry: Registry,
    interval: Interval,
    clock: Arc<dyn Clock>,
    venue: String,
    live: Vec<LiveModel>,
    /// Close time of the newest bar fed to any model: a model promoted later is warmed up to
    /// here without storing, then scores what follows.
    high_water: Option<UnixNanos>,
}

fn ohlcv(b: &Bar) -> Ohlcv {
    Ohlcv {
        open: b.open.to_f64(),
        high: b.high.to_f64(),
        low: b.low.to_f64(),
        close: b.close.to_f64(),
        volume: b.volume.to_f64(),
    }
}

impl PredictionService {
    /// Loads every production model trained on bars and warms it on the last
    /// [`WARMUP_BARS`] bars of its symbols on `venue` at `interval`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad venue or interval; registry and artefact errors.
    pub async fn start(
        registry: Registry,
        venue: &str,
        interval: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let iv =
            Interval::parse(interval).map_err(|e| Error::invalid("interval", e.to_string()))?;
        let mut svc = Self {
            registry,
            interval: iv,
            clock,
            venue: venue.to_owned(),
            live: Vec::new(),
            high_water: None,
        };
        for row in svc.registry.store.production_ml_models().await? {
            if let Some(lm) = Self::load_live(&svc.registry, &svc.venue, row).await? {
                svc.live.push(lm);
            }
        }
        let from = svc.warmup_from();
        let all: Vec<usize> = (0..svc.live.len()).collect();
        svc.catch_up(&all, Some(from), None, false).await?;
        Ok(svc)
    }

    fn warmup_from(&self) -> UnixNanos {
        let span = self
            .interval
            .duration_nanos()
            .unwrap_or(31 * 86_400_000_000_000)
            .saturating_mul(WARMUP_BARS);
        UnixNanos(self.clock.now().0.saturating_sub(span))
    }

    /// A free function over the fields it needs, not `&self`: a `&Self` held across an await
    /// would make the service's futures `!Send` (the streaming indicators are not `Sync`).
    async fn load_live(
        registry: &Registry,
        venue: &str,
        row: MlModel,
    ) -> Result<Option<LiveModel>> {
        if row.feature_set.is_empty() || row.symbols.is_empty() || row.kind == "onnx" {
            tracing::info!(model = %row.name, "skipped by the prediction service: not trained on bars");
            return Ok(None);
        }
        let loaded = registry
            .artefacts
            .load_model(&row.name, row.version, Some(&row.artefact_sha256))
            .await?;
        let symbols: Vec<String> = row.symbols.split(',').map(str::to_owned).collect();
        let ids = symbols
            .iter()
            .map(|s| {
                InstrumentId::parse(s, venue).map_err(|e| Error::invalid("symbol", e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let features = StreamingFeatures::new(&loaded.meta.feature_set, &symbols)?;
        Ok(Some(LiveModel {
            row,
            loaded,
            features,
            ids,
        }))
    }

    /// Re-reads the production models: a version promoted since (or a new model) is loaded
    /// and warmed on the bars already seen, without storing; models no longer in production
    /// are dropped. [`PredictionService::poll`] calls it first; a live feed calling
    /// [`PredictionService::on_bar`] calls it every so often. Returns whether anything changed.
    ///
    /// # Errors
    /// Registry, artefact and database errors.
    pub async fn refresh(&mut self) -> Result<bool> {
        let rows = self.registry.store.production_ml_models().await?;
        let before = self.live.len();
        self.live
            .retain(|m| rows.iter().any(|r| r.execution_id == m.row.execution_id));
        let mut changed = self.live.len() != before;
        let mut added = Vec::new();
        for row in rows {
            if self
                .live
                .iter()
                .any(|m| m.row.execution_id == row.execution_id)
            {
                continue;
            }
            if let Some(lm) = Self::load_live(&self.registry, &self.venue, row).await? {
                tracing::info!(model = %lm.row.name, version = lm.row.version, "prediction service: now serving");
                added.push(self.live.len());
                self.live.push(lm);
                changed = true;
            }
        }
        if !added.is_empty() {
            let from = self.warmup_from();
            let until = self.high_water.unwrap_or(from);
            self.catch_up(&added, Some(from), Some(until), false)
                .await?;
        }
        Ok(changed)
    }

    /// `name@version` of the models being served.
    #[must_use]
    pub fn models(&self) -> Vec<String> {
        self.live
            .iter()
            .map(|m| format!("{}@{}", m.row.name, m.row.version))
            .collect()
    }

    /// Reads bars newer than the last seen from the database, scores every completed row and
    /// stores the predictions; returns how many new predictions were stored.
    ///
    /// # Errors
    /// Database errors.
    pub async fn poll(&mut self) -> Result<u64> {
        self.refresh().await?;
        let all: Vec<usize> = (0..self.live.len()).collect();
        self.catch_up(&all, None, None, true).await
    }

    /// Feeds models `which` the stored bars after each one's last (from `from` when none),
    /// up to close time `until`; stores the predictions of all of them in one insert when
    /// `store`.
    async fn catch_up(
        &mut self,
        which: &[usize],
        from: Option<UnixNanos>,
        until: Option<UnixNanos>,
        store: bool,
    ) -> Result<u64> {
        let mut preds = Vec::new();
        for &m in which {
            let mut bars: Vec<(usize, Bar)> = Vec::new();
            for (s, id) in self.live[m].ids.clone().iter().enumerate() {
                let start = match self.live[m].features.last_timestamp(s) {
                    // Bars are keyed by open time; the next bar opens at the last close.
                    Some(t) => t,
                    None => from.unwrap_or(UnixNanos::MIN),
                };
                let got = self
                    .registry
                    .store
                    .bars_range(
                        id,
                        self.interval,
                        TimeRange {
                            start,
                            end: UnixNanos::MAX,
                        },
                    )
                    .await?;
                bars.extend(got.into_iter().map(|b| (s, b)));
            }
            if let Some(u) = until {
                bars.retain(|(_, b)| b.close_time() <= u);
            }
            bars.sort_by_key(|(s, b)| (b.close_time(), *s));
            for (s, b) in &bars {
                self.see(b.close_time());
                let got = self.score(m, *s, b)?;
                if store {
                    preds.extend(got);
                }
            }
        }
        if preds.is_empty() {
            return Ok(0);
        }
        Ok(self
            .registry
            .store
            .insert_ml_predictions_bulk(&preds)
            .await?)
    }

    fn see(&mut self, t: UnixNanos) {
        if self.high_water.is_none_or(|h| t > h) {
            self.high_water = Some(t);
        }
    }

    fn score(&mut self, m: usize, symbol: usize, bar: &Bar) -> Result<Vec<MlPrediction>> {
        let now = self.clock.now();
        let lm = &mut self.live[m];
        let rows = lm.features.push(symbol, bar.close_time(), ohlcv(bar));
        let mut out = Vec::new();
        for (ts, per_symbol) in rows {
            for (s, x) in per_symbol.iter().enumerate() {
                if x.iter().any(|v| !v.is_finite()) {
                    continue; // still warming up
                }
                let p = lm.loaded.model.predict(x)?;
                let probs = if lm.loaded.model.task() == Task::Classification {
                    let classes = lm.loaded.model.classes();
                    serde_json::Value::Object(
                        classes
                            .iter()
                            .zip(&p.probs)
                            .map(|(c, v)| (format!("{}", *c as i64), serde_json::json!(v)))
                            .collect(),
                    )
                    .to_string()
                } else {
                    "{}".to_owned()
                };
                out.push(MlPrediction {
                    execution_id: lm.row.execution_id.clone(),
                    symbol: lm.features.symbols()[s].clone(),
                    ts,
                    horizon: lm.loaded.meta.horizon as i64,
                    value: p.value,
                    probs,
                    created_at: now,
                });
            }
        }
        Ok(out)
    }

    /// Feeds one closed bar from a live stream to every model that trades its instrument and
    /// stores the resulting predictions; returns how many were stored.
    ///
    /// # Errors
    /// Database and prediction errors.
    pub async fn on_bar(&mut self, bar: &Bar) -> Result<u64> {
        self.on_bars(std::slice::from_ref(bar)).await
    }

    /// Feeds closed bars from a live stream (for example every symbol's bar of one minute, in
    /// close-time order) to every model that trades their instruments and stores all the
    /// resulting predictions in one insert; returns how many were stored.
    ///
    /// # Errors
    /// Database and prediction errors.
    pub async fn on_bars(&mut self, bars: &[Bar]) -> Result<u64> {
        let mut preds = Vec::new();
        for bar in bars {
            if bar.interval != self.interval {
                continue;
            }
            self.see(bar.close_time());
            for m in 0..self.live.len() {
                if let Some(s) = self.live[m].ids.iter().position(|id| *id == bar.instrument) {
                    preds.extend(self.score(m, s, bar)?);
                }
            }
        }
        if preds.is_empty() {
            return Ok(0);
        }
        Ok(self
            .registry
            .store
            .insert_ml_predictions_bulk(&preds)
            .await?)
    }
}
