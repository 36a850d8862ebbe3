//! Volume indicators: OBV, Chaikin A/D line, ADOSC, rolling VWAP.

use crate::error::{check_lengths, check_period};
use crate::window::RingBuffer;
use crate::{Indicator, Ohlcv, Result, bar_at, run_single};

/// On-balance volume, starting at the first bar's volume (TA-Lib `OBV`, lookback 0).
#[derive(Debug, Clone, Default)]
pub struct Obv {
    prev: Option<(f64, f64)>,
}

impl Obv {
    /// An OBV stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for Obv {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let obv = match self.prev {
            None => bar.volume,
            Some((prev_close, obv)) if bar.close > prev_close => obv + bar.volume,
            Some((prev_close, obv)) if bar.close < prev_close => obv - bar.volume,
            Some((_, obv)) => obv,
        };
        self.prev = Some((bar.close, obv));
        Some(obv)
    }

    fn lookback(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        self.prev = None;
    }
}

/// One bar's Chaikin money flow volume, as TA-Lib computes it (0 for a bar with no range).
#[inline]
fn money_flow_volume(bar: Ohlcv) -> f64 {
    let range = bar.high - bar.low;
    if range > 0.0 {
        (((bar.close - bar.low) - (bar.high - bar.close)) / range) * bar.volume
    } else {
        0.0
    }
}

/// Chaikin accumulation/distribution line (TA-Lib `AD`, lookback 0).
#[derive(Debug, Clone, Default)]
pub struct Ad {
    value: f64,
}

impl Ad {
    /// An A/D stream starting at 0.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for Ad {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let range = bar.high - bar.low;
        if range > 0.0 {
            self.value += money_flow_volume(bar);
        }
        Some(self.value)
    }

    fn lookback(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        self.value = 0.0;
    }
}

/// Chaikin A/D oscillator: fast EMA minus slow EMA of the A/D line, both seeded with the first
/// A/D value and written `k·ad + (1−k)·ema` as TA-Lib does
/// (TA-Lib `ADOSC`, lookback `max(fast, slow) − 1`).
#[derive(Debug, Clone)]
pub struct Adosc {
    lookback: usize,
    fast_k: f64,
    slow_k: f64,
    ad: Ad,
    fast: f64,
    slow: f64,
    seen: usize,
}

impl Adosc {
    /// An ADOSC with `fastperiod` and `slowperiod` (≥ 2; TA-Lib: 3, 10).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when a period is out of range.
    pub fn new(fastperiod: usize, slowperiod: usize) -> Result<Self> {
        check_period("adosc", "fastperiod", fastperiod, 2)?;
        check_period("adosc", "slowperiod", slowperiod, 2)?;
        Ok(Self {
            lookback: fastperiod.max(slowperiod) - 1,
            fast_k: 2.0 / (fastperiod as f64 + 1.0),
            slow_k: 2.0 / (slowperiod as f64 + 1.0),
            ad: Ad::new(),
            fast: 0.0,
            slow: 0.0,
            seen: 0,
        })
    }
}

impl Indicator for Adosc {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let ad = self.ad.update(bar).unwrap_or_default();
        if self.seen == 0 {
            self.fast = ad;
            self.slow = ad;
        } else {
            self.fast = (self.fast_k * ad) + ((1.0 - self.fast_k) * self.fast);
            self.slow = (self.slow_k * ad) + ((1.0 - self.slow_k) * self.slow);
        }
        if self.seen < self.lookback {
            self.seen += 1;
            return None;
        }
        self.seen = self.lookback.max(1);
        Some(self.fast - self.slow)
    }

    fn lookback(&self) -> usize {
        self.lookback
    }

    fn reset(&mut self) {
        self.ad.reset();
        self.fast = 0.0;
        self.slow = 0.0;
        self.seen = 0;
    }
}

/// Rolling volume-weighted average of the typical price `(h + l + c) / 3` over `period` bars;
/// the typical price itself when no volume traded in the window (not in TA-Lib, lookback
/// `period − 1`).
#[derive(Debug, Clone)]
pub struct Vwap {
    period: usize,
    pv: RingBuffer,
    vol: RingBuffer,
    sum_pv: f64,
    sum_v: f64,
}

impl Vwap {
    /// A VWAP over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("vwap", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            pv: RingBuffer::new(period),
            vol: RingBuffer::new(period),
            sum_pv: 0.0,
            sum_v: 0.0,
        })
    }
}

impl Indicator for Vwap {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let tp = (bar.high + bar.low + bar.close) / 3.0;
        let pv = tp * bar.volume;
        if let Some(old) = self.pv.push(pv) {
            self.sum_pv -= old;
        }
        if let Some(old) = self.vol.push(bar.volume) {
            self.sum_v -= old;
        }
        self.sum_pv += pv;
        self.sum_v += bar.volume;
        if !self.pv.is_full() {
            return None;
        }
        Some(if self.sum_v > 0.0 {
            self.sum_pv / self.sum_v
        } else {
            tp
        })
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.pv.clear();
        self.vol.clear();
        self.sum_pv = 0.0;
        self.sum_v = 0.0;
    }
}

/// Batch OBV.
///
/// # Errors
/// [`crate::Error::LengthMismatch`] for columns of different lengths.
pub fn obv(close: &[f64], volume: &[f64]) -> Result<Vec<f64>> {
    let n = check_lengths("obv", &[close.len(), volume.len()])?;
    Ok(run_single(Obv::new(), n, |i| {
        bar_at(&[], &[], &[], close, volume, i)
    }))
}

/// Batch AD.
///
/// # Errors
/// [`crate::Error::LengthMismatch`] for columns of different lengths.
pub fn ad(high: &[f64], low: &[f64], close: &[f64], volume: &[f64]) -> Result<Vec<f64>> {
    let n = check_lengths("ad", &[high.len(), low.len(), close.len(), volume.len()])?;
    Ok(run_single(Ad::new(), n, |i| {
        bar_at(&[], high, low, close, volume, i)
    }))
}

/// Batch ADOSC.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for a bad period, [`crate::Error::LengthMismatch`] for
/// columns of different lengths.
pub fn adosc(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    fastperiod: usize,
    slowperiod: usize,
) -> Result<Vec<f64>> {
    let n = check_lengths("adosc", &[high.len(), low.len(), close.len(), volume.len()])?;
    Ok(run_single(Adosc::new(fastperiod, slowperiod)?, n, |i| {
        bar_at(&[], high, low, close, volume, i)
    }))
}

/// Batch rolling VWAP.
///
/// # Errors
/// As [`adosc`].
pub fn vwap(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    period: usize,
) -> Result<Vec<f64>> {
    let n = check_lengths("vwap", &[high.len(), low.len(), close.len(), volume.len()])?;
    Ok(run_single(Vwap::new(period)?, n, |i| {
        bar_at(&[], high, low, close, volume, i)
    }))
}
