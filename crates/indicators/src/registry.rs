//! Indicator specs (`sma:20`, `macd:12,26,9`, `obv`) and the table that resolves them.
//!
//! A spec is the lower-case TA-Lib function name, then optionally `:` and its numeric
//! parameters in TA-Lib's argument order; parameters left out take TA-Lib's defaults and
//! moving-average type arguments always keep TA-Lib's default (SMA, or EMA where TA-Lib fixes
//! it). Output columns are named by the spec with `:` and `,` replaced by `_`, suffixed for
//! multi-output indicators by TA-Lib's lower-case output name (`macd_12_26_9_macdsignal`).

use std::fmt;

use crate::directional::{Adx, MinusDi, PlusDi};
use crate::error::{Error, Result, check_lengths};
use crate::forecast::{Breakout, EwmaVol, Ewmac};
use crate::ma::{Dema, Ema, Kama, Sma, Tema, Trima, Wma};
use crate::momentum::{Macd, Mom, Ppo, Roc, Rsi, Trix};
use crate::oscillators::{Aroon, Cci, Mfi, Stoch, StochRsi, Ultosc, Willr};
use crate::statistics::{Donchian, LinearRegSlope, LogReturn, Max, Min, ZScore};
use crate::volatility::{Atr, Bbands, Natr, StdDev, TRange, Var};
use crate::volume::{Ad, Adosc, Obv, Vwap};
use crate::{Indicator, Ohlcv, Outputs};

/// One numeric parameter of an indicator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamInfo {
    /// TA-Lib's argument name (`timeperiod`, `nbdevup`…).
    pub name: &'static str,
    /// TA-Lib's default.
    pub default: f64,
    /// Smallest accepted value (TA-Lib's range).
    pub min: f64,
    /// Whether the value must be an integer.
    pub integer: bool,
}

const fn int(name: &'static str, default: f64, min: f64) -> ParamInfo {
    ParamInfo {
        name,
        default,
        min,
        integer: true,
    }
}

const fn real(name: &'static str, default: f64, min: f64) -> ParamInfo {
    ParamInfo {
        name,
        default,
        min,
        integer: false,
    }
}

/// What an indicator is: its name, parameters, inputs and outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndicatorInfo {
    /// Lower-case name used in specs (TA-Lib's function name where TA-Lib has it).
    pub name: &'static str,
    /// One line for `tessera indicators list`.
    pub description: &'static str,
    /// Numeric parameters in TA-Lib argument order.
    pub params: &'static [ParamInfo],
    /// Input columns read (`close` stands for TA-Lib's `real`).
    pub inputs: &'static [&'static str],
    /// Output names in TA-Lib order (`real` for single-output indicators).
    pub outputs: &'static [&'static str],
    /// Whether TA-Lib has this function (the others are documented extensions).
    pub talib: bool,
}

const C: &[&str] = &["close"];
const HL: &[&str] = &["high", "low"];
const HLC: &[&str] = &["high", "low", "close"];
const HLCV: &[&str] = &["high", "low", "close", "volume"];
const CV: &[&str] = &["close", "volume"];
const REAL: &[&str] = &["real"];
const TP: &[ParamInfo] = &[int("timeperiod", 14.0, 2.0)];
const TP30: &[ParamInfo] = &[int("timeperiod", 30.0, 2.0)];

