//! `AppError`: the one error type of the service layer, answered as an RFC 9457
//! `application/problem+json` document with a stable `type` slug. Causes of 5xx answers are
//! logged (inside the request's span, so with its request id) and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde::Serialize;
use utoipa::ToSchema;

/// Prefix of every problem `type`; the rest is the stable slug.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:studium:problem:";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `password` or `answers[2].question_id`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The problem document (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:studium:problem:<slug>`; the slug is stable and safe to branch on.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Present on validation problems: each bad field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("authentication required: {0}")]
    Unauthorized(&'static str),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {detail}")]
    Conflict { slug: &'static str, detail: String },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("the request took longer than the server allows")]
    RequestTimeout,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// An AI allowance of the user's plan is used up (daily per feature, or the monthly cost
    /// cap); `retry_after_secs` is the time until it resets.
    #[error("AI quota exceeded: {detail}")]
    QuotaExceeded {
        retry_after_secs: u64,
        detail: String,
    },
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    /// Payments are not set up on this server (no payment provider configured), or the
    /// provider did not answer.
    #[error("billing unavailable: {0}")]
    BillingUnavailable(&'static str),
    /// A webhook whose signature is missing, wrong or too old.
    #[error("invalid webhook signature: {0}")]
    InvalidSignature(&'static str),
    /// A feature this server is not set up for (e.g. Google sign-in without a client id): a
    /// client's answer, not an outage.
    #[error("not available on this server: {0}")]
    NotAvailable(&'static str),
    /// The AI provider failed (down, timed out, rate limiting this server, or answered
    /// something unusable); nothing was stored and the usage reservation was released.
    #[error(transparent)]
    Ai(#[from] crate::ai::AiError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn conflict(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            slug,
            detail: detail.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::RouteNotFound | Self::NotAvailable(_) => {
                StatusCode::NOT_FOUND
            }
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } | Self::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Ai(_) | Self::BillingUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::InvalidSignature(_) => StatusCode::BAD_REQUEST,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable slug of the problem type.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "malformed-request",
            Self::Validation(_) => "validation-failed",
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidCredentials => "invalid-credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::RouteNotFound => "route-not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict { slug, .. } => slug,
            Self::PayloadTooLarge => "payload-too-large",
            Self::RequestTimeout => "request-timeout",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::RateLimited { .. } => "rate-limited",
            Self::QuotaExceeded { .. } => "quota-exceeded",
            Self::Unavailable(_) => "service-unavailable",
            Self::NotAvailable(_) => "not-available",
            Self::BillingUnavailable(_) => "billing-unavailable",
            Self::InvalidSignature(_) => "invalid-signature",
            Self::Ai(_) => "ai-unavailable",
            Self::Internal(_) => "internal-error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "The request could not be read",
            Self::Validation(_) => "Some fields are invalid",
            Self::Unauthorized(_) => "Authentication required",
            Self::InvalidCredentials => "Invalid email or password",
            Self::Forbidden(_) => "Not allowed",
            Self::NotFound(_) => "Not found",
            Self::RouteNotFound => "No such endpoint",
            Self::MethodNotAllowed => "Method not allowed on this endpoint",
            Self::Conflict { .. } => "Conflict with the current state",
            Self::PayloadTooLarge => "Request body too large",
            Self::RequestTimeout => "The request took too long",
            Self::UnsupportedMediaType(_) => "Unsupported media type",
            Self::RateLimited { .. } => "Too many requests",
            Self::QuotaExceeded { .. } => "AI quota exceeded",
            Self::Unavailable(_) => "Service temporarily unavailable",
            Self::NotAvailable(_) => "Not available on this server",
            Self::BillingUnavailable(_) => "Payments are unavailable",
            Self::InvalidSignature(_) => "The webhook signature is invalid",
            Self::Ai(_) => "The AI tutor is unavailable",
            Self::Internal(_) => "Internal server error",
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            Self::BadRequest(d) => Some(d.clone()),
            Self::Unauthorized(d)
            | Self::Forbidden(d)
            | Self::Unavailable(d)
            | Self::NotAvailable(d)
            | Self::BillingUnavailable(d)
            | Self::InvalidSignature(d) => Some((*d).to_string()),
            Self::NotFound(what) => Some(format!("{what} not found")),
            Self::Conflict { detail, .. } | Self::QuotaExceeded { detail, .. } => {
                Some(detail.clone())
            }
            Self::UnsupportedMediaType(d) => Some(d.clone()),
            Self::Ai(e) => Some(format!("{e}; nothing was stored, try again")),
            Self::RequestTimeout => Some(
                "the request was not completed in the time the server allows (a slow upload, or \
                 slow work on the server); try again"
                    .into(),
            ),
            Self::RateLimited { retry_after_secs } => Some(format!(
                "Too many attempts; try again in {retry_after_secs} seconds"
            )),
            _ => None,
        }
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            type_: format!("{PROBLEM_TYPE_PREFIX}{}", self.slug()),
            title: self.title().to_string(),
            status: self.status().as_u16(),
            detail: self.detail(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if crate::db::is_unavailable(&err) {
            tracing::error!(error = %err, "database unavailable");
            return AppError::Unavailable("the database is unavailable");
        }
        AppError::Internal(err.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "request failed");
        }
        let status = self.status();
        let mut response = (status, axum::Json(self.to_problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let retry_after = match self {
            AppError::RateLimited { retry_after_secs }
            | AppError::QuotaExceeded {
                retry_after_secs, ..
            } => Some(retry_after_secs),
            AppError::Ai(crate::ai::AiError::RateLimited { retry_after_secs }) => retry_after_secs,
            _ => None,
        };
        if let Some(secs) = retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_exceeded_is_a_429_with_retry_after_and_its_slug() {
        let err = AppError::QuotaExceeded {
            retry_after_secs: 3600,
            detail: "your plan allows 20 doubt request(s) a day".into(),
        };
        assert_eq!(err.slug(), "quota-exceeded");
        let problem = err.to_problem();
        assert_eq!(problem.type_, "urn:studium:problem:quota-exceeded");
        assert_eq!(problem.status, 429);
        assert!(problem.detail.unwrap().contains("20 doubt"));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3600");
    }
}
