//! The API test suite: one binary, a module per area. Every database test runs on SQLite and,
//! when `STUDIUM_TEST_PG_URL` is set, on PostgreSQL too.

mod accounts;
mod content;
mod gamification;
mod helpers;
mod http;
mod maintenance;
mod mastery;
mod study;
mod support;
