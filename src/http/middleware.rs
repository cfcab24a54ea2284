//! Layers every response passes through, and the answers for unknown routes and panics.

use std::any::Any;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, Any as AnyOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Config;
use crate::http::error::AppError;

pub async fn route_not_found() -> AppError {
    AppError::RouteNotFound
}

pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// A panic in a handler answers 500 with a problem document; the cause is logged only.
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    AppError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}

/// Turns the bare 408 that tower-http's `TimeoutLayer` answers (a status and no body) into the
/// `request-timeout` problem document, so a timeout reads like every other error. Put it just
/// outside the timeout layer. Other responses, and a 408 that already has a body, pass as they are.
pub async fn timeout_problem(response: Response) -> Response {
    if response.status() == StatusCode::REQUEST_TIMEOUT
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        return AppError::RequestTimeout.into_response();
    }
    response
}

/// Headers for every response: no sniffing, no framing, no referrer leaks.
pub fn security_headers() -> Vec<SetResponseHeaderLayer<HeaderValue>> {
    [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ]
    .into_iter()
    .map(|(name, value)| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    })
    .collect()
}

/// API answers are personal and never cached; they never need scripts or frames.
pub fn api_headers() -> Vec<SetResponseHeaderLayer<HeaderValue>> {
    [
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ]
    .into_iter()
    .map(|(name, value)| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    })
    .collect()
}

/// CORS from `STUDIUM_CORS_ORIGINS`: none by default, a list, or `*`.
pub fn cors(config: &Config) -> CorsLayer {
    let origins = config.cors_origin_list();
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")]);
    if origins.iter().any(|o| o == "*") {
        base.allow_origin(AnyOrigin)
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        base.allow_origin(AllowOrigin::list(list))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_http::timeout::TimeoutLayer;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", get(|| async { "soon" }))
            .route(
                "/already-a-problem",
                get(|| async { AppError::RequestTimeout }),
            )
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_millis(20),
            ))
            .layer(axum::middleware::map_response(timeout_problem))
    }

    async fn call(path: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let res = app()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, content_type, body)
    }

    #[tokio::test]
    async fn a_timed_out_request_answers_the_request_timeout_problem() {
        let (status, content_type, body) = call("/slow").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        assert_eq!(body["type"], "urn:studium:problem:request-timeout");
        assert_eq!(body["status"], 408);
    }

    #[tokio::test]
    async fn other_responses_pass_through_unchanged() {
        let (status, content_type, _) = call("/fast").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("text/plain; charset=utf-8"));
        let (status, content_type, body) = call("/already-a-problem").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        assert_eq!(body["type"], "urn:studium:problem:request-timeout");
    }
}
