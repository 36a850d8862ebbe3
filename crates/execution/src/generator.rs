//! The strategy order generator: orders from target (optimal) positions and
//! current positions, with a no-trade buffer and a minimum trade size, as
//! pysystemtrade's strategy order generation does.

use rust_decimal::Decimal;
use tessera_model::{
    InstrumentId, OrderRequest, OrderType, Quantity, RoundingMode, Side, StrategyId, TimeInForce,
};

use crate::error::Result;

/// A strategy's wanted position in one instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Whose.
    pub strategy: StrategyId,
    /// In what.
    pub instrument: InstrumentId,
    /// Wanted signed position, in units.
    pub target: Decimal,
    /// Held now (including what working orders will bring, if the caller wants that).
    pub current: Decimal,
    /// Lot size: trades are rounded toward zero to a multiple of it.
    pub lot: Quantity,
}

/// How eagerly to trade toward targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// No trade while `|target − current| ≤ buffer` (units); otherwise trade
    /// only to the near edge of the buffer, which avoids churning on noise.
    pub buffer: Decimal,
    /// Trades smaller than this (units, after rounding) are skipped.
    pub min_trade: Decimal,
}

/// Market orders moving each current position toward its target.
///
/// # Errors
/// [`crate::Error::Model`] when a quantity cannot be represented.
pub fn generate_orders(targets: &[Target], config: GeneratorConfig) -> Result<Vec<OrderRequest>> {
    let mut out = Vec::new();
    for t in targets {
        let gap = t.target - t.current;
        if gap.abs() <= config.buffer {
            continue;
        }
        let edge = if gap > Decimal::ZERO {
            t.target - config.buffer
        } else {
            t.target + config.buffer
        };
        let trade = edge - t.current;
        let qty = Quantity::new(trade.abs())?.round_to_lot(t.lot, RoundingMode::TowardZero)?;
        if qty.is_zero() || qty.as_decimal() < config.min_trade {
            continue;
        }
        out.push(OrderRequest {
            strategy: t.strategy.clone(),
            instrument: t.instrument,
            side: if trade > Decimal::ZERO {
                Side::Buy
            } else {
                Side::Sell
            },
            order_type: OrderType::Market,
            quantity: qty,
            limit_price: None,
            stop_price: None,
            time_in_force: TimeInForce::Day,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(target: i64, current: i64) -> Target {
        Target {
            strategy: StrategyId::new("s").unwrap(),
            instrument: InstrumentId::parse("ES", "cme").unwrap(),
            target: Decimal::from(target),
            current: Decimal::from(current),
            lot: Quantity::parse("1").unwrap(),
        }
    }

    #[test]
    fn test_generate_orders_buffer_and_min_trade() {
        let cfg = GeneratorConfig {
            buffer: Decimal::from(2),
            min_trade: Decimal::from(2),
        };
        assert!(
            generate_orders(&[t(10, 9)], cfg).unwrap().is_empty(),
            "inside the buffer"
        );
        let o = generate_orders(&[t(10, 0)], cfg).unwrap();
        assert_eq!(
            (o[0].side, o[0].quantity.to_string()),
            (Side::Buy, "8".to_string()),
            "to the buffer edge"
        );
        let o = generate_orders(&[t(-10, 5)], cfg).unwrap();
        assert_eq!(
            (o[0].side, o[0].quantity.to_string()),
            (Side::Sell, "13".to_string())
        );
        assert!(
            generate_orders(&[t(13, 10)], cfg).unwrap().is_empty(),
            "trade of 1 below min_trade"
        );
        let none = GeneratorConfig::default();
        assert_eq!(
            generate_orders(&[t(3, 1)], none).unwrap()[0]
                .quantity
                .to_string(),
            "2"
        );
    }
}
