//! Job types: names, typed and validated parameters, and pluggable handlers.
//!
//! Every unit of work is a registered job type. Its parameters are a typed
//! struct (serde, unknown keys refused, then `validate`), so a bad
//! parameter is refused when the job is queued, not when a worker picks it
//! up at 18:00. The handler is a trait object the binary plugs in: the work
//! of many job types lives in crates above this one (data collection,
//! systems, orders, models, backtests), and a type whose handler is not
//! wired in a build fails its jobs with "handler not available in this
//! build" instead of pretending to succeed.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_core::{Clock, UnixNanos};
use tessera_storage::Store;
use tokio::sync::watch;

use crate::error::{Error, Result};

/// A boxed, sendable future (what handlers return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a handler failed, and whether trying again may help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobError {
    /// What went wrong.
    pub message: String,
    /// Whether a later attempt may succeed (network, busy database) or not (bad input, missing handler).
    pub retryable: bool,
}

impl JobError {
    /// A failure worth retrying.
    #[must_use]
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that will fail again.
    #[must_use]
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<tessera_storage::Error> for JobError {
    fn from(e: tessera_storage::Error) -> Self {
        Self {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

/// What a running job can use: the store, the clock, the data folder, a
/// log that is captured with the run, and the cancellation flag.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) data_dir: PathBuf,
    pub(crate) job_id: i64,
    pub(crate) attempt: u32,
    pub(crate) cancel: watch::Receiver<bool>,
}

impl JobContext {
    /// The database.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The current time.
    #[must_use]
    pub fn now(&self) -> UnixNanos {
        self.clock.now()
    }

    /// The clock (for handlers that hand it on).
    #[must_use]
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Tessera's data folder (reports and artefacts go under it).
    #[must_use]
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// This job's id.
    #[must_use]
    pub fn job_id(&self) -> i64 {
        self.job_id
    }

    /// The attempt running (1-based).
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether cancellation was requested; long handlers check it between steps.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Capture a log line with the run (and trace it).
    pub async fn log(&self, level: &str, message: &str) {
        tracing::info!(
            job = self.job_id,
            attempt = self.attempt,
            level,
            "{message}"
        );
        if let Err(e) = self
            .store
            .append_job_log(self.job_id, self.attempt, level, message)
            .await
        {
            // A lost log line must not fail the job itself; say so in the process log.
            tracing::warn!(job = self.job_id, error = %e, "could not store job log line");
        }
    }

    /// [`Self::log`] at `info`.
    pub async fn info(&self, message: &str) {
        self.log("info", message).await;
    }
}

/// The work of one job type.
pub trait JobHandler: Send + Sync + fmt::Debug {
    /// Run one attempt with validated `params`; return a JSON result.
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        params: &'a Value,
    ) -> BoxFuture<'a, std::result::Result<Value, JobError>>;
}

/// Parameter checks beyond what the types say.
pub trait Validate {
    /// A message naming the parameter and the reason.
    ///
    /// # Errors
    /// When a value is out of range.
    fn validate(&self) -> std::result::Result<(), String> {
        Ok(())
    }
}

type Validator = fn(&Value) -> std::result::Result<Value, String>;

/// Parse `v` as `T` (unknown keys refused), validate it, and return it
/// normalised (defaults filled in).
fn typed<T: DeserializeOwned + Serialize + Validate>(
    v: &Value,
) -> std::result::Result<Value, String> {
    let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    t.validate()?;
    serde_json::to_value(&t).map_err(|e| e.to_string())
}

/// One registered job type.
#[derive(Clone)]
pub struct JobType {
    /// Name used in the queue, the CLI and schedules.
    pub name: &'static str,
    /// One line for `docs/scheduler.md` and the API.
    pub description: &'static str,
    validate: Validator,
    handler: Option<Arc<dyn JobHandler>>,
}

impl fmt::Debug for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobType")
            .field("name", &self.name)
            .field("handler", &self.handler.is_some())
            .finish()
    }
}

impl JobType {
    /// A job type whose parameters are `T`.
    #[must_use]
    pub fn new<T: DeserializeOwned + Serialize + Validate>(
        name: &'static str,
        description: &'static str,
    ) -> Self {
        Self {
            name,
            description,
            validate: typed::<T>,
            handler: None,
        }
    }

    /// With a handler.
    #[must_use]
    pub fn with_handler(mut self, handler: Arc<dyn JobHandler>) -> Self {
        self.handler = Some(handler);
        self
    }