/// Every indicator a spec can name, alphabetical within each group.
pub const INDICATORS: &[IndicatorInfo] = &[
    IndicatorInfo {
        name: "sma",
        description: "Simple moving average",
        params: TP30,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "ema",
        description: "Exponential moving average (SMA seed)",
        params: TP30,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "wma",
        description: "Weighted moving average",
        params: TP30,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "dema",
        description: "Double exponential moving average",
        params: TP30,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "tema",
        description: "Triple exponential moving average",
        params: TP30,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "kama",
        description: "Kaufman adaptive moving average",
        params: TP30,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "trima",
        description: "Triangular moving average",
        params: TP30,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "rsi",
        description: "Relative strength index",
        params: TP,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "macd",
        description: "Moving average convergence/divergence",
        params: &[
            int("fastperiod", 12.0, 2.0),
            int("slowperiod", 26.0, 2.0),
            int("signalperiod", 9.0, 1.0),
        ],
        inputs: C,
        outputs: &["macd", "macdsignal", "macdhist"],
        talib: true,
    },
    IndicatorInfo {
        name: "bbands",
        description: "Bollinger bands (SMA)",
        params: &[
            int("timeperiod", 20.0, 2.0),
            real("nbdevup", 2.0, f64::MIN),
            real("nbdevdn", 2.0, f64::MIN),
        ],
        inputs: C,
        outputs: &["upperband", "middleband", "lowerband"],
        talib: true,
    },
    IndicatorInfo {
        name: "trange",
        description: "True range",
        params: &[],
        inputs: HLC,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "atr",
        description: "Average true range",
        params: &[int("timeperiod", 14.0, 1.0)],
        inputs: HLC,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "natr",
        description: "Normalized average true range (%)",
        params: &[int("timeperiod", 14.0, 1.0)],
        inputs: HLC,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "stoch",
        description: "Slow stochastic (SMA smoothing)",
        params: &[
            int("fastk_period", 5.0, 1.0),
            int("slowk_period", 3.0, 1.0),
            int("slowd_period", 3.0, 1.0),
        ],
        inputs: HLC,
        outputs: &["slowk", "slowd"],
        talib: true,
    },
    IndicatorInfo {
        name: "stochrsi",
        description: "Stochastic RSI (SMA smoothing)",
        params: &[
            int("timeperiod", 14.0, 2.0),
            int("fastk_period", 5.0, 1.0),
            int("fastd_period", 3.0, 1.0),
        ],
        inputs: C,
        outputs: &["fastk", "fastd"],
        talib: true,
    },
    IndicatorInfo {
        name: "willr",
        description: "Williams %R",
        params: TP,
        inputs: HLC,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "cci",
        description: "Commodity channel index",
        params: TP,
        inputs: HLC,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "adx",
        description: "Average directional index",
        params: TP,
        inputs: HLC,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "plus_di",
        description: "Plus directional indicator",
        params: &[int("timeperiod", 14.0, 1.0)],
        inputs: HLC,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "minus_di",
        description: "Minus directional indicator",
        params: &[int("timeperiod", 14.0, 1.0)],
        inputs: HLC,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "aroon",
        description: "Aroon",
        params: TP,
        inputs: HL,
        outputs: &["aroondown", "aroonup"],
        talib: true,
    },
    IndicatorInfo {
        name: "mfi",
        description: "Money flow index",
        params: TP,
        inputs: HLCV,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "obv",
        description: "On-balance volume",
        params: &[],
        inputs: CV,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "ad",
        description: "Chaikin accumulation/distribution line",
        params: &[],
        inputs: HLCV,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "adosc",
        description: "Chaikin A/D oscillator",
        params: &[int("fastperiod", 3.0, 2.0), int("slowperiod", 10.0, 2.0)],
        inputs: HLCV,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "roc",
        description: "Rate of change (%)",
        params: &[int("timeperiod", 10.0, 1.0)],
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "mom",
        description: "Momentum",
        params: &[int("timeperiod", 10.0, 1.0)],
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "trix",
        description: "1-bar ROC of a triple EMA (%)",
        params: &[int("timeperiod", 30.0, 1.0)],
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "ppo",
        description: "Percentage price oscillator (EMA, TA-Lib 0.8 default)",
        params: &[int("fastperiod", 12.0, 2.0), int("slowperiod", 26.0, 2.0)],
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "ultosc",
        description: "Ultimate oscillator",
        params: &[
            int("timeperiod1", 7.0, 1.0),
            int("timeperiod2", 14.0, 1.0),
            int("timeperiod3", 28.0, 1.0),
        ],
        inputs: HLC,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "stddev",
        description: "Population standard deviation",
        params: &[int("timeperiod", 5.0, 2.0), real("nbdev", 1.0, f64::MIN)],
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "var",
        description: "Population variance (nbdev ignored, as in TA-Lib)",
        params: &[int("timeperiod", 5.0, 1.0), real("nbdev", 1.0, f64::MIN)],
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "linearreg_slope",
        description: "Linear regression slope",
        params: TP,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "max",
        description: "Highest value over a period",
        params: TP30,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "min",
        description: "Lowest value over a period",
        params: TP30,
        inputs: C,
        outputs: REAL,
        talib: true,
    },
    IndicatorInfo {
        name: "donchian",
        description: "Donchian channel: highest high, mid, lowest low",
        params: &[int("timeperiod", 20.0, 1.0)],
        inputs: HL,
        outputs: &["upperband", "middleband", "lowerband"],
        talib: false,
    },
    IndicatorInfo {
        name: "logret",
        description: "Log return over a period",
        params: &[int("timeperiod", 1.0, 1.0)],
        inputs: C,
        outputs: REAL,
        talib: false,
    },
    IndicatorInfo {
        name: "zscore",
        description: "Z-score against a rolling mean and deviation",
        params: &[int("timeperiod", 20.0, 2.0)],
        inputs: C,
        outputs: REAL,
        talib: false,
    },
    IndicatorInfo {
        name: "vol_ewma",
        description: "EWMA volatility of 1-bar log returns",
        params: &[int("span", 32.0, 1.0)],
        inputs: C,
        outputs: REAL,
        talib: false,
    },
    IndicatorInfo {
        name: "vwap",
        description: "Rolling volume-weighted typical price",
        params: &[int("timeperiod", 14.0, 1.0)],
        inputs: HLCV,
        outputs: REAL,
        talib: false,
    },
    IndicatorInfo {
        name: "ewmac",
        description: "pysystemtrade EWMAC forecast, capped at +-20 (scalar 0 = published scalar)",
        params: &[
            int("fast", 16.0, 1.0),
            int("slow", 64.0, 2.0),
            real("scalar", 0.0, 0.0),
        ],
        inputs: C,
        outputs: REAL,
        talib: false,
    },
    IndicatorInfo {
        name: "breakout",
        description: "pysystemtrade breakout forecast, capped at +-20 (scalar 0 = published scalar)",
        params: &[int("lookback", 20.0, 2.0), real("scalar", 0.0, 0.0)],
        inputs: C,
        outputs: REAL,
        talib: false,
    },
];

