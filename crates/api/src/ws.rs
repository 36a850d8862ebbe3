//! `GET /api/v1/ws`: the live events of `/api/v1/stream` over a WebSocket.
//!
//! Each event is one text message `{"type": NAME, "data": {…}}` with the
//! names and data of the SSE stream (`bar`, `quote`, `prediction`, `order`,
//! `fill`, `job`, `lagged`). The first message is `{"type": "hello", …}`
//! naming what is watched. A client may send `{"type":"ping"}` and gets
//! `{"type":"pong"}`; anything else it sends is ignored. Authentication is
//! the same as every read (browsers cannot set headers on a WebSocket, so
//! the token may also be given as `?token=`; it is never logged).

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use crate::ApiState;
use crate::auth::ReadAccess;
use crate::error::{Error, Result};
use crate::params::Query;
use crate::stream::{StreamQuery, Watch};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/ws", get(websocket))
}

/// Query of the WebSocket: the stream's parameters plus an optional token.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WsQuery {
    /// Ticker to watch; without it only platform events are sent.
    symbol: Option<String>,
    /// Venue; optional when the symbol is listed on one venue only.
    venue: Option<String>,
    /// Bar interval watched (default `1m`).
    interval: Option<String>,
    // `token` is read by `TokenFromQuery`, never kept here (so no Debug output can show it).
}

/// Moves a `?token=` into the `Authorization` header before authentication runs.
#[derive(Debug)]
pub(crate) struct TokenFromQuery;

impl FromRequestParts<ApiState> for TokenFromQuery {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, _state: &ApiState) -> Result<Self> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self);
        }
        let token = parts.uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "token")
                .map(|(_, v)| v.to_string())
        });
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            let v = HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| Error::param("token", "not a token this server issued"))?;
            parts.headers.insert(header::AUTHORIZATION, v);
        }
        Ok(Self)
    }
}

/// Live events over a WebSocket (same events as `/api/v1/stream`).
#[utoipa::path(get, path = "/api/v1/ws", tag = "live",
    params(WsQuery, ("token" = Option<String>, Query, description = "API token, for clients that cannot send `Authorization` (browsers)")),
    security(("bearer" = ["read"])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; then text messages `{\"type\", \"data\"}`"),
        (status = 400, description = "Bad parameter, or not a WebSocket upgrade request", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn websocket(
    State(state): State<ApiState>,
    _token: TokenFromQuery,
    _auth: ReadAccess,
    Query(q): Query<WsQuery>,
    upgrade: std::result::Result<
        WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Result<Response> {
    let upgrade = upgrade.map_err(|e| {
        Error::param(
            "upgrade",
            format!("{e}; connect with a WebSocket client (ws://…/api/v1/ws)"),
        )
    })?;
    let sq = StreamQuery {
        symbol: q.symbol,
        venue: q.venue,
        interval: q.interval,
    };
    let watch = Watch::new(state, &sq).await?;
    let hello = json!({
        "type": "hello",
        "data": {"symbol": sq.symbol, "venue": sq.venue, "interval": sq.interval.unwrap_or_else(|| "1m".into())},
    });
    Ok(upgrade.on_upgrade(move |socket| serve_socket(socket, watch, hello)))
}

async fn serve_socket(mut socket: WebSocket, mut watch: Watch, hello: serde_json::Value) {
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            (name, data) = watch.next_event() => {
                let msg = json!({"type": name, "data": data}).to_string();
                if socket.send(Message::Text(msg.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    let ping = serde_json::from_str::<serde_json::Value>(t.as_str())
                        .ok()
                        .is_some_and(|v| v["type"] == "ping");
                    if ping && socket.send(Message::Text(r#"{"type":"pong"}"#.into())).await.is_err() {
                        return;
                    }
                }
                // Pings are answered by axum; binary frames are ignored.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            }
        }
    }
}
