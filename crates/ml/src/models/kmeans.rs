//! k-means clustering (Lloyd's algorithm, k-means++ seeding, several seeded restarts), on
//! standardised features by default so one large-scale feature cannot dominate the distance.

use serde::{Deserialize, Serialize};

use crate::dataset::Matrix;
use crate::error::{Error, Result};
use crate::params::Params;
use crate::rng::SplitMix64;

/// A fitted k-means model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    /// Cluster centres in standardised units (when `standardize`), one per cluster.
    pub centres: Vec<Vec<f64>>,
    /// Feature means used for standardising (zeros when not standardising).
    pub mean: Vec<f64>,
    /// Feature standard deviations (ones when not standardising).
    pub scale: Vec<f64>,
}

fn sq(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

impl KMeans {
    /// Parameter names accepted by [`KMeans::fit`].
    pub const PARAMS: &'static [&'static str] = &["k", "max_iter", "n_init", "seed", "standardize"];

    /// Fits `k` clusters (default 3; `max_iter` 300, `n_init` 4 restarts, `seed` 42, `standardize` true).
    ///
    /// # Errors
    /// [`Error::Invalid`] for `k` = 0; [`Error::NotEnoughData`] for fewer rows than clusters.
    pub fn fit(x: &Matrix, params: &Params) -> Result<Self> {
        params.check_known("kmeans", Self::PARAMS)?;
        let k = params.usize("k", 3)?;
        let max_iter = params.usize("max_iter", 300)?;
        let n_init = params.usize("n_init", 4)?.max(1);
        let seed = params.usize("seed", 42)? as u64;
        let standardize = params.bool("standardize", true)?;
        if k == 0 {
            return Err(Error::invalid("parameter k", "must be at least 1"));
        }
        if x.rows < k {
            return Err(Error::not_enough(
                "kmeans",
                format!("{} rows for {k} clusters", x.rows),
            ));
        }
        let (n, d) = (x.rows, x.cols);
        let (mut mean, mut scale) = (vec![0.0; d], vec![1.0; d]);
        if standardize {
            for i in 0..n {
                mean.iter_mut()
                    .zip(x.row(i))
                    .for_each(|(m, v)| *m += v / n as f64);
            }
            let mut var = vec![0.0; d];
            for i in 0..n {
                for (j, v) in x.row(i).iter().enumerate() {
                    var[j] += (v - mean[j]).powi(2) / n as f64;
                }
            }
            scale = var
                .iter()
                .map(|v| if *v > 0.0 { v.sqrt() } else { 1.0 })
                .collect();
        }
        let z: Vec<f64> = (0..n)
            .flat_map(|i| {
                x.row(i)
                    .iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((v, m), s)| (v - m) / s)
                    .collect::<Vec<_>>()
            })
            .collect();
        let row = |i: usize| &z[i * d..(i + 1) * d];
        let mut rng = SplitMix64::new(seed);
        let mut best: Option<(f64, Vec<Vec<f64>>)> = None;
        for _ in 0..n_init {
            // k-means++ seeding.
            let mut centres = vec![row(rng.below(n)).to_vec()];
            let mut dist: Vec<f64> = (0..n).map(|i| sq(row(i), &centres[0])).collect();
            while centres.len() < k {
                let total: f64 = dist.iter().sum();
                let next = if total > 0.0 {
                    let mut r = rng.next_f64() * total;
                    let mut pick = n - 1;
                    for (i, dv) in dist.iter().enumerate() {
                        r -= dv;
                        if r <= 0.0 {
                            pick = i;
                            break;
                        }
                    }
                    pick
                } else {
                    rng.below(n)
                };
                centres.push(row(next).to_vec());
                for (i, dv) in dist.iter_mut().enumerate() {
                    *dv = dv.min(sq(row(i), centres.last().map_or(&[][..], Vec::as_slice)));
                }
            }
            let mut labels = vec![0usize; n];
            let mut inertia = f64::INFINITY;
            for _ in 0..max_iter {
                let mut changed = false;
                let mut new_inertia = 0.0;
                for (i, l) in labels.iter_mut().enumerate() {
                    let (c, dv) = nearest(&centres, row(i));
                    new_inertia += dv;
                    if *l != c {
                        *l = c;
                        changed = true;
                    }
                }
                let mut sums = vec![vec![0.0; d]; k];
                let mut counts = vec![0usize; k];
                for (i, &l) in labels.iter().enumerate() {
                    counts[l] += 1;
                    sums[l].iter_mut().zip(row(i)).for_each(|(s, v)| *s += v);
                }
                for c in 0..k {
                    if counts[c] > 0 {
                        centres[c] = sums[c].iter().map(|s| s / counts[c] as f64).collect();
                    }
                }
                let converged = !changed || (inertia - new_inertia).abs() <= 1e-12 * inertia;
                inertia = new_inertia;
                if converged {
                    break;
                }
            }
            if best.as_ref().is_none_or(|(b, _)| inertia < *b) {
                best = Some((inertia, centres));
            }
        }
        let centres = best.map(|(_, c)| c).unwrap_or_default();
        Ok(Self {
            centres,
            mean,
            scale,
        })
    }

    /// A row in the model's (standardised) units.
    #[must_use]
    pub fn transform(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((v, m), s)| (v - m) / s)
            .collect()
    }

    /// The cluster of one row.
    #[must_use]
    pub fn predict(&self, row: &[f64]) -> usize {
        nearest(&self.centres, &self.transform(row)).0
    }
}

fn nearest(centres: &[Vec<f64>], r: &[f64]) -> (usize, f64) {
    centres
        .iter()
        .enumerate()
        .map(|(c, m)| (c, sq(r, m)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_kmeans_finds_two_blobs() {
        let mut data = Vec::new();
        let mut rng = SplitMix64::new(5);
        for i in 0..100 {
            let c = if i % 2 == 0 { 0.0 } else { 10.0 };
            data.extend([c + rng.next_f64(), c + rng.next_f64()]);
        }
        let x = Matrix::new(100, 2, data).unwrap();
        let m = KMeans::fit(&x, &Params::parse(&["k=2"]).unwrap()).unwrap();
        assert_ne!(m.predict(&[0.5, 0.5]), m.predict(&[10.5, 10.5]));
        assert_eq!(m.predict(&[0.2, 0.9]), m.predict(&[0.5, 0.5]));
    }
}
