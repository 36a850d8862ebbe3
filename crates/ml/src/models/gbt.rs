//! Histogram gradient-boosted trees (second-order boosting as XGBoost/LightGBM describe it):
//! squared error for regression, logistic loss for two classes, softmax (one tree per class
//! per round) for more.
//!
//! Features are bucketed once into at most `max_bins` quantile bins (u8 codes, column-major),
//! so finding a split is a scan over per-bin gradient sums; a child's histogram is built for
//! the smaller side and the other is the parent minus it. Trees grow depth-wise to
//! `max_depth` with `min_samples_leaf` and L2 `lambda` on leaf values. Split thresholds are
//! stored as real feature values (`x ≤ threshold` goes left; missing values go left), so a
//! fitted model predicts on raw rows without the bins. See docs/ml.md for why this crate
//! has its own GBT instead of `perpetual`.

use serde::{Deserialize, Serialize};

use crate::dataset::Matrix;
use crate::error::{Error, Result};
use crate::models::logistic::{classes_of, softmax};
use crate::params::Params;

/// One tree node: a split (`feature` < `usize::MAX`) or a leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Split feature, `usize::MAX` for a leaf.
    pub feature: usize,
    /// Rows with `x[feature] ≤ threshold` (or missing) go to `left`.
    pub threshold: f64,
    /// Left child index.
    pub left: usize,
    /// Right child index.
    pub right: usize,
    /// Leaf value (already scaled by the learning rate).
    pub value: f64,
}

/// A fitted boosted ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbt {
    /// Class labels for classification (empty for regression).
    pub classes: Vec<f64>,
    /// Raw score before any tree, per output.
    pub base: Vec<f64>,
    /// Trees, round-major: `trees[round * outputs + output]`.
    pub trees: Vec<Vec<Node>>,
    /// Total split gain per feature (the native importance).
    pub gain: Vec<f64>,
}

struct Cfg {
    n_trees: usize,
    lr: f64,
    max_depth: usize,
    min_leaf: usize,
    lambda: f64,
    max_bins: usize,
}

/// Quantile cut points of one column (at most `max_bins − 1`, ascending, distinct).
fn cuts_of(values: &mut [f64], max_bins: usize) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mut cuts: Vec<f64> = Vec::new();
    for b in 1..max_bins {
        let v = values[(b * n / max_bins).min(n - 1)];
        if cuts.last().is_none_or(|l| v > *l) {
            cuts.push(v);
        }
    }
    // Values equal to the largest value must not need a cut: the last bin is "above every cut".
    if cuts.last().is_some_and(|l| *l >= values[n - 1]) {
        cuts.pop();
    }
    cuts
}

struct Binned {
    n: usize,
    codes: Vec<u8>,
    cuts: Vec<Vec<f64>>,
    nbins: usize,
}

fn bin(x: &Matrix, max_bins: usize) -> Binned {
    let (n, k) = (x.rows, x.cols);
    let stride = (n / 200_000).max(1);
    let mut codes = vec![0u8; n * k];
    let mut cuts = Vec::with_capacity(k);
    for f in 0..k {
        let mut sample: Vec<f64> = (0..n)
            .step_by(stride)
            .map(|i| x.data[i * k + f])
            .filter(|v| !v.is_nan())
            .collect();
        let c = if sample.is_empty() {
            Vec::new()
        } else {
            cuts_of(&mut sample, max_bins)
        };
        let col = &mut codes[f * n..(f + 1) * n];
        for (i, code) in col.iter_mut().enumerate() {
            let v = x.data[i * k + f];
            *code = if v.is_nan() {
                0
            } else {
                c.partition_point(|cut| *cut < v) as u8
            };
        }
        cuts.push(c);
    }
    Binned {
        n,
        codes,
        cuts,
        nbins: max_bins,
    }
}