/// Looks an indicator up by its lower-case name.
#[must_use]
pub fn find(name: &str) -> Option<&'static IndicatorInfo> {
    INDICATORS.iter().find(|i| i.name == name)
}

impl IndicatorInfo {
    /// `name:param=default,…` as shown in help and errors.
    #[must_use]
    pub fn usage(&self) -> String {
        if self.params.is_empty() {
            return self.name.to_owned();
        }
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{}={}", p.name, p.default))
            .collect();
        format!("{}:{}", self.name, params.join(","))
    }
}

/// Every indicator's usage, one per line, with its outputs.
#[must_use]
pub fn help() -> String {
    let mut s =
        String::from("valid indicators (name:parameters with TA-Lib defaults -> outputs):\n");
    for i in INDICATORS {
        s.push_str(&format!("  {:<48} -> {}\n", i.usage(), i.outputs.join(",")));
    }
    s
}

/// A parsed spec: an indicator with every parameter resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorSpec {
    info: &'static IndicatorInfo,
    params: Vec<f64>,
    text: String,
}

impl IndicatorSpec {
    /// Parses `name[:p1,p2,…]`.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] naming the problem and listing every valid name and parameter.
    pub fn parse(spec: &str) -> Result<Self> {
        let text = spec.trim();
        let bad = |reason: String| Error::InvalidSpec {
            spec: text.to_owned(),
            reason,
            help: help(),
        };
        let (name, rest) = match text.split_once(':') {
            Some((n, r)) => (n.trim(), Some(r)),
            None => (text, None),
        };
        let lname = name.to_ascii_lowercase();
        let info = find(&lname).ok_or_else(|| bad(format!("unknown indicator `{name}`")))?;
        let given: Vec<&str> = match rest {
            Some(r) if !r.trim().is_empty() => r.split(',').map(str::trim).collect(),
            Some(_) => return Err(bad("empty parameter list after `:`".to_owned())),
            None => Vec::new(),
        };
        if given.len() > info.params.len() {
            return Err(bad(format!(
                "`{}` takes at most {} parameter(s) ({}), got {}",
                info.name,
                info.params.len(),
                info.usage(),
                given.len()
            )));
        }
        let mut params = Vec::with_capacity(info.params.len());
        for (i, p) in info.params.iter().enumerate() {
            let v = match given.get(i) {
                None => p.default,
                Some(s) => s
                    .parse::<f64>()
                    .map_err(|_| bad(format!("parameter `{}` = `{s}` is not a number", p.name)))?,
            };
            if !v.is_finite() || v < p.min || v > 100_000.0 || (p.integer && v.fract() != 0.0) {
                let kind = if p.integer { "an integer" } else { "a number" };
                return Err(bad(format!(
                    "parameter `{}` = {v} must be {kind} in {}..=100000",
                    p.name,
                    if p.min == f64::MIN {
                        "-100000".to_owned()
                    } else {
                        p.min.to_string()
                    }
                )));
            }
            params.push(v);
        }
        let spec = Self {
            info,
            params,
            text: format!(
                "{lname}{}",
                rest.map(|r| format!(":{r}")).unwrap_or_default()
            ),
        };
        // Surface constructor errors (e.g. an EWMAC pair without a published scalar) at parse time.
        spec.streaming().map_err(|e| bad(e.to_string()))?;
        Ok(spec)
    }

