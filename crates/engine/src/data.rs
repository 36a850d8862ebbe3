//! Market data for the engine: the [`DataSource`] seam and columnar bar series.
//!
//! A [`BarSeries`] keeps each column as integer mantissas with one scale per
//! series (48 bytes a bar instead of ~150 for a `Vec<Bar>`), so a million
//! one-minute bars take under 50 MB and exact [`Bar`]s are rebuilt on the
//! fly without arithmetic. [`SeriesSource`] replays several series merged by
//! bar close time.

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{Bar, Instrument, Interval, Price, Quantity, Quote};
use tessera_strategy::{BarHistory, BarValues};

use crate::error::{Error, Result};

/// One market event as a message, for feeds that hand events to a live
/// [`DataSource`] over a channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MarketEvent {
    /// A closed bar.
    Bar {
        /// Index of the instrument in [`DataSource::instruments`].
        instrument: usize,
        /// The bar (exact).
        bar: Bar,
        /// Its values as `f64`, for indicators.
        values: BarValues,
    },
    /// A top-of-book quote.
    Quote {
        /// Index of the instrument.
        instrument: usize,
        /// The quote.
        quote: Quote,
    },
}

impl MarketEvent {
    /// When the event becomes known: a bar's close time, a quote's event time.
    #[must_use]
    pub fn time(&self) -> UnixNanos {
        match self {
            Self::Bar { bar, .. } => bar.close_time(),
            Self::Quote { quote, .. } => quote.ts_event,
        }
    }
}

/// Which event a [`DataSource`] advanced to; the payload stays in the source
/// ([`DataSource::bar`], [`DataSource::quote`]) so nothing large is moved per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A bar of this instrument (index into [`DataSource::instruments`]) closed.
    Bar(usize),
    /// A quote of this instrument arrived.
    Quote(usize),
}

/// What [`DataSource::advance_until`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// An event; read it through the source.
    Event(EventKind),
    /// Nothing arrived before the deadline (live sources only): timers may fire.
    Idle,
    /// The source is exhausted (end of history, or shutdown).
    End,
}

/// Where market events come from: history (a backtest) or live streams.
///
/// The engine advances the source and then borrows the event's bar or quote
/// from it: a historical source builds each exact [`Bar`] once, in place,
/// and strategies read it by reference.
pub trait DataSource {
    /// The instruments delivered; events refer to them by index.
    fn instruments(&self) -> &[Instrument];
    /// Move to the next event in time order, `None` at the end.
    fn advance(&mut self) -> Option<EventKind>;
    /// As [`DataSource::advance`], but a live source gives up at `deadline`
    /// (wall clock) with [`Next::Idle`] so the engine can fire timers while
    /// the market is quiet. Historical sources never idle.
    fn advance_until(&mut self, _deadline: UnixNanos) -> Next {
        self.advance().map_or(Next::End, Next::Event)
    }
    /// The last bar delivered for `instrument`, if any.
    fn bar(&self, instrument: usize) -> Option<&Bar>;
    /// That bar's values as `f64`, for indicators.
    fn values(&self, instrument: usize) -> BarValues;
    /// The last quote delivered for `instrument`, if any.
    fn quote(&self, instrument: usize) -> Option<&Quote>;
    /// Bars of `instrument` delivered so far.
    fn history(&self, instrument: usize) -> &dyn BarHistory;

    /// How many more events are expected, if known (lets the engine size its curves once).
    fn remaining_hint(&self) -> usize {
        0
    }

    /// The bars still to come, when they are known ahead and are the only events left (a
    /// replay of one series): lets the engine fast-forward over bars on which nothing can
    /// happen. Live sources never know them.
    fn upcoming(&self) -> Option<Upcoming<'_>> {
        None
    }

    /// Pass over the next `n` bars of [`DataSource::upcoming`] as if advanced to each in turn:
    /// the last of them becomes the current bar.
    fn skip(&mut self, _n: usize) {}
}

