//! The simulated market's price process: deterministic per (seed, symbol, minute).
//!
//! Two layers, so any minute can be produced without replaying all history:
//!
//! * **Daily anchors** from [`ORIGIN`]: log price at each midnight, following
//!   regimes (trend up, trend down, mean reversion) that switch at random, with a
//!   daily volatility whose logarithm is AR(1) (persistent calm and stormy days).
//! * **Minutes of one day**: GARCH(1,1) returns (volatility clustering) scaled
//!   by an intraday activity curve, then bent into a bridge that ends exactly at
//!   the next day's anchor, so days join without a jump. Highs and lows
//!   extend past open and close in proportion to the minute's volatility;
//!   volume follows the activity curve and rises with the size of the move.
//!
//! Prices are rounded to the tick (highs up, lows down) after the path is built,
//! so OHLC invariants hold exactly. Quotes straddle the path with a spread that
//! widens with the minute's volatility.

use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{Bar, InstrumentId, Interval, Price, Quantity, Quote, RoundingMode};

/// Midnight from which daily anchors are built (2020-01-01T00:00:00Z).
pub const ORIGIN: UnixNanos = UnixNanos(1_577_836_800_000_000_000);
/// Nanoseconds per day.
const DAY: i64 = 86_400_000_000_000;
/// Nanoseconds per minute.
const MINUTE: i64 = 60_000_000_000;
/// Minutes per day.
const MINUTES: usize = 1_440;
/// Quote updates per minute (one every 10 s).
pub const QUOTES_PER_MINUTE: i64 = 6;

/// GARCH(1,1) reaction to the last shock.
const ALPHA: f64 = 0.08;
/// GARCH(1,1) persistence.
const BETA: f64 = 0.90;

/// Static description of one simulated symbol.
#[derive(Clone, Debug)]
pub struct SymbolParams {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Price at the origin.
    pub start_price: f64,
    /// Price grid.
    pub tick: Price,
    /// Volume grid.
    pub lot: Quantity,
    /// Mean volume per minute at average activity.
    pub base_volume: f64,
    /// Long-run daily volatility (fraction).
    pub daily_vol: f64,
    /// Typical half-spread in basis points at average volatility.
    pub spread_bps: f64,
    seed: u64,
}

/// Mix two values into a seed (SplitMix64 finaliser).
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash_str(s: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn normal(rng: &mut impl Rng) -> f64 {
    // Box–Muller; 1 - u keeps the logarithm finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl SymbolParams {
    /// Parameters for `instrument` under `seed`: the same pair always gives the same market.
    #[must_use]
    pub fn new(instrument: InstrumentId, seed: u64) -> Self {
        let s = mix(seed, hash_str(instrument.symbol.as_str()));
        let mut rng = ChaCha8Rng::seed_from_u64(s);
        // Log-uniform between 20 and 5,000.
        let start_price = (20f64.ln() + rng.random::<f64>() * (5_000f64.ln() - 20f64.ln())).exp();
        Self {
            instrument,
            start_price,
            tick: Price::from_parts(1, 2).expect("0.01"),
            lot: Quantity::from_parts(1, 3).expect("0.001"),
            base_volume: 5.0 + rng.random::<f64>() * 50.0,
            daily_vol: 0.015 + rng.random::<f64>() * 0.025,
            spread_bps: 0.5 + rng.random::<f64>() * 2.0,
            seed: s,
        }
    }
}

/// Regime of the daily anchor process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Regime {
    Up,
    Down,
    MeanRevert,
}

/// State at one midnight.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    log_price: f64,
    daily_vol: f64,
}

/// One day of minutes, before rounding.
#[derive(Clone, Debug)]
struct DayPath {
    day: i64,
    /// Per minute: open, high, low, close, volume, sigma (per-minute volatility).
    minutes: Vec<[f64; 6]>,
}

/// The generator for one symbol, caching anchors and the last day built.
#[derive(Debug)]
pub struct SymbolModel {
    params: SymbolParams,
    anchors: Vec<Anchor>,
    regime: Regime,
    cache: Option<DayPath>,
}

/// Activity (volatility and volume) multiplier by minute of the UTC day:
/// quiet in the Asian night, busiest at the US open, a smaller European bump.
fn activity(minute_of_day: usize) -> f64 {
    let h = minute_of_day as f64 / 60.0;
    let bump = |centre: f64, width: f64| (-((h - centre) / width).powi(2)).exp();
    0.55 + 0.9 * bump(14.5, 2.0) + 0.4 * bump(8.0, 1.5) + 0.3 * bump(20.0, 2.5)
}

