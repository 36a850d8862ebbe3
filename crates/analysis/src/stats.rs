//! Summary statistics of a run, with backtesting.py's definitions.
//!
//! Every definition is in `docs/backtest.md`; in short:
//! * returns for the risk figures are taken on calendar periods: the equity
//!   curve is resampled to the last value per UTC day (per week, month or
//!   year when the bars are that coarse), and annualised with 252 periods a
//!   year, or 365 when weekends hold more than 60 % of their share of bars
//!   (crypto), 52 for weekly, 12 for monthly and 1 for yearly bars;
//! * the annual return is the geometric mean period return compounded over a
//!   year; volatility is the matching compounded variance; Sharpe and Sortino
//!   use a zero risk-free rate;
//! * trade figures use each closed trade's net return in percent.
//!
//! Undefined values (no trades, zero variance) are `None` and print as JSON `null`.

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;

use crate::drawdown::drawdown_summary;
use crate::error::{Error, Result};
use crate::trades::TradeRecord;

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// How many return periods make a year.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Annualisation {
    /// From the data: backtesting.py's rule (see the module docs).
    #[default]
    Auto,
    /// Daily returns with this many trading days a year (252 equities, 365 crypto).
    Days(f64),
}

/// What the statistics are computed from. All slices are per bar and of equal length.
#[derive(Clone, Copy, Debug)]
pub struct StatsInput<'a> {
    /// Label of each bar (its open time, as in the input file).
    pub timestamps: &'a [UnixNanos],
    /// Account equity after each bar, in the account currency.
    pub equity: &'a [f64],
    /// Close of the traded instrument at each bar, for the buy-and-hold return.
    pub closes: &'a [f64],
    /// Closed round trips.
    pub trades: &'a [TradeRecord],
    /// First bar on which the strategy could trade (its indicator warm-up); buy and hold starts here.
    pub first_trading_bar: usize,
    /// How to annualise.
    pub annualisation: Annualisation,
}

/// The summary statistics; field names are the JSON contract of `tessera backtest --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// First bar's label, RFC 3339.
    pub start: String,
    /// Last bar's label, RFC 3339.
    pub end: String,
    /// `end − start` in seconds.
    pub duration_s: f64,
    /// Share of bars with an open position (from entry bar to exit bar inclusive, closed trades), %.
    pub exposure_time_pct: f64,
    /// Equity after the last bar.
    pub equity_final: f64,
    /// Highest equity.
    pub equity_peak: f64,
    /// `(final − initial) / initial`, %.
    pub return_pct: f64,
    /// Close-to-close return of the instrument from the first trading bar to the end, %.
    pub buy_hold_return_pct: f64,
    /// Geometric mean period return compounded over a year, %.
    pub return_ann_pct: Option<f64>,
    /// Compound annual growth rate over the calendar duration (365.25-day years), %.
    pub cagr_pct: Option<f64>,
    /// Annualised volatility of period returns (compounded), %.
    pub volatility_ann_pct: Option<f64>,
    /// `return_ann_pct / volatility_ann_pct` (risk-free rate 0).
    pub sharpe_ratio: Option<f64>,
    /// Annual return over annualised downside deviation.
    pub sortino_ratio: Option<f64>,
    /// Annual return over the maximum drawdown.
    pub calmar_ratio: Option<f64>,
    /// Deepest drawdown, % (negative).
    pub max_drawdown_pct: f64,
    /// Mean depth of drawdown periods, % (negative).
    pub avg_drawdown_pct: Option<f64>,
    /// Longest drawdown period, seconds.
    pub max_drawdown_duration_s: Option<f64>,
    /// Mean drawdown period, seconds.
    pub avg_drawdown_duration_s: Option<f64>,
    /// Number of closed trades.
    pub trades: u64,
    /// Share of trades with positive net P&L, %.
    pub win_rate_pct: Option<f64>,
    /// Best trade return, %.
    pub best_trade_pct: Option<f64>,
    /// Worst trade return, %.
    pub worst_trade_pct: Option<f64>,
    /// Geometric mean trade return, %.
    pub avg_trade_pct: Option<f64>,
    /// Longest trade, seconds.
    pub max_trade_duration_s: Option<f64>,
    /// Mean trade length, seconds.
    pub avg_trade_duration_s: Option<f64>,
    /// Sum of winning trade returns over the absolute sum of losing ones.
    pub profit_factor: Option<f64>,
    /// Arithmetic mean trade return, %.
    pub expectancy_pct: Option<f64>,
    /// Van Tharp's system quality number: `√n · mean(pnl) / std(pnl)`.
    pub sqn: Option<f64>,
    /// Commissions of the closed trades, in the account currency.
    pub commissions: f64,
    /// Id of the stored run; `None` until stored or named.
    pub run_id: Option<String>,
}

