//! Fixed-size windows shared by the indicators: a ring buffer and a monotonic deque.
//!
//! Both allocate once in `new` and never again, so an indicator's `update` is
//! allocation-free and its memory does not grow with the length of the stream.

use std::collections::VecDeque;

/// The last `capacity` values of a stream, oldest first.
///
/// Slots are written in the order `0, 1, …, capacity-1, 0, …` from the first
/// value on, which is also the order TA-Lib's circular buffers use; CCI sums its
/// window in slot order so that its rounding equals TA-Lib's.
#[derive(Debug, Clone)]
pub(crate) struct RingBuffer {
    buf: Vec<f64>,
    head: usize,
    len: usize,
}

impl RingBuffer {
    /// An empty buffer holding at most `capacity` (≥ 1) values.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0.0; capacity.max(1)],
            head: 0,
            len: 0,
        }
    }

    /// Appends `x`, overwriting the oldest value when full; returns the overwritten value.
    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        let old = self.buf[self.head];
        self.buf[self.head] = x;
        self.head += 1;
        if self.head == self.buf.len() {
            self.head = 0;
        }
        if self.len == self.buf.len() {
            Some(old)
        } else {
            self.len += 1;
            None
        }
    }

    /// The value `ago` steps before the newest (`0` is the newest); `ago` must be `< len`.
    #[inline]
    pub(crate) fn back(&self, ago: usize) -> f64 {
        debug_assert!(ago < self.len);
        let cap = self.buf.len();
        let idx = (self.head + cap - 1 - ago) % cap;
        self.buf[idx]
    }

    /// The oldest value held (the one the next `push` overwrites when full).
    #[inline]
    pub(crate) fn oldest(&self) -> f64 {
        if self.len == self.buf.len() {
            self.buf[self.head]
        } else {
            self.buf[0]
        }
    }

    /// Number of values held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds `capacity` values.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// The slots in physical order (TA-Lib's summation order for circular buffers).
    #[inline]
    pub(crate) fn slots(&self) -> &[f64] {
        &self.buf
    }

    /// Forgets every value.
    pub(crate) fn clear(&mut self) {
        self.buf.iter_mut().for_each(|v| *v = 0.0);
        self.head = 0;
        self.len = 0;
    }
}

/// Which extreme a [`MonotonicWindow`] tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extreme {
    /// The highest value.
    Max,
    /// The lowest value.
    Min,
}

/// The extreme of the last `period` values and its position, in amortised O(1).
///
/// Among equal extremes the newest wins, as in TA-Lib's AROON (`>=` / `<=` scans).
#[derive(Debug, Clone)]
pub(crate) struct MonotonicWindow {
    deque: VecDeque<(u64, f64)>,
    period: u64,
    count: u64,
    kind: Extreme,
}

impl MonotonicWindow {
    /// A window over the last `period` (≥ 1) values.
    pub(crate) fn new(period: usize, kind: Extreme) -> Self {
        Self {
            deque: VecDeque::with_capacity(period + 1),
            period: period.max(1) as u64,
            count: 0,
            kind,
        }
    }

    /// Adds `x` and returns `(extreme, bars_ago)` over the window ending at `x`.
    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> (f64, u64) {
        let idx = self.count;
        self.count += 1;
        match self.kind {
            Extreme::Max => {
                while self.deque.back().is_some_and(|&(_, v)| v <= x) {
                    self.deque.pop_back();
                }
            }
            Extreme::Min => {
                while self.deque.back().is_some_and(|&(_, v)| v >= x) {
                    self.deque.pop_back();
                }
            }
        }
        self.deque.push_back((idx, x));
        while self
            .deque
            .front()
            .is_some_and(|&(i, _)| i + self.period <= idx)
        {
            self.deque.pop_front();
        }
        let &(i, v) = self.deque.front().unwrap_or(&(idx, x));
        (v, idx - i)
    }

    /// Number of values seen since construction or `clear`.
    #[inline]
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Forgets every value.
    pub(crate) fn clear(&mut self) {
        self.deque.clear();
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_ring_buffer_overwrites_oldest() {
        let mut rb = RingBuffer::new(3);
        assert_eq!(rb.push(1.0), None);
        assert_eq!(rb.push(2.0), None);
        assert_eq!(rb.push(3.0), None);
        assert_eq!(rb.oldest(), 1.0);
        assert_eq!(rb.push(4.0), Some(1.0));
        assert_eq!(rb.back(0), 4.0);
        assert_eq!(rb.back(2), 2.0);
        assert_eq!(rb.oldest(), 2.0);
    }

    #[test]
    fn test_monotonic_window_newest_tie_wins() {
        let mut w = MonotonicWindow::new(3, Extreme::Max);
        assert_eq!(w.push(1.0), (1.0, 0));
        assert_eq!(w.push(5.0), (5.0, 0));
        assert_eq!(w.push(5.0), (5.0, 0));
        assert_eq!(w.push(2.0), (5.0, 1));
        assert_eq!(w.push(1.0), (5.0, 2));
        assert_eq!(w.push(0.0), (2.0, 2));
    }
}
