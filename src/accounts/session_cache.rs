//! A per-instance cache of open sign-in sessions, so that an authenticated request spends no
//! database round trip on checking its session (`GET /me` is then one statement), while
//! logging out, changing a password, deactivating or deleting a user still ends access at once.
//!
//! An entry says: this session id belongs to this user, with this role, and when it was read
//! the session was open and the user active. Entries go away:
//! - on this instance, right after the transaction that ends a session or changes a user's
//!   standing commits ([`SessionCache::invalidate_user`]), so the next request reads the database;
//! - on every other instance when PostgreSQL delivers the `NOTIFY studium_sessions, '<user id>'`
//!   that the same transaction sent ([`notify`]); PostgreSQL delivers it at commit, never before,
//!   and within milliseconds;
//! - all at once whenever the listening connection drops: until it listens again the cache is
//!   off and every request reads the database, so a notification missed meanwhile costs nothing;
//! - after [`TTL_SECS`] at the latest: the bound for changes made outside the application (an
//!   operator's SQL) and, on SQLite, by another process on the same file, which cannot notify.
//!
//! A read that began before an invalidation must not put back what it read: every
//! invalidation bumps a generation, and an entry is stored only if the generation is still the
//! one seen before its database read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

use super::CurrentUser;

/// The PostgreSQL channel that carries "this user's sessions changed".
pub const CHANNEL: &str = "studium_sessions";
/// The longest an entry is trusted without a notification.
pub const TTL_SECS: i64 = 60;
/// More entries than this and the cache starts over (a bound on memory, ~100 bytes each).
const MAX_ENTRIES: usize = 100_000;
/// Wait between attempts to listen again after the connection dropped.
const RELISTEN_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

struct Entry {
    user: CurrentUser,
    cached_at: DateTime<Utc>,
}

pub struct SessionCache {
    entries: RwLock<HashMap<Uuid, Entry>>,
    generation: AtomicU64,
    enabled: AtomicBool,
}

impl SessionCache {
    /// A cache that is on from the start (SQLite: this process is the only writer it serves),
    /// or off until [`listen`] has subscribed to the notifications (PostgreSQL).
    pub fn new(enabled: bool) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            enabled: AtomicBool::new(enabled),
        }
    }

    /// The cached user of `session_id`, if the cache is on and the entry is fresh.
    pub fn get(&self, session_id: Uuid, now: DateTime<Utc>) -> Option<CurrentUser> {
        if !self.enabled.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&session_id)
            .filter(|e| now - e.cached_at < Duration::seconds(TTL_SECS) && e.cached_at <= now)
            .map(|e| e.user.clone())
    }

    /// The generation to pass to [`put`](Self::put) for a read that starts now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores what a database read found, unless anything was invalidated since `generation`.
    pub fn put(&self, generation: u64, user: CurrentUser, now: DateTime<Utc>) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            user.session_id,
            Entry {
                user,
                cached_at: now,
            },
        );
    }

    /// Forgets every session of `user_id`.
    pub fn invalidate_user(&self, user_id: Uuid) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, e| e.user.id != user_id);
    }

    /// Forgets everything, and turns the cache on or off.
    fn reset(&self, enabled: bool) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.enabled.store(enabled, Ordering::Release);
        entries.clear();
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

/// Keeps `cache` in step with the other instances: listens on [`CHANNEL`] and forgets each
/// notified user; the cache is on only while the listening connection is up. Ends when the
/// cache is gone (the application stopped).
pub fn listen(cache: &Arc<SessionCache>, pool: PgPool) {
    let cache = Arc::downgrade(cache);
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen_once(&cache, &pool).await {
                tracing::warn!(error = %e, "session notifications interrupted; sessions are read from the database until they resume");
            }
            match cache.upgrade() {
                Some(cache) => cache.reset(false),
                None => return,
            }
            tokio::time::sleep(RELISTEN_DELAY).await;
        }
    });
}

/// One listening connection's life: subscribe, turn the cache on, apply notifications until
/// the connection drops (`Ok`) or fails (`Err`).
async fn listen_once(
    cache: &Weak<SessionCache>,
    pool: &PgPool,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    match cache.upgrade() {
        Some(cache) => cache.reset(true),
        None => return Ok(()),
    }
    while let Some(notification) = listener.try_recv().await? {
        let Some(cache) = cache.upgrade() else {
            return Ok(());
        };
        match notification.payload().parse::<Uuid>() {
            Ok(user_id) => cache.invalidate_user(user_id),
            Err(_) => cache.reset(true),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: Uuid, session_id: Uuid) -> CurrentUser {
        CurrentUser {
            id,
            session_id,
            role: "student".into(),
        }
    }

    #[test]
    fn a_read_begun_before_an_invalidation_is_not_cached() {
        let cache = SessionCache::new(true);
        let now = Utc::now();
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        let before = cache.generation();
        cache.invalidate_user(u);
        cache.put(before, user(u, s), now);
        assert!(cache.get(s, now).is_none());
        cache.put(cache.generation(), user(u, s), now);
        assert!(cache.get(s, now).is_some());
    }

    #[test]
    fn entries_expire_and_a_disabled_cache_answers_nothing() {
        let cache = SessionCache::new(true);
        let now = Utc::now();
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        cache.put(cache.generation(), user(u, s), now);
        assert!(
            cache
                .get(s, now + Duration::seconds(TTL_SECS - 1))
                .is_some()
        );
        assert!(cache.get(s, now + Duration::seconds(TTL_SECS)).is_none());
        cache.reset(false);
        cache.put(cache.generation(), user(u, s), now);
        assert!(cache.get(s, now).is_none());
    }
}
