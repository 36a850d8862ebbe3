//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the response types' `ToSchema` derives, served at
//! `/api/v1/openapi.json`. `/docs` renders it (see `dashboard`).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::ApiState;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/openapi.json", get(document))
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `tessera tokens create --scope read|trade|admin`. Scopes nest: admin ⊃ trade ⊃ read.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera API",
        description = "Market data, the security master, trading, models, jobs and platform status of a Tessera installation. Errors are RFC 9457 problem details (`application/problem+json`). Pages: `limit` + opaque `cursor` (pass `next_cursor`). Times: RFC 3339 or epoch numbers (s/ms/µs/ns by magnitude); ranges are `[from, to)`.",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::health::health,
        crate::health::ready,
        crate::instruments::list,
        crate::instruments::show,
        crate::instruments::add,
        crate::instruments::remove,
        crate::market::bars,
        crate::market::chart,
        crate::market::quotes,
        crate::market::latest_quote,
        crate::data::status,
        crate::data::gaps,
        crate::tokens::list,
        crate::tokens::create,
        crate::tokens::revoke,
        crate::jobs::list,
        crate::jobs::show,
        crate::jobs::logs,
        crate::jobs::cancel,
        crate::backtests::list,
        crate::backtests::show,
        crate::backtests::trades,
        crate::backtests::equity,
        crate::schedules::run_job,
        crate::schedules::list,
        crate::schedules::run_now,
        crate::schedules::reports,
        crate::schedules::run_backtest,
        crate::trading::positions,
        crate::trading::list_orders,
        crate::trading::show_order,
        crate::trading::submit,
        crate::trading::cancel,
        crate::trading::fills,
        crate::trading::account,
        crate::trading::account_history,
        crate::trading::kill_switch,
        crate::trading::set_kill_switch,
        crate::models::list,
        crate::models::show,
        crate::models::metrics,
        crate::models::importance,
        crate::models::promote,
        crate::models::predictions,
        crate::systems::list,
        crate::systems::positions,
        crate::stream::stream_events,
        crate::ws::websocket,
        crate::metrics::metrics,
    ),
    components(schemas(crate::Problem)),
    modifiers(&Security),
    tags(
        (name = "health", description = "Liveness and readiness (no token needed)"),
        (name = "instruments", description = "The security master"),
        (name = "market data", description = "Bars, chart series and quotes"),
        (name = "data", description = "Collection status and gaps"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "jobs", description = "The scheduler's job queue"),
        (name = "backtests", description = "Stored backtest runs"),
        (name = "trading", description = "Positions, orders, fills, account history and the kill switch"),
        (name = "models", description = "The model registry and predictions"),
        (name = "systems", description = "Systems (the run_systems job) and their optimal positions"),
        (name = "live", description = "Server-Sent Events and WebSocket"),
        (name = "metrics", description = "Prometheus"),
    )
)]
struct ApiDoc;

/// The OpenAPI document as JSON text.
#[must_use]
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The OpenAPI 3.1 document of this API.
async fn document() -> Response {
    let mut res = openapi_json().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
