//! The simulated venue `sim`: a seeded synthetic market, the offline default.
//!
//! Any symbol exists on it. Its market clock runs `speed` times faster than
//! the wall clock (1 = real time, 600 = ten minutes of market per second),
//! starting at the later of the wall clock and the point a previous run
//! reached, so an accelerated market never rewinds across restarts. History
//! reaches back [`SimSettings::history_days`] before that start. Candles and
//! quotes are pure functions of (seed, symbol, time) ([`model`]), so backfill
//! and the live stream agree exactly and a crash loses nothing.

pub mod model;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tessera_core::{Clock, UnixNanos};
use tessera_model::{Bar, Instrument, InstrumentId, InstrumentKind, Interval, Symbol, Venue};
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::source::{Collector, LiveEvent};
pub use model::{SymbolModel, SymbolParams};

/// Settings of the simulated market (`[venues.sim]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimSettings {
    /// Market seconds per wall-clock second.
    pub speed: f64,
    /// Seed: the same seed gives the same market.
    pub seed: u64,
    /// Days of history before the start available to backfill.
    pub history_days: i64,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            speed: 1.0,
            seed: 42,
            history_days: 7,
        }
    }
}

/// The simulated venue's collector.
#[derive(Debug)]
pub struct SimCollector {
    venue: Venue,
    settings: SimSettings,
    wall: Arc<dyn Clock>,
    wall_start: UnixNanos,
    market_start: UnixNanos,
    models: Mutex<BTreeMap<Symbol, SymbolModel>>,
}

const MINUTE: i64 = 60_000_000_000;

impl SimCollector {
    /// A simulated venue reading real time from `wall`; its market clock starts
    /// at `resume_from` when that is later than the wall clock.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a speed that is not a positive finite number.
    pub fn new(
        settings: SimSettings,
        wall: Arc<dyn Clock>,
        resume_from: Option<UnixNanos>,
    ) -> Result<Self> {
        if !(settings.speed.is_finite() && settings.speed > 0.0) {
            return Err(Error::Unsupported {
                venue: "sim".into(),
                reason: format!("speed {} must be a positive number", settings.speed),
            });
        }
        let wall_start = wall.now();
        let market_start = resume_from.map_or(wall_start, |r| r.max(wall_start));
        Ok(Self {
            venue: Venue::new("sim").expect("valid venue"),
            settings,
            wall,
            wall_start,
            market_start,
            models: Mutex::new(BTreeMap::new()),
        })
    }

    fn with_model<T>(&self, symbol: Symbol, f: impl FnOnce(&mut SymbolModel) -> T) -> T {
        // A panic while generating leaves no half-updated invariant worth refusing.
        let mut models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
        let model = models.entry(symbol).or_insert_with(|| {
            SymbolModel::new(SymbolParams::new(
                InstrumentId::new(symbol, self.venue),
                self.settings.seed,
            ))
        });
        f(model)
    }

    fn check_interval(interval: Interval) -> Result<()> {
        if interval.is_multiple_of(&Interval::M1) {
            Ok(())
        } else {
            Err(Error::Unsupported {
                venue: "sim".into(),
                reason: format!("{interval} candles (the simulator makes 1m and multiples of it)"),
            })
        }
    }

    /// Wall-clock time until the market reaches `t`.
    fn wall_delay(&self, t: UnixNanos) -> Duration {
        let ahead = t.0.saturating_sub(self.now().0).max(0) as f64 / self.settings.speed;
        Duration::from_nanos(ahead as u64)
    }
}

impl Collector for SimCollector {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn now(&self) -> UnixNanos {
        let elapsed = self.wall.now().0.saturating_sub(self.wall_start.0) as f64;
        self.market_start
            .saturating_add((elapsed * self.settings.speed) as i64)
    }

    fn page_limit(&self) -> usize {
        1_000
    }

    async fn instrument(&self, symbol: Symbol) -> Result<Instrument> {
        let id = InstrumentId::new(symbol, self.venue);
        let mut inst = match Instrument::with_defaults(id, InstrumentKind::Crypto) {
            Ok(i) => i,
            Err(_) => {
                let mut i = Instrument::with_defaults(id, InstrumentKind::Equity)?;
                i.timezone = "UTC".into();
                i
            }
        };
        let params = self.with_model(symbol, |m| m.params().clone());
        inst.tick_size = params.tick;
        inst.lot_size = params.lot;
        inst.min_quantity = params.lot;
        inst.validate()?;
        Ok(inst)
    }

