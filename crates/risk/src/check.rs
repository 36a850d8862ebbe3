//! [`RiskEngine::check`]: the pre-trade checks, and the [`RiskApproved`] proof.

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{OrderRequest, OrderType, Price, Side};

use crate::error::{Error, Result};
use crate::limits::RiskLimits;

/// A value that passed the risk checks. Only [`RiskEngine::check`] makes one,
/// so holding a `RiskApproved<OrderRequest>` proves the checks ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskApproved<T>(T);

impl<T> RiskApproved<T> {
    /// The approved value.
    #[must_use]
    pub fn inner(&self) -> &T {
        &self.0
    }

    /// Give up the proof and take the value.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// What the checks need to know at the moment an order is asked for.
///
/// Working quantities are the unfilled remainders of orders still open, by
/// side: the position checks assume, in the worst case, that every working
/// order on the same side fills too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskState {
    /// Now (from the engine's clock).
    pub now: UnixNanos,
    /// Whether the kill switch is on.
    pub kill_switch: bool,
    /// Why trading in the instrument is halted, if it is.
    pub halted: Option<String>,
    /// Last traded or mid price of the instrument.
    pub last_price: Option<Price>,
    /// Contract multiplier of the instrument (1 for spot).
    pub multiplier: Decimal,
    /// Net position of all strategies in the instrument, in units.
    pub instrument_position: Decimal,
    /// This strategy's position in the instrument.
    pub strategy_position: Decimal,
    /// Unfilled buy quantity working in the instrument (all strategies).
    pub instrument_working_buy: Decimal,
    /// Unfilled sell quantity working in the instrument (all strategies).
    pub instrument_working_sell: Decimal,
    /// Unfilled buy quantity this strategy has working in the instrument.
    pub strategy_working_buy: Decimal,
    /// Unfilled sell quantity this strategy has working in the instrument.
    pub strategy_working_sell: Decimal,
    /// Orders working across the account.
    pub open_orders: usize,
    /// This strategy's P&L today (realised + unrealised, after costs).
    pub strategy_daily_pnl: Decimal,
    /// The account's P&L today.
    pub account_daily_pnl: Decimal,
}

/// The limits and the checks.
#[derive(Clone, Debug, Default)]
pub struct RiskEngine {
    limits: RiskLimits,
}

fn worst_case(
    position: Decimal,
    working_buy: Decimal,
    working_sell: Decimal,
    side: Side,
    qty: Decimal,
) -> Decimal {
    match side {
        Side::Buy => position + working_buy + qty,
        Side::Sell => position - working_sell - qty,
    }
}

impl RiskEngine {
    /// An engine enforcing `limits`.
    ///
    /// # Errors
    /// [`Error::Config`] for a non-positive limit.
    pub fn new(limits: RiskLimits) -> Result<Self> {
        limits.validate()?;
        Ok(Self { limits })
    }

