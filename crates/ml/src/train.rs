//! Training with evaluation: fit on each split's training rows, score on its test rows, and
//! measure feature importance (model-native and permutation, per ticker).
//!
//! - Holdout: the reported model is the one fitted on the training side, so its `test`
//!   metrics are honest out-of-sample numbers.
//! - Walk-forward: every fold is fitted and scored (`fold_1`, `fold_2`, …); `test` pools
//!   every fold's out-of-sample predictions; the reported model is then refitted on all rows
//!   (what production should run), and its `train` metrics are in-sample. Permutation
//!   importance uses the last fold's model on that fold's test rows, so it is out-of-sample
//!   in both cases.

use serde::Serialize;
use tessera_core::UnixNanos;

use crate::dataset::{Dataset, Matrix};
use crate::error::Result;
use crate::metrics::{self, Metrics};
use crate::models::{Kind, Model, Prediction, Task};
use crate::params::Params;
use crate::rng::SplitMix64;
use crate::split::{SplitSpec, folds};

/// Scores of one evaluation (train, test, or a walk-forward fold).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// `train`, `test` or `fold_N` (1-based).
    pub name: String,
    /// Fold number for `fold_N`, else `None`.
    pub fold: Option<usize>,
    /// Rows scored.
    pub rows: usize,
    /// First row time.
    pub from: UnixNanos,
    /// Last row time.
    pub to: UnixNanos,
    /// Metric values by name.
    pub metrics: Metrics,
}

/// One feature-importance value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Importance {
    /// `native` (the model's own measure) or `permutation`.
    pub method: String,
    /// Ticker the value was measured on, `*` for all rows.
    pub symbol: String,
    /// Feature name.
    pub feature: String,
    /// Importance (permutation: mean loss increase when the feature is shuffled).
    pub value: f64,
}

/// A trained model with its evaluations and importances.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The model to register.
    pub model: Model,
    /// Every evaluation, `train` first.
    pub evaluations: Vec<Evaluation>,
    /// Native and permutation importances.
    pub importance: Vec<Importance>,
}

impl Trained {
    /// The headline metrics: `test` when there is one, else `train`.
    #[must_use]
    pub fn headline(&self) -> Metrics {
        self.evaluations
            .iter()
            .find(|e| e.name == "test")
            .or_else(|| self.evaluations.first())
            .map(|e| e.metrics.clone())
            .unwrap_or_default()
    }
}

/// The task a kind and target imply: clustering for k-means, classification for `fwd_sign`.
#[must_use]
pub fn task_for(kind: Kind, classify: bool) -> Task {
    match kind {
        Kind::Kmeans => Task::Clustering,
        _ if classify => Task::Classification,
        _ => Task::Regression,
    }
}

/// Scores `preds` against `ds` for `model`'s task.
#[must_use]
pub fn score(model: &Model, ds: &Dataset, preds: &[Prediction]) -> Metrics {
    match model.task() {
        Task::Regression => {
            let p: Vec<f64> = preds.iter().map(|p| p.value).collect();
            metrics::regression(&ds.y, &p)
        }
        Task::Classification => {
            let probs: Vec<Vec<f64>> = preds.iter().map(|p| p.probs.clone()).collect();
            metrics::classification(&ds.y, &model.classes(), &probs)
        }
        Task::Clustering => {
            let Model::Kmeans(km) = model else {
                return Metrics::new();
            };
            let z: Vec<Vec<f64>> = (0..ds.len()).map(|i| km.transform(ds.x.row(i))).collect();
            let labels: Vec<usize> = preds.iter().map(|p| p.value as usize).collect();
            let rows: Vec<&[f64]> = z.iter().map(Vec::as_slice).collect();
            let inertia = metrics::inertia(&rows, &labels, &km.centres);
            // Silhouette is quadratic: score an evenly spaced sample of at most 2,000 rows.
            let step = (rows.len() / 2000).max(1);
            let idx: Vec<usize> = (0..rows.len()).step_by(step).collect();
            let sample: Vec<&[f64]> = idx.iter().map(|&i| rows[i]).collect();
            let sl: Vec<usize> = idx.iter().map(|&i| labels[i]).collect();
            Metrics::from([
                ("inertia".to_owned(), inertia),
                ("silhouette".to_owned(), metrics::silhouette(&sample, &sl)),
            ])
        }
    }
}

