//! Test fixtures: deterministic synthetic panels.

use tessera_core::UnixNanos;
use tessera_indicators::features::SymbolBars;

/// `symbols` random-walk bar series of `n` one-minute bars, seeded.
pub(crate) fn panel(n: usize, symbols: usize, seed: u64) -> Vec<SymbolBars> {
    let mut rng = crate::rng::SplitMix64::new(seed);
    (0..symbols)
        .map(|s| {
            let mut price = 100.0 + s as f64;
            let mut bars = SymbolBars {
                symbol: format!("S{s}"),
                ..SymbolBars::default()
            };
            for i in 0..n {
                let r = rng.next_f64() - 0.5;
                let open = price;
                price *= 1.0 + r * 0.02;
                bars.timestamps
                    .push(UnixNanos::from_secs(1_700_000_000 + 60 * i as i64).unwrap());
                bars.open.push(open);
                bars.high.push(open.max(price) * 1.001);
                bars.low.push(open.min(price) * 0.999);
                bars.close.push(price);
                bars.volume.push(1000.0 + (rng.next_u64() % 500) as f64);
            }
            bars
        })
        .collect()
}
