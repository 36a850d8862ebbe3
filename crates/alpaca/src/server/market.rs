//! The market data side of [`super::TestServer`]: Alpaca's Market Data API
//! (`/v2/stocks/{symbol}/bars`, `/v1beta3/crypto/us/bars`, latest bars and
//! quotes), `/v2/assets/{symbol}` and the real-time stream (`/v2/iex`,
//! `/v2/sip`, `/v1beta3/crypto/us`), served from bars it is given (a CSV
//! file per symbol) or generated ones, on a market clock that may run faster
//! than real time.
//!
//! A bar is served only once the market clock has passed its end; every
//! answer carries the market clock as its `Date` header, as Alpaca's carry
//! Alpaca's. The stream sends each subscribed symbol's bar when it closes
//! and a quote in the middle of each minute, as JSON arrays of `{"T": …}`
//! messages. Faults: `drop_data_stream_after` closes each connection after
//! that many data messages (the bars it would have sent next are lost to
//! it, as in a real outage), `refuse_data_streams` answers the next
//! connections with `[{"T":"error","code":406,"msg":"connection limit exceeded"}]`,
//! and [`super::TestServer::drop_data_streams`] drops every connection now.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Deserialize;
use tessera_core::{Clock, UnixNanos};

use super::{Outgoing, Shared, authorised};
use crate::error::{Error, Result};

const MINUTE: i64 = 60_000_000_000;

/// One minute bar the server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerBar {
    /// Open time (on the minute).
    pub open_time: UnixNanos,
    /// Open.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close.
    pub close: Decimal,
    /// Volume.
    pub volume: Decimal,
}

/// What market data the server has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarketSettings {
    /// Bars by symbol, oldest first.
    pub bars: BTreeMap<String, Vec<ServerBar>>,
    /// Generate bars for any symbol not in `bars` (a triangle wave with
    /// noise, so moving-average strategies cross); off: such symbols are unknown.
    pub synthetic: bool,
    /// Market time when the server starts; `None`: the wall clock's time.
    pub start: Option<UnixNanos>,
    /// Market seconds per real second (0 counts as 1).
    pub speed: u32,
}