/// Bars a source will deliver next, in order: `series` from index `next` on.
#[derive(Clone, Copy, Debug)]
pub struct Upcoming<'a> {
    /// Index of their instrument in [`DataSource::instruments`].
    pub instrument: usize,
    /// The series they come from.
    pub series: &'a BarSeries,
    /// Index in `series` of the next bar.
    pub next: usize,
}

/// Bars of one instrument as integer columns with a common scale.
#[derive(Clone, Debug, PartialEq)]
pub struct BarSeries {
    /// The instrument.
    pub instrument: Instrument,
    /// Bar length.
    pub interval: Interval,
    /// Decimals of the price mantissas.
    pub price_scale: u32,
    /// Decimals of the volume mantissas.
    pub volume_scale: u32,
    /// Open (label) time of each bar, nanoseconds since the epoch; strictly increasing.
    pub open_time: Vec<i64>,
    /// Open price mantissas.
    pub open: Vec<i64>,
    /// High price mantissas.
    pub high: Vec<i64>,
    /// Low price mantissas.
    pub low: Vec<i64>,
    /// Close price mantissas.
    pub close: Vec<i64>,
    /// Volume mantissas.
    pub volume: Vec<i64>,
}

impl BarSeries {
    /// Columns from exact bars (all of `instrument`, ascending), at the largest scale among them.
    ///
    /// # Errors
    /// [`Error::Data`] for an empty list, another instrument, or a value that overflows 64 bits at the common scale.
    pub fn from_bars(instrument: Instrument, bars: &[Bar]) -> Result<Self> {
        let first = bars
            .first()
            .ok_or_else(|| Error::Data(format!("no bars for {}", instrument.id)))?;
        let interval = first.interval;
        let pscale = bars
            .iter()
            .map(|b| {
                b.open
                    .scale()
                    .max(b.high.scale())
                    .max(b.low.scale())
                    .max(b.close.scale())
            })
            .max()
            .unwrap_or(0);
        let vscale = bars.iter().map(|b| b.volume.scale()).max().unwrap_or(0);
        let mant = |d: Decimal, scale: u32| -> Result<i64> {
            let mut d = d;
            d.rescale(scale);
            i64::try_from(d.mantissa())
                .map_err(|_| Error::Data(format!("{d} does not fit 64 bits at scale {scale}")))
        };
        let mut s = Self {
            instrument,
            interval,
            price_scale: pscale,
            volume_scale: vscale,
            open_time: Vec::with_capacity(bars.len()),
            open: Vec::with_capacity(bars.len()),
            high: Vec::with_capacity(bars.len()),
            low: Vec::with_capacity(bars.len()),
            close: Vec::with_capacity(bars.len()),
            volume: Vec::with_capacity(bars.len()),
        };
        for b in bars {
            if b.instrument != s.instrument.id {
                return Err(Error::Data(format!(
                    "bar of {} in a series of {}",
                    b.instrument, s.instrument.id
                )));
            }
            s.open_time.push(b.open_time.0);
            s.open.push(mant(b.open.as_decimal(), pscale)?);
            s.high.push(mant(b.high.as_decimal(), pscale)?);
            s.low.push(mant(b.low.as_decimal(), pscale)?);
            s.close.push(mant(b.close.as_decimal(), pscale)?);
            s.volume.push(mant(b.volume.as_decimal(), vscale)?);
        }
        s.validate()?;
        Ok(s)
    }

    /// Number of bars.
    #[must_use]
    pub fn len(&self) -> usize {
        self.open_time.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.open_time.is_empty()
    }

