//! Ridge (L2) linear regression by the normal equations, as scikit-learn's `Ridge`:
//! minimise `‖y − Xw − b‖² + α‖w‖²` with an unpenalised intercept. `alpha = 0` is ordinary
//! least squares.

use serde::{Deserialize, Serialize};

use crate::dataset::Matrix;
use crate::error::{Error, Result};
use crate::linalg::cholesky_solve;
use crate::params::Params;

/// A fitted ridge regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ridge {
    /// Penalty strength.
    pub alpha: f64,
    /// One weight per feature.
    pub weights: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
}

impl Ridge {
    /// Parameter names accepted by [`Ridge::fit`].
    pub const PARAMS: &'static [&'static str] = &["alpha"];

    /// Fits on `x`, `y` with `alpha` (default 1.0).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a negative alpha; [`Error::Numerical`] for a singular system.
    pub fn fit(x: &Matrix, y: &[f64], params: &Params) -> Result<Self> {
        params.check_known("ridge", Self::PARAMS)?;
        let alpha = params.f64("alpha", 1.0)?;
        if alpha < 0.0 {
            return Err(Error::invalid("parameter alpha", "must be ≥ 0"));
        }
        let (n, k) = (x.rows, x.cols);
        if n == 0 {
            return Err(Error::not_enough("ridge", "no training rows"));
        }
        // Centre to fit the intercept without penalising it.
        let mut mx = vec![0.0; k];
        for i in 0..n {
            for (m, v) in mx.iter_mut().zip(x.row(i)) {
                *m += v;
            }
        }
        mx.iter_mut().for_each(|m| *m /= n as f64);
        let my = y.iter().sum::<f64>() / n as f64;
        let mut xtx = vec![0.0; k * k];
        let mut xty = vec![0.0; k];
        let mut c = vec![0.0; k];
        for (i, &yv) in y.iter().enumerate().take(n) {
            for ((cj, v), m) in c.iter_mut().zip(x.row(i)).zip(&mx) {
                *cj = v - m;
            }
            let yi = yv - my;
            for a in 0..k {
                let ca = c[a];
                xty[a] += ca * yi;
                let row = &mut xtx[a * k..a * k + a + 1];
                for (b, slot) in row.iter_mut().enumerate() {
                    *slot += ca * c[b];
                }
            }
        }
        for a in 0..k {
            for b in 0..a {
                xtx[b * k + a] = xtx[a * k + b];
            }
            xtx[a * k + a] += alpha;
        }
        let weights = cholesky_solve(&xtx, &xty, k)?;
        let intercept = my - weights.iter().zip(&mx).map(|(w, m)| w * m).sum::<f64>();
        Ok(Self {
            alpha,
            weights,
            intercept,
        })
    }

    /// The prediction for one row.
    #[must_use]
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.intercept
            + self
                .weights
                .iter()
                .zip(row)
                .map(|(w, v)| w * v)
                .sum::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_ridge_recovers_linear_function() {
        let mut data = Vec::new();
        let mut y = Vec::new();
        let mut rng = crate::rng::SplitMix64::new(1);
        for _ in 0..200 {
            let (a, b) = (rng.next_f64(), rng.next_f64());
            data.extend([a, b]);
            y.push(3.0 * a - 2.0 * b + 0.5);
        }
        let x = Matrix::new(200, 2, data).unwrap();
        let m = Ridge::fit(&x, &y, &Params::parse(&["alpha=0"]).unwrap()).unwrap();
        assert!((m.weights[0] - 3.0).abs() < 1e-9 && (m.weights[1] + 2.0).abs() < 1e-9);
        assert!((m.intercept - 0.5).abs() < 1e-9);
    }
}
