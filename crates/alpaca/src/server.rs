//! [`TestServer`]: a local server speaking Alpaca's trading protocol, for tests.
//!
//! It answers the REST v2 calls the adapter makes and runs the
//! `trade_updates` WebSocket with the payload shapes of `test_data/`
//! (recorded from Alpaca's documentation). Orders fill on their own after
//! [`Faults::fill_delay_ms`] at [`ServerSettings::price`] (or their limit).
//! Its state lives in a JSON file when one is given, so it can run as a
//! separate process (`tessera-alpaca-server`) and survive restarts.
//!
//! Faults, set at start or through `POST /_test/faults`: rejections,
//! partial fills, orders that never fill, `POST /v2/orders` answers slower
//! than the client's timeout, dropped stream connections, and a mode that
//! accepts duplicate client order ids (real Alpaca refuses them) so a test
//! can see a double send. `GET /_test/state` returns the whole state.
//!
//! With [`ServerSettings::market`] it also serves Alpaca's market data
//! (historical and latest bars, latest quotes, assets, the real-time stream;
//! see [`market`]), and market orders then fill at the symbol's newest bar
//! close instead of the fixed [`ServerSettings::price`].

mod market;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tessera_core::{Clock, SystemClock, UnixNanos};
use tokio::sync::broadcast;

use crate::error::{Error, Result};
use crate::wire::{self, Account, ErrorBody, FillActivity, NewOrder, Position, ReplaceOrder};
pub use market::{MarketSettings, ServerBar};

/// Faults to inject.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Refuse the next this many orders with 403 "insufficient buying power".
    pub reject_next: u32,
    /// Fill each order in two parts (a `partial_fill`, then a `fill`).
    pub partial_fills: bool,
    /// Milliseconds before each fill.
    pub fill_delay_ms: u64,
    /// Leave new orders working (never fill them).
    pub no_fill: bool,
    /// Take the next this many orders but answer only after `post_delay_ms`
    /// (longer than the client's timeout: the client must look the order up).
    pub slow_posts: u32,
    /// Delay of slow answers, milliseconds.
    pub post_delay_ms: u64,
    /// Drop every stream connection just before the next this many updates are published
    /// (those updates are lost to connected clients, as in a real outage).
    pub drop_stream_before_next: u32,
    /// Accept a second order with a client order id already taken (real
    /// Alpaca refuses it); lets a test detect a double send.
    pub allow_duplicate_client_ids: bool,
    /// Close each market data stream connection after it has sent this many
    /// bars and quotes (0: never); what it would have sent next is lost to it.
    pub drop_data_stream_after: u32,
    /// Refuse the next this many market data stream connections with
    /// `{"T":"error","code":406,"msg":"connection limit exceeded"}`.
    pub refuse_data_streams: u32,
}

/// Settings of a [`TestServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// Key id clients must send.
    pub key_id: String,
    /// Secret clients must send.
    pub secret: String,
    /// Fill price of market and stop orders.
    pub price: Decimal,
    /// Starting cash, USD.
    pub cash: Decimal,
    /// File holding the state; `None` keeps it in memory only.
    pub state_file: Option<PathBuf>,
    /// Faults at start (a stored state's faults win).
    pub faults: Faults,
    /// Market data served (none by default).
    pub market: MarketSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            key_id: "test-key".into(),
            secret: "test-secret".into(),
            price: Decimal::ONE_HUNDRED,
            cash: Decimal::from(1_000_000),
            state_file: None,
            faults: Faults::default(),
            market: MarketSettings::default(),
        }
    }
}

/// A position at the server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerPosition {
    /// Signed quantity.
    pub qty: Decimal,
    /// Signed cost of the quantity held.
    pub cost: Decimal,
}

/// Everything the server holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    /// Orders ever received, oldest first.
    pub orders: Vec<wire::Order>,
    /// Fill activities, oldest first.
    pub activities: Vec<FillActivity>,
    /// Positions by symbol.
    pub positions: BTreeMap<String, ServerPosition>,
    /// Cash.
    pub cash: Decimal,
    /// `POST /v2/orders` calls received.
    pub posts: u64,
    /// Posts refused because the client order id was taken.
    pub duplicate_posts: u64,
    /// Faults in force.
    pub faults: Faults,
    next_id: u64,
}

