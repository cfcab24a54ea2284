//! The account rules of SPEC §3 Accounts, by concern: password sign-in and sessions
//! (`signin`), Google sign-in (`google_signin`), email links (`email_links`), the profile
//! (`profile`) and the admin's view of users (`admin`). This module holds what they share and
//! re-exports their entry points, so callers name `accounts::service::…` as before.

use std::net::IpAddr;

use crate::http::error::AppResult;
use crate::ratelimit;
use crate::state::AppState;

pub(super) const PURPOSE_VERIFY: &str = "verify_email";
pub(super) const PURPOSE_RESET: &str = "password_reset";
pub(super) const DEFAULT_TIMEZONE: &str = "UTC";
/// `users.auth_provider`: how the account signed up, or "google" once Google sign-in linked it.
pub(super) const PROVIDER_EMAIL: &str = "email";
pub(super) const PROVIDER_GOOGLE: &str = "google";
/// How long after a refresh token's use presenting it again counts as a parallel request of
/// the same client (answered 409, the session kept) rather than a replay (the session ended).
pub(super) const REFRESH_RACE_GRACE_SECS: i64 = 5;
/// How often one Google sign-in reads the accounts again after losing a race to create, link
/// or take over the account; the winner has committed by then, so the second read finds it.
pub(super) const GOOGLE_SIGN_IN_ATTEMPTS: usize = 3;

/// Where a request came from, for rate limits and the session list.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

/// Counts one attempt of `action` against the client's IP (key `<action>:ip:<ip>`).
pub(super) async fn limit_ip(
    state: &AppState,
    action: &str,
    client: &ClientInfo,
    per_ip: i64,
) -> AppResult<()> {
    ratelimit::check(state, &format!("{action}:ip:{}", client.ip), per_ip).await
}

/// Counts one attempt of `action` against the client's IP and against the account it names
/// (SPEC §5: credential endpoints are limited per IP and per account).
pub(super) async fn limit_ip_and_account(
    state: &AppState,
    action: &str,
    client: &ClientInfo,
    account: &(dyn std::fmt::Display + Sync),
    (per_ip, per_account): (i64, i64),
) -> AppResult<()> {
    limit_ip(state, action, client, per_ip).await?;
    ratelimit::check(state, &format!("{action}:account:{account}"), per_account).await
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub use super::admin::{admin_list_users, admin_update_user, create_admin};
pub use super::email_links::{
    confirm_password_reset, request_password_reset, resend_verification, verify_email,
};
pub use super::google_signin::google_sign_in;
pub use super::profile::{
    delete_account, select_user_and_profile, timezone_from, timezone_of_users_row, update_profile,
    user_timezone,
};
pub use super::signin::{change_password, login, logout, refresh, register, revoke_sessions};