    /// What the spec names.
    #[must_use]
    pub fn info(&self) -> &'static IndicatorInfo {
        self.info
    }

    /// Every parameter, defaults filled in, in TA-Lib order.
    #[must_use]
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// The output column names: the spec with `:` and `,` replaced by `_`, suffixed by the
    /// output name when there are several outputs.
    #[must_use]
    pub fn column_names(&self) -> Vec<String> {
        let base: String = self
            .text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| if c == ':' || c == ',' { '_' } else { c })
            .collect();
        if self.info.outputs.len() == 1 {
            vec![base]
        } else {
            self.info
                .outputs
                .iter()
                .map(|o| format!("{base}_{o}"))
                .collect()
        }
    }

    fn int(&self, i: usize) -> usize {
        self.params[i] as usize
    }

    /// A fresh streaming instance fed bar by bar.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the indicator refuses its parameters.
    pub fn streaming(&self) -> Result<Box<dyn BarIndicator>> {
        let p = |i: usize| self.int(i);
        let r = |i: usize| self.params[i];
        Ok(match self.info.name {
            "sma" => on_close(Sma::new(p(0))?),
            "ema" => on_close(Ema::new(p(0))?),
            "wma" => on_close(Wma::new(p(0))?),
            "dema" => on_close(Dema::new(p(0))?),
            "tema" => on_close(Tema::new(p(0))?),
            "kama" => on_close(Kama::new(p(0))?),
            "trima" => on_close(Trima::new(p(0))?),
            "rsi" => on_close(Rsi::new(p(0))?),
            "macd" => on_close(Macd::new(p(0), p(1), p(2))?),
            "bbands" => on_close(Bbands::new(p(0), r(1), r(2))?),
            "trange" => on_bar(TRange::new()),
            "atr" => on_bar(Atr::new(p(0))?),
            "natr" => on_bar(Natr::new(p(0))?),
            "stoch" => on_bar(Stoch::new(p(0), p(1), p(2))?),
            "stochrsi" => on_close(StochRsi::new(p(0), p(1), p(2))?),
            "willr" => on_bar(Willr::new(p(0))?),
            "cci" => on_bar(Cci::new(p(0))?),
            "adx" => on_bar(Adx::new(p(0))?),
            "plus_di" => on_bar(PlusDi::new(p(0))?),
            "minus_di" => on_bar(MinusDi::new(p(0))?),
            "aroon" => on_bar(Aroon::new(p(0))?),
            "mfi" => on_bar(Mfi::new(p(0))?),
            "obv" => on_bar(Obv::new()),
            "ad" => on_bar(Ad::new()),
            "adosc" => on_bar(Adosc::new(p(0), p(1))?),
            "roc" => on_close(Roc::new(p(0))?),
            "mom" => on_close(Mom::new(p(0))?),
            "trix" => on_close(Trix::new(p(0))?),
            "ppo" => on_close(Ppo::new(p(0), p(1))?),
            "ultosc" => on_bar(Ultosc::new(p(0), p(1), p(2))?),
            "stddev" => on_close(StdDev::new(p(0), r(1))?),
            "var" => on_close(Var::new(p(0))?),
            "linearreg_slope" => on_close(LinearRegSlope::new(p(0))?),
            "max" => on_close(Max::new(p(0))?),
            "min" => on_close(Min::new(p(0))?),
            "donchian" => on_bar(Donchian::new(p(0))?),
            "logret" => on_close(LogReturn::new(p(0))?),
            "zscore" => on_close(ZScore::new(p(0))?),
            "vol_ewma" => on_close(EwmaVol::new(p(0))?),
            "vwap" => on_bar(Vwap::new(p(0))?),
            "ewmac" => on_close(Ewmac::new(p(0), p(1), r(2))?),
            "breakout" => on_close(Breakout::new(p(0), r(1))?),
            other => unreachable!("indicator `{other}` is in INDICATORS but not built here"),
        })
    }

    /// Computes every output over the columns: one vector per output, `NaN` during warm-up.
    ///
    /// # Errors
    /// As [`IndicatorSpec::streaming`].
    pub fn compute(&self, cols: &OhlcvColumns<'_>) -> Result<Vec<Vec<f64>>> {
        let mut ind = self.streaming()?;
        let n = cols.len();
        let k = self.info.outputs.len();
        let mut out: Vec<Vec<f64>> = (0..k).map(|_| Vec::with_capacity(n)).collect();
        let mut row = [f64::NAN; 8];
        for i in 0..n {
            if ind.update_bar(cols.bar(i), &mut row) {
                out.iter_mut().zip(row.iter()).for_each(|(c, v)| c.push(*v));
            } else {
                out.iter_mut().for_each(|c| c.push(f64::NAN));
            }
        }
        Ok(out)
    }
}