impl SymbolModel {
    /// A model for `params`.
    #[must_use]
    pub fn new(params: SymbolParams) -> Self {
        let first = Anchor {
            log_price: params.start_price.ln(),
            daily_vol: params.daily_vol,
        };
        Self {
            params,
            anchors: vec![first],
            regime: Regime::MeanRevert,
            cache: None,
        }
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &SymbolParams {
        &self.params
    }

    fn anchor(&mut self, day: i64) -> Anchor {
        let day = usize::try_from(day.max(0)).unwrap_or(0);
        while self.anchors.len() <= day {
            let d = self.anchors.len() as u64;
            let prev = self.anchors[self.anchors.len() - 1];
            let mut rng = ChaCha8Rng::seed_from_u64(mix(self.params.seed, d ^ 0xDA11));
            if rng.random::<f64>() < 0.06 {
                self.regime = match rng.random_range(0..3) {
                    0 => Regime::Up,
                    1 => Regime::Down,
                    _ => Regime::MeanRevert,
                };
            }
            let vol = prev.daily_vol;
            let drift = match self.regime {
                Regime::Up => 0.25 * vol,
                Regime::Down => -0.25 * vol,
                Regime::MeanRevert => -0.15 * (prev.log_price - self.params.start_price.ln()),
            };
            let log_price = prev.log_price + drift + vol * normal(&mut rng);
            let mu = self.params.daily_vol.ln();
            let log_vol = mu + 0.85 * (vol.ln() - mu) + 0.25 * normal(&mut rng);
            self.anchors.push(Anchor {
                log_price,
                daily_vol: log_vol.exp().clamp(0.003, 0.2),
            });
        }
        self.anchors[day]
    }

    fn day_path(&mut self, day: i64) -> &DayPath {
        if self.cache.as_ref().is_some_and(|c| c.day == day) {
            return self.cache.as_ref().expect("checked");
        }
        let a = self.anchor(day);
        let b = self.anchor(day + 1);
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.params.seed, (day as u64) ^ 0x1D_A7));
        let base_var = a.daily_vol * a.daily_vol / MINUTES as f64;
        let omega = base_var * (1.0 - ALPHA - BETA);
        let mut var = base_var;
        let mut returns = Vec::with_capacity(MINUTES);
        let mut sigmas = Vec::with_capacity(MINUTES);
        let mut last_shock = 0.0f64;
        for m in 0..MINUTES {
            var = omega + ALPHA * last_shock * last_shock + BETA * var;
            let sigma = (var * activity(m)).sqrt();
            let r = sigma * normal(&mut rng);
            last_shock = r;
            returns.push(r);
            sigmas.push(sigma);
        }
        // Bridge: spread the difference to the next anchor evenly over the day.
        let total: f64 = returns.iter().sum();
        let adjust = (b.log_price - a.log_price - total) / MINUTES as f64;
        let mut log_p = a.log_price;
        let mut minutes = Vec::with_capacity(MINUTES);
        for m in 0..MINUTES {
            let open = log_p.exp();
            log_p += returns[m] + adjust;
            let close = log_p.exp();
            let sigma = sigmas[m];
            let high = open.max(close) * (sigma * 0.6 * normal(&mut rng).abs()).exp();
            let low = open.min(close) * (-sigma * 0.6 * normal(&mut rng).abs()).exp();
            let surprise = (returns[m].abs() / base_var.sqrt()).min(10.0);
            let volume = self.params.base_volume
                * activity(m)
                * (0.5 + 0.5 * surprise)
                * (0.5 * normal(&mut rng) - 0.125).exp();
            minutes.push([open, high, low, close, volume, sigma]);
        }
        self.cache = Some(DayPath { day, minutes });
        self.cache.as_ref().expect("just set")
    }

    fn minute_values(&mut self, open_time: UnixNanos) -> [f64; 6] {
        let since = open_time.0 - ORIGIN.0;
        let day = since.div_euclid(DAY);
        let m = usize::try_from(since.rem_euclid(DAY) / MINUTE).unwrap_or(0);
        self.day_path(day).minutes[m]
    }

    fn price(&self, v: f64, mode: RoundingMode) -> Price {
        let d = Decimal::from_f64_retain(v).unwrap_or(Decimal::ONE);
        let p = Price::new(d.round_dp(8)).unwrap_or(self.params.tick);
        let p = p
            .round_to_tick(self.params.tick, mode)
            .unwrap_or(self.params.tick);
        // Never below one tick: a simulated price stays positive.
        if p.as_decimal() < self.params.tick.as_decimal() {
            self.params.tick
        } else {
            p.with_scale(self.params.tick.scale())
        }
    }

    /// The one-minute candle opening at `open_time` (must be minute-aligned).
    #[must_use]
    pub fn bar(&mut self, open_time: UnixNanos) -> Bar {
        let [o, h, l, c, v, _] = self.minute_values(open_time);
        let open = self.price(o, RoundingMode::Nearest);
        let close = self.price(c, RoundingMode::Nearest);
        let high = self.price(h, RoundingMode::Up).max(open).max(close);
        let low = self.price(l, RoundingMode::Down).min(open).min(close);
        let volume = Quantity::new(Decimal::from_f64_retain(v).unwrap_or_default().round_dp(8))
            .unwrap_or(Quantity::ZERO)
            .round_to_lot(self.params.lot, RoundingMode::Nearest)
            .unwrap_or(Quantity::ZERO);
        let trades = (v * 7.3).round() as u64;
        Bar {
            instrument: self.params.instrument,
            interval: Interval::M1,
            open_time,
            open,
            high,
            low,
            close,
            volume: volume.with_scale(self.params.lot.scale()),
            trade_count: Some(trades),
            quote_volume: None,
        }
    }

    /// The top of book at quote slot `k` (0..[`QUOTES_PER_MINUTE`]) of the minute opening at `minute`.
    #[must_use]
    pub fn quote(&mut self, minute: UnixNanos, k: i64) -> Quote {
        let bar = self.bar(minute);
        let [_, _, _, _, _, sigma] = self.minute_values(minute);
        let mut rng = ChaCha8Rng::seed_from_u64(mix(
            self.params.seed,
            (minute.0 as u64) ^ (k as u64) ^ 0x9007,
        ));
        let frac = (k + 1) as f64 / QUOTES_PER_MINUTE as f64;
        let (o, c) = (bar.open.to_f64(), bar.close.to_f64());
        let (lo, hi) = (bar.low.to_f64(), bar.high.to_f64());
        let mid = (o + (c - o) * frac + (hi - lo) * 0.15 * normal(&mut rng)).clamp(lo, hi);
        let base_sigma = self.params.daily_vol / (MINUTES as f64).sqrt();
        let half_spread = mid * self.params.spread_bps * 1e-4 * (sigma / base_sigma).max(0.5);
        let tick = self.params.tick.to_f64();
        let ticks = (2.0 * half_spread / tick).round().max(1.0) as i64;
        let bid = self.price(mid - half_spread, RoundingMode::Down);
        let ask =
            Price::new(bid.as_decimal() + self.params.tick.as_decimal() * Decimal::from(ticks))
                .unwrap_or(bid);
        let size = |rng: &mut ChaCha8Rng| {
            Quantity::new(
                Decimal::from_f64_retain(
                    self.params.base_volume * 0.05 * (0.2 + rng.random::<f64>()),
                )
                .unwrap_or_default()
                .round_dp(3),
            )
            .unwrap_or(Quantity::ZERO)
            .max_with(self.params.lot)
        };
        Quote {
            instrument: self.params.instrument,
            ts_event: UnixNanos(minute.0 + k * (MINUTE / QUOTES_PER_MINUTE)),
            bid_price: bid,
            bid_size: size(&mut rng),
            ask_price: ask,
            ask_size: size(&mut rng),
        }
    }
}