impl ServerState {
    /// Client order ids that occur on more than one order.
    #[must_use]
    pub fn duplicate_client_ids(&self) -> Vec<String> {
        let mut seen = BTreeMap::<&str, u32>::new();
        for o in &self.orders {
            *seen.entry(&o.client_order_id).or_default() += 1;
        }
        seen.into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, _)| k.to_string())
            .collect()
    }
}

#[derive(Clone, Debug)]
enum Outgoing {
    Update(String),
    /// Drop every stream connection (trade updates and market data).
    Drop,
    /// Drop the market data stream connections only.
    DropData,
}

#[derive(Debug)]
struct Inner {
    settings: ServerSettings,
    state: Mutex<ServerState>,
    tx: broadcast::Sender<Outgoing>,
    clock: SystemClock,
    market: market::Market,
}

/// A running test server.
#[derive(Debug, Clone)]
pub struct TestServer {
    inner: Arc<Inner>,
    addr: SocketAddr,
}

type Shared = Arc<Inner>;

fn now_text(clock: &SystemClock) -> String {
    clock.now().to_rfc3339()
}

fn err(status: StatusCode, code: u64, message: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            code,
            message: message.into(),
        }),
    )
        .into_response()
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, ServerState> {
        // A panic while holding the lock is a bug in this test server; keep serving what is there.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn save(&self, state: &ServerState) {
        let Some(path) = &self.settings.state_file else {
            return;
        };
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec(state).expect("state serialises");
        // A test server that cannot write its state file is broken: say so loudly.
        if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::error!(error = %e, "alpaca test server: cannot save state");
        }
    }

    fn publish(
        &self,
        state: &mut ServerState,
        event: &str,
        order: &wire::Order,
        fill: Option<(Decimal, Decimal)>,
    ) {
        if state.faults.drop_stream_before_next > 0 {
            state.faults.drop_stream_before_next -= 1;
            // No receiver is fine: nobody is listening.
            let _ = self.tx.send(Outgoing::Drop);
        }
        let mut data = serde_json::json!({
            "event": event,
            "order": order,
            "timestamp": order.updated_at,
        });
        if let Some((price, qty)) = fill {
            data["execution_id"] = serde_json::json!(format!("{}-{}", order.id, order.filled_qty));
            data["price"] = serde_json::json!(price.to_string());
            data["qty"] = serde_json::json!(qty.to_string());
            let pos = state
                .positions
                .get(&order.symbol)
                .map_or(Decimal::ZERO, |p| p.qty);
            data["position_qty"] = serde_json::json!(pos.to_string());
        }
        let msg = serde_json::json!({"stream": "trade_updates", "data": data});
        // No receiver is fine: nobody is listening.
        let _ = self.tx.send(Outgoing::Update(msg.to_string()));
    }

    /// Fill `qty` of order `k` at `price`.
    fn fill(&self, state: &mut ServerState, k: usize, qty: Decimal, price: Decimal) {
        let now = now_text(&self.clock);
        let o = &mut state.orders[k];
        let total = o.qty.unwrap_or_default();
        let before = o.filled_qty;
        let cum = before + qty;
        let avg = (o.filled_avg_price.unwrap_or_default() * before + price * qty) / cum;
        o.filled_qty = cum;
        o.filled_avg_price = Some(avg.normalize());
        o.updated_at.clone_from(&now);
        let done = cum >= total;
        o.status = if done { "filled" } else { "partially_filled" }.into();
        if done {
            o.filled_at = Some(now.clone());
        }
        let signed = if o.side == "buy" { qty } else { -qty };
        let order = o.clone();
        let p = state.positions.entry(order.symbol.clone()).or_default();
        p.qty += signed;
        p.cost += signed * price;
        if p.qty.is_zero() {
            state.positions.remove(&order.symbol);
        }
        state.cash -= signed * price;
        state.next_id += 1;
        state.activities.push(FillActivity {
            activity_type: "FILL".into(),
            id: format!(
                "{}::{:08x}-0000-4000-8000-{:012x}",
                now.replace(['-', ':', 'T', 'Z', '.'], ""),
                state.next_id,
                state.next_id
            ),
            cum_qty: cum,
            leaves_qty: total - cum,
            price,
            qty,
            side: order.side.clone(),
            symbol: order.symbol.clone(),
            transaction_time: now,
            order_id: order.id.clone(),
            kind: if done { "fill" } else { "partial_fill" }.into(),
            order_status: order.status.clone(),
        });
        self.publish(
            state,
            if done { "fill" } else { "partial_fill" },
            &order,
            Some((price, qty)),
        );
    }
}

