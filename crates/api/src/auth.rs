//! Authentication (scoped bearer tokens) and per-token rate limiting.
//!
//! A token is `tsr_` followed by 64 hex digits (256 random bits). Only its
//! SHA-256 hash is stored. A slow password hash (argon2) protects *low*-entropy
//! secrets against guessing; a 256-bit random token cannot be guessed, so a
//! fast hash loses nothing and lets every request be checked in microseconds.
//!
//! Scopes nest: `admin` ⊃ `trade` ⊃ `read`. Handlers ask for a scope by taking
//! [`ReadAccess`], [`TradeAccess`] or [`AdminAccess`] as an argument. Reads
//! without a token are allowed only from a loopback peer and only when
//! [`crate::ApiConfig::open_read_on_loopback`] says so; mutating routes always
//! need a token.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tessera_storage::ApiToken;
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{Error, Result};

/// What a token may do. Ordered: a wider scope includes the narrower ones.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read every resource.
    Read,
    /// Read, and change instruments, orders and jobs.
    Trade,
    /// Everything, including removing instruments with their data.
    Admin,
}

impl Scope {
    /// The scope's name as stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Trade => "trade",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Self::Read),
            "trade" => Ok(Self::Trade),
            "admin" => Ok(Self::Admin),
            _ => Err(Error::param(
                "scope",
                format!("{s:?} is not a scope; expected read, trade or admin"),
            )),
        }
    }
}

/// Prefix of every token, so leaked tokens are easy to grep for.
pub const TOKEN_PREFIX: &str = "tsr_";
/// Characters of a token kept (in clear) to tell tokens apart in listings.
const SHOWN_PREFIX_LEN: usize = 12;

/// A freshly generated token: the secret (show it once) and what to store.
#[derive(Clone)]
pub struct GeneratedToken {
    /// The token itself; never stored, never logged.
    pub secret: String,
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// First characters of the token, for listings.
    pub prefix: String,
}

impl fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret must never reach a log line, even through `{:?}`.
        f.debug_struct("GeneratedToken")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Generate a new random token from the operating system's CSPRNG.
///
/// # Errors
/// [`Error::Internal`] when the OS cannot provide randomness.
pub fn generate_token() -> Result<GeneratedToken> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no OS randomness: {e}")))?;
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    Ok(GeneratedToken {
        hash: hash_token(&secret),
        prefix: secret[..SHOWN_PREFIX_LEN].to_string(),
        secret,
    })
}

/// Hex SHA-256 of a token (see the module docs for why SHA-256 suffices).
#[must_use]
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Who is calling and with what scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's database id; `None` for anonymous loopback reads.
    pub token_id: Option<i64>,
    /// Effective scope.
    pub scope: Scope,
}

/// How long a looked-up token is trusted before it is read again (a revoked
/// token stops working within this time).
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// Per-key token buckets and the token lookup cache.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    buckets: Mutex<HashMap<String, Bucket>>,
    tokens: Mutex<HashMap<String, (Instant, Option<ApiToken>)>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Guard {
    /// Take one request from `key`'s bucket (capacity and refill = `per_minute`).
    fn take(&self, key: &str, per_minute: u32) -> Result<()> {
        if per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let cap = f64::from(per_minute);
        let rate = cap / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 10_000 {
            // Forget idle keys so random bad tokens cannot grow the map without bound.
            buckets.retain(|_, b| now.duration_since(b.updated) < Duration::from_secs(120));
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: cap,
            updated: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.updated).as_secs_f64() * rate).min(cap);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / rate).ceil();
            Err(Error::RateLimited {
                per_minute,
                // Whole seconds of a small positive float: the cast cannot truncate meaningfully.
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "small positive whole number"
                )]
                retry_after_secs: wait.max(1.0) as u64,
            })
        }
    }

    async fn lookup(&self, state: &ApiState, hash: &str) -> Result<Option<ApiToken>> {
        let now = Instant::now();
        if let Some((at, tok)) = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            && now.duration_since(*at) < TOKEN_CACHE_TTL
        {
            return Ok(tok.clone());
        }
        let tok = state.store().api_token_by_hash(hash).await?;
        let mut cache = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(hash.to_string(), (now, tok.clone()));
        Ok(tok)
    }
}

