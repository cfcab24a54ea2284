//! Per-instance caches kept honest by what the database announces: what the session check and
//! `GET /me` remember between requests, so that they spend no database round trip.
//!
//! A [`NotifiedCache`] entry says: this is what the database held when it was read. Entries go
//! away:
//! - on this instance, when the code that changed the data drops them after its commit;
//! - on every instance when the database announces the change: a transaction's `NOTIFY` is
//!   delivered at commit, never before, and within milliseconds to every listening connection
//!   ([`listen`]); `GET /me`'s cache polls a table of changes instead (`me::cache`);
//! - all at once whenever the connection that hears of changes drops: until it is back a
//!   cache that depends on it is off and every read goes to the database, so a change missed
//!   meanwhile costs nothing;
//! - after the cache's time to live at the latest: the bound for changes nothing announces.
//!
//! A read that began before an invalidation must not put back what it read: every
//! invalidation bumps a generation, and an entry is stored only if the generation is still the
//! one seen before its database read.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{RwLock, Weak};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sqlx::postgres::{PgListener, PgPool};

/// More entries than this and a cache starts over (a bound on memory).
const MAX_ENTRIES: usize = 100_000;
/// Wait between attempts to listen again after the connection dropped.
const RELISTEN_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

struct Entry<V> {
    value: V,
    cached_at: DateTime<Utc>,
}

pub struct NotifiedCache<K, V> {
    entries: RwLock<HashMap<K, Entry<V>>>,
    generation: AtomicU64,
    enabled: AtomicBool,
    ttl: Duration,
}

impl<K: Eq + Hash, V: Clone> NotifiedCache<K, V> {
    /// A cache whose entries live at most `ttl`, on from the start or off until
    /// [`reset`](Self::reset) turns it on (when its notifications are subscribed to).
    pub fn new(enabled: bool, ttl: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            enabled: AtomicBool::new(enabled),
            ttl,
        }
    }

    /// Whether the cache serves and stores entries at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// The cached value of `key`, if the cache is on and the entry is fresh.
    pub fn get(&self, key: &K, now: DateTime<Utc>) -> Option<V> {
        if !self.is_enabled() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| now - e.cached_at < self.ttl && e.cached_at <= now)
            .map(|e| e.value.clone())
    }

    /// The generation to pass to [`put`](Self::put) for a read that starts now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores what a database read found, unless anything was invalidated since `generation`.
    pub fn put(&self, generation: u64, key: K, value: V, now: DateTime<Utc>) {
        if !self.is_enabled() {
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
            key,
            Entry {
                value,
                cached_at: now,
            },
        );
    }

    /// Forgets every entry for which `stale` holds.
    pub fn forget_where(&self, stale: impl Fn(&K, &V) -> bool) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|k, e| !stale(k, &e.value));
    }

    /// Changes the entries of `keys` in place, keeping when they were read. Like a forget,
    /// it stops a read under way from storing what it read.
    pub fn update_all<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k K>,
        mut change: impl FnMut(&mut V),
    ) where
        K: 'k,
    {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        for key in keys {
            if let Some(entry) = entries.get_mut(key) {
                change(&mut entry.value);
            }
        }
    }

    /// Replaces the value of `key` by what `replace` makes of it, if anything, keeping when
    /// it was read (so the entry still expires on time).
    pub fn replace(&self, key: &K, replace: impl FnOnce(&V) -> Option<V>) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get_mut(key)
            && let Some(value) = replace(&entry.value)
        {
            entry.value = value;
        }
    }

    /// Forgets the entry of `key`.
    pub fn forget(&self, key: &K) {
        self.forget_all([key]);
    }

    /// Forgets the entries of `keys`.
    pub fn forget_all<'k>(&self, keys: impl IntoIterator<Item = &'k K>)
    where
        K: 'k,
    {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        for key in keys {
            entries.remove(key);
        }
    }

    /// Forgets everything, and turns the cache on or off.
    pub fn reset(&self, enabled: bool) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.enabled.store(enabled, Ordering::Release);
        entries.clear();
    }
}

/// What a cache does with the notifications of its channel.
pub trait Notified: Send + Sync {
    /// Applies one notification's payload.
    fn notified(&self, payload: &str);
    /// Empties the cache and turns it on (`true`: its notifications are heard) or off.
    fn reset(&self, listening: bool);
}

/// Keeps caches in step with every instance: one connection listens on each cache's channel
/// and hands it the notifications; the caches are on only while that connection is up. Ends
/// when every cache is gone (the application stopped).
pub fn listen(pool: PgPool, channels: Vec<(&'static str, Weak<dyn Notified>)>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen_once(&channels, &pool).await {
                tracing::warn!(error = %e, "cache notifications interrupted; the database is read until they resume");
            }
            let mut alive = false;
            for cache in channels.iter().filter_map(|(_, c)| c.upgrade()) {
                cache.reset(false);
                alive = true;
            }
            if !alive {
                return;
            }
            tokio::time::sleep(RELISTEN_DELAY).await;
        }
    });
}

/// One listening connection's life: subscribe, turn the caches on, apply notifications until
/// the connection drops (`Ok`) or fails (`Err`).
async fn listen_once(
    channels: &[(&'static str, Weak<dyn Notified>)],
    pool: &PgPool,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all(channels.iter().map(|(name, _)| *name))
        .await?;
    for cache in channels.iter().filter_map(|(_, c)| c.upgrade()) {
        cache.reset(true);
    }
    while let Some(notification) = listener.try_recv().await? {
        let cache = channels
            .iter()
            .find(|(name, _)| *name == notification.channel())
            .and_then(|(_, c)| c.upgrade());
        match cache {
            Some(cache) => cache.notified(notification.payload()),
            None if channels.iter().all(|(_, c)| c.strong_count() == 0) => return Ok(()),
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_begun_before_an_invalidation_is_not_cached() {
        let cache = NotifiedCache::new(true, Duration::seconds(60));
        let now = Utc::now();
        let before = cache.generation();
        cache.forget_where(|k: &u32, _| *k == 1);
        cache.put(before, 1, "old", now);
        assert!(cache.get(&1, now).is_none());
        cache.put(cache.generation(), 1, "new", now);
        assert_eq!(cache.get(&1, now), Some("new"));
    }

    #[test]
    fn entries_expire_and_a_disabled_cache_answers_nothing() {
        let cache = NotifiedCache::new(true, Duration::seconds(60));
        let now = Utc::now();
        cache.put(cache.generation(), 1_u32, "v", now);
        assert!(cache.get(&1, now + Duration::seconds(59)).is_some());
        assert!(cache.get(&1, now + Duration::seconds(60)).is_none());
        cache.reset(false);
        cache.put(cache.generation(), 1, "v", now);
        assert!(cache.get(&1, now).is_none());
    }
}