    async fn first_open_time(
        &self,
        _symbol: Symbol,
        interval: Interval,
    ) -> Result<Option<UnixNanos>> {
        Self::check_interval(interval)?;
        let day = Interval::D1.floor(self.market_start);
        Ok(Some(UnixNanos(
            day.0 - self.settings.history_days * 86_400_000_000_000,
        )))
    }

    async fn closed_bars(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: UnixNanos,
        end: UnixNanos,
        limit: usize,
    ) -> Result<Vec<Bar>> {
        Self::check_interval(interval)?;
        let now = self.now();
        let mut out = Vec::new();
        let mut t = interval.floor(start);
        if t < start {
            t = interval.next(t);
        }
        while out.len() < limit && t < end && interval.next(t) <= now {
            let close = interval.next(t);
            if interval == Interval::M1 {
                out.push(self.with_model(symbol, |m| m.bar(t)));
            } else {
                let minutes: Vec<Bar> = self.with_model(symbol, |m| {
                    (0..)
                        .map(|i| UnixNanos(t.0 + i * MINUTE))
                        .take_while(|m1| *m1 < close)
                        .map(|m1| m.bar(m1))
                        .collect()
                });
                out.extend(tessera_model::resample::resample(&minutes, interval)?);
            }
            t = close;
        }
        Ok(out)
    }

    async fn stream(
        &self,
        symbols: Vec<Symbol>,
        interval: Interval,
        tx: mpsc::Sender<LiveEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        Self::check_interval(interval)?;
        let quote_step = MINUTE / model::QUOTES_PER_MINUTE;
        let start = self.now();
        // Next quote slot and next candle close to emit.
        let mut next_quote = UnixNanos((start.0.div_euclid(quote_step) + 1) * quote_step);
        let mut next_close = interval.next(interval.floor(start));
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let now = self.now();
            while next_quote <= now {
                let minute = Interval::M1.floor(next_quote);
                let k = (next_quote.0 - minute.0) / quote_step;
                for s in &symbols {
                    let q = self.with_model(*s, |m| m.quote(minute, k));
                    if tx.send(LiveEvent::Quote(q)).await.is_err() {
                        return Ok(());
                    }
                }
                next_quote = UnixNanos(next_quote.0 + quote_step);
            }
            while next_close <= now {
                let open = interval.prev(next_close);
                for s in &symbols {
                    let bars = self.closed_bars(*s, interval, open, next_close, 1).await?;
                    for b in bars {
                        if tx.send(LiveEvent::Bar(b)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                next_close = interval.next(next_close);
            }
            let wait = self
                .wall_delay(next_quote.min(next_close))
                .clamp(Duration::from_millis(1), Duration::from_secs(1));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::SimClock;

    #[tokio::test]
    async fn test_sim_pages_only_closed_candles() {
        let clock = Arc::new(SimClock::new(
            UnixNanos::parse("2024-03-01T10:00:30Z").unwrap(),
        ));
        let sim = SimCollector::new(SimSettings::default(), clock.clone(), None).unwrap();
        let s = Symbol::new("ETHUSDT").unwrap();
        let first = sim.first_open_time(s, Interval::M1).await.unwrap().unwrap();
        assert_eq!(first, UnixNanos::parse("2024-02-23T00:00:00Z").unwrap());
        let start = UnixNanos::parse("2024-03-01T09:58:00Z").unwrap();
        let bars = sim
            .closed_bars(s, Interval::M1, start, UnixNanos::MAX, 1000)
            .await
            .unwrap();
        assert_eq!(bars.len(), 2, "09:58 and 09:59 closed; 10:00 still open");
        let h = sim
            .closed_bars(
                s,
                Interval::parse("1h").unwrap(),
                UnixNanos::parse("2024-03-01T08:00:00Z").unwrap(),
                UnixNanos::MAX,
                10,
            )
            .await
            .unwrap();
        assert_eq!(h.len(), 2);
        let minutes = sim
            .closed_bars(s, Interval::M1, h[1].open_time, UnixNanos::MAX, 60)
            .await
            .unwrap();
        assert_eq!(h[1].open, minutes[0].open);
        assert_eq!(h[1].close, minutes[59].close);
        let inst = sim.instrument(s).await.unwrap();
        assert_eq!(inst.tick_size.to_string(), "0.01");
    }
}
