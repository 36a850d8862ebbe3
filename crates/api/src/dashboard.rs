//! The dashboard and the API docs page: hand-written HTML, CSS and JavaScript
//! compiled into the binary with `include_str!` (no Node.js, no CDN, nothing
//! fetched at build or run time). The pages call the same `/api/v1` as any
//! client; the chart is a small canvas candlestick renderer in `chart.js`.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ApiState;
use crate::error::Error;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(index))
        .route("/docs", get(docs))
        .route("/assets/{file}", get(asset))
}

/// Embedded files: name, media type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/chart.js"),
    ),
    (
        "docs.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/docs.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
];

fn html(body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Everything the pages load comes from this server.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"),
    );
    res
}

async fn index() -> Response {
    html(include_str!("assets/index.html"))
}

async fn docs() -> Response {
    html(include_str!("assets/docs.html"))
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, body)) => {
            let mut res = (*body).into_response();
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            res
        }
        None => Error::NotFound(format!("no asset named {file:?}")).into_response(),
    }
}