    /// Check column lengths, ordering, scales and OHLC invariants.
    ///
    /// # Errors
    /// [`Error::Data`] naming the first offending bar.
    pub fn validate(&self) -> Result<()> {
        let n = self.len();
        for (name, col) in [
            ("open", &self.open),
            ("high", &self.high),
            ("low", &self.low),
            ("close", &self.close),
            ("volume", &self.volume),
        ] {
            if col.len() != n {
                return Err(Error::Data(format!(
                    "{}: column {name} has {} values for {n} bars",
                    self.instrument.id,
                    col.len()
                )));
            }
        }
        if self.price_scale > tessera_model::numbers::MAX_SCALE
            || self.volume_scale > tessera_model::numbers::MAX_SCALE
        {
            return Err(Error::Data(format!(
                "{}: scale above {}",
                self.instrument.id,
                tessera_model::numbers::MAX_SCALE
            )));
        }
        for i in 0..n {
            if i > 0 && self.open_time[i] <= self.open_time[i - 1] {
                return Err(Error::Data(format!(
                    "{}: bar {i} at {} is not after the previous one",
                    self.instrument.id,
                    UnixNanos(self.open_time[i])
                )));
            }
            let (o, h, l, c) = (self.open[i], self.high[i], self.low[i], self.close[i]);
            if h < o.max(c) || l > o.min(c) {
                return Err(Error::Data(format!(
                    "{}: bar {i} at {} breaks low ≤ open, close ≤ high",
                    self.instrument.id,
                    UnixNanos(self.open_time[i])
                )));
            }
        }
        Ok(())
    }

    /// `m × 10^−scale`, built from its parts in place (`Decimal::new` is an
    /// out-of-line call with a range check, five times per bar on the hot path).
    ///
    /// The scale was validated (≤ `MAX_SCALE`); clamping it again lets the compiler drop
    /// the range checks of `from_parts` and `Price::new` from the loop.
    #[inline]
    fn dec(m: i64, scale: u32) -> Decimal {
        let a = m.unsigned_abs();
        let scale = scale.min(tessera_model::numbers::MAX_SCALE);
        Decimal::from_parts(a as u32, (a >> 32) as u32, 0, m < 0, scale)
    }

    #[inline]
    fn price(&self, m: i64) -> Price {
        // Scale was validated ≤ MAX_SCALE, so this cannot fail; fall back to zero rather than panic.
        Price::new(Self::dec(m, self.price_scale)).unwrap_or_default()
    }

    /// Bar `i` as an exact [`Bar`].
    ///
    /// # Panics
    /// When `i ≥ len()`.
    #[must_use]
    #[inline]
    pub fn bar(&self, i: usize) -> Bar {
        self.bar_and_values(i).0
    }

    /// Bar `i` exact and as `f64` values, from one read of its mantissas.
    ///
    /// # Panics
    /// When `i ≥ len()`.
    #[must_use]
    #[inline]
    pub fn bar_and_values(&self, i: usize) -> (Bar, BarValues) {
        let (t, o, h, l, c, v) = (
            self.open_time[i],
            self.open[i],
            self.high[i],
            self.low[i],
            self.close[i],
            self.volume[i],
        );
        let p = Self::pow10(self.price_scale);
        let bar = Bar {
            instrument: self.instrument.id,
            interval: self.interval,
            open_time: UnixNanos(t),
            open: self.price(o),
            high: self.price(h),
            low: self.price(l),
            close: self.price(c),
            volume: Quantity::new(Self::dec(v, self.volume_scale)).unwrap_or_default(),
            trade_count: None,
            quote_volume: None,
        };
        let values = BarValues {
            open: o as f64 / p,
            high: h as f64 / p,
            low: l as f64 / p,
            close: c as f64 / p,
            volume: v as f64 / Self::pow10(self.volume_scale),
        };
        (bar, values)
    }

