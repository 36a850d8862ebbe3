//! A fake Binance spot API on 127.0.0.1 serving real candles.
//!
//! It speaks the real wire shapes: `/api/v3/exchangeInfo`, `/api/v3/klines`
//! (array-of-arrays rows, `limit` ≤ 1000, `X-MBX-USED-WEIGHT-1M` and `Date`
//! headers, the still-open candle included with partial values as Binance
//! does) and `/stream?streams=…` (combined-stream envelopes, kline events
//! with `x`, bookTicker events, server pings). Its clock is virtual: it starts
//! `start_minutes` after the first candle and runs `speed` times real time,
//! so candles close while a test watches. Faults are injected on request:
//! 429/418 with `Retry-After`, 503, slow replies, and WebSocket connections
//! dropped without a close frame.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tessera_core::UnixNanos;

const MINUTE_MS: i64 = 60_000;

/// One candle as Binance serves it (12 fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KlineRow {
    /// Open time, epoch ms.
    pub open_time: i64,
    /// open, high, low, close, volume as text.
    pub ohlcv: [String; 5],
    /// Quote volume as text.
    pub quote_volume: String,
    /// Trades.
    pub trades: u64,
    /// Taker buy base and quote volume as text.
    pub taker: [String; 2],
}

impl KlineRow {
    fn json(&self) -> Value {
        json!([
            self.open_time,
            self.ohlcv[0],
            self.ohlcv[1],
            self.ohlcv[2],
            self.ohlcv[3],
            self.ohlcv[4],
            self.open_time + MINUTE_MS - 1,
            self.quote_volume,
            self.trades,
            self.taker[0],
            self.taker[1],
            "0"
        ])
    }

    /// Load Binance.US `open_time,open,high,low,close,volume` candles (first `max` rows).
    /// Fields the source lacks (quote volume, trades, taker volumes) are served as zero.
    ///
    /// # Panics
    /// When the file is unreadable or malformed (test data).
    #[must_use]
    pub fn load_ohlcv(path: &Path, max: usize) -> Vec<Self> {
        let text = std::fs::read_to_string(path).expect("read candles");
        text.lines()
            .skip(1)
            .take(max)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let t = UnixNanos::parse(f[0]).expect("time").as_millis();
                Self {
                    open_time: t,
                    ohlcv: [f[1], f[2], f[3], f[4], f[5]].map(str::to_string),
                    quote_volume: "0".into(),
                    trades: 0,
                    taker: ["0".into(), "0".into()],
                }
            })
            .collect()
    }

    /// Load native 12-column klines.
    ///
    /// # Panics
    /// When the file is unreadable or malformed (test data).
    #[must_use]
    pub fn load_klines(path: &Path) -> Vec<Self> {
        let text = std::fs::read_to_string(path).expect("read klines");
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                Self {
                    open_time: f[0].parse().expect("open time"),
                    ohlcv: [f[1], f[2], f[3], f[4], f[5]].map(str::to_string),
                    quote_volume: f[7].to_string(),
                    trades: f[8].parse().expect("trades"),
                    taker: [f[9].to_string(), f[10].to_string()],
                }
            })
            .collect()
    }
}

/// What the fake serves and which faults it injects.
#[derive(Clone, Debug)]
pub struct FakeBinanceConfig {
    /// Symbol → candles (ascending, one minute apart).
    pub symbols: Vec<(String, Vec<KlineRow>)>,
    /// Virtual now at start, in minutes after the earliest candle.
    pub start_minutes: i64,
    /// Virtual seconds per real second.
    pub speed: f64,
    /// Every Nth klines request fails (cycling 429, 503, 418); 0 = never.
    pub fail_every: u64,
    /// `Retry-After` seconds sent with 429 and 418.
    pub retry_after_secs: u64,
    /// Every Nth request is answered after `slow`; 0 = never.
    pub slow_every: u64,
    /// Delay of slow answers.
    pub slow: Duration,
    /// Drop each WebSocket connection after this many messages; 0 = never.
    pub ws_drop_after: u64,
}

impl Default for FakeBinanceConfig {
    fn default() -> Self {
        Self {
            symbols: Vec::new(),
            start_minutes: 0,
            speed: 1.0,
            fail_every: 0,
            retry_after_secs: 1,
            slow_every: 0,
            slow: Duration::from_secs(3),
            ws_drop_after: 0,
        }
    }
}

