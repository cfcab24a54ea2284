//! Study sessions, streaks and study statistics (SPEC §3 Study sessions, Streaks).

pub mod model;
pub mod routes;
pub mod service;
pub mod stats;
pub mod streaks;
