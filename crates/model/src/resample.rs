//! Building coarser bars from finer ones (1m → 5m, 15m, 1h, 4h, 1d, …).
//!
//! Aggregation rules, per target interval bucket (`target.floor(open_time)`):
//! open = the first bar's open, high = the highest high, low = the lowest
//! low, close = the last bar's close, volume = the sum of volumes, trade
//! count and quote volume = their sums when every source bar has them (else
//! absent). A bucket is emitted as soon as it holds one source bar, so the
//! first and last buckets of a range may be partial; missing source bars
//! inside a bucket are simply absent from it (no forward filling).

use crate::data::Bar;
use crate::error::{Result, invariant};
use crate::interval::Interval;
use crate::numbers::Quantity;

/// Aggregate `bars` (one instrument and interval, ascending open times) into `target` bars.
///
/// # Errors
/// [`crate::Error::Invariant`] when `target` is not a whole multiple of the
/// source interval, bars mix instruments or intervals, or times are not ascending;
/// [`crate::Error::Overflow`] when a volume sum overflows.
pub fn resample(bars: &[Bar], target: Interval) -> Result<Vec<Bar>> {
    let Some(first) = bars.first() else {
        return Ok(Vec::new());
    };
    if !target.is_multiple_of(&first.interval) {
        return Err(invariant(
            "resample",
            format!("{target} bars cannot be built from {} bars", first.interval),
        ));
    }
    let mut out: Vec<Bar> = Vec::new();
    let mut prev_open = None;
    for b in bars {
        if b.instrument != first.instrument || b.interval != first.interval {
            return Err(invariant(
                "resample",
                "bars of several instruments or intervals",
            ));
        }
        if prev_open.is_some_and(|p| p >= b.open_time) {
            return Err(invariant(
                "resample",
                format!("bars not ascending at {}", b.open_time),
            ));
        }
        prev_open = Some(b.open_time);
        let bucket = target.floor(b.open_time);
        match out.last_mut() {
            Some(acc) if acc.open_time == bucket => {
                acc.high = acc.high.max(b.high);
                acc.low = acc.low.min(b.low);
                acc.close = b.close;
                acc.volume = acc.volume.checked_add(b.volume)?;
                acc.trade_count = acc.trade_count.zip(b.trade_count).map(|(a, c)| a + c);
                acc.quote_volume = match (acc.quote_volume, b.quote_volume) {
                    (Some(a), Some(c)) => Some(a.checked_add(c)?),
                    _ => None,
                };
            }
            _ => out.push(Bar {
                interval: target,
                open_time: bucket,
                ..*b
            }),
        }
    }
    Ok(out)
}

/// Sum of volumes, for callers that check aggregation.
#[must_use]
pub fn total_volume(bars: &[Bar]) -> Option<Quantity> {
    bars.iter()
        .try_fold(Quantity::ZERO, |acc, b| acc.checked_add(b.volume).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::InstrumentId;
    use crate::numbers::Price;
    use tessera_core::UnixNanos;

    fn bar(min: i64, o: i64, h: i64, l: i64, c: i64, v: i64) -> Bar {
        Bar {
            instrument: InstrumentId::parse("X", "sim").unwrap(),
            interval: Interval::M1,
            open_time: UnixNanos::from_secs(1_704_067_200 + min * 60).unwrap(),
            open: Price::from_parts(o, 0).unwrap(),
            high: Price::from_parts(h, 0).unwrap(),
            low: Price::from_parts(l, 0).unwrap(),
            close: Price::from_parts(c, 0).unwrap(),
            volume: Quantity::from_parts(v, 0).unwrap(),
            trade_count: Some(1),
            quote_volume: None,
        }
    }

    #[test]
    fn test_resample_5m() {
        let bars: Vec<Bar> = vec![
            bar(0, 10, 12, 9, 11, 1),
            bar(1, 11, 15, 10, 14, 2),
            bar(4, 14, 14, 8, 9, 3),
            bar(5, 9, 10, 9, 10, 4),
        ];
        let out = resample(&bars, Interval::parse("5m").unwrap()).unwrap();
        assert_eq!(out.len(), 2);
        let a = &out[0];
        assert_eq!(
            (
                a.open.to_string(),
                a.high.to_string(),
                a.low.to_string(),
                a.close.to_string()
            ),
            ("10".into(), "15".into(), "8".into(), "9".into())
        );
        assert_eq!(a.volume.to_string(), "6");
        assert_eq!(a.trade_count, Some(3));
        assert_eq!(
            out[1].open_time,
            UnixNanos::from_secs(1_704_067_200 + 300).unwrap()
        );
        assert_eq!(total_volume(&out), total_volume(&bars));
    }

    #[test]
    fn test_resample_refuses_bad_target_and_order() {
        let bars = vec![bar(0, 1, 1, 1, 1, 1), bar(1, 1, 1, 1, 1, 1)];
        assert!(resample(&bars, Interval::parse("90s").unwrap()).is_err());
        let rev = vec![bars[1], bars[0]];
        assert!(resample(&rev, Interval::parse("5m").unwrap()).is_err());
    }
}
