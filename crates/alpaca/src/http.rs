//! [`AlpacaClient`]: the REST v2 calls, with timeouts and retries that never
//! send an order twice.
//!
//! Reads are retried on transport failures, 429 and 5xx. An order is never
//! simply re-posted: after a failed or timed-out `POST /v2/orders` the client
//! first asks `GET /v2/orders:by_client_order_id`; only when Alpaca does not
//! know the id is the order posted again (and Alpaca itself refuses a second
//! order with the same client order id, which is resolved the same way).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::AlpacaConfig;
use crate::error::{Error, Result};
use crate::wire::{Account, ErrorBody, FillActivity, NewOrder, Order, Position, ReplaceOrder};

/// Alpaca's page size limit for activities.
const PAGE_SIZE: usize = 100;

/// The answer to an order submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Alpaca has the order (posted now, or found by its client order id).
    Known(Box<Order>),
    /// Alpaca refused it (403 buying power, 422 invalid): the reason.
    Refused(String),
}

/// A REST client of one Alpaca account.
#[derive(Clone, Debug)]
pub struct AlpacaClient {
    http: reqwest::Client,
    config: AlpacaConfig,
}

fn transport(what: &str, e: &reqwest::Error) -> Error {
    Error::Transport {
        what: what.to_string(),
        reason: if e.is_timeout() {
            "timed out".into()
        } else {
            // Without the URL: it is ours, and query strings may carry ids.
            e.without_url_ref_string()
        },
    }
}

trait ErrText {
    fn without_url_ref_string(&self) -> String;
}

impl ErrText for reqwest::Error {
    fn without_url_ref_string(&self) -> String {
        let mut s = self.to_string();
        if let Some(u) = self.url() {
            s = s.replace(u.as_str(), "<url>");
        }
        s
    }
}