    /// The limits.
    #[must_use]
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// Run every check on `request`; approve it or say which limit refused it.
    ///
    /// Order of checks: kill switch, halt, validity, trading hours, open orders,
    /// order size, price collar, positions, daily loss.
    ///
    /// # Errors
    /// The first [`Error`] that applies.
    pub fn check(
        &self,
        request: OrderRequest,
        state: &RiskState,
    ) -> Result<RiskApproved<OrderRequest>> {
        let l = &self.limits;
        if state.kill_switch {
            return Err(Error::KillSwitch);
        }
        if let Some(reason) = &state.halted {
            return Err(Error::Halted {
                instrument: request.instrument.to_string(),
                reason: reason.clone(),
            });
        }
        request
            .validate()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        if let Some(h) = l.trading_hours
            && !h.contains(state.now.0)
        {
            return Err(Error::TradingHours(format!(
                "{:02}:{:02}-{:02}:{:02} UTC{}",
                h.start_minute / 60,
                h.start_minute % 60,
                h.end_minute / 60,
                h.end_minute % 60,
                if h.weekdays_only { " weekdays" } else { "" }
            )));
        }
        if let Some(limit) = l.max_open_orders
            && state.open_orders >= limit
        {
            return Err(Error::OpenOrders {
                open: state.open_orders,
                limit,
            });
        }
        let qty = request.quantity.as_decimal();
        if let Some(limit) = l.max_order_quantity
            && qty > limit
        {
            return Err(Error::OrderQuantity {
                quantity: qty,
                limit,
            });
        }
        let needs_price = l.max_order_notional.is_some() || l.price_collar_pct.is_some();
        let order_price = match request.order_type {
            OrderType::Limit | OrderType::StopLimit => request.limit_price,
            OrderType::Stop => request.stop_price,
            OrderType::Market => None,
        };
        let last = state.last_price.map(|p| p.as_decimal());
        if needs_price
            && last.is_none()
            && (request.order_type == OrderType::Market || l.price_collar_pct.is_some())
        {
            return Err(Error::NoPrice(request.instrument.to_string()));
        }
        if let Some(limit) = l.max_order_notional {
            // The worse of the order's own price and the last price values it.
            let px = match (order_price.map(|p| p.as_decimal()), last) {
                (Some(a), Some(b)) => a.max(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => return Err(Error::NoPrice(request.instrument.to_string())),
            };
            let mult = if state.multiplier.is_zero() {
                Decimal::ONE
            } else {
                state.multiplier
            };
            let notional = qty * px * mult;
            if notional > limit {
                return Err(Error::OrderNotional { notional, limit });
            }
        }
        if let (Some(limit_pct), Some(last)) = (l.price_collar_pct, last) {
            let prices = [request.limit_price, request.stop_price];
            for p in prices.into_iter().flatten() {
                let p = p.as_decimal();
                if last > Decimal::ZERO {
                    let dev = ((p - last).abs() / last * Decimal::ONE_HUNDRED).round_dp(4);
                    if dev > limit_pct {
                        return Err(Error::Collar {
                            price: p,
                            last,
                            deviation_pct: dev,
                            limit_pct,
                        });
                    }
                }
            }
        }
        let side = request.side;
        if let Some(limit) = l.max_position_per_instrument {
            let projected = worst_case(
                state.instrument_position,
                state.instrument_working_buy,
                state.instrument_working_sell,
                side,
                qty,
            );
            if projected.abs() > limit {
                return Err(Error::Position {
                    scope: "instrument",
                    projected,
                    limit,
                });
            }
        }
        if let Some(limit) = l.max_position_per_strategy {
            let projected = worst_case(
                state.strategy_position,
                state.strategy_working_buy,
                state.strategy_working_sell,
                side,
                qty,
            );
            if projected.abs() > limit {
                return Err(Error::Position {
                    scope: "strategy",
                    projected,
                    limit,
                });
            }
        }
        // After a loss limit only orders that shrink the strategy's position (without flipping it) pass.
        let reduces = state.strategy_position * side.sign() < Decimal::ZERO
            && qty <= state.strategy_position.abs();
        for (scope, pnl, limit) in [
            (
                "strategy",
                state.strategy_daily_pnl,
                l.max_daily_loss_per_strategy,
            ),
            ("account", state.account_daily_pnl, l.max_daily_loss_account),
        ] {
            if let Some(limit) = limit
                && -pnl >= limit
                && !reduces
            {
                return Err(Error::DailyLoss {
                    scope,
                    loss: -pnl,
                    limit,
                });
            }
        }
        Ok(RiskApproved(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_model::{InstrumentId, Quantity, StrategyId, TimeInForce};

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn req(side: Side, qty: &str, limit: Option<&str>) -> OrderRequest {
        OrderRequest {
            strategy: StrategyId::new("s").unwrap(),
            instrument: InstrumentId::parse("BTCUSDT", "sim").unwrap(),
            side,
            order_type: if limit.is_some() {
                OrderType::Limit
            } else {
                OrderType::Market
            },
            quantity: Quantity::parse(qty).unwrap(),
            limit_price: limit.map(|p| Price::parse(p).unwrap()),
            stop_price: None,
            time_in_force: TimeInForce::Gtc,
        }
    }

    fn state() -> RiskState {
        RiskState {
            last_price: Some(Price::parse("100").unwrap()),
            multiplier: Decimal::ONE,
            ..RiskState::default()
        }
    }

    #[test]
    fn test_check_each_limit() {
        let engine = RiskEngine::new(RiskLimits {
            max_order_quantity: Some(d("10")),
            max_order_notional: Some(d("900")),
            max_position_per_instrument: Some(d("20")),
            max_position_per_strategy: Some(d("15")),
            max_open_orders: Some(3),
            price_collar_pct: Some(d("5")),
            max_daily_loss_per_strategy: Some(d("50")),
            max_daily_loss_account: Some(d("80")),
            trading_hours: None,
        })
        .unwrap();
        let s = state();
        assert!(engine.check(req(Side::Buy, "5", None), &s).is_ok());
        assert!(matches!(
            engine.check(req(Side::Buy, "11", None), &s),
            Err(Error::OrderQuantity { .. })
        ));
        assert!(matches!(
            engine.check(req(Side::Buy, "9.5", None), &s),
            Err(Error::OrderNotional { .. })
        ));
        assert!(matches!(
            engine.check(req(Side::Buy, "1", Some("106")), &s),
            Err(Error::Collar { .. })
        ));
        assert!(engine.check(req(Side::Buy, "1", Some("104")), &s).is_ok());
        let busy = RiskState {
            open_orders: 3,
            ..state()
        };
        assert!(matches!(
            engine.check(req(Side::Buy, "1", None), &busy),
            Err(Error::OpenOrders { .. })
        ));
        let long = RiskState {
            strategy_position: d("10"),
            instrument_position: d("10"),
            strategy_working_buy: d("2"),
            ..state()
        };
        assert!(matches!(
            engine.check(req(Side::Buy, "4", None), &long),
            Err(Error::Position {
                scope: "strategy",
                ..
            })
        ));
        let crowded = RiskState {
            instrument_position: d("18"),
            ..state()
        };
        assert!(matches!(
            engine.check(req(Side::Buy, "3", None), &crowded),
            Err(Error::Position {
                scope: "instrument",
                ..
            })
        ));
        let losing = RiskState {
            strategy_position: d("4"),
            strategy_daily_pnl: d("-60"),
            ..state()
        };
        assert!(matches!(
            engine.check(req(Side::Buy, "1", None), &losing),
            Err(Error::DailyLoss {
                scope: "strategy",
                ..
            })
        ));
        assert!(
            engine.check(req(Side::Sell, "4", None), &losing).is_ok(),
            "reducing passes"
        );
        assert!(
            engine.check(req(Side::Sell, "5", None), &losing).is_err(),
            "flipping does not"
        );
        let killed = RiskState {
            kill_switch: true,
            ..state()
        };
        assert_eq!(
            engine.check(req(Side::Sell, "1", None), &killed),
            Err(Error::KillSwitch)
        );
        let halted = RiskState {
            halted: Some("reconciliation".into()),
            ..state()
        };
        assert!(matches!(
            engine.check(req(Side::Sell, "1", None), &halted),
            Err(Error::Halted { .. })
        ));
        let blind = RiskState {
            last_price: None,
            ..state()
        };
        assert!(matches!(
            engine.check(req(Side::Buy, "1", None), &blind),
            Err(Error::NoPrice(_))
        ));
        assert!(
            RiskEngine::new(RiskLimits {
                max_order_quantity: Some(Decimal::ZERO),
                ..RiskLimits::default()
            })
            .is_err()
        );
    }
}

#[cfg(test)]
mod property_tests {
    use super::*;
    use proptest::prelude::*;
    use tessera_model::{InstrumentId, Quantity, StrategyId, TimeInForce};

    #[derive(Clone, Debug)]
    struct Step {
        strategy: usize,
        buy: bool,
        qty: u32,
        limit_offset_pct: Option<i32>,
        price_move: i32,
        fill: bool,
        kill: bool,
    }

    fn step() -> impl Strategy<Value = Step> {
        (
            0usize..3,
            any::<bool>(),
            1u32..40,
            proptest::option::of(-15i32..15),
            -5i32..6,
            any::<bool>(),
            proptest::bool::weighted(0.05),
        )
            .prop_map(
                |(strategy, buy, qty, limit_offset_pct, price_move, fill, kill)| Step {
                    strategy,
                    buy,
                    qty,
                    limit_offset_pct,
                    price_move,
                    fill,
                    kill,
                },
            )
    }

    proptest! {
        /// A random stream of orders, fills and price moves: every approved order
        /// respects every limit, even if all working orders then fill.
        #[test]
        fn test_random_streams_never_pass_a_limit(steps in proptest::collection::vec(step(), 1..200)) {
            let limits = RiskLimits {
                max_order_quantity: Some(Decimal::from(25)),
                max_order_notional: Some(Decimal::from(2_500)),
                max_position_per_instrument: Some(Decimal::from(60)),
                max_position_per_strategy: Some(Decimal::from(30)),
                max_open_orders: Some(5),
                price_collar_pct: Some(Decimal::from(10)),
                max_daily_loss_per_strategy: Some(Decimal::from(300)),
                max_daily_loss_account: Some(Decimal::from(500)),
                trading_hours: None,
            };
            let engine = RiskEngine::new(limits.clone()).unwrap();
            let inst = InstrumentId::parse("X", "sim").unwrap();
            let mut price = Decimal::from(100);
            let mut pos = [Decimal::ZERO; 3];
            let mut cost = [Decimal::ZERO; 3];
            // Working orders: (strategy, signed qty).
            let mut working: Vec<(usize, Decimal)> = Vec::new();
            let mut kill = false;
            for st in steps {
                price = (price + Decimal::from(st.price_move)).max(Decimal::from(50));
                if st.kill { kill = !kill; }
                let pnl: Vec<Decimal> = (0..3).map(|s| pos[s] * price - cost[s]).collect();
                let s = st.strategy;
                let wb = |f: &dyn Fn(usize) -> bool, buy: bool| -> Decimal {
                    working.iter().filter(|(o, q)| f(*o) && (*q > Decimal::ZERO) == buy).map(|(_, q)| q.abs()).sum()
                };
                let state = RiskState {
                    now: UnixNanos(0),
                    kill_switch: kill,
                    halted: None,
                    last_price: Some(Price::new(price).unwrap()),
                    multiplier: Decimal::ONE,
                    instrument_position: pos.iter().sum(),
                    strategy_position: pos[s],
                    instrument_working_buy: wb(&|_| true, true),
                    instrument_working_sell: wb(&|_| true, false),
                    strategy_working_buy: wb(&|o| o == s, true),
                    strategy_working_sell: wb(&|o| o == s, false),
                    open_orders: working.len(),
                    strategy_daily_pnl: pnl[s],
                    account_daily_pnl: pnl.iter().sum(),
                };
                let limit_price = st.limit_offset_pct.map(|o| Price::new((price * Decimal::from(100 + o) / Decimal::ONE_HUNDRED).round_dp(2)).unwrap());
                let request = OrderRequest {
                    strategy: StrategyId::new(&format!("s{s}")).unwrap(),
                    instrument: inst,
                    side: if st.buy { Side::Buy } else { Side::Sell },
                    order_type: if limit_price.is_some() { OrderType::Limit } else { OrderType::Market },
                    quantity: Quantity::new(Decimal::from(st.qty)).unwrap(),
                    limit_price,
                    stop_price: None,
                    time_in_force: TimeInForce::Gtc,
                };
                if let Ok(approved) = engine.check(request, &state) {
                    let r = approved.inner();
                    let q = r.quantity.as_decimal();
                    prop_assert!(!kill);
                    prop_assert!(q <= limits.max_order_quantity.unwrap());
                    prop_assert!(q * r.limit_price.map_or(price, |p| p.as_decimal().max(price)) <= limits.max_order_notional.unwrap());
                    prop_assert!(working.len() < limits.max_open_orders.unwrap());
                    if let Some(lp) = r.limit_price {
                        prop_assert!((lp.as_decimal() - price).abs() / price * Decimal::ONE_HUNDRED <= Decimal::from(10) + Decimal::new(1, 4));
                    }
                    working.push((s, r.side.sign() * q));
                    // Worst case: every working order fills.
                    let strat_worst_long: Decimal = pos[s] + working.iter().filter(|(o, q)| *o == s && *q > Decimal::ZERO).map(|(_, q)| *q).sum::<Decimal>();
                    let strat_worst_short: Decimal = pos[s] + working.iter().filter(|(o, q)| *o == s && *q < Decimal::ZERO).map(|(_, q)| *q).sum::<Decimal>();
                    prop_assert!(strat_worst_long.abs() <= Decimal::from(30) && strat_worst_short.abs() <= Decimal::from(30));
                    let total: Decimal = pos.iter().sum();
                    let inst_long = total + working.iter().filter(|(_, q)| *q > Decimal::ZERO).map(|(_, q)| *q).sum::<Decimal>();
                    let inst_short = total + working.iter().filter(|(_, q)| *q < Decimal::ZERO).map(|(_, q)| *q).sum::<Decimal>();
                    prop_assert!(inst_long.abs() <= Decimal::from(60) && inst_short.abs() <= Decimal::from(60));
                    if -pnl[s] >= Decimal::from(300) || -pnl.iter().sum::<Decimal>() >= Decimal::from(500) {
                        prop_assert!(state.strategy_position * r.side.sign() < Decimal::ZERO && q <= state.strategy_position.abs());
                    }
                }
                if st.fill && !working.is_empty() {
                    let (o, q) = working.remove(0);
                    pos[o] += q;
                    cost[o] += q * price;
                }
            }
        }
    }
}
