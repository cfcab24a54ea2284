//! Friends and leaderboards (SPEC §3 Friends, Leaderboards): `friends`, `leaderboard_cache`.

pub mod boards;
pub mod leaderboard;
pub mod model;
pub mod routes;
pub mod service;
pub mod standings;
