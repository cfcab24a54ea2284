//! Recommendations (SPEC §3 Recommendations): `user_recommendations`.

pub mod routes;
pub mod service;
