//! The clock seam: the only place where Tessera reads the wall clock.
//!
//! Engines, strategies and schedulers take a `&dyn Clock` (or a generic `C:
//! Clock`) so the same code runs on historical time in a backtest and on
//! real time live.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::time::UnixNanos;

/// A source of the current UTC time.
pub trait Clock: Send + Sync + Debug {
    /// The current instant.
    fn now(&self) -> UnixNanos;
}

/// The operating system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixNanos {
        // Before 1970 or after 2262 cannot happen on a sane host; saturate rather than panic.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        UnixNanos(nanos)
    }
}

/// A clock moved by hand: backtests set it to each event's time, tests step it.
///
/// Atomic so a simulated clock can be shared between tasks without a lock.
#[derive(Debug, Default)]
pub struct SimClock {
    nanos: AtomicI64,
}

impl SimClock {
    /// A clock standing at `start`.
    #[must_use]
    pub fn new(start: UnixNanos) -> Self {
        Self {
            nanos: AtomicI64::new(start.0),
        }
    }

    /// Move to `t`. Time may only go forward; an earlier `t` is ignored so a
    /// late event cannot rewind what others already observed.
    pub fn set(&self, t: UnixNanos) {
        self.nanos.fetch_max(t.0, Ordering::AcqRel);
    }

    /// Move forward by `nanos`.
    pub fn advance(&self, nanos: i64) {
        self.nanos.fetch_add(nanos, Ordering::AcqRel);
    }
}

impl Clock for SimClock {
    fn now(&self) -> UnixNanos {
        UnixNanos(self.nanos.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sim_clock_never_goes_back() {
        let c = SimClock::new(UnixNanos(10));
        c.set(UnixNanos(5));
        assert_eq!(c.now(), UnixNanos(10));
        c.advance(5);
        assert_eq!(c.now(), UnixNanos(15));
    }

    #[test]
    fn test_system_clock_is_after_2020() {
        assert!(SystemClock.now() > UnixNanos::parse("2020-01-01").unwrap());
    }
}
