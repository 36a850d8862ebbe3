//! Declarative feature pipelines for several symbols, with a strictly separate target.
//!
//! A feature set is a comma list of expressions (a comma followed by a digit continues the
//! previous spec's parameters, so `rsi:14,macd:12,26,9,ret:1` is three entries):
//!
//! - any indicator spec of the [`registry`](crate::registry) (`rsi:14`, `vol_ewma:32`); a
//!   multi-output indicator expands to one feature per output, or picks one with `.output`
//!   (`bbands:20,2,2.upperband`);
//! - `ret:N`: the `N`-bar log return (alias of `logret:N`);
//! - `lag(EXPR,K)`: `EXPR` as it was `K` rows earlier;
//! - `ratio(A,B)` = `A / B` and `diff(A,B)` = `A − B`;
//! - `rank(EXPR)`: the cross-sectional rank of `EXPR` among the symbols at each timestamp,
//!   scaled to `[0, 1]` (ties share their average rank; a single symbol ranks 0.5).
//!
//! Indicators run over each symbol's own full history; the results are then aligned to the
//! timestamps every symbol has (an inner join), so `lag` and `rank` work on that common grid.
//! Nothing here reads a later bar than the row it writes; `tests` prove it by perturbing
//! future bars. Targets (`fwd_ret:H`, `fwd_sign:H`) are a different type, [`Target`], that a
//! feature expression cannot name.

use std::collections::BTreeMap;

use tessera_core::{TimeRange, UnixNanos};

use crate::registry::{IndicatorSpec, OhlcvColumns, split_spec_list};
use crate::{Error, Result};

/// Bars of one symbol, ascending by timestamp (bar close time).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SymbolBars {
    /// The symbol.
    pub symbol: String,
    /// When each bar closed, strictly ascending.
    pub timestamps: Vec<UnixNanos>,
    /// Opening prices.
    pub open: Vec<f64>,
    /// High prices.
    pub high: Vec<f64>,
    /// Low prices.
    pub low: Vec<f64>,
    /// Closing prices.
    pub close: Vec<f64>,
    /// Volumes in base units.
    pub volume: Vec<f64>,
}

impl SymbolBars {
    fn columns(&self) -> Result<OhlcvColumns<'_>> {
        crate::error::check_lengths(
            "features",
            &[
                self.timestamps.len(),
                self.open.len(),
                self.high.len(),
                self.low.len(),
                self.close.len(),
                self.volume.len(),
            ],
        )?;
        OhlcvColumns::new(&self.open, &self.high, &self.low, &self.close, &self.volume)
    }
}

/// One parsed feature expression.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    /// Output `output` of an indicator.
    Indicator {
        spec: IndicatorSpec,
        output: usize,
    },
    Lag(Box<Expr>, usize),
    Ratio(Box<Expr>, Box<Expr>),
    Diff(Box<Expr>, Box<Expr>),
    Rank(Box<Expr>),
}

fn invalid(expr: &str, reason: impl Into<String>) -> Error {
    Error::InvalidFeature {
        expr: expr.to_owned(),
        reason: reason.into(),
    }
}

/// Splits `inner` at its last comma outside parentheses.
fn split_last_comma(inner: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    let mut last = None;
    for (i, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => last = Some(i),
            _ => {}
        }
    }
    last.map(|i| (&inner[..i], &inner[i + 1..]))
}

