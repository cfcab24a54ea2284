//! The web app in a real browser: headless Chromium over WebDriver, on both databases.

mod account;
mod admin;
mod auth;
pub mod browser;
mod learn;
mod materials;
mod quizzes;
mod social;
mod tutor;
