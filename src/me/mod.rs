//! The signed-in user's own view (`GET /me`, `PATCH /me/profile`, `DELETE /me`): read-only
//! views composed of several areas' own read functions, so no area reaches into another's tables.

pub mod cache;
pub mod export;
pub mod model;
pub mod routes;
pub mod service;
