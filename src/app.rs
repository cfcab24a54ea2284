//! The router tree: every area's routes under `/api/v1`, the docs, probes and metrics, and
//! the layers every request passes through.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::http::openapi::ApiDoc;
use crate::http::{health, metrics, middleware};
use crate::state::AppState;

pub const API_PREFIX: &str = "/api/v1";

/// Every area's routes, with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(crate::accounts::routes::routes())
        .merge(crate::me::routes::routes())
        .merge(crate::content::routes::routes())
        .merge(crate::study::routes::routes())
        .merge(crate::gamification::routes::routes())
        .merge(crate::mastery::routes::routes())
        .merge(crate::tutor::routes::routes())
        .merge(crate::quizzes::routes::routes())
        .merge(crate::materials::routes::routes())
        .merge(crate::ai::usage_routes::routes())
        .merge(crate::jobs::routes::routes())
        .merge(crate::materials::search_routes::routes())
        .merge(crate::billing::routes::routes())
        .merge(crate::admin::routes::routes())
        .merge(crate::social::routes::routes())
        .merge(crate::recommendations::routes::routes())
}

/// The OpenAPI document as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest(API_PREFIX, api())
        .into_openapi();
    crate::http::openapi::complete_responses(&mut doc);
    doc
}

pub fn build(state: AppState) -> Router {
    let (api_router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(API_PREFIX, api())
        .split_for_parts();
    crate::http::openapi::complete_responses(&mut openapi);
    let mut api_router = api_router;
    for layer in middleware::api_headers() {
        api_router = api_router.layer(layer);
    }

    let request_id = HeaderName::from_static("x-request-id");
    let mut router = Router::new()
        .merge(api_router)
        .merge(crate::web::router(state.clone()))
        .merge(SwaggerUi::new("/docs").url("/api/openapi.json", openapi))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .fallback(middleware::route_not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed);
    // Drops what `GET /me` cached of a user once their writing request is answered.
    router = router.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::me::cache::forget_after_writes,
    ));
    for layer in middleware::security_headers() {
        router = router.layer(layer);
    }
    router
        .layer(DefaultBodyLimit::max(state.config.body_limit_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                        let id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(axum::middleware::from_fn(metrics::track))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(middleware::cors(&state.config))
                // The timeout's bare 408 becomes a problem document, like every other error.
                .layer(axum::middleware::map_response(middleware::timeout_problem))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(state.config.request_timeout_secs),
                )),
        )
        .with_state(state)
}
