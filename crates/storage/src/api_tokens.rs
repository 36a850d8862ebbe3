//! API tokens: the hashed credentials of the HTTP API.
//!
//! Only a hash of each token is stored (the API crate decides how to hash and
//! what a scope means); a token is looked up by its hash. Tokens are revoked,
//! not deleted, so a listing keeps showing who had access.

use serde::Serialize;
use tessera_core::UnixNanos;

use crate::error::{Error, Result};
use crate::store::{Store, on_pool};

/// A token as stored (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Database key, used to revoke it.
    pub id: i64,
    /// Free-text label given at creation ("grafana", "notebook").
    pub name: String,
    /// The first characters of the token, to tell tokens apart in listings.
    pub prefix: String,
    /// Scope name (`read`, `trade`, `admin`).
    pub scope: String,
    /// When it was created.
    pub created_at: UnixNanos,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixNanos>,
}

/// What [`Store::create_api_token`] stores.
#[derive(Clone, Copy, Debug)]
pub struct NewApiToken<'a> {
    /// Label.
    pub name: &'a str,
    /// First characters of the token.
    pub prefix: &'a str,
    /// Hash of the whole token (hex).
    pub token_hash: &'a str,
    /// Scope name.
    pub scope: &'a str,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    scope: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            scope: r.scope,
            created_at: UnixNanos(r.created_at),
            revoked_at: r.revoked_at.map(UnixNanos),
        }
    }
}

/// `SELECT` of every token column followed by `$tail`, as one `&'static str` (sqlx wants static SQL).
macro_rules! select_tokens {
    ($tail:literal) => {
        concat!(
            "SELECT id, name, prefix, scope, created_at, revoked_at FROM api_tokens",
            $tail
        )
    };
}

impl Store {
    /// Store a new token's hash.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] when the hash is already stored, [`Error::Database`].
    pub async fn create_api_token(&self, t: NewApiToken<'_>) -> Result<ApiToken> {
        let now = self.now().0;
        let res: std::result::Result<i64, sqlx::Error> = on_pool!(self, |p| sqlx::query_scalar(
            "INSERT INTO api_tokens (name, prefix, token_hash, scope, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id"
        )
        .bind(t.name)
        .bind(t.prefix)
        .bind(t.token_hash)
        .bind(t.scope)
        .bind(now)
        .fetch_one(p)
        .await);
        match res {
            Ok(id) => Ok(ApiToken {
                id,
                name: t.name.to_string(),
                prefix: t.prefix.to_string(),
                scope: t.scope.to_string(),
                created_at: UnixNanos(now),
                revoked_at: None,
            }),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(Error::AlreadyExists(format!("api token {}…", t.prefix)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The token with this hash, revoked or not.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let row: Option<TokenRow> = on_pool!(self, |p| sqlx::query_as(select_tokens!(
            " WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(ApiToken::from))
    }

    /// Every token, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows: Vec<TokenRow> =
            on_pool!(self, |p| sqlx::query_as(select_tokens!(" ORDER BY id"))
                .fetch_all(p)
                .await)?;
        Ok(rows.into_iter().map(ApiToken::from).collect())
    }

    /// Revoke a token; revoking a revoked token keeps the first revocation time.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn revoke_api_token(&self, id: i64) -> Result<()> {
        let now = self.now().0;
        let n = on_pool!(self, |p| sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2"
        )
        .bind(now)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(Error::NotFound(format!("api token {id}")));
        }
        Ok(())
    }
}