impl fmt::Display for IndicatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An indicator of any kind fed whole bars, for code that picks indicators at run time.
pub trait BarIndicator: fmt::Debug + Send {
    /// Feeds a bar; once warmed up writes the outputs into `out` (TA-Lib order) and returns true.
    fn update_bar(&mut self, bar: Ohlcv, out: &mut [f64]) -> bool;
    /// Bars consumed before the first output.
    fn lookback(&self) -> usize;
    /// Forgets every bar.
    fn reset(&mut self);
}

#[derive(Debug)]
struct OnClose<I>(I);
#[derive(Debug)]
struct OnBar<I>(I);

fn on_close<I>(i: I) -> Box<dyn BarIndicator>
where
    I: Indicator<Input = f64> + fmt::Debug + Send + 'static,
    I::Output: Outputs,
{
    Box::new(OnClose(i))
}

fn on_bar<I>(i: I) -> Box<dyn BarIndicator>
where
    I: Indicator<Input = Ohlcv> + fmt::Debug + Send + 'static,
    I::Output: Outputs,
{
    Box::new(OnBar(i))
}

impl<I> BarIndicator for OnClose<I>
where
    I: Indicator<Input = f64> + fmt::Debug + Send,
    I::Output: Outputs,
{
    fn update_bar(&mut self, bar: Ohlcv, out: &mut [f64]) -> bool {
        self.0.update(bar.close).map(|o| o.write(out)).is_some()
    }
    fn lookback(&self) -> usize {
        self.0.lookback()
    }
    fn reset(&mut self) {
        self.0.reset();
    }
}

impl<I> BarIndicator for OnBar<I>
where
    I: Indicator<Input = Ohlcv> + fmt::Debug + Send,
    I::Output: Outputs,
{
    fn update_bar(&mut self, bar: Ohlcv, out: &mut [f64]) -> bool {
        self.0.update(bar).map(|o| o.write(out)).is_some()
    }
    fn lookback(&self) -> usize {
        self.0.lookback()
    }
    fn reset(&mut self) {
        self.0.reset();
    }
}

/// Borrowed OHLCV columns of one instrument, all the same length.
#[derive(Debug, Clone, Copy)]
pub struct OhlcvColumns<'a> {
    /// Opening prices.
    pub open: &'a [f64],
    /// High prices.
    pub high: &'a [f64],
    /// Low prices.
    pub low: &'a [f64],
    /// Closing prices.
    pub close: &'a [f64],
    /// Volumes in base units.
    pub volume: &'a [f64],
}

impl<'a> OhlcvColumns<'a> {
    /// Bundles five columns.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when the columns differ in length.
    pub fn new(
        open: &'a [f64],
        high: &'a [f64],
        low: &'a [f64],
        close: &'a [f64],
        volume: &'a [f64],
    ) -> Result<Self> {
        check_lengths(
            "ohlcv",
            &[open.len(), high.len(), low.len(), close.len(), volume.len()],
        )?;
        Ok(Self {
            open,
            high,
            low,
            close,
            volume,
        })
    }

