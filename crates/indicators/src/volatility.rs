//! Volatility: TRANGE, ATR, NATR, BBANDS, STDDEV, VAR.

use crate::error::{check_finite, check_lengths, check_period};
use crate::window::RingBuffer;
use crate::{Indicator, Ohlcv, Result, bar_at, is_zero, is_zero_or_neg, outputs, run_single};

/// TA-Lib's true range of a bar given the previous close.
#[inline]
pub(crate) fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut greatest = high - low;
    let v = (prev_close - high).abs();
    if v > greatest {
        greatest = v;
    }
    let v = (prev_close - low).abs();
    if v > greatest {
        greatest = v;
    }
    greatest
}

/// True range, `max(high, prev close) − min(low, prev close)` (TA-Lib `TRANGE`, lookback 1).
#[derive(Debug, Clone, Default)]
pub struct TRange {
    prev_close: Option<f64>,
}

impl TRange {
    /// A true-range stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for TRange {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let yc = self.prev_close.replace(bar.close)?;
        Some(true_range(bar.high, bar.low, yc))
    }

    fn lookback(&self) -> usize {
        1
    }

    fn reset(&mut self) {
        self.prev_close = None;
    }
}

/// Wilder's average true range, seeded with the mean of the first `period` true ranges
/// (TA-Lib `ATR`, lookback `period`).
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    inv: f64,
    decay: f64,
    tr: TRange,
    count: usize,
    value: f64,
}

impl Atr {
    /// An ATR over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("atr", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            inv: 1.0 / period as f64,
            decay: (period - 1) as f64 / period as f64,
            tr: TRange::new(),
            count: 0,
            value: 0.0,
        })
    }
}

impl Indicator for Atr {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let tr = self.tr.update(bar)?;
        if self.count >= self.period {
            // TA-Lib: `(v·(p−1) + tr) / p`; `v·(1 − 1/p) + tr/p` keeps one multiply-add on the
            // dependency chain (within 1e-12 of TA-Lib on the fixtures).
            self.value = self.value * self.decay + tr * self.inv;
            return Some(self.value);
        }
        self.count += 1;
        self.value += tr;
        if self.count == self.period {
            self.value *= self.inv;
            return Some(self.value);
        }
        None
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.tr.reset();
        self.count = 0;
        self.value = 0.0;
    }
}

/// ATR as a percentage of the close, `0` for a zero close (TA-Lib `NATR`, lookback `period`).
#[derive(Debug, Clone)]
pub struct Natr {
    atr: Atr,
}

impl Natr {
    /// An NATR over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("natr", "timeperiod", period, 1)?;
        Ok(Self {
            atr: Atr::new(period)?,
        })
    }
}

impl Indicator for Natr {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let atr = self.atr.update(bar)?;
        Some(if is_zero(bar.close) {
            0.0
        } else {
            (atr / bar.close) * 100.0
        })
    }

    fn lookback(&self) -> usize {
        self.atr.lookback()
    }

    fn reset(&mut self) {
        self.atr.reset();
    }
}

/// Running sums of `x` and `x²` over a window in TA-Lib's order: add the newest, read,
/// subtract the oldest: BBANDS's arithmetic, bit for bit.
#[derive(Debug, Clone)]
pub(crate) struct MomentSums {
    p: f64,
    window: RingBuffer,
    s1: f64,
    s2: f64,
}

impl MomentSums {
    pub(crate) fn new(period: usize) -> Self {
        Self {
            p: period as f64,
            window: RingBuffer::new(period),
            s1: 0.0,
            s2: 0.0,
        }
    }

    /// Adds `x`; once the window is full returns `(mean, mean of squares)` over it.
    #[inline]
    pub(crate) fn update(&mut self, x: f64) -> Option<(f64, f64)> {
        self.window.push(x);
        let sq = x * x;
        if !self.window.is_full() {
            self.s1 += x;
            self.s2 += sq;
            return None;
        }
        let t1 = self.s1 + x;
        let t2 = self.s2 + sq;
        let old = self.window.oldest();
        self.s1 = t1 - old;
        self.s2 = t2 - old * old;
        Some((t1 / self.p, t2 / self.p))
    }

    pub(crate) fn reset(&mut self) {
        self.window.clear();
        self.s1 = 0.0;
        self.s2 = 0.0;
    }
}

/// Mean and population variance over a window, accurate where `E[x²] − E[x]²` is not.
///
/// TA-Lib 0.8 computes VAR and STDDEV accurately (to ~1e-12 of the exact two-pass value on
/// BTC prices, where the naive running sums lose 1e-7), so these sums are taken around an
/// anchor near the window mean. The anchor and the sums are refreshed from the window every
/// `period` bars (amortised O(1)), which bounds the rounding drift of the running sums.
#[derive(Debug, Clone)]
pub(crate) struct CenteredMoments {
    period: usize,
    p: f64,
    window: RingBuffer,
    anchor: f64,
    s1: f64,
    s2: f64,
    since_refresh: usize,
}

