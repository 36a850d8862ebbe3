//! Alpaca market data against the local Alpaca-protocol server: recorded
//! payload shapes, bars paged by `next_page_token` (stocks and crypto),
//! exact prices, only closed bars, latest bars and quotes, assets, the
//! real-time stream (bars and quotes in order, `error` messages in the
//! handshake), and reconnects whose gaps are filled over REST.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;
use tessera_alpaca::market::stream::{self, StreamTarget};
use tessera_alpaca::market::wire::{
    self, Asset, DataMessage, LatestBars, LatestQuotes, MultiBarsPage, StockBarsPage,
};
use tessera_alpaca::server::{Faults, MarketSettings, ServerBar, ServerSettings, TestServer};
use tessera_alpaca::{AlpacaCollector, AlpacaConfig, Error};
use tessera_core::{SystemClock, UnixNanos};
use tessera_data::{Collector, LiveEvent};
use tessera_model::{Bar, Interval, Symbol, Venue};
use tokio::sync::{mpsc, watch};

const MINUTE: i64 = 60_000_000_000;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("fixture")
}

fn t(s: &str) -> UnixNanos {
    UnixNanos::parse(s).unwrap()
}

fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

fn venue() -> Venue {
    Venue::new("alpaca").unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn config(server: &TestServer) -> AlpacaConfig {
    AlpacaConfig {
        base_url: server.base_url(),
        data_url: server.base_url(),
        key_id: "test-key".into(),
        secret: "test-secret".into(),
        timeout: Duration::from_secs(2),
        ..AlpacaConfig::default()
    }
}

/// 250 minute bars of AAPL from 2024-03-01 14:30 with prices that f64 cannot hold exactly.
fn csv_bars() -> Vec<ServerBar> {
    let t0 = t("2024-03-01T14:30:00Z");
    (0..250)
        .map(|k| {
            let p = Decimal::new(1_234_567_890_123 + k * 1_000_000_007, 10);
            ServerBar {
                open_time: UnixNanos(t0.0 + k * MINUTE),
                open: p,
                high: p + Decimal::ONE,
                low: p - Decimal::ONE,
                close: p + Decimal::new(1, 10),
                volume: Decimal::from(100 + k),
            }
        })
        .collect()
}

async fn server(market: MarketSettings, faults: Faults) -> TestServer {
    TestServer::start(
        ServerSettings {
            market,
            faults,
            ..ServerSettings::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

async fn raw_get(server: &TestServer, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", server.base_url()))
        .header("APCA-API-KEY-ID", "test-key")
        .header("APCA-API-SECRET-KEY", "test-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn test_market_data_recorded_shapes_parse_and_server_answers_alike() {
    let text = fixture("md_stock_bars.json");
    let page: StockBarsPage<'_> = serde_json::from_str(&text).unwrap();
    let bars = page.bars.unwrap();
    let b = bars[0].to_bar(sym("AAPL"), venue(), Interval::M1).unwrap();
    assert_eq!(b.high.to_string(), "133.74");
    assert_eq!(b.open_time, t("2021-02-01T16:01:00Z"));
    assert!(page.next_page_token.is_some());
    let text = fixture("md_crypto_bars.json");
    let page: MultiBarsPage<'_> = serde_json::from_str(&text).unwrap();
    let b = page.bars["BTC/USD"][0]
        .to_bar(sym("BTC/USD"), venue(), Interval::M1)
        .unwrap();
    assert_eq!(b.volume.to_string(), "0.01");
    assert_eq!(page.next_page_token, None);
    let text = fixture("md_latest_bars.json");
    let latest: LatestBars<'_> = serde_json::from_str(&text).unwrap();
    assert!(latest.bars.contains_key("AAPL"));
    let text = fixture("md_latest_quotes.json");
    let quotes: LatestQuotes<'_> = serde_json::from_str(&text).unwrap();
    let q = quotes.quotes["AAPL"]
        .to_quote(sym("AAPL"), venue())
        .unwrap();
    assert_eq!(q.bid_price.to_string(), "182");
    for f in ["md_asset.json", "md_asset_crypto.json"] {
        let a: Asset = serde_json::from_str(&fixture(f)).unwrap();
        assert!(a.tradable, "{f}");
    }
    let stream_kinds: Vec<DataMessage> = [
        "md_stream_connected.json",
        "md_stream_authenticated.json",
        "md_stream_auth_failed.json",
        "md_stream_subscription.json",
        "md_stream_bar.json",
        "md_stream_quote.json",
    ]
    .iter()
    .flat_map(|f| wire::parse_stream(&fixture(f), venue()).unwrap())
    .collect();
    assert_eq!(stream_kinds[0], DataMessage::Success("connected".into()));
    assert_eq!(
        stream_kinds[2],
        DataMessage::Error {
            code: 402,
            msg: "auth failed".into()
        }
    );
    assert!(matches!(&stream_kinds[3], DataMessage::Subscription { bars, .. } if bars.len() == 3));
    assert!(matches!(stream_kinds[4], DataMessage::Bar(_)));
    assert!(matches!(stream_kinds[5], DataMessage::Quote(_)));

    // The server answers with the same keys.
    let s = server(
        MarketSettings {
            synthetic: true,
            ..MarketSettings::default()
        },
        Faults::default(),
    )
    .await;
    let recorded: Value = serde_json::from_str(&fixture("md_stock_bars.json")).unwrap();
    let served = raw_get(&s, "/v2/stocks/AAPL/bars?timeframe=1Min&limit=2&feed=iex").await;
    assert_eq!(keys(&served), keys(&recorded));
    assert_eq!(keys(&served["bars"][0]), keys(&recorded["bars"][0]));
    let recorded: Value = serde_json::from_str(&fixture("md_crypto_bars.json")).unwrap();
    let served = raw_get(
        &s,
        "/v1beta3/crypto/us/bars?symbols=BTC/USD&timeframe=1Min&limit=1",
    )
    .await;
    assert_eq!(keys(&served), keys(&recorded));
    assert_eq!(
        keys(&served["bars"]["BTC/USD"][0]),
        keys(&recorded["bars"]["BTC/USD"][0])
    );
    let recorded: Value = serde_json::from_str(&fixture("md_latest_quotes.json")).unwrap();
    let served = raw_get(&s, "/v2/stocks/quotes/latest?symbols=AAPL&feed=iex").await;
    assert_eq!(
        keys(&served["quotes"]["AAPL"]),
        keys(&recorded["quotes"]["AAPL"])
    );
    let recorded: Value = serde_json::from_str(&fixture("md_latest_bars.json")).unwrap();
    let served = raw_get(&s, "/v2/stocks/bars/latest?symbols=AAPL&feed=iex").await;
    assert_eq!(
        keys(&served["bars"]["AAPL"]),
        keys(&recorded["bars"]["AAPL"])
    );
    for (f, path) in [
        ("md_asset.json", "/v2/assets/AAPL"),
        ("md_asset_crypto.json", "/v2/assets/BTC%2FUSD"),
    ] {
        let recorded: Value = serde_json::from_str(&fixture(f)).unwrap();
        assert_eq!(keys(&raw_get(&s, path).await), keys(&recorded), "{f}");
    }
    // Numbers go out as JSON numbers, as Alpaca sends them.
    let served = raw_get(&s, "/v2/stocks/AAPL/bars?timeframe=1Min&limit=1").await;
    assert!(served["bars"][0]["o"].is_number(), "{served}");
}

#[tokio::test]
async fn test_bars_are_paged_exact_closed_and_in_the_window() {
    let bars = csv_bars();
    // The market clock stands 200 minutes into the 250: the rest has not happened yet.
    let now = UnixNanos(bars[0].open_time.0 + 200 * MINUTE + 30_000_000_000);
    let s = server(
        MarketSettings {
            bars: BTreeMap::from([("AAPL".to_string(), bars.clone())]),
            start: Some(now),
            speed: 1,
            ..MarketSettings::default()
        },
        Faults::default(),
    )
    .await;
    let c = AlpacaCollector::new(config(&s), Arc::new(SystemClock)).unwrap();
    let from = bars[0].open_time;
    // One page of 70, with a token for the next.
    let page = c
        .client()
        .bars_page(sym("AAPL"), from, UnixNanos::MAX, 70, None)
        .await
        .unwrap();
    assert_eq!(page.bars.len(), 70);
    let token = page.next_page_token.clone().expect("a next page");
    let next = c
        .client()
        .bars_page(sym("AAPL"), from, UnixNanos::MAX, 70, Some(&token))
        .await
        .unwrap();
    assert_eq!(next.bars[0].open_time, UnixNanos(from.0 + 70 * MINUTE));
    // The venue's clock came with the answer.
    assert!(page.server_now.unwrap().0.abs_diff(now.0) < 5_000_000_000);
    // Every page: exactly the 200 closed bars, each once, in order, exact.
    let all = c
        .client()
        .bars(sym("AAPL"), from, UnixNanos::MAX, 10_000)
        .await
        .unwrap();
    assert_eq!(all.len(), 200);
    for (k, b) in all.iter().enumerate() {
        assert_eq!(b.open_time, bars[k].open_time);
        assert_eq!(b.open.as_decimal(), bars[k].open);
        assert_eq!(b.close.as_decimal(), bars[k].close);
    }
    assert_eq!(all[3].open.to_string(), "123.7567890144");
    // Pages of 7 through Collector::closed_bars, as trade's feed asks.
    let mut got: Vec<Bar> = Vec::new();
    let mut start = from;
    loop {
        let p = c
            .closed_bars(
                sym("AAPL"),
                Interval::M1,
                start,
                UnixNanos(from.0 + 50 * MINUTE),
                7,
            )
            .await
            .unwrap();
        let n = p.len();
        if let Some(last) = p.last() {
            start = Interval::M1.next(last.open_time);
        }
        got.extend(p);
        if n < 7 {
            break;
        }
    }
    assert_eq!(got.len(), 50);
    assert!(
        got.windows(2)
            .all(|w| w[1].open_time.0 - w[0].open_time.0 == MINUTE)
    );
    // Unknown symbols are named.
    let e = c.instrument(sym("MSFT")).await.unwrap_err();
    assert!(e.to_string().contains("MSFT"), "{e}");
    let i = c.instrument(sym("AAPL")).await.unwrap();
    assert_eq!(i.id.venue, venue());
    // Bad keys: 403, naming the request.
    let bad = AlpacaCollector::new(
        AlpacaConfig {
            secret: "wrong".into(),
            ..config(&s)
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let e = bad
        .closed_bars(sym("AAPL"), Interval::M1, from, UnixNanos::MAX, 10)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("403") && e.contains("/v2/stocks/{symbol}/bars"),
        "{e}"
    );
}

#[tokio::test]
async fn test_crypto_bars_quotes_and_latest() {
    let start = t("2024-05-01T00:00:00Z");
    let s = server(
        MarketSettings {
            synthetic: true,
            start: Some(start),
            speed: 1,
            ..MarketSettings::default()
        },
        Faults::default(),
    )
    .await;
    let c = AlpacaCollector::new(config(&s), Arc::new(SystemClock)).unwrap();
    let btc = sym("BTC/USD");
    let inst = c.instrument(btc).await.unwrap();
    assert_eq!(inst.quote_currency.to_string(), "USD");
    assert_eq!(inst.min_quantity.to_string(), "0.0001");
    let from = UnixNanos(start.0 - 45 * MINUTE);
    let mut pages = 0;
    let mut token = None;
    let mut got = Vec::new();
    loop {
        let p = c
            .client()
            .bars_page(btc, from, start, 10, token.as_deref())
            .await
            .unwrap();
        pages += 1;
        got.extend(p.bars);
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(got.len(), 45);
    assert_eq!(pages, 5);
    assert_eq!(got.last().unwrap().close_time(), start);
    // The warm-up end is the newest closed bar's end.
    let now = c.venue_now(btc).await.unwrap();
    assert_eq!(now, start);
    let quotes = c.client().latest_quotes(&[btc, sym("AAPL")]).await.unwrap();
    assert_eq!(quotes.len(), 2);
    assert!(quotes.iter().all(|q| q.bid_price < q.ask_price));
}

/// Collect what the collector's stream sends for `secs` seconds.
async fn follow(
    c: &AlpacaCollector,
    symbols: Vec<Symbol>,
    secs: u64,
) -> (Vec<LiveEvent>, tessera_data::Result<()>) {
    let (tx, mut rx) = mpsc::channel(10_000);
    let (stop_tx, stop_rx) = watch::channel(false);
    let c2 = c.clone();
    let task = tokio::spawn(async move { c2.stream(symbols, Interval::M1, tx, stop_rx).await });
    let mut got = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => got.push(ev),
                None => break,
            },
            () = tokio::time::sleep_until(until) => break,
        }
    }
    // The stream may have ended by itself (refused for good).
    let _ = stop_tx.send(true);
    let r = task.await.unwrap();
    (got, r)
}

#[tokio::test]
async fn test_stream_bars_and_quotes_in_order_and_handshake_errors() {
    // Ten market minutes a second.
    let s = server(
        MarketSettings {
            synthetic: true,
            start: Some(t("2024-05-01T14:00:20Z")),
            speed: 600,
            ..MarketSettings::default()
        },
        // The first connection is refused (406, retryable): the stream tries again.
        Faults {
            refuse_data_streams: 1,
            ..Faults::default()
        },
    )
    .await;
    let c = AlpacaCollector::new(config(&s), Arc::new(SystemClock)).unwrap();
    let (events, r) = follow(&c, vec![sym("AAPL"), sym("BTC/USD")], 3).await;
    r.unwrap();
    let bars = |s: &str| -> Vec<Bar> {
        events
            .iter()
            .filter_map(|e| match e {
                LiveEvent::Bar(b) if b.instrument.symbol.as_str() == s => Some(*b),
                _ => None,
            })
            .collect()
    };
    for name in ["AAPL", "BTC/USD"] {
        let b = bars(name);
        assert!(b.len() >= 15, "{name}: {} bars", b.len());
        assert!(
            b.windows(2)
                .all(|w| w[1].open_time.0 - w[0].open_time.0 == MINUTE)
        );
        // The stream's bars are the REST bars, exactly.
        let rest = c
            .closed_bars(
                sym(name),
                Interval::M1,
                b[0].open_time,
                Interval::M1.next(b[0].open_time),
                1,
            )
            .await
            .unwrap();
        assert_eq!(rest[0], b[0]);
    }
    let quotes = events
        .iter()
        .filter(|e| matches!(e, LiveEvent::Quote(_)))
        .count();
    assert!(quotes >= 20, "{quotes} quotes");
    // No reconnect happened after the refused first try: nothing to catch up.
    assert!(!events.contains(&LiveEvent::CatchUp));

    // Wrong keys: the handshake's `error` message, as an error naming the step and code.
    let cfg = AlpacaConfig {
        secret: "wrong".into(),
        ..config(&s)
    };
    let target = StreamTarget {
        url: cfg.data_stream_url("/v2/iex"),
        symbols: vec![sym("AAPL")],
    };
    let e = stream::connect(&cfg, venue(), &target).await.unwrap_err();
    assert!(matches!(e, Error::Stream { code: 402, .. }), "{e}");
    assert!(e.to_string().contains("auth failed"), "{e}");
    // And the collector gives up at once instead of retrying bad keys forever.
    let bad = AlpacaCollector::new(cfg, Arc::new(SystemClock)).unwrap();
    let (_, r) = follow(&bad, vec![sym("AAPL")], 2).await;
    assert!(r.unwrap_err().to_string().contains("402"));
}

#[tokio::test]
async fn test_stream_reconnects_and_rest_fills_the_gaps() {
    let s = server(
        MarketSettings {
            synthetic: true,
            start: Some(t("2024-05-01T14:00:20Z")),
            speed: 600,
            ..MarketSettings::default()
        },
        // Each connection drops after six messages (three bars and three quotes).
        Faults {
            drop_data_stream_after: 6,
            ..Faults::default()
        },
    )
    .await;
    let c = AlpacaCollector::new(config(&s), Arc::new(SystemClock)).unwrap();
    let (events, r) = follow(&c, vec![sym("AAPL")], 4).await;
    r.unwrap();
    let reconnects = events.iter().filter(|e| **e == LiveEvent::CatchUp).count();
    assert!(reconnects >= 3, "{reconnects} reconnects");
    // What trade's feed does: each bar once, in order; REST fills the gaps.
    let mut out: Vec<Bar> = Vec::new();
    let mut filled = 0;
    for ev in events {
        let gap_end = match &ev {
            LiveEvent::CatchUp => Some(UnixNanos::MAX),
            LiveEvent::Bar(b)
                if out
                    .last()
                    .is_some_and(|l| b.open_time > Interval::M1.next(l.open_time)) =>
            {
                Some(b.open_time)
            }
            _ => None,
        };
        if let (Some(end), Some(last)) = (gap_end, out.last()) {
            let missing = c
                .closed_bars(
                    sym("AAPL"),
                    Interval::M1,
                    Interval::M1.next(last.open_time),
                    end,
                    10_000,
                )
                .await
                .unwrap();
            filled += missing.len();
            out.extend(missing);
        }
        if let LiveEvent::Bar(b) = ev
            && out.last().is_none_or(|l| b.open_time > l.open_time)
        {
            out.push(b);
        }
    }
    assert!(filled > 0, "nothing was missed?");
    assert!(out.len() >= 25, "{} bars", out.len());
    assert!(
        out.windows(2)
            .all(|w| w[1].open_time.0 - w[0].open_time.0 == MINUTE),
        "a hole or a duplicate"
    );
    // A dropped connection at the server's hand.
    let (tx, mut rx) = mpsc::channel(1_000);
    let (_stop, stop_rx) = watch::channel(false);
    let c2 = c.clone();
    s.set_faults(Faults::default());
    let task = tokio::spawn(async move {
        c2.stream(vec![sym("AAPL")], Interval::M1, tx, stop_rx)
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.drop_data_streams();
    let saw = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = rx.recv().await {
            if ev == LiveEvent::CatchUp {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(saw, Ok(true));
    task.abort();
}

/// Kills the child when dropped, so a failing test leaves no server behind.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // Already gone is fine.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn test_server_process_serves_a_csv_of_bars() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("aapl.csv");
    let bars = csv_bars();
    let mut f = std::fs::File::create(&csv).unwrap();
    writeln!(f, "time,open,high,low,close,volume").unwrap();
    for b in &bars {
        // Epoch milliseconds and RFC 3339 are both read.
        writeln!(
            f,
            "{},{},{},{},{},{}",
            b.open_time.as_millis(),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        )
        .unwrap();
    }
    drop(f);
    let start = UnixNanos(bars[0].open_time.0 + 100 * MINUTE);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-alpaca-server"))
        .arg(dir.path().join("state.json"))
        .args(["--bars", &format!("AAPL={}", csv.display())])
        .args(["--start", &start.to_rfc3339(), "--speed", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("server starts");
    let out = child.stdout.take().unwrap();
    let _proc = Proc(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    let c = AlpacaCollector::new(
        AlpacaConfig {
            base_url: url.clone(),
            data_url: url,
            ..config_keys()
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let got = c
        .closed_bars(
            sym("AAPL"),
            Interval::M1,
            bars[0].open_time,
            UnixNanos::MAX,
            10_000,
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 100);
    assert_eq!(got[99].close.as_decimal(), bars[99].close);
    assert_eq!(c.venue_now(sym("AAPL")).await.unwrap(), start);
    // A symbol without bars (and no --synthetic) is unknown.
    assert!(c.instrument(sym("MSFT")).await.is_err());
}

fn config_keys() -> AlpacaConfig {
    AlpacaConfig {
        key_id: "test-key".into(),
        secret: "test-secret".into(),
        timeout: Duration::from_secs(2),
        ..AlpacaConfig::default()
    }
}
