//! What `GET /me` read of each user, kept per instance on PostgreSQL so that the most frequent
//! authenticated read spends no database round trip at all.
//!
//! An entry is the row `GET /me` reads (user, profile, streak columns, XP total, running
//! session); what depends on the time of day — the streak as it stands today, a session past
//! its cap — is still worked out from it on every request. Entries go away:
//! - when the database says the data changed: triggers on `users`, `user_profiles`,
//!   `user_streaks`, `xp_logs` and `study_sessions` send `NOTIFY studium_me, '<user id>'`
//!   (or `'*'` for a statement that touched many users) in the writing transaction, whoever
//!   wrote — any instance, a job, a CLI command, an operator's SQL — and every instance's
//!   listening connection applies it at commit, within milliseconds;
//! - on this instance, right after a signed-in user's writing request (any method but GET,
//!   HEAD and OPTIONS) is answered ([`forget_after_writes`]), so that a user always reads
//!   their own writes, even before the notification has arrived;
//! - all at once while the listening connection is down (the cache is then off), and after
//!   [`TTL_SECS`] at the latest.
//!
//! On SQLite no other connection can announce a change, so the cache stays off and `GET /me`
//! is its one statement.
//!
//! Limit: a change one user causes to another's data (a friend's achievement XP, an admin's
//! edit, a job) reaches the other's `GET /me` on every instance, this one included, when the
//! notification does: within milliseconds, not at the instant of the commit.

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::service::MeRow;
use crate::accounts::session::WritingUser;
use crate::notified_cache::{Notified, NotifiedCache};
use crate::state::AppState;

/// The PostgreSQL channel the triggers of migration 15 notify.
pub const CHANNEL: &str = "studium_me";
/// The longest an entry is trusted without a notification.
pub const TTL_SECS: i64 = 60;
/// The payload that means "many users changed".
const EVERYONE: &str = "*";

/// `GET /me`'s rows by user id.
pub struct MeCache(NotifiedCache<Uuid, MeRow>);

impl MeCache {
    /// Off until its notifications are heard.
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
            self.0.forget_where(|id, _| *id == user_id);
        }
    }
}

impl Notified for MeCache {
    fn notified(&self, payload: &str) {
        match payload.parse::<Uuid>() {
            Ok(user_id) => self.forget(user_id),
            // `*`, or anything unexpected: start over.
            Err(_) => {
                if payload != EVERYONE {
                    tracing::warn!(payload, "unexpected {CHANNEL} notification");
                }
                self.0.reset(true);
            }
        }
    }

    fn reset(&self, listening: bool) {
        self.0.reset(listening);
    }
}

/// Middleware: once a writing request of a signed-in user has been answered, forgets what
/// `GET /me` read of that user on this instance (the change is committed by then).
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
        state.me.forget(*user_id);
    }
    response
}