    /// Whether this build can run it.
    #[must_use]
    pub fn has_handler(&self) -> bool {
        self.handler.is_some()
    }
}

/// Every job type Tessera knows.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    types: BTreeMap<&'static str, JobType>,
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a job type.
    pub fn register(&mut self, job_type: JobType) {
        self.types.insert(job_type.name, job_type);
    }

    /// Plug in the handler of a registered type.
    ///
    /// # Errors
    /// [`Error::UnknownJobType`].
    pub fn set_handler(&mut self, name: &str, handler: Arc<dyn JobHandler>) -> Result<()> {
        let t = self
            .types
            .get_mut(name)
            .ok_or_else(|| Error::UnknownJobType(name.to_string()))?;
        t.handler = Some(handler);
        Ok(())
    }

    /// A registered type.
    ///
    /// # Errors
    /// [`Error::UnknownJobType`].
    pub fn get(&self, name: &str) -> Result<&JobType> {
        self.types
            .get(name)
            .ok_or_else(|| Error::UnknownJobType(name.to_string()))
    }

    /// Every type, by name.
    pub fn types(&self) -> impl Iterator<Item = &JobType> {
        self.types.values()
    }

    /// The handler of `name`, if this build has one.
    #[must_use]
    pub fn handler(&self, name: &str) -> Option<Arc<dyn JobHandler>> {
        self.types.get(name).and_then(|t| t.handler.clone())
    }

    /// Parse and validate parameters for `job_type`; returns them normalised.
    ///
    /// # Errors
    /// [`Error::UnknownJobType`], [`Error::InvalidParams`].
    pub fn validate(&self, job_type: &str, params: &Value) -> Result<Value> {
        let t = self.get(job_type)?;
        let params = if params.is_null() {
            Value::Object(serde_json::Map::new())
        } else {
            params.clone()
        };
        (t.validate)(&params).map_err(|reason| Error::InvalidParams {
            job_type: job_type.to_string(),
            reason,
        })
    }

    /// Parameters from command-line `KEY=VALUE` pairs. Each value is read as
    /// JSON when it parses (`5`, `true`, `["a","b"]`) and as text otherwise;
    /// when the typed parameters refuse that reading, text is tried for the
    /// values that parsed, so `--param symbol=123` still reaches a text field.
    ///
    /// # Errors
    /// [`Error::InvalidParams`] for a pair without `=` or values the type refuses.
    pub fn params_from_pairs(&self, job_type: &str, pairs: &[String]) -> Result<Value> {
        self.get(job_type)?;
        let mut keys = Vec::new();
        for p in pairs {
            let (k, v) = p.split_once('=').ok_or_else(|| Error::InvalidParams {
                job_type: job_type.to_string(),
                reason: format!("{p:?}: expected KEY=VALUE"),
            })?;
            let parsed = serde_json::from_str::<Value>(v)
                .ok()
                .filter(|x| !x.is_string());
            keys.push((k.trim().to_string(), v.to_string(), parsed));
        }
        let ambiguous: Vec<usize> = (0..keys.len()).filter(|i| keys[*i].2.is_some()).collect();
        let tries = 1_usize << ambiguous.len().min(8);
        let mut first_err = None;
        let mut named_err = None;
        for mask in 0..tries {
            let mut obj = serde_json::Map::new();
            for (i, (k, raw, parsed)) in keys.iter().enumerate() {
                let as_text = ambiguous
                    .iter()
                    .position(|a| *a == i)
                    .is_some_and(|bit| mask & (1 << bit) != 0);
                let v = match parsed {
                    Some(p) if !as_text => p.clone(),
                    _ => Value::String(raw.clone()),
                };
                obj.insert(k.clone(), v);
            }
            match self.validate(job_type, &Value::Object(obj)) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // Prefer a message that names a parameter (a validation
                    // error) over a bare type mismatch from another reading.
                    let text = e.to_string();
                    if named_err.is_none() && keys.iter().any(|(k, _, _)| text.contains(k.as_str()))
                    {
                        named_err = Some(e);
                    } else {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        Err(named_err.or(first_err).expect("at least one try"))
    }
}

/// A list given either as a JSON array or as comma-separated text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            List(Vec<String>),
            Text(String),
        }
        Ok(Self(match Either::deserialize(d)? {
            Either::List(v) => v,
            Either::Text(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        }))
    }
}
