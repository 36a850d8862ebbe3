//! Property tests: the two faces agree, and no output looks ahead.

use proptest::prelude::*;

use crate::registry::{INDICATORS, IndicatorSpec, OhlcvColumns};
use crate::{
    Indicator, Ohlcv, directional, forecast, ma, momentum, oscillators, statistics, volatility,
    volume,
};

/// Random bars: a multiplicative random walk with consistent high/low and positive volume.
fn bars(max_len: usize) -> impl Strategy<Value = Vec<Ohlcv>> {
    prop::collection::vec(
        (
            -0.03f64..0.03,
            0.0f64..0.02,
            0.0f64..0.02,
            0.0f64..1.0,
            0u8..8,
        ),
        1..max_len,
    )
    .prop_map(|steps| {
        let mut price = 100.0;
        steps
            .into_iter()
            .map(|(r, up, dn, o, v)| {
                let open = price;
                // Some flat bars so ties and zero ranges get exercised.
                price = if v == 0 { price } else { price * (1.0 + r) };
                let (hi, lo) = (open.max(price), open.min(price));
                let high = if v == 1 { hi } else { hi * (1.0 + up) };
                let low = if v == 1 { lo } else { lo * (1.0 - dn) };
                Ohlcv::new(open, high, low, price, f64::from(v) * 100.0 * (o + 0.1))
            })
            .collect()
    })
}

fn columns(bars: &[Ohlcv]) -> [Vec<f64>; 5] {
    [
        bars.iter().map(|b| b.open).collect(),
        bars.iter().map(|b| b.high).collect(),
        bars.iter().map(|b| b.low).collect(),
        bars.iter().map(|b| b.close).collect(),
        bars.iter().map(|b| b.volume).collect(),
    ]
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn stream<I: Indicator<Output = f64>>(
    mut ind: I,
    inputs: impl Iterator<Item = I::Input>,
) -> Vec<f64> {
    inputs.map(|x| ind.update(x).unwrap_or(f64::NAN)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The batch functions (including the dedicated SMA/EMA/ATR loops) equal streaming, bit for bit.
    #[test]
    fn prop_batch_equals_streaming(b in bars(200), p in 1usize..30) {
        let [_, h, l, c, v] = columns(&b);
        let closes = || c.iter().copied();
        let bs = || b.iter().copied();
        prop_assert!(same(&ma::sma(&c, p).unwrap(), &stream(ma::Sma::new(p).unwrap(), closes())));
        prop_assert!(same(&ma::ema(&c, p).unwrap(), &stream(ma::Ema::new(p).unwrap(), closes())));
        prop_assert!(same(&ma::wma(&c, p).unwrap(), &stream(ma::Wma::new(p).unwrap(), closes())));
        prop_assert!(same(&ma::kama(&c, p).unwrap(), &stream(ma::Kama::new(p).unwrap(), closes())));
        prop_assert!(same(&momentum::rsi(&c, p).unwrap(), &stream(momentum::Rsi::new(p).unwrap(), closes())));
        prop_assert!(same(&volatility::atr(&h, &l, &c, p).unwrap(), &stream(volatility::Atr::new(p).unwrap(), bs())));
        prop_assert!(same(&volatility::natr(&h, &l, &c, p).unwrap(), &stream(volatility::Natr::new(p).unwrap(), bs())));
        prop_assert!(same(&volatility::stddev(&c, p, 2.0).unwrap(), &stream(volatility::StdDev::new(p, 2.0).unwrap(), closes())));
        prop_assert!(same(&directional::plus_di(&h, &l, &c, p).unwrap(), &stream(directional::PlusDi::new(p).unwrap(), bs())));
        prop_assert!(same(&oscillators::mfi(&h, &l, &c, &v, p).unwrap(), &stream(oscillators::Mfi::new(p).unwrap(), bs())));
        prop_assert!(same(&volume::obv(&c, &v).unwrap(), &stream(volume::Obv::new(), bs())));
        prop_assert!(same(&statistics::max(&c, p).unwrap(), &stream(statistics::Max::new(p).unwrap(), closes())));
        prop_assert!(same(&forecast::vol_ewma(&c, p).unwrap(), &stream(forecast::EwmaVol::new(p).unwrap(), closes())));
        if p >= 2 {
            prop_assert!(same(&directional::adx(&h, &l, &c, p).unwrap(), &stream(directional::Adx::new(p).unwrap(), bs())));
            prop_assert!(same(&statistics::linearreg_slope(&c, p).unwrap(), &stream(statistics::LinearRegSlope::new(p).unwrap(), closes())));
        }
        // Multi-output batch functions against their streaming structs.
        let m = momentum::macd(&c, 12, 26, 9).unwrap();
        let mut s = momentum::Macd::new(12, 26, 9).unwrap();
        for (i, &x) in c.iter().enumerate() {
            let o = s.update(x);
            prop_assert_eq!(o.map(|o| o.macdhist.to_bits()), (!m.macdhist[i].is_nan()).then(|| m.macdhist[i].to_bits()));
        }
        let bb = volatility::bbands(&c, p.max(2), 2.0, 2.0).unwrap();
        let mut s = volatility::Bbands::new(p.max(2), 2.0, 2.0).unwrap();
        for (i, &x) in c.iter().enumerate() {
            let o = s.update(x);
            prop_assert_eq!(o.map(|o| o.upperband.to_bits()), (!bb.upperband[i].is_nan()).then(|| bb.upperband[i].to_bits()));
        }
    }

    /// A lookback of `L` means exactly `L` leading `NaN`s (or all of them for short input).
    #[test]
    fn prop_warmup_equals_lookback(b in bars(120)) {
        let [o, h, l, c, v] = columns(&b);
        let cols = OhlcvColumns::new(&o, &h, &l, &c, &v).unwrap();
        for info in INDICATORS {
            let spec = IndicatorSpec::parse(info.name).unwrap();
            let lookback = spec.streaming().unwrap().lookback();
            for out in spec.compute(&cols).unwrap() {
                let lead = out.iter().take_while(|x| x.is_nan()).count();
                prop_assert!(lead == lookback.min(out.len()), "{}: {} leading NaN, lookback {}", info.name, lead, lookback);
            }
        }
    }

    /// Changing bars after `t` changes no output at or before `t`, for every indicator.
    #[test]
    fn prop_no_lookahead(b in bars(150), cut in 0.0f64..1.0, scale in 0.5f64..2.0) {
        let t = ((b.len() - 1) as f64 * cut) as usize;
        let mut changed = b.clone();
        for bar in &mut changed[t + 1..] {
            bar.open *= scale;
            bar.high *= scale * 1.01;
            bar.low *= scale * 0.99;
            bar.close *= scale;
            bar.volume = bar.volume * scale + 1.0;
        }
        let [o, h, l, c, v] = columns(&b);
        let [o2, h2, l2, c2, v2] = columns(&changed);
        let a = OhlcvColumns::new(&o, &h, &l, &c, &v).unwrap();
        let z = OhlcvColumns::new(&o2, &h2, &l2, &c2, &v2).unwrap();
        for info in INDICATORS {
            let spec = IndicatorSpec::parse(info.name).unwrap();
            for (x, y) in spec.compute(&a).unwrap().iter().zip(spec.compute(&z).unwrap()) {
                prop_assert!(same(&x[..=t], &y[..=t]), "{} looked ahead at t={}", info.name, t);
            }
        }
    }
}
