//! The HTTP API end to end: every endpoint, bad parameters (4xx with a problem
//! document, never 5xx), authorisation per scope, on SQLite and PostgreSQL;
//! a full-stack server on 127.0.0.1:0 for loopback access, live updates and
//! rate limits; the dashboard in headless Chromium.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tessera_api::{ApiConfig, ApiState, Scope, generate_token, router};
use tessera_core::UnixNanos;
use tessera_model::{
    Bar, Instrument, InstrumentId, InstrumentKind, Interval, Price, Quantity, Quote,
};
use tessera_storage::testing::TestDb;
use tessera_storage::{InsertOptions, NewApiToken, Store};
use tower::ServiceExt;

/// 2024-01-01T00:00:00Z
const DAY0: i64 = 1_704_067_200;

struct Tokens {
    read: String,
    trade: String,
    admin: String,
}

async fn token(store: &Store, scope: Scope) -> String {
    let g = generate_token().unwrap();
    store
        .create_api_token(NewApiToken {
            name: scope.as_str(),
            prefix: &g.prefix,
            token_hash: &g.hash,
            scope: scope.as_str(),
        })
        .await
        .unwrap();
    g.secret
}

async fn tokens(store: &Store) -> Tokens {
    Tokens {
        read: token(store, Scope::Read).await,
        trade: token(store, Scope::Trade).await,
        admin: token(store, Scope::Admin).await,
    }
}

/// A deterministic random walk of `n` one-minute bars from `DAY0`.
fn walk(id: InstrumentId, n: i64, start_minute: i64) -> Vec<Bar> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut price: i64 = 4_200_000; // cents
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let step = i64::try_from(x % 2001).unwrap() - 1000;
            let open = price;
            let close = (price + step).max(1000);
            let high = open.max(close) + i64::try_from(x % 300).unwrap();
            let low = open.min(close) - i64::try_from((x >> 8) % 300).unwrap();
            price = close;
            Bar {
                instrument: id,
                interval: Interval::M1,
                open_time: UnixNanos::from_secs(DAY0 + (start_minute + i) * 60).unwrap(),
                open: Price::from_parts(open, 2).unwrap(),
                high: Price::from_parts(high, 2).unwrap(),
                low: Price::from_parts(low, 2).unwrap(),
                close: Price::from_parts(close, 2).unwrap(),
                volume: Quantity::from_parts(i64::try_from(x % 50_000).unwrap() + 1, 3).unwrap(),
                trade_count: None,
                quote_volume: None,
            }
        })
        .collect()
}

/// BTCUSDT on `sim`: one day of 1-minute bars, a 10-minute gap at 12:00, three quotes.
async fn seed(store: &Store) -> InstrumentId {
    let id = InstrumentId::parse("BTCUSDT", "sim").unwrap();
    store
        .add_instrument(&Instrument::with_defaults(id, InstrumentKind::Crypto).unwrap())
        .await
        .unwrap();
    let bars: Vec<Bar> = walk(id, 1440, 0)
        .into_iter()
        .filter(|b| !(DAY0 + 720 * 60..DAY0 + 730 * 60).contains(&b.open_time.as_secs()))
        .collect();
    store
        .insert_bars(&bars, InsertOptions::default())
        .await
        .unwrap();
    let quotes: Vec<Quote> = (0..3)
        .map(|i| Quote {
            instrument: id,
            ts_event: UnixNanos::from_secs(DAY0 + 86_000 + i * 60).unwrap(),
            bid_price: Price::from_parts(4_200_000 + i, 2).unwrap(),
            bid_size: Quantity::from_parts(15, 1).unwrap(),
            ask_price: Price::from_parts(4_200_010 + i, 2).unwrap(),
            ask_size: Quantity::from_parts(7, 1).unwrap(),
        })
        .collect();
    store.insert_quotes(&quotes).await.unwrap();
    id
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// Assert a problem document with `status`, naming `param` when given.
    fn problem(&self, status: u16, param: Option<&str>) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.content_type(), "application/problem+json");
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(p["type"].is_string() && p["title"].is_string() && p["detail"].is_string());
        if let Some(param) = param {
            assert!(
                p["detail"].as_str().unwrap().contains(param),
                "detail should name {param}: {p}"
            );
        }
        p
    }
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    raw(app, req).await
}

