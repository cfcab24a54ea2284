//! Accounts: users, profiles, sign-in sessions and refresh tokens, email tokens, Google
//! sign-in, and the admin's management of users (SPEC §3 Accounts).

pub mod admin;
pub mod email_links;
pub mod google;
pub mod google_signin;
pub mod model;
pub mod password;
pub mod profile;
pub mod routes;
pub mod service;
pub mod session;
pub mod session_cache;
pub mod signin;
pub mod tokens;

pub use session::{AdminUser, CurrentUser, authenticate};

pub const ROLE_STUDENT: &str = "student";
pub const ROLE_ADMIN: &str = "admin";