fn working(status: &str) -> bool {
    matches!(
        status,
        "new" | "accepted" | "pending_new" | "partially_filled"
    )
}

/// Fill order `id` over time, as the faults say.
fn schedule_fills(inner: Shared, id: String) {
    tokio::spawn(async move {
        loop {
            let delay = inner.lock().faults.fill_delay_ms;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let mut st = inner.lock();
            if st.faults.no_fill {
                return;
            }
            let Some(k) = st.orders.iter().position(|o| o.id == id) else {
                return;
            };
            let o = &st.orders[k];
            if !working(&o.status) {
                return;
            }
            let total = o.qty.unwrap_or_default();
            let left = total - o.filled_qty;
            // Half first (whole units) when partial fills are on; the rest after.
            let half = (total / Decimal::TWO).floor();
            let qty = if st.faults.partial_fills && o.filled_qty.is_zero() && half > Decimal::ZERO {
                half
            } else {
                left
            };
            if qty <= Decimal::ZERO {
                return;
            }
            let now = inner.market.now_at(inner.clock.now());
            let price = o.limit_price.unwrap_or_else(|| {
                inner
                    .market
                    .price(&o.symbol, now)
                    .unwrap_or(inner.settings.price)
            });
            inner.fill(&mut st, k, qty, price);
            inner.save(&st);
            if st.orders[k].status == "filled" {
                return;
            }
        }
    });
}

fn authorised(inner: &Inner, headers: &HeaderMap) -> bool {
    headers.get("APCA-API-KEY-ID").and_then(|v| v.to_str().ok())
        == Some(inner.settings.key_id.as_str())
        && headers
            .get("APCA-API-SECRET-KEY")
            .and_then(|v| v.to_str().ok())
            == Some(inner.settings.secret.as_str())
}

macro_rules! auth {
    ($inner:expr, $headers:expr) => {
        if !authorised(&$inner, &$headers) {
            return err(
                StatusCode::UNAUTHORIZED,
                40110000,
                "request is not authorized",
            );
        }
    };
}

async fn post_order(
    State(inner): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<NewOrder>>,
) -> Response {
    auth!(inner, headers);
    let Some(Json(req)) = body else {
        return err(
            StatusCode::UNPROCESSABLE_ENTITY,
            40010000,
            "invalid order request",
        );
    };
    let (order, delay) = {
        let mut st = inner.lock();
        st.posts += 1;
        if !st.faults.allow_duplicate_client_ids
            && st
                .orders
                .iter()
                .any(|o| o.client_order_id == req.client_order_id)
        {
            st.duplicate_posts += 1;
            inner.save(&st);
            return err(
                StatusCode::UNPROCESSABLE_ENTITY,
                40010001,
                "client_order_id must be unique",
            );
        }
        if req.qty <= Decimal::ZERO {
            return err(
                StatusCode::UNPROCESSABLE_ENTITY,
                40010001,
                "qty must be > 0",
            );
        }
        if st.faults.reject_next > 0 {
            st.faults.reject_next -= 1;
            inner.save(&st);
            return err(StatusCode::FORBIDDEN, 40310000, "insufficient buying power");
        }
        st.next_id += 1;
        let n = st.next_id;
        let now = now_text(&inner.clock);
        let o = wire::Order {
            id: format!("{n:08x}-8549-4bfd-b9c3-{n:012x}"),
            client_order_id: req.client_order_id.clone(),
            created_at: now.clone(),
            updated_at: now.clone(),
            submitted_at: Some(now),
            filled_at: None,
            expired_at: None,
            canceled_at: None,
            failed_at: None,
            replaced_at: None,
            replaced_by: None,
            replaces: None,
            asset_id: "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415".into(),
            symbol: req.symbol.clone(),
            asset_class: if req.symbol.contains('/') {
                "crypto"
            } else {
                "us_equity"
            }
            .into(),
            notional: None,
            qty: Some(req.qty),
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            order_class: String::new(),
            order_type: req.kind.clone(),
            kind: req.kind.clone(),
            side: req.side.clone(),
            time_in_force: req.time_in_force.clone(),
            limit_price: req.limit_price,
            stop_price: req.stop_price,
            status: "new".into(),
            extended_hours: false,
            legs: None,
            trail_percent: None,
            trail_price: None,
            hwm: None,
        };
        st.orders.push(o.clone());
        inner.publish(&mut st, "new", &o, None);
        let delay = if st.faults.slow_posts > 0 {
            st.faults.slow_posts -= 1;
            st.faults.post_delay_ms
        } else {
            0
        };
        inner.save(&st);
        (o, delay)
    };
    schedule_fills(inner.clone(), order.id.clone());
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    Json(order).into_response()
}

