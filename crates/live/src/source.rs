//! [`LiveSource`]: market events from live streams, for the engine.

use std::sync::mpsc::Receiver;

use tessera_engine::{DataSource, MarketEvent};
use tessera_model::{Bar, Instrument};
use tessera_strategy::BarHistory;

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

/// A [`DataSource`] over a channel: [`DataSource::next_event`] blocks until the
/// next event arrives and ends when every sender is gone (shutdown).
#[derive(Debug)]
pub struct LiveSource {
    instruments: Vec<Instrument>,
    rx: Receiver<MarketEvent>,
    histories: Vec<History>,
    /// Bars kept per instrument; older ones are dropped.
    keep: usize,
}

impl LiveSource {
    /// A source of `instruments` (events refer to them by index) reading `rx`,
    /// keeping the last `keep` bars of each as history.
    #[must_use]
    pub fn new(instruments: Vec<Instrument>, rx: Receiver<MarketEvent>, keep: usize) -> Self {
        let histories = vec![History::default(); instruments.len()];
        Self {
            instruments,
            rx,
            histories,
            keep: keep.max(1),
        }
    }
}

impl DataSource for LiveSource {
    fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    fn next_event(&mut self) -> Option<MarketEvent> {
        let ev = self.rx.recv().ok()?;
        if let MarketEvent::Bar {
            instrument, bar, ..
        } = &ev
            && let Some(h) = self.histories.get_mut(*instrument)
        {
            h.bars.push(*bar);
            if h.bars.len() > 2 * self.keep {
                h.bars.drain(..h.bars.len() - self.keep);
            }
        }
        Some(ev)
    }

    fn history(&self, instrument: usize) -> &dyn BarHistory {
        &self.histories[instrument]
    }
}