impl AlpacaClient {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`Error::Transport`] when the HTTP client cannot be built.
    pub fn new(config: AlpacaConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| transport("client", &e))?;
        Ok(Self { http, config })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &AlpacaConfig {
        &self.config
    }

    async fn once<T: DeserializeOwned, B: Serialize + Sync>(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<Option<T>> {
        let url = format!("{}{}", self.config.base_url.trim_end_matches('/'), path);
        let mut req = self
            .http
            .request(method, url)
            .header("APCA-API-KEY-ID", &self.config.key_id)
            .header("APCA-API-SECRET-KEY", &self.config.secret);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| transport(what, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| transport(what, &e))?;
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !status.is_success() {
            let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
                code: 0,
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            });
            return Err(Error::Api {
                what: what.to_string(),
                status: status.as_u16(),
                code: body.code,
                message: body.message,
            });
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Decode {
                what: what.to_string(),
                reason: e.to_string(),
            })
    }

    /// A read, retried on retryable failures with a short backoff.
    async fn call<T: DeserializeOwned, B: Serialize + Sync>(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<Option<T>> {
        let attempts = self.config.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(what, method.clone(), path, query, body).await {
                Err(e) if e.is_retryable() && attempt < attempts => {
                    tracing::warn!(error = %e, attempt, "alpaca request failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    fn need<T>(what: &str, v: Option<T>) -> Result<T> {
        v.ok_or_else(|| Error::Decode {
            what: what.to_string(),
            reason: "empty answer".into(),
        })
    }

    /// `POST /v2/orders`, resolving failures by the client order id (see the module docs).
    ///
    /// # Errors
    /// [`Error::Transport`] or 5xx when no attempt got an answer and the lookup
    /// did not find the order either: the order may or may not be at Alpaca,
    /// and a later lookup settles it.
    pub async fn submit_order(&self, order: &NewOrder) -> Result<Submitted> {
        let attempts = self.config.attempts.max(1);
        let mut last = None;
        for attempt in 1..=attempts {
            match self
                .once::<Order, _>(
                    "POST /v2/orders",
                    Method::POST,
                    "/v2/orders",
                    &[],
                    Some(order),
                )
                .await
            {
                Ok(Some(o)) => return Ok(Submitted::Known(Box::new(o))),
                Ok(None) => {
                    return Err(Error::Decode {
                        what: "POST /v2/orders".into(),
                        reason: "empty answer".into(),
                    });
                }
                Err(e) if e.is_retryable() => {
                    tracing::warn!(order = %order.client_order_id, error = %e, attempt, "order submission failed; looking it up before any resend");
                    last = Some(e);
                }
                Err(Error::Api {
                    status, message, ..
                }) if status == 422 && message.contains("client_order_id") => {
                    // Alpaca has it already: a resend of an order that went through.
                    last = None;
                }
                Err(Error::Api {
                    status: 403 | 422,
                    message,
                    ..
                }) => return Ok(Submitted::Refused(message)),
                Err(e) => return Err(e),
            }
            match self.order_by_client_id(&order.client_order_id).await {
                Ok(Some(o)) => return Ok(Submitted::Known(Box::new(o))),
                Ok(None) if last.is_none() => {
                    return Err(Error::Decode {
                        what: "POST /v2/orders".into(),
                        reason: "duplicate client_order_id but the order cannot be found".into(),
                    });
                }
                Ok(None) => {}
                // The lookup failed too: we cannot tell whether it arrived, so we must not resend.
                Err(e) => return Err(e),
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
        Err(last.unwrap_or_else(|| Error::Transport {
            what: "POST /v2/orders".into(),
            reason: "no attempt made".into(),
        }))
    }

    /// `GET /v2/orders:by_client_order_id`; `None` when Alpaca does not know the id.
    ///
    /// # Errors
    /// Transport and API failures other than 404.
    pub async fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>> {
        match self
            .call::<Order, ()>(
                "GET /v2/orders:by_client_order_id",
                Method::GET,
                "/v2/orders:by_client_order_id",
                &[("client_order_id", client_order_id.to_string())],
                None,
            )
            .await
        {
            Ok(o) => Ok(o),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/orders/{id}`; `None` when unknown.
    ///
    /// # Errors
    /// Transport and API failures other than 404.
    pub async fn order(&self, id: &str) -> Result<Option<Order>> {
        match self
            .call::<Order, ()>(
                "GET /v2/orders/{id}",
                Method::GET,
                &format!("/v2/orders/{id}"),
                &[],
                None,
            )
            .await
        {
            Ok(o) => Ok(o),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/orders?status=open`.
    ///
    /// # Errors
    /// Transport and API failures.
    pub async fn open_orders(&self) -> Result<Vec<Order>> {
        let what = "GET /v2/orders";
        let v = self
            .call::<Vec<Order>, ()>(
                what,
                Method::GET,
                "/v2/orders",
                &[("status", "open".into()), ("limit", "500".into())],
                None,
            )
            .await?;
        Self::need(what, v)
    }

    /// `DELETE /v2/orders/{id}`. Returns false when Alpaca says the order can no
    /// longer be cancelled (422: filled or already cancelled) or is unknown (404).
    ///
    /// # Errors
    /// Transport and other API failures.
    pub async fn cancel_order(&self, id: &str) -> Result<bool> {
        match self
            .call::<serde_json::Value, ()>(
                "DELETE /v2/orders/{id}",
                Method::DELETE,
                &format!("/v2/orders/{id}"),
                &[],
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.status(), Some(404 | 422)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PATCH /v2/orders/{id}`: replace a working order; Alpaca answers with the new order.
    ///
    /// # Errors
    /// Transport and API failures (422 when the order cannot be replaced).
    pub async fn replace_order(&self, id: &str, change: &ReplaceOrder) -> Result<Order> {
        let what = "PATCH /v2/orders/{id}";
        let v = self
            .once::<Order, _>(
                what,
                Method::PATCH,
                &format!("/v2/orders/{id}"),
                &[],
                Some(change),
            )
            .await?;
        Self::need(what, v)
    }

    /// `GET /v2/positions`.
    ///
    /// # Errors
    /// Transport and API failures.
    pub async fn positions(&self) -> Result<Vec<Position>> {
        let what = "GET /v2/positions";
        let v = self
            .call::<Vec<Position>, ()>(what, Method::GET, "/v2/positions", &[], None)
            .await?;
        Self::need(what, v)
    }

    /// `GET /v2/account`.
    ///
    /// # Errors
    /// Transport and API failures.
    pub async fn account(&self) -> Result<Account> {
        let what = "GET /v2/account";
        let v = self
            .call::<Account, ()>(what, Method::GET, "/v2/account", &[], None)
            .await?;
        Self::need(what, v)
    }

    /// `GET /v2/account/activities/FILL` after `after` (RFC 3339), oldest
    /// first, every page.
    ///
    /// # Errors
    /// Transport and API failures.
    pub async fn fills_after(&self, after: &str) -> Result<Vec<FillActivity>> {
        let what = "GET /v2/account/activities/FILL";
        let mut out: Vec<FillActivity> = Vec::new();
        loop {
            let mut q = vec![
                ("after", after.to_string()),
                ("direction", "asc".to_string()),
                ("page_size", PAGE_SIZE.to_string()),
            ];
            if let Some(last) = out.last() {
                q.push(("page_token", last.id.clone()));
            }
            let page = self
                .call::<Vec<FillActivity>, ()>(
                    what,
                    Method::GET,
                    "/v2/account/activities/FILL",
                    &q,
                    None,
                )
                .await?;
            let page = Self::need(what, page)?;
            let n = page.len();
            out.extend(page);
            if n < PAGE_SIZE {
                return Ok(out);
            }
        }
    }
}
