//! Payloads of Alpaca's Market Data API (REST v2 / v1beta3 and the real-time
//! stream), read into the domain model exactly.
//!
//! Alpaca sends prices and sizes as JSON **numbers** (`"o": 178.26`), not
//! strings. Going through `f64` would round them, so each number is kept as
//! its raw text ([`RawValue`]) and parsed straight into a `Decimal`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use tessera_core::UnixNanos;
use tessera_model::{Bar, InstrumentId, Interval, Price, Quantity, Quote, Symbol, Venue};

/// A JSON number (or a numeric string) as an exact decimal.
///
/// # Errors
/// The text is not a number.
pub fn decimal(raw: &RawValue) -> Result<Decimal, String> {
    let text = raw.get().trim().trim_matches('"');
    let d = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    d.map(|d| d.normalize())
        .map_err(|e| format!("{text:?} is not an exact number: {e}"))
}

/// One bar as Alpaca sends it (REST and stream; the stream adds `T` and `S`).
#[derive(Debug, Deserialize)]
pub struct WireBar<'a> {
    /// Symbol (stream only).
    #[serde(rename = "S", default)]
    pub symbol: Option<String>,
    /// Open time, RFC 3339.
    pub t: String,
    /// Open.
    #[serde(borrow)]
    pub o: &'a RawValue,
    /// High.
    #[serde(borrow)]
    pub h: &'a RawValue,
    /// Low.
    #[serde(borrow)]
    pub l: &'a RawValue,
    /// Close.
    #[serde(borrow)]
    pub c: &'a RawValue,
    /// Volume (shares, or coins for crypto).
    #[serde(borrow)]
    pub v: &'a RawValue,
    /// Number of trades.
    #[serde(default)]
    pub n: Option<u64>,
}

impl WireBar<'_> {
    /// The bar of `symbol` on `venue`; the open time is Alpaca's `t`.
    ///
    /// # Errors
    /// A field that is not a valid time, price or quantity, or broken OHLC invariants.
    pub fn to_bar(&self, symbol: Symbol, venue: Venue, interval: Interval) -> Result<Bar, String> {
        let price = |what: &str, raw: &RawValue| {
            decimal(raw)
                .and_then(|d| Price::new(d).map_err(|e| e.to_string()))
                .map_err(|e| format!("bar {symbol} {}: {what}: {e}", self.t))
        };
        let bar = Bar {
            instrument: InstrumentId::new(symbol, venue),
            interval,
            open_time: self
                .t
                .parse::<UnixNanos>()
                .map_err(|e| format!("bar {symbol}: time {:?}: {e}", self.t))?,
            open: price("o", self.o)?,
            high: price("h", self.h)?,
            low: price("l", self.l)?,
            close: price("c", self.c)?,
            volume: decimal(self.v)
                .and_then(|d| Quantity::new(d).map_err(|e| e.to_string()))
                .map_err(|e| format!("bar {symbol} {}: v: {e}", self.t))?,
            trade_count: self.n,
            quote_volume: None,
        };
        bar.validate().map_err(|e| e.to_string())?;
        Ok(bar)
    }
}

/// One quote as Alpaca sends it (REST and stream; the stream adds `T` and `S`).
#[derive(Debug, Deserialize)]
pub struct WireQuote<'a> {
    /// Symbol (stream only).
    #[serde(rename = "S", default)]
    pub symbol: Option<String>,
    /// Time, RFC 3339 with nanoseconds.
    pub t: String,
    /// Bid price.
    #[serde(borrow)]
    pub bp: &'a RawValue,
    /// Bid size.
    #[serde(borrow)]
    pub bs: &'a RawValue,
    /// Ask price.
    #[serde(borrow)]
    pub ap: &'a RawValue,
    /// Ask size.
    #[serde(borrow, rename = "as")]
    pub ask_size: &'a RawValue,
}