/// Parses one expression; `Ok(exprs)` has several entries only for a bare multi-output indicator.
fn parse_expr(text: &str, top: bool) -> Result<Vec<(String, Expr)>> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("fwd_") {
        return Err(invalid(
            text,
            "targets (fwd_ret, fwd_sign) cannot be features; pass them as the target",
        ));
    }
    if let Some(open) = text.find('(') {
        if !text.ends_with(')') {
            return Err(invalid(text, "missing closing `)`"));
        }
        let func = text[..open].trim().to_ascii_lowercase();
        let inner = &text[open + 1..text.len() - 1];
        let one = |s: &str| -> Result<Expr> {
            let mut v = parse_expr(s, false)?;
            if v.len() != 1 {
                return Err(invalid(s, "needs a single output; pick one with `.name`"));
            }
            Ok(v.remove(0).1)
        };
        let expr = match func.as_str() {
            "lag" => {
                let (a, k) =
                    split_last_comma(inner).ok_or_else(|| invalid(text, "usage: lag(EXPR,K)"))?;
                let k: usize = k.trim().parse().map_err(|_| {
                    invalid(text, format!("lag `{}` is not a whole number", k.trim()))
                })?;
                Expr::Lag(Box::new(one(a)?), k)
            }
            "ratio" | "diff" => {
                let args = split_spec_list(inner);
                if args.len() != 2 {
                    return Err(invalid(text, format!("usage: {func}(A,B)")));
                }
                let (a, b) = (Box::new(one(&args[0])?), Box::new(one(&args[1])?));
                if func == "ratio" {
                    Expr::Ratio(a, b)
                } else {
                    Expr::Diff(a, b)
                }
            }
            "rank" => Expr::Rank(Box::new(one(inner)?)),
            other => {
                return Err(invalid(
                    text,
                    format!("unknown function `{other}`; use lag, ratio, diff or rank"),
                ));
            }
        };
        return Ok(vec![(feature_name(text), expr)]);
    }
    // `spec` or `spec.output`: the suffix after the last '.' must start with a letter.
    let (spec_text, output) = match text.rsplit_once('.') {
        Some((s, o)) if o.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) => (s, Some(o)),
        _ => (text, None),
    };
    let spec_text = match spec_text.split_once(':') {
        Some((n, rest)) if n.trim().eq_ignore_ascii_case("ret") => format!("logret:{rest}"),
        None if spec_text.trim().eq_ignore_ascii_case("ret") => "logret".to_owned(),
        _ => spec_text.to_owned(),
    };
    let spec = IndicatorSpec::parse(&spec_text).map_err(|e| invalid(text, e.to_string()))?;
    let outputs = spec.info().outputs;
    let base = feature_name(text.split('.').next().unwrap_or(text));
    match output {
        Some(o) => {
            let i = outputs
                .iter()
                .position(|n| n.eq_ignore_ascii_case(o))
                .ok_or_else(|| {
                    invalid(
                        text,
                        format!("`{}` has outputs {}", spec.info().name, outputs.join(", ")),
                    )
                })?;
            Ok(vec![(
                format!("{base}_{}", outputs[i]),
                Expr::Indicator { spec, output: i },
            )])
        }
        None if outputs.len() == 1 => Ok(vec![(base, Expr::Indicator { spec, output: 0 })]),
        None if top => Ok(outputs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                (
                    format!("{base}_{o}"),
                    Expr::Indicator {
                        spec: spec.clone(),
                        output: i,
                    },
                )
            })
            .collect()),
        None => Err(invalid(
            text,
            format!("pick one output with `.name`: {}", outputs.join(", ")),
        )),
    }
}

/// A column name from an expression: `:`, `,`, `(`, `)` become `_`, runs collapse.
fn feature_name(text: &str) -> String {
    let mut s = String::new();
    for c in text.trim().chars().filter(|c| !c.is_whitespace()) {
        let c = if matches!(c, ':' | ',' | '(' | ')' | '.') {
            '_'
        } else {
            c.to_ascii_lowercase()
        };
        if !(c == '_' && s.ends_with('_')) {
            s.push(c);
        }
    }
    s.trim_end_matches('_').to_owned()
}

/// A compiled, declarative feature set.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSet {
    features: Vec<(String, Expr)>,
}

