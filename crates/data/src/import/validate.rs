//! The rules a bar must pass before it is stored, with a reason for each refusal.
//!
//! * the open time lies on the interval grid and is later than the previous valid row's;
//! * `high ≥ max(open, close)` and `low ≤ min(open, close)`;
//! * volume is not negative (refused already when parsed);
//! * every price lies on the instrument's tick grid;
//! * prices are plausible: positive (except futures, whose adjusted or spread
//!   prices may be zero or negative) and within a factor of [`MAX_JUMP`] of the
//!   previous valid close, which catches a misplaced decimal point or a unit change.

use rust_decimal::Decimal;
use tessera_model::{Bar, Instrument, InstrumentKind, Interval, Price};

use super::{RawRow, RejectedRow};

/// Largest ratio between a price and the previous close that is still believed.
pub const MAX_JUMP: i64 = 50;

/// Check `rows` in file order; returns the valid bars and the refused rows.
#[must_use]
pub fn validate(
    inst: &Instrument,
    interval: Interval,
    file: &str,
    rows: &[RawRow],
) -> (Vec<Bar>, Vec<RejectedRow>) {
    let mut bars = Vec::with_capacity(rows.len());
    let mut rejected = Vec::new();
    let mut prev: Option<(tessera_core::UnixNanos, Price)> = None;
    for r in rows {
        match check(inst, interval, r, prev) {
            Ok(bar) => {
                prev = Some((bar.open_time, bar.close));
                bars.push(bar);
            }
            Err(reason) => rejected.push(RejectedRow {
                file: file.to_string(),
                line: r.line,
                reason,
            }),
        }
    }
    (bars, rejected)
}

fn check(
    inst: &Instrument,
    interval: Interval,
    r: &RawRow,
    prev: Option<(tessera_core::UnixNanos, Price)>,
) -> Result<Bar, String> {
    if !interval.is_aligned(r.open_time) {
        return Err(format!(
            "time {} is not aligned to {interval} (expected {})",
            r.open_time,
            interval.floor(r.open_time)
        ));
    }
    if let Some((t, _)) = prev
        && r.open_time <= t
    {
        return Err(format!(
            "time {} is not after the previous row's {t} (rows must be in increasing time order, without repeats)",
            r.open_time
        ));
    }
    let bar = Bar {
        instrument: inst.id,
        interval,
        open_time: r.open_time,
        open: r.open,
        high: r.high,
        low: r.low,
        close: r.close,
        volume: r.volume,
        trade_count: r.trade_count,
        quote_volume: r.quote_volume,
    };
    if bar.high < bar.open.max(bar.close) {
        return Err(format!(
            "high {} is below max(open {}, close {})",
            bar.high, bar.open, bar.close
        ));
    }
    if bar.low > bar.open.min(bar.close) {
        return Err(format!(
            "low {} is above min(open {}, close {})",
            bar.low, bar.open, bar.close
        ));
    }
    for (name, p) in [
        ("open", bar.open),
        ("high", bar.high),
        ("low", bar.low),
        ("close", bar.close),
    ] {
        if !p.is_on_tick(inst.tick_size) {
            return Err(format!(
                "{name} {p} is not on the tick size {} of {}",
                inst.tick_size, inst.id
            ));
        }
        if inst.kind != InstrumentKind::Future && p.as_decimal() <= Decimal::ZERO {
            return Err(format!("{name} {p} is not a positive price"));
        }
    }
    if inst.kind != InstrumentKind::Future
        && let Some((_, prev_close)) = prev
    {
        let prev_close = prev_close.as_decimal();
        let jump = Decimal::from(MAX_JUMP);
        if prev_close > Decimal::ZERO {
            for (name, p) in [("high", bar.high), ("low", bar.low)] {
                let p = p.as_decimal();
                if p > prev_close * jump || p * jump < prev_close {
                    return Err(format!(
                        "absurd price: {name} {p} is more than {MAX_JUMP}x away from the previous close {prev_close}"
                    ));
                }
            }
        }
    }
    Ok(bar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::UnixNanos;
    use tessera_model::{InstrumentId, Quantity};

    fn row(line: u64, minute: i64, o: &str, h: &str, l: &str, c: &str) -> RawRow {
        RawRow {
            line,
            open_time: UnixNanos(1_700_000_040_000_000_000 + minute * 60_000_000_000),
            open: o.parse().unwrap(),
            high: h.parse().unwrap(),
            low: l.parse().unwrap(),
            close: c.parse().unwrap(),
            volume: Quantity::parse("1").unwrap(),
            trade_count: None,
            quote_volume: None,
        }
    }

    #[test]
    fn test_validate_reasons() {
        let mut inst = Instrument::with_defaults(
            InstrumentId::parse("BTCUSDT", "binance").unwrap(),
            InstrumentKind::Crypto,
        )
        .unwrap();
        inst.tick_size = "0.01".parse().unwrap();
        let mut misaligned = row(7, 6, "10", "11", "9", "10");
        misaligned.open_time = UnixNanos(misaligned.open_time.0 + 1_000_000_000);
        let rows = [
            row(1, 0, "10", "11", "9", "10.5"),
            row(2, 0, "10", "11", "9", "10.5"),
            row(3, 1, "10", "10.2", "9", "10.5"),
            row(4, 2, "10", "11", "10.1", "10.5"),
            row(5, 3, "10.001", "11", "9", "10.5"),
            row(6, 4, "10", "99999", "9", "10.5"),
            misaligned,
            row(8, 5, "-1", "11", "-2", "10"),
            row(9, 9, "10", "11", "9", "10"),
        ];
        let (bars, rej) = validate(&inst, Interval::M1, "f.csv", &rows);
        assert_eq!(bars.len(), 2);
        let reasons: Vec<String> = rej.iter().map(ToString::to_string).collect();
        let want = [
            "f.csv:2: time",
            "f.csv:3: high 10.2 is below",
            "f.csv:4: low 10.1 is above",
            "f.csv:5: open 10.001 is not on the tick size 0.01",
            "f.csv:6: absurd price",
            "f.csv:7: time",
            "f.csv:8: open -1 is not a positive price",
        ];
        assert_eq!(reasons.len(), want.len(), "{reasons:#?}");
        for (r, w) in reasons.iter().zip(want) {
            assert!(r.starts_with(w), "{r} vs {w}");
        }
        assert!(reasons[5].contains("not aligned"));
    }
}