#[derive(Debug, Deserialize)]
struct OrdersQuery {
    status: Option<String>,
    client_order_id: Option<String>,
}

async fn list_orders(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<OrdersQuery>,
) -> Response {
    auth!(inner, headers);
    let st = inner.lock();
    let want = q.status.unwrap_or_else(|| "open".into());
    let v: Vec<&wire::Order> = st
        .orders
        .iter()
        .filter(|o| match want.as_str() {
            "open" => working(&o.status),
            "closed" => !working(&o.status),
            _ => true,
        })
        .collect();
    Json(v).into_response()
}

async fn by_client_id(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<OrdersQuery>,
) -> Response {
    auth!(inner, headers);
    let st = inner.lock();
    match st
        .orders
        .iter()
        .rev()
        .find(|o| Some(&o.client_order_id) == q.client_order_id.as_ref())
    {
        Some(o) => Json(o).into_response(),
        None => err(StatusCode::NOT_FOUND, 40410000, "order not found"),
    }
}

async fn get_order(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    auth!(inner, headers);
    let st = inner.lock();
    match st.orders.iter().find(|o| o.id == id) {
        Some(o) => Json(o).into_response(),
        None => err(StatusCode::NOT_FOUND, 40410000, "order not found"),
    }
}

async fn cancel_order(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    auth!(inner, headers);
    let mut st = inner.lock();
    let Some(k) = st.orders.iter().position(|o| o.id == id) else {
        return err(StatusCode::NOT_FOUND, 40410000, "order not found");
    };
    if !working(&st.orders[k].status) {
        return err(
            StatusCode::UNPROCESSABLE_ENTITY,
            42210000,
            "order is not cancelable",
        );
    }
    let now = now_text(&inner.clock);
    let o = &mut st.orders[k];
    o.status = "canceled".into();
    o.canceled_at = Some(now.clone());
    o.updated_at = now;
    let o = o.clone();
    inner.publish(&mut st, "canceled", &o, None);
    inner.save(&st);
    StatusCode::NO_CONTENT.into_response()
}

async fn replace_order(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<ReplaceOrder>>,
) -> Response {
    auth!(inner, headers);
    let Some(Json(change)) = body else {
        return err(
            StatusCode::UNPROCESSABLE_ENTITY,
            40010000,
            "invalid replace request",
        );
    };
    let new = {
        let mut st = inner.lock();
        let Some(k) = st.orders.iter().position(|o| o.id == id) else {
            return err(StatusCode::NOT_FOUND, 40410000, "order not found");
        };
        if st.orders[k].status != "new" && st.orders[k].status != "accepted" {
            return err(
                StatusCode::UNPROCESSABLE_ENTITY,
                42210000,
                "order is not replaceable",
            );
        }
        st.next_id += 1;
        let n = st.next_id;
        let now = now_text(&inner.clock);
        let mut new = st.orders[k].clone();
        new.id = format!("{n:08x}-8549-4bfd-b9c3-{n:012x}");
        new.replaces = Some(id);
        new.created_at.clone_from(&now);
        new.updated_at.clone_from(&now);
        new.qty = change.qty.or(new.qty);
        new.limit_price = change.limit_price.or(new.limit_price);
        new.stop_price = change.stop_price.or(new.stop_price);
        let old = &mut st.orders[k];
        old.status = "replaced".into();
        old.replaced_at = Some(now.clone());
        old.replaced_by = Some(new.id.clone());
        old.updated_at = now;
        let old = old.clone();
        st.orders.push(new.clone());
        inner.publish(&mut st, "replaced", &old, None);
        inner.save(&st);
        new
    };
    schedule_fills(inner, new.id.clone());
    Json(new).into_response()
}