impl FeatureSet {
    /// Parses a comma list of feature expressions (see the module docs).
    ///
    /// # Errors
    /// [`Error::InvalidFeature`] for the first expression that does not parse, or for a
    /// duplicated feature name.
    pub fn parse(list: &str) -> Result<Self> {
        Self::from_exprs(&split_spec_list(list))
    }

    /// Parses expressions given one by one (each may itself be a comma list).
    ///
    /// # Errors
    /// As [`FeatureSet::parse`].
    pub fn from_exprs<S: AsRef<str>>(exprs: &[S]) -> Result<Self> {
        let mut features = Vec::new();
        for e in exprs.iter().flat_map(|e| split_spec_list(e.as_ref())) {
            for (name, expr) in parse_expr(&e, true)? {
                if features.iter().any(|(n, _)| *n == name) {
                    return Err(invalid(&e, format!("feature `{name}` is listed twice")));
                }
                features.push((name, expr));
            }
        }
        if features.is_empty() {
            return Err(invalid("", "no features given"));
        }
        Ok(Self { features })
    }

    /// Feature column names, in order.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.features.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Computes the feature matrix over the timestamps every symbol has, restricted to `range`
    /// (indicators still warm up on bars before it).
    ///
    /// # Errors
    /// [`Error::InvalidPanel`] for no symbols, unsorted timestamps or no common timestamp;
    /// [`Error::LengthMismatch`] for ragged columns.
    pub fn compute(&self, panel: &[SymbolBars], range: Option<TimeRange>) -> Result<FeatureMatrix> {
        let grid = Grid::new(panel)?;
        let cols: Vec<Vec<Vec<f64>>> = self
            .features
            .iter()
            .map(|(_, e)| eval(e, panel, &grid))
            .collect::<Result<_>>()?;
        let keep: Vec<usize> = (0..grid.timestamps.len())
            .filter(|&t| range.is_none_or(|r| r.contains(grid.timestamps[t])))
            .collect();
        let n_sym = panel.len();
        let mut values = Vec::with_capacity(keep.len() * n_sym * cols.len());
        for &t in &keep {
            for s in 0..n_sym {
                values.extend(cols.iter().map(|c| c[s][t]));
            }
        }
        Ok(FeatureMatrix {
            timestamps: keep.iter().map(|&t| grid.timestamps[t]).collect(),
            symbols: panel.iter().map(|p| p.symbol.clone()).collect(),
            names: self.names(),
            values,
        })
    }
}

/// The common timestamps of a panel and, per symbol, the index of each in its own bars.
struct Grid {
    timestamps: Vec<UnixNanos>,
    /// `rows[s][t]`: index into symbol `s`'s bars of grid row `t`.
    rows: Vec<Vec<usize>>,
}

impl Grid {
    fn new(panel: &[SymbolBars]) -> Result<Self> {
        let first = panel
            .first()
            .ok_or_else(|| Error::InvalidPanel("no symbols given".to_owned()))?;
        for p in panel {
            p.columns()?;
            if p.timestamps.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Error::InvalidPanel(format!(
                    "timestamps of `{}` are not strictly ascending",
                    p.symbol
                )));
            }
        }
        let mut common: Vec<UnixNanos> = first.timestamps.clone();
        for p in &panel[1..] {
            let mine: std::collections::BTreeSet<UnixNanos> =
                p.timestamps.iter().copied().collect();
            common.retain(|t| mine.contains(t));
        }
        if common.is_empty() {
            return Err(Error::InvalidPanel(
                "the symbols share no timestamp".to_owned(),
            ));
        }
        let rows = panel
            .iter()
            .map(|p| {
                let index: BTreeMap<UnixNanos, usize> = p
                    .timestamps
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (*t, i))
                    .collect();
                common.iter().map(|t| index[t]).collect()
            })
            .collect();
        Ok(Self {
            timestamps: common,
            rows,
        })
    }
}

