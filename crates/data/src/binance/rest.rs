//! Binance spot REST: weight budget, retries, klines and exchange info.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tessera_core::{Clock, UnixNanos};

use crate::error::{Error, Result};
use crate::retry::{RetryPolicy, jitter_rng};

/// Binance counts request weight per minute per IP; this tracks our share.
///
/// Before each request the weight is reserved; when the budget for the
/// current minute is spent, the caller waits for the next minute. The
/// venue's own count (`X-MBX-USED-WEIGHT-1M`) replaces ours when higher, so
/// other processes on the same IP are accounted for too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightBudget {
    /// Most weight to use in one minute.
    pub limit: u32,
    minute: i64,
    used: u32,
}

impl WeightBudget {
    /// A budget of `limit` weight per minute.
    #[must_use]
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            minute: i64::MIN,
            used: 0,
        }
    }

    fn roll(&mut self, now: UnixNanos) {
        let minute = now.0.div_euclid(60_000_000_000);
        if minute != self.minute {
            self.minute = minute;
            self.used = 0;
        }
    }

    /// Reserve `weight` at `now`: `None` when it fits, else how long to wait.
    pub fn reserve(&mut self, weight: u32, now: UnixNanos) -> Option<Duration> {
        self.roll(now);
        if self.used + weight <= self.limit || self.used == 0 {
            self.used += weight;
            None
        } else {
            let next = (self.minute + 1) * 60_000_000_000;
            let wait = u64::try_from(next - now.0).unwrap_or(0);
            // A little past the boundary, so the venue's window has rolled too.
            Some(Duration::from_nanos(wait) + Duration::from_millis(50))
        }
    }

    /// Take the venue's count of weight used in the current minute.
    pub fn observe(&mut self, used: u32, now: UnixNanos) {
        self.roll(now);
        self.used = self.used.max(used);
    }

    /// Weight used in the current minute by our count.
    #[must_use]
    pub fn used(&self) -> u32 {
        self.used
    }
}

/// A response body and the venue's clock when it answered.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) body: bytes::Bytes,
    pub(crate) server_time: Option<UnixNanos>,
}

/// The HTTP side of the Binance collector.
#[derive(Debug)]
pub(crate) struct RestClient {
    pub(crate) venue: String,
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) budget: Mutex<WeightBudget>,
    pub(crate) retry: RetryPolicy,
    pub(crate) clock: std::sync::Arc<dyn Clock>,
    /// Set by a 429/418: the venue bans the whole IP, so every request of
    /// this client (all symbols) waits until then.
    pub(crate) blocked_until: Mutex<Option<tokio::time::Instant>>,
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn server_time(h: &HeaderMap) -> Option<UnixNanos> {
    let s = h.get(reqwest::header::DATE)?.to_str().ok()?;
    let dt = chrono::DateTime::parse_from_rfc2822(s).ok()?;
    UnixNanos::from_datetime(&dt).ok()
}

impl RestClient {
    /// GET `path` with `query`, costing `weight`; retries rate limits, server errors and timeouts.
    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        weight: u32,
    ) -> Result<Reply> {
        let url = format!("{}{}", self.base_url.trim_end_matches('/'), path);
        let mut rng = jitter_rng(weight.into());
        let mut attempt = 0u32;
        loop {
            let blocked = *self
                .blocked_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(until) = blocked {
                tokio::time::sleep_until(until).await;
            }
            loop {
                let wait = self
                    .budget
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .reserve(weight, self.clock.now());
                match wait {
                    None => break,
                    Some(d) => {
                        tracing::info!(venue = %self.venue, wait_ms = d.as_millis() as u64, "request weight budget spent; waiting for the next minute");
                        tokio::time::sleep(d).await;
                    }
                }
            }
            let result = self.http.get(&url).query(query).send().await;
            let (retry_after, err) = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    if let Some(used) = header_u64(&headers, "x-mbx-used-weight-1m") {
                        self.budget
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .observe(u32::try_from(used).unwrap_or(u32::MAX), self.clock.now());
                    }
                    let retry_after = header_u64(&headers, "retry-after").map(Duration::from_secs);
                    if status.is_success() {
                        match resp.bytes().await {
                            Ok(body) => {
                                return Ok(Reply {
                                    body,
                                    server_time: server_time(&headers),
                                });
                            }
                            Err(e) => (
                                None,
                                self.http_error(&url, Some(status), &e.to_string(), true),
                            ),
                        }
                    } else {
                        let body = resp.text().await.unwrap_or_default();
                        let retryable = status == StatusCode::TOO_MANY_REQUESTS
                            || status.as_u16() == 418
                            || status.is_server_error();
                        let e = self.http_error(&url, Some(status), body.trim(), retryable);
                        if !retryable {
                            return Err(e);
                        }
                        if let Some(d) = retry_after {
                            let until = tokio::time::Instant::now() + d;
                            let mut b = self
                                .blocked_until
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner);
                            *b = Some(b.map_or(until, |old| old.max(until)));
                        }
                        (retry_after, e)
                    }
                }
                Err(e) => {
                    let retryable =
                        e.is_timeout() || e.is_connect() || e.is_request() || e.is_body();
                    let err = self.http_error(&url, None, &e.to_string(), retryable);
                    if !retryable {
                        return Err(err);
                    }
                    (None, err)
                }
            };
            if attempt >= self.retry.max_retries {
                return Err(err);
            }
            let delay = retry_after.map_or_else(
                || self.retry.delay(attempt, &mut rng),
                |d| d.max(self.retry.base),
            );
            tracing::warn!(venue = %self.venue, error = %err, attempt, delay_ms = delay.as_millis() as u64, "request failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    fn http_error(
        &self,
        url: &str,
        status: Option<StatusCode>,
        reason: &str,
        retryable: bool,
    ) -> Error {
        let reason = match status {
            Some(s) => format!("HTTP {}: {}", s.as_u16(), truncate(reason, 300)),
            None => truncate(reason, 300).to_string(),
        };
        Error::Http {
            venue: self.venue.clone(),
            url: url.to_string(),
            status: status.map(|s| s.as_u16()),
            reason,
            retryable,
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_weight_budget_waits_for_next_minute() {
        let mut b = WeightBudget::new(10);
        let t = UnixNanos(60_000_000_000 * 100 + 30_000_000_000);
        assert_eq!(b.reserve(4, t), None);
        assert_eq!(b.reserve(4, t), None);
        let wait = b.reserve(4, t).unwrap();
        assert!(
            wait >= Duration::from_secs(30) && wait < Duration::from_secs(31),
            "{wait:?}"
        );
        // The venue says more was used (another process): respected.
        let mut b = WeightBudget::new(10);
        b.observe(9, t);
        assert!(b.reserve(2, t).is_some());
        // A new minute starts afresh.
        assert_eq!(b.reserve(2, UnixNanos(t.0 + 30_000_000_000)), None);
    }
}