/// Counters a test can assert on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeStats {
    /// REST requests served.
    pub requests: u64,
    /// Klines requests served.
    pub klines_requests: u64,
    /// Errors injected (429, 418, 503).
    pub errors_injected: u64,
    /// Slow answers injected.
    pub slow_injected: u64,
    /// Requests that arrived before a `Retry-After` had passed.
    pub retry_after_violations: u64,
    /// Highest weight used within one real minute.
    pub max_weight_per_minute: u64,
    /// WebSocket connections accepted.
    pub ws_connections: u64,
    /// WebSocket connections dropped on purpose.
    pub ws_drops: u64,
    /// Pongs received for our pings.
    pub pongs: u64,
}

#[derive(Debug)]
struct Inner {
    stats: FakeStats,
    weight_minute: i64,
    weight: u64,
    banned_until: Option<Instant>,
}

#[derive(Debug)]
struct Shared {
    cfg: FakeBinanceConfig,
    data: HashMap<String, Vec<KlineRow>>,
    base_ms: i64,
    started: Instant,
    counter: AtomicU64,
    inner: Mutex<Inner>,
}

impl Shared {
    fn now_ms(&self) -> i64 {
        let elapsed = self.started.elapsed().as_secs_f64() * self.cfg.speed * 1000.0;
        self.base_ms + self.cfg.start_minutes * MINUTE_MS + elapsed as i64
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count weight in the current real minute; returns the minute's total.
    fn charge(&self, weight: u64) -> u64 {
        let minute = (self.started.elapsed().as_secs() / 60) as i64;
        let mut i = self.inner();
        if i.weight_minute != minute {
            i.weight_minute = minute;
            i.weight = 0;
        }
        i.weight += weight;
        i.stats.requests += 1;
        i.stats.max_weight_per_minute = i.stats.max_weight_per_minute.max(i.weight);
        if let Some(until) = i.banned_until {
            if Instant::now() < until {
                i.stats.retry_after_violations += 1;
            } else {
                i.banned_until = None;
            }
        }
        i.weight
    }
}

/// A running fake; stops when dropped.
#[derive(Debug)]
pub struct FakeBinance {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBinance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn http_date(ms: i64) -> String {
    UnixNanos::from_millis(ms)
        .map(|t| {
            t.to_datetime()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string()
        })
        .unwrap_or_default()
}

fn decimals(rows: &[KlineRow], idx: &[usize]) -> u32 {
    rows.iter()
        .flat_map(|r| idx.iter().map(move |i| &r.ohlcv[*i]))
        .filter_map(|s| s.parse::<Decimal>().ok())
        .map(|d| d.normalize().scale())
        .max()
        .unwrap_or(2)
}

impl FakeBinance {
    /// Start on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// When no port can be bound (a broken test machine).
    pub async fn start(cfg: FakeBinanceConfig) -> Self {
        let data: HashMap<String, Vec<KlineRow>> = cfg.symbols.iter().cloned().collect();
        let base_ms = data
            .values()
            .filter_map(|v| v.first().map(|r| r.open_time))
            .min()
            .unwrap_or(0);
        let shared = Arc::new(Shared {
            cfg,
            data,
            base_ms,
            started: Instant::now(),
            counter: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                stats: FakeStats::default(),
                weight_minute: -1,
                weight: 0,
                banned_until: None,
            }),
        });
        let app = Router::new()
            .route("/api/v3/exchangeInfo", get(exchange_info))
            .route("/api/v3/klines", get(klines))
            .route("/stream", get(ws_upgrade))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            // The server only stops when the test drops it (abort).
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT`
    #[must_use]
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT`
    #[must_use]
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The fake venue's current time.
    #[must_use]
    pub fn now(&self) -> UnixNanos {
        UnixNanos::from_millis(self.shared.now_ms()).expect("in range")
    }

