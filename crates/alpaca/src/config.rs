//! [`AlpacaConfig`]: where the Alpaca API is and who we are there.

use std::fmt;
use std::time::Duration;

/// Alpaca's paper trading endpoint.
pub const PAPER_URL: &str = "https://paper-api.alpaca.markets";
/// Alpaca's live trading endpoint.
pub const LIVE_URL: &str = "https://api.alpaca.markets";
/// Alpaca's market data endpoint.
pub const DATA_URL: &str = "https://data.alpaca.markets";

/// Settings of the Alpaca broker. `Debug` never shows the key or the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AlpacaConfig {
    /// Trading API root (`https://paper-api.alpaca.markets` or the live one); the
    /// `trade_updates` stream is `<base_url>/stream` with `ws`/`wss`.
    pub base_url: String,
    /// Market data API root (`https://data.alpaca.markets`); its real-time
    /// stream is derived by [`AlpacaConfig::data_stream_url`].
    pub data_url: String,
    /// Stock data feed: `iex` (free plans) or `sip` (all US exchanges, paid).
    pub feed: String,
    /// `APCA-API-KEY-ID`.
    pub key_id: String,
    /// `APCA-API-SECRET-KEY`.
    pub secret: String,
    /// Time allowed for one HTTP request.
    pub timeout: Duration,
    /// Attempts of one request before it is reported as failed (retryable).
    pub attempts: u32,
    /// How far back fills are fetched after a reconnect or at recovery when
    /// the asked-for time is later (our market clock may run ahead of Alpaca's).
    pub catch_up: Duration,
}

impl Default for AlpacaConfig {
    fn default() -> Self {
        Self {
            base_url: PAPER_URL.into(),
            data_url: DATA_URL.into(),
            feed: "iex".into(),
            key_id: String::new(),
            secret: String::new(),
            timeout: Duration::from_secs(10),
            attempts: 3,
            catch_up: Duration::from_secs(86_400),
        }
    }
}

impl fmt::Debug for AlpacaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlpacaConfig")
            .field("base_url", &self.base_url)
            .field("data_url", &self.data_url)
            .field("feed", &self.feed)
            .field("key_id", &redact(&self.key_id))
            .field("secret", &redact(&self.secret))
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("catch_up", &self.catch_up)
            .finish()
    }
}

fn redact(s: &str) -> &'static str {
    if s.is_empty() {
        "<unset>"
    } else {
        "<redacted>"
    }
}

impl AlpacaConfig {
    /// The `trade_updates` WebSocket URL: the base URL with `ws(s)://` and `/stream`.
    #[must_use]
    pub fn stream_url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_string()
        };
        format!("{ws}/stream")
    }

    /// Root of the market data WebSocket for `path` (`/v2/iex`,
    /// `/v1beta3/crypto/us`). Alpaca serves historical data on
    /// `data.alpaca.markets` and the stream on `stream.data.alpaca.markets`
    /// (likewise for the sandbox), so a `data.*.alpaca.markets` host gains the
    /// `stream.` prefix; any other host (a local test server) keeps its own.
    #[must_use]
    pub fn data_stream_url(&self, path: &str) -> String {
        let base = self.data_url.trim_end_matches('/');
        let (scheme, rest) = if let Some(rest) = base.strip_prefix("https://") {
            ("wss://", rest)
        } else if let Some(rest) = base.strip_prefix("http://") {
            ("ws://", rest)
        } else {
            ("", base)
        };
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        let prefix = if host.starts_with("data.") && host.ends_with("alpaca.markets") {
            "stream."
        } else {
            ""
        };
        format!("{scheme}{prefix}{rest}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_config_debug_hides_secrets() {
        let c = AlpacaConfig {
            key_id: "PKTESTKEY".into(),
            secret: "very-secret".into(),
            ..AlpacaConfig::default()
        };
        let d = format!("{c:?}");
        assert!(
            !d.contains("PKTESTKEY") && !d.contains("very-secret"),
            "{d}"
        );
        assert!(d.contains("<redacted>"));
    }

    #[test]
    fn test_config_stream_url() {
        let mut c = AlpacaConfig::default();
        assert_eq!(c.stream_url(), "wss://paper-api.alpaca.markets/stream");
        c.base_url = "http://127.0.0.1:9/".into();
        assert_eq!(c.stream_url(), "ws://127.0.0.1:9/stream");
    }

    #[test]
    fn test_config_data_stream_url() {
        let mut c = AlpacaConfig::default();
        assert_eq!(
            c.data_stream_url("/v2/iex"),
            "wss://stream.data.alpaca.markets/v2/iex"
        );
        c.data_url = "https://data.sandbox.alpaca.markets/".into();
        assert_eq!(
            c.data_stream_url("/v1beta3/crypto/us"),
            "wss://stream.data.sandbox.alpaca.markets/v1beta3/crypto/us"
        );
        c.data_url = "http://127.0.0.1:9".into();
        assert_eq!(c.data_stream_url("/v2/sip"), "ws://127.0.0.1:9/v2/sip");
    }
}
