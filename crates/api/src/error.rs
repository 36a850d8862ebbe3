//! The error type of `tessera-api` and its wire shape, RFC 9457 problem details.
//!
//! Every failure leaves the server as `application/problem+json` with `type`,
//! `title`, `status` and a `detail` that names the parameter and what was
//! wrong with it. Client errors are explained; internal ones are logged in
//! full and answered with a generic message, so database errors, paths and
//! SQL never reach a client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query parameter, path segment or body field is malformed or out of range.
    #[error("invalid parameter `{param}`: {reason}")]
    BadParam {
        /// The parameter's name as the client wrote it (`limit`, `from`, `body.symbol`).
        param: String,
        /// What was wrong and what is accepted.
        reason: String,
    },
    /// The request body could not be read as the expected JSON.
    #[error("invalid request body: {0}")]
    BadBody(String),
    /// The body is larger than the configured limit.
    #[error("request body larger than this server accepts (config key api.body_limit_bytes)")]
    BodyTooLarge,
    /// No or an unknown token on a route that needs one.
    #[error("{0}")]
    Unauthorized(String),
    /// The token is valid but its scope is too narrow.
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with stored state (already exists, would delete data).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests for this token (or address) in the current window.
    #[error(
        "rate limit of {per_minute} requests per minute exceeded; retry in {retry_after_secs} s"
    )]
    RateLimited {
        /// The configured limit.
        per_minute: u32,
        /// Seconds until a request would be accepted again.
        retry_after_secs: u64,
    },
    /// The route exists but not for this method.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// The storage layer failed; logged, answered generically.
    #[error(transparent)]
    Storage(tessera_storage::Error),
    /// Any other server-side failure; logged, answered generically.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias for `tessera-api`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A [`Error::BadParam`].
    pub fn param(param: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadParam {
            param: param.into(),
            reason: reason.into(),
        }
    }

    /// The HTTP status this error is answered with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParam { .. } | Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Storage(e) => match e {
                tessera_storage::Error::NotFound(_) => StatusCode::NOT_FOUND,
                tessera_storage::Error::AlreadyExists(_) | tessera_storage::Error::Refused(_) => {
                    StatusCode::CONFLICT
                }
                tessera_storage::Error::Model(_) => StatusCode::BAD_REQUEST,
                _ if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::BadParam { .. } => "invalid-parameter",
            Self::BadBody(_) => "invalid-body",
            Self::BodyTooLarge => "body-too-large",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate-limited",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Storage(_) | Self::Internal(_) => match self.status() {
                StatusCode::NOT_FOUND => "not-found",
                StatusCode::CONFLICT => "conflict",
                StatusCode::BAD_REQUEST => "invalid-parameter",
                StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                _ => "internal",
            },
        }
    }

    /// The problem document sent to the client.
    #[must_use]
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = if status.is_server_error() {
            // Never leak internals: the full error is in the server log.
            if status == StatusCode::SERVICE_UNAVAILABLE {
                "the database is busy or unreachable; retry shortly".to_string()
            } else {
                "internal error; the server log has the details".to_string()
            }
        } else {
            self.to_string()
        };
        let param = match self {
            Self::BadParam { param, .. } => Some(param.clone()),
            _ => None,
        };
        Problem {
            type_: format!("/docs#problem-{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            param,
        }
    }
}

impl From<tessera_storage::Error> for Error {
    fn from(e: tessera_storage::Error) -> Self {
        Self::Storage(e)
    }
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem (`/docs#problem-invalid-parameter`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the status (`Bad Request`).
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What was wrong, naming the parameter and the accepted values.
    pub detail: String,
    /// The offending parameter, for invalid-parameter problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "request refused");
        }
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut res = (status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            Self::Unauthorized(_) => {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"tessera\""),
                );
            }
            Self::RateLimited {
                retry_after_secs, ..
            } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_problem_names_param_and_hides_internals() {
        let p = Error::param("limit", "must be between 1 and 10000").problem();
        assert_eq!(p.status, 400);
        assert_eq!(p.param.as_deref(), Some("limit"));
        assert!(p.detail.contains("limit") && p.detail.contains("10000"));
        let p = Error::Internal("password=hunter2 at /srv/db".into()).problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("hunter2"));
    }

    #[test]
    fn test_storage_errors_map_to_client_statuses() {
        let nf: Error = tessera_storage::Error::NotFound("instrument X".into()).into();
        assert_eq!(nf.status(), StatusCode::NOT_FOUND);
        let c: Error = tessera_storage::Error::AlreadyExists("instrument X".into()).into();
        assert_eq!(c.status(), StatusCode::CONFLICT);
    }
}
