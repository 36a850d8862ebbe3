//! Alpaca's real-time market data WebSocket (`/v2/{feed}` for stocks,
//! `/v1beta3/crypto/us` for crypto): connect, authenticate, subscribe to
//! minute bars and quotes, forward them, and reconnect after a drop.
//!
//! Every frame is a JSON array of messages with a type `T`: `b` (bar),
//! `q` (quote), `success` (`connected`, `authenticated`), `error` (code and
//! message) and `subscription`. A connection is ours once Alpaca has said
//! `authenticated` and confirmed the subscription; an `error` during that
//! handshake ends the connection with the code and message. After every
//! reconnect [`LiveEvent::CatchUp`] is sent, so the feed fetches the bars
//! the stream missed over REST. We ping every [`PING_EVERY`]; a connection
//! silent for longer than [`SILENT_LIMIT`] (no data, no pong) is dropped.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tessera_data::LiveEvent;
use tessera_model::{Symbol, Venue};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::config::AlpacaConfig;
use crate::error::{Error, Result};
use crate::market::wire::{DataMessage, parse_stream};

/// How often we ping the server.
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// A connection with no frame at all for this long is considered dead.
pub const SILENT_LIMIT: Duration = Duration::from_secs(60);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One stream connection's target.
#[derive(Clone, Debug)]
pub struct StreamTarget {
    /// `wss://…/v2/iex` or `…/v1beta3/crypto/us`.
    pub url: String,
    /// Symbols to follow (bars and quotes).
    pub symbols: Vec<Symbol>,
}

fn ws_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Transport {
        what: format!("market data stream {what}"),
        reason: e.to_string(),
    }
}

fn text_of(m: &Message) -> Option<String> {
    match m {
        Message::Text(t) => Some(t.to_string()),
        Message::Binary(b) => String::from_utf8(b.to_vec()).ok(),
        _ => None,
    }
}

/// Read messages until `done` accepts one; an `error` message fails the handshake.
async fn expect(
    ws: &mut Ws,
    config: &AlpacaConfig,
    venue: Venue,
    step: &str,
    done: impl Fn(&DataMessage) -> bool,
) -> Result<()> {
    loop {
        let m = tokio::time::timeout(config.timeout, ws.next())
            .await
            .map_err(|_| ws_err(step, "no answer in time"))?
            .ok_or_else(|| ws_err(step, "closed by the server"))?
            .map_err(|e| ws_err(step, e))?;
        let Some(text) = text_of(&m) else { continue };
        let msgs = parse_stream(&text, venue).map_err(|e| Error::Decode {
            what: format!("market data stream {step}"),
            reason: e,
        })?;
        for msg in &msgs {
            if let DataMessage::Error { code, msg } = msg {
                return Err(Error::Stream {
                    step: step.to_string(),
                    code: *code,
                    message: msg.clone(),
                });
            }
            if done(msg) {
                return Ok(());
            }
        }
    }
}

/// Open one connection: `connected`, `auth` → `authenticated`, `subscribe` → `subscription`.
///
/// # Errors
/// Transport failures and Alpaca's `error` messages ([`Error::Stream`]).
pub async fn connect(config: &AlpacaConfig, venue: Venue, target: &StreamTarget) -> Result<Ws> {
    let (mut ws, _) = tokio::time::timeout(
        config.timeout,
        tokio_tungstenite::connect_async(target.url.as_str()),
    )
    .await
    .map_err(|_| ws_err("connect", "timed out"))?
    .map_err(|e| ws_err("connect", e))?;
    expect(
        &mut ws,
        config,
        venue,
        "connect",
        |m| matches!(m, DataMessage::Success(s) if s == "connected"),
    )
    .await?;
    let auth = serde_json::json!({"action": "auth", "key": config.key_id, "secret": config.secret});
    ws.send(Message::Text(auth.to_string().into()))
        .await
        .map_err(|e| ws_err("auth", e))?;
    expect(
        &mut ws,
        config,
        venue,
        "auth",
        |m| matches!(m, DataMessage::Success(s) if s == "authenticated"),
    )
    .await?;
    let names: Vec<&str> = target.symbols.iter().map(Symbol::as_str).collect();
    let sub = serde_json::json!({"action": "subscribe", "bars": names, "quotes": names});
    ws.send(Message::Text(sub.to_string().into()))
        .await
        .map_err(|e| ws_err("subscribe", e))?;
    expect(&mut ws, config, venue, "subscribe", |m| {
        matches!(m, DataMessage::Subscription { .. })
    })
    .await?;
    Ok(ws)
}