trait MaxWith {
    fn max_with(self, other: Self) -> Self;
}

impl MaxWith for Quantity {
    fn max_with(self, other: Self) -> Self {
        if self.as_decimal() < other.as_decimal() {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(sym: &str, seed: u64) -> SymbolModel {
        SymbolModel::new(SymbolParams::new(
            InstrumentId::parse(sym, "sim").unwrap(),
            seed,
        ))
    }

    #[test]
    fn test_sim_is_deterministic_and_valid() {
        let t0 = UnixNanos::parse("2024-03-01T00:00:00Z").unwrap();
        let mut a = model("BTCUSDT", 42);
        let mut b = model("BTCUSDT", 42);
        let mut c = model("BTCUSDT", 43);
        let mut prev_close = None;
        let mut differs = false;
        // Two days, crossing midnight, queried in a different order by `b`.
        let bars: Vec<Bar> = (0..2 * 1440)
            .map(|m| a.bar(UnixNanos(t0.0 + m * MINUTE)))
            .collect();
        for (m, bar) in bars.iter().enumerate().rev() {
            assert_eq!(*bar, b.bar(bar.open_time), "minute {m}");
        }
        for bar in &bars {
            bar.validate().unwrap();
            assert!(bar.open.is_on_tick(a.params.tick) && bar.high.is_on_tick(a.params.tick));
            assert!(bar.low.is_on_tick(a.params.tick) && bar.close.is_on_tick(a.params.tick));
            if let Some(p) = prev_close {
                assert_eq!(bar.open, p, "opens at the previous close");
            }
            prev_close = Some(bar.close);
            differs |= c.bar(bar.open_time) != *bar;
            let q = a.quote(bar.open_time, 3);
            q.validate().unwrap();
            assert!(q.bid_price < q.ask_price);
        }
        assert!(differs, "another seed gives another market");
    }

    #[test]
    fn test_sim_has_volatility_clustering() {
        // Absolute returns are autocorrelated under GARCH; squared returns of i.i.d. noise are not.
        let t0 = UnixNanos::parse("2024-05-01T00:00:00Z").unwrap();
        let mut m = model("ETHUSDT", 7);
        let r: Vec<f64> = (0..10 * 1440)
            .map(|i| {
                let b = m.bar(UnixNanos(t0.0 + i * MINUTE));
                (b.close.to_f64() / b.open.to_f64()).ln().abs()
            })
            .collect();
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let var: f64 = r.iter().map(|x| (x - mean).powi(2)).sum();
        let cov: f64 = r.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
        let ac1 = cov / var;
        assert!(ac1 > 0.05, "lag-1 autocorrelation of |r| = {ac1}");
    }
}