/// Histogram: per feature and bin, (gradient sum, hessian sum, count).
fn histogram(b: &Binned, rows: &[u32], g: &[f64], h: &[f64]) -> Vec<[f64; 3]> {
    let k = b.cuts.len();
    let mut hist = vec![[0.0; 3]; k * b.nbins];
    for f in 0..k {
        let col = &b.codes[f * b.n..(f + 1) * b.n];
        let hf = &mut hist[f * b.nbins..(f + 1) * b.nbins];
        for &r in rows {
            let r = r as usize;
            let e = &mut hf[col[r] as usize];
            e[0] += g[r];
            e[1] += h[r];
            e[2] += 1.0;
        }
    }
    hist
}

struct Split {
    feature: usize,
    bin: usize,
    gain: f64,
}

fn best_split(b: &Binned, hist: &[[f64; 3]], cfg: &Cfg) -> Option<Split> {
    let tot = hist[..b.nbins]
        .iter()
        .fold([0.0; 3], |a, e| [a[0] + e[0], a[1] + e[1], a[2] + e[2]]);
    let parent = tot[0] * tot[0] / (tot[1] + cfg.lambda);
    let mut best: Option<Split> = None;
    for f in 0..b.cuts.len() {
        let hf = &hist[f * b.nbins..(f + 1) * b.nbins];
        let (mut gl, mut hl, mut cl) = (0.0, 0.0, 0.0);
        for (bin, e) in hf.iter().enumerate().take(b.cuts[f].len()) {
            gl += e[0];
            hl += e[1];
            cl += e[2];
            let cr = tot[2] - cl;
            if cl < cfg.min_leaf as f64 {
                continue;
            }
            if cr < cfg.min_leaf as f64 {
                break;
            }
            let (gr, hr) = (tot[0] - gl, tot[1] - hl);
            let gain = gl * gl / (hl + cfg.lambda) + gr * gr / (hr + cfg.lambda) - parent;
            if gain > 1e-12 && best.as_ref().is_none_or(|s| gain > s.gain) {
                best = Some(Split {
                    feature: f,
                    bin,
                    gain,
                });
            }
        }
    }
    best
}

/// Grows one tree on `rows`; adds each leaf's value to `pred` (stride `outputs`, column `out`).
#[allow(
    clippy::too_many_arguments,
    reason = "one private helper threading the boosting state"
)]
fn grow(
    b: &Binned,
    rows: Vec<u32>,
    g: &[f64],
    h: &[f64],
    cfg: &Cfg,
    gain: &mut [f64],
    pred: &mut [f64],
    outputs: usize,
    out: usize,
) -> Vec<Node> {
    let mut nodes = vec![Node {
        feature: usize::MAX,
        threshold: 0.0,
        left: 0,
        right: 0,
        value: 0.0,
    }];
    let root_hist = histogram(b, &rows, g, h);
    // (node index, rows, histogram, depth)
    let mut stack = vec![(0usize, rows, root_hist, 0usize)];
    while let Some((id, rows, hist, depth)) = stack.pop() {
        let split = if depth < cfg.max_depth && rows.len() >= 2 * cfg.min_leaf {
            best_split(b, &hist, cfg)
        } else {
            None
        };
        let Some(s) = split else {
            let (gs, hs) = rows.iter().fold((0.0, 0.0), |(a, c), &r| {
                (a + g[r as usize], c + h[r as usize])
            });
            let v = -gs / (hs + cfg.lambda) * cfg.lr;
            nodes[id].value = v;
            for &r in &rows {
                pred[r as usize * outputs + out] += v;
            }
            continue;
        };
        gain[s.feature] += s.gain;
        let col = &b.codes[s.feature * b.n..(s.feature + 1) * b.n];
        let (left, right): (Vec<u32>, Vec<u32>) = rows
            .iter()
            .partition(|&&r| col[r as usize] as usize <= s.bin);
        let (l, r) = (nodes.len(), nodes.len() + 1);
        nodes[id] = Node {
            feature: s.feature,
            threshold: b.cuts[s.feature][s.bin],
            left: l,
            right: r,
            value: 0.0,
        };
        nodes.push(Node {
            feature: usize::MAX,
            threshold: 0.0,
            left: 0,
            right: 0,
            value: 0.0,
        });
        nodes.push(nodes[l].clone());
        let small_left = left.len() <= right.len();
        let small = histogram(b, if small_left { &left } else { &right }, g, h);
        let big: Vec<[f64; 3]> = hist
            .iter()
            .zip(&small)
            .map(|(p, s)| [p[0] - s[0], p[1] - s[1], p[2] - s[2]])
            .collect();
        let (hl, hr) = if small_left {
            (small, big)
        } else {
            (big, small)
        };
        stack.push((l, left, hl, depth + 1));
        stack.push((r, right, hr, depth + 1));
    }
    nodes
}

