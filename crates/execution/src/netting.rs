//! Netting: strategy orders → instrument orders → broker orders, and fills
//! back up (pysystemtrade's middle stack layer).
//!
//! Several strategies trading one instrument at the same moment should not
//! pay the spread on both sides: [`net`] crosses opposite strategy orders
//! internally (each crossed pair is a fill for both strategies at one
//! reference price, never sent to a broker) and sends only what is left as
//! one instrument order per instrument, remembering how it is allocated to
//! the strategy orders behind it. [`allocate`] rolls a broker fill of an
//! instrument order back up to those strategy orders, first come first
//! filled, so their fills always add up to the broker's.
//!
//! Pure functions over market-order quantities; the venue decides when a
//! batch of strategy orders is netted (`TradingVenue` batches one event's
//! market orders when several strategies share the account) and
//! [`crate::netted`] stores and sends the result.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use tessera_model::{ClientOrderId, InstrumentId, Quantity, Side, StrategyId};

use crate::error::Result;

/// A strategy's market order, before netting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrategyOrder {
    /// The strategy order's id.
    pub id: ClientOrderId,
    /// Who asks.
    pub strategy: StrategyId,
    /// What.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// How much; positive.
    pub quantity: Quantity,
}

/// The part of an instrument order that belongs to one strategy order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The strategy order.
    pub id: ClientOrderId,
    /// Its share of the instrument order.
    pub quantity: Quantity,
}

/// One order per instrument: what is left after crossing, for the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentOrder {
    /// What.
    pub instrument: InstrumentId,
    /// Direction of the net.
    pub side: Side,
    /// Net quantity; the sum of the allocations.
    pub quantity: Quantity,
    /// Strategy orders behind it, in arrival order.
    pub allocations: Vec<Allocation>,
}

/// Two strategy orders matched internally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossed {
    /// What.
    pub instrument: InstrumentId,
    /// The buying strategy order.
    pub buy: ClientOrderId,
    /// The selling strategy order.
    pub sell: ClientOrderId,
    /// Quantity matched.
    pub quantity: Quantity,
}

/// The result of [`net`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NettingPlan {
    /// Orders for the broker, one per instrument with a non-zero net, by instrument.
    pub instrument_orders: Vec<InstrumentOrder>,
    /// Internal matches, filled at a reference price without a broker.
    pub crossed: Vec<Crossed>,
}

/// Strategy orders of one side waiting to be matched: (id, units left).
type Queue = Vec<(ClientOrderId, Decimal)>;

/// Net `orders`: cross opposite sides per instrument (first come first
/// matched) and gather the rest into one instrument order per instrument.
///
/// # Errors
/// [`crate::Error::Model`] when a quantity does not fit the domain type.
pub fn net(orders: &[StrategyOrder]) -> Result<NettingPlan> {
    let mut by_instrument: BTreeMap<InstrumentId, (Queue, Queue)> = BTreeMap::new();
    for o in orders {
        let e = by_instrument.entry(o.instrument).or_default();
        let side = if o.side == Side::Buy {
            &mut e.0
        } else {
            &mut e.1
        };
        side.push((o.id.clone(), o.quantity.as_decimal()));
    }
    let mut plan = NettingPlan::default();
    for (instrument, (mut buys, mut sells)) in by_instrument {
        let (mut b, mut s) = (0, 0);
        while b < buys.len() && s < sells.len() {
            let q = buys[b].1.min(sells[s].1);
            if q > Decimal::ZERO {
                plan.crossed.push(Crossed {
                    instrument,
                    buy: buys[b].0.clone(),
                    sell: sells[s].0.clone(),
                    quantity: Quantity::new(q)?,
                });
            }
            buys[b].1 -= q;
            sells[s].1 -= q;
            if buys[b].1.is_zero() {
                b += 1;
            }
            if sells[s].1.is_zero() {
                s += 1;
            }
        }
        let (side, rest) = if b < buys.len() {
            (Side::Buy, &buys[b..])
        } else {
            (Side::Sell, &sells[s.min(sells.len())..])
        };
        let allocations: Vec<Allocation> = rest
            .iter()
            .filter(|(_, q)| *q > Decimal::ZERO)
            .map(|(id, q)| {
                Ok(Allocation {
                    id: id.clone(),
                    quantity: Quantity::new(*q)?,
                })
            })
            .collect::<Result<_>>()?;
        if allocations.is_empty() {
            continue;
        }
        let total: Decimal = allocations.iter().map(|a| a.quantity.as_decimal()).sum();
        plan.instrument_orders.push(InstrumentOrder {
            instrument,
            side,
            quantity: Quantity::new(total)?,
            allocations,
        });
    }
    Ok(plan)
}