impl CenteredMoments {
    pub(crate) fn new(period: usize) -> Self {
        Self {
            period,
            p: period as f64,
            window: RingBuffer::new(period),
            anchor: 0.0,
            s1: 0.0,
            s2: 0.0,
            since_refresh: 0,
        }
    }

    fn refresh(&mut self) {
        let mut sum = 0.0;
        for ago in (0..self.period).rev() {
            sum += self.window.back(ago);
        }
        self.anchor = sum / self.p;
        self.s1 = 0.0;
        self.s2 = 0.0;
        for ago in (0..self.period).rev() {
            let d = self.window.back(ago) - self.anchor;
            self.s1 += d;
            self.s2 += d * d;
        }
        self.since_refresh = 0;
    }

    /// Adds `x`; once the window is full returns `(mean, population variance)` over it.
    #[inline]
    pub(crate) fn update(&mut self, x: f64) -> Option<(f64, f64)> {
        let evicted = self.window.push(x);
        if !self.window.is_full() {
            return None;
        }
        match evicted {
            Some(old) if self.since_refresh + 1 < self.period => {
                let d = x - self.anchor;
                let e = old - self.anchor;
                self.s1 += d - e;
                self.s2 += d * d - e * e;
                self.since_refresh += 1;
            }
            _ => self.refresh(),
        }
        let m1 = self.s1 / self.p;
        let var = (self.s2 / self.p - m1 * m1).max(0.0);
        Some((self.anchor + m1, var))
    }

    pub(crate) fn reset(&mut self) {
        self.window.clear();
        self.s1 = 0.0;
        self.s2 = 0.0;
        self.since_refresh = 0;
    }
}

outputs!(
    /// Bollinger band outputs, in TA-Lib order.
    BbandsOutput {
        /// `middle + nbdevup · σ`.
        upperband => "upperband",
        /// SMA over the period.
        middleband => "middleband",
        /// `middle − nbdevdn · σ`.
        lowerband => "lowerband",
    }
);

/// Bollinger bands around an SMA with the population standard deviation
/// (TA-Lib `BBANDS` with its default SMA, lookback `period − 1`).
#[derive(Debug, Clone)]
pub struct Bbands {
    period: usize,
    up: f64,
    dn: f64,
    sums: MomentSums,
}

impl Bbands {
    /// Bands over `period` (≥ 1) bars, `nbdevup`/`nbdevdn` deviations away (TA-Lib 0.8: 20, 2, 2).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is out of range or a width is not finite.
    pub fn new(period: usize, nbdevup: f64, nbdevdn: f64) -> Result<Self> {
        check_period("bbands", "timeperiod", period, 1)?;
        check_finite("bbands", "nbdevup", nbdevup)?;
        check_finite("bbands", "nbdevdn", nbdevdn)?;
        Ok(Self {
            period,
            up: nbdevup,
            dn: nbdevdn,
            sums: MomentSums::new(period),
        })
    }
}

impl Indicator for Bbands {
    type Input = f64;
    type Output = BbandsOutput;

    #[inline]
    fn update(&mut self, x: f64) -> Option<BbandsOutput> {
        let (mid, mean2) = self.sums.update(x)?;
        let var = mean2 - mid * mid;
        let sd = if is_zero_or_neg(var) { 0.0 } else { var.sqrt() };
        Some(BbandsOutput {
            upperband: mid + sd * self.up,
            middleband: mid,
            lowerband: mid - sd * self.dn,
        })
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.sums.reset();
    }
}

/// Batch BBANDS.
///
/// # Errors
/// As [`Bbands::new`].
pub fn bbands(
    input: &[f64],
    period: usize,
    nbdevup: f64,
    nbdevdn: f64,
) -> Result<BbandsOutput<Vec<f64>>> {
    let n = input.len();
    let mut out = BbandsOutput {
        upperband: vec![0.0; n],
        middleband: vec![0.0; n],
        lowerband: vec![0.0; n],
    };
    bbands_into(
        input,
        period,
        nbdevup,
        nbdevdn,
        &mut out.upperband,
        &mut out.middleband,
        &mut out.lowerband,
    )?;
    Ok(out)
}

/// [`bbands`] into caller's buffers of `input.len()`: a dedicated loop with the operations of
/// [`Bbands::update`].
///
/// # Errors
/// As [`Bbands::new`], and [`crate::Error::LengthMismatch`] when a buffer has another length.
pub fn bbands_into(
    input: &[f64],
    period: usize,
    nbdevup: f64,
    nbdevdn: f64,
    upper: &mut [f64],
    middle: &mut [f64],
    lower: &mut [f64],
) -> Result<()> {
    Bbands::new(period, nbdevup, nbdevdn)?;
    check_lengths(
        "bbands",
        &[input.len(), upper.len(), middle.len(), lower.len()],
    )?;
    let n = input.len();
    for o in [&mut *upper, &mut *middle, &mut *lower] {
        o[..(period - 1).min(n)].fill(f64::NAN);
    }
    if n < period {
        return Ok(());
    }
    let p = period as f64;
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in &input[..period - 1] {
        s1 += x;
        s2 += x * x;
    }
    let rows = upper[period - 1..]
        .iter_mut()
        .zip(&mut middle[period - 1..])
        .zip(&mut lower[period - 1..])
        .zip(input[period - 1..].iter().zip(input));
    for (((up, mid_out), lo), (&x, &old)) in rows {
        let t1 = s1 + x;
        let t2 = s2 + x * x;
        s1 = t1 - old;
        s2 = t2 - old * old;
        let mid = t1 / p;
        let var = t2 / p - mid * mid;
        let sd = if is_zero_or_neg(var) { 0.0 } else { var.sqrt() };
        *up = mid + sd * nbdevup;
        *mid_out = mid;
        *lo = mid - sd * nbdevdn;
    }
    Ok(())
}

