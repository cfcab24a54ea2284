//! What `GET /me` read of each user, kept per instance so that the most frequent
//! authenticated read spends no database round trip at all.
//!
//! An entry is the row `GET /me` reads (user, profile, streak columns, XP total, running
//! session); what depends on the time of day — the streak as it stands today, a session past
//! its cap — is still worked out from it on every request. Entries go away:
//! - when the database says the data changed, whoever wrote — any instance, a job, a CLI
//!   command, an operator's SQL: the change feed ([`crate::changes`]) tells every instance
//!   within a poll;
//! - on this instance, right after a signed-in user's writing request (any method but GET,
//!   HEAD and OPTIONS) is answered ([`forget_after_writes`]), and after the account changes
//!   that end sessions, so that a user always reads their own writes at once;
//! - all at once while polling fails (the cache is then off), and after [`TTL_SECS`] at the
//!   latest.
//!
//! Limit: a change one user causes to another's data (a friend's achievement XP, an admin's
//! edit, a job) reaches the other's `GET /me` with the next poll, on every instance — this one
//! included — a few milliseconds after the commit, not at its instant.

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::service::MeRow;
use crate::accounts::session::WritingUser;
use crate::changes::UserCache;
use crate::notified_cache::NotifiedCache;
use crate::state::AppState;

/// The longest an entry is trusted without a poll saying otherwise.
pub const TTL_SECS: i64 = 60;

/// `GET /me`'s rows by user id.
pub struct MeCache(NotifiedCache<Uuid, MeRow>);

impl MeCache {
    /// Off until the change feed is followed.
    pub fn new() -> Arc<Self> {
        Arc::new(Self(NotifiedCache::new(false, Duration::seconds(TTL_SECS))))
    }

    pub fn get(&self, user_id: Uuid, now: DateTime<Utc>) -> Option<MeRow> {
        self.0.get(&user_id, now)
    }

    /// The generation to pass to [`put`](Self::put) for a read that starts now.
    pub fn generation(&self) -> u64 {
        self.0.generation()
    }

    /// Stores what a database read found, unless anything was invalidated since `generation`.
    pub fn put(&self, generation: u64, user_id: Uuid, row: MeRow, now: DateTime<Utc>) {
        self.0.put(generation, user_id, row, now);
    }

    /// Forgets what was read of `user_id`.
    pub fn forget(&self, user_id: Uuid) {
        if self.0.is_enabled() {
            self.0.forget(&user_id);
        }
    }
}

impl UserCache for MeCache {
    fn forget_user(&self, user_id: Uuid) {
        self.forget(user_id);
    }

    fn reset(&self, on: bool) {
        self.0.reset(on);
    }
}

/// Middleware: once a writing request of a signed-in user has been answered, forgets what this
/// instance's caches read of that user — `GET /me`, the friends leaderboards naming them (the
/// change is committed by then).
pub async fn forget_after_writes(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let writer = WritingUser(Arc::new(OnceLock::new()));
    request.extensions_mut().insert(writer.clone());
    let response = next.run(request).await;
    if let Some(user_id) = writer.0.get() {
        state.forget_user_data(*user_id);
    }
    response
}
