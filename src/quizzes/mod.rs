//! Quizzes: `quizzes`, `quiz_questions`, `quiz_attempts` (SPEC §3 Quizzes): reading quizzes
//! without their answers, scoring attempts on the server with their XP, streak, mastery and
//! achievement effects, hand-written quizzes, the one validator every stored question passes,
//! and item statistics for authors; `generate` builds a student's own quiz from a topic's
//! lessons through the AI provider, on `service::store_quiz`.

pub mod generate;
pub mod model;
pub mod routes;
pub mod service;
pub mod stats;
pub mod validate;
