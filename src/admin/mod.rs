//! The operator's view (`GET /admin/stats`): counts composed of each area's tables, read-only.

pub mod model;
pub mod routes;
pub mod service;