impl Stats {
    /// A metric by its JSON name, for sorting sweeps. `None` for unknown names and undefined values.
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<f64> {
        let v = match name {
            "duration_s" => Some(self.duration_s),
            "exposure_time_pct" => Some(self.exposure_time_pct),
            "equity_final" => Some(self.equity_final),
            "equity_peak" => Some(self.equity_peak),
            "return_pct" => Some(self.return_pct),
            "buy_hold_return_pct" => Some(self.buy_hold_return_pct),
            "return_ann_pct" => self.return_ann_pct,
            "cagr_pct" => self.cagr_pct,
            "volatility_ann_pct" => self.volatility_ann_pct,
            "sharpe_ratio" => self.sharpe_ratio,
            "sortino_ratio" => self.sortino_ratio,
            "calmar_ratio" => self.calmar_ratio,
            "max_drawdown_pct" => Some(self.max_drawdown_pct),
            "avg_drawdown_pct" => self.avg_drawdown_pct,
            "max_drawdown_duration_s" => self.max_drawdown_duration_s,
            "avg_drawdown_duration_s" => self.avg_drawdown_duration_s,
            "trades" => Some(self.trades as f64),
            "win_rate_pct" => self.win_rate_pct,
            "best_trade_pct" => self.best_trade_pct,
            "worst_trade_pct" => self.worst_trade_pct,
            "avg_trade_pct" => self.avg_trade_pct,
            "max_trade_duration_s" => self.max_trade_duration_s,
            "avg_trade_duration_s" => self.avg_trade_duration_s,
            "profit_factor" => self.profit_factor,
            "expectancy_pct" => self.expectancy_pct,
            "sqn" => self.sqn,
            "commissions" => Some(self.commissions),
            _ => None,
        };
        v.filter(|x| x.is_finite())
    }

    /// Names accepted by [`Stats::metric`].
    pub const METRICS: &'static [&'static str] = &[
        "duration_s",
        "exposure_time_pct",
        "equity_final",
        "equity_peak",
        "return_pct",
        "buy_hold_return_pct",
        "return_ann_pct",
        "cagr_pct",
        "volatility_ann_pct",
        "sharpe_ratio",
        "sortino_ratio",
        "calmar_ratio",
        "max_drawdown_pct",
        "avg_drawdown_pct",
        "max_drawdown_duration_s",
        "avg_drawdown_duration_s",
        "trades",
        "win_rate_pct",
        "best_trade_pct",
        "worst_trade_pct",
        "avg_trade_pct",
        "max_trade_duration_s",
        "avg_trade_duration_s",
        "profit_factor",
        "expectancy_pct",
        "sqn",
        "commissions",
    ];
}