fn bearer(parts: &Parts) -> Result<Option<&str>> {
    let Some(v) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| Error::Unauthorized("Authorization header is not ASCII".into()))?;
    let Some(tok) = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
    else {
        return Err(Error::Unauthorized(
            "Authorization header must be `Bearer <token>`".into(),
        ));
    };
    Ok(Some(tok.trim()))
}

fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Authenticate the request and check it may act with `needed`.
///
/// # Errors
/// 401 without a usable token, 403 for a too-narrow scope, 429 over the rate limit.
pub(crate) async fn authorize(state: &ApiState, parts: &Parts, needed: Scope) -> Result<Caller> {
    let per_minute = state.config().rate_limit_per_minute;
    let guard = state.guard();
    match bearer(parts)? {
        Some(secret) => {
            let hash = hash_token(secret);
            // Keyed by the hash, never the secret, so the map holds nothing worth stealing.
            guard.take(&format!("token:{hash}"), per_minute)?;
            let tok = guard.lookup(state, &hash).await?;
            let Some(tok) = tok.filter(|t| t.revoked_at.is_none()) else {
                return Err(Error::Unauthorized("unknown or revoked token".into()));
            };
            let scope: Scope = tok.scope.parse().map_err(|_| {
                Error::Internal(format!("token {} has stored scope {:?}", tok.id, tok.scope))
            })?;
            if scope < needed {
                return Err(Error::Forbidden(format!(
                    "this token has scope `{scope}`; this request needs `{needed}`"
                )));
            }
            Ok(Caller {
                token_id: Some(tok.id),
                scope,
            })
        }
        None => {
            let peer = peer(parts);
            let loopback = peer.is_some_and(|p| p.ip().is_loopback());
            if needed == Scope::Read && loopback && state.config().open_read_on_loopback {
                let ip = peer.map_or_else(String::new, |p| p.ip().to_string());
                guard.take(&format!("ip:{ip}"), per_minute)?;
                return Ok(Caller {
                    token_id: None,
                    scope: Scope::Read,
                });
            }
            Err(Error::Unauthorized(format!(
                "this request needs a token with scope `{needed}` (Authorization: Bearer <token>; create one with `tessera tokens create --scope {needed}`)"
            )))
        }
    }
}

macro_rules! access {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(pub Caller);

        impl FromRequestParts<ApiState> for $name {
            type Rejection = Error;
            async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self> {
                authorize(state, parts, $scope).await.map($name)
            }
        }
    };
}

access!(
    /// Extractor: the caller may read (token with any scope, or open loopback read).
    ReadAccess,
    Scope::Read
);
access!(
    /// Extractor: the caller holds a `trade` or `admin` token.
    TradeAccess,
    Scope::Trade
);
access!(
    /// Extractor: the caller holds an `admin` token.
    AdminAccess,
    Scope::Admin
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_generate_token_is_random_and_hash_matches() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(TOKEN_PREFIX) && a.secret.len() == 68);
        assert_eq!(a.hash, hash_token(&a.secret));
        assert!(a.secret.starts_with(&a.prefix));
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn test_scopes_nest_and_parse() {
        assert!(Scope::Admin > Scope::Trade && Scope::Trade > Scope::Read);
        assert_eq!("TRADE".parse::<Scope>().unwrap(), Scope::Trade);
        assert!("root".parse::<Scope>().is_err());
    }

    #[test]
    fn test_bucket_refuses_after_capacity() {
        let g = Guard::default();
        for _ in 0..3 {
            g.take("k", 3).unwrap();
        }
        assert!(matches!(g.take("k", 3), Err(Error::RateLimited { .. })));
        g.take("other", 3).unwrap();
        g.take("k", 0).unwrap();
    }
}
