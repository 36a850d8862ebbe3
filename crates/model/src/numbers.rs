//! Exact numbers for prices, quantities and money.
//!
//! Backed by `rust_decimal` (96-bit mantissa, scale 0..=28) with a scale
//! policy: parsing accepts at most [`MAX_SCALE`] decimals, the scale a value
//! was written with is kept (so `1.50` prints as `1.50`, as the venue sent
//! it), and every operation that can overflow is checked and returns
//! [`Error::Overflow`] instead of wrapping. `f64` never enters: conversions
//! from floats are deliberately absent.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, invariant};
use crate::identifiers::Currency;

/// Most decimals a parsed price or quantity may carry. Binance uses 8, equity
/// venues 2..4; 16 leaves room while keeping `price × quantity` exact
/// (16 + 16 ≤ 28 decimals of `Decimal`'s mantissa for ordinary magnitudes).
pub const MAX_SCALE: u32 = 16;

/// How to round onto a tick or lot grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    /// To the nearest grid point, halves away from zero (what traders expect of a price).
    Nearest,
    /// Towards negative infinity (a buy limit that must not overpay rounds down).
    Down,
    /// Towards positive infinity (a sell limit that must not undersell rounds up).
    Up,
    /// Towards zero (a size that must not exceed the cash available).
    TowardZero,
}

fn parse_decimal(what: &'static str, s: &str) -> Result<Decimal> {
    let t = s.trim();
    let err = |reason: &str| Error::Parse {
        what,
        input: s.to_string(),
        reason: reason.to_string(),
    };
    if t.is_empty() {
        return Err(err("empty"));
    }
    let d = if t.contains(['e', 'E']) {
        Decimal::from_scientific(t)
    } else {
        Decimal::from_str_exact(t)
    }
    .map_err(|e| err(&format!("not a decimal number ({e})")))?;
    if d.scale() > MAX_SCALE {
        return Err(err(&format!("more than {MAX_SCALE} decimal places")));
    }
    Ok(d)
}

fn round_to_grid(
    what: &'static str,
    value: Decimal,
    step: Decimal,
    mode: RoundingMode,
) -> Result<Decimal> {
    if step <= Decimal::ZERO {
        return Err(invariant(
            what,
            format!("grid step {step} must be positive"),
        ));
    }
    let strategy = match mode {
        RoundingMode::Nearest => RoundingStrategy::MidpointAwayFromZero,
        RoundingMode::Down => RoundingStrategy::ToNegativeInfinity,
        RoundingMode::Up => RoundingStrategy::ToPositiveInfinity,
        RoundingMode::TowardZero => RoundingStrategy::ToZero,
    };
    if step == Decimal::ONE {
        // Whole units (the default lot): no division; same result as the general path.
        let mut out = value.round_dp_with_strategy(0, strategy);
        out.rescale(step.scale());
        return Ok(out);
    }
    let units = value
        .checked_div(step)
        .ok_or_else(|| Error::Overflow(format!("{value} / {step}")))?;
    let whole = units.round_dp_with_strategy(0, strategy);
    let mut out = whole
        .checked_mul(step)
        .ok_or_else(|| Error::Overflow(format!("{whole} × {step}")))?;
    // Print with the grid's decimals: a 0.01 tick gives `101.50`, not `101.5`.
    out.rescale(step.scale().max(out.normalize().scale()));
    Ok(out)
}

fn overflow(op: &str, a: impl fmt::Display, b: impl fmt::Display) -> Error {
    Error::Overflow(format!("{a} {op} {b}"))
}

