//! Top-of-book storage policy: one snapshot per symbol per minute, or every update; batched writes.

use std::collections::BTreeMap;

use tessera_core::UnixNanos;
use tessera_model::{InstrumentId, Interval, Quote};

/// Which quotes are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QuoteMode {
    /// The last quote of each minute per symbol (the default: small and enough for bar-level work).
    #[default]
    Minute,
    /// Every update (large; for microstructure research).
    Every,
    /// None.
    Off,
}

impl QuoteMode {
    /// Parse `minute`, `every` or `off`.
    ///
    /// # Errors
    /// A message listing the accepted values.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "minute" => Ok(Self::Minute),
            "every" => Ok(Self::Every),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "unknown quote mode {other:?}; expected minute, every or off"
            )),
        }
    }
}

/// Collects quotes per the [`QuoteMode`] and hands out batches to write.
///
/// In minute mode it holds each symbol's newest quote of the current minute;
/// the held quote is released when a quote of a later minute arrives, when the
/// clock passes the minute's end ([`QuoteSampler::release_due`]) or on shutdown.
#[derive(Debug, Default)]
pub struct QuoteSampler {
    mode: QuoteMode,
    held: BTreeMap<InstrumentId, Quote>,
    ready: Vec<Quote>,
}

impl QuoteSampler {
    /// A sampler for `mode`.
    #[must_use]
    pub fn new(mode: QuoteMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// Take one update.
    pub fn push(&mut self, q: Quote) {
        match self.mode {
            QuoteMode::Off => {}
            QuoteMode::Every => self.ready.push(q),
            QuoteMode::Minute => {
                let minute = Interval::M1.floor(q.ts_event);
                match self.held.get(&q.instrument) {
                    Some(h) if Interval::M1.floor(h.ts_event) < minute => {
                        self.ready.push(*h);
                        self.held.insert(q.instrument, q);
                    }
                    Some(h) if h.ts_event > q.ts_event => {}
                    _ => {
                        self.held.insert(q.instrument, q);
                    }
                }
            }
        }
    }

    /// Release held quotes whose minute has ended by `now`.
    pub fn release_due(&mut self, now: UnixNanos) {
        let open_minute = Interval::M1.floor(now);
        let due: Vec<InstrumentId> = self
            .held
            .iter()
            .filter(|(_, q)| Interval::M1.floor(q.ts_event) < open_minute)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(q) = self.held.remove(&id) {
                self.ready.push(q);
            }
        }
    }

    /// Release everything (shutdown).
    pub fn release_all(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.ready.extend(held.into_values());
    }

    /// Quotes ready to be written, oldest first.
    pub fn take_ready(&mut self) -> Vec<Quote> {
        std::mem::take(&mut self.ready)
    }

    /// How many quotes are ready.
    #[must_use]
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(sym: &str, secs: i64, bid: &str) -> Quote {
        Quote {
            instrument: InstrumentId::parse(sym, "binance").unwrap(),
            ts_event: UnixNanos(secs * 1_000_000_000),
            bid_price: bid.parse().unwrap(),
            bid_size: "1".parse().unwrap(),
            ask_price: "100".parse().unwrap(),
            ask_size: "1".parse().unwrap(),
        }
    }

    #[test]
    fn test_minute_mode_keeps_last_quote_of_each_minute() {
        let mut s = QuoteSampler::new(QuoteMode::Minute);
        s.push(q("A", 60, "1"));
        s.push(q("A", 90, "2"));
        s.push(q("B", 70, "3"));
        s.push(q("A", 125, "4"));
        let r = s.take_ready();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].bid_price.to_string(), "2");
        s.release_due(UnixNanos(180 * 1_000_000_000));
        let r = s.take_ready();
        assert_eq!(r.len(), 2, "{r:?}");
        let mut e = QuoteSampler::new(QuoteMode::Every);
        e.push(q("A", 60, "1"));
        e.push(q("A", 61, "1"));
        assert_eq!(e.ready_len(), 2);
    }
}