    /// Number of bars.
    #[must_use]
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// Whether there are no bars.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }

    /// Bar `i`.
    #[inline]
    #[must_use]
    pub fn bar(&self, i: usize) -> Ohlcv {
        Ohlcv::new(
            self.open[i],
            self.high[i],
            self.low[i],
            self.close[i],
            self.volume[i],
        )
    }
}

/// One named output column.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputColumn {
    /// Column name (`macd_12_26_9_macdsignal`).
    pub name: String,
    /// One value per input bar, `NaN` during warm-up.
    pub values: Vec<f64>,
}

/// Splits a comma list of specs where a comma followed by a digit (or `-`, `.`) continues the
/// previous spec's parameters: `rsi:14,macd:12,26,9,ret:1` is three specs. Commas inside
/// parentheses never split.
#[must_use]
pub fn split_spec_list(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let chars: Vec<char> = list.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if !next.is_some_and(|n| n.is_ascii_digit() || *n == '-' || *n == '.') {
                    if !cur.trim().is_empty() {
                        out.push(cur.trim().to_owned());
                    }
                    cur.clear();
                    continue;
                }
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// Parses specs, each of which may itself be a comma list (see [`split_spec_list`]).
///
/// # Errors
/// [`Error::InvalidSpec`] for the first spec that does not parse.
pub fn parse_specs<S: AsRef<str>>(specs: &[S]) -> Result<Vec<IndicatorSpec>> {
    specs
        .iter()
        .flat_map(|s| split_spec_list(s.as_ref()))
        .map(|s| IndicatorSpec::parse(&s))
        .collect()
}

/// Computes every spec over the columns into named output columns, in spec then output order.
///
/// # Errors
/// As [`IndicatorSpec::compute`].
pub fn compute_specs(
    specs: &[IndicatorSpec],
    cols: &OhlcvColumns<'_>,
) -> Result<Vec<OutputColumn>> {
    let mut out = Vec::new();
    for spec in specs {
        let values = spec.compute(cols)?;
        for (name, values) in spec.column_names().into_iter().zip(values) {
            out.push(OutputColumn { name, values });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("sma:20", &["sma_20"])]
    #[case("obv", &["obv"])]
    #[case("macd:12,26,9", &["macd_12_26_9_macd", "macd_12_26_9_macdsignal", "macd_12_26_9_macdhist"])]
    #[case("bbands:20,2,2", &["bbands_20_2_2_upperband", "bbands_20_2_2_middleband", "bbands_20_2_2_lowerband"])]
    #[case("stoch:14,3,3", &["stoch_14_3_3_slowk", "stoch_14_3_3_slowd"])]
    #[case("aroon:14", &["aroon_14_aroondown", "aroon_14_aroonup"])]
    fn test_spec_column_names(#[case] spec: &str, #[case] names: &[&str]) {
        assert_eq!(IndicatorSpec::parse(spec).unwrap().column_names(), names);
    }

    #[test]
    fn test_spec_defaults_fill_missing_params() {
        let s = IndicatorSpec::parse("macd:10").unwrap();
        assert_eq!(s.params(), &[10.0, 26.0, 9.0]);
    }

    #[rstest]
    #[case("nope:3")]
    #[case("sma:1")]
    #[case("sma:2.5")]
    #[case("sma:20,3")]
    #[case("sma:x")]
    #[case("sma:")]
    fn test_bad_specs_list_valid_names(#[case] spec: &str) {
        let err = IndicatorSpec::parse(spec).unwrap_err().to_string();
        assert!(
            err.contains("macd:fastperiod=12,slowperiod=26,signalperiod=9"),
            "{err}"
        );
    }

    #[test]
    fn test_split_spec_list_digit_continues() {
        assert_eq!(
            split_spec_list("rsi:14,macd:12,26,9,ret:1"),
            ["rsi:14", "macd:12,26,9", "ret:1"]
        );
        assert_eq!(split_spec_list("lag(ret:1,3),obv"), ["lag(ret:1,3)", "obv"]);
    }
}
