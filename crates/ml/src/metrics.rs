//! Evaluation metrics: regression, classification and clustering.
//!
//! Every function takes predictions and truths as slices of equal length and returns `NaN`
//! where a metric is undefined (an empty slice, a constant series for a correlation, a single
//! class for AUC), so a report can show it rather than fail.

use std::collections::BTreeMap;

/// Named metric values, in name order.
pub type Metrics = BTreeMap<String, f64>;

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Coefficient of determination `1 − SS_res / SS_tot`.
#[must_use]
pub fn r2(y: &[f64], p: &[f64]) -> f64 {
    let m = mean(y);
    let ss_tot: f64 = y.iter().map(|v| (v - m).powi(2)).sum();
    let ss_res: f64 = y.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum();
    if ss_tot == 0.0 {
        return f64::NAN;
    }
    1.0 - ss_res / ss_tot
}

/// Mean absolute error.
#[must_use]
pub fn mae(y: &[f64], p: &[f64]) -> f64 {
    mean(
        &y.iter()
            .zip(p)
            .map(|(a, b)| (a - b).abs())
            .collect::<Vec<_>>(),
    )
}

/// Root mean squared error.
#[must_use]
pub fn rmse(y: &[f64], p: &[f64]) -> f64 {
    mean(
        &y.iter()
            .zip(p)
            .map(|(a, b)| (a - b).powi(2))
            .collect::<Vec<_>>(),
    )
    .sqrt()
}

/// Share of rows where prediction and truth have the same sign (rows with a zero truth are skipped).
#[must_use]
pub fn directional_accuracy(y: &[f64], p: &[f64]) -> f64 {
    let (mut hit, mut n) = (0usize, 0usize);
    for (a, b) in y.iter().zip(p) {
        if *a != 0.0 {
            n += 1;
            if a.signum() == b.signum() && *b != 0.0 {
                hit += 1;
            }
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        hit as f64 / n as f64
    }
}

/// Pearson correlation.
#[must_use]
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa == 0.0 || sbb == 0.0 {
        return f64::NAN;
    }
    sab / (saa * sbb).sqrt()
}

/// Average ranks (ties share their mean rank), 0-based.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Information coefficient: the Spearman rank correlation of predictions with realised targets.
#[must_use]
pub fn information_coefficient(y: &[f64], p: &[f64]) -> f64 {
    pearson(&ranks(y), &ranks(p))
}

/// Regression metrics: `r2, mae, rmse, directional_accuracy, ic`.
#[must_use]
pub fn regression(y: &[f64], p: &[f64]) -> Metrics {
    Metrics::from([
        ("r2".to_owned(), r2(y, p)),
        ("mae".to_owned(), mae(y, p)),
        ("rmse".to_owned(), rmse(y, p)),
        (
            "directional_accuracy".to_owned(),
            directional_accuracy(y, p),
        ),
        ("ic".to_owned(), information_coefficient(y, p)),
    ])
}

/// Area under the ROC curve of `score` for `positive` labels (Mann–Whitney U with tie correction).
#[must_use]
pub fn auc(positive: &[bool], score: &[f64]) -> f64 {
    let r = ranks(score);
    let n_pos = positive.iter().filter(|p| **p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return f64::NAN;
    }
    let sum_pos: f64 = r
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r + 1.0)
        .sum();
    (sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos * n_neg) as f64
}

