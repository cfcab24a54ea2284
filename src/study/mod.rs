//! Study sessions, streaks and study statistics (SPEC §3 Study sessions, Streaks).

pub mod routes;
pub mod streaks;
