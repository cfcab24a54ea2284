//! Content: subjects, topics, lessons and lesson progress (SPEC §3, §4 content).

pub mod model;
pub mod routes;
pub mod service;
