//! The `trade_updates` WebSocket: authenticate, listen, forward every update,
//! and reconnect after a dropped connection.
//!
//! A reconnect is reported as [`StreamItem::Reconnected`] so the broker can
//! catch up on what happened while the connection was down (fills through
//! the account activities, statuses by order lookup): the stream itself does
//! not replay.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::config::AlpacaConfig;
use crate::error::{Error, Result};
use crate::wire::{StreamMessage, TradeUpdate};

/// What the stream task hands to the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamItem {
    /// An order event.
    Update(Box<TradeUpdate>),
    /// The connection was re-established after a drop: news may have been missed.
    Reconnected,
}

fn ws_err(e: impl std::fmt::Display) -> Error {
    Error::Transport {
        what: "trade_updates stream".into(),
        reason: e.to_string(),
    }
}

fn text_of(m: &Message) -> Option<String> {
    match m {
        Message::Text(t) => Some(t.to_string()),
        // Alpaca's paper endpoint sends binary frames holding JSON text.
        Message::Binary(b) => String::from_utf8(b.to_vec()).ok(),
        _ => None,
    }
}

/// Start the stream task; it runs until the receiver is dropped. Returns once
/// the first connection is authorised and listening, so no update after this
/// call is missed.
///
/// # Errors
/// The first connection or its authorisation failed.
pub async fn spawn(config: AlpacaConfig) -> Result<mpsc::UnboundedReceiver<StreamItem>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let first = connect(&config).await?;
    tokio::spawn(run(config, first, tx));
    Ok(rx)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(config: &AlpacaConfig) -> Result<Ws> {
    let url = config.stream_url();
    let (mut ws, _) = tokio::time::timeout(config.timeout, tokio_tungstenite::connect_async(&url))
        .await
        .map_err(|_| ws_err("connect timed out"))?
        .map_err(ws_err)?;
    let auth = serde_json::json!({"action": "auth", "key": config.key_id, "secret": config.secret});
    ws.send(Message::Text(auth.to_string().into()))
        .await
        .map_err(ws_err)?;
    expect(&mut ws, config, "authorization").await?;
    let listen = serde_json::json!({"action": "listen", "data": {"streams": ["trade_updates"]}});
    ws.send(Message::Text(listen.to_string().into()))
        .await
        .map_err(ws_err)?;
    expect(&mut ws, config, "listening").await?;
    Ok(ws)
}

async fn expect(ws: &mut Ws, config: &AlpacaConfig, stream: &str) -> Result<()> {
    loop {
        let m = tokio::time::timeout(config.timeout, ws.next())
            .await
            .map_err(|_| ws_err(format!("no {stream} answer")))?
            .ok_or_else(|| ws_err("closed during the handshake"))?
            .map_err(ws_err)?;
        let Some(text) = text_of(&m) else { continue };
        let msg: StreamMessage = serde_json::from_str(&text).map_err(|e| Error::Decode {
            what: "trade_updates stream".into(),
            reason: e.to_string(),
        })?;
        if msg.stream != stream {
            continue;
        }
        if stream == "authorization" && msg.data["status"] != "authorized" {
            return Err(Error::Api {
                what: "trade_updates stream".into(),
                status: 401,
                code: 0,
                message: "not authorized".into(),
            });
        }
        return Ok(());
    }
}

async fn run(config: AlpacaConfig, mut ws: Ws, tx: mpsc::UnboundedSender<StreamItem>) {
    loop {
        // Read until the connection drops.
        loop {
            tokio::select! {
                () = tx.closed() => return,
                m = ws.next() => {
                    let m = match m {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => { tracing::warn!(error = %e, "trade_updates stream failed"); break; }
                        None => { tracing::warn!("trade_updates stream closed"); break; }
                    };
                    if let Message::Ping(p) = &m {
                        // A failed pong shows up as a read error next.
                        let _ = ws.send(Message::Pong(p.clone())).await;
                        continue;
                    }
                    let Some(text) = text_of(&m) else { continue };
                    let Ok(msg) = serde_json::from_str::<StreamMessage>(&text) else {
                        tracing::warn!("trade_updates: unreadable message skipped");
                        continue;
                    };
                    if msg.stream != "trade_updates" {
                        continue;
                    }
                    match serde_json::from_value::<TradeUpdate>(msg.data) {
                        Ok(u) => {
                            if tx.send(StreamItem::Update(Box::new(u))).is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "trade_updates: unreadable update skipped"),
                    }
                }
            }
        }
        // Reconnect with backoff until it works or the broker is gone.
        let mut wait = Duration::from_millis(100);
        ws = loop {
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(wait).await;
            match connect(&config).await {
                Ok(ws) => break ws,
                Err(e) => {
                    tracing::warn!(error = %e, "trade_updates reconnect failed");
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        };
        tracing::info!("trade_updates stream reconnected");
        if tx.send(StreamItem::Reconnected).is_err() {
            return;
        }
    }
}
