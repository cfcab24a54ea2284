//! Mastery: `topic_progress` and the model that moves `mastery_score` (SPEC §3 Mastery).

pub mod model;
pub mod routes;
pub mod service;