/// Evaluates an expression to `[symbol][grid row]`.
fn eval(expr: &Expr, panel: &[SymbolBars], grid: &Grid) -> Result<Vec<Vec<f64>>> {
    Ok(match expr {
        Expr::Indicator { spec, output } => panel
            .iter()
            .zip(&grid.rows)
            .map(|(p, rows)| {
                let mut out = spec.compute(&p.columns()?)?;
                let col = out.swap_remove(*output);
                Ok(rows.iter().map(|&i| col[i]).collect())
            })
            .collect::<Result<_>>()?,
        Expr::Lag(e, k) => eval(e, panel, grid)?
            .into_iter()
            .map(|v| {
                (0..v.len())
                    .map(|t| if t >= *k { v[t - k] } else { f64::NAN })
                    .collect()
            })
            .collect(),
        Expr::Ratio(a, b) | Expr::Diff(a, b) => {
            let ratio = matches!(expr, Expr::Ratio(..));
            let (a, b) = (eval(a, panel, grid)?, eval(b, panel, grid)?);
            a.iter()
                .zip(&b)
                .map(|(x, y)| {
                    x.iter()
                        .zip(y)
                        .map(|(x, y)| if ratio { x / y } else { x - y })
                        .collect()
                })
                .collect()
        }
        Expr::Rank(e) => {
            let v = eval(e, panel, grid)?;
            let mut out = vec![vec![f64::NAN; grid.timestamps.len()]; panel.len()];
            let mut row: Vec<(f64, usize)> = Vec::with_capacity(panel.len());
            for t in 0..grid.timestamps.len() {
                row.clear();
                row.extend(
                    (0..panel.len())
                        .filter(|&s| !v[s][t].is_nan())
                        .map(|s| (v[s][t], s)),
                );
                row.sort_by(|a, b| a.0.total_cmp(&b.0));
                let n = row.len();
                let mut i = 0;
                while i < n {
                    let mut j = i;
                    while j + 1 < n && row[j + 1].0 == row[i].0 {
                        j += 1;
                    }
                    let avg = (i + j) as f64 / 2.0;
                    let scaled = if n > 1 { avg / (n - 1) as f64 } else { 0.5 };
                    for &(_, s) in &row[i..=j] {
                        out[s][t] = scaled;
                    }
                    i = j + 1;
                }
            }
            out
        }
    })
}

/// Feature values in long format: one row per (timestamp, symbol), one column per feature.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    /// Row timestamps, ascending (each repeated once per symbol in the rows).
    pub timestamps: Vec<UnixNanos>,
    /// Symbols in panel order.
    pub symbols: Vec<String>,
    /// Feature names, the column order.
    pub names: Vec<String>,
    /// Row-major values: row `t · symbols.len() + s`, `NaN` during warm-up.
    pub values: Vec<f64>,
}

impl FeatureMatrix {
    /// Number of rows (`timestamps × symbols`).
    #[must_use]
    pub fn rows(&self) -> usize {
        self.timestamps.len() * self.symbols.len()
    }

    /// The features of symbol `s` at timestamp index `t`.
    #[must_use]
    pub fn row(&self, t: usize, s: usize) -> &[f64] {
        let k = self.names.len();
        let r = t * self.symbols.len() + s;
        &self.values[r * k..(r + 1) * k]
    }

    /// One feature across every row, or `None` for an unknown name.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let j = self.names.iter().position(|n| n == name)?;
        Some(
            self.values
                .iter()
                .skip(j)
                .step_by(self.names.len())
                .copied()
                .collect(),
        )
    }
}

/// What a model learns to predict: a function of bars after `t`, kept apart from features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `ln(close[t+h] / close[t])` over the common grid.
    FwdRet(usize),
    /// The sign (−1, 0, 1) of the forward log return over `h` rows.
    FwdSign(usize),
}