/// Population variance over `period` values; TA-Lib's `nbdev` argument is accepted and, as in
/// TA-Lib, ignored (TA-Lib `VAR`, lookback `period − 1`).
#[derive(Debug, Clone)]
pub struct Var {
    period: usize,
    sums: CenteredMoments,
}

impl Var {
    /// A variance over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("var", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            sums: CenteredMoments::new(period),
        })
    }
}

impl Indicator for Var {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let (_, var) = self.sums.update(x)?;
        Some(var)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.sums.reset();
    }
}

/// Population standard deviation times `nbdev` (TA-Lib `STDDEV`, lookback `period − 1`).
#[derive(Debug, Clone)]
pub struct StdDev {
    var: Var,
    nbdev: f64,
}

impl StdDev {
    /// A standard deviation over `period` (≥ 1) values scaled by `nbdev` (TA-Lib: 5, 1).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is out of range or `nbdev` not finite.
    pub fn new(period: usize, nbdev: f64) -> Result<Self> {
        check_period("stddev", "timeperiod", period, 1)?;
        check_finite("stddev", "nbdev", nbdev)?;
        Ok(Self {
            var: Var::new(period)?,
            nbdev,
        })
    }
}

impl Indicator for StdDev {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let v = self.var.update(x)?;
        Some(v.sqrt() * self.nbdev)
    }

    fn lookback(&self) -> usize {
        self.var.lookback()
    }

    fn reset(&mut self) {
        self.var.reset();
    }
}

/// Batch VAR (`nbdev` ignored, as in TA-Lib).
///
/// # Errors
/// As [`Var::new`].
pub fn var(input: &[f64], period: usize) -> Result<Vec<f64>> {
    Ok(run_single(Var::new(period)?, input.len(), |i| input[i]))
}

/// Batch STDDEV.
///
/// # Errors
/// As [`StdDev::new`].
pub fn stddev(input: &[f64], period: usize, nbdev: f64) -> Result<Vec<f64>> {
    Ok(run_single(StdDev::new(period, nbdev)?, input.len(), |i| {
        input[i]
    }))
}

/// Batch TRANGE.
///
/// # Errors
/// [`crate::Error::LengthMismatch`] for columns of different lengths.
pub fn trange(high: &[f64], low: &[f64], close: &[f64]) -> Result<Vec<f64>> {
    let n = check_lengths("trange", &[high.len(), low.len(), close.len()])?;
    Ok(run_single(TRange::new(), n, |i| {
        bar_at(&[], high, low, close, &[], i)
    }))
}

/// Batch ATR.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for a bad period, [`crate::Error::LengthMismatch`] for
/// columns of different lengths.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>> {
    let mut out = vec![0.0; close.len()];
    atr_into(high, low, close, period, &mut out)?;
    Ok(out)
}

/// [`atr`] into a caller's buffer of `close.len()`: a dedicated loop with the operations of
/// [`Atr::update`].
///
/// # Errors
/// As [`atr`].
pub fn atr_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
    out: &mut [f64],
) -> Result<()> {
    let n = check_lengths("atr", &[high.len(), low.len(), close.len(), out.len()])?;
    check_period("atr", "timeperiod", period, 1)?;
    out[..period.min(n)].fill(f64::NAN);
    if n <= period {
        return Ok(());
    }
    let inv = 1.0 / period as f64;
    let decay = (period - 1) as f64 / period as f64;
    let mut v = 0.0;
    for i in 1..=period {
        v += true_range(high[i], low[i], close[i - 1]);
    }
    v *= inv;
    out[period] = v;
    let rest = high[period + 1..]
        .iter()
        .zip(&low[period + 1..])
        .zip(&close[period..n - 1]);
    for (o, ((&h, &l), &yc)) in out[period + 1..].iter_mut().zip(rest) {
        v = v * decay + true_range(h, l, yc) * inv;
        *o = v;
    }
    Ok(())
}

/// Batch NATR.
///
/// # Errors
/// As [`atr`].
pub fn natr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>> {
    let n = check_lengths("natr", &[high.len(), low.len(), close.len()])?;
    Ok(run_single(Natr::new(period)?, n, |i| {
        bar_at(&[], high, low, close, &[], i)
    }))
}
