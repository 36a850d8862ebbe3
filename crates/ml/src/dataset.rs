//! Datasets: a feature matrix and a target built from the feature pipelines, row by row in time order.
//!
//! A [`Dataset`] comes from a panel of bars ([`SymbolBars`], one per symbol), a
//! [`FeatureSet`] and optionally a [`Target`]. Rows are `(timestamp, symbol)` pairs in the
//! pipelines' order (time-major), so "earlier row" always means "earlier or same time". Rows
//! whose features are still warming up, or whose target would need bars past the end, are
//! dropped; each kept row remembers its index on the common time grid, which is what
//! [`crate::split`] purges and embargoes on.

use std::path::Path;

use tessera_core::{TimeRange, UnixNanos};
use tessera_indicators::features::{FeatureSet, SymbolBars, Target};

use crate::error::{Error, Result};

/// A dense row-major `f64` matrix.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows × cols` values, row-major.
    pub data: Vec<f64>,
}

impl Matrix {
    /// A matrix over `data` (row-major).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `data.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::invalid(
                "matrix",
                format!("{} values for {rows}×{cols}", data.len()),
            ));
        }
        Ok(Self { rows, cols, data })
    }

    /// Row `i`.
    #[must_use]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows at `idx`, in that order.
    #[must_use]
    pub fn select(&self, idx: &[usize]) -> Self {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Self {
            rows: idx.len(),
            cols: self.cols,
            data,
        }
    }
}

/// Features, target and row keys for training or evaluating a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Feature names (the column order of `x`).
    pub features: Vec<String>,
    /// Features, one row per kept `(timestamp, symbol)`.
    pub x: Matrix,
    /// Target per row (`NaN`-free); empty when built without a target.
    pub y: Vec<f64>,
    /// Bar close time of each row.
    pub timestamps: Vec<UnixNanos>,
    /// Index into `symbols` of each row.
    pub symbol_idx: Vec<usize>,
    /// Index of each row's timestamp on the panel's common time grid (what splits purge on).
    pub time_idx: Vec<usize>,
    /// The panel's symbols.
    pub symbols: Vec<String>,
    /// Bars the target looks ahead (0 without a target).
    pub horizon: usize,
}

impl Dataset {
    /// Builds the dataset of `features` (and `target`, when given) over `panel`, restricted to
    /// `range` (indicators still warm up on earlier bars).
    ///
    /// # Errors
    /// The pipelines' errors ([`Error::Indicators`]); [`Error::NotEnoughData`] when no row is
    /// complete.
    pub fn build(
        panel: &[SymbolBars],
        features: &FeatureSet,
        target: Option<Target>,
        range: Option<TimeRange>,
    ) -> Result<Self> {
        let m = features.compute(panel, range)?;
        let y_all = match target {
            Some(t) => Some(t.compute(panel, range)?),
            None => None,
        };
        // The time grid index of the first kept timestamp: `compute` returns the grid restricted to `range`,
        // so offsets inside it are grid offsets up to a constant, which is all purging needs.
        let n_sym = m.symbols.len();
        let k = m.names.len();
        let mut ds = Self {
            features: m.names.clone(),
            x: Matrix {
                rows: 0,
                cols: k,
                data: Vec::new(),
            },
            y: Vec::new(),
            timestamps: Vec::new(),
            symbol_idx: Vec::new(),
            time_idx: Vec::new(),
            symbols: m.symbols.clone(),
            horizon: match target {
                Some(Target::FwdRet(h) | Target::FwdSign(h)) => h,
                None => 0,
            },
        };
        for t in 0..m.timestamps.len() {
            for s in 0..n_sym {
                let row = m.row(t, s);
                if row.iter().any(|v| !v.is_finite()) {
                    continue;
                }
                if let Some(y) = &y_all {
                    let v = y[t * n_sym + s];
                    if !v.is_finite() {
                        continue;
                    }
                    ds.y.push(v);
                }
                ds.x.data.extend_from_slice(row);
                ds.x.rows += 1;
                ds.timestamps.push(m.timestamps[t]);
                ds.symbol_idx.push(s);
                ds.time_idx.push(t);
            }
        }
        if ds.x.rows == 0 {
            return Err(Error::not_enough(
                "dataset",
                format!(
                    "no row has every feature{} (warm-up longer than the data?)",
                    if target.is_some() {
                        " and a target"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Ok(ds)
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.x.rows
    }

    /// Whether there are no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.x.rows == 0
    }

    /// The rows at `idx` (in that order) as a new dataset.
    #[must_use]
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            features: self.features.clone(),
            x: self.x.select(idx),
            y: if self.y.is_empty() {
                Vec::new()
            } else {
                idx.iter().map(|&i| self.y[i]).collect()
            },
            timestamps: idx.iter().map(|&i| self.timestamps[i]).collect(),
            symbol_idx: idx.iter().map(|&i| self.symbol_idx[i]).collect(),
            time_idx: idx.iter().map(|&i| self.time_idx[i]).collect(),
            symbols: self.symbols.clone(),
            horizon: self.horizon,
        }
    }

    /// First and last row timestamps.
    #[must_use]
    pub fn time_span(&self) -> Option<(UnixNanos, UnixNanos)> {
        Some((*self.timestamps.first()?, *self.timestamps.last()?))
    }
}

/// Reads an OHLCV CSV file with header `timestamp,open,high,low,close,volume` (extra columns are
/// ignored; timestamps as `tessera_core::UnixNanos::parse` accepts: ISO-8601 dates or times, or
/// epoch numbers) into the bars of `symbol`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Invalid`] naming the line for a
/// missing column, an unparsable number or timestamps that do not ascend.
pub fn read_ohlcv_csv(path: &Path, symbol: &str) -> Result<SymbolBars> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let what = format!("csv file {}", path.display());
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| Error::invalid(&what, "the file is empty"))?;
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let find = |name: &str| {
        cols.iter().position(|c| c == name).ok_or_else(|| {
            Error::invalid(
                &what,
                format!("header needs timestamp,open,high,low,close,volume; `{name}` is missing"),
            )
        })
    };
    let idx = [
        find("timestamp")?,
        find("open")?,
        find("high")?,
        find("low")?,
        find("close")?,
        find("volume")?,
    ];
    let mut bars = SymbolBars {
        symbol: symbol.to_owned(),
        ..SymbolBars::default()
    };
    for (n, line) in lines {
        let cells: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let cell = |i: usize| {
            cells
                .get(i)
                .copied()
                .ok_or_else(|| Error::invalid(&what, format!("line {}: too few columns", n + 1)))
        };
        let ts = UnixNanos::parse(cell(idx[0])?)
            .map_err(|e| Error::invalid(&what, format!("line {}: bad timestamp: {e}", n + 1)))?;
        if bars.timestamps.last().is_some_and(|last| *last >= ts) {
            return Err(Error::invalid(
                &what,
                format!("line {}: timestamps must ascend strictly", n + 1),
            ));
        }
        let num = |i: usize| -> Result<f64> {
            let c = cell(idx[i])?;
            c.parse::<f64>().map_err(|_| {
                Error::invalid(&what, format!("line {}: `{c}` is not a number", n + 1))
            })
        };
        bars.timestamps.push(ts);
        bars.open.push(num(1)?);
        bars.high.push(num(2)?);
        bars.low.push(num(3)?);
        bars.close.push(num(4)?);
        bars.volume.push(num(5)?);
    }
    if bars.timestamps.is_empty() {
        return Err(Error::invalid(&what, "no data rows"));
    }
    Ok(bars)
}

