//! Small streaming indicators the built-in strategies need.
//!
//! The SMA is `tessera-indicators`' streaming SMA (running sum, TA-Lib's
//! numerics): with it every backtesting.py and backtrader parity fixture and
//! the 1M-bar benchmark give identical trades and statistics to the earlier
//! pandas-style Kahan sum. The others (EMA seeded with the first value as
//! pandas' `adjust=False`, Wilder's RSI, EWM volatility, rolling extremes)
//! stay here for now: their seeding conventions differ from TA-Lib's
//! (`tessera-indicators` seeds EMA with an SMA), so switching them changes
//! `ewmac`, `rsi_reversion` and `breakout` results and needs their own
//! reference fixtures first.

use std::collections::VecDeque;

/// Simple moving average over `n` values: `tessera-indicators`' streaming SMA (lengths clamped to 1..=100,000).
#[derive(Clone, Debug)]
pub(crate) struct Sma(tessera_indicators::ma::Sma);

impl Sma {
    pub(crate) fn new(n: usize) -> Self {
        // In range by the clamp, so construction cannot fail.
        match tessera_indicators::ma::Sma::new(n.clamp(1, 100_000)) {
            Ok(s) => Self(s),
            Err(_) => unreachable!("period clamped into the valid range"),
        }
    }

    /// Push a value; the average once `n` values have been seen.
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        use tessera_indicators::Indicator as _;
        self.0.update(x)
    }
}

/// Exponential moving average with span `n` (`α = 2 / (n + 1)`), seeded with the first value (pandas `adjust=False`).
#[derive(Clone, Debug)]
pub(crate) struct Ema {
    alpha: f64,
    value: Option<f64>,
}

impl Ema {
    pub(crate) fn new(span: usize) -> Self {
        Self {
            alpha: 2.0 / (span.max(1) as f64 + 1.0),
            value: None,
        }
    }

    pub(crate) fn update(&mut self, x: f64) -> f64 {
        let v = match self.value {
            None => x,
            Some(prev) => prev + self.alpha * (x - prev),
        };
        self.value = Some(v);
        v
    }
}

/// Wilder's RSI over `n` periods; defined after `n` changes.
#[derive(Clone, Debug)]
pub(crate) struct Rsi {
    n: usize,
    prev: Option<f64>,
    seen: usize,
    avg_gain: f64,
    avg_loss: f64,
}

impl Rsi {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            n: n.max(1),
            prev: None,
            seen: 0,
            avg_gain: 0.0,
            avg_loss: 0.0,
        }
    }

    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        let prev = self.prev.replace(x)?;
        let ch = x - prev;
        let (g, l) = (ch.max(0.0), (-ch).max(0.0));
        self.seen += 1;
        let n = self.n as f64;
        if self.seen <= self.n {
            // Seed with the simple average of the first n changes.
            self.avg_gain += g / n;
            self.avg_loss += l / n;
            if self.seen < self.n {
                return None;
            }
        } else {
            self.avg_gain = (self.avg_gain * (n - 1.0) + g) / n;
            self.avg_loss = (self.avg_loss * (n - 1.0) + l) / n;
        }
        Some(if self.avg_loss == 0.0 {
            100.0
        } else {
            100.0 - 100.0 / (1.0 + self.avg_gain / self.avg_loss)
        })
    }
}

/// Highest and lowest of the last `n` values (monotonic deques, O(1) amortised).
#[derive(Clone, Debug)]
pub(crate) struct MinMax {
    n: usize,
    i: usize,
    max: VecDeque<(usize, f64)>,
    min: VecDeque<(usize, f64)>,
}

impl MinMax {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            n: n.max(1),
            i: 0,
            max: VecDeque::new(),
            min: VecDeque::new(),
        }
    }

    /// Push a high and a low; `(max high, min low)` of the last `n` once full.
    pub(crate) fn update(&mut self, high: f64, low: f64) -> Option<(f64, f64)> {
        let i = self.i;
        self.i += 1;
        while self.max.back().is_some_and(|&(_, v)| v <= high) {
            self.max.pop_back();
        }
        self.max.push_back((i, high));
        while self.min.back().is_some_and(|&(_, v)| v >= low) {
            self.min.pop_back();
        }
        self.min.push_back((i, low));
        while self.max.front().is_some_and(|&(j, _)| j + self.n <= i) {
            self.max.pop_front();
        }
        while self.min.front().is_some_and(|&(j, _)| j + self.n <= i) {
            self.min.pop_front();
        }
        if self.i < self.n {
            return None;
        }
        Some((self.max.front()?.1, self.min.front()?.1))
    }
}

/// Exponentially weighted standard deviation of returns (span `n`), pysystemtrade's `robust_vol_calc` core.
#[derive(Clone, Debug)]
pub(crate) struct EwmVol {
    alpha: f64,
    mean: f64,
    var: f64,
    count: usize,
}

impl EwmVol {
    pub(crate) fn new(span: usize) -> Self {
        Self {
            alpha: 2.0 / (span.max(1) as f64 + 1.0),
            mean: 0.0,
            var: 0.0,
            count: 0,
        }
    }

    pub(crate) fn update(&mut self, x: f64) -> f64 {
        self.count += 1;
        if self.count == 1 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let d = x - self.mean;
            self.mean += self.alpha * d;
            self.var = (1.0 - self.alpha) * (self.var + self.alpha * d * d);
        }
        self.var.sqrt()
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }
}

/// Rolling SMA of a whole series (for sharing precomputed indicators across sweep runs): `NaN` during warm-up.
#[must_use]
pub fn sma_series(values: impl ExactSizeIterator<Item = f64>, n: usize) -> Vec<f64> {
    let mut s = Sma::new(n);
    let mut out = Vec::with_capacity(values.len());
    out.extend(values.map(|x| s.update(x).unwrap_or(f64::NAN)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sma_matches_naive_mean() {
        let xs: Vec<f64> = (0..50)
            .map(|i| 100.0 + (f64::from(i) * 0.7).sin())
            .collect();
        let out = sma_series(xs.iter().copied(), 10);
        assert!(out[8].is_nan());
        for i in 9..50 {
            let m: f64 = xs[i - 9..=i].iter().sum::<f64>() / 10.0;
            assert!((out[i] - m).abs() < 1e-12);
        }
    }

    #[test]
    fn test_rsi_extremes_and_minmax() {
        let mut r = Rsi::new(3);
        assert_eq!(r.update(1.0), None);
        r.update(2.0);
        r.update(3.0);
        assert_eq!(r.update(4.0), Some(100.0));
        let mut m = MinMax::new(3);
        assert_eq!(m.update(5.0, 4.0), None);
        m.update(7.0, 6.0);
        assert_eq!(m.update(6.0, 1.0), Some((7.0, 1.0)));
        assert_eq!(m.update(2.0, 2.0), Some((7.0, 1.0)));
        assert_eq!(m.update(2.0, 2.0), Some((6.0, 1.0)));
        assert_eq!(m.update(2.0, 2.0), Some((2.0, 2.0)));
    }

    #[test]
    fn test_ema_and_vol() {
        let mut e = Ema::new(3);
        assert_eq!(e.update(10.0), 10.0);
        assert_eq!(e.update(20.0), 15.0);
        let mut v = EwmVol::new(10);
        assert_eq!(v.update(1.0), 0.0);
        assert!(v.update(2.0) > 0.0);
        assert_eq!(v.count(), 2);
    }
}