macro_rules! decimal_newtype_common {
    ($name:ident, $what:literal) => {
        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(Decimal::ZERO);

            /// The exact decimal value.
            #[must_use]
            pub const fn as_decimal(&self) -> Decimal {
                self.0
            }

            /// Decimals this value was written with.
            #[must_use]
            pub fn scale(&self) -> u32 {
                self.0.scale()
            }

            /// Whether this is zero.
            #[must_use]
            pub fn is_zero(&self) -> bool {
                self.0.is_zero()
            }

            /// The same value printed with `scale` decimals (padding or rounding half away from zero).
            #[must_use]
            pub fn with_scale(self, scale: u32) -> Self {
                let mut d = self
                    .0
                    .round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
                d.rescale(scale);
                Self(d)
            }

            /// A lossy `f64` for statistics and indicators only; never feed it back into orders.
            #[must_use]
            pub fn to_f64(&self) -> f64 {
                use rust_decimal::prelude::ToPrimitive;
                self.0.to_f64().unwrap_or(f64::NAN)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A price: exact, may be negative (calendar spreads, negative oil futures).
///
/// Equality is numeric (`1.5 == 1.50`); the written scale is kept for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(Decimal);

decimal_newtype_common!(Price, "price");

impl Price {
    /// From an exact decimal.
    ///
    /// # Errors
    /// [`Error::Invariant`] when it has more than [`MAX_SCALE`] decimals.
    // Hot in the backtest loop (a bar per event); inline across crates.
    #[inline]
    pub fn new(d: Decimal) -> Result<Self> {
        if d.scale() > MAX_SCALE {
            return Err(invariant(
                "price",
                format!("{d} has more than {MAX_SCALE} decimals"),
            ));
        }
        Ok(Self(d))
    }

    /// From an integer mantissa and a scale: `Price::from_parts(10150, 2)` is `101.50`.
    ///
    /// # Errors
    /// [`Error::Invariant`] when `scale > MAX_SCALE`.
    // Hot in the backtest loop (a bar per event); inline across crates.
    #[inline]
    pub fn from_parts(mantissa: i64, scale: u32) -> Result<Self> {
        if scale > MAX_SCALE {
            return Err(invariant(
                "price",
                format!("scale {scale} above {MAX_SCALE}"),
            ));
        }
        Ok(Self(Decimal::new(mantissa, scale)))
    }

    /// Parse `101.50`, `-3.2`, `1e-4`.
    ///
    /// # Errors
    /// [`Error::Parse`] with the input and the reason.
    pub fn parse(s: &str) -> Result<Self> {
        parse_decimal("price", s).map(Self)
    }

    /// Round onto a tick grid.
    ///
    /// # Errors
    /// [`Error::Invariant`] for a non-positive tick, [`Error::Overflow`] on overflow.
    pub fn round_to_tick(self, tick: Price, mode: RoundingMode) -> Result<Self> {
        round_to_grid("tick size", self.0, tick.0, mode).map(Self)
    }

    /// Whether this price lies exactly on the tick grid.
    #[must_use]
    pub fn is_on_tick(&self, tick: Price) -> bool {
        tick.0 > Decimal::ZERO && (self.0 % tick.0).is_zero()
    }

    /// Checked sum.
    ///
    /// # Errors
    /// [`Error::Overflow`].
    pub fn checked_add(self, rhs: Self) -> Result<Self> {
        self.0
            .checked_add(rhs.0)
            .map(Self)
            .ok_or_else(|| overflow("+", self, rhs))
    }

    /// Checked difference.
    ///
    /// # Errors
    /// [`Error::Overflow`].
    pub fn checked_sub(self, rhs: Self) -> Result<Self> {
        self.0
            .checked_sub(rhs.0)
            .map(Self)
            .ok_or_else(|| overflow("-", self, rhs))
    }

    /// Notional of `quantity` at this price times a contract `multiplier`, in `currency`.
    ///
    /// # Errors
    /// [`Error::Overflow`].
    pub fn notional(
        self,
        quantity: Quantity,
        multiplier: Decimal,
        currency: Currency,
    ) -> Result<Money> {
        let v = self
            .0
            .checked_mul(quantity.0)
            .and_then(|v| v.checked_mul(multiplier))
            .ok_or_else(|| Error::Overflow(format!("{self} × {quantity} × {multiplier}")))?;
        Ok(Money::new(v, currency))
    }
}

/// A quantity of units, lots or contracts: exact and never negative.
///
/// Direction lives in [`crate::Side`] or in a position's sign, not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(Decimal);

decimal_newtype_common!(Quantity, "quantity");

impl Quantity {
    /// From an exact decimal.
    ///
    /// # Errors
    /// [`Error::Invariant`] when negative or with more than [`MAX_SCALE`] decimals.
    // Hot in the backtest loop (a bar per event); inline across crates.
    #[inline]
    pub fn new(d: Decimal) -> Result<Self> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(invariant("quantity", format!("{d} is negative")));
        }
        if d.scale() > MAX_SCALE {
            return Err(invariant(
                "quantity",
                format!("{d} has more than {MAX_SCALE} decimals"),
            ));
        }
        Ok(Self(d))
    }

    /// From an integer mantissa and a scale.
    ///
    /// # Errors
    /// As [`Quantity::new`].
    // Hot in the backtest loop (a bar per event); inline across crates.
    #[inline]
    pub fn from_parts(mantissa: i64, scale: u32) -> Result<Self> {
        if scale > MAX_SCALE {
            return Err(invariant(
                "quantity",
                format!("scale {scale} above {MAX_SCALE}"),
            ));
        }
        Self::new(Decimal::new(mantissa, scale))
    }

    /// Parse `0.001`, `100`.
    ///
    /// # Errors
    /// [`Error::Parse`] for text that is not a number, [`Error::Invariant`] when negative.
    pub fn parse(s: &str) -> Result<Self> {
        let d = parse_decimal("quantity", s)?;
        Self::new(d).map_err(|_| Error::Parse {
            what: "quantity",
            input: s.to_string(),
            reason: "must not be negative".into(),
        })
    }

    /// Round onto a lot grid.
    ///
    /// # Errors
    /// [`Error::Invariant`] for a non-positive lot, [`Error::Overflow`] on overflow.
    pub fn round_to_lot(self, lot: Quantity, mode: RoundingMode) -> Result<Self> {
        round_to_grid("lot size", self.0, lot.0, mode).map(Self)
    }

    /// Whether this quantity is a whole number of lots.
    #[must_use]
    pub fn is_on_lot(&self, lot: Quantity) -> bool {
        lot.0 > Decimal::ZERO && (self.0 % lot.0).is_zero()
    }

    /// Checked sum.
    ///
    /// # Errors
    /// [`Error::Overflow`].
    pub fn checked_add(self, rhs: Self) -> Result<Self> {
        self.0
            .checked_add(rhs.0)
            .map(Self)
            .ok_or_else(|| overflow("+", self, rhs))
    }

    /// Checked difference; going below zero is an error, not a wrap.
    ///
    /// # Errors
    /// [`Error::Overflow`] when `rhs > self`.
    pub fn checked_sub(self, rhs: Self) -> Result<Self> {
        if rhs.0 > self.0 {
            return Err(overflow("-", self, rhs));
        }
        Ok(Self(self.0 - rhs.0))
    }

    /// The smaller of two quantities.
    #[must_use]
    pub fn min(self, other: Self) -> Self {
        if self <= other { self } else { other }
    }
}

/// An amount of one currency. Adding across currencies is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The exact amount; negative for debts, costs and losses.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
}