async fn positions(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    auth!(inner, headers);
    let st = inner.lock();
    let v: Vec<Position> = st
        .positions
        .iter()
        .map(|(sym, p)| {
            let avg = if p.qty.is_zero() {
                Decimal::ZERO
            } else {
                (p.cost / p.qty).normalize()
            };
            Position {
                asset_id: "904837e3-3b76-47ec-b432-046db621571b".into(),
                symbol: sym.clone(),
                exchange: "NASDAQ".into(),
                asset_class: "us_equity".into(),
                avg_entry_price: avg,
                qty: p.qty,
                side: if p.qty < Decimal::ZERO {
                    "short"
                } else {
                    "long"
                }
                .into(),
                market_value: Some(p.qty * inner.settings.price),
                cost_basis: p.cost,
                unrealized_pl: Some(p.qty * inner.settings.price - p.cost),
                current_price: Some(inner.settings.price),
            }
        })
        .collect();
    Json(v).into_response()
}

async fn account(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    auth!(inner, headers);
    let st = inner.lock();
    let value: Decimal = st
        .positions
        .values()
        .map(|p| p.qty * inner.settings.price)
        .sum();
    Json(Account {
        id: "e6fe16f3-64a4-4921-8928-cadf02f92f98".into(),
        status: "ACTIVE".into(),
        currency: "USD".into(),
        cash: st.cash,
        equity: st.cash + value,
        buying_power: (st.cash + value) * Decimal::TWO,
        multiplier: Decimal::TWO,
        trading_blocked: false,
    })
    .into_response()
}

#[derive(Debug, Deserialize)]
struct ActivityQuery {
    after: Option<String>,
    page_size: Option<usize>,
    page_token: Option<String>,
    direction: Option<String>,
}

async fn activities(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ActivityQuery>,
) -> Response {
    auth!(inner, headers);
    let after = match q.after.as_deref().map(str::parse::<UnixNanos>).transpose() {
        Ok(a) => a,
        Err(_) => return err(StatusCode::UNPROCESSABLE_ENTITY, 40010000, "invalid after"),
    };
    let st = inner.lock();
    let mut v: Vec<&FillActivity> = st
        .activities
        .iter()
        .filter(|a| {
            after.is_none_or(|t| a.transaction_time.parse::<UnixNanos>().is_ok_and(|x| x > t))
        })
        .collect();
    if q.direction.as_deref() != Some("asc") {
        v.reverse();
    }
    if let Some(tok) = &q.page_token
        && let Some(k) = v.iter().position(|a| &a.id == tok)
    {
        v.drain(..=k);
    }
    v.truncate(q.page_size.unwrap_or(100).clamp(1, 100));
    Json(v).into_response()
}

#[derive(Debug, Deserialize)]
struct Action {
    action: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    secret: String,
}

async fn stream(State(inner): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve_stream(inner, socket))
}

async fn recv_action(socket: &mut WebSocket) -> Option<Action> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(t)) => return serde_json::from_str(&t).ok(),
            Ok(Message::Binary(b)) => return serde_json::from_slice(&b).ok(),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

