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

use axum::Router;
use axum::http::{HeaderValue, header};
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