impl Gbt {
    /// Parameter names accepted by [`Gbt::fit`].
    pub const PARAMS: &'static [&'static str] = &[
        "n_trees",
        "learning_rate",
        "max_depth",
        "min_samples_leaf",
        "lambda",
        "max_bins",
    ];

    /// Fits a regressor (`classify` false) or a classifier on `x`, `y`. Parameters (defaults):
    /// `n_trees` 100, `learning_rate` 0.1, `max_depth` 6, `min_samples_leaf` 20, `lambda` 1,
    /// `max_bins` 255.
    ///
    /// # Errors
    /// [`Error::Invalid`] for out-of-range parameters; [`Error::NotEnoughData`] for a single class.
    pub fn fit(x: &Matrix, y: &[f64], classify: bool, params: &Params) -> Result<Self> {
        params.check_known("gbt", Self::PARAMS)?;
        let cfg = Cfg {
            n_trees: params.usize("n_trees", 100)?,
            lr: params.f64("learning_rate", 0.1)?,
            max_depth: params.usize("max_depth", 6)?,
            min_leaf: params.usize("min_samples_leaf", 20)?.max(1),
            lambda: params.f64("lambda", 1.0)?,
            max_bins: params.usize("max_bins", 255)?,
        };
        if !(2..=256).contains(&cfg.max_bins) {
            return Err(Error::invalid(
                "parameter max_bins",
                "must be between 2 and 256",
            ));
        }
        if cfg.lr <= 0.0 || cfg.lambda < 0.0 {
            return Err(Error::invalid(
                "gbt parameters",
                "learning_rate must be > 0 and lambda ≥ 0",
            ));
        }
        let n = x.rows;
        if n == 0 {
            return Err(Error::not_enough("gbt", "no training rows"));
        }
        let classes = if classify { classes_of(y) } else { Vec::new() };
        if classify && classes.len() < 2 {
            return Err(Error::not_enough("gbt", "the target has a single class"));
        }
        let outputs = if classes.len() > 2 { classes.len() } else { 1 };
        let label: Vec<usize> = y
            .iter()
            .map(|v| classes.iter().position(|c| c == v).unwrap_or(0))
            .collect();
        let base: Vec<f64> = if !classify {
            vec![y.iter().sum::<f64>() / n as f64]
        } else if outputs == 1 {
            let p = (label.iter().filter(|&&l| l == 1).count() as f64 / n as f64)
                .clamp(1e-6, 1.0 - 1e-6);
            vec![(p / (1.0 - p)).ln()]
        } else {
            (0..outputs)
                .map(|c| {
                    (label.iter().filter(|&&l| l == c).count() as f64 / n as f64)
                        .max(1e-6)
                        .ln()
                })
                .collect()
        };
        let binned = bin(x, cfg.max_bins);
        let mut pred: Vec<f64> = (0..n).flat_map(|_| base.iter().copied()).collect();
        let mut g = vec![0.0; n];
        let mut h = vec![0.0; n];
        let mut gain = vec![0.0; x.cols];
        let mut trees = Vec::with_capacity(cfg.n_trees * outputs);
        let all: Vec<u32> = (0..n as u32).collect();
        let mut probs = vec![0.0; outputs];
        for _ in 0..cfg.n_trees {
            // Softmax gradients for every class come from the same round's scores.
            let snapshot = if outputs > 1 {
                pred.clone()
            } else {
                Vec::new()
            };
            for out in 0..outputs {
                for i in 0..n {
                    let (gi, hi) = if !classify {
                        (pred[i] - y[i], 1.0)
                    } else if outputs == 1 {
                        let p = 1.0 / (1.0 + (-pred[i]).exp());
                        (
                            p - f64::from(u8::from(label[i] == 1)),
                            (p * (1.0 - p)).max(1e-16),
                        )
                    } else {
                        probs.copy_from_slice(&snapshot[i * outputs..(i + 1) * outputs]);
                        softmax(&mut probs);
                        let p = probs[out];
                        (
                            p - f64::from(u8::from(label[i] == out)),
                            (p * (1.0 - p)).max(1e-16),
                        )
                    };
                    g[i] = gi;
                    h[i] = hi;
                }
                trees.push(grow(
                    &binned,
                    all.clone(),
                    &g,
                    &h,
                    &cfg,
                    &mut gain,
                    &mut pred,
                    outputs,
                    out,
                ));
            }
        }
        Ok(Self {
            classes,
            base,
            trees,
            gain,
        })
    }

    fn outputs(&self) -> usize {
        self.base.len()
    }

    /// Raw scores (before the link function) for one row.
    #[must_use]
    pub fn raw(&self, row: &[f64]) -> Vec<f64> {
        let k = self.outputs();
        let mut s = self.base.clone();
        for (t, tree) in self.trees.iter().enumerate() {
            let mut i = 0;
            loop {
                let nd = &tree[i];
                if nd.feature == usize::MAX {
                    s[t % k] += nd.value;
                    break;
                }
                let v = row[nd.feature];
                i = if v.is_nan() || v <= nd.threshold {
                    nd.left
                } else {
                    nd.right
                };
            }
        }
        s
    }

    /// Regression value for one row.
    #[must_use]
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.raw(row)[0]
    }

    /// Class probabilities for one row, in `classes` order.
    #[must_use]
    pub fn predict_proba(&self, row: &[f64]) -> Vec<f64> {
        let mut s = self.raw(row);
        if s.len() == 1 {
            let p = 1.0 / (1.0 + (-s[0]).exp());
            vec![1.0 - p, p]
        } else {
            softmax(&mut s);
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn data(n: usize) -> (Matrix, Vec<f64>) {
        let mut rng = SplitMix64::new(9);
        let mut d = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let (a, b) = (rng.next_f64(), rng.next_f64());
            d.extend([a, b]);
            y.push(if a > 0.5 { 2.0 } else { 0.0 } + b * b);
        }
        (Matrix::new(n, 2, d).unwrap(), y)
    }

    #[test]
    fn test_gbt_fits_nonlinear_regression() {
        let (x, y) = data(2000);
        let m = Gbt::fit(&x, &y, false, &Params::default()).unwrap();
        let p: Vec<f64> = (0..x.rows).map(|i| m.predict(x.row(i))).collect();
        assert!(crate::metrics::r2(&y, &p) > 0.98);
        assert!(m.gain[0] > m.gain[1], "the step feature matters most");
    }

    #[test]
    fn test_gbt_classifies_multiclass() {
        let (x, y) = data(1500);
        let y: Vec<f64> = y.iter().map(|v| (v.floor()).min(2.0)).collect();
        let m = Gbt::fit(&x, &y, true, &Params::parse(&["n_trees=30"]).unwrap()).unwrap();
        let probs: Vec<Vec<f64>> = (0..x.rows).map(|i| m.predict_proba(x.row(i))).collect();
        let met = crate::metrics::classification(&y, &m.classes, &probs);
        assert!(met["accuracy"] > 0.9, "{met:?}");
    }
}
