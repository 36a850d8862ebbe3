//! Momentum indicators: RSI, MACD, PPO, ROC, MOM, TRIX.

use crate::error::{check_lengths, check_period};
use crate::ma::{Ema, batch_fn};
use crate::window::RingBuffer;
use crate::{Indicator, Result, outputs, run_single};

/// Wilder's relative strength index (TA-Lib `RSI`, lookback `period`).
///
/// The first average gain/loss is the plain mean of the first `period` changes, then
/// Wilder-smoothed; `0` when gains and losses are both zero.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    inv: f64,
    decay: f64,
    seen: usize,
    prev: f64,
    gain: f64,
    loss: f64,
}

/// The running gain and loss after one change; a select rather than a branch, because the
/// sign of a price change is unpredictable (NaN still propagates into the gain, as in TA-Lib).
#[inline(always)]
fn add_change(gain: f64, loss: f64, diff: f64) -> (f64, f64) {
    let down = diff < 0.0;
    (
        gain + if down { 0.0 } else { diff },
        loss - if down { diff } else { 0.0 },
    )
}

/// One Wilder step: TA-Lib computes `(s·(p−1) + x)·(1/p)`; `s·((p−1)/p) + x·(1/p)` keeps one
/// multiply-add on the dependency chain and stays within a few ULPs of TA-Lib.
#[inline(always)]
fn smooth(gain: f64, loss: f64, diff: f64, decay: f64, inv: f64) -> (f64, f64) {
    let down = diff < 0.0;
    let up = if down { 0.0 } else { diff };
    let dn = if down { -diff } else { 0.0 };
    (gain * decay + up * inv, loss * decay + dn * inv)
}

/// `100 · gain / (gain + loss)`, `0` when both are zero.
#[inline(always)]
fn rsi_value(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if crate::is_zero(total) {
        0.0
    } else {
        100.0 * (gain / total)
    }
}

impl Rsi {
    /// An RSI over `period` (≥ 1) changes.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("rsi", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            // Reciprocal multiplies keep the divider off the dependency chain (see `smooth`).
            inv: 1.0 / period as f64,
            decay: (period - 1) as f64 / period as f64,
            seen: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        })
    }
}

impl Indicator for Rsi {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let diff = x - self.prev;
        self.prev = x;
        if self.seen > self.period {
            (self.gain, self.loss) = smooth(self.gain, self.loss, diff, self.decay, self.inv);
            return Some(rsi_value(self.gain, self.loss));
        }
        self.seen += 1;
        if self.seen == 1 {
            return None;
        }
        (self.gain, self.loss) = add_change(self.gain, self.loss, diff);
        if self.seen <= self.period {
            return None;
        }
        self.loss *= self.inv;
        self.gain *= self.inv;
        Some(rsi_value(self.gain, self.loss))
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.prev = 0.0;
        self.gain = 0.0;
        self.loss = 0.0;
    }
}

/// Batch RSI: same length as `input`, `NaN` for the first `period` values. A dedicated loop
/// with the operations of [`Rsi::update`].
///
/// # Errors
/// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
pub fn rsi(input: &[f64], period: usize) -> Result<Vec<f64>> {
    let mut out = vec![0.0; input.len()];
    rsi_into(input, period, &mut out)?;
    Ok(out)
}

/// [`rsi`] into a caller's buffer of `input.len()`.
///
/// # Errors
/// As [`rsi`], and [`crate::Error::LengthMismatch`] when `out` has another length.
pub fn rsi_into(input: &[f64], period: usize, out: &mut [f64]) -> Result<()> {
    check_period("rsi", "timeperiod", period, 1)?;
    check_lengths("rsi", &[input.len(), out.len()])?;
    let n = input.len();
    out[..period.min(n)].fill(f64::NAN);
    if n <= period {
        return Ok(());
    }
    let inv = 1.0 / period as f64;
    let decay = (period - 1) as f64 / period as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    for w in input[..=period].windows(2) {
        (gain, loss) = add_change(gain, loss, w[1] - w[0]);
    }
    loss *= inv;
    gain *= inv;
    out[period] = rsi_value(gain, loss);
    // In chunks: the smoothing chain first, then the divisions in a separate loop the compiler
    // vectorises, so the divider is not waited on once per bar.
    const CHUNK: usize = 64;
    let (mut gains, mut totals) = ([0.0; CHUNK], [0.0; CHUNK]);
    let mut prev = input[period];
    for (o, xs) in out[period + 1..]
        .chunks_mut(CHUNK)
        .zip(input[period + 1..].chunks(CHUNK))
    {
        for ((g_out, t_out), &x) in gains.iter_mut().zip(totals.iter_mut()).zip(xs) {
            let diff = x - prev;
            prev = x;
            (gain, loss) = smooth(gain, loss, diff, decay, inv);
            *g_out = gain;
            *t_out = gain + loss;
        }
        for ((o, &g), &t) in o.iter_mut().zip(&gains).zip(&totals) {
            *o = if crate::is_zero(t) {
                0.0
            } else {
                100.0 * (g / t)
            };
        }
    }
    Ok(())
}

