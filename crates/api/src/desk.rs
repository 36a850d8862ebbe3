//! The order desk: how `POST /api/v1/orders` and `…/cancel` reach a broker.
//!
//! The API never talks to a broker itself. It hands an [`OrderRequest`] to an
//! [`OrderDesk`]; the one provided here, [`StackDesk`], is the same path
//! strategies take in `tessera trade`: the risk checks of `tessera-risk`
//! (kill switch, halts, sizes, collars, positions, daily loss), then the
//! persistent order stack of `tessera-execution` (store, then send), then the
//! broker. A refusal is stored as a `rejected` order with the reason, exactly
//! as the trading venue stores a strategy's refused order.
//!
//! Without a desk (the default [`crate::ApiState::new`]) the order routes
//! answer 409 "no order desk": listing orders, fills and positions still works.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tessera_core::{Clock, UnixNanos};
use tessera_execution::{Broker, MarketUpdate, OrderStack};
use tessera_model::{ClientOrderId, Interval, Order, OrderRequest};
use tessera_risk::RiskEngine;
use tessera_storage::Store;

/// Why the desk did not act.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The order is unknown or not open (cancel).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out in the current state (already closed, broker refused).
    #[error("{0}")]
    Conflict(String),
    /// A storage or transport failure; logged, answered generically.
    #[error("{0}")]
    Internal(String),
}

impl From<tessera_execution::Error> for DeskError {
    fn from(e: tessera_execution::Error) -> Self {
        match e {
            tessera_execution::Error::UnknownOrder(id) => {
                Self::NotFound(format!("order {id} is not open"))
            }
            tessera_execution::Error::Model(m) => Self::Conflict(m.to_string()),
            // The broker refused the request for good (e.g. an instrument it does not trade):
            // the client learns why; the order stays stored for recovery to settle.
            tessera_execution::Error::Broker {
                broker,
                message,
                retryable: false,
            } => Self::Conflict(format!("broker {broker} refused: {message}")),
            tessera_execution::Error::Storage(tessera_storage::Error::AlreadyExists(m)) => {
                Self::Conflict(format!("{m} already exists"))
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<tessera_storage::Error> for DeskError {
    fn from(e: tessera_storage::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

/// What happened to a submitted order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The order as stored afterwards (`rejected` with the reason when risk refused it).
    pub order: Order,
    /// Whether risk approved it (it was sent to the broker).
    pub approved: bool,
}

/// Routes orders from the API to a broker through risk and the order stack.
pub trait OrderDesk: Send + Sync + std::fmt::Debug {
    /// Check, store and send `request`.
    ///
    /// # Errors
    /// [`DeskError`]; a risk refusal is not an error but a stored rejected order.
    fn submit(&self, request: OrderRequest) -> BoxFuture<'_, Result<Submitted, DeskError>>;

    /// Store a cancel request for an open order, then ask the broker.
    ///
    /// # Errors
    /// [`DeskError::NotFound`] for an order that is not open.
    fn cancel(&self, id: ClientOrderId) -> BoxFuture<'_, Result<Order, DeskError>>;
}

#[derive(Debug)]
struct DeskState<B> {
    stack: OrderStack,
    risk: RiskEngine,
    broker: B,
}

/// [`OrderDesk`] over one broker account: risk → [`OrderStack`] → [`Broker`].
///
/// After sending, the desk shows the broker the newest stored quote (or 1m
/// bar) so a paper broker can match a market order at once; a real broker
/// ignores it and reports fills on its own.
#[derive(Debug)]
pub struct StackDesk<B> {
    store: Store,
    clock: Arc<dyn Clock>,
    prefix: String,
    inner: tokio::sync::Mutex<DeskState<B>>,
}

/// Key in the stored state of the counter behind API order ids.
const COUNTER_KEY: &str = "api:orders";

impl<B: Broker + std::fmt::Debug + 'static> StackDesk<B> {
    /// A desk sending through `stack` to `broker` after `risk` approves.
    /// Client order ids are `<prefix>-<n>` with `n` persisted, so they never repeat.
    pub fn new(
        stack: OrderStack,
        risk: RiskEngine,
        broker: B,
        clock: Arc<dyn Clock>,
        prefix: &str,
    ) -> Self {
        Self {
            store: stack.store().clone(),
            clock,
            prefix: prefix.to_string(),
            inner: tokio::sync::Mutex::new(DeskState {
                stack,
                risk,
                broker,
            }),
        }
    }

    async fn next_id(&self) -> Result<ClientOrderId, DeskError> {
        let n = self
            .store
            .state(COUNTER_KEY)
            .await?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        self.store.set_state(COUNTER_KEY, &n.to_string()).await?;
        ClientOrderId::new(&format!("{}-{n}", self.prefix))
            .map_err(|e| DeskError::Internal(e.to_string()))
    }

    async fn show_market(
        &self,
        st: &mut DeskState<B>,
        request: &OrderRequest,
        now: UnixNanos,
    ) -> Result<(), DeskError> {
        let events = if let Some(q) = self.store.latest_quote(&request.instrument).await? {
            st.broker.on_market(MarketUpdate::Quote(&q), now).await?
        } else if let Some(b) = self
            .store
            .latest_bar(&request.instrument, Interval::M1)
            .await?
        {
            let mut ev = st.broker.on_market(MarketUpdate::Bar(&b), now).await?;
            ev.extend(
                st.broker
                    .on_market(MarketUpdate::BarProcessed(&b), now)
                    .await?,
            );
            ev
        } else {
            Vec::new()
        };
        st.stack.apply_all(&events, now).await?;
        Ok(())
    }

    async fn do_submit(&self, request: OrderRequest) -> Result<Submitted, DeskError> {
        let mut guard = self.inner.lock().await;
        let st = &mut *guard;
        st.stack.refresh_switches().await?;
        let now = self.clock.now();
        let last = match self.store.latest_quote(&request.instrument).await? {
            Some(q) => tessera_model::Price::new(q.mid()).ok(),
            None => self
                .store
                .latest_bar(&request.instrument, Interval::M1)
                .await?
                .map(|b| b.close),
        };
        let risk_state = st
            .stack
            .risk_state(&request.strategy, &request.instrument, last, now);
        let id = self.next_id().await?;
        match st.risk.check(request.clone(), &risk_state) {
            Err(e) => {
                let order = st
                    .stack
                    .store_refused(id, request, &format!("risk: {e}"), now)
                    .await?;
                Ok(Submitted {
                    order,
                    approved: false,
                })
            }
            Ok(approved) => {
                st.stack
                    .send(&mut st.broker, id.clone(), approved, now)
                    .await?;
                self.show_market(st, &request, now).await?;
                let order = self.store.order(&id).await?.order;
                Ok(Submitted {
                    order,
                    approved: true,
                })
            }
        }
    }

    async fn do_cancel(&self, id: ClientOrderId) -> Result<Order, DeskError> {
        let mut guard = self.inner.lock().await;
        let st = &mut *guard;
        let now = self.clock.now();
        st.stack.cancel(&mut st.broker, &id, now).await?;
        Ok(self.store.order(&id).await?.order)
    }
}

impl<B: Broker + std::fmt::Debug + 'static> OrderDesk for StackDesk<B> {
    fn submit(&self, request: OrderRequest) -> BoxFuture<'_, Result<Submitted, DeskError>> {
        Box::pin(self.do_submit(request))
    }

    fn cancel(&self, id: ClientOrderId) -> BoxFuture<'_, Result<Order, DeskError>> {
        Box::pin(self.do_cancel(id))
    }
}