async fn raw(app: &Router, req: Request<Body>) -> Resp {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap()
        .to_vec();
    assert!(
        !status.is_server_error(),
        "5xx: {status} {}",
        String::from_utf8_lossy(&body)
    );
    Resp {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, uri: &str, token: &str) -> Resp {
    call(app, Method::GET, uri, Some(token), None).await
}

fn app_for(store: &Store, config: ApiConfig) -> Router {
    router(ApiState::new(store.clone(), config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_every_endpoint_on_both_backends() {
    for db in TestDb::all().await {
        let store = db.store();
        let t = tokens(store).await;
        seed(store).await;
        let app = app_for(store, ApiConfig::default());
        health_and_docs(&app).await;
        instruments(&app, &t).await;
        bars(&app, &t.read).await;
        chart_and_quotes(&app, &t.read).await;
        data_status_and_gaps(&app, &t.read).await;
        tokens_resource(&app, &t).await;
        metrics(&app, &t.read).await;
        bad_input_never_5xx(&app, &t.read).await;
        jobs_and_backtests(&app, store, &t).await;
        eprintln!("API story passed on {}", db.backend());
    }
}

async fn health_and_docs(app: &Router) {
    let r = call(app, Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = call(app, Method::GET, "/api/v1/ready", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ready");
    let r = call(app, Method::GET, "/api/v1/openapi.json", None, None).await;
    let spec = r.json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in [
        "/api/v1/health",
        "/api/v1/bars",
        "/api/v1/instruments",
        "/api/v1/instruments/{venue}/{symbol}",
        "/api/v1/stream",
        "/metrics",
    ] {
        assert!(spec["paths"][p].is_object(), "{p} missing from the spec");
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    for (path, mime) in [
        ("/", "text/html"),
        ("/docs", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/chart.js", "text/javascript"),
        ("/assets/docs.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
    ] {
        let r = call(app, Method::GET, path, None, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.content_type().starts_with(mime),
            "{path}: {}",
            r.content_type()
        );
        // Everything is served from the binary: no CDN, no external fetch.
        let body = r.text();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} references an external URL"
        );
    }
    call(app, Method::GET, "/assets/nope.js", None, None)
        .await
        .problem(404, Some("nope.js"));
}

async fn instruments(app: &Router, t: &Tokens) {
    // Listing needs a token (open loopback reads are off by default).
    call(app, Method::GET, "/api/v1/instruments", None, None)
        .await
        .problem(401, Some("token"));
    let r = get(app, "/api/v1/instruments", &t.read).await;
    assert_eq!(r.status, 200);
    let list = r.json();
    assert_eq!(list["instruments"][0]["symbol"], "BTCUSDT");
    assert_eq!(list["instruments"][0]["currency"], "USDT");
    assert_eq!(
        get(app, "/api/v1/instruments?venue=binance", &t.read)
            .await
            .json()["instruments"],
        json!([])
    );
    get(app, "/api/v1/instruments?kind=bond", &t.read)
        .await
        .problem(400, Some("kind"));
    let r = get(app, "/api/v1/instruments/sim/BTCUSDT", &t.read).await;
    assert_eq!(r.json()["tick_size"], "0.00000001");
    get(app, "/api/v1/instruments/sim/NOPE", &t.read)
        .await
        .problem(404, Some("NOPE"));

    // Adding needs trade.
    let body = json!({"symbol": "ETHUSDT", "venue": "sim", "kind": "crypto"});
    call(
        app,
        Method::POST,
        "/api/v1/instruments",
        None,
        Some(body.clone()),
    )
    .await
    .problem(401, None);
    call(
        app,
        Method::POST,
        "/api/v1/instruments",
        Some(&t.read),
        Some(body.clone()),
    )
    .await
    .problem(403, Some("trade"));
    let r = call(
        app,
        Method::POST,
        "/api/v1/instruments",
        Some(&t.trade),
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let added = r.json();
    assert_eq!(added["instrument"]["base_currency"], "ETH");
    assert_eq!(added["backfill"]["state"], "created");
    assert_eq!(added["backfill"]["interval"], "1m");
    call(
        app,
        Method::POST,
        "/api/v1/instruments",
        Some(&t.admin),
        Some(body),
    )
    .await
    .problem(409, Some("ETHUSDT"));
    // The new pair is registered for collection.
    let status = get(app, "/api/v1/data/status", &t.read).await.json();
    assert!(
        status["series"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["symbol"] == "ETHUSDT" && s["state"] == "created")
    );
    // Bad bodies.
    for (b, param) in [
        (json!({"symbol": "X"}), "venue"),
        (
            json!({"symbol": "XYZ", "venue": "sim", "kind": "bond"}),
            "kind",
        ),
        (
            json!({"symbol": "ABC", "venue": "sim", "kind": "equity", "tick_size": "-1"}),
            "tick_size",
        ),
        (
            json!({"symbol": "ABC", "venue": "sim", "kind": "equity", "colour": "red"}),
            "colour",
        ),
        (
            json!({"symbol": "ABC", "venue": "sim", "kind": "equity", "interval": "7x"}),
            "interval",
        ),
        (json!([1, 2]), "body"),
    ] {
        call(
            app,
            Method::POST,
            "/api/v1/instruments",
            Some(&t.trade),
            Some(b),
        )
        .await
        .problem(400, Some(param));
    }
    let malformed = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/instruments")
        .header(header::AUTHORIZATION, format!("Bearer {}", t.trade))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"symbol\": "))
        .unwrap();
    raw(app, malformed).await.problem(400, None);
    let no_type = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/instruments")
        .header(header::AUTHORIZATION, format!("Bearer {}", t.trade))
        .body(Body::from("{}"))
        .unwrap();
    let r = raw(app, no_type).await;
    assert!(r.status.is_client_error());
    assert_eq!(r.content_type(), "application/problem+json");
    let huge = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/instruments")
        .header(header::AUTHORIZATION, format!("Bearer {}", t.trade))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(
            "{{\"symbol\": \"{}\"}}",
            "A".repeat(200_000)
        )))
        .unwrap();
    raw(app, huge).await.problem(413, None);

    // Removing needs admin; refused while data is stored unless force=true.
    call(
        app,
        Method::DELETE,
        "/api/v1/instruments/sim/ETHUSDT",
        Some(&t.trade),
        None,
    )
    .await
    .problem(403, Some("admin"));
    let r = call(
        app,
        Method::DELETE,
        "/api/v1/instruments/sim/ETHUSDT",
        Some(&t.admin),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["removed"].as_str().unwrap().contains("ETHUSDT"));
    call(
        app,
        Method::DELETE,
        "/api/v1/instruments/sim/ETHUSDT",
        Some(&t.admin),
        None,
    )
    .await
    .problem(404, None);
    let bad_force = "/api/v1/instruments/sim/BTCUSDT?force=maybe";
    call(app, Method::DELETE, bad_force, Some(&t.admin), None)
        .await
        .problem(400, Some("force"));
    call(
        app,
        Method::DELETE,
        "/api/v1/instruments/sim/BTCUSDT",
        Some(&t.admin),
        None,
    )
    .await
    .problem(409, Some("force=true"));
}

async fn bars(app: &Router, tok: &str) {
    // One page.
    let r = get(
        app,
        "/api/v1/bars?symbol=BTCUSDT&venue=sim&interval=1m&limit=5",
        tok,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!(p["interval"], "1m");
    assert_eq!(p["source_interval"], "1m");
    let bars = p["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 5);
    assert_eq!(bars[0]["timestamp"], "2024-01-01T00:00:00Z");
    for k in ["open", "high", "low", "close", "volume"] {
        assert!(bars[0][k].is_string(), "{k}");
    }
    assert!(p["next_cursor"].is_string());

    // Paging through the whole day, symbol alone (unique venue), epoch and RFC 3339 times.
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut uri =
            format!("/api/v1/bars?symbol=BTCUSDT&from={DAY0}&to=2024-01-02T00:00:00Z&limit=500");
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let p = get(app, &uri, tok).await.json();
        pages += 1;
        all.extend(p["bars"].as_array().unwrap().iter().cloned());
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(all.len(), 1430);
    assert_eq!(pages, 3);
    let mut times: Vec<&str> = all
        .iter()
        .map(|b| b["timestamp"].as_str().unwrap())
        .collect();
    times.dedup();
    assert_eq!(times.len(), 1430, "pages overlap");

    // CSV by Accept.
    let req = Request::builder()
        .uri("/api/v1/bars?symbol=BTCUSDT&limit=3")
        .header(header::AUTHORIZATION, format!("Bearer {tok}"))
        .header(header::ACCEPT, "text/csv")
        .body(Body::empty())
        .unwrap();
    let r = raw(app, req).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type().starts_with("text/csv"));
    let csv = r.text();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "timestamp,open,high,low,close,volume");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("2024-01-01T00:00:00Z,"));
    assert_eq!(
        lines[1].split(',').nth(4).unwrap(),
        all[0]["close"].as_str().unwrap()
    );
    assert!(r.headers.contains_key("x-next-cursor"));

    // Resampled from 1m: hourly bars aggregate exactly.
    let p = get(
        app,
        "/api/v1/bars?symbol=BTCUSDT&interval=1h&limit=100",
        tok,
    )
    .await
    .json();
    assert_eq!(p["source_interval"], "1m");
    let hours = p["bars"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert!(p["next_cursor"].is_null());
    let first_hour = &all[..60];
    let num = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    assert_eq!(hours[0]["open"], first_hour[0]["open"]);
    assert_eq!(hours[0]["close"], first_hour[59]["close"]);
    let hi = first_hour
        .iter()
        .map(|b| num(&b["high"]))
        .fold(f64::MIN, f64::max);
    let lo = first_hour
        .iter()
        .map(|b| num(&b["low"]))
        .fold(f64::MAX, f64::min);
    assert!(
        (num(&hours[0]["high"]) - hi).abs() < 1e-9 && (num(&hours[0]["low"]) - lo).abs() < 1e-9
    );
    let vol: f64 = first_hour.iter().map(|b| num(&b["volume"])).sum();
    assert!((num(&hours[0]["volume"]) - vol).abs() < 1e-6);

    // Resampled pages equal one big page.
    let whole = get(
        app,
        "/api/v1/bars?symbol=BTCUSDT&interval=5m&limit=10000",
        tok,
    )
    .await
    .json();
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = "/api/v1/bars?symbol=BTCUSDT&interval=5m&limit=100".to_string();
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let p = get(app, &uri, tok).await.json();
        paged.extend(p["bars"].as_array().unwrap().iter().cloned());
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(Value::Array(paged), whole["bars"]);
    assert_eq!(whole["bars"].as_array().unwrap().len(), 286);

    // Empty ranges and unbuildable intervals.
    let p = get(app, "/api/v1/bars?symbol=BTCUSDT&from=2030-01-01", tok)
        .await
        .json();
    assert_eq!(p["bars"], json!([]));
    assert!(p["next_cursor"].is_null());
    get(app, "/api/v1/bars?symbol=BTCUSDT&interval=1s", tok)
        .await
        .problem(400, Some("interval"));
}

async fn chart_and_quotes(app: &Router, tok: &str) {
    let p = get(app, "/api/v1/chart?symbol=BTCUSDT&points=100", tok)
        .await
        .json();
    assert_eq!(p["interval"], "15m");
    let n = p["bars"].as_array().unwrap().len();
    assert!((90..=100).contains(&n), "{n}");
    let p = get(
        app,
        "/api/v1/chart?symbol=BTCUSDT&interval=1m&points=50",
        tok,
    )
    .await
    .json();
    let bars = p["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 50);
    assert_eq!(bars[49]["timestamp"], "2024-01-01T23:59:00Z");
    get(app, "/api/v1/chart?symbol=BTCUSDT&points=5", tok)
        .await
        .problem(400, Some("points"));

    let p = get(app, "/api/v1/quotes?symbol=BTCUSDT&limit=2", tok)
        .await
        .json();
    assert_eq!(p["quotes"].as_array().unwrap().len(), 2);
    let c = p["next_cursor"].as_str().unwrap().to_string();
    let p2 = get(
        app,
        &format!("/api/v1/quotes?symbol=BTCUSDT&limit=2&cursor={c}"),
        tok,
    )
    .await
    .json();
    assert_eq!(p2["quotes"].as_array().unwrap().len(), 1);
    assert!(p2["next_cursor"].is_null());
    let l = get(app, "/api/v1/quotes/latest?symbol=BTCUSDT", tok)
        .await
        .json();
    assert_eq!(l["quote"]["bid_price"], "42000.02");
    assert_eq!(l["quote"]["ask_size"], "0.7");
}

async fn data_status_and_gaps(app: &Router, tok: &str) {
    let s = get(app, "/api/v1/data/status", tok).await.json();
    let btc = s["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["symbol"] == "BTCUSDT")
        .unwrap()
        .clone();
    assert_eq!(btc["bars"], 1430);
    assert_eq!(btc["first"], "2024-01-01T00:00:00Z");
    assert_eq!(btc["last"], "2024-01-01T23:59:00Z");
    assert!(btc["state"].is_null());
    let g = get(app, "/api/v1/data/gaps?symbol=BTCUSDT&interval=1m", tok)
        .await
        .json();
    assert_eq!(
        g["gaps"],
        json!([{"from": "2024-01-01T12:00:00Z", "to": "2024-01-01T12:10:00Z", "missing": 10}])
    );
    assert_eq!(g["missing"], 10);
    assert_eq!(g["truncated"], false);
}

async fn tokens_resource(app: &Router, t: &Tokens) {
    get(app, "/api/v1/tokens", &t.trade)
        .await
        .problem(403, Some("admin"));
    let r = get(app, "/api/v1/tokens", &t.admin).await;
    let list = r.json();
    assert_eq!(list["tokens"].as_array().unwrap().len(), 3);
    // Secrets never come back, only prefixes.
    assert!(!r.text().contains(&t.admin) && !r.text().contains(&t.read));
    let r = call(
        app,
        Method::POST,
        "/api/v1/tokens",
        Some(&t.admin),
        Some(json!({"scope": "read", "name": "nb"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let created = r.json();
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tsr_"));
    assert_eq!(get(app, "/api/v1/instruments", &secret).await.status, 200);
    call(
        app,
        Method::POST,
        "/api/v1/tokens",
        Some(&t.admin),
        Some(json!({"scope": "root"})),
    )
    .await
    .problem(400, Some("scope"));
    let id = created["info"]["id"].as_i64().unwrap();
    let r = call(
        app,
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Some(&t.admin),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    call(
        app,
        Method::DELETE,
        "/api/v1/tokens/abc",
        Some(&t.admin),
        None,
    )
    .await
    .problem(400, Some("id"));
    call(
        app,
        Method::DELETE,
        "/api/v1/tokens/99999",
        Some(&t.admin),
        None,
    )
    .await
    .problem(404, None);
    // Revocation is honoured within the lookup cache's lifetime (5 s).
    tokio::time::sleep(Duration::from_millis(5100)).await;
    get(app, "/api/v1/instruments", &secret)
        .await
        .problem(401, Some("revoked"));
}

async fn metrics(app: &Router, tok: &str) {
    call(app, Method::GET, "/metrics", None, None)
        .await
        .problem(401, None);
    let r = get(app, "/metrics", tok).await;
    assert_eq!(r.status, 200);
    let m = r.text();
    assert!(
        m.contains("tessera_http_request_duration_seconds_bucket"),
        "{m}"
    );
    assert!(m.contains("route=\"/api/v1/bars\""), "{m}");
    assert!(
        m.contains("tessera_ingest_lag_seconds{symbol=\"BTCUSDT\",venue=\"sim\",interval=\"1m\"}")
    );
    assert!(m.contains("process_uptime_seconds"));
    assert!(m.trim_end().ends_with("# EOF"));
}

async fn bad_input_never_5xx(app: &Router, tok: &str) {
    for (uri, status, param) in [
        ("/api/v1/bars", 400, "symbol"),
        ("/api/v1/bars?symbol=", 400, "symbol"),
        ("/api/v1/bars?symbol=NOPE", 404, "NOPE"),
        ("/api/v1/bars?symbol=BTCUSDT&venue=nope", 404, "nope"),
        ("/api/v1/bars?symbol=BTCUSDT&limit=0", 400, "limit"),
        ("/api/v1/bars?symbol=BTCUSDT&limit=-5", 400, "limit"),
        (
            "/api/v1/bars?symbol=BTCUSDT&limit=99999999999999999999999",
            400,
            "limit",
        ),
        ("/api/v1/bars?symbol=BTCUSDT&limit=10001", 400, "limit"),
        ("/api/v1/bars?symbol=BTCUSDT&from=yesterday", 400, "from"),
        ("/api/v1/bars?symbol=BTCUSDT&to=2024-13-45", 400, "to"),
        (
            "/api/v1/bars?symbol=BTCUSDT&from=2024-01-02&to=2024-01-01",
            400,
            "from",
        ),
        (
            "/api/v1/bars?symbol=BTCUSDT&from=99999999999999999999",
            400,
            "from",
        ),
        ("/api/v1/bars?symbol=BTCUSDT&interval=7x", 400, "interval"),
        ("/api/v1/bars?symbol=BTCUSDT&interval=0m", 400, "interval"),
        ("/api/v1/bars?symbol=BTCUSDT&cursor=garbage", 400, "cursor"),
        ("/api/v1/bars?symbol=BTCUSDT&format=xml", 400, "format"),
        ("/api/v1/bars?symbol=BTC%20USDT%00", 400, "symbol"),
        ("/api/v1/bars?symbol=BTCUSDT&symbol=ETH", 400, "symbol"),
        ("/api/v1/quotes?symbol=BTCUSDT&limit=x", 400, "limit"),
        ("/api/v1/quotes", 400, "symbol"),
        ("/api/v1/quotes/latest?symbol=NOPE", 404, "NOPE"),
        (
            "/api/v1/data/gaps?symbol=BTCUSDT&interval=banana",
            400,
            "interval",
        ),
        ("/api/v1/chart?symbol=BTCUSDT&interval=3q", 400, "interval"),
        ("/api/v1/stream?symbol=NOPE", 404, "NOPE"),
        ("/api/v1/stream?interval=zz", 400, "interval"),
        ("/api/v1/nope", 404, "/api/v1/nope"),
    ] {
        let r = get(app, uri, tok).await;
        let p = r.problem(status, Some(param));
        if status == 400 {
            assert!(p["detail"].as_str().unwrap().len() > 10, "{uri}: {p}");
        }
    }
    call(
        app,
        Method::PUT,
        "/api/v1/bars?symbol=BTCUSDT",
        Some(tok),
        None,
    )
    .await
    .problem(405, None);
    let r = call(
        app,
        Method::GET,
        "/api/v1/bars?symbol=BTCUSDT",
        Some("tsr_0000"),
        None,
    )
    .await;
    r.problem(401, Some("unknown"));
    let req = Request::builder()
        .uri("/api/v1/bars?symbol=BTCUSDT")
        .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .unwrap();
    raw(app, req).await.problem(401, Some("Bearer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_loopback_reads_open_only_when_configured() {
    let db = TestDb::sqlite().await;
    seed(db.store()).await;
    let from = |ip: [u8; 4]| {
        let mut req = Request::builder()
            .uri("/api/v1/instruments")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 5555))));
        req
    };
    let closed = app_for(db.store(), ApiConfig::default());
    raw(&closed, from([127, 0, 0, 1])).await.problem(401, None);
    let open = app_for(
        db.store(),
        ApiConfig {
            open_read_on_loopback: true,
            ..ApiConfig::default()
        },
    );
    assert_eq!(raw(&open, from([127, 0, 0, 1])).await.status, 200);
    raw(&open, from([10, 1, 2, 3])).await.problem(401, None);
    // Mutations always need a token, even from loopback.
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/instruments")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"symbol":"ETHUSDT","venue":"sim"}"#))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 5555))));
    raw(&open, req).await.problem(401, Some("trade"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_rate_limit_per_token_and_cors_off_by_default() {
    let db = TestDb::sqlite().await;
    let t = tokens(db.store()).await;
    let app = app_for(
        db.store(),
        ApiConfig {
            rate_limit_per_minute: 3,
            ..ApiConfig::default()
        },
    );
    for _ in 0..3 {
        assert_eq!(get(&app, "/api/v1/instruments", &t.read).await.status, 200);
    }
    let r = get(&app, "/api/v1/instruments", &t.read).await;
    r.problem(429, Some("rate limit"));
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    // Another token has its own budget.
    assert_eq!(get(&app, "/api/v1/instruments", &t.trade).await.status, 200);

    let preflight = |app: &Router| {
        let app = app.clone();
        async move {
            let req = Request::builder()
                .method(Method::GET)
                .uri("/api/v1/health")
                .header(header::ORIGIN, "https://evil.example")
                .body(Body::empty())
                .unwrap();
            raw(&app, req).await
        }
    };
    let r = preflight(&app).await;
    assert!(!r.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    let cors = app_for(
        db.store(),
        ApiConfig {
            cors_origins: vec!["https://evil.example".into()],
            ..ApiConfig::default()
        },
    );
    let r = preflight(&cors).await;
    assert_eq!(
        r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://evil.example"
    );
}

async fn serve(store: &Store, config: ApiConfig) -> (SocketAddr, ApiState) {
    let state = ApiState::new(store.clone(), config);
    let app = router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (addr, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_full_stack_loopback_and_live_stream() {
    let db = TestDb::sqlite().await;
    let id = seed(db.store()).await;
    let (addr, state) = serve(
        db.store(),
        ApiConfig {
            open_read_on_loopback: true,
            stream_poll_ms: 100,
            ..ApiConfig::default()
        },
    )
    .await;
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://{addr}/api/v1/bars?symbol=BTCUSDT&limit=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["bars"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let mut res = client
        .get(format!(
            "http://{addr}/api/v1/stream?symbol=BTCUSDT&venue=sim"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    let mut next = async || {
        let chunk = tokio::time::timeout(Duration::from_secs(10), res.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&chunk).into_owned()
    };
    // The newest bar and quote come first …
    while !(seen.contains("event: bar") && seen.contains("event: quote")) {
        seen.push_str(&next().await);
    }
    assert!(seen.contains("2024-01-01T23:59:00Z"), "{seen}");
    // … then a bar stored by another process (the poll finds it) …
    let new_bar = walk(id, 1, 1440);
    db.store()
        .insert_bars(&new_bar, InsertOptions::default())
        .await
        .unwrap();
    seen.clear();
    while !seen.contains("2024-01-02T00:00:00Z") {
        seen.push_str(&next().await);
    }
    // … and a pushed job event.
    state.publish(tessera_api::LiveEvent::Job {
        id: "42".into(),
        kind: "backfill".into(),
        status: "running".into(),
    });
    seen.clear();
    while !seen.contains("event: job") {
        seen.push_str(&next().await);
    }
    assert!(seen.contains("\"status\":\"running\""), "{seen}");
}

/// Open every dashboard page in headless Chromium against a server with demo
/// data; check the chart is drawn and tables are filled; save screenshots
/// under `target/screenshots/`. Skipped (loudly) without Chromium, except
/// under `CI=true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_dashboard_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        assert!(
            std::env::var("CI").is_ok_and(|v| v != "true") || std::env::var("CI").is_err(),
            "chromium is required under CI=true (apt-get install chromium)"
        );
        eprintln!(
            "\n*** SKIPPED dashboard test: no chromium on PATH (apt-get install chromium) ***\n"
        );
        return;
    };
    let db = TestDb::sqlite().await;
    seed(db.store()).await;
    let (run, trade, equity) = backtest_fixture();
    db.store()
        .insert_backtest(&run, &[trade], &equity)
        .await
        .unwrap();
    db.store()
        .enqueue_job(&tessera_storage::NewJob::new("reports", "{}"))
        .await
        .unwrap();
    // Trading, a model in production with predictions at the end of the day, a schedule.
    let store = db.store();
    let state = full_state(
        store,
        ApiConfig {
            open_read_on_loopback: true,
            ..ApiConfig::default()
        },
    )
    .await;
    store
        .insert_ml_model(&ml_fixture("demo", 1, "BTCUSDT"))
        .await
        .unwrap();
    store.promote_ml_model("demo", 1).await.unwrap();
    store
        .insert_ml_predictions(&predictions_fixture("exec-demo-1", 1400))
        .await
        .unwrap();
    store
        .upsert_schedule(
            "eod",
            &json!({"name": "eod", "pipeline": ["reports"], "cron": "0 18 * * *"}).to_string(),
        )
        .await
        .unwrap();
    {
        use tessera_model::{Currency, Money};
        let usdt = Currency::new("USDT").unwrap();
        for (i, eq) in [1_000_000, 1_004_000, 998_000, 1_006_000]
            .into_iter()
            .enumerate()
        {
            let i = i64::try_from(i).unwrap();
            let m = Money::new(rust_decimal::Decimal::from(eq), usdt);
            store
                .insert_account_snapshot(&tessera_storage::AccountSnapshot {
                    account: "paper".into(),
                    strategy: String::new(),
                    ts: UnixNanos::from_secs(DAY0 + i * 3600).unwrap(),
                    equity: m,
                    cash: m,
                    realized_pnl: Money::new(rust_decimal::Decimal::ZERO, usdt),
                    unrealized_pnl: Money::new(rust_decimal::Decimal::ZERO, usdt),
                })
                .await
                .unwrap();
        }
    }
    let t = tokens(store).await;
    let app = router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile_dir();
    let run = |args: Vec<String>| {
        let chromium = chromium.to_string();
        let profile = profile.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut cmd = std::process::Command::new(chromium);
                cmd.args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-sync",
                    "--hide-scrollbars",
                    "--virtual-time-budget=8000",
                    "--run-all-compositor-stages-before-draw",
                ]);
                cmd.arg(format!("--user-data-dir={profile}"));
                cmd.args(args);
                let out = cmd.output().unwrap();
                (
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .await
            .unwrap()
        }
    };
    for (page, size, must) in [
        (
            "markets",
            "1280,900",
            vec![
                "data-drawn=\"1\"",
                "BTCUSDT",
                "42000.02",
                "<td class=\"num\">1,430</td>",
            ],
        ),
        (
            "portfolio",
            "1280,900",
            vec![
                "Kill switch is",
                "No orders yet.",
                "No optimal positions yet",
                "1.01M",
                "data-points=\"4\"",
                "-0.60",
            ],
        ),
        (
            "backtests",
            "1280,900",
            vec!["sma_cross", "data-points=\"2\"", "10500.00 USD"],
        ),
        (
            "models",
            "1280,900",
            vec![
                "demo v1",
                "production",
                "<option>BTCUSDT</option>",
                "r2",
                "data-bars=\"1\"",
                "direction right",
            ],
        ),
        (
            "operations",
            "1280,900",
            vec!["ready", "BTCUSDT", "reports", "eod", "Next run"],
        ),
        ("markets", "390,844", vec!["data-drawn=\"1\""]),
        // An order sent over the API (below, before this entry) and its fill appear on the portfolio page.
        (
            "portfolio",
            "1280,900",
            vec![
                "api-1",
                "filled",
                "manual",
                "BTCUSDT · sim",
                "eod_demo",
                "0.25",
            ],
        ),
        ("portfolio", "390,844", vec!["api-1"]),
    ] {
        if page == "portfolio" && must.contains(&"api-1") && size.starts_with("1280") {
            let r = reqwest::Client::new()
                .post(format!("http://{addr}/api/v1/orders"))
                .bearer_auth(&t.trade)
                .json(&json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "1.5"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            // And a target position stored as the run_systems job stores it.
            store_target(
                store,
                "eod_demo",
                "BTCUSDT.sim",
                "0.25",
                "2024-01-02T00:00:00Z",
            )
            .await;
        }
        let url = format!("http://{addr}/#/{page}");
        let (dom, err) = run(vec![
            format!("--window-size={size}"),
            "--dump-dom".into(),
            url.clone(),
        ])
        .await;
        assert!(
            dom.contains("data-ready=\"1\""),
            "{page} never finished loading: {err}\n{dom}"
        );
        assert!(
            !dom.contains("class=\"banner\"") || dom.contains("banner\" hidden"),
            "{page} shows an error banner: {dom}"
        );
        for m in &must {
            assert!(dom.contains(m), "{page} at {size}: missing {m:?}\n{dom}");
        }
        if page == "markets" && size.starts_with("1280") {
            assert!(
                dom.contains("predictions: demo v1"),
                "no prediction overlay: {dom}"
            );
            let p: usize = dom
                .split("data-preds=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            assert!(p > 10, "prediction overlay drew {p} points");
        }
        if page == "markets" {
            let n: usize = dom
                .split("data-bars=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            assert!(n > 50, "chart has {n} bars");
        }
        let name = match (size.starts_with("390"), must.contains(&"api-1")) {
            (true, true) => format!("{page}-after-fill-phone.png"),
            (true, false) => format!("{page}-phone.png"),
            (false, true) => format!("{page}-after-fill.png"),
            (false, false) => format!("{page}.png"),
        };
        let path = shots.join(&name);
        let _ = std::fs::remove_file(&path); // absent on the first run
        run(vec![
            format!("--window-size={size}"),
            format!("--screenshot={}", path.display()),
            url,
        ])
        .await;
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 10_000),
            "no screenshot {name}"
        );
    }
    let (dom, _) = run(vec![
        "--window-size=1280,900".into(),
        "--dump-dom".into(),
        format!("http://{addr}/docs"),
    ])
    .await;
    assert!(
        dom.contains("/api/v1/bars") && dom.contains("problem-invalid-parameter"),
        "{dom}"
    );
    run(vec![
        "--window-size=1280,900".into(),
        format!("--screenshot={}", shots.join("docs.png").display()),
        format!("http://{addr}/docs"),
    ])
    .await;
}

fn tempfile_dir() -> String {
    let dir = std::env::temp_dir().join(format!("tessera-chromium-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

async fn jobs_and_backtests(app: &Router, store: &Store, t: &Tokens) {
    let id = store
        .enqueue_job(&tessera_storage::NewJob::new(
            "reports",
            r#"{"day":"2024-01-01"}"#,
        ))
        .await
        .unwrap();
    store.append_job_log(id, 1, "info", "hello").await.unwrap();
    let l = get(app, "/api/v1/jobs?status=queued", &t.read).await.json();
    let job = &l["jobs"][0];
    assert_eq!(job["id"], id);
    assert_eq!(job["type"], "reports");
    assert_eq!(job["params"]["day"], "2024-01-01");
    assert_eq!(job["status"], "queued");
    assert_eq!(
        get(app, "/api/v1/jobs?status=succeeded", &t.read)
            .await
            .json()["jobs"],
        json!([])
    );
    get(app, "/api/v1/jobs?status=sleepy", &t.read)
        .await
        .problem(400, Some("status"));
    get(app, "/api/v1/jobs?limit=0", &t.read)
        .await
        .problem(400, Some("limit"));
    assert_eq!(
        get(app, &format!("/api/v1/jobs/{id}"), &t.read)
            .await
            .json()["id"],
        id
    );
    let logs = get(app, &format!("/api/v1/jobs/{id}/logs"), &t.read)
        .await
        .json();
    assert_eq!(logs["lines"][0]["message"], "hello");
    get(app, "/api/v1/jobs/777777", &t.read)
        .await
        .problem(404, None);
    get(app, "/api/v1/jobs/x/logs", &t.read)
        .await
        .problem(400, Some("id"));
    let cancel = format!("/api/v1/jobs/{id}/cancel");
    call(app, Method::POST, &cancel, Some(&t.read), None)
        .await
        .problem(403, Some("trade"));
    let r = call(app, Method::POST, &cancel, Some(&t.trade), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "cancelled");
    let m = get(app, "/metrics", &t.read).await.text();
    assert!(m.contains("tessera_jobs{status=\"cancelled\"} 1"), "{m}");

    let (run, trade, equity) = backtest_fixture();
    store
        .insert_backtest(&run, &[trade], &equity)
        .await
        .unwrap();
    let l = get(app, "/api/v1/backtests", &t.read).await.json();
    assert_eq!(l["backtests"][0]["run_id"], "run-1");
    assert_eq!(l["backtests"][0]["return_pct"], 5.0);
    assert!(l["backtests"][0]["sharpe_ratio"].is_null());
    let d = get(app, "/api/v1/backtests/run-1", &t.read).await.json();
    assert_eq!(d["params"]["fast"], 10);
    assert_eq!(d["strategy"], "sma_cross");
    let tr = get(app, "/api/v1/backtests/run-1/trades", &t.read)
        .await
        .json();
    assert_eq!(tr["trades"][0]["pnl"], "5");
    let eq = get(app, "/api/v1/backtests/run-1/equity", &t.read)
        .await
        .json();
    assert_eq!(eq["equity"].as_array().unwrap().len(), 2);
    for p in [
        "/api/v1/backtests/nope",
        "/api/v1/backtests/nope/trades",
        "/api/v1/backtests/nope/equity",
    ] {
        get(app, p, &t.read).await.problem(404, Some("nope"));
    }
}

fn backtest_fixture() -> (
    tessera_storage::BacktestRun,
    tessera_storage::BacktestTrade,
    Vec<(UnixNanos, f64)>,
) {
    let run = tessera_storage::BacktestRun {
        run_id: "run-1".into(),
        strategy: "sma_cross".into(),
        params: r#"{"fast":10,"slow":20}"#.into(),
        instruments: "BTCUSDT.sim".into(),
        interval: "1m".into(),
        data_from: UnixNanos::from_secs(DAY0).unwrap(),
        data_to: UnixNanos::from_secs(DAY0 + 3600).unwrap(),
        bars: 60,
        data_source: "test".into(),
        settings: "{}".into(),
        code_version: "test".into(),
        started_at: UnixNanos::from_secs(DAY0).unwrap(),
        finished_at: UnixNanos::from_secs(DAY0 + 1).unwrap(),
        equity_final: 10_500.0,
        return_pct: 5.0,
        sharpe_ratio: None,
        max_drawdown_pct: -1.5,
        trades: 1,
        final_equity_exact: "10500.00 USD".into(),
        stats: r#"{"Return [%]":5.0}"#.into(),
    };
    let trade = tessera_storage::BacktestTrade {
        instrument: "BTCUSDT.sim".into(),
        side: "long".into(),
        size: "1".into(),
        entry_time: UnixNanos::from_secs(DAY0 + 60).unwrap(),
        exit_time: UnixNanos::from_secs(DAY0 + 600).unwrap(),
        entry_price: "100".into(),
        exit_price: "105".into(),
        pnl: "5".into(),
        commission: "0".into(),
        return_pct: 5.0,
        entry_bar: 1,
        exit_bar: 10,
    };
    let equity = vec![
        (UnixNanos::from_secs(DAY0).unwrap(), 10_000.0),
        (UnixNanos::from_secs(DAY0 + 60).unwrap(), 10_500.0),
    ];
    (run, trade, equity)
}

// ---------- trading, models, schedules, job starts, live updates (issue 9, part 2) ----------

/// A paper account behind risk and the order stack, as `tessera serve` with `api.order_desk = "paper"` builds it.
async fn paper_desk(store: &Store) -> std::sync::Arc<dyn tessera_api::OrderDesk> {
    use tessera_model::{Currency, Money};
    let instruments = store.list_instruments().await.unwrap();
    let usdt = Currency::new("USDT").unwrap();
    let cfg =
        tessera_engine::SimConfig::new(Money::new(rust_decimal::Decimal::from(1_000_000), usdt));
    let broker = tessera_live::PaperBroker::open(store.clone(), "paper", cfg, &instruments, 0)
        .await
        .unwrap();
    let stack = tessera_execution::OrderStack::load(store.clone(), "paper", usdt, &instruments)
        .await
        .unwrap();
    let limits = tessera_risk::RiskLimits {
        max_order_quantity: Some(rust_decimal::Decimal::from(10)),
        ..tessera_risk::RiskLimits::default()
    };
    let risk = tessera_risk::RiskEngine::new(limits).unwrap();
    std::sync::Arc::new(tessera_api::StackDesk::new(
        stack,
        risk,
        broker,
        std::sync::Arc::new(tessera_core::SystemClock),
        "api",
    ))
}

async fn full_state(store: &Store, config: ApiConfig) -> ApiState {
    let backfill = tessera_api::QueueBackfill::new(store.clone(), 3);
    ApiState::with_parts(
        store.clone(),
        config,
        std::sync::Arc::new(tessera_core::SystemClock),
        Some(std::sync::Arc::new(backfill)),
    )
    .with_desk(paper_desk(store).await)
}

fn ml_fixture(name: &str, version: i64, symbols: &str) -> tessera_storage::MlModelRecord {
    use tessera_storage::{MlImportance, MlModel, MlModelRecord, MlPerformance};
    MlModelRecord {
        model: Some(MlModel {
            execution_id: format!("exec-{name}-{version}"),
            name: name.into(),
            version,
            kind: "ridge".into(),
            task: "regression".into(),
            stage: "staged".into(),
            created_at: UnixNanos::from_secs(DAY0).unwrap(),
            data_from: UnixNanos::from_secs(DAY0).unwrap(),
            data_to: UnixNanos::from_secs(DAY0 + 3600).unwrap(),
            symbols: symbols.into(),
            venue: "sim".into(),
            interval: "1m".into(),
            feature_set: "ret:1,rsi:14".into(),
            target: "fwd_ret:1".into(),
            data_query: "{}".into(),
            code_version: "test".into(),
            artefact_uri: format!("default/models/{name}/{version}/model.json"),
            artefact_sha256: "ab".repeat(32),
            metrics: r#"{"test_r2":0.12}"#.into(),
        }),
        params: vec![("alpha".into(), "1.0".into())],
        features: vec!["ret_1".into(), "rsi_14".into()],
        performance: vec![
            MlPerformance {
                evaluation: "train".into(),
                fold: None,
                rows: 100,
                data_from: UnixNanos::from_secs(DAY0).unwrap(),
                data_to: UnixNanos::from_secs(DAY0 + 1800).unwrap(),
                metric: "r2".into(),
                value: 0.2,
            },
            MlPerformance {
                evaluation: "test".into(),
                fold: None,
                rows: 40,
                data_from: UnixNanos::from_secs(DAY0 + 1800).unwrap(),
                data_to: UnixNanos::from_secs(DAY0 + 3600).unwrap(),
                metric: "r2".into(),
                value: f64::NAN,
            },
        ],
        importance: vec![
            MlImportance {
                method: "permutation".into(),
                symbol: "BTCUSDT".into(),
                feature: "ret_1".into(),
                value: 0.02,
            },
            MlImportance {
                method: "permutation".into(),
                symbol: "BTCUSDT".into(),
                feature: "rsi_14".into(),
                value: 0.05,
            },
            MlImportance {
                method: "native".into(),
                symbol: "*".into(),
                feature: "rsi_14".into(),
                value: 0.7,
            },
        ],
    }
}

/// Predictions on the close of 30 bars from minute `first`, horizon 1.
fn predictions_fixture(execution_id: &str, first: i64) -> Vec<tessera_storage::MlPrediction> {
    (first..first + 30)
        .map(|i| tessera_storage::MlPrediction {
            execution_id: execution_id.into(),
            symbol: "BTCUSDT".into(),
            ts: UnixNanos::from_secs(DAY0 + i * 60).unwrap(),
            horizon: 1,
            value: 0.0001 * f64::from(i32::try_from(i % 7).unwrap() - 3),
            probs: "{}".into(),
            created_at: UnixNanos::from_secs(DAY0 + i * 60).unwrap(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_trading_models_schedules_and_job_starts_on_both_backends() {
    for db in TestDb::all().await {
        let store = db.store();
        seed(store).await;
        let t = tokens(store).await;
        let app = router(full_state(store, ApiConfig::default()).await);
        trading(&app, store, &t).await;
        kill_switch(&app, &t).await;
        account_history(&app, store, &t).await;
        models_and_predictions(&app, store, &t).await;
        schedules_and_job_starts(&app, store, &t).await;
        systems(&app, store, &t).await;
        // Without a desk, orders are refused with 409 (not 5xx), reads still work.
        let bare = app_for(store, ApiConfig::default());
        call(
            &bare,
            Method::POST,
            "/api/v1/orders",
            Some(&t.trade),
            Some(json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "1"})),
        )
        .await
        .problem(409, Some("order desk"));
        assert_eq!(get(&bare, "/api/v1/orders", &t.read).await.status, 200);
    }
}

async fn trading(app: &Router, store: &Store, t: &Tokens) {
    // Empty to start with.
    for uri in [
        "/api/v1/positions",
        "/api/v1/orders",
        "/api/v1/fills",
        "/api/v1/account",
    ] {
        let r = get(app, uri, &t.read).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.text());
    }
    // Scopes: none → 401, read → 403, trade → 201.
    let order = json!({"symbol": "BTCUSDT", "venue": "sim", "side": "buy", "quantity": "2"});
    call(
        app,
        Method::POST,
        "/api/v1/orders",
        None,
        Some(order.clone()),
    )
    .await
    .problem(401, None);
    call(
        app,
        Method::POST,
        "/api/v1/orders",
        Some(&t.read),
        Some(order.clone()),
    )
    .await
    .problem(403, None);
    let r = call(
        app,
        Method::POST,
        "/api/v1/orders",
        Some(&t.trade),
        Some(order),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(j["approved"], true, "{j}");
    let id = j["order"]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("api-"), "{id}");
    assert_eq!(j["order"]["strategy"], "manual");
    assert_eq!(j["order"]["broker"], "paper");
    // The paper broker matched it against the newest quote: filled, booked, positioned.
    assert_eq!(j["order"]["status"], "filled", "{j}");
    let fills = get(app, "/api/v1/fills?symbol=BTCUSDT", &t.read)
        .await
        .json();
    assert_eq!(fills["fills"].as_array().unwrap().len(), 1, "{fills}");
    assert_eq!(fills["fills"][0]["order_id"], id.as_str());
    assert_eq!(fills["fills"][0]["quantity"], "2");
    let pos = get(app, "/api/v1/positions", &t.read).await.json();
    assert_eq!(pos["positions"][0]["quantity"], "2", "{pos}");
    assert_eq!(pos["positions"][0]["strategy"], "manual");
    let detail = get(app, &format!("/api/v1/orders/{id}"), &t.read)
        .await
        .json();
    let statuses: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.first(), Some(&"created"), "{detail}");
    assert_eq!(statuses.last(), Some(&"filled"), "{detail}");
    // Risk refuses an order over max_order_quantity: stored as rejected, never sent.
    let r = call(
        app,
        Method::POST,
        "/api/v1/orders",
        Some(&t.trade),
        Some(json!({"symbol": "BTCUSDT", "side": "sell", "quantity": "11"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let j = r.json();
    assert_eq!(j["approved"], false);
    assert_eq!(j["order"]["status"], "rejected");
    assert!(
        j["order"]["reject_reason"]
            .as_str()
            .unwrap()
            .contains("risk"),
        "{j}"
    );
    // A resting limit order, then cancelled over the API (trade scope).
    let r = call(
        app,
        Method::POST,
        "/api/v1/orders",
        Some(&t.trade),
        Some(json!({"symbol": "BTCUSDT", "side": "buy", "type": "limit", "limit_price": "1000", "quantity": "1"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let limit_id = r.json()["order"]["id"].as_str().unwrap().to_string();
    let open = get(app, "/api/v1/orders?status=open", &t.read).await.json();
    assert_eq!(open["orders"].as_array().unwrap().len(), 1, "{open}");
    let cancel = format!("/api/v1/orders/{limit_id}/cancel");
    call(app, Method::POST, &cancel, Some(&t.read), None)
        .await
        .problem(403, None);
    let r = call(app, Method::POST, &cancel, Some(&t.trade), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "cancelled");
    // Cancelling a closed order conflicts; an unknown one is 404.
    call(app, Method::POST, &cancel, Some(&t.trade), None)
        .await
        .problem(409, Some("cancelled"));
    call(
        app,
        Method::POST,
        "/api/v1/orders/nope-1/cancel",
        Some(&t.trade),
        None,
    )
    .await
    .problem(404, None);
    get(app, "/api/v1/orders/nope-1", &t.read)
        .await
        .problem(404, None);
    // Filters and pages.
    let all = get(app, "/api/v1/orders", &t.read).await.json();
    assert_eq!(all["orders"].as_array().unwrap().len(), 3);
    let filled = get(app, "/api/v1/orders?status=filled", &t.read)
        .await
        .json();
    assert_eq!(filled["orders"].as_array().unwrap().len(), 1);
    let none = get(app, "/api/v1/orders?strategy=other", &t.read)
        .await
        .json();
    assert!(none["orders"].as_array().unwrap().is_empty());
    let mut seen = 0;
    let mut uri = "/api/v1/orders?limit=1".to_string();
    loop {
        let page = get(app, &uri, &t.read).await.json();
        seen += page["orders"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/orders?limit=1&cursor={c}"),
            None => break,
        }
        assert!(seen < 10, "paging does not end");
    }
    assert_eq!(seen, 3);
    // Bad input: 4xx naming the parameter.
    for (uri, param) in [
        ("/api/v1/orders?status=bogus", "status"),
        ("/api/v1/orders?limit=0", "limit"),
        ("/api/v1/orders?cursor=zzz", "cursor"),
        ("/api/v1/orders?from=2024-02-01&to=2024-01-01", "from"),
        ("/api/v1/fills?from=yesterday", "from"),
        ("/api/v1/fills?limit=-3", "limit"),
        ("/api/v1/positions?include_flat=maybe", "include_flat"),
        ("/api/v1/account/history?cursor=t1.00", "cursor"),
    ] {
        get(app, uri, &t.read).await.problem(400, Some(param));
    }
    for (body, param) in [
        (
            json!({"symbol": "BTCUSDT", "side": "hold", "quantity": "1"}),
            "body.side",
        ),
        (
            json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "-1"}),
            "body.quantity",
        ),
        (
            json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "abc"}),
            "body.quantity",
        ),
        (
            json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "1", "type": "iceberg"}),
            "body.type",
        ),
        (
            json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "1", "type": "limit"}),
            "body.type",
        ),
        (
            json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "1", "limit_price": "-5", "type": "limit"}),
            "body.limit_price",
        ),
        (
            json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "1", "time_in_force": "forever"}),
            "body.time_in_force",
        ),
        (
            json!({"symbol": "", "side": "buy", "quantity": "1"}),
            "symbol",
        ),
        (
            json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "1", "leverage": 100}),
            "leverage",
        ),
    ] {
        call(
            app,
            Method::POST,
            "/api/v1/orders",
            Some(&t.trade),
            Some(body),
        )
        .await
        .problem(400, Some(param));
    }
    call(
        app,
        Method::POST,
        "/api/v1/orders",
        Some(&t.trade),
        Some(json!({"symbol": "ETHUSDT", "side": "buy", "quantity": "1"})),
    )
    .await
    .problem(404, None);
    // Orders by status in /metrics.
    let m = get(app, "/metrics", &t.read).await.text();
    for line in [
        "tessera_orders{status=\"filled\"} 1",
        "tessera_orders{status=\"rejected\"} 1",
        "tessera_orders{status=\"cancelled\"} 1",
        "tessera_orders{status=\"accepted\"} 0",
    ] {
        assert!(m.contains(line), "missing {line} in\n{m}");
    }
    // Adding an instrument queues the scheduler's backfill job.
    let r = call(
        app,
        Method::POST,
        "/api/v1/instruments",
        Some(&t.trade),
        Some(json!({"symbol": "SOLUSDT", "venue": "sim"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let job_id: i64 = r.json()["backfill"]["job"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let job = store.job(job_id).await.unwrap();
    assert_eq!(job.job_type, "data_backfill");
    // The paper account trades the instruments stored when it opened: the broker rejects a
    // newer one, and the order is stored rejected with the broker's reason.
    let r = call(
        app,
        Method::POST,
        "/api/v1/orders",
        Some(&t.trade),
        Some(json!({"symbol": "SOLUSDT", "side": "buy", "quantity": "1"})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["order"]["status"], "rejected", "{}", r.text());
    assert!(
        r.json()["order"]["reject_reason"]
            .as_str()
            .unwrap()
            .contains("not traded")
    );
    assert!(
        job.params.contains("SOLUSDT") && job.params.contains("sim"),
        "{}",
        job.params
    );
}

async fn kill_switch(app: &Router, t: &Tokens) {
    assert_eq!(
        get(app, "/api/v1/kill-switch", &t.read).await.json()["state"],
        "off"
    );
    let on = json!({"state": "on"});
    let off = json!({"state": "off"});
    call(
        app,
        Method::POST,
        "/api/v1/kill-switch",
        Some(&t.read),
        Some(on.clone()),
    )
    .await
    .problem(403, None);
    let r = call(
        app,
        Method::POST,
        "/api/v1/kill-switch",
        Some(&t.trade),
        Some(on),
    )
    .await;
    assert_eq!(r.json()["state"], "on", "{}", r.text());
    // Every new order is refused by risk while it is on.
    let r = call(
        app,
        Method::POST,
        "/api/v1/orders",
        Some(&t.trade),
        Some(json!({"symbol": "BTCUSDT", "side": "sell", "quantity": "1"})),
    )
    .await;
    assert_eq!(r.json()["approved"], false);
    assert!(
        r.json()["order"]["reject_reason"]
            .as_str()
            .unwrap()
            .contains("kill"),
        "{}",
        r.text()
    );
    // Releasing it needs admin.
    call(
        app,
        Method::POST,
        "/api/v1/kill-switch",
        Some(&t.trade),
        Some(off.clone()),
    )
    .await
    .problem(403, Some("admin"));
    call(
        app,
        Method::POST,
        "/api/v1/kill-switch",
        Some(&t.admin),
        Some(json!({"state": "maybe"})),
    )
    .await
    .problem(400, Some("body.state"));
    let r = call(
        app,
        Method::POST,
        "/api/v1/kill-switch",
        Some(&t.admin),
        Some(off),
    )
    .await;
    assert_eq!(r.json()["state"], "off");
}

async fn account_history(app: &Router, store: &Store, t: &Tokens) {
    use tessera_model::{Currency, Money};
    let usd = Currency::new("USDT").unwrap();
    let m = |v: i64| Money::new(rust_decimal::Decimal::from(v), usd);
    for (i, eq) in [100_000, 101_000, 99_990, 102_000].into_iter().enumerate() {
        let i = i64::try_from(i).unwrap();
        store
            .insert_account_snapshot(&tessera_storage::AccountSnapshot {
                account: "paper".into(),
                strategy: String::new(),
                ts: UnixNanos::from_secs(DAY0 + i * 3600).unwrap(),
                equity: m(eq),
                cash: m(eq),
                realized_pnl: m(eq - 100_000),
                unrealized_pnl: m(0),
            })
            .await
            .unwrap();
    }
    let h = get(app, "/api/v1/account/history?account=paper", &t.read)
        .await
        .json();
    let pts = h["history"].as_array().unwrap();
    assert_eq!(pts.len(), 4, "{h}");
    assert_eq!(pts[1]["equity"], "101000");
    let dd = pts[2]["drawdown_pct"].as_f64().unwrap();
    assert!((dd - (-1.0)).abs() < 1e-9, "{dd}");
    assert_eq!(pts[3]["drawdown_pct"].as_f64().unwrap(), 0.0);
    let page = get(app, "/api/v1/account/history?limit=3", &t.read)
        .await
        .json();
    assert_eq!(page["history"].as_array().unwrap().len(), 3);
    let c = page["next_cursor"].as_str().unwrap();
    let rest = get(
        app,
        &format!("/api/v1/account/history?limit=3&cursor={c}"),
        &t.read,
    )
    .await
    .json();
    assert_eq!(rest["history"].as_array().unwrap().len(), 1);
    let ranged = get(
        app,
        "/api/v1/account/history?from=2024-01-01T01:00:00Z&to=2024-01-01T03:00:00Z",
        &t.read,
    )
    .await
    .json();
    assert_eq!(ranged["history"].as_array().unwrap().len(), 2);
    let acc = get(app, "/api/v1/account", &t.read).await.json();
    assert_eq!(acc["accounts"][0]["equity"], "102000", "{acc}");
}

async fn models_and_predictions(app: &Router, store: &Store, t: &Tokens) {
    // No registry yet: empty lists, null model.
    assert!(
        get(app, "/api/v1/models", &t.read).await.json()["models"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let p = get(app, "/api/v1/predictions?symbol=BTCUSDT", &t.read)
        .await
        .json();
    assert!(p["model"].is_null() && p["predictions"].as_array().unwrap().is_empty());
    store
        .insert_ml_model(&ml_fixture("demo", 1, "BTCUSDT"))
        .await
        .unwrap();
    store
        .insert_ml_model(&ml_fixture("demo", 2, "BTCUSDT"))
        .await
        .unwrap();
    store
        .insert_ml_predictions(&predictions_fixture("exec-demo-1", 1))
        .await
        .unwrap();
    let list = get(app, "/api/v1/models", &t.read).await.json();
    assert_eq!(list["models"].as_array().unwrap().len(), 2);
    assert_eq!(list["models"][0]["stage"], "staged");
    // Promotion is admin-only.
    let body = json!({"version": 1});
    call(
        app,
        Method::POST,
        "/api/v1/models/demo/promote",
        Some(&t.trade),
        Some(body.clone()),
    )
    .await
    .problem(403, None);
    call(
        app,
        Method::POST,
        "/api/v1/models/demo/promote",
        None,
        Some(body.clone()),
    )
    .await
    .problem(401, None);
    let r = call(
        app,
        Method::POST,
        "/api/v1/models/demo/promote",
        Some(&t.admin),
        Some(body),
    )
    .await;
    assert_eq!(r.json()["stage"], "production", "{}", r.text());
    call(
        app,
        Method::POST,
        "/api/v1/models/demo/promote",
        Some(&t.admin),
        Some(json!({"version": 9})),
    )
    .await
    .problem(404, None);
    call(
        app,
        Method::POST,
        "/api/v1/models/demo/promote",
        Some(&t.admin),
        Some(json!({"version": 0})),
    )
    .await
    .problem(400, Some("body.version"));
    let prod = get(app, "/api/v1/models?stage=production", &t.read)
        .await
        .json();
    assert_eq!(prod["models"].as_array().unwrap().len(), 1);
    // Show defaults to the production version.
    let show = get(app, "/api/v1/models/demo", &t.read).await.json();
    assert_eq!(show["model"]["version"], 1, "{show}");
    assert_eq!(show["features"], json!(["ret_1", "rsi_14"]));
    let v2 = get(app, "/api/v1/models/demo?version=2", &t.read)
        .await
        .json();
    assert_eq!(v2["model"]["stage"], "staged");
    let metrics = get(app, "/api/v1/models/demo/metrics", &t.read)
        .await
        .json();
    let ms = metrics["metrics"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    assert!(
        ms.iter()
            .any(|m| m["evaluation"] == "test" && m["value"].is_null()),
        "{metrics}"
    );
    let imp = get(
        app,
        "/api/v1/models/demo/importance?symbol=BTCUSDT",
        &t.read,
    )
    .await
    .json();
    assert_eq!(imp["symbols"], json!(["*", "BTCUSDT"]));
    let rows = imp["importance"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["feature"], "rsi_14", "largest first: {imp}");
    // Predictions of the production model with realised outcomes from the bars.
    let p = get(app, "/api/v1/predictions?symbol=BTCUSDT&limit=10", &t.read)
        .await
        .json();
    assert_eq!(p["model"]["name"], "demo");
    let preds = p["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 10);
    assert!(preds.iter().all(|x| x["outcome"].is_number()), "{p}");
    assert!(p["next_cursor"].is_string());
    let named = get(app, "/api/v1/predictions?model=demo&version=2", &t.read)
        .await
        .json();
    assert!(named["predictions"].as_array().unwrap().is_empty());
    for (uri, status, param) in [
        ("/api/v1/models?stage=live", 400, Some("stage")),
        ("/api/v1/models/demo?version=x", 400, Some("version")),
        ("/api/v1/models/demo?version=0", 400, Some("version")),
        ("/api/v1/models/nope", 404, None),
        ("/api/v1/models/demo/metrics?version=7", 404, None),
        ("/api/v1/models/nope/importance", 404, None),
        ("/api/v1/predictions?model=nope", 404, None),
        ("/api/v1/predictions?limit=0", 400, Some("limit")),
        ("/api/v1/predictions?symbol=a%20b", 400, Some("symbol")),
    ] {
        get(app, uri, &t.read).await.problem(status, param);
    }
}

async fn schedules_and_job_starts(app: &Router, store: &Store, t: &Tokens) {
    assert!(
        get(app, "/api/v1/schedules", &t.read).await.json()["schedules"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    store
        .upsert_schedule(
            "eod",
            &json!({"name": "eod", "pipeline": ["reports", "cleaners"], "cron": "0 18 * * *"})
                .to_string(),
        )
        .await
        .unwrap();
    let s = get(app, "/api/v1/schedules", &t.read).await.json();
    assert_eq!(s["schedules"][0]["name"], "eod");
    assert_eq!(s["schedules"][0]["steps"], json!(["reports", "cleaners"]));
    assert!(
        s["schedules"][0]["next_run"]
            .as_str()
            .unwrap()
            .ends_with("T18:00:00Z"),
        "{s}"
    );
    call(
        app,
        Method::POST,
        "/api/v1/schedules/eod/run",
        Some(&t.read),
        None,
    )
    .await
    .problem(403, None);
    call(
        app,
        Method::POST,
        "/api/v1/schedules/nope/run",
        Some(&t.trade),
        None,
    )
    .await
    .problem(404, None);
    let r = call(
        app,
        Method::POST,
        "/api/v1/schedules/eod/run",
        Some(&t.trade),
        None,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job = store
        .job(r.json()["job_id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(job.job_type, "reports");
    let s = get(app, "/api/v1/schedules", &t.read).await.json();
    assert_eq!(s["schedules"][0]["last_status"], "running");
    // Any job type now.
    let r = call(
        app,
        Method::POST,
        "/api/v1/jobs",
        Some(&t.trade),
        Some(json!({"type": "noop", "params": {"sleep_ms": 1}})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["type"], "noop");
    assert_eq!(r.json()["status"], "queued");
    call(
        app,
        Method::POST,
        "/api/v1/jobs",
        Some(&t.read),
        Some(json!({"type": "noop"})),
    )
    .await
    .problem(403, None);
    call(
        app,
        Method::POST,
        "/api/v1/jobs",
        Some(&t.trade),
        Some(json!({"type": "bogus"})),
    )
    .await
    .problem(400, Some("body.type"));
    call(
        app,
        Method::POST,
        "/api/v1/jobs",
        Some(&t.trade),
        Some(json!({"type": "noop", "params": {"nope": 1}})),
    )
    .await
    .problem(400, Some("body.params"));
    call(
        app,
        Method::POST,
        "/api/v1/jobs",
        Some(&t.trade),
        Some(json!({"type": "noop", "priority": 1000})),
    )
    .await
    .problem(400, Some("body.priority"));
    // Backtests and sweeps as jobs.
    let r = call(
        app,
        Method::POST,
        "/api/v1/backtests",
        Some(&t.trade),
        Some(json!({"strategy": "sma_cross", "settings": {"symbol": "BTCUSDT", "venue": "sim", "interval": "1m"}})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["type"], "backtest");
    assert_eq!(r.json()["params"]["strategy"], "sma_cross");
    assert_eq!(r.json()["params"]["symbol"], "BTCUSDT");
    let r = call(
        app,
        Method::POST,
        "/api/v1/backtests",
        Some(&t.trade),
        Some(json!({"strategy": "sma_cross", "kind": "sweep", "settings": {"symbol": "BTCUSDT", "venue": "sim", "interval": "1m", "grid": ["fast=5:10:5"]}})),
    )
    .await;
    assert_eq!(r.json()["type"], "sweep", "{}", r.text());
    call(
        app,
        Method::POST,
        "/api/v1/backtests",
        Some(&t.read),
        Some(json!({"strategy": "sma_cross"})),
    )
    .await
    .problem(403, None);
    call(
        app,
        Method::POST,
        "/api/v1/backtests",
        Some(&t.trade),
        Some(json!({"strategy": "sma_cross", "kind": "walk"})),
    )
    .await
    .problem(400, Some("body.kind"));
    call(
        app,
        Method::POST,
        "/api/v1/backtests",
        Some(&t.trade),
        Some(json!({"strategy": " "})),
    )
    .await
    .problem(400, Some("body.strategy"));
    call(
        app,
        Method::POST,
        "/api/v1/backtests",
        Some(&t.trade),
        Some(json!({"strategy": "x", "settings": {"strategy": "y"}})),
    )
    .await
    .problem(400, Some("strategy"));
    let queued = get(app, "/api/v1/jobs?type=sweep", &t.read).await.json();
    assert_eq!(queued["jobs"].as_array().unwrap().len(), 1);
    // Reports: successful `reports` jobs.
    let rep = get(app, "/api/v1/reports", &t.read).await.json();
    assert!(rep["reports"].as_array().unwrap().is_empty());
    get(app, "/api/v1/reports?limit=0", &t.read)
        .await
        .problem(400, Some("limit"));
    // Every new path is in the OpenAPI document.
    let doc = get(app, "/api/v1/openapi.json", &t.read).await.json();
    for path in [
        "/api/v1/positions",
        "/api/v1/orders",
        "/api/v1/orders/{id}",
        "/api/v1/orders/{id}/cancel",
        "/api/v1/fills",
        "/api/v1/account",
        "/api/v1/account/history",
        "/api/v1/kill-switch",
        "/api/v1/models",
        "/api/v1/models/{name}",
        "/api/v1/models/{name}/metrics",
        "/api/v1/models/{name}/importance",
        "/api/v1/models/{name}/promote",
        "/api/v1/predictions",
        "/api/v1/schedules",
        "/api/v1/schedules/{name}/run",
        "/api/v1/reports",
        "/api/v1/ws",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["paths"]["/api/v1/orders"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/backtests"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/jobs"]["post"].is_object());
}

/// The WebSocket with a real client: hello, the newest bar and quote, an order
/// and its fill after a submit, a pushed job event, ping/pong; refused without a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_websocket_live_updates() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let db = TestDb::sqlite().await;
    seed(db.store()).await;
    let t = tokens(db.store()).await;
    let state = full_state(
        db.store(),
        ApiConfig {
            stream_poll_ms: 100,
            ..ApiConfig::default()
        },
    )
    .await;
    let app = router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let url = format!("ws://{addr}/api/v1/ws?symbol=BTCUSDT&venue=sim");
    // No token: the handshake is refused with 401.
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    // A plain GET (no upgrade) is a 400 problem, not a 5xx.
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/ws"))
        .bearer_auth(&t.read)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {}", t.read).parse().unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let (mut sink, mut ws) = ws.split();
    let mut next = async || -> Value {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("no message within 10 s")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    };
    let hello = next().await;
    assert_eq!(hello["type"], "hello");
    let mut types = std::collections::BTreeSet::new();
    while !(types.contains("bar") && types.contains("quote")) {
        let m = next().await;
        types.insert(m["type"].as_str().unwrap().to_string());
        if m["type"] == "bar" {
            assert_eq!(m["data"]["bar"]["timestamp"], "2024-01-01T23:59:00Z");
        }
    }
    // An order submitted over the API arrives with its fill.
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/orders"))
        .bearer_auth(&t.trade)
        .json(&json!({"symbol": "BTCUSDT", "side": "buy", "quantity": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["order"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (mut got_order, mut got_fill) = (false, false);
    while !(got_order && got_fill) {
        let m = next().await;
        if m["type"] == "order" && m["data"]["id"] == id.as_str() {
            got_order = true;
        }
        if m["type"] == "fill" && m["data"]["order_id"] == id.as_str() {
            got_fill = true;
        }
    }
    // A job event pushed in process, and a fill stored by another process (found by the poll).
    state.publish(tessera_api::LiveEvent::Job {
        id: "7".into(),
        kind: "backtest".into(),
        status: "succeeded".into(),
    });
    loop {
        let m = next().await;
        if m["type"] == "job" {
            assert_eq!(m["data"]["status"], "succeeded");
            break;
        }
    }
    db.store()
        .enqueue_job(&tessera_storage::NewJob::new("noop", "{}"))
        .await
        .unwrap();
    loop {
        let m = next().await;
        if m["type"] == "job" && m["data"]["kind"] == "noop" {
            assert_eq!(m["data"]["status"], "queued");
            break;
        }
    }
    sink.send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    loop {
        if next().await["type"] == "pong" {
            break;
        }
    }
    // The token may also come as ?token= (browsers cannot set headers on a WebSocket).
    let (mut ws2, _) = tokio_tungstenite::connect_async(format!("{url}&token={}", t.read))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), ws2.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.to_text().unwrap().contains("hello"));
}

/// Store a target exactly as the `run_systems` job handler does: its
/// `SystemTarget` record through `Store::set_state` under its key.
async fn store_target(store: &Store, system: &str, instrument: &str, target: &str, at: &str) {
    let record = tessera_scheduler::SystemTarget {
        system: system.into(),
        strategy: "sma_cross".into(),
        instrument: instrument.into(),
        target: target.into(),
        price: "42000.5".into(),
        bar_time: "2024-01-01T00:00:00Z".into(),
        computed_at: at.into(),
    };
    store
        .set_state(&record.key(), &serde_json::to_string(&record).unwrap())
        .await
        .unwrap();
}

async fn systems(app: &Router, store: &Store, t: &Tokens) {
    // Honest empty state before any run.
    let r = get(app, "/api/v1/systems", &t.read).await.json();
    assert_eq!(r["systems"], json!([]), "{r}");
    let r = get(app, "/api/v1/systems/positions", &t.read).await.json();
    assert_eq!(r["positions"], json!([]), "{r}");
    assert!(r["next_cursor"].is_null());
    // Reads need a token under the default config.
    call(app, Method::GET, "/api/v1/systems", None, None)
        .await
        .problem(401, None);
    call(app, Method::GET, "/api/v1/systems/positions", None, None)
        .await
        .problem(401, None);

    store_target(
        store,
        "eod_sma_cross",
        "BTCUSDT.sim",
        "0.12345678901234567",
        "2024-01-02T00:00:00Z",
    )
    .await;
    store_target(
        store,
        "eod_sma_cross",
        "ETHUSDT.sim",
        "-3",
        "2024-01-02T00:00:01Z",
    )
    .await;
    store_target(
        store,
        "manual",
        "BTCUSDT.sim",
        "1.5",
        "2024-01-03T00:00:00Z",
    )
    .await;
    // Something else under the prefix that is not a target record is skipped, not a 5xx.
    store
        .set_state("systems:target:junk:X.sim", "not json")
        .await
        .unwrap();

    let r = get(app, "/api/v1/systems", &t.read).await.json();
    let sys = r["systems"].as_array().unwrap();
    assert_eq!(sys.len(), 2, "{r}");
    assert_eq!(sys[0]["system"], "eod_sma_cross");
    assert_eq!(sys[0]["strategy"], "sma_cross");
    assert_eq!(sys[0]["instruments"], 2);
    assert_eq!(sys[0]["last_run_at"], "2024-01-02T00:00:01Z");
    assert_eq!(sys[1]["system"], "manual");

    let r = get(app, "/api/v1/systems/positions", &t.read).await.json();
    let pos = r["positions"].as_array().unwrap();
    assert_eq!(pos.len(), 3, "{r}");
    // Exact decimal text, never a float.
    assert_eq!(pos[0]["target"], "0.12345678901234567");
    assert_eq!(pos[0]["symbol"], "BTCUSDT");
    assert_eq!(pos[0]["venue"], "sim");
    assert_eq!(pos[0]["instrument"], "BTCUSDT.sim");
    assert_eq!(pos[0]["current"], "0");
    assert_eq!(pos[0]["difference"], "0.12345678901234567");
    assert_eq!(pos[0]["computed_at"], "2024-01-02T00:00:00Z");
    assert_eq!(pos[1]["target"], "-3");
    // The current position is the order stack's for the system's strategy id.
    let held = get(
        app,
        "/api/v1/positions?strategy=manual&symbol=BTCUSDT&include_flat=true",
        &t.read,
    )
    .await
    .json();
    let current = held["positions"]
        .as_array()
        .unwrap()
        .first()
        .map_or("0".to_string(), |p| {
            p["quantity"].as_str().unwrap().to_string()
        });
    assert_eq!(pos[2]["system"], "manual");
    assert_eq!(pos[2]["current"], current.as_str());
    let diff: rust_decimal::Decimal = pos[2]["difference"].as_str().unwrap().parse().unwrap();
    let cur: rust_decimal::Decimal = current.parse().unwrap();
    assert_eq!(diff + cur, "1.5".parse::<rust_decimal::Decimal>().unwrap());

    // Filters.
    let r = get(
        app,
        "/api/v1/systems/positions?system=eod_sma_cross&symbol=ethusdt",
        &t.read,
    )
    .await
    .json();
    assert_eq!(r["positions"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["positions"][0]["symbol"], "ETHUSDT");
    let r = get(app, "/api/v1/systems/positions?system=nobody", &t.read)
        .await
        .json();
    assert_eq!(r["positions"], json!([]));
    let r = get(app, "/api/v1/systems/positions?from=2024-01-03", &t.read)
        .await
        .json();
    assert_eq!(r["positions"].as_array().unwrap().len(), 1, "{r}");
    let r = get(app, "/api/v1/systems?to=2024-01-03", &t.read)
        .await
        .json();
    assert_eq!(r["systems"].as_array().unwrap().len(), 1, "{r}");
    // Pages: two then one, by the cursor.
    let r = get(app, "/api/v1/systems/positions?limit=2", &t.read)
        .await
        .json();
    assert_eq!(r["positions"].as_array().unwrap().len(), 2, "{r}");
    let c = r["next_cursor"].as_str().unwrap().to_string();
    let r = get(
        app,
        &format!("/api/v1/systems/positions?limit=2&cursor={c}"),
        &t.read,
    )
    .await
    .json();
    assert_eq!(r["positions"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["positions"][0]["system"], "manual");
    assert!(r["next_cursor"].is_null());
    let r = get(app, "/api/v1/systems?limit=1", &t.read).await.json();
    assert_eq!(r["systems"].as_array().unwrap().len(), 1);
    assert!(r["next_cursor"].is_string());

    // Bad parameters: 400 naming the parameter.
    for (uri, param) in [
        ("/api/v1/systems?limit=0", "limit"),
        ("/api/v1/systems?cursor=nope", "cursor"),
        ("/api/v1/systems?from=yesterday", "from"),
        ("/api/v1/systems/positions?limit=abc", "limit"),
        ("/api/v1/systems/positions?to=13:99", "to"),
        ("/api/v1/systems/positions?cursor=t1.zz", "cursor"),
        (
            "/api/v1/systems/positions?from=2024-02-01&to=2024-01-01",
            "from",
        ),
    ] {
        get(app, uri, &t.read).await.problem(400, Some(param));
    }
    // In the OpenAPI document.
    let doc = get(app, "/api/v1/openapi.json", &t.read).await.json();
    assert!(doc["paths"]["/api/v1/systems"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/systems/positions"]["get"].is_object());
}