    /// `10^scale` as `f64`, exact for every scale up to [`tessera_model::numbers::MAX_SCALE`]
    /// (a table, not `powi`, which costs a call per bar on the hot path).
    fn pow10(scale: u32) -> f64 {
        const P: [f64; 17] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16,
        ];
        P.get(scale as usize)
            .copied()
            .unwrap_or_else(|| 10f64.powi(scale as i32))
    }

    /// Bar `i` as `f64` values; `mantissa / 10^scale` is the correctly rounded value of the decimal.
    ///
    /// # Panics
    /// When `i ≥ len()`.
    #[must_use]
    pub fn values(&self, i: usize) -> BarValues {
        let p = Self::pow10(self.price_scale);
        BarValues {
            open: self.open[i] as f64 / p,
            high: self.high[i] as f64 / p,
            low: self.low[i] as f64 / p,
            close: self.close[i] as f64 / p,
            volume: self.volume[i] as f64 / Self::pow10(self.volume_scale),
        }
    }

    /// Closes of bars `range` as `f64` (as [`BarSeries::values`] gives each).
    ///
    /// # Panics
    /// When the range reaches past the series.
    pub fn closes_f64_in(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl ExactSizeIterator<Item = f64> + '_ {
        let p = Self::pow10(self.price_scale);
        self.close[range].iter().map(move |&m| m as f64 / p)
    }

    /// All closes as `f64`.
    #[must_use]
    pub fn closes_f64(&self) -> Vec<f64> {
        let p = Self::pow10(self.price_scale);
        self.close.iter().map(|&m| m as f64 / p).collect()
    }

    /// All labels.
    #[must_use]
    pub fn timestamps(&self) -> Vec<UnixNanos> {
        self.open_time.iter().map(|&t| UnixNanos(t)).collect()
    }

    /// Bars `[from, to)` as a new series (for walk-forward windows).
    #[must_use]
    pub fn slice(&self, from: usize, to: usize) -> Self {
        let to = to.min(self.len());
        let from = from.min(to);
        Self {
            instrument: self.instrument.clone(),
            interval: self.interval,
            price_scale: self.price_scale,
            volume_scale: self.volume_scale,
            open_time: self.open_time[from..to].to_vec(),
            open: self.open[from..to].to_vec(),
            high: self.high[from..to].to_vec(),
            low: self.low[from..to].to_vec(),
            close: self.close[from..to].to_vec(),
            volume: self.volume[from..to].to_vec(),
        }
    }

    fn close_time(&self, i: usize) -> i64 {
        match self.interval.duration_nanos() {
            Some(d) => self.open_time[i] + d,
            None => self.interval.next(UnixNanos(self.open_time[i])).0,
        }
    }
}

/// The first `len` bars of a series, as a strategy's history.
#[derive(Clone, Copy, Debug)]
pub struct SeriesHistory<'a> {
    series: &'a BarSeries,
    len: usize,
}

impl BarHistory for SeriesHistory<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn bar(&self, ago: usize) -> Option<Bar> {
        (ago < self.len).then(|| self.series.bar(self.len - 1 - ago))
    }
}

/// Replays bar series merged by close time; ties go to the series listed first.
#[derive(Debug)]
pub struct SeriesSource<'a> {
    series: &'a [BarSeries],
    instruments: Vec<Instrument>,
    cursor: Vec<usize>,
    histories: Vec<SeriesHistory<'a>>,
    /// The current bar of each series, rebuilt in place on each event.
    current: Vec<Option<Bar>>,
    values: Vec<BarValues>,
}

impl<'a> SeriesSource<'a> {
    /// A source over `series` (each validated by the caller or with [`BarSeries::validate`]).
    ///
    /// # Errors
    /// [`Error::Data`] when two series are of the same instrument.
    pub fn new(series: &'a [BarSeries]) -> Result<Self> {
        let instruments: Vec<Instrument> = series.iter().map(|s| s.instrument.clone()).collect();
        for (i, a) in instruments.iter().enumerate() {
            if instruments[..i].iter().any(|b| b.id == a.id) {
                return Err(Error::Data(format!("instrument {} given twice", a.id)));
            }
        }
        // Bars are rebuilt from mantissas without a per-value check: check the scales once.
        let max = tessera_model::numbers::MAX_SCALE;
        if let Some(s) = series
            .iter()
            .find(|s| s.price_scale > max || s.volume_scale > max)
        {
            return Err(Error::Data(format!(
                "{}: scale above {max}",
                s.instrument.id
            )));
        }
        Ok(Self {
            series,
            instruments,
            cursor: vec![0; series.len()],
            histories: series
                .iter()
                .map(|s| SeriesHistory { series: s, len: 0 })
                .collect(),
            current: vec![None; series.len()],
            values: vec![BarValues::default(); series.len()],
        })
    }
}