fn fin(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        f64::NAN
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Sample variance (ddof = 1), NaN below two values.
fn var1(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64
}

/// `exp(mean(log(1 + r))) − 1`, zero when any `1 + r ≤ 0` (backtesting.py's convention).
fn geometric_mean(returns: &[f64]) -> f64 {
    if returns.is_empty() {
        return f64::NAN;
    }
    if returns.iter().any(|r| 1.0 + r <= 0.0) {
        return 0.0;
    }
    (returns.iter().map(|r| (1.0 + r).ln()).sum::<f64>() / returns.len() as f64).exp() - 1.0
}

/// Calendar bucket of a timestamp for period returns.
#[derive(Clone, Copy, PartialEq)]
enum Bucket {
    Day,
    Week,
    Month,
    Year,
}

fn bucket_key(t: UnixNanos, b: Bucket) -> i64 {
    let day = t.0.div_euclid(NANOS_PER_DAY);
    match b {
        Bucket::Day => day,
        // 1970-01-01 was a Thursday; weeks run Monday..Sunday (pandas' `W` = `W-SUN` bins).
        Bucket::Week => (day + 3).div_euclid(7),
        Bucket::Month => {
            let d = t.to_datetime();
            i64::from(d.year()) * 12 + i64::from(d.month0())
        }
        Bucket::Year => i64::from(t.to_datetime().year()),
    }
}

/// A value that depends only on a label's UTC day (every bucket key, the weekday), computed
/// once per day: labels are ascending, so a run of labels inside one day reuses it instead
/// of dividing nanoseconds per label (the statistics of every sweep run walk all labels).
struct PerDay<T: Copy> {
    start: i64,
    end: i64,
    value: Option<T>,
}

impl<T: Copy> PerDay<T> {
    fn new() -> Self {
        Self {
            start: 0,
            end: 0,
            value: None,
        }
    }

    #[inline]
    fn get(&mut self, t: UnixNanos, f: impl FnOnce(UnixNanos) -> T) -> T {
        match self.value {
            Some(v) if t.0 >= self.start && t.0 < self.end => v,
            _ => {
                let day = t.0.div_euclid(NANOS_PER_DAY);
                self.start = day.saturating_mul(NANOS_PER_DAY);
                self.end = self.start.saturating_add(NANOS_PER_DAY);
                let v = f(t);
                self.value = Some(v);
                v
            }
        }
    }
}

/// Median spacing of the last 100 labels, in whole days (floor), as backtesting.py infers the data period.
fn period_days(ts: &[UnixNanos]) -> i64 {
    let tail = &ts[ts.len().saturating_sub(100)..];
    let mut diffs: Vec<i64> = tail.windows(2).map(|w| w[1].nanos_since(w[0])).collect();
    if diffs.is_empty() {
        return 0;
    }
    diffs.sort_unstable();
    let n = diffs.len();
    let median = if n % 2 == 1 {
        diffs[n / 2] as f64
    } else {
        (diffs[n / 2 - 1] as f64 + diffs[n / 2] as f64) / 2.0
    };
    (median / NANOS_PER_DAY as f64).floor() as i64
}

/// Bars inside at least one of `spans` (first and last bar included): their union, merged in
/// order of start (the trades of a run, without a flag per bar).
fn exposed_bars(mut spans: Vec<(usize, usize)>) -> usize {
    spans.sort_unstable();
    let mut exposed = 0;
    let mut covered_to = 0; // bars below this index are counted
    for (a, b) in spans {
        let from = a.max(covered_to);
        if b >= from {
            exposed += b + 1 - from;
            covered_to = b + 1;
        }
    }
    exposed
}

/// Compute the statistics.
///
/// # Errors
/// [`Error::Input`] when the series are empty or of different lengths.
pub fn compute_stats(input: &StatsInput<'_>) -> Result<Stats> {
    let StatsInput {
        timestamps: ts,
        equity,
        closes,
        trades,
        first_trading_bar,
        annualisation,
    } = *input;
    let n = ts.len();
    if n == 0 || equity.len() != n || closes.len() != n {
        return Err(Error::Input(format!(
            "need equal, non-empty series: {} timestamps, {} equity points, {} closes",
            n,
            equity.len(),
            closes.len()
        )));
    }
    let fb = first_trading_bar.min(n - 1);
    let duration_s = ts[n - 1].nanos_since(ts[0]) as f64 / 1e9;

    let exposure = exposed_bars(
        trades
            .iter()
            .map(|t| (t.entry_bar.min(n - 1), t.exit_bar.min(n - 1)))
            .collect(),
    ) as f64
        / n as f64
        * 100.0;

    let equity_final = equity[n - 1];
    let equity_peak = equity.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let return_pct = (equity_final - equity[0]) / equity[0] * 100.0;
    let buy_hold = (closes[n - 1] - closes[fb]) / closes[fb] * 100.0;

    // Period returns on calendar buckets.
    let (bucket, periods) = match annualisation {
        Annualisation::Days(d) => (Bucket::Day, d),
        Annualisation::Auto => match period_days(ts) {
            7 => (Bucket::Week, 52.0),
            31 => (Bucket::Month, 12.0),
            365 => (Bucket::Year, 1.0),
            _ => {
                let mut is_weekend = PerDay::new();
                let weekend = ts
                    .iter()
                    .filter(|t| {
                        is_weekend.get(**t, |t| {
                            (t.0.div_euclid(NANOS_PER_DAY) + 3).rem_euclid(7) >= 5
                        })
                    })
                    .count() as f64
                    / n as f64;
                (
                    Bucket::Day,
                    if weekend > 2.0 / 7.0 * 0.6 {
                        365.0
                    } else {
                        252.0
                    },
                )
            }
        },
    };
    let mut last_per_bucket: Vec<f64> = Vec::new();
    let mut prev_key = None;
    let mut keys = PerDay::new();
    for (t, &e) in ts.iter().zip(equity) {
        let k = keys.get(*t, |t| bucket_key(t, bucket));
        if prev_key == Some(k) {
            if let Some(last) = last_per_bucket.last_mut() {
                *last = e;
            }
        } else {
            last_per_bucket.push(e);
            prev_key = Some(k);
        }
    }
    let period_returns: Vec<f64> = last_per_bucket
        .windows(2)
        .map(|w| w[1] / w[0] - 1.0)
        .collect();
    let g = if period_returns.is_empty() {
        0.0
    } else {
        geometric_mean(&period_returns)
    };
    let ann_return = (1.0 + g).powf(periods) - 1.0;
    let vol = ((var1(&period_returns) + (1.0 + g).powi(2)).powf(periods)
        - (1.0 + g).powf(2.0 * periods))
    .sqrt();
    let return_ann_pct = ann_return * 100.0;
    let vol_pct = vol * 100.0;
    let years = duration_s / 86_400.0 / 365.25;
    let cagr = if years > 0.0 {
        ((equity_final / equity[0]).powf(1.0 / years) - 1.0) * 100.0
    } else {
        f64::NAN
    };
    let sharpe = if vol_pct == 0.0 {
        f64::NAN
    } else {
        return_ann_pct / vol_pct
    };
    let downside = (mean(
        &period_returns
            .iter()
            .map(|r| r.min(0.0).powi(2))
            .collect::<Vec<_>>(),
    ))
    .sqrt()
        * periods.sqrt();
    let sortino = ann_return / downside;

    let (max_dd, periods_dd) = drawdown_summary(equity, ts);
    let calmar = if max_dd == 0.0 {
        f64::NAN
    } else {
        ann_return / max_dd
    };
    let depths: Vec<f64> = periods_dd.iter().map(|p| p.depth).collect();
    let dd_durs: Vec<f64> = periods_dd.iter().map(|p| p.duration_s).collect();

    let nt = trades.len();
    let pnl: Vec<f64> = trades.iter().map(|t| dec_f64(t.pnl)).collect();
    let rets: Vec<f64> = trades.iter().map(|t| t.return_pct / 100.0).collect();
    let durs: Vec<f64> = trades.iter().map(TradeRecord::duration_s).collect();
    let max_of = |xs: &[f64]| xs.iter().copied().fold(f64::NAN, f64::max);
    let min_of = |xs: &[f64]| xs.iter().copied().fold(f64::NAN, f64::min);
    let wins = pnl.iter().filter(|&&p| p > 0.0).count();
    let gain: f64 = rets.iter().filter(|&&r| r > 0.0).sum();
    let loss: f64 = rets.iter().filter(|&&r| r < 0.0).sum::<f64>().abs();
    let commissions: f64 = dec_f64(trades.iter().map(|t| t.commission).sum());

    Ok(Stats {
        start: ts[0].to_rfc3339(),
        end: ts[n - 1].to_rfc3339(),
        duration_s,
        exposure_time_pct: exposure,
        equity_final,
        equity_peak,
        return_pct,
        buy_hold_return_pct: buy_hold,
        return_ann_pct: fin(return_ann_pct),
        cagr_pct: fin(cagr),
        volatility_ann_pct: fin(vol_pct),
        sharpe_ratio: fin(sharpe),
        sortino_ratio: fin(sortino),
        calmar_ratio: fin(calmar),
        max_drawdown_pct: -max_dd * 100.0,
        avg_drawdown_pct: fin(-mean(&depths) * 100.0),
        max_drawdown_duration_s: fin(max_of(&dd_durs)),
        avg_drawdown_duration_s: fin(mean(&dd_durs)),
        trades: nt as u64,
        win_rate_pct: (nt > 0).then(|| wins as f64 / nt as f64 * 100.0),
        best_trade_pct: fin(max_of(&rets) * 100.0),
        worst_trade_pct: fin(min_of(&rets) * 100.0),
        avg_trade_pct: fin(geometric_mean(&rets) * 100.0),
        max_trade_duration_s: fin(max_of(&durs)),
        avg_trade_duration_s: fin(mean(&durs)),
        profit_factor: if loss == 0.0 { None } else { fin(gain / loss) },
        expectancy_pct: fin(mean(&rets) * 100.0),
        sqn: {
            let sd = var1(&pnl).sqrt();
            if sd == 0.0 {
                None
            } else {
                fin((nt as f64).sqrt() * mean(&pnl) / sd)
            }
        },
        commissions,
        run_id: None,
    })
}

fn dec_f64(d: tessera_model::Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: i64) -> Vec<UnixNanos> {
        // Start on a Monday (1970-01-05) and skip weekends, like equity data.
        (0..)
            .map(|i| 4 + i)
            .filter(|d: &i64| (d + 3).rem_euclid(7) < 5)
            .take(n as usize)
            .map(|d| UnixNanos(d * NANOS_PER_DAY))
            .collect()
    }

    #[test]
    fn test_stats_no_trades_gives_nulls() {
        let ts = days(10);
        let eq = vec![100.0; 10];
        let closes: Vec<f64> = (0..10).map(|i| 10.0 + f64::from(i)).collect();
        let s = compute_stats(&StatsInput {
            timestamps: &ts,
            equity: &eq,
            closes: &closes,
            trades: &[],
            first_trading_bar: 0,
            annualisation: Annualisation::Auto,
        })
        .unwrap();
        assert_eq!(s.trades, 0);
        assert_eq!(s.win_rate_pct, None);
        assert_eq!(s.sqn, None);
        assert_eq!(s.return_pct, 0.0);
        assert_eq!(s.sharpe_ratio, None);
        assert!((s.buy_hold_return_pct - 90.0).abs() < 1e-12);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 30);
        assert!(json["profit_factor"].is_null());
    }

    #[test]
    fn test_stats_rejects_mismatched_lengths() {
        let ts = days(3);
        let e = compute_stats(&StatsInput {
            timestamps: &ts,
            equity: &[1.0],
            closes: &[1.0, 1.0, 1.0],
            trades: &[],
            first_trading_bar: 0,
            annualisation: Annualisation::Auto,
        });
        assert!(e.is_err());
    }

    proptest::proptest! {
        #[test]
        fn prop_exposed_bars_counts_the_union(
            spans in proptest::collection::vec((0usize..50, 0usize..50), 0..12),
        ) {
            let mut flags = [false; 50];
            for &(a, b) in &spans {
                for f in flags.iter_mut().take(b + 1).skip(a) {
                    *f = true;
                }
            }
            proptest::prop_assert_eq!(
                exposed_bars(spans),
                flags.iter().filter(|&&f| f).count()
            );
        }
    }

    #[test]
    fn test_geometric_mean_rules() {
        assert!((geometric_mean(&[0.1, -0.1]) - ((1.1f64 * 0.9).sqrt() - 1.0)).abs() < 1e-15);
        assert_eq!(geometric_mean(&[0.1, -1.0]), 0.0);
    }

    #[test]
    fn test_metric_lookup() {
        let ts = days(5);
        let eq = [100.0, 101.0, 99.0, 102.0, 103.0];
        let s = compute_stats(&StatsInput {
            timestamps: &ts,
            equity: &eq,
            closes: &eq,
            trades: &[],
            first_trading_bar: 0,
            annualisation: Annualisation::Days(252.0),
        })
        .unwrap();
        assert_eq!(s.metric("return_pct"), Some(s.return_pct));
        assert_eq!(s.metric("nope"), None);
        for m in Stats::METRICS {
            let _ = s.metric(m); // every listed name must be accepted; values may be undefined here
        }
    }
}