impl WireQuote<'_> {
    /// The quote of `symbol` on `venue`, stamped with Alpaca's own time.
    ///
    /// # Errors
    /// A field that is not a valid time, price or quantity.
    pub fn to_quote(&self, symbol: Symbol, venue: Venue) -> Result<Quote, String> {
        let num = |what: &str, raw: &RawValue| {
            decimal(raw).map_err(|e| format!("quote {symbol} {}: {what}: {e}", self.t))
        };
        let price = |what: &str, raw: &RawValue| {
            num(what, raw).and_then(|d| Price::new(d).map_err(|e| format!("{what}: {e}")))
        };
        let size = |what: &str, raw: &RawValue| {
            num(what, raw).and_then(|d| Quantity::new(d).map_err(|e| format!("{what}: {e}")))
        };
        Ok(Quote {
            instrument: InstrumentId::new(symbol, venue),
            ts_event: self
                .t
                .parse::<UnixNanos>()
                .map_err(|e| format!("quote {symbol}: time {:?}: {e}", self.t))?,
            bid_price: price("bp", self.bp)?,
            bid_size: size("bs", self.bs)?,
            ask_price: price("ap", self.ap)?,
            ask_size: size("as", self.ask_size)?,
        })
    }
}

/// `GET /v2/stocks/{symbol}/bars`.
#[derive(Debug, Deserialize)]
pub struct StockBarsPage<'a> {
    /// Bars, oldest first (`null` when there are none).
    #[serde(borrow, default)]
    pub bars: Option<Vec<WireBar<'a>>>,
    /// The symbol asked for.
    #[serde(default)]
    pub symbol: String,
    /// Token of the next page; `null` on the last one.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `GET /v1beta3/crypto/us/bars` (and the multi-symbol stock form): bars by symbol.
#[derive(Debug, Deserialize)]
pub struct MultiBarsPage<'a> {
    /// Bars per symbol, oldest first.
    #[serde(borrow, default)]
    pub bars: BTreeMap<String, Vec<WireBar<'a>>>,
    /// Token of the next page; `null` on the last one.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `GET /v2/stocks/bars/latest` and `/v1beta3/crypto/us/latest/bars`.
#[derive(Debug, Deserialize)]
pub struct LatestBars<'a> {
    /// The newest bar per symbol.
    #[serde(borrow, default)]
    pub bars: BTreeMap<String, WireBar<'a>>,
}

/// `GET /v2/stocks/quotes/latest` and `/v1beta3/crypto/us/latest/quotes`.
#[derive(Debug, Deserialize)]
pub struct LatestQuotes<'a> {
    /// The newest quote per symbol.
    #[serde(borrow, default)]
    pub quotes: BTreeMap<String, WireQuote<'a>>,
}

/// `GET /v2/assets/{symbol}` (trading API): what an instrument needs.
#[derive(Clone, Debug, Deserialize)]
pub struct Asset {
    /// Ticker (`AAPL`, `BTC/USD`).
    pub symbol: String,
    /// `us_equity` or `crypto`.
    pub class: String,
    /// `active` or `inactive`.
    #[serde(default)]
    pub status: String,
    /// Whether Alpaca takes orders in it.
    #[serde(default)]
    pub tradable: bool,
    /// Whether fractional share orders are allowed.
    #[serde(default)]
    pub fractionable: bool,
    /// Smallest order quantity (crypto), a numeric string.
    #[serde(default)]
    pub min_order_size: Option<String>,
    /// Quantity step (crypto), a numeric string.
    #[serde(default)]
    pub min_trade_increment: Option<String>,
    /// Price tick (crypto), a numeric string.
    #[serde(default)]
    pub price_increment: Option<String>,
}

/// What one element of a stream message array is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataMessage {
    /// `"T":"b"`: a closed minute bar.
    Bar(Bar),
    /// `"T":"q"`: a top-of-book quote.
    Quote(Quote),
    /// `"T":"success"`: `connected` or `authenticated`.
    Success(String),
    /// `"T":"error"`: Alpaca's code and message (`402 auth failed`, `406 connection limit exceeded`).
    Error {
        /// Alpaca's error code.
        code: u64,
        /// Alpaca's message.
        msg: String,
    },
    /// `"T":"subscription"`: the symbols now subscribed to.
    Subscription {
        /// Bar subscriptions.
        bars: Vec<String>,
        /// Quote subscriptions.
        quotes: Vec<String>,
    },
    /// Anything else (trades, updated or daily bars, statuses): not used.
    Other(String),
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "T")]
    kind: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    code: u64,
    #[serde(default)]
    bars: Vec<String>,
    #[serde(default)]
    quotes: Vec<String>,
    #[serde(rename = "S", default)]
    symbol: String,
}