outputs!(
    /// MACD outputs, in TA-Lib order.
    MacdOutput {
        /// Fast EMA minus slow EMA.
        macd => "macd",
        /// EMA of `macd` over the signal period.
        macdsignal => "macdsignal",
        /// `macd - macdsignal`.
        macdhist => "macdhist",
    }
);

/// Moving average convergence/divergence (TA-Lib `MACD`, lookback `slow + signal - 2`).
///
/// As in TA-Lib, the fast EMA is seeded with the SMA of the `fast` values ending where the
/// slow EMA's seed ends, not at bar `fast - 1`; the periods are swapped if `slow < fast`.
#[derive(Debug, Clone)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
}

impl Macd {
    /// A MACD with `fast`, `slow` (≥ 2) and `signal` (≥ 1) periods (TA-Lib: 12, 26, 9).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when a period is out of range.
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self> {
        check_period("macd", "fastperiod", fast, 2)?;
        check_period("macd", "slowperiod", slow, 2)?;
        check_period("macd", "signalperiod", signal, 1)?;
        let (fast, slow) = if slow < fast {
            (slow, fast)
        } else {
            (fast, slow)
        };
        Ok(Self {
            fast: Ema::with_k(fast, 2.0 / (fast as f64 + 1.0), slow - fast),
            slow: Ema::with_k(slow, 2.0 / (slow as f64 + 1.0), 0),
            signal: Ema::new(signal)?,
        })
    }
}

impl Indicator for Macd {
    type Input = f64;
    type Output = MacdOutput;

    #[inline]
    fn update(&mut self, x: f64) -> Option<MacdOutput> {
        let f = self.fast.update(x);
        let s = self.slow.update(x)?;
        let macd = f? - s;
        let sig = self.signal.update(macd)?;
        Some(MacdOutput {
            macd,
            macdsignal: sig,
            macdhist: macd - sig,
        })
    }

    fn lookback(&self) -> usize {
        self.slow.lookback() + self.signal.lookback()
    }

    fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
        self.signal.reset();
    }
}

/// Batch MACD: three columns of `input.len()`, `NaN` for the first `slow + signal - 2`.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] when a period is out of range.
pub fn macd(
    input: &[f64],
    fast: usize,
    slow: usize,
    signal: usize,
) -> Result<MacdOutput<Vec<f64>>> {
    let n = input.len();
    let mut out = MacdOutput {
        macd: vec![0.0; n],
        macdsignal: vec![0.0; n],
        macdhist: vec![0.0; n],
    };
    macd_into(
        input,
        fast,
        slow,
        signal,
        &mut out.macd,
        &mut out.macdsignal,
        &mut out.macdhist,
    )?;
    Ok(out)
}

/// [`macd`] into caller's buffers of `input.len()`. A dedicated loop with the operations of
/// [`Macd::update`].
///
/// # Errors
/// As [`macd`], and [`crate::Error::LengthMismatch`] when a buffer has another length.
pub fn macd_into(
    input: &[f64],
    fast: usize,
    slow: usize,
    signal: usize,
    out_macd: &mut [f64],
    out_signal: &mut [f64],
    out_hist: &mut [f64],
) -> Result<()> {
    Macd::new(fast, slow, signal)?;
    check_lengths(
        "macd",
        &[
            input.len(),
            out_macd.len(),
            out_signal.len(),
            out_hist.len(),
        ],
    )?;
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    let n = input.len();
    let lookback = slow - 1 + signal - 1;
    for o in [&mut *out_macd, &mut *out_signal, &mut *out_hist] {
        o[..lookback.min(n)].fill(f64::NAN);
    }
    if n <= lookback {
        return Ok(());
    }
    let (kf, ks, kg) = (
        2.0 / (fast as f64 + 1.0),
        2.0 / (slow as f64 + 1.0),
        2.0 / (signal as f64 + 1.0),
    );
    let mut f = 0.0;
    for &x in &input[slow - fast..slow] {
        f += x;
    }
    f /= fast as f64;
    let mut s = 0.0;
    for &x in &input[..slow] {
        s += x;
    }
    s /= slow as f64;
    let mut g = f - s;
    for &x in &input[slow..=lookback] {
        f = f * (1.0 - kf) + x * kf;
        s = s * (1.0 - ks) + x * ks;
        g += f - s;
    }
    g /= signal as f64;
    let m = f - s;
    out_macd[lookback] = m;
    out_signal[lookback] = g;
    out_hist[lookback] = m - g;
    let rows = out_macd[lookback + 1..]
        .iter_mut()
        .zip(&mut out_signal[lookback + 1..])
        .zip(&mut out_hist[lookback + 1..])
        .zip(&input[lookback + 1..]);
    for (((om, og), oh), &x) in rows {
        f = f * (1.0 - kf) + x * kf;
        s = s * (1.0 - ks) + x * ks;
        let m = f - s;
        g = g * (1.0 - kg) + m * kg;
        *om = m;
        *og = g;
        *oh = m - g;
    }
    Ok(())
}

