//! The student web app: full pages over one base layout (askama), `*_partial` fragments for
//! htmx swaps, and the same service functions as the JSON routes underneath. Sign-in is an
//! HttpOnly, SameSite=Lax session cookie over the API's own accounts and sessions
//! ([`session`]); every state-changing request carries a CSRF token; the pages load only our
//! own, embedded assets ([`assets`]) under a strict Content-Security-Policy.

pub mod account;
pub mod admin;
pub mod assets;
pub mod auth;
pub mod dashboard;
pub mod learn;
pub mod markdown;
pub mod materials;
pub mod page;
pub mod quizzes;
pub mod session;
pub mod social;
pub mod study;
pub mod tutor;

use std::time::Instant;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// Pages may load scripts, styles and images from this origin only; no inline script runs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Every page and fragment of the web app, with its headers and the CSRF check.
pub fn router(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .merge(auth::routes())
        .merge(dashboard::routes())
        .merge(learn::routes())
        .merge(study::routes())
        .merge(tutor::routes())
        .merge(quizzes::routes())
        .merge(materials::routes())
        .merge(social::routes())
        .merge(account::routes())
        .merge(admin::routes())
        .layer(axum::middleware::from_fn_with_state(
            state,
            session::csrf_guard,
        ))
        .layer(axum::middleware::from_fn(html_errors))
        .layer(axum::middleware::from_fn(server_timing))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new().merge(pages).merge(assets::routes())
}

/// `Server-Timing: app;dur=<ms>`: the time the server spent on a page up to its headers, for
/// the browser's developer tools and the page benchmark (`bench/web_pages.py`).
async fn server_timing(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let mut response = next.run(req).await;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    detail: Option<String>,
}

#[derive(Template)]
#[template(path = "error_partial.html")]
struct ErrorPartial {
    title: String,
    detail: Option<String>,
}

/// The largest problem document read back to show as a page.
const MAX_PROBLEM_BYTES: usize = 64 * 1024;

/// A service error on a page (a problem document, as the JSON routes answer) becomes a short
/// HTML page for a browser, or an alert fragment for htmx to swap in, with the same status.
async fn html_errors(req: Request, next: Next) -> Response {
    let htmx = req.headers().contains_key("hx-request");
    let response = next.run(req).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PROBLEM_BYTES).await else {
        return parts.status.into_response();
    };
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let title = problem["title"]
        .as_str()
        .unwrap_or("Something went wrong")
        .to_string();
    let detail = problem["detail"].as_str().map(String::from);
    let mut page = if htmx {
        page::render_status(parts.status, &ErrorPartial { title, detail })
    } else {
        page::render_status(parts.status, &ErrorPage { title, detail })
    };
    if let Some(retry) = parts.headers.get(header::RETRY_AFTER) {
        page.headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    page
}
