//! The API test suite: one binary, a module per area. Every database test runs on SQLite and on
//! PostgreSQL (`STUDIUM_TEST_PG_URL`, by default the local server; `STUDIUM_TEST_PG=off` reports
//! the PostgreSQL half as ignored).

mod accounts;
mod admin_stats;
mod ai_providers;
mod ai_usage;
mod billing;
mod content;
mod data_rights;
mod doubts;
mod fake_openai;
mod gamification;
mod helpers;
mod http;
mod instances;
mod jobs;
mod maintenance;
mod mastery;
mod material_search;
mod materials;
mod quiz_generation;
mod quizzes;
mod recommendations;
mod social;
mod study;
mod support;
mod tutor;
mod web;