/// Read one stream frame (`[{"T": …}, …]`) of `venue`'s market data.
///
/// # Errors
/// The frame is not an array of objects with a `T`, or a bar or quote in it is invalid.
pub fn parse_stream(text: &str, venue: Venue) -> Result<Vec<DataMessage>, String> {
    let items: Vec<&RawValue> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON array of messages: {e}"))?;
    items
        .into_iter()
        .map(|raw| {
            let head: Head = serde_json::from_str(raw.get())
                .map_err(|e| format!("message without a type: {e}"))?;
            let symbol = || Symbol::new(&head.symbol).map_err(|e| e.to_string());
            Ok(match head.kind.as_str() {
                "b" => {
                    let b: WireBar<'_> =
                        serde_json::from_str(raw.get()).map_err(|e| format!("bar: {e}"))?;
                    DataMessage::Bar(b.to_bar(symbol()?, venue, Interval::M1)?)
                }
                "q" => {
                    let q: WireQuote<'_> =
                        serde_json::from_str(raw.get()).map_err(|e| format!("quote: {e}"))?;
                    DataMessage::Quote(q.to_quote(symbol()?, venue)?)
                }
                "success" => DataMessage::Success(head.msg),
                "error" => DataMessage::Error {
                    code: head.code,
                    msg: head.msg,
                },
                "subscription" => DataMessage::Subscription {
                    bars: head.bars,
                    quotes: head.quotes,
                },
                other => DataMessage::Other(other.to_string()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venue() -> Venue {
        Venue::new("alpaca").unwrap()
    }

    #[test]
    fn test_decimal_keeps_the_text_exact() {
        let raw: Box<RawValue> = serde_json::from_str("178.26").unwrap();
        assert_eq!(decimal(&raw).unwrap().to_string(), "178.26");
        // 0.1 + 0.2 style values survive: no f64 on the way.
        let raw: Box<RawValue> = serde_json::from_str("0.30000000000000004").unwrap();
        assert_eq!(decimal(&raw).unwrap().to_string(), "0.30000000000000004");
        let raw: Box<RawValue> = serde_json::from_str("2.5e-05").unwrap();
        assert_eq!(decimal(&raw).unwrap().to_string(), "0.000025");
        let raw: Box<RawValue> = serde_json::from_str("\"x\"").unwrap();
        assert!(decimal(&raw).is_err());
    }

    #[test]
    fn test_parse_stream_bar_quote_and_control_messages() {
        let text = r#"[{"T":"b","S":"SPY","o":388.985,"h":389.13,"l":388.975,"c":389.12,"v":49378,"t":"2021-02-22T19:15:00Z","n":461,"vw":389.06},{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":87.68,"as":4,"t":"2021-02-22T15:51:45.335689322Z","c":["R"],"z":"C"},{"T":"t","S":"AMD"}]"#;
        let m = parse_stream(text, venue()).unwrap();
        let DataMessage::Bar(b) = &m[0] else {
            panic!("{m:?}")
        };
        assert_eq!(b.open.to_string(), "388.985");
        assert_eq!(b.close.to_string(), "389.12");
        assert_eq!(
            b.open_time,
            UnixNanos::parse("2021-02-22T19:15:00Z").unwrap()
        );
        assert_eq!(b.trade_count, Some(461));
        let DataMessage::Quote(q) = &m[1] else {
            panic!("{m:?}")
        };
        assert_eq!(q.ask_price.to_string(), "87.68");
        assert_eq!(q.ts_event.0 % 1_000_000_000, 335_689_322);
        assert_eq!(m[2], DataMessage::Other("t".into()));
        let m = parse_stream(r#"[{"T":"error","code":402,"msg":"auth failed"}]"#, venue()).unwrap();
        assert_eq!(
            m,
            vec![DataMessage::Error {
                code: 402,
                msg: "auth failed".into()
            }]
        );
        assert!(parse_stream(r#"{"T":"b"}"#, venue()).is_err());
        // A bar whose high is below its close is refused, naming the bar.
        let bad =
            r#"[{"T":"b","S":"SPY","o":1,"h":1,"l":1,"c":2,"v":1,"t":"2021-02-22T19:15:00Z"}]"#;
        assert!(parse_stream(bad, venue()).unwrap_err().contains("high"));
    }
}