/// Roll a broker fill of `order` back up: `fill` more units are shared out
/// over the allocations in order, each up to what it still lacks given
/// `filled` (units each strategy order already received from this
/// instrument order). Returns (strategy order, units) for this fill; their
/// sum is `fill`, or less when the fill exceeds the order (the excess is
/// not attributed).
///
/// # Errors
/// [`crate::Error::Model`] when a quantity does not fit the domain type.
pub fn allocate(
    order: &InstrumentOrder,
    filled: &BTreeMap<ClientOrderId, Quantity>,
    fill: Quantity,
) -> Result<Vec<(ClientOrderId, Quantity)>> {
    let mut left = fill.as_decimal();
    let mut out = Vec::new();
    for a in &order.allocations {
        if left <= Decimal::ZERO {
            break;
        }
        let have = filled.get(&a.id).map_or(Decimal::ZERO, |q| q.as_decimal());
        let lacks = (a.quantity.as_decimal() - have).max(Decimal::ZERO);
        let q = lacks.min(left);
        if q > Decimal::ZERO {
            out.push((a.id.clone(), Quantity::new(q)?));
            left -= q;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(id: &str, strategy: &str, sym: &str, side: Side, q: i64) -> StrategyOrder {
        StrategyOrder {
            id: ClientOrderId::new(id).unwrap(),
            strategy: StrategyId::new(strategy).unwrap(),
            instrument: InstrumentId::parse(sym, "alpaca").unwrap(),
            side,
            quantity: Quantity::new(Decimal::from(q)).unwrap(),
        }
    }

    fn q(n: i64) -> Quantity {
        Quantity::new(Decimal::from(n)).unwrap()
    }

    #[test]
    fn test_net_crosses_opposite_strategies_and_sends_the_rest() {
        let plan = net(&[
            o("a1", "a", "AAPL", Side::Buy, 10),
            o("b1", "b", "AAPL", Side::Sell, 4),
            o("c1", "c", "AAPL", Side::Buy, 3),
            o("a2", "a", "MSFT", Side::Sell, 5),
        ])
        .unwrap();
        assert_eq!(plan.crossed.len(), 1);
        assert_eq!(plan.crossed[0].quantity, q(4));
        assert_eq!(plan.instrument_orders.len(), 2);
        let aapl = &plan.instrument_orders[0];
        assert_eq!((aapl.side, aapl.quantity), (Side::Buy, q(9)));
        assert_eq!(
            aapl.allocations
                .iter()
                .map(|a| (a.id.as_str(), a.quantity))
                .collect::<Vec<_>>(),
            vec![("a1", q(6)), ("c1", q(3))]
        );
        assert_eq!(plan.instrument_orders[1].side, Side::Sell);
        // Fills roll back up first come first filled.
        let mut filled = BTreeMap::new();
        let first = allocate(aapl, &filled, q(7)).unwrap();
        assert_eq!(
            first,
            vec![
                (ClientOrderId::new("a1").unwrap(), q(6)),
                (ClientOrderId::new("c1").unwrap(), q(1))
            ]
        );
        for (id, n) in first {
            filled.insert(id, n);
        }
        let second = allocate(aapl, &filled, q(2)).unwrap();
        assert_eq!(second, vec![(ClientOrderId::new("c1").unwrap(), q(2))]);
    }

    #[test]
    fn test_net_fully_offsetting_sends_nothing() {
        let plan = net(&[
            o("a1", "a", "AAPL", Side::Buy, 5),
            o("b1", "b", "AAPL", Side::Sell, 5),
        ])
        .unwrap();
        assert!(plan.instrument_orders.is_empty());
        assert_eq!(plan.crossed.len(), 1);
    }
}

#[cfg(test)]
mod property_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Per instrument: crossed buys equal crossed sells, and strategy
        /// buys − sells equal the instrument order's signed quantity; every
        /// strategy unit is either crossed or allocated exactly once; a full
        /// fill rolls up to exactly the allocations.
        #[test]
        fn prop_netting_conserves_quantity(raw in proptest::collection::vec((0u8..3, any::<bool>(), 1i64..50), 0..30)) {
            let orders: Vec<StrategyOrder> = raw
                .iter()
                .enumerate()
                .map(|(k, (inst, buy, n))| StrategyOrder {
                    id: ClientOrderId::new(&format!("o{k}")).unwrap(),
                    strategy: StrategyId::new(&format!("s{}", k % 4)).unwrap(),
                    instrument: InstrumentId::parse(&format!("I{inst}"), "v").unwrap(),
                    side: if *buy { Side::Buy } else { Side::Sell },
                    quantity: Quantity::new(Decimal::from(*n)).unwrap(),
                })
                .collect();
            let plan = net(&orders).unwrap();
            let mut per_order: BTreeMap<ClientOrderId, Decimal> = BTreeMap::new();
            for c in &plan.crossed {
                *per_order.entry(c.buy.clone()).or_default() += c.quantity.as_decimal();
                *per_order.entry(c.sell.clone()).or_default() += c.quantity.as_decimal();
            }
            for io in &plan.instrument_orders {
                let sum: Decimal = io.allocations.iter().map(|a| a.quantity.as_decimal()).sum();
                prop_assert_eq!(sum, io.quantity.as_decimal());
                for a in &io.allocations {
                    *per_order.entry(a.id.clone()).or_default() += a.quantity.as_decimal();
                }
                let rolled = allocate(io, &BTreeMap::new(), io.quantity).unwrap();
                let back: Decimal = rolled.iter().map(|(_, q)| q.as_decimal()).sum();
                prop_assert_eq!(back, io.quantity.as_decimal());
            }
            for o in &orders {
                prop_assert_eq!(per_order.get(&o.id).copied().unwrap_or_default(), o.quantity.as_decimal());
            }
            let mut net_by: BTreeMap<InstrumentId, Decimal> = BTreeMap::new();
            for o in &orders {
                *net_by.entry(o.instrument).or_default() += o.side.sign() * o.quantity.as_decimal();
            }
            for (inst, n) in net_by {
                let sent: Decimal = plan
                    .instrument_orders
                    .iter()
                    .filter(|io| io.instrument == inst)
                    .map(|io| io.side.sign() * io.quantity.as_decimal())
                    .sum();
                prop_assert_eq!(sent, n);
            }
        }
    }
}