/// A features CSV: a `timestamp` column and one column per feature (any order, extra columns
/// ignored), as `tessera model predict --features-csv` reads it.
///
/// # Errors
/// [`Error::Io`]; [`Error::Invalid`] for a missing feature column or a bad value.
pub fn read_features_csv(path: &Path, features: &[String]) -> Result<(Vec<String>, Matrix)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let what = format!("features csv {}", path.display());
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| Error::invalid(&what, "the file is empty"))?;
    let cols: Vec<&str> = header
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    let ts_col = cols
        .iter()
        .position(|c| c.eq_ignore_ascii_case("timestamp"))
        .ok_or_else(|| Error::invalid(&what, "no `timestamp` column"))?;
    let idx: Vec<usize> = features
        .iter()
        .map(|f| {
            cols.iter()
                .position(|c| c == f)
                .ok_or_else(|| Error::invalid(&what, format!("no column for model feature `{f}`")))
        })
        .collect::<Result<_>>()?;
    let mut stamps = Vec::new();
    let mut data = Vec::new();
    for (n, line) in lines {
        let cells: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        stamps.push(cells.get(ts_col).copied().unwrap_or_default().to_owned());
        for &i in &idx {
            let c = cells.get(i).copied().unwrap_or_default();
            let v = if c.is_empty() || c.eq_ignore_ascii_case("nan") {
                f64::NAN
            } else {
                c.parse::<f64>().map_err(|_| {
                    Error::invalid(&what, format!("line {}: `{c}` is not a number", n + 1))
                })?
            };
            data.push(v);
        }
    }
    let rows = stamps.len();
    Ok((stamps, Matrix::new(rows, features.len(), data)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stubs::panel;

    #[test]
    fn test_dataset_drops_warmup_and_missing_targets() {
        let p = panel(120, 2, 7);
        let fs = FeatureSet::parse("rsi:14,ret:1").unwrap();
        let ds = Dataset::build(&p, &fs, Some(Target::FwdRet(3)), None).unwrap();
        assert_eq!(ds.features, ["rsi_14", "ret_1"]);
        // rsi:14 needs 14 bars; the last 3 grid rows have no target.
        assert_eq!(ds.len(), (120 - 14 - 3) * 2);
        assert_eq!(ds.time_idx[0], 14);
        assert!(ds.y.iter().all(|v| v.is_finite()));
    }
}
