//! `/api/v1/tokens`: list, create and revoke API tokens (scope `admin`).
//! A created token is returned once, in the creation response; listings show
//! only its prefix.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_storage::{ApiToken, NewApiToken};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::{AdminAccess, Scope, generate_token};
use crate::error::{Error, Result};
use crate::params;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{id}", delete(revoke))
}

/// A token as listed (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenJson {
    /// Id, used to revoke it.
    id: i64,
    /// Label.
    name: String,
    /// First characters of the token.
    prefix: String,
    /// `read`, `trade` or `admin`.
    scope: String,
    /// Creation time, RFC 3339.
    created_at: String,
    /// Revocation time, when revoked.
    revoked_at: Option<String>,
}

impl From<&ApiToken> for TokenJson {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            scope: t.scope.clone(),
            created_at: t.created_at.to_rfc3339(),
            revoked_at: t.revoked_at.map(|r| r.to_rfc3339()),
        }
    }
}

/// Every token.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenList {
    /// Oldest first.
    tokens: Vec<TokenJson>,
}

/// List tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Tokens", body = TokenList),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope is not `admin`", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _auth: AdminAccess,
) -> Result<Json<TokenList>> {
    let tokens = state.store().list_api_tokens().await?;
    Ok(Json(TokenList {
        tokens: tokens.iter().map(TokenJson::from).collect(),
    }))
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// `read`, `trade` or `admin`.
    scope: String,
    /// Label (default: empty).
    name: Option<String>,
}

/// A new token; `token` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    /// The token: send it as `Authorization: Bearer <token>`. Not retrievable later.
    token: String,
    /// Its stored description.
    info: TokenJson,
}

/// Create a token (the secret is in this response only).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Created", body = CreatedToken),
        (status = 400, description = "Invalid body", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope is not `admin`", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    _auth: AdminAccess,
    params::Json(body): params::Json<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>)> {
    let scope: Scope = body.scope.parse().map_err(|_| {
        Error::param(
            "body.scope",
            format!(
                "{:?} is not a scope; expected read, trade or admin",
                body.scope
            ),
        )
    })?;
    let name = body.name.unwrap_or_default();
    if name.len() > 200 {
        return Err(Error::param("body.name", "at most 200 characters"));
    }
    let g = generate_token()?;
    let stored = state
        .store()
        .create_api_token(NewApiToken {
            name: &name,
            prefix: &g.prefix,
            token_hash: &g.hash,
            scope: scope.as_str(),
        })
        .await?;
    tracing::info!(id = stored.id, prefix = %stored.prefix, %scope, "api token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: g.secret,
            info: TokenJson::from(&stored),
        }),
    ))
}

/// Revoke a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "Token id")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Bad id", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope is not `admin`", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    _auth: AdminAccess,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id: i64 = id
        .parse()
        .map_err(|_| Error::param("id", format!("{id:?} is not a token id (an integer)")))?;
    state.store().revoke_api_token(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