impl Target {
    /// Parses `fwd_ret:H` or `fwd_sign:H` (`H` ≥ 1).
    ///
    /// # Errors
    /// [`Error::InvalidFeature`] for anything else.
    pub fn parse(text: &str) -> Result<Self> {
        let (name, h) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| invalid(text, "usage: fwd_ret:H or fwd_sign:H"))?;
        let h: usize = h
            .trim()
            .parse()
            .map_err(|_| invalid(text, "horizon must be a whole number"))?;
        if h == 0 {
            return Err(invalid(text, "horizon must be at least 1"));
        }
        match name.trim().to_ascii_lowercase().as_str() {
            "fwd_ret" => Ok(Self::FwdRet(h)),
            "fwd_sign" => Ok(Self::FwdSign(h)),
            other => Err(invalid(
                text,
                format!("unknown target `{other}`; use fwd_ret or fwd_sign"),
            )),
        }
    }

    /// The column name (`fwd_ret_5`).
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::FwdRet(h) => format!("fwd_ret_{h}"),
            Self::FwdSign(h) => format!("fwd_sign_{h}"),
        }
    }

    /// Target values in the row order of [`FeatureSet::compute`] for the same panel and range;
    /// `NaN` where fewer than `h` later rows exist.
    ///
    /// # Errors
    /// As [`FeatureSet::compute`].
    pub fn compute(&self, panel: &[SymbolBars], range: Option<TimeRange>) -> Result<Vec<f64>> {
        let grid = Grid::new(panel)?;
        let (Self::FwdRet(h) | Self::FwdSign(h)) = *self;
        let n = grid.timestamps.len();
        let mut out = Vec::new();
        for t in (0..n).filter(|&t| range.is_none_or(|r| r.contains(grid.timestamps[t]))) {
            for (p, rows) in panel.iter().zip(&grid.rows) {
                let v = if t + h < n {
                    (p.close[rows[t + h]] / p.close[rows[t]]).ln()
                } else {
                    f64::NAN
                };
                out.push(match self {
                    Self::FwdRet(_) => v,
                    Self::FwdSign(_) if v.is_nan() => f64::NAN,
                    Self::FwdSign(_) => {
                        if v > 0.0 {
                            1.0
                        } else if v < 0.0 {
                            -1.0
                        } else {
                            0.0
                        }
                    }
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(n: usize, symbols: usize, seed: u64) -> Vec<SymbolBars> {
        (0..symbols)
            .map(|s| {
                let mut x = seed.wrapping_add(s as u64 * 7919);
                let mut price = 100.0 + s as f64;
                let mut bars = SymbolBars {
                    symbol: format!("S{s}"),
                    ..SymbolBars::default()
                };
                for i in 0..n {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = ((x >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
                    let open = price;
                    price *= 1.0 + r * 0.02;
                    bars.timestamps
                        .push(UnixNanos::from_secs(1_700_000_000 + 60 * i as i64).unwrap());
                    bars.open.push(open);
                    bars.high.push(open.max(price) * 1.001);
                    bars.low.push(open.min(price) * 0.999);
                    bars.close.push(price);
                    bars.volume.push(1000.0 + (x % 500) as f64);
                }
                bars
            })
            .collect()
    }

    #[test]
    fn test_feature_list_digit_continues_params() {
        let fs = FeatureSet::parse("rsi:14,macd:12,26,9.macdsignal,ret:1").unwrap();
        assert_eq!(fs.names(), ["rsi_14", "macd_12_26_9_macdsignal", "ret_1"]);
        let fs = FeatureSet::parse("rsi:14,macd:12,26,9,ret:1").unwrap();
        assert_eq!(
            fs.names().len(),
            5,
            "bare macd expands to its three outputs"
        );
    }

    #[test]
    fn test_feature_expressions_parse() {
        let fs = FeatureSet::parse(
            "lag(ret:1,3),ratio(sma:10,sma:50),diff(rsi:14,rsi:28),rank(vol_ewma:32),vol_ewma:32",
        )
        .unwrap();
        assert_eq!(
            fs.names(),
            [
                "lag_ret_1_3",
                "ratio_sma_10_sma_50",
                "diff_rsi_14_rsi_28",
                "rank_vol_ewma_32",
                "vol_ewma_32"
            ]
        );
    }

    #[test]
    fn test_targets_are_not_features() {
        assert!(FeatureSet::parse("rsi:14,fwd_ret:5").is_err());
        assert!(FeatureSet::parse("lag(fwd_ret:5,1)").is_err());
        assert_eq!(Target::parse("fwd_sign:3").unwrap(), Target::FwdSign(3));
    }

    #[test]
    fn test_lag_shifts_rows() {
        let p = panel(50, 1, 1);
        let m = FeatureSet::parse("ret:1,lag(ret:1,3)")
            .unwrap()
            .compute(&p, None)
            .unwrap();
        let (a, b) = (m.column("ret_1").unwrap(), m.column("lag_ret_1_3").unwrap());
        assert_eq!(a[10], b[13]);
        assert!(b[3].is_nan());
    }

    #[test]
    fn test_rank_is_cross_sectional() {
        let p = panel(60, 4, 2);
        let m = FeatureSet::parse("rank(ret:1)")
            .unwrap()
            .compute(&p, None)
            .unwrap();
        let mut row: Vec<f64> = (0..4).map(|s| m.row(30, s)[0]).collect();
        row.sort_by(f64::total_cmp);
        assert_eq!(row, [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]);
    }

    #[test]
    fn test_target_is_forward_return() {
        let p = panel(20, 2, 3);
        let y = Target::FwdRet(2).compute(&p, None).unwrap();
        assert_eq!(y[5 * 2 + 1], (p[1].close[7] / p[1].close[5]).ln());
        assert!(y[19 * 2].is_nan());
    }

    /// Perturbing every bar after `t0` changes no feature at or before `t0` (but does change
    /// the target there, which shows the perturbation reaches the pipeline).
    #[test]
    fn test_features_do_not_look_ahead() {
        let fs = FeatureSet::parse(
            "rsi:14,ret:1,vol_ewma:32,lag(ret:1,3),ratio(sma:10,sma:50),diff(ema:5,ema:20),rank(ret:5),\
             macd:12,26,9,bbands:20,2,2,stoch:14,3,3,adx:14,atr:14,obv,mfi:14,cci:20,kama:10,ewmac:8,32,\
             breakout:20,vwap:14,zscore:20,linearreg_slope:14,ultosc,aroon:14,willr:14,adosc,trix:9",
        )
        .unwrap();
        let base = panel(400, 3, 4);
        let m0 = fs.compute(&base, None).unwrap();
        let y0 = Target::FwdRet(1).compute(&base, None).unwrap();
        for t0 in [60usize, 200, 398] {
            let mut changed = base.clone();
            for (s, bars) in changed.iter_mut().enumerate() {
                for i in t0 + 1..bars.close.len() {
                    let f = 1.1 + 0.05 * ((i * (s + 3)) % 7) as f64;
                    bars.open[i] *= f;
                    bars.high[i] *= f * 1.01;
                    bars.low[i] *= f * 0.99;
                    bars.close[i] *= f;
                    bars.volume[i] *= 2.0 + s as f64;
                }
            }
            let m1 = fs.compute(&changed, None).unwrap();
            let y1 = Target::FwdRet(1).compute(&changed, None).unwrap();
            for t in 0..=t0 {
                for s in 0..3 {
                    let (a, b) = (m0.row(t, s), m1.row(t, s));
                    for (k, (x, y)) in a.iter().zip(b).enumerate() {
                        assert!(
                            x.to_bits() == y.to_bits(),
                            "feature {} at t={t} changed after t0={t0}",
                            m0.names[k]
                        );
                    }
                }
            }
            assert_ne!(
                y0[t0 * 3].to_bits(),
                y1[t0 * 3].to_bits(),
                "the target at t0 must see the future"
            );
        }
    }
}