impl Money {
    /// An amount in a currency.
    #[must_use]
    pub const fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Zero of a currency.
    #[must_use]
    pub const fn zero(currency: Currency) -> Self {
        Self::new(Decimal::ZERO, currency)
    }

    /// Parse `"1000.50 USD"` or `"USD 1000.50"`.
    ///
    /// # Errors
    /// [`Error::Parse`].
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let err = |reason: &str| Error::Parse {
            what: "money",
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let [a, b] = parts.as_slice() else {
            return Err(err("expected an amount and a currency, like `1000.50 USD`"));
        };
        let (amount, currency) = match parse_decimal("money", a) {
            Ok(d) => (d, Currency::new(b)?),
            Err(_) => (parse_decimal("money", b)?, Currency::new(a)?),
        };
        Ok(Self::new(amount, currency))
    }

    fn same_currency(&self, rhs: &Self) -> Result<()> {
        if self.currency != rhs.currency {
            return Err(Error::CurrencyMismatch {
                left: self.currency.to_string(),
                right: rhs.currency.to_string(),
            });
        }
        Ok(())
    }

    /// Checked sum of two amounts of the same currency.
    ///
    /// # Errors
    /// [`Error::CurrencyMismatch`] or [`Error::Overflow`].
    pub fn checked_add(self, rhs: Self) -> Result<Self> {
        self.same_currency(&rhs)?;
        let amount = self
            .amount
            .checked_add(rhs.amount)
            .ok_or_else(|| overflow("+", self, rhs))?;
        Ok(Self::new(amount, self.currency))
    }

    /// Checked difference of two amounts of the same currency.
    ///
    /// # Errors
    /// [`Error::CurrencyMismatch`] or [`Error::Overflow`].
    pub fn checked_sub(self, rhs: Self) -> Result<Self> {
        self.same_currency(&rhs)?;
        let amount = self
            .amount
            .checked_sub(rhs.amount)
            .ok_or_else(|| overflow("-", self, rhs))?;
        Ok(Self::new(amount, self.currency))
    }

