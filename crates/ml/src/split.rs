//! Time-ordered train/test splits: holdout (by fraction or date) and walk-forward, with purging
//! and an embargo.
//!
//! Splits work on the common time grid ([`Dataset::time_idx`]), never on shuffled rows. A
//! training row at grid time `t` with horizon `h` has a target built from bars up to `t + h`;
//! **purging** drops every training row whose target window reaches into the test period
//! (`t + h ≥ test start`), so no training label contains a test-period price. The
//! **embargo** additionally drops training rows within `embargo` grid steps *after* a test
//! period (relevant when training data follows a test window, and to keep folds apart).

use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;

use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// How to split a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum SplitSpec {
    /// The last `fraction` of the grid times is the test set.
    Holdout {
        /// Share of grid times in the test set, in `(0, 1)`.
        fraction: f64,
    },
    /// Rows at or after `start` are the test set.
    HoldoutDate {
        /// First test timestamp.
        start: UnixNanos,
    },
    /// Rolling walk-forward: train on `train` grid times, test on the next `test`, step by `test`.
    WalkForward {
        /// Training window length in grid times (bars).
        train: usize,
        /// Test window length in grid times (bars).
        test: usize,
    },
}

/// One train/test pair of row indices into a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// Training rows, ascending.
    pub train: Vec<usize>,
    /// Test rows, ascending.
    pub test: Vec<usize>,
}

/// Drops from `train` the rows whose label overlaps `[test_start, test_end]` (grid times):
/// `t + horizon ≥ test_start` with `t ≤ test_end` (purge), and `t` within `embargo` steps after
/// `test_end` (embargo).
#[must_use]
pub fn purge(
    ds: &Dataset,
    train: &[usize],
    test_start: usize,
    test_end: usize,
    embargo: usize,
) -> Vec<usize> {
    train
        .iter()
        .copied()
        .filter(|&i| {
            let t = ds.time_idx[i];
            let overlaps = t <= test_end && t + ds.horizon >= test_start;
            let embargoed = t > test_end && t <= test_end + embargo;
            !overlaps && !embargoed
        })
        .collect()
}

fn grid_bounds(ds: &Dataset) -> (usize, usize) {
    let lo = ds.time_idx.iter().copied().min().unwrap_or(0);
    let hi = ds.time_idx.iter().copied().max().unwrap_or(0);
    (lo, hi)
}

/// The folds of `spec` over `ds` (one fold for a holdout), purged by the dataset's horizon and
/// embargoed by `embargo` grid steps.
///
/// # Errors
/// [`Error::Invalid`] for a fraction outside `(0, 1)` or zero-length windows;
/// [`Error::NotEnoughData`] when a train or test side ends up empty.
pub fn folds(ds: &Dataset, spec: SplitSpec, embargo: usize) -> Result<Vec<Fold>> {
    let (lo, hi) = grid_bounds(ds);
    let all: Vec<usize> = (0..ds.len()).collect();
    let holdout_at = |start: usize| -> Result<Vec<Fold>> {
        let test: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| ds.time_idx[i] >= start)
            .collect();
        let before: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| ds.time_idx[i] < start)
            .collect();
        let train = purge(ds, &before, start, hi, embargo);
        if train.is_empty() || test.is_empty() {
            return Err(Error::not_enough(
                "holdout split",
                format!(
                    "{} training and {} test rows after purging {} bars",
                    train.len(),
                    test.len(),
                    ds.horizon
                ),
            ));
        }
        Ok(vec![Fold { train, test }])
    };
    match spec {
        SplitSpec::Holdout { fraction } => {
            if !(fraction > 0.0 && fraction < 1.0) {
                return Err(Error::invalid(
                    "test fraction",
                    format!("{fraction} is not between 0 and 1"),
                ));
            }
            let span = hi - lo + 1;
            let n_test = ((span as f64) * fraction).round().max(1.0) as usize;
            holdout_at(hi + 1 - n_test.min(span))
        }
        SplitSpec::HoldoutDate { start } => {
            let first = all
                .iter()
                .find(|&&i| ds.timestamps[i] >= start)
                .map(|&i| ds.time_idx[i])
                .ok_or_else(|| {
                    Error::not_enough("holdout split", "no row at or after the test start date")
                })?;
            holdout_at(first)
        }
        SplitSpec::WalkForward { train, test } => {
            if train == 0 || test == 0 {
                return Err(Error::invalid(
                    "walk-forward",
                    "TRAIN and TEST must both be at least 1 bar",
                ));
            }
            let mut out = Vec::new();
            let mut start = lo;
            while start + train < hi + 1 {
                let test_start = start + train;
                let test_end = (test_start + test - 1).min(hi);
                let tr: Vec<usize> = all
                    .iter()
                    .copied()
                    .filter(|&i| (start..test_start).contains(&ds.time_idx[i]))
                    .collect();
                let te: Vec<usize> = all
                    .iter()
                    .copied()
                    .filter(|&i| (test_start..=test_end).contains(&ds.time_idx[i]))
                    .collect();
                let tr = purge(ds, &tr, test_start, test_end, embargo);
                if !tr.is_empty() && !te.is_empty() {
                    out.push(Fold {
                        train: tr,
                        test: te,
                    });
                }
                start += test;
            }
            if out.is_empty() {
                return Err(Error::not_enough(
                    "walk-forward",
                    format!(
                        "{} bars cannot hold a {train}-bar training and a {test}-bar test window",
                        hi - lo + 1
                    ),
                ));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stubs::panel;
    use tessera_indicators::features::{FeatureSet, Target};

    fn ds(h: usize) -> Dataset {
        let p = panel(300, 2, 11);
        let fs = FeatureSet::parse("ret:1,rsi:14").unwrap();
        Dataset::build(&p, &fs, Some(Target::FwdRet(h)), None).unwrap()
    }

    #[test]
    fn test_holdout_purges_horizon() {
        let d = ds(5);
        let f = &folds(&d, SplitSpec::Holdout { fraction: 0.25 }, 0).unwrap()[0];
        let test_start = d.time_idx[f.test[0]];
        let last_train = f.train.iter().map(|&i| d.time_idx[i]).max().unwrap();
        assert_eq!(
            last_train + 5,
            test_start - 1,
            "train labels end before the test set"
        );
        assert!(f.test.iter().all(|&i| d.time_idx[i] >= test_start));
    }

    #[test]
    fn test_walk_forward_folds_are_ordered_and_purged() {
        let d = ds(3);
        let fs = folds(
            &d,
            SplitSpec::WalkForward {
                train: 100,
                test: 50,
            },
            2,
        )
        .unwrap();
        assert!(fs.len() >= 3);
        for f in &fs {
            let ts = d.time_idx[f.test[0]];
            assert!(f.train.iter().all(|&i| d.time_idx[i] + 3 < ts));
            let te = f.test.iter().map(|&i| d.time_idx[i]).max().unwrap();
            assert!(te - ts < 50);
        }
    }

    #[test]
    fn test_embargo_drops_rows_after_test() {
        let d = ds(1);
        let all: Vec<usize> = (0..d.len()).collect();
        let kept = purge(&d, &all, 100, 150, 10);
        assert!(kept.iter().all(|&i| {
            let t = d.time_idx[i];
            t + 1 < 100 || t > 160
        }));
    }

    #[test]
    fn test_bad_fraction_is_refused() {
        assert!(folds(&ds(1), SplitSpec::Holdout { fraction: 1.5 }, 0).is_err());
    }
}
