//! The multiplexed Binance WebSocket: connect, read, answer pings, reconnect.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tessera_core::UnixNanos;
use tessera_model::{Bar, InstrumentId, Interval, Price, Quantity, Quote, Symbol};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::BinanceCollector;
use crate::error::{Error, Result};
use crate::retry::jitter_rng;
use crate::source::{Collector, LiveEvent};

/// Binance allows 1,024 streams per connection; two per symbol.
const MAX_SYMBOLS: usize = 512;

fn stream_url(base: &str, symbols: &[Symbol], interval: Interval) -> String {
    let streams: Vec<String> = symbols
        .iter()
        .flat_map(|s| {
            let l = s.as_str().to_ascii_lowercase();
            [format!("{l}@kline_{interval}"), format!("{l}@bookTicker")]
        })
        .collect();
    format!(
        "{}/stream?streams={}",
        base.trim_end_matches('/'),
        streams.join("/")
    )
}

/// Why a connection ended.
enum End {
    Shutdown,
    Receiver,
    Dropped(String),
}

pub(super) async fn run(
    c: &BinanceCollector,
    symbols: &[Symbol],
    interval: Interval,
    tx: &mpsc::Sender<LiveEvent>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    if symbols.len() > MAX_SYMBOLS {
        return Err(Error::Unsupported {
            venue: c.venue.to_string(),
            reason: format!(
                "{} symbols on one connection; at most {MAX_SYMBOLS}",
                symbols.len()
            ),
        });
    }
    let url = stream_url(&c.settings.ws_url, symbols, interval);
    let mut rng = jitter_rng(symbols.len() as u64);
    let mut attempt = 0u32;
    let mut connected_before = false;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let started = Instant::now();
        let end = match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((socket, _)) => {
                tracing::info!(venue = %c.venue, symbols = symbols.len(), "websocket connected");
                if connected_before && tx.send(LiveEvent::CatchUp).await.is_err() {
                    return Ok(());
                }
                connected_before = true;
                read(c, socket, interval, tx, &mut shutdown).await
            }
            Err(e) => End::Dropped(format!("connect: {e}")),
        };
        match end {
            End::Shutdown | End::Receiver => return Ok(()),
            End::Dropped(reason) => {
                // A connection that lived a while resets the backoff.
                if started.elapsed() > Duration::from_secs(30) {
                    attempt = 0;
                }
                let delay = c.settings.retry.delay(attempt.min(10), &mut rng);
                attempt = attempt.saturating_add(1);
                tracing::warn!(venue = %c.venue, %reason, delay_ms = delay.as_millis() as u64, "websocket dropped; reconnecting");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
            }
        }
    }
}

async fn read<S>(
    c: &BinanceCollector,
    socket: tokio_tungstenite::WebSocketStream<S>,
    interval: Interval,
    tx: &mpsc::Sender<LiveEvent>,
    shutdown: &mut watch::Receiver<bool>,
) -> End
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = socket.split();
    let idle = c.settings.ws_idle_timeout;
    loop {
        let msg = tokio::select! {
            m = tokio::time::timeout(idle, stream.next()) => m,
            _ = shutdown.changed() => {
                // Closing politely is best effort; the process is stopping anyway.
                let _ = sink.send(Message::Close(None)).await;
                return End::Shutdown;
            }
        };
        let msg = match msg {
            Err(_) => return End::Dropped(format!("silent for {}s", idle.as_secs())),
            Ok(None) => return End::Dropped("closed by the venue".into()),
            Ok(Some(Err(e))) => return End::Dropped(e.to_string()),
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Text(text) => match parse_event(c, interval, text.as_str()) {
                Ok(Some(ev)) => {
                    if tx.send(ev).await.is_err() {
                        return End::Receiver;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(venue = %c.venue, error = %e, "ignoring an unreadable stream message")
                }
            },
            Message::Ping(p) => {
                if let Err(e) = sink.send(Message::Pong(p)).await {
                    return End::Dropped(format!("pong: {e}"));
                }
            }
            Message::Close(frame) => {
                return End::Dropped(format!("close frame {frame:?}"));
            }
            Message::Binary(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

fn field<'a>(v: &'a Value, key: &str) -> std::result::Result<&'a str, String> {
    v[key]
        .as_str()
        .ok_or_else(|| format!("missing string field {key:?}"))
}

/// One combined-stream message: a closed kline or a bookTicker update.
fn parse_event(
    c: &BinanceCollector,
    interval: Interval,
    text: &str,
) -> std::result::Result<Option<LiveEvent>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let data = if v.get("data").is_some() {
        &v["data"]
    } else {
        &v
    };
    let symbol = Symbol::new(field(data, "s")?).map_err(|e| e.to_string())?;
    let id = InstrumentId::new(symbol, c.venue);
    let price =
        |v: &Value, k: &str| field(v, k).and_then(|s| Price::parse(s).map_err(|e| e.to_string()));
    let qty = |v: &Value, k: &str| {
        field(v, k).and_then(|s| Quantity::parse(s).map_err(|e| e.to_string()))
    };
    if data["e"].as_str() == Some("kline") {
        let k = &data["k"];
        if k["x"].as_bool() != Some(true) {
            return Ok(None);
        }
        let t = k["t"].as_i64().ok_or("kline without t")?;
        let bar = Bar {
            instrument: id,
            interval,
            open_time: UnixNanos::from_millis(t).map_err(|e| e.to_string())?,
            open: price(k, "o")?,
            high: price(k, "h")?,
            low: price(k, "l")?,
            close: price(k, "c")?,
            volume: qty(k, "v")?,
            trade_count: k["n"].as_u64(),
            quote_volume: Some(qty(k, "q")?),
        };
        return Ok(Some(LiveEvent::Bar(bar)));
    }
    if data.get("b").is_some() && data.get("a").is_some() {
        // Spot bookTicker carries no event time: stamp it when received.
        let ts_event = data["E"]
            .as_i64()
            .and_then(|ms| UnixNanos::from_millis(ms).ok())
            .unwrap_or_else(|| c.now());
        return Ok(Some(LiveEvent::Quote(Quote {
            instrument: id,
            ts_event,
            bid_price: price(data, "b")?,
            bid_size: qty(data, "B")?,
            ask_price: price(data, "a")?,
            ask_size: qty(data, "A")?,
        })));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_stream_url() {
        let s = [
            Symbol::new("BTCUSDT").unwrap(),
            Symbol::new("ethusdt").unwrap(),
        ];
        assert_eq!(
            stream_url("wss://x:9443/", &s, Interval::M1),
            "wss://x:9443/stream?streams=btcusdt@kline_1m/btcusdt@bookTicker/ethusdt@kline_1m/ethusdt@bookTicker"
        );
    }
}
