//! XP, levels and achievements (SPEC §3 XP, Achievements).

pub mod achievements;
pub mod routes;
pub mod xp;