    /// Checked multiplication by an exact factor (a commission rate, a share count).
    ///
    /// # Errors
    /// [`Error::Overflow`].
    pub fn checked_mul(self, factor: Decimal) -> Result<Self> {
        let amount = self
            .amount
            .checked_mul(factor)
            .ok_or_else(|| overflow("×", self, factor))?;
        Ok(Self::new(amount, self.currency))
    }

    /// Round to `dp` decimals, halves to even (banker's rounding, as ledgers do).
    #[must_use]
    pub fn round_dp(self, dp: u32) -> Self {
        Self::new(self.amount.round_dp(dp), self.currency)
    }

    /// Compare with another amount of the same currency.
    ///
    /// # Errors
    /// [`Error::CurrencyMismatch`].
    pub fn checked_cmp(&self, rhs: &Self) -> Result<Ordering> {
        self.same_currency(rhs)?;
        Ok(self.amount.cmp(&rhs.amount))
    }
}

impl std::ops::Neg for Money {
    type Output = Self;

    /// The negated amount (a debit for a credit); negation cannot overflow a `Decimal`.
    fn neg(self) -> Self {
        Self::new(-self.amount, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[rstest]
    #[case("101.537", "0.01", RoundingMode::Nearest, "101.54")]
    #[case("101.535", "0.01", RoundingMode::Nearest, "101.54")]
    #[case("101.535", "0.01", RoundingMode::Down, "101.53")]
    #[case("101.531", "0.01", RoundingMode::Up, "101.54")]
    #[case("101.5", "0.01", RoundingMode::Nearest, "101.50")]
    #[case("-3.27", "0.05", RoundingMode::Nearest, "-3.25")]
    #[case("-3.27", "0.05", RoundingMode::Down, "-3.30")]
    #[case("4012.3", "0.25", RoundingMode::Nearest, "4012.25")]
    #[case("7", "5", RoundingMode::Nearest, "5")]
    fn test_price_round_to_tick(
        #[case] v: &str,
        #[case] tick: &str,
        #[case] mode: RoundingMode,
        #[case] want: &str,
    ) {
        assert_eq!(p(v).round_to_tick(p(tick), mode).unwrap().to_string(), want);
    }

    #[test]
    fn test_quantity_round_to_lot_toward_zero() {
        assert_eq!(
            q("0.123456")
                .round_to_lot(q("0.001"), RoundingMode::TowardZero)
                .unwrap()
                .to_string(),
            "0.123"
        );
        assert_eq!(
            q("157.9")
                .round_to_lot(q("1"), RoundingMode::TowardZero)
                .unwrap()
                .to_string(),
            "157"
        );
    }

    #[test]
    fn test_parse_errors_name_input_and_reason() {
        let e = Price::parse("12.3.4").unwrap_err().to_string();
        assert!(e.contains("price") && e.contains("12.3.4"), "{e}");
        let e = Quantity::parse("-1").unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
        let e = Price::parse("0.00000000000000001").unwrap_err().to_string();
        assert!(e.contains("decimal places"), "{e}");
        assert!(Price::parse("NaN").is_err());
        assert!(Price::parse("").is_err());
    }

    #[test]
    fn test_display_keeps_written_scale() {
        assert_eq!(p("1.50").to_string(), "1.50");
        assert_eq!(p("1.50"), p("1.5"));
        assert_eq!(p("1e-4").to_string(), "0.0001");
    }

    #[test]
    fn test_checked_arithmetic_overflows_to_error() {
        let max = Price::new(Decimal::MAX).unwrap();
        assert!(matches!(max.checked_add(p("1")), Err(Error::Overflow(_))));
        assert!(q("1").checked_sub(q("2")).is_err());
        let usd = Currency::new("USD").unwrap();
        let big = Money::new(Decimal::MAX, usd);
        assert!(big.checked_mul(Decimal::TWO).is_err());
    }

    #[test]
    fn test_money_refuses_mixed_currencies() {
        let a = Money::parse("10 USD").unwrap();
        let b = Money::parse("EUR 5").unwrap();
        assert!(matches!(
            a.checked_add(b),
            Err(Error::CurrencyMismatch { .. })
        ));
        assert_eq!(
            a.checked_add(Money::parse("2.5 USD").unwrap())
                .unwrap()
                .to_string(),
            "12.5 USD"
        );
    }

    #[test]
    fn test_notional_with_multiplier() {
        let usd = Currency::new("USD").unwrap();
        let n = p("4012.25")
            .notional(q("2"), Decimal::from(50), usd)
            .unwrap();
        assert_eq!(n.amount, Decimal::from_str_exact("401225.00").unwrap());
    }

    #[test]
    fn test_serde_as_strings() {
        let v = serde_json::to_string(&p("1.50")).unwrap();
        assert_eq!(v, "\"1.50\"");
        let back: Price = serde_json::from_str(&v).unwrap();
        assert_eq!(back.to_string(), "1.50");
        assert!(serde_json::from_str::<Quantity>("\"-2\"").is_err());
    }

    mod property_tests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn test_price_string_round_trip(m in any::<i64>(), scale in 0u32..=MAX_SCALE) {
                let price = Price::from_parts(m, scale).unwrap();
                let back = Price::parse(&price.to_string()).unwrap();
                prop_assert_eq!(back, price);
                prop_assert_eq!(back.to_string(), price.to_string());
            }

            #[test]
            fn test_round_to_tick_lands_on_grid_and_within_half_tick(
                m in -1_000_000_000_000i64..1_000_000_000_000, scale in 0u32..10,
                tick_m in 1i64..10_000, tick_scale in 0u32..8,
            ) {
                let price = Price::from_parts(m, scale).unwrap();
                let tick = Price::from_parts(tick_m, tick_scale).unwrap();
                let r = price.round_to_tick(tick, RoundingMode::Nearest).unwrap();
                prop_assert!(r.is_on_tick(tick));
                let diff = (r.as_decimal() - price.as_decimal()).abs();
                prop_assert!(diff * Decimal::TWO <= tick.as_decimal());
                let down = price.round_to_tick(tick, RoundingMode::Down).unwrap();
                let up = price.round_to_tick(tick, RoundingMode::Up).unwrap();
                prop_assert!(down <= price && price <= up);
                prop_assert!(up.as_decimal() - down.as_decimal() <= tick.as_decimal());
                // Rounding is idempotent.
                prop_assert_eq!(r.round_to_tick(tick, RoundingMode::Nearest).unwrap(), r);
            }

            #[test]
            fn test_round_to_lot_toward_zero_never_grows(m in 0i64..1_000_000_000_000, scale in 0u32..10, lot_m in 1i64..1000, lot_scale in 0u32..8) {
                let qty = Quantity::from_parts(m, scale).unwrap();
                let lot = Quantity::from_parts(lot_m, lot_scale).unwrap();
                let r = qty.round_to_lot(lot, RoundingMode::TowardZero).unwrap();
                prop_assert!(r <= qty && r.is_on_lot(lot));
                prop_assert!(qty.as_decimal() - r.as_decimal() < lot.as_decimal());
            }

            #[test]
            fn test_round_to_whole_lots_equals_the_general_grid_path(m in -1_000_000_000_000i64..1_000_000_000_000, scale in 0u32..10, one_scale in 0u32..4, mode in 0usize..4) {
                // A lot of 1 (written `1`, `1.0`, …) takes a fast path; it must agree with
                // dividing by a step, rounding and multiplying back, scale included.
                let value = Decimal::new(m, scale);
                let one = Decimal::new(10i64.pow(one_scale), one_scale);
                let mode = [RoundingMode::Nearest, RoundingMode::Down, RoundingMode::Up, RoundingMode::TowardZero][mode];
                let fast = round_to_grid("lot size", value, one, mode).unwrap();
                let strategy = match mode {
                    RoundingMode::Nearest => RoundingStrategy::MidpointAwayFromZero,
                    RoundingMode::Down => RoundingStrategy::ToNegativeInfinity,
                    RoundingMode::Up => RoundingStrategy::ToPositiveInfinity,
                    RoundingMode::TowardZero => RoundingStrategy::ToZero,
                };
                let mut general = (value / one).round_dp_with_strategy(0, strategy) * one;
                general.rescale(one.scale().max(general.normalize().scale()));
                prop_assert_eq!(fast, general);
                prop_assert_eq!(fast.scale(), general.scale());
            }

            #[test]
            fn test_money_add_sub_inverse(a in any::<i64>(), b in any::<i64>(), s in 0u32..8) {
                let usd = Currency::new("USD").unwrap();
                let x = Money::new(Decimal::new(a, s), usd);
                let y = Money::new(Decimal::new(b, s), usd);
                let sum = x.checked_add(y).unwrap();
                prop_assert_eq!(sum.checked_sub(y).unwrap().amount, x.amount);
            }
        }
    }
}
