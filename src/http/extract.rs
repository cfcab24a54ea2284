//! Extractors that parse at the edge: validated JSON and query strings whose failures are
//! problem documents, the client's address, pagination. The signed-in user lives with accounts.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::http::error::{AppError, FieldError};
use crate::state::AppState;

/// Turns garde's report into field errors.
pub fn validation_errors(report: garde::Report) -> AppError {
    AppError::Validation(
        report
            .iter()
            .map(|(path, err)| {
                let field = path.to_string();
                FieldError::new(
                    if field.is_empty() {
                        "body".into()
                    } else {
                        field
                    },
                    err.message().to_string(),
                )
            })
            .collect(),
    )
}

/// Whether a JSON text has a string with a NUL character (`\u0000`), which no text column
/// of PostgreSQL can hold; such input is refused as invalid rather than failing in the database.
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

const NUL_MESSAGE: &str = "text must not contain NUL characters (\\u0000)";

/// Deserializes `T` from JSON, reporting where a value of the wrong type sits.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if has_nul_escape(bytes) {
        return Err(AppError::invalid("body", NUL_MESSAGE));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => AppError::Validation(vec![FieldError::new(
                if path == "." {
                    "body".to_string()
                } else {
                    path
                },
                strip_position(&inner.to_string()),
            )]),
            _ => AppError::BadRequest(format!("the body is not valid JSON: {inner}")),
        }
    })
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// True when the request says its body is JSON (`application/json` or `application/*+json`).
fn has_json_content_type(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
        .unwrap_or(false)
}

fn unsupported_media_type() -> AppError {
    AppError::UnsupportedMediaType("expected a body with Content-Type: application/json".into())
}

/// The whole body, within the configured limit (413 beyond it).
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection| match rejection.status().as_u16() {
            413 => AppError::PayloadTooLarge,
            _ => AppError::BadRequest(rejection.body_text()),
        })
}

/// What a request's body or query string is read into: deserialized, then validated with garde.
pub trait Input: DeserializeOwned + garde::Validate<Context: Default> {}

impl<T: DeserializeOwned + garde::Validate<Context: Default>> Input for T {}

/// `value` if garde finds it valid, else a 422 naming each bad field.
pub fn valid<T: garde::Validate<Context: Default>>(value: T) -> Result<T, AppError> {
    value.validate().map_err(validation_errors)?;
    Ok(value)
}

/// Deserializes and validates `T` from a JSON body: 400 when it is not JSON, 422 per bad field.
fn parse_valid<T: Input>(bytes: &[u8]) -> Result<T, AppError> {
    valid(parse_json(bytes)?)
}

/// A JSON body, deserialized (unknown fields are rejected by the types) and validated with garde.
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: Input> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&req) {
            return Err(unsupported_media_type());
        }
        let bytes = body_bytes(req, state).await?;
        Ok(AppJson(parse_valid(&bytes)?))
    }
}

/// An optional JSON body: an empty body (whatever its Content-Type, or none) is `None`, so a
/// client may send a bare `POST`; a non-empty one is read exactly as [`AppJson`] reads it —
/// 415 unless it says it is JSON, 400 when malformed, 422 per invalid field.
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: Input> FromRequest<S> for OptionalJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = has_json_content_type(&req);
        let bytes = body_bytes(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        if !is_json {
            return Err(unsupported_media_type());
        }
        Ok(OptionalJson(Some(parse_valid(&bytes)?)))
    }
}

/// A query string, deserialized and validated; failures are problem documents.
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: Input> FromRequestParts<S> for AppQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(AppError::invalid("query", NUL_MESSAGE));
        }
        let axum::extract::Query(value) = axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map_err(|e| {
                let text = e.body_text();
                let msg = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                AppError::invalid("query", msg)
            })?;
        Ok(AppQuery(valid(value)?))
    }
}

/// The client's IP address: the socket peer, or the first `X-Forwarded-For` hop when
/// `STUDIUM_TRUST_FORWARDED_FOR` says a proxy of ours sets it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return Ok(ClientIp(ip));
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(ClientIp(ip))
    }
}

/// `?limit=&cursor=` of every list (SPEC §4: default 20, at most 100, keyset cursor).
#[derive(Debug, Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many items, 1 to 100 (default 20).
    #[garde(range(min = 1, max = 100))]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[garde(skip)]
    pub cursor: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: u64 = 20;

impl PageParams {
    pub fn limit(&self) -> u64 {
        self.limit.unwrap_or(DEFAULT_PAGE_SIZE)
    }

    /// The id the previous page ended at; lists are ordered by UUID v7 ids (time order).
    pub fn after_id(&self) -> Result<Option<Uuid>, AppError> {
        match &self.cursor {
            None => Ok(None),
            Some(c) => decode_cursor(c)
                .map(Some)
                .ok_or_else(|| AppError::invalid("cursor", "not a cursor this server issued")),
        }
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The keyset page's end: `rows` were read with `limit + 1`; when the extra row came, it is
/// dropped and the cursor of the page's last row (by `cursor`) is returned, else `None`.
pub fn next_page<T>(
    rows: &mut Vec<T>,
    limit: u64,
    cursor: impl Fn(&T) -> String,
) -> Option<String> {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(cursor)
    } else {
        None
    }
}

fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Path parameters; a malformed one (say, not a UUID) is a 400 problem document.
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| AppPath(p.0))
            .map_err(|e| AppError::BadRequest(e.body_text()))
    }
}

#[cfg(test)]
mod nul_tests {
    use super::has_nul_escape;

    #[test]
    fn only_an_unescaped_nul_escape_counts() {
        assert!(has_nul_escape(br#"{"name": "a\u0000b"}"#));
        assert!(!has_nul_escape(br#"{"name": "a\\u0000b"}"#));
        assert!(!has_nul_escape(br#"{"name": "a\u0001b"}"#));
        assert!(has_nul_escape(br#"{"a": "\\", "b": "\u0000"}"#));
    }
}