impl SeriesSource<'_> {
    /// Move series `k` on by `n` bars and make the last of them current.
    #[inline]
    fn deliver(&mut self, k: usize, n: usize) {
        let i = self.cursor[k] + n - 1;
        self.cursor[k] += n;
        self.histories[k].len = i + 1;
        let (bar, values) = self.series[k].bar_and_values(i);
        self.current[k] = Some(bar);
        self.values[k] = values;
    }
}

impl DataSource for SeriesSource<'_> {
    fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    #[inline]
    fn advance(&mut self) -> Option<EventKind> {
        let k = if self.series.len() == 1 {
            (self.cursor[0] < self.series[0].len()).then_some(0)?
        } else {
            let mut best: Option<(i64, usize)> = None;
            for (k, s) in self.series.iter().enumerate() {
                let c = self.cursor[k];
                if c < s.len() {
                    let t = s.close_time(c);
                    if best.is_none_or(|(bt, _)| t < bt) {
                        best = Some((t, k));
                    }
                }
            }
            best?.1
        };
        self.deliver(k, 1);
        Some(EventKind::Bar(k))
    }

    #[inline]
    fn bar(&self, instrument: usize) -> Option<&Bar> {
        self.current.get(instrument)?.as_ref()
    }

    #[inline]
    fn values(&self, instrument: usize) -> BarValues {
        self.values.get(instrument).copied().unwrap_or_default()
    }

    fn quote(&self, _instrument: usize) -> Option<&Quote> {
        None
    }

    fn history(&self, instrument: usize) -> &dyn BarHistory {
        &self.histories[instrument]
    }

    fn remaining_hint(&self) -> usize {
        self.series
            .iter()
            .zip(&self.cursor)
            .map(|(s, &c)| s.len().saturating_sub(c))
            .sum()
    }

    /// Known for one series only: with several, bars of the others interleave.
    fn upcoming(&self) -> Option<Upcoming<'_>> {
        match self.series {
            [series] => Some(Upcoming {
                instrument: 0,
                series,
                next: self.cursor[0],
            }),
            _ => None,
        }
    }

    fn skip(&mut self, n: usize) {
        if let [series] = self.series {
            let n = n.min(series.len() - self.cursor[0]);
            if n > 0 {
                self.deliver(0, n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_model::{InstrumentId, InstrumentKind};

    #[test]
    fn test_from_bars_roundtrip_and_source() {
        let inst = Instrument::with_defaults(
            InstrumentId::parse("X", "v").unwrap(),
            InstrumentKind::Equity,
        )
        .unwrap();
        let mk = |t: i64, c: &str| Bar {
            instrument: inst.id,
            interval: Interval::D1,
            open_time: UnixNanos(t * 86_400_000_000_000),
            open: Price::parse("10").unwrap(),
            high: Price::parse("11.25").unwrap(),
            low: Price::parse("9.5").unwrap(),
            close: Price::parse(c).unwrap(),
            volume: Quantity::parse("3.5").unwrap(),
            trade_count: None,
            quote_volume: None,
        };
        let bars = vec![mk(0, "10.5"), mk(1, "11")];
        let s = BarSeries::from_bars(inst.clone(), &bars).unwrap();
        assert_eq!(s.price_scale, 2);
        assert_eq!(s.bar(1).close, Price::parse("11").unwrap());
        assert_eq!(s.values(0).close, 10.5);
        let series = [s];
        let mut src = SeriesSource::new(&series).unwrap();
        assert_eq!(src.advance(), Some(EventKind::Bar(0)));
        let bar = *src.bar(0).unwrap();
        assert_eq!(bar.close, Price::parse("10.5").unwrap());
        assert_eq!(src.values(0).close, 10.5);
        assert_eq!(src.history(0).len(), 1);
        assert_eq!(src.history(0).bar(0).unwrap().close, bar.close);
        assert!(src.advance().is_some());
        assert!(src.advance().is_none());
        assert!(BarSeries::from_bars(inst, &[]).is_err());
    }
}
