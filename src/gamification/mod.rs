//! XP, levels and achievements (SPEC §3 XP, Achievements).

pub mod xp;