/// Why a connection ended.
enum End {
    Shutdown,
    Receiver,
    Dropped(String),
}

/// Follow `target` until `shutdown` or the receiver goes; reconnect with backoff.
///
/// # Errors
/// Only when the very first connection is refused for good (bad keys, a
/// feed the plan does not include): later failures are retried.
pub async fn run(
    config: &AlpacaConfig,
    venue: Venue,
    target: &StreamTarget,
    tx: &mpsc::Sender<LiveEvent>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let mut connected_before = false;
    let mut wait = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let attempt = tokio::select! {
            r = connect(config, venue, target) => r,
            _ = shutdown.changed() => return Ok(()),
        };
        let end = match attempt {
            Ok(ws) => {
                tracing::info!(url = %target.url, symbols = target.symbols.len(), "alpaca market data stream connected");
                wait = Duration::from_millis(100);
                if connected_before && tx.send(LiveEvent::CatchUp).await.is_err() {
                    return Ok(());
                }
                connected_before = true;
                read(ws, venue, tx, &mut shutdown).await
            }
            Err(e) if !connected_before && !e.is_retryable() => return Err(e),
            Err(e) => End::Dropped(e.to_string()),
        };
        match end {
            End::Shutdown | End::Receiver => return Ok(()),
            End::Dropped(reason) => {
                tracing::warn!(%reason, delay_ms = wait.as_millis() as u64, "alpaca market data stream dropped; reconnecting");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn read(
    ws: Ws,
    venue: Venue,
    tx: &mpsc::Sender<LiveEvent>,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = Instant::now();
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_LIMIT {
                    return End::Dropped(format!("silent for {}s", SILENT_LIMIT.as_secs()));
                }
                if let Err(e) = sink.send(Message::Ping(Vec::new().into())).await {
                    return End::Dropped(format!("ping: {e}"));
                }
                continue;
            }
            _ = shutdown.changed() => {
                // Closing politely is best effort; we are stopping anyway.
                let _ = sink.send(Message::Close(None)).await;
                return End::Shutdown;
            }
        };
        let msg = match msg {
            None => return End::Dropped("closed by the server".into()),
            Some(Err(e)) => return End::Dropped(e.to_string()),
            Some(Ok(m)) => m,
        };
        heard = Instant::now();
        match &msg {
            Message::Ping(p) => {
                if let Err(e) = sink.send(Message::Pong(p.clone())).await {
                    return End::Dropped(format!("pong: {e}"));
                }
                continue;
            }
            Message::Close(frame) => return End::Dropped(format!("close frame {frame:?}")),
            _ => {}
        }
        let Some(text) = text_of(&msg) else { continue };
        let msgs = match parse_stream(&text, venue) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "alpaca market data: unreadable message skipped");
                continue;
            }
        };
        for m in msgs {
            let ev = match m {
                DataMessage::Bar(b) => LiveEvent::Bar(b),
                DataMessage::Quote(q) => LiveEvent::Quote(q),
                DataMessage::Error { code, msg } => {
                    // Alpaca closes the connection after most errors; we reconnect either way.
                    return End::Dropped(format!("error {code}: {msg}"));
                }
                DataMessage::Success(_)
                | DataMessage::Subscription { .. }
                | DataMessage::Other(_) => {
                    continue;
                }
            };
            if tx.send(ev).await.is_err() {
                return End::Receiver;
            }
        }
    }
}