fn evaluate(
    model: &Model,
    ds: &Dataset,
    name: &str,
    fold: Option<usize>,
) -> Result<(Evaluation, Vec<Prediction>)> {
    let preds = model.predict_batch(&ds.x)?;
    let (from, to) = ds.time_span().unwrap_or_default();
    Ok((
        Evaluation {
            name: name.to_owned(),
            fold,
            rows: ds.len(),
            from,
            to,
            metrics: score(model, ds, &preds),
        },
        preds,
    ))
}

/// The loss permutation importance raises: MSE, log loss, or inertia.
fn loss(model: &Model, ds: &Dataset, preds: &[Prediction]) -> f64 {
    let m = score(model, ds, preds);
    match model.task() {
        Task::Regression => m.get("rmse").map_or(f64::NAN, |r| r * r),
        Task::Classification => m.get("log_loss").copied().unwrap_or(f64::NAN),
        Task::Clustering => m.get("inertia").copied().unwrap_or(f64::NAN),
    }
}

/// Permutation importance of every feature on `ds`, for all rows (`*`) and per ticker: the
/// mean increase of the loss over `repeats` seeded shuffles of that feature's column (within
/// the rows measured).
///
/// # Errors
/// As [`Model::predict_batch`].
pub fn permutation_importance(
    model: &Model,
    ds: &Dataset,
    repeats: usize,
    seed: u64,
) -> Result<Vec<Importance>> {
    let mut out = Vec::new();
    let mut rng = SplitMix64::new(seed);
    let mut groups: Vec<(String, Vec<usize>)> = vec![("*".to_owned(), (0..ds.len()).collect())];
    if ds.symbols.len() > 1 {
        for (s, sym) in ds.symbols.iter().enumerate() {
            let rows: Vec<usize> = (0..ds.len()).filter(|&i| ds.symbol_idx[i] == s).collect();
            if rows.len() >= 2 {
                groups.push((sym.clone(), rows));
            }
        }
    }
    for (sym, rows) in groups {
        let sub = ds.subset(&rows);
        let base = loss(model, &sub, &model.predict_batch(&sub.x)?);
        for (j, feature) in ds.features.iter().enumerate() {
            let mut total = 0.0;
            for _ in 0..repeats.max(1) {
                let mut col: Vec<f64> = (0..sub.len()).map(|i| sub.x.row(i)[j]).collect();
                rng.shuffle(&mut col);
                let mut x: Matrix = sub.x.clone();
                for (i, v) in col.into_iter().enumerate() {
                    x.data[i * x.cols + j] = v;
                }
                let preds = model.predict_batch(&x)?;
                total += loss(model, &sub, &preds) - base;
            }
            out.push(Importance {
                method: "permutation".to_owned(),
                symbol: sym.clone(),
                feature: feature.clone(),
                value: total / repeats.max(1) as f64,
            });
        }
    }
    Ok(out)
}

