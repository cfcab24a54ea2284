//! Quizzes: `quizzes`, `quiz_questions`, `quiz_attempts` (SPEC §3 Quizzes): reading quizzes
//! without their answers, scoring attempts on the server with their XP, streak, mastery and
//! achievement effects, hand-written quizzes, the one validator every stored question passes,
//! and item statistics for authors. Generation builds on `service::store_quiz`.

pub mod model;
pub mod routes;
pub mod service;
pub mod stats;
pub mod validate;