async fn serve_stream(inner: Shared, mut socket: WebSocket) {
    let Some(auth) = recv_action(&mut socket).await else {
        return;
    };
    let ok = auth.action == "auth"
        && auth.key == inner.settings.key_id
        && auth.secret == inner.settings.secret;
    let status = if ok { "authorized" } else { "unauthorized" };
    let reply = serde_json::json!({"stream": "authorization", "data": {"status": status, "action": "authenticate"}});
    if socket
        .send(Message::Text(reply.to_string().into()))
        .await
        .is_err()
        || !ok
    {
        return;
    }
    let Some(listen) = recv_action(&mut socket).await else {
        return;
    };
    if listen.action != "listen" {
        return;
    }
    // Subscribe before confirming, so nothing published after the confirmation is missed.
    let mut rx = inner.tx.subscribe();
    let reply = serde_json::json!({"stream": "listening", "data": {"streams": ["trade_updates"]}});
    if socket
        .send(Message::Text(reply.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                // Binary frames, as Alpaca's paper endpoint sends them.
                Ok(Outgoing::Update(text)) => {
                    if socket.send(Message::Binary(text.into_bytes().into())).await.is_err() { return; }
                }
                Ok(Outgoing::Drop) | Err(_) => return,
                Ok(Outgoing::DropData) => {}
            },
            m = socket.recv() => match m {
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

async fn set_faults(State(inner): State<Shared>, Json(f): Json<Faults>) -> Response {
    let mut st = inner.lock();
    st.faults = f;
    inner.save(&st);
    StatusCode::NO_CONTENT.into_response()
}

async fn get_state(State(inner): State<Shared>) -> Response {
    Json(inner.lock().clone()).into_response()
}

impl TestServer {
    /// Load the state file (if any) and serve on `addr` (`127.0.0.1:0` picks a port).
    /// Orders working in a loaded state resume filling.
    ///
    /// # Errors
    /// [`Error::State`] for an unreadable state file, [`Error::Transport`] when the address cannot be bound.
    pub async fn start(settings: ServerSettings, addr: SocketAddr) -> Result<Self> {
        let state = match &settings.state_file {
            Some(p) if p.exists() => {
                let text = std::fs::read(p).map_err(|e| Error::State {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                serde_json::from_slice(&text).map_err(|e| Error::State {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?
            }
            _ => ServerState {
                cash: settings.cash,
                faults: settings.faults.clone(),
                ..ServerState::default()
            },
        };
        let (tx, _) = broadcast::channel(4096);
        let market = market::Market::new(settings.market.clone(), SystemClock.now());
        let inner = Arc::new(Inner {
            settings,
            state: Mutex::new(state),
            tx,
            clock: SystemClock,
            market,
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Transport {
                what: "test server bind".into(),
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| Error::Transport {
            what: "test server bind".into(),
            reason: e.to_string(),
        })?;
        let app = Router::new()
            .route("/v2/orders", post(post_order).get(list_orders))
            .route("/v2/orders:by_client_order_id", get(by_client_id))
            .route(
                "/v2/orders/{id}",
                get(get_order).delete(cancel_order).patch(replace_order),
            )
            .route("/v2/positions", get(positions))
            .route("/v2/account", get(account))
            .route("/v2/account/activities/FILL", get(activities))
            .route("/stream", get(stream))
            .route("/v2/assets/{symbol}", get(market::asset))
            .route("/v2/stocks/{symbol}/bars", get(market::stock_bars))
            .route("/v2/stocks/bars/latest", get(market::latest_bars))
            .route("/v2/stocks/quotes/latest", get(market::latest_quotes))
            .route("/v1beta3/crypto/us/bars", get(market::crypto_bars))
            .route("/v1beta3/crypto/us/latest/bars", get(market::latest_bars))
            .route(
                "/v1beta3/crypto/us/latest/quotes",
                get(market::latest_quotes),
            )
            .route("/v2/{feed}", get(market::stock_stream))
            .route("/v1beta3/crypto/us", get(market::crypto_stream))
            .route("/_test/faults", post(set_faults))
            .route("/_test/state", get(get_state))
            .with_state(inner.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "alpaca test server stopped");
            }
        });
        let working_ids: Vec<String> = inner
            .lock()
            .orders
            .iter()
            .filter(|o| working(&o.status))
            .map(|o| o.id.clone())
            .collect();
        for id in working_ids {
            schedule_fills(inner.clone(), id);
        }
        Ok(Self { inner, addr })
    }

    /// Where it listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`, the `base_url` for clients.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the whole state.
    #[must_use]
    pub fn state(&self) -> ServerState {
        self.inner.lock().clone()
    }

    /// Replace the faults.
    pub fn set_faults(&self, faults: Faults) {
        let mut st = self.inner.lock();
        st.faults = faults;
        self.inner.save(&st);
    }

    /// Drop every stream connection now.
    pub fn drop_streams(&self) {
        // No receiver is fine: nobody is connected.
        let _ = self.inner.tx.send(Outgoing::Drop);
    }

    /// Drop every market data stream connection now (trade updates stay).
    pub fn drop_data_streams(&self) {
        // No receiver is fine: nobody is connected.
        let _ = self.inner.tx.send(Outgoing::DropData);
    }

    /// The market clock now (runs [`MarketSettings::speed`] times real time).
    #[must_use]
    pub fn market_now(&self) -> UnixNanos {
        self.inner.market.now_at(self.inner.clock.now())
    }

    /// The price a market order in `symbol` would fill at now, when the server has its market data.
    #[must_use]
    pub fn market_price(&self, symbol: &str) -> Option<Decimal> {
        self.inner.market.price(symbol, self.market_now())
    }
}