/// Percentage price oscillator with EMAs, TA-Lib 0.8's default MA type
/// (TA-Lib `PPO`, lookback `max(fast, slow) - 1`): `100 · (fast − slow) / slow`, `0` if slow is 0.
///
/// Unlike MACD, both EMAs are plain TA-Lib EMAs, each seeded with the SMA of its own first
/// `period` values (checked against TA-Lib).
#[derive(Debug, Clone)]
pub struct Ppo {
    fast: Ema,
    slow: Ema,
}

impl Ppo {
    /// A PPO with `fast` and `slow` (≥ 2) EMA periods (TA-Lib: 12, 26); swapped if `slow < fast`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when a period is out of range.
    pub fn new(fast: usize, slow: usize) -> Result<Self> {
        check_period("ppo", "fastperiod", fast, 2)?;
        check_period("ppo", "slowperiod", slow, 2)?;
        let (fast, slow) = if slow < fast {
            (slow, fast)
        } else {
            (fast, slow)
        };
        Ok(Self {
            fast: Ema::new(fast)?,
            slow: Ema::new(slow)?,
        })
    }
}

impl Indicator for Ppo {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let f = self.fast.update(x);
        let s = self.slow.update(x)?;
        let f = f?;
        Some(if crate::is_zero(s) {
            0.0
        } else {
            ((f - s) / s) * 100.0
        })
    }

    fn lookback(&self) -> usize {
        self.slow.lookback()
    }

    fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
    }
}

/// Batch PPO.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] when a period is out of range.
pub fn ppo(input: &[f64], fast: usize, slow: usize) -> Result<Vec<f64>> {
    let ind = Ppo::new(fast, slow)?;
    Ok(run_single(ind, input.len(), |i| input[i]))
}

/// Rate of change in percent, `100 · (x / x[t−period] − 1)`, `0` if the old value is 0
/// (TA-Lib `ROC`, lookback `period`).
#[derive(Debug, Clone)]
pub struct Roc {
    period: usize,
    window: RingBuffer,
}

impl Roc {
    /// A ROC over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("roc", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            window: RingBuffer::new(period + 1),
        })
    }
}

impl Indicator for Roc {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        if !self.window.is_full() {
            return None;
        }
        let old = self.window.oldest();
        Some(if old != 0.0 {
            ((x / old) - 1.0) * 100.0
        } else {
            0.0
        })
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.window.clear();
    }
}

/// Momentum, `x − x[t−period]` (TA-Lib `MOM`, lookback `period`).
#[derive(Debug, Clone)]
pub struct Mom {
    period: usize,
    window: RingBuffer,
}

impl Mom {
    /// A MOM over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("mom", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            window: RingBuffer::new(period + 1),
        })
    }
}

impl Indicator for Mom {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        if !self.window.is_full() {
            return None;
        }
        Some(x - self.window.oldest())
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.window.clear();
    }
}

/// One-bar rate of change of a triple-smoothed EMA, in percent
/// (TA-Lib `TRIX`, lookback `3·(period − 1) + 1`).
#[derive(Debug, Clone)]
pub struct Trix {
    e1: Ema,
    e2: Ema,
    e3: Ema,
    prev: Option<f64>,
}

impl Trix {
    /// A TRIX over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("trix", "timeperiod", period, 1)?;
        Ok(Self {
            e1: Ema::new(period)?,
            e2: Ema::new(period)?,
            e3: Ema::new(period)?,
            prev: None,
        })
    }
}

impl Indicator for Trix {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let a = self.e1.update(x)?;
        let b = self.e2.update(a)?;
        let c = self.e3.update(b)?;
        let prev = self.prev.replace(c)?;
        Some(if prev != 0.0 {
            ((c / prev) - 1.0) * 100.0
        } else {
            0.0
        })
    }

    fn lookback(&self) -> usize {
        self.e1.lookback() * 3 + 1
    }

    fn reset(&mut self) {
        self.e1.reset();
        self.e2.reset();
        self.e3.reset();
        self.prev = None;
    }
}

batch_fn!(
    /// Batch ROC: `NaN` for the first `period` values.
    roc, Roc
);
batch_fn!(
    /// Batch MOM: `NaN` for the first `period` values.
    mom, Mom
);
batch_fn!(
    /// Batch TRIX: `NaN` for the first `3·(period − 1) + 1` values.
    trix, Trix
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rsi_all_gains_is_100() {
        let out = rsi(&[1.0, 2.0, 3.0, 4.0, 5.0], 3).unwrap();
        assert_eq!(out[3], 100.0);
        assert_eq!(out[4], 100.0);
    }

    #[test]
    fn test_macd_lookback_is_33() {
        assert_eq!(Macd::new(12, 26, 9).unwrap().lookback(), 33);
    }

    #[test]
    fn test_mom_and_roc() {
        assert_eq!(mom(&[1.0, 2.0, 4.0], 2).unwrap()[2], 3.0);
        assert_eq!(roc(&[2.0, 2.0, 3.0], 2).unwrap()[2], 50.0);
    }
}