/// Classification metrics from true labels, class labels and per-row class probabilities
/// (`probs[i]` in `classes` order): `accuracy`, `precision`/`recall` (macro averages over
/// classes), `auc` (binary: of the larger class label; multi-class: macro one-vs-rest) and
/// `log_loss` (probabilities clipped to `[1e-15, 1 − 1e-15]`).
#[must_use]
pub fn classification(y: &[f64], classes: &[f64], probs: &[Vec<f64>]) -> Metrics {
    let n = y.len();
    let pred: Vec<usize> = probs
        .iter()
        .map(|p| {
            p.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i)
        })
        .collect();
    let truth: Vec<Option<usize>> = y
        .iter()
        .map(|v| classes.iter().position(|c| c == v))
        .collect();
    let correct = pred
        .iter()
        .zip(&truth)
        .filter(|(p, t)| Some(**p) == **t)
        .count();
    let (mut prec, mut rec, mut aucs) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..classes.len() {
        let tp = (0..n)
            .filter(|&i| pred[i] == k && truth[i] == Some(k))
            .count() as f64;
        let pp = pred.iter().filter(|&&p| p == k).count() as f64;
        let ap = truth.iter().filter(|&&t| t == Some(k)).count() as f64;
        if pp > 0.0 {
            prec.push(tp / pp);
        } else if ap > 0.0 {
            prec.push(0.0);
        }
        if ap > 0.0 {
            rec.push(tp / ap);
        }
        let pos: Vec<bool> = truth.iter().map(|t| *t == Some(k)).collect();
        let a = auc(&pos, &probs.iter().map(|p| p[k]).collect::<Vec<_>>());
        if a.is_finite() {
            aucs.push(a);
        }
    }
    let auc_v = if classes.len() == 2 {
        let pos: Vec<bool> = truth.iter().map(|t| *t == Some(1)).collect();
        auc(&pos, &probs.iter().map(|p| p[1]).collect::<Vec<_>>())
    } else {
        mean(&aucs)
    };
    let eps = 1e-15;
    let ll = mean(
        &truth
            .iter()
            .zip(probs)
            .map(|(t, p)| -t.map_or(eps, |k| p[k]).clamp(eps, 1.0 - eps).ln())
            .collect::<Vec<_>>(),
    );
    Metrics::from([
        (
            "accuracy".to_owned(),
            if n == 0 {
                f64::NAN
            } else {
                correct as f64 / n as f64
            },
        ),
        ("precision".to_owned(), mean(&prec)),
        ("recall".to_owned(), mean(&rec)),
        ("auc".to_owned(), auc_v),
        ("log_loss".to_owned(), ll),
    ])
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// Sum of squared distances of rows to their cluster centre.
#[must_use]
pub fn inertia(rows: &[&[f64]], labels: &[usize], centres: &[Vec<f64>]) -> f64 {
    rows.iter()
        .zip(labels)
        .map(|(r, &l)| sq_dist(r, &centres[l]))
        .sum()
}

/// Mean silhouette coefficient (Euclidean) of the given rows; `NaN` with fewer than 2 clusters.
/// Quadratic in the rows, so callers pass a sample.
#[must_use]
pub fn silhouette(rows: &[&[f64]], labels: &[usize]) -> f64 {
    let k = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l] += 1;
    }
    if sizes.iter().filter(|&&s| s > 0).count() < 2 {
        return f64::NAN;
    }
    let mut total = 0.0;
    for (i, ri) in rows.iter().enumerate() {
        let mut sums = vec![0.0; k];
        for (j, rj) in rows.iter().enumerate() {
            if i != j {
                sums[labels[j]] += sq_dist(ri, rj).sqrt();
            }
        }
        let own = labels[i];
        if sizes[own] <= 1 {
            continue; // silhouette of a singleton is 0 by convention
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        total += (b - a) / a.max(b);
    }
    total / rows.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_regression_metrics_known_values() {
        let y = [1.0, 2.0, 3.0, 4.0];
        let p = [1.0, 2.0, 3.0, 5.0];
        assert!((r2(&y, &p) - (1.0 - 1.0 / 5.0)).abs() < 1e-12);
        assert_eq!(mae(&y, &p), 0.25);
        assert_eq!(rmse(&y, &p), 0.5);
        assert_eq!(information_coefficient(&y, &p), 1.0);
        assert_eq!(
            directional_accuracy(&[1.0, -1.0, 0.0], &[0.5, 0.2, 1.0]),
            0.5
        );
    }

    #[test]
    fn test_auc_matches_sklearn_example() {
        // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        assert_eq!(
            auc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]),
            0.75
        );
    }

    #[test]
    fn test_classification_metrics() {
        let m = classification(
            &[0.0, 1.0, 1.0],
            &[0.0, 1.0],
            &[vec![0.8, 0.2], vec![0.3, 0.7], vec![0.6, 0.4]],
        );
        assert!((m["accuracy"] - 2.0 / 3.0).abs() < 1e-12);
        let ll = -(0.8f64.ln() + 0.7f64.ln() + 0.4f64.ln()) / 3.0;
        assert!((m["log_loss"] - ll).abs() < 1e-12);
        assert_eq!(m["auc"], 1.0);
    }

    #[test]
    fn test_silhouette_of_separated_clusters_is_high() {
        let pts: Vec<Vec<f64>> = vec![vec![0.0], vec![0.1], vec![10.0], vec![10.1]];
        let rows: Vec<&[f64]> = pts.iter().map(Vec::as_slice).collect();
        assert!(silhouette(&rows, &[0, 0, 1, 1]) > 0.98);
    }
}
