//! Multinomial logistic regression, as scikit-learn's `LogisticRegression` (L2, `C`):
//! minimise `Σ −log p(yᵢ) + ‖W‖² / (2C)` with unpenalised intercepts, solved by Newton's
//! method on the full Hessian (classes × (features + 1) unknowns: small for market features).
//! Two classes use the same softmax (equivalent to the sigmoid model).

use serde::{Deserialize, Serialize};

use crate::dataset::Matrix;
use crate::error::{Error, Result};
use crate::linalg::cholesky_solve;
use crate::params::Params;

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// Class labels, ascending (`-1, 1` for `fwd_sign`).
    pub classes: Vec<f64>,
    /// Per class: weights (one per feature) then the intercept.
    pub coef: Vec<Vec<f64>>,
}

pub(crate) fn softmax(z: &mut [f64]) {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    z.iter_mut().for_each(|v| *v /= s);
}

/// Sorted distinct labels of `y`.
pub(crate) fn classes_of(y: &[f64]) -> Vec<f64> {
    let mut c: Vec<f64> = y.to_vec();
    c.sort_by(f64::total_cmp);
    c.dedup();
    c
}

impl Logistic {
    /// Parameter names accepted by [`Logistic::fit`].
    pub const PARAMS: &'static [&'static str] = &["c", "max_iter", "tol"];

    /// Fits on `x`, `y` (class labels) with `c` (inverse penalty, default 1.0), `max_iter`
    /// (default 50) and `tol` (default 1e-8 on the Newton step).
    ///
    /// # Errors
    /// [`Error::NotEnoughData`] for fewer than two classes; [`Error::Numerical`] when the
    /// Newton system is singular.
    pub fn fit(x: &Matrix, y: &[f64], params: &Params) -> Result<Self> {
        params.check_known("logistic", Self::PARAMS)?;
        let c = params.f64("c", 1.0)?;
        if c <= 0.0 {
            return Err(Error::invalid("parameter c", "must be > 0"));
        }
        let max_iter = params.usize("max_iter", 50)?;
        let tol = params.f64("tol", 1e-8)?;
        let classes = classes_of(y);
        if classes.len() < 2 {
            return Err(Error::not_enough(
                "logistic",
                "the target has a single class",
            ));
        }
        let (n, k, nc) = (x.rows, x.cols, classes.len());
        let d = k + 1;
        let dim = nc * d;
        let label: Vec<usize> = y
            .iter()
            .map(|v| classes.iter().position(|c| c == v).unwrap_or(0))
            .collect();
        let mut w = vec![0.0; dim];
        let lambda = 1.0 / c;
        let mut p = vec![0.0; nc];
        for _ in 0..max_iter {
            let mut grad = vec![0.0; dim];
            let mut hess = vec![0.0; dim * dim];
            for (i, &li) in label.iter().enumerate().take(n) {
                let row = x.row(i);
                for (j, pj) in p.iter_mut().enumerate() {
                    let wj = &w[j * d..(j + 1) * d];
                    *pj = wj[k] + wj[..k].iter().zip(row).map(|(a, b)| a * b).sum::<f64>();
                }
                softmax(&mut p);
                for a in 0..nc {
                    let g = p[a] - f64::from(u8::from(li == a));
                    for f in 0..d {
                        let xf = if f < k { row[f] } else { 1.0 };
                        grad[a * d + f] += g * xf;
                    }
                    for b in 0..=a {
                        let h = if a == b {
                            p[a] * (1.0 - p[a])
                        } else {
                            -p[a] * p[b]
                        };
                        if h == 0.0 {
                            continue;
                        }
                        for f in 0..d {
                            let xf = if f < k { row[f] } else { 1.0 };
                            let hx = h * xf;
                            let base = (a * d + f) * dim + b * d;
                            for g2 in 0..d {
                                let xg = if g2 < k { row[g2] } else { 1.0 };
                                hess[base + g2] += hx * xg;
                            }
                        }
                    }
                }
            }
            for a in 0..nc {
                for f in 0..d {
                    let i = a * d + f;
                    // Intercepts get a tiny ridge only to pin the softmax's free direction.
                    let pen = if f < k { lambda } else { 1e-10 };
                    grad[i] += pen * w[i];
                    hess[i * dim + i] += pen;
                }
            }
            for i in 0..dim {
                for j in 0..i {
                    hess[j * dim + i] = hess[i * dim + j];
                }
            }
            let step = cholesky_solve(&hess, &grad, dim).map_err(|_| Error::Numerical {
                place: "logistic".to_owned(),
                reason: "singular Hessian (perfectly separable or constant features); lower c"
                    .to_owned(),
            })?;
            let norm = step.iter().map(|s| s * s).sum::<f64>().sqrt();
            w.iter_mut().zip(&step).for_each(|(a, s)| *a -= s);
            if norm < tol {
                break;
            }
        }
        Ok(Self {
            classes,
            coef: w.chunks(d).map(<[f64]>::to_vec).collect(),
        })
    }

    /// Class probabilities for one row, in `classes` order.
    #[must_use]
    pub fn predict_proba(&self, row: &[f64]) -> Vec<f64> {
        let k = row.len();
        let mut z: Vec<f64> = self
            .coef
            .iter()
            .map(|c| c[k] + c[..k].iter().zip(row).map(|(a, b)| a * b).sum::<f64>())
            .collect();
        softmax(&mut z);
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_logistic_separates_by_sign() {
        let mut rng = crate::rng::SplitMix64::new(3);
        let mut data = Vec::new();
        let mut y = Vec::new();
        for _ in 0..400 {
            let a = rng.next_f64() - 0.5;
            data.push(a);
            y.push(if a + 0.1 * (rng.next_f64() - 0.5) > 0.0 {
                1.0
            } else {
                -1.0
            });
        }
        let x = Matrix::new(400, 1, data).unwrap();
        let m = Logistic::fit(&x, &y, &Params::default()).unwrap();
        assert_eq!(m.classes, [-1.0, 1.0]);
        assert!(m.predict_proba(&[0.4])[1] > 0.8);
        assert!(m.predict_proba(&[-0.4])[0] > 0.8);
    }
}
