//! XP, levels and achievements (SPEC §3 XP, Achievements).

pub mod achievements;
pub mod model;
pub mod routes;
pub mod service;
pub mod xp;
