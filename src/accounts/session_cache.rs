//! A per-instance cache of open sign-in sessions, so that an authenticated request spends no
//! database round trip on checking its session (`GET /me` is then one statement), while
//! logging out, changing a password, deactivating or deleting a user still ends access at once.
//!
//! An entry says: this session id belongs to this user, with this role, and when it was read
//! the session was open and the user active. The transaction that ends a session or changes a
//! user's standing sends `NOTIFY studium_sessions, '<user id>'` ([`notify`]) and, after
//! commit, drops the user's entries here ([`SessionCache::invalidate_user`]); how the other
//! instances hear of it, and what happens when they cannot, is `notified_cache`'s part. On
//! SQLite the cache is always on: another process on the same file (a CLI command) cannot
//! notify, and the bound for its changes is [`TTL_SECS`].

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

use super::CurrentUser;
use crate::notified_cache::{Notified, NotifiedCache};

/// The PostgreSQL channel that carries "this user's sessions changed".
pub const CHANNEL: &str = "studium_sessions";
/// The longest an entry is trusted without a notification.
pub const TTL_SECS: i64 = 60;

/// Checked sessions by session id.
pub struct SessionCache(NotifiedCache<Uuid, CurrentUser>);

impl SessionCache {
    /// A cache that is on from the start (SQLite: this process is the only writer it serves),
    /// or off until its notifications are heard (PostgreSQL).
    pub fn new(enabled: bool) -> Arc<Self> {
        Arc::new(Self(NotifiedCache::new(
            enabled,
            Duration::seconds(TTL_SECS),
        )))
    }

    /// The cached user of `session_id`, if the cache is on and the entry is fresh.
    pub fn get(&self, session_id: Uuid, now: DateTime<Utc>) -> Option<CurrentUser> {
        self.0.get(&session_id, now)
    }

    /// The generation to pass to [`put`](Self::put) for a read that starts now.
    pub fn generation(&self) -> u64 {
        self.0.generation()
    }

    /// Stores what a database read found, unless anything was invalidated since `generation`.
    pub fn put(&self, generation: u64, user: CurrentUser, now: DateTime<Utc>) {
        self.0.put(generation, user.session_id, user, now);
    }

    /// Forgets every session of `user_id`.
    pub fn invalidate_user(&self, user_id: Uuid) {
        self.0.forget_where(|_, user| user.id == user_id);
    }
}

impl Notified for SessionCache {
    fn notified(&self, payload: &str) {
        match payload.parse::<Uuid>() {
            Ok(user_id) => self.invalidate_user(user_id),
            Err(_) => self.0.reset(true),
        }
    }

    fn reset(&self, listening: bool) {
        self.0.reset(listening);
    }
}

/// Tells every instance that `user_id`'s sessions changed, as part of the caller's
/// transaction (PostgreSQL sends it at commit). Nothing to do on SQLite.
pub async fn notify(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), user_id.to_string().into()],
        ))
        .await?;
    }
    Ok(())
}
