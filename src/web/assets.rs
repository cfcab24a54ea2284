//! The web app's static files, embedded in the binary: htmx and its SSE extension (vendored
//! from npm, see `assets/vendor/README.md`), our stylesheet and our one small script.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

impl Asset {
    const fn script(name: &'static str, bytes: &'static [u8]) -> Self {
        Self {
            name,
            content_type: "text/javascript; charset=utf-8",
            bytes,
        }
    }

    const fn stylesheet(name: &'static str, bytes: &'static [u8]) -> Self {
        Self {
            name,
            content_type: "text/css; charset=utf-8",
            bytes,
        }
    }
}

const ASSETS: &[Asset] = &[
    Asset::script(
        "htmx.min.js",
        include_bytes!("assets/vendor/htmx.org-2.0.11/htmx.min.js"),
    ),
    Asset::script(
        "sse.min.js",
        include_bytes!("assets/vendor/htmx-ext-sse-2.2.4/sse.min.js"),
    ),
    Asset::script("app.js", include_bytes!("assets/app.js")),
    Asset::stylesheet("app.css", include_bytes!("assets/app.css")),
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            asset.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
