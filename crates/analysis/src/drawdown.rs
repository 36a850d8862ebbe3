//! Drawdown curve and drawdown periods of an equity curve.

use tessera_core::UnixNanos;

/// Drawdown at each point as a fraction of the running peak: `1 − equity / max(equity so far)`.
///
/// Zero at a new high, `0.25` when 25 % below the peak.
#[must_use]
pub fn drawdown_curve(equity: &[f64]) -> Vec<f64> {
    let mut peak = f64::NEG_INFINITY;
    equity
        .iter()
        .map(|&e| {
            peak = peak.max(e);
            1.0 - e / peak
        })
        .collect()
}

/// One drawdown: from the last point at the peak to the point where it is regained
/// (or the end of the series).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawdownPeriod {
    /// Index of the last point at the peak before the drawdown.
    pub start: usize,
    /// Index where the peak is regained, or the last index.
    pub end: usize,
    /// Length in seconds between the two points' timestamps.
    pub duration_s: f64,
    /// Deepest drawdown in the period, as a fraction.
    pub depth: f64,
}

/// Drawdown periods, defined as backtesting.py does: between consecutive
/// points where the drawdown is exactly zero (plus the last point), every gap
/// of more than one bar is a period.
#[must_use]
pub fn drawdown_periods(dd: &[f64], timestamps: &[UnixNanos]) -> Vec<DrawdownPeriod> {
    let n = dd.len().min(timestamps.len());
    if n == 0 {
        return Vec::new();
    }
    let mut marks: Vec<usize> = (0..n).filter(|&i| dd[i] == 0.0).collect();
    if marks.last() != Some(&(n - 1)) {
        marks.push(n - 1);
    }
    marks
        .windows(2)
        .filter(|w| w[1] > w[0] + 1)
        .map(|w| {
            let (s, e) = (w[0], w[1]);
            let depth = dd[s..=e].iter().copied().fold(f64::NAN, f64::max);
            DrawdownPeriod {
                start: s,
                end: e,
                duration_s: timestamps[e].nanos_since(timestamps[s]) as f64 / 1e9,
                depth,
            }
        })
        .collect()
}

/// The deepest drawdown (as [`drawdown_curve`]'s largest value, `0` for none) and the
/// periods of [`drawdown_periods`], in one pass without building the curve: statistics of
/// every run of a sweep need both, and the curve would cost 8 bytes a point.
#[must_use]
pub fn drawdown_summary(equity: &[f64], timestamps: &[UnixNanos]) -> (f64, Vec<DrawdownPeriod>) {
    let n = equity.len().min(timestamps.len());
    let mut peak = f64::NEG_INFINITY;
    let mut max_dd = 0.0_f64;
    let mut periods = Vec::new();
    // The last point at a peak (drawdown exactly zero) and the deepest drawdown since it.
    let mut mark: Option<(usize, f64)> = None;
    let period = |s: usize, e: usize, depth: f64| DrawdownPeriod {
        start: s,
        end: e,
        duration_s: timestamps[e].nanos_since(timestamps[s]) as f64 / 1e9,
        depth,
    };
    // Plain comparisons instead of `f64::max`: the same results (a NaN never wins either
    // way) at a third of the instructions, on a loop every sweep run makes over every bar.
    for (i, &e) in equity[..n].iter().enumerate() {
        if e > peak {
            peak = e;
        }
        let dd = 1.0 - e / peak;
        if dd > max_dd {
            max_dd = dd;
        }
        if dd == 0.0 {
            if let Some((s, depth)) = mark
                && i > s + 1
            {
                periods.push(period(s, i, depth));
            }
            mark = Some((i, dd));
        } else if let Some((_, depth)) = &mut mark
            && dd > *depth
        {
            *depth = dd;
        }
    }
    if let Some((s, depth)) = mark
        && n > 0
        && n - 1 > s + 1
    {
        periods.push(period(s, n - 1, depth));
    }
    (max_dd, periods)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn prop_summary_equals_curve_and_periods(
            steps in proptest::collection::vec(
                prop_oneof![Just(0.0), -3.0..3.0f64, Just(f64::NAN)], 0..60),
        ) {
            let mut e = 100.0;
            let equity: Vec<f64> = steps
                .iter()
                .map(|s| if s.is_nan() { f64::NAN } else { e += s.round(); e })
                .collect();
            let ts: Vec<UnixNanos> = (0..equity.len() as i64).map(|i| UnixNanos(i * 60)).collect();
            let dd = drawdown_curve(&equity);
            let max = dd.iter().copied().filter(|x| !x.is_nan()).fold(0.0_f64, f64::max);
            let (m, p) = drawdown_summary(&equity, &ts);
            prop_assert_eq!(m.to_bits(), max.to_bits());
            prop_assert_eq!(p, drawdown_periods(&dd, &ts));
        }
    }

    #[test]
    fn test_drawdown_curve_and_periods() {
        let eq = [100.0, 110.0, 99.0, 105.0, 120.0, 120.0, 90.0];
        let dd = drawdown_curve(&eq);
        assert_eq!(dd[1], 0.0);
        assert!((dd[2] - 0.1).abs() < 1e-12);
        let ts: Vec<UnixNanos> = (0..7).map(|i| UnixNanos(i * 1_000_000_000)).collect();
        let p = drawdown_periods(&dd, &ts);
        // The one-bar drawdown at the end is not a period (backtesting.py's rule: gaps of more than one bar).
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].start, p[0].end), (1, 4));
        assert_eq!(p[0].duration_s, 3.0);
        assert!((p[0].depth - 0.1).abs() < 1e-12);
        let p = drawdown_periods(&drawdown_curve(&[2.0, 1.0, 1.5, 1.0]), &ts[..4]);
        assert_eq!((p[0].start, p[0].end), (0, 3));
        assert!((p[0].depth - 0.5).abs() < 1e-12);
    }

    #[test]
    fn test_drawdown_periods_none_when_monotonic() {
        let dd = drawdown_curve(&[1.0, 2.0, 3.0]);
        assert!(drawdown_periods(&dd, &[UnixNanos(0), UnixNanos(1), UnixNanos(2)]).is_empty());
    }
}
