//! Uploaded materials: their chunks' hybrid search and the endpoint over it.

pub mod eval;
pub mod search;
pub mod search_bench;
pub mod search_routes;