impl MarketSettings {
    /// Read a CSV of minute bars: a header, then `time,open,high,low,close,volume`
    /// rows (time as RFC 3339 or epoch milliseconds), oldest first.
    ///
    /// # Errors
    /// [`Error::State`] naming the file and line of an unreadable row.
    pub fn load_csv(path: &Path) -> Result<Vec<ServerBar>> {
        let bad = |reason: String| Error::State {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut out: Vec<ServerBar> = Vec::new();
        for (n, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let at = |reason: String| bad(format!("line {}: {reason}", n + 1));
            if f.len() < 6 {
                return Err(at(format!("expected 6 columns, got {}", f.len())));
            }
            let time = match f[0].parse::<i64>() {
                Ok(ms) => UnixNanos::from_millis(ms).map_err(|e| at(e.to_string()))?,
                Err(_) => f[0].parse::<UnixNanos>().map_err(|e| at(e.to_string()))?,
            };
            let num = |i: usize| {
                Decimal::from_str_exact(f[i]).map_err(|e| at(format!("column {}: {e}", i + 1)))
            };
            let bar = ServerBar {
                open_time: time,
                open: num(1)?,
                high: num(2)?,
                low: num(3)?,
                close: num(4)?,
                volume: num(5)?,
            };
            if out.last().is_some_and(|b| b.open_time >= bar.open_time) {
                return Err(at("rows must be in ascending time order".into()));
            }
            out.push(bar);
        }
        Ok(out)
    }
}

/// The market: its clock and bars.
#[derive(Debug)]
pub(super) struct Market {
    settings: MarketSettings,
    wall_start: UnixNanos,
    start: UnixNanos,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64: a fixed, seedless hash so generated bars never change.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn symbol_hash(symbol: &str) -> u64 {
    symbol.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn synthetic_close_cents(h: u64, minute: i64) -> i64 {
    let phase = minute.rem_euclid(16);
    let wave = if phase < 8 { phase } else { 16 - phase };
    let noise = (mix(h ^ minute as u64) % 7) as i64 - 3;
    10_000 + (h % 5_000) as i64 + wave * 40 + noise
}

fn synthetic_bar(symbol: &str, open_time: UnixNanos) -> ServerBar {
    let h = symbol_hash(symbol);
    let m = open_time.0.div_euclid(MINUTE);
    let open = synthetic_close_cents(h, m - 1);
    let close = synthetic_close_cents(h, m);
    let cents = |c: i64| Decimal::new(c, 2);
    ServerBar {
        open_time: UnixNanos(m * MINUTE),
        open: cents(open),
        high: cents(open.max(close) + 5),
        low: cents(open.min(close) - 5),
        close: cents(close),
        volume: Decimal::from(100 + mix(h ^ (m as u64).rotate_left(17)) % 900),
    }
}

impl Market {
    pub(super) fn new(settings: MarketSettings, wall_now: UnixNanos) -> Self {
        let start = settings.start.unwrap_or(wall_now);
        Self {
            settings,
            wall_start: wall_now,
            start,
        }
    }

    fn speed(&self) -> i64 {
        i64::from(self.settings.speed.max(1))
    }

    /// Market time at wall time `wall`.
    pub(super) fn now_at(&self, wall: UnixNanos) -> UnixNanos {
        UnixNanos(self.start.0 + (wall.0 - self.wall_start.0).saturating_mul(self.speed()))
    }

    /// Real time until the market clock shows `t`.
    fn real_until(&self, t: UnixNanos, now: UnixNanos) -> Duration {
        let nanos = (t.0 - now.0).max(0) / self.speed();
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
    }

    /// Whether the server has market data for `symbol`.
    pub(super) fn knows(&self, symbol: &str) -> bool {
        self.settings.bars.contains_key(symbol) || self.settings.synthetic
    }

    /// `symbol`'s bars opening in `[from, to]` that have closed by `now`, oldest first.
    fn bars_in(
        &self,
        symbol: &str,
        from: UnixNanos,
        to: UnixNanos,
        now: UnixNanos,
    ) -> Box<dyn Iterator<Item = ServerBar> + Send + '_> {
        let last_open = UnixNanos(to.0.min(now.0 - MINUTE));
        if let Some(bars) = self.settings.bars.get(symbol) {
            let k = bars.partition_point(|b| b.open_time < from);
            return Box::new(
                bars[k..]
                    .iter()
                    .take_while(move |b| b.open_time <= last_open)
                    .copied(),
            );
        }
        if !self.settings.synthetic {
            return Box::new(std::iter::empty());
        }
        let first = from.0.div_euclid(MINUTE) + i64::from(from.0.rem_euclid(MINUTE) != 0);
        let last = last_open.0.div_euclid(MINUTE);
        let symbol = symbol.to_string();
        Box::new((first..=last).map(move |m| synthetic_bar(&symbol, UnixNanos(m * MINUTE))))
    }

    /// The bar of `symbol` opening at `open`, if the server has one.
    fn bar(&self, symbol: &str, open: UnixNanos) -> Option<ServerBar> {
        if let Some(bars) = self.settings.bars.get(symbol) {
            return bars
                .binary_search_by_key(&open, |b| b.open_time)
                .ok()
                .map(|k| bars[k]);
        }
        self.settings.synthetic.then(|| synthetic_bar(symbol, open))
    }

    /// `symbol`'s newest bar closed by `now`.
    fn latest(&self, symbol: &str, now: UnixNanos) -> Option<ServerBar> {
        if let Some(bars) = self.settings.bars.get(symbol) {
            let k = bars.partition_point(|b| b.open_time.0 + MINUTE <= now.0);
            return k.checked_sub(1).map(|k| bars[k]);
        }
        self.settings.synthetic.then(|| {
            synthetic_bar(
                symbol,
                UnixNanos(now.0.div_euclid(MINUTE) * MINUTE - MINUTE),
            )
        })
    }

    /// The price market orders in `symbol` fill at: the newest closed bar's close.
    pub(super) fn price(&self, symbol: &str, now: UnixNanos) -> Option<Decimal> {
        self.latest(symbol, now).map(|b| b.close)
    }
}

fn bar_json(b: &ServerBar, symbol: Option<&str>) -> String {
    let head = symbol.map_or_else(String::new, |s| format!(r#""T":"b","S":"{s}","#));
    format!(
        r#"{{{head}"t":"{}","o":{},"h":{},"l":{},"c":{},"v":{},"n":{},"vw":{}}}"#,
        b.open_time.to_rfc3339(),
        b.open,
        b.high,
        b.low,
        b.close,
        b.volume,
        (b.volume / Decimal::TEN).trunc() + Decimal::ONE,
        ((b.high + b.low + b.close) / Decimal::from(3)).round_dp(4),
    )
}

fn quote_json(b: &ServerBar, at: UnixNanos, symbol: Option<&str>) -> String {
    let head = symbol.map_or_else(String::new, |s| format!(r#""T":"q","S":"{s}","#));
    let cent = Decimal::new(1, 2);
    format!(
        r#"{{{head}"t":"{}","ax":"V","ap":{},"as":3,"bx":"V","bp":{},"bs":2,"c":["R"],"z":"C"}}"#,
        at.to_rfc3339(),
        b.open + cent,
        b.open - cent,
    )
}

fn json(inner: &Shared, status: StatusCode, body: String) -> Response {
    let now = inner.market.now_at(inner.clock.now());
    let date = now
        .to_datetime()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::DATE, date),
        ],
        body,
    )
        .into_response()
}

fn fail(inner: &Shared, status: StatusCode, code: u64, message: &str) -> Response {
    json(
        inner,
        status,
        serde_json::json!({"code": code, "message": message}).to_string(),
    )
}

macro_rules! data_auth {
    ($inner:expr, $headers:expr) => {
        if !authorised(&$inner, &$headers) {
            // The market data API answers bad credentials with 403.
            return fail(&$inner, StatusCode::FORBIDDEN, 40310000, "forbidden");
        }
    };
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct BarsQuery {
    symbols: Option<String>,
    timeframe: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<usize>,
    page_token: Option<String>,
    feed: Option<String>,
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

/// What a bars query asks for: start, inclusive end, page size, and where the page starts.
struct Window {
    start: UnixNanos,
    end: UnixNanos,
    limit: usize,
    token: Option<(String, UnixNanos)>,
}

/// Check the query; the error is the message of a 422 answer.
fn window(
    inner: &Shared,
    q: &BarsQuery,
    stocks: bool,
) -> std::result::Result<Window, &'static str> {
    let bad = |m: &'static str| m;
    if q.timeframe.as_deref() != Some("1Min") {
        return Err(bad("invalid timeframe: the test server serves 1Min"));
    }
    if stocks && !matches!(q.feed.as_deref(), None | Some("iex" | "sip")) {
        return Err(bad("invalid feed"));
    }
    let time = |s: &Option<String>, default: UnixNanos| match s {
        None => Ok(default),
        Some(t) => t.parse::<UnixNanos>().map_err(|_| bad("invalid time")),
    };
    let now = inner.market.now_at(inner.clock.now());
    let start = time(&q.start, UnixNanos(now.0 - 86_400_000_000_000))?;
    let end = time(&q.end, now)?;
    let limit = q.limit.unwrap_or(1_000);
    if !(1..=10_000).contains(&limit) {
        return Err(bad("invalid limit: must be between 1 and 10000"));
    }
    let token = match &q.page_token {
        None => None,
        Some(t) => {
            let text = unhex(t).ok_or_else(|| bad("invalid page token"))?;
            let (sym, at) = text
                .split_once('|')
                .ok_or_else(|| bad("invalid page token"))?;
            let at = at.parse::<i64>().map_err(|_| bad("invalid page token"))?;
            Some((sym.to_string(), UnixNanos(at)))
        }
    };
    Ok(Window {
        start,
        end,
        limit,
        token,
    })
}

type Page = (BTreeMap<String, Vec<ServerBar>>, Option<String>);

/// One page over `symbols` (in name order, then time), Alpaca-style: `limit` bars in all.
fn page(inner: &Shared, symbols: &[String], w: &Window) -> Page {
    let (start, end, limit, token) = (w.start, w.end, w.limit, &w.token);
    let now = inner.market.now_at(inner.clock.now());
    let mut names: Vec<&String> = symbols.iter().collect();
    names.sort();
    names.dedup();
    let mut out: BTreeMap<String, Vec<ServerBar>> = BTreeMap::new();
    let mut n = 0;
    for s in names {
        let from = match token {
            Some((ts, _)) if s < ts => continue,
            Some((ts, at)) if s == ts => (*at).max(start),
            _ => start,
        };
        for b in inner.market.bars_in(s, from, end, now) {
            if n == limit {
                return (out, Some(hex(&format!("{s}|{}", b.open_time.0))));
            }
            out.entry(s.clone()).or_default().push(b);
            n += 1;
        }
    }
    (out, None)
}

fn token_json(t: Option<&String>) -> String {
    t.map_or_else(|| "null".into(), |t| format!("\"{t}\""))
}

/// `GET /v2/stocks/{symbol}/bars`.
pub(super) async fn stock_bars(
    State(inner): State<Shared>,
    headers: HeaderMap,
    UrlPath(symbol): UrlPath<String>,
    Query(q): Query<BarsQuery>,
) -> Response {
    data_auth!(inner, headers);
    let w = match window(&inner, &q, true) {
        Ok(w) => w,
        Err(m) => return fail(&inner, StatusCode::UNPROCESSABLE_ENTITY, 42210000, m),
    };
    let (mut bars, next) = page(&inner, std::slice::from_ref(&symbol), &w);
    let list: Vec<String> = bars
        .remove(&symbol)
        .unwrap_or_default()
        .iter()
        .map(|b| bar_json(b, None))
        .collect();
    json(
        &inner,
        StatusCode::OK,
        format!(
            r#"{{"bars":[{}],"symbol":"{symbol}","next_page_token":{}}}"#,
            list.join(","),
            token_json(next.as_ref())
        ),
    )
}

fn symbols_of(q: &BarsQuery) -> Vec<String> {
    q.symbols
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `GET /v1beta3/crypto/us/bars` (several symbols).
pub(super) async fn crypto_bars(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BarsQuery>,
) -> Response {
    data_auth!(inner, headers);
    let w = match window(&inner, &q, false) {
        Ok(w) => w,
        Err(m) => return fail(&inner, StatusCode::UNPROCESSABLE_ENTITY, 42210000, m),
    };
    let (bars, next) = page(&inner, &symbols_of(&q), &w);
    let by: Vec<String> = bars
        .iter()
        .map(|(s, v)| {
            let list: Vec<String> = v.iter().map(|b| bar_json(b, None)).collect();
            format!(r#""{s}":[{}]"#, list.join(","))
        })
        .collect();
    json(
        &inner,
        StatusCode::OK,
        format!(
            r#"{{"bars":{{{}}},"next_page_token":{}}}"#,
            by.join(","),
            token_json(next.as_ref())
        ),
    )
}

/// `GET /v2/stocks/bars/latest` and `/v1beta3/crypto/us/latest/bars`.
pub(super) async fn latest_bars(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BarsQuery>,
) -> Response {
    data_auth!(inner, headers);
    let now = inner.market.now_at(inner.clock.now());
    let by: Vec<String> = symbols_of(&q)
        .iter()
        .filter_map(|s| {
            inner
                .market
                .latest(s, now)
                .map(|b| format!(r#""{s}":{}"#, bar_json(&b, None)))
        })
        .collect();
    json(
        &inner,
        StatusCode::OK,
        format!(r#"{{"bars":{{{}}}}}"#, by.join(",")),
    )
}

/// `GET /v2/stocks/quotes/latest` and `/v1beta3/crypto/us/latest/quotes`.
pub(super) async fn latest_quotes(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BarsQuery>,
) -> Response {
    data_auth!(inner, headers);
    let now = inner.market.now_at(inner.clock.now());
    let open = UnixNanos(now.0.div_euclid(MINUTE) * MINUTE);
    let by: Vec<String> = symbols_of(&q)
        .iter()
        .filter_map(|s| {
            inner
                .market
                .bar(s, open)
                .map(|b| format!(r#""{s}":{}"#, quote_json(&b, now, None)))
        })
        .collect();
    json(
        &inner,
        StatusCode::OK,
        format!(r#"{{"quotes":{{{}}}}}"#, by.join(",")),
    )
}

/// `GET /v2/assets/{symbol}` (trading API).
pub(super) async fn asset(
    State(inner): State<Shared>,
    headers: HeaderMap,
    UrlPath(symbol): UrlPath<String>,
) -> Response {
    if !authorised(&inner, &headers) {
        return fail(
            &inner,
            StatusCode::UNAUTHORIZED,
            40110000,
            "request is not authorized",
        );
    }
    if !inner.market.knows(&symbol) {
        return fail(&inner, StatusCode::NOT_FOUND, 40410000, "asset not found");
    }
    let crypto = symbol.contains('/');
    let body = if crypto {
        serde_json::json!({
            "id": "276e2673-764b-4ab6-a611-caf665ca6340", "class": "crypto", "exchange": "CRYPTO",
            "symbol": symbol, "name": symbol, "status": "active", "tradable": true,
            "marginable": false, "shortable": false, "easy_to_borrow": false, "fractionable": true,
            "min_order_size": "0.0001", "min_trade_increment": "0.0001", "price_increment": "1"
        })
    } else {
        serde_json::json!({
            "id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "class": "us_equity", "exchange": "NASDAQ",
            "symbol": symbol, "name": symbol, "status": "active", "tradable": true,
            "marginable": true, "shortable": true, "easy_to_borrow": true, "fractionable": true
        })
    };
    json(&inner, StatusCode::OK, body.to_string())
}

/// The stock stream `/v2/{feed}`.
pub(super) async fn stock_stream(
    State(inner): State<Shared>,
    UrlPath(feed): UrlPath<String>,
    ws: WebSocketUpgrade,
) -> Response {
    if !matches!(feed.as_str(), "iex" | "sip") {
        return StatusCode::NOT_FOUND.into_response();
    }
    ws.on_upgrade(move |socket| serve(inner, socket))
}

/// The crypto stream `/v1beta3/crypto/us`.
pub(super) async fn crypto_stream(State(inner): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve(inner, socket))
}

#[derive(Debug, Default, Deserialize)]
struct DataAction {
    action: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    bars: Vec<String>,
    #[serde(default)]
    quotes: Vec<String>,
}

async fn send(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

fn action_of(m: &Message) -> Option<DataAction> {
    match m {
        Message::Text(t) => serde_json::from_str(t).ok(),
        Message::Binary(b) => serde_json::from_slice(b).ok(),
        _ => None,
    }
}

fn subscription(bars: &[String], quotes: &[String]) -> String {
    serde_json::json!([{"T": "subscription", "trades": [], "quotes": quotes, "bars": bars,
        "updatedBars": [], "dailyBars": [], "statuses": [], "lulds": [], "corrections": [], "cancelErrors": []}])
    .to_string()
}

/// Apply a (un)subscribe action; false for anything else.
fn apply(a: &DataAction, bars: &mut Vec<String>, quotes: &mut Vec<String>) -> bool {
    let (add, remove) = match a.action.as_str() {
        "subscribe" => (true, false),
        "unsubscribe" => (false, true),
        _ => return false,
    };
    for (list, names) in [(&mut *bars, &a.bars), (&mut *quotes, &a.quotes)] {
        for n in names {
            if add && !list.contains(n) {
                list.push(n.clone());
            }
            if remove {
                list.retain(|x| x != n);
            }
        }
    }
    true
}

async fn serve(inner: Shared, mut socket: WebSocket) {
    let mut drops = inner.tx.subscribe();
    if !send(&mut socket, r#"[{"T":"success","msg":"connected"}]"#.into()).await {
        return;
    }
    let refuse = {
        let mut st = inner.lock();
        let r = st.faults.refuse_data_streams > 0;
        if r {
            st.faults.refuse_data_streams -= 1;
            inner.save(&st);
        }
        r
    };
    if refuse {
        // A closed connection is all that is left to do.
        let _ = send(
            &mut socket,
            r#"[{"T":"error","code":406,"msg":"connection limit exceeded"}]"#.into(),
        )
        .await;
        return;
    }
    // Authenticate within ten seconds, as Alpaca asks.
    let auth = tokio::time::timeout(Duration::from_secs(10), socket.recv()).await;
    let Ok(Some(Ok(m))) = auth else {
        return;
    };
    let ok = action_of(&m).is_some_and(|a| {
        a.action == "auth" && a.key == inner.settings.key_id && a.secret == inner.settings.secret
    });
    if !ok {
        // The client hears why; the connection closes either way.
        let _ = send(
            &mut socket,
            r#"[{"T":"error","code":402,"msg":"auth failed"}]"#.into(),
        )
        .await;
        return;
    }
    if !send(
        &mut socket,
        r#"[{"T":"success","msg":"authenticated"}]"#.into(),
    )
    .await
    {
        return;
    }
    let mut bars: Vec<String> = Vec::new();
    let mut quotes: Vec<String> = Vec::new();
    let now = inner.market.now_at(inner.clock.now());
    let minute = now.0.div_euclid(MINUTE) * MINUTE;
    let mut next_bar = UnixNanos(minute + MINUTE);
    let mut next_quote = UnixNanos(if now.0 < minute + MINUTE / 2 {
        minute + MINUTE / 2
    } else {
        minute + MINUTE + MINUTE / 2
    });
    let mut sent: u32 = 0;
    loop {
        let now = inner.market.now_at(inner.clock.now());
        let due = next_bar.min(next_quote);
        let wait = inner.market.real_until(due, now);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            m = socket.recv() => match m {
                Some(Ok(m)) => {
                    if let Some(a) = action_of(&m)
                        && apply(&a, &mut bars, &mut quotes)
                        && !send(&mut socket, subscription(&bars, &quotes)).await
                    {
                        return;
                    }
                    continue;
                }
                _ => return,
            },
            d = drops.recv() => match d {
                Ok(Outgoing::Drop | Outgoing::DropData)
                | Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                // Trade updates are not ours; missing some of them (lagging) does not matter here.
                Ok(Outgoing::Update(_)) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    continue;
                }
            },
        }
        let now = inner.market.now_at(inner.clock.now());
        let mut items: Vec<String> = Vec::new();
        if now >= next_bar {
            let open = UnixNanos(next_bar.0 - MINUTE);
            items.extend(
                bars.iter()
                    .filter_map(|s| inner.market.bar(s, open).map(|b| bar_json(&b, Some(s)))),
            );
            next_bar = UnixNanos(next_bar.0 + MINUTE);
        }
        if now >= next_quote {
            let open = UnixNanos(next_quote.0 - MINUTE / 2);
            items.extend(quotes.iter().filter_map(|s| {
                inner
                    .market
                    .bar(s, open)
                    .map(|b| quote_json(&b, next_quote, Some(s)))
            }));
            next_quote = UnixNanos(next_quote.0 + MINUTE);
        }
        if items.is_empty() {
            continue;
        }
        let n = u32::try_from(items.len()).unwrap_or(u32::MAX);
        if !send(&mut socket, format!("[{}]", items.join(","))).await {
            return;
        }
        sent = sent.saturating_add(n);
        let drop_after = inner.lock().faults.drop_data_stream_after;
        if drop_after > 0 && sent >= drop_after {
            tracing::info!(
                sent,
                "alpaca test server: dropping a market data stream (fault)"
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_synthetic_bars_are_valid_and_continuous() {
        let t0 = UnixNanos::parse("2024-03-01T14:30:00Z").unwrap();
        let mut prev: Option<ServerBar> = None;
        for k in 0..100 {
            let b = synthetic_bar("AAPL", UnixNanos(t0.0 + k * MINUTE));
            assert!(b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close));
            if let Some(p) = prev {
                assert_eq!(p.close, b.open);
            }
            prev = Some(b);
        }
        assert_eq!(synthetic_bar("AAPL", t0), synthetic_bar("AAPL", t0));
    }

    #[test]
    fn test_page_token_round_trip() {
        assert_eq!(unhex(&hex("BTC/USD|123")).as_deref(), Some("BTC/USD|123"));
        assert_eq!(unhex("zz"), None);
    }
}
