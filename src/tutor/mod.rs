//! The AI tutor (SPEC §3 "AI tutor"). So far its foundation: retrieval over the lessons
//! (`retrieval`) and the evaluation that measures it (`eval`).

pub mod doubts;
pub mod eval;
pub mod guard;
pub mod model;
pub mod retrieval;
pub mod routes;
