//! Cross-cutting HTTP: errors, extractors, middleware, OpenAPI, health and metrics.

pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod validate;

use serde::Serialize;
use utoipa::ToSchema;

/// One page of a list (SPEC §4): pass `next_cursor` as `cursor` for the next page; `null` at the end.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
