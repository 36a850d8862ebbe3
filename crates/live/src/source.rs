//! [`LiveSource`]: market events from live streams, for the engine.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use tessera_core::{Clock, SystemClock, UnixNanos};
use tessera_engine::{DataSource, EventKind, MarketEvent, Next};
use tessera_model::{Bar, Instrument, Quote};
use tessera_strategy::{BarHistory, BarValues};

/// Closed bars of one instrument seen so far, newest last.
#[derive(Clone, Debug, Default)]
struct History {
    bars: Vec<Bar>,
}

impl BarHistory for History {
    fn len(&self) -> usize {
        self.bars.len()
    }

    fn bar(&self, ago: usize) -> Option<Bar> {
        self.bars.len().checked_sub(ago + 1).map(|i| self.bars[i])
    }
}

/// A [`DataSource`] over a channel: [`DataSource::advance`] blocks until the
/// next event arrives and ends when every sender is gone (shutdown);
/// [`DataSource::advance_until`] gives up at a wall-clock deadline so the
/// engine's timers fire on a quiet market.
#[derive(Debug)]
pub struct LiveSource {
    instruments: Vec<Instrument>,
    rx: Receiver<MarketEvent>,
    histories: Vec<History>,
    values: Vec<BarValues>,
    quotes: Vec<Option<Quote>>,
    /// Bars kept per instrument; older ones are dropped.
    keep: usize,
}

impl LiveSource {
    /// A source of `instruments` (events refer to them by index) reading `rx`,
    /// keeping the last `keep` bars of each as history.
    #[must_use]
    pub fn new(instruments: Vec<Instrument>, rx: Receiver<MarketEvent>, keep: usize) -> Self {
        let n = instruments.len();
        Self {
            instruments,
            rx,
            histories: vec![History::default(); n],
            values: vec![BarValues::default(); n],
            quotes: vec![None; n],
            keep: keep.max(1),
        }
    }
}

impl LiveSource {
    /// Keep `ev` as the instrument's latest bar or quote; `None` for an unknown instrument (dropped).
    fn take(&mut self, ev: MarketEvent) -> Option<EventKind> {
        match ev {
            MarketEvent::Bar {
                instrument,
                bar,
                values,
            } => {
                let h = self.histories.get_mut(instrument)?;
                h.bars.push(bar);
                if h.bars.len() > 2 * self.keep {
                    h.bars.drain(..h.bars.len() - self.keep);
                }
                self.values[instrument] = values;
                Some(EventKind::Bar(instrument))
            }
            MarketEvent::Quote { instrument, quote } => {
                *self.quotes.get_mut(instrument)? = Some(quote);
                Some(EventKind::Quote(instrument))
            }
        }
    }
}

impl DataSource for LiveSource {
    fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    fn advance(&mut self) -> Option<EventKind> {
        loop {
            let ev = self.rx.recv().ok()?;
            if let Some(kind) = self.take(ev) {
                return Some(kind);
            }
        }
    }

    fn advance_until(&mut self, deadline: UnixNanos) -> Next {
        loop {
            let now = SystemClock.now();
            let wait = Duration::from_nanos(u64::try_from(deadline.0 - now.0).unwrap_or(0));
            match self.rx.recv_timeout(wait) {
                Ok(ev) => {
                    if let Some(kind) = self.take(ev) {
                        return Next::Event(kind);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Next::Idle,
                Err(RecvTimeoutError::Disconnected) => return Next::End,
            }
        }
    }

    fn bar(&self, instrument: usize) -> Option<&Bar> {
        self.histories.get(instrument)?.bars.last()
    }

    fn values(&self, instrument: usize) -> BarValues {
        self.values.get(instrument).copied().unwrap_or_default()
    }

    fn quote(&self, instrument: usize) -> Option<&Quote> {
        self.quotes.get(instrument)?.as_ref()
    }

    fn history(&self, instrument: usize) -> &dyn BarHistory {
        &self.histories[instrument]
    }
}
