//! Quizzes: `quizzes`, `quiz_questions`, `quiz_attempts` (SPEC §3 Quizzes). The quiz endpoints
//! are still to come; for now this area owns what other areas must ask of these tables.

pub mod service;