    /// Candles of `symbol` that have closed by the fake's clock.
    #[must_use]
    pub fn closed(&self, symbol: &str) -> Vec<KlineRow> {
        let now = self.shared.now_ms();
        self.shared
            .data
            .get(symbol)
            .map(|v| {
                v.iter()
                    .filter(|r| r.open_time + MINUTE_MS <= now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> FakeStats {
        self.shared.inner().stats.clone()
    }
}

fn weight_headers(used: u64, now_ms: i64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-mbx-used-weight-1m", HeaderValue::from(used));
    h.insert("x-mbx-used-weight", HeaderValue::from(used));
    if let Ok(v) = HeaderValue::from_str(&http_date(now_ms)) {
        h.insert(axum::http::header::DATE, v);
    }
    h
}

fn binance_error(status: StatusCode, code: i64, msg: &str, headers: HeaderMap) -> Response {
    (
        status,
        headers,
        axum::Json(json!({"code": code, "msg": msg})),
    )
        .into_response()
}

async fn maybe_slow(s: &Shared) {
    let n = s.counter.fetch_add(1, Ordering::Relaxed) + 1;
    if s.cfg.slow_every > 0 && n.is_multiple_of(s.cfg.slow_every) {
        s.inner().stats.slow_injected += 1;
        tokio::time::sleep(s.cfg.slow).await;
    }
}

async fn exchange_info(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let used = s.charge(20);
    let headers = weight_headers(used, s.shared_now());
    let Some(sym) = q.get("symbol") else {
        return binance_error(
            StatusCode::BAD_REQUEST,
            -1102,
            "Mandatory parameter 'symbol' was not sent.",
            headers,
        );
    };
    let Some(rows) = s.data.get(sym) else {
        return binance_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.", headers);
    };
    let (base, quote) = if let Some(b) = sym.strip_suffix("USDT") {
        (b, "USDT")
    } else if let Some(b) = sym.strip_suffix("BTC") {
        (b, "BTC")
    } else {
        sym.split_at(sym.len().saturating_sub(3))
    };
    let tick = Decimal::new(1, decimals(rows, &[0, 1, 2, 3]));
    let step = Decimal::new(1, decimals(rows, &[4]));
    let body = json!({
        "timezone": "UTC",
        "serverTime": s.shared_now(),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
        ],
        "exchangeFilters": [],
        "symbols": [{
            "symbol": sym,
            "status": "TRADING",
            "baseAsset": base,
            "baseAssetPrecision": 8,
            "quoteAsset": quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "isSpotTradingAllowed": true,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": format!("{:.8}", tick), "maxPrice": "1000000.00000000", "tickSize": format!("{:.8}", tick)},
                {"filterType": "LOT_SIZE", "minQty": format!("{:.8}", step), "maxQty": "9000.00000000", "stepSize": format!("{:.8}", step)}
            ],
            "permissions": [],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER"
        }]
    });
    (StatusCode::OK, headers, axum::Json(body)).into_response()
}

impl Shared {
    fn shared_now(&self) -> i64 {
        self.now_ms()
    }
}

async fn klines(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    maybe_slow(&s).await;
    let used = s.charge(2);
    let now = s.now_ms();
    let headers = weight_headers(used, now);
    let n = {
        let mut i = s.inner();
        i.stats.klines_requests += 1;
        i.stats.klines_requests
    };
    if s.cfg.fail_every > 0 && n.is_multiple_of(s.cfg.fail_every) {
        let mut h = headers;
        let kind = (n / s.cfg.fail_every) % 3;
        let mut i = s.inner();
        i.stats.errors_injected += 1;
        if kind == 1 {
            drop(i);
            return binance_error(
                StatusCode::SERVICE_UNAVAILABLE,
                -1001,
                "Internal error; unable to process your request. Please try again.",
                h,
            );
        }
        i.banned_until = Some(Instant::now() + Duration::from_secs(s.cfg.retry_after_secs));
        drop(i);
        h.insert("retry-after", HeaderValue::from(s.cfg.retry_after_secs));
        let status = if kind == 0 {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::from_u16(418).expect("418")
        };
        return binance_error(
            status,
            -1003,
            "Too many requests; current limit of IP is 6000 requests per minute.",
            h,
        );
    }
    let Some(rows) = q.get("symbol").and_then(|sym| s.data.get(sym)) else {
        return binance_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.", headers);
    };
    if q.get("interval").map(String::as_str) != Some("1m") {
        return binance_error(StatusCode::BAD_REQUEST, -1120, "Invalid interval.", headers);
    }
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let limit = num("limit").unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return binance_error(
            StatusCode::BAD_REQUEST,
            -1130,
            "Invalid data sent for a parameter.",
            headers,
        );
    }
    let start = num("startTime").unwrap_or(0);
    let end = num("endTime").unwrap_or(i64::MAX);
    let first = rows.partition_point(|r| r.open_time < start);
    let out: Vec<Value> = rows[first..]
        .iter()
        .take_while(|r| r.open_time <= end && r.open_time <= now)
        .take(usize::try_from(limit).unwrap_or(1000))
        .map(|r| {
            if r.open_time + MINUTE_MS > now {
                // The open candle: only its open so far, as a live venue would show early on.
                let mut partial = r.clone();
                let o = partial.ohlcv[0].clone();
                partial.ohlcv = [o.clone(), o.clone(), o.clone(), o, "0".into()];
                partial.json()
            } else {
                r.json()
            }
        })
        .collect();
    (StatusCode::OK, headers, axum::Json(Value::Array(out))).into_response()
}

async fn ws_upgrade(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let streams: Vec<String> = q
        .get("streams")
        .map(|v| v.split('/').map(str::to_string).collect())
        .unwrap_or_default();
    ws.on_upgrade(move |socket| serve_ws(s, socket, streams))
}

async fn serve_ws(s: Arc<Shared>, mut socket: WebSocket, streams: Vec<String>) {
    s.inner().stats.ws_connections += 1;
    let symbols: Vec<String> = streams
        .iter()
        .filter_map(|st| st.strip_suffix("@kline_1m").map(str::to_ascii_uppercase))
        .collect();
    let books: Vec<String> = streams
        .iter()
        .filter_map(|st| st.strip_suffix("@bookTicker").map(str::to_ascii_uppercase))
        .collect();
    let mut next_close = (s.now_ms() / MINUTE_MS + 1) * MINUTE_MS;
    let mut sent = 0u64;
    let mut update_id = 1u64;
    let mut ping = tokio::time::interval(Duration::from_secs(1));
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if socket.send(Message::Ping(b"tessera".to_vec().into())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Pong(_))) => s.inner().stats.pongs += 1,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                let now = s.now_ms();
                let mut msgs = Vec::new();
                while next_close <= now {
                    let open = next_close - MINUTE_MS;
                    for sym in &symbols {
                        let Some(rows) = s.data.get(sym) else { continue };
                        let Ok(i) = rows.binary_search_by_key(&open, |r| r.open_time) else { continue };
                        let r = &rows[i];
                        msgs.push(json!({
                            "stream": format!("{}@kline_1m", sym.to_ascii_lowercase()),
                            "data": {
                                "e": "kline", "E": next_close, "s": sym,
                                "k": {
                                    "t": r.open_time, "T": r.open_time + MINUTE_MS - 1, "s": sym, "i": "1m",
                                    "f": 100, "L": 200,
                                    "o": r.ohlcv[0], "c": r.ohlcv[3], "h": r.ohlcv[1], "l": r.ohlcv[2],
                                    "v": r.ohlcv[4], "n": r.trades, "x": true, "q": r.quote_volume,
                                    "V": r.taker[0], "Q": r.taker[1], "B": "0"
                                }
                            }
                        }));
                    }
                    next_close += MINUTE_MS;
                }
                for sym in &books {
                    let Some(rows) = s.data.get(sym) else { continue };
                    let i = rows.partition_point(|r| r.open_time + MINUTE_MS <= now);
                    let Some(r) = rows.get(i.saturating_sub(1)) else { continue };
                    let close: Decimal = r.ohlcv[3].parse().unwrap_or_default();
                    let tick = Decimal::new(1, close.scale().max(2));
                    update_id += 1;
                    msgs.push(json!({
                        "stream": format!("{}@bookTicker", sym.to_ascii_lowercase()),
                        "data": {
                            "u": update_id, "s": sym,
                            "b": (close - tick).to_string(), "B": "0.51000000",
                            "a": (close + tick).to_string(), "A": "1.20000000"
                        }
                    }));
                }
                for m in msgs {
                    if socket.send(Message::Text(m.to_string().into())).await.is_err() {
                        return;
                    }
                    sent += 1;
                    if s.cfg.ws_drop_after > 0 && sent >= s.cfg.ws_drop_after {
                        s.inner().stats.ws_drops += 1;
                        // Dropping the socket without a close frame, as a broken network would.
                        return;
                    }
                }
            }
        }
    }
}
