//! The assumed price path inside a bar, for limit and stop orders.
//!
//! A bar only tells us four prices, so the order in which they traded is an
//! assumption: **open → low → high → close when the bar closed at or above its
//! open, open → high → low → close otherwise**, moving continuously between
//! them (the convention of backtrader and NautilusTrader's bar execution).
//! A level the path crosses fills at exactly that level; a level already
//! passed at the open (a gap) fills at the open.

use rust_decimal::Decimal;
use tessera_model::Bar;

/// The four path points of a bar.
#[must_use]
pub fn bar_path(bar: &Bar) -> [Decimal; 4] {
    let (o, h, l, c) = (
        bar.open.as_decimal(),
        bar.high.as_decimal(),
        bar.low.as_decimal(),
        bar.close.as_decimal(),
    );
    if c >= o { [o, l, h, c] } else { [o, h, l, c] }
}

/// Where on a path: on the segment from point `seg` to `seg + 1`, at `price`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PathPos {
    pub(crate) seg: usize,
    pub(crate) price: Decimal,
}

/// First position at or after `from` where the price is `≥ level` (`up`) or `≤ level`.
pub(crate) fn reach(path: &[Decimal], from: PathPos, level: Decimal, up: bool) -> Option<PathPos> {
    let hit = |p: Decimal| if up { p >= level } else { p <= level };
    if hit(from.price) {
        return Some(from);
    }
    (from.seg + 1..path.len())
        .find(|&j| hit(path[j]))
        .map(|j| PathPos {
            seg: j - 1,
            price: level,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: i64) -> Decimal {
        Decimal::from(x)
    }

    #[test]
    fn test_reach_gap_and_cross() {
        let path = [d(100), d(95), d(110), d(105)];
        let start = PathPos {
            seg: 0,
            price: d(100),
        };
        // Buy limit 97: crossed on the way down, fills at 97.
        assert_eq!(
            reach(&path, start, d(97), false),
            Some(PathPos {
                seg: 0,
                price: d(97)
            })
        );
        // Buy limit 101: the open already satisfies it.
        assert_eq!(reach(&path, start, d(101), false), Some(start));
        // Buy stop 108: reached on the way up after the low.
        assert_eq!(
            reach(&path, start, d(108), true),
            Some(PathPos {
                seg: 1,
                price: d(108)
            })
        );
        // Stop-limit: after triggering at 108 on segment 1, a limit of 106 is met on the way to the close.
        let t = reach(&path, start, d(108), true).unwrap();
        assert_eq!(
            reach(&path, t, d(106), false),
            Some(PathPos {
                seg: 2,
                price: d(106)
            })
        );
        assert_eq!(reach(&path, t, d(104), false), None);
        assert_eq!(reach(&[d(100)], start, d(101), true), None);
    }
}