/// Fits `kind` on `ds` with `split` (default: the last 20 % held out), scores every
/// evaluation and measures importance.
///
/// # Errors
/// Split, fit and prediction errors.
pub fn train(
    ds: &Dataset,
    kind: Kind,
    task: Task,
    params: &Params,
    split: Option<SplitSpec>,
    embargo: usize,
) -> Result<Trained> {
    let split = split.unwrap_or(SplitSpec::Holdout { fraction: 0.2 });
    let fs = folds(ds, split, embargo)?;
    let mut evaluations = Vec::new();
    let (model, imp_model, imp_rows) = if let SplitSpec::WalkForward { .. } = split {
        let mut pooled_rows = Vec::new();
        let mut pooled_preds = Vec::new();
        let mut last = None;
        for (i, f) in fs.iter().enumerate() {
            let tr = ds.subset(&f.train);
            let te = ds.subset(&f.test);
            let m = Model::fit(kind, task, &tr.x, &tr.y, params)?;
            let (ev, preds) = evaluate(&m, &te, &format!("fold_{}", i + 1), Some(i + 1))?;
            evaluations.push(ev);
            pooled_rows.extend_from_slice(&f.test);
            pooled_preds.extend(preds);
            last = Some((m, f.test.clone()));
        }
        let pooled = ds.subset(&pooled_rows);
        let full = Model::fit(kind, task, &ds.x, &ds.y, params)?;
        let (train_ev, _) = evaluate(&full, ds, "train", None)?;
        let (from, to) = pooled.time_span().unwrap_or_default();
        let test_ev = Evaluation {
            name: "test".to_owned(),
            fold: None,
            rows: pooled.len(),
            from,
            to,
            metrics: score(&full, &pooled, &pooled_preds),
        };
        evaluations.insert(0, test_ev);
        evaluations.insert(0, train_ev);
        let (lm, lrows) = last.unwrap_or_else(|| (full.clone(), Vec::new()));
        (full, lm, lrows)
    } else {
        let f = &fs[0];
        let tr = ds.subset(&f.train);
        let te = ds.subset(&f.test);
        let m = Model::fit(kind, task, &tr.x, &tr.y, params)?;
        evaluations.push(evaluate(&m, &tr, "train", None)?.0);
        evaluations.push(evaluate(&m, &te, "test", None)?.0);
        (m.clone(), m, f.test.clone())
    };
    let mut importance = Vec::new();
    if let Some(native) = model.native_importance() {
        importance.extend(ds.features.iter().zip(native).map(|(f, v)| Importance {
            method: "native".to_owned(),
            symbol: "*".to_owned(),
            feature: f.clone(),
            value: v,
        }));
    }
    if !imp_rows.is_empty() {
        importance.extend(permutation_importance(
            &imp_model,
            &ds.subset(&imp_rows),
            3,
            7,
        )?);
    }
    Ok(Trained {
        model,
        evaluations,
        importance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stubs::panel;
    use tessera_indicators::features::{FeatureSet, Target};

    #[test]
    fn test_train_every_kind_with_walk_forward() {
        let p = panel(400, 3, 21);
        let fs = FeatureSet::parse("ret:1,rsi:14,lag(ret:1,1)").unwrap();
        for (kind, target) in [
            (Kind::Ridge, Target::FwdRet(2)),
            (Kind::Logistic, Target::FwdSign(2)),
            (Kind::Gbt, Target::FwdRet(2)),
            (Kind::Gbt, Target::FwdSign(2)),
            (Kind::Kmeans, Target::FwdRet(2)),
        ] {
            let ds = Dataset::build(&p, &fs, Some(target), None).unwrap();
            let task = task_for(kind, matches!(target, Target::FwdSign(_)));
            let params = if kind == Kind::Gbt {
                Params::parse(&["n_trees=10"]).unwrap()
            } else {
                Params::default()
            };
            let t = train(
                &ds,
                kind,
                task,
                &params,
                Some(SplitSpec::WalkForward {
                    train: 150,
                    test: 60,
                }),
                2,
            )
            .unwrap();
            assert_eq!(t.evaluations[0].name, "train");
            assert_eq!(t.evaluations[1].name, "test");
            assert!(t.evaluations.iter().any(|e| e.name == "fold_1"));
            let perm: Vec<_> = t
                .importance
                .iter()
                .filter(|i| i.method == "permutation")
                .collect();
            assert_eq!(
                perm.len(),
                3 * 4,
                "3 features × (all + 3 tickers) for {kind:?}"
            );
            assert!(!t.headline().is_empty());
        }
    }
}
