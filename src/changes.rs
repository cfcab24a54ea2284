//! The change feed: the per-instance caches of what users read (`GET /me`, the friends
//! leaderboards) learn from the database itself which users' data changed, whoever changed it
//! — any instance, a job, a CLI command, an operator's SQL.
//!
//! Triggers on `users`, `user_profiles`, `user_streaks`, `xp_logs`, `study_sessions` and
//! `friends` append the ids of the users whose rows a transaction touched to `me_changes`
//! (migrations `m20261127_000017` and `m20261127_000019`), and every instance polls that table
//! every [`POLL_INTERVAL`] ([`watch`]), telling each [`UserCache`] which users changed, and
//! for which of them a friendship changed (the rows the `friends` triggers append say so,
//! `friendship`, migration `m20261127_000020`):
//! - PostgreSQL: each row carries its transaction's id, and a poll asks for the rows of the
//!   transactions its previous poll's snapshot could not see yet (`xid ≥ xmax`, or listed as
//!   running), so nothing is missed whatever order transactions commit in;
//! - SQLite: one writer at a time holds the database from its first write to its commit, so
//!   the rows' increasing ids become visible in order and a poll asks for the ids above the
//!   last one seen.
//!
//! While polls fail the caches are off (every read goes to the database). The periodic
//! maintenance purges rows older than [`KEEP_CHANGES_SECS`] ([`purge`]).

use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// How often each instance asks the database what changed.
pub const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);
/// Wait before polling again after a failed poll (the caches are off meanwhile).
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);
/// `me_changes` rows older than this are purged: no poller can still need them.
pub const KEEP_CHANGES_SECS: i64 = 10 * 60;
/// More changed users than this in one poll (a bulk load, a migration) and the caches start
/// over rather than forget users one by one; on SQLite a poll reads no more rows than this.
const MANY: usize = 1_000;

/// A cache of what was read of users, kept in step by the feed.
pub trait UserCache: Send + Sync {
    /// The data of `user_id` changed: forget everything read of it.
    fn forget_user(&self, user_id: Uuid);
    /// A friendship of `user_id` began, changed or ended (`friendship` rows of the feed).
    fn friendship_changed(&self, user_id: Uuid) {
        self.forget_user(user_id);
    }
    /// Forgets everything, and turns the cache on (the feed is followed) or off.
    fn reset(&self, on: bool);
}

/// How many polls have succeeded on this instance (tests wait on it).
#[derive(Default)]
pub struct Feed(AtomicU64);

impl Feed {
    pub fn polls(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Where the previous poll left off.
enum Cursor {
    /// PostgreSQL: what the previous poll's snapshot could not see — transactions at or above
    /// `xmax`, and those in `xip` (`pg_current_snapshot()`).
    Unseen { xmax: String, xip: String },
    /// SQLite: the last id seen.
    After(i64),
}

impl Cursor {
    /// From a PostgreSQL snapshot's text form, `xmin:xmax:xip,xip,…`.
    fn of_snapshot(snapshot: &str) -> Option<Self> {
        let mut parts = snapshot.split(':');
        let _xmin = parts.next()?;
        let xmax = parts.next()?.to_string();
        let xip = parts.next()?.to_string();
        Some(Self::Unseen { xmax, xip })
    }
}

/// What one poll found changed.
enum Changed {
    /// Each changed user once, with whether a friendship of theirs changed.
    Users(Vec<(Uuid, bool)>),
    /// Too many users to name ([`MANY`]): every cache starts over.
    Everyone,
}

/// One poll: what changed since `cursor` (nothing on the first poll), and the next cursor.
async fn poll(
    db: &DatabaseConnection,
    cursor: Option<&Cursor>,
) -> Result<(Changed, Cursor), DbErr> {
    let mut changed = Vec::new();
    let next = match (db.get_database_backend(), cursor) {
        (DbBackend::Postgres, cursor) => {
            let stmt = match cursor {
                Some(Cursor::Unseen { xmax, xip }) => Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT h.s::text AS snapshot, c.user_id, c.friendship \
                     FROM (SELECT pg_current_snapshot() AS s) h \
                     LEFT JOIN me_changes c \
                       ON c.xid >= $1::text::xid8 OR c.xid = ANY(string_to_array($2, ',')::xid8[])",
                    [xmax.clone().into(), xip.clone().into()],
                ),
                _ => Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_current_snapshot()::text AS snapshot, NULL::uuid AS user_id, \
                     NULL::boolean AS friendship",
                ),
            };
            let mut snapshot = None;
            for row in db.query_all_raw(stmt).await? {
                snapshot = Some(row.try_get::<String>("", "snapshot")?);
                if let Some(user_id) = row.try_get::<Option<Uuid>>("", "user_id")? {
                    let friendship = row.try_get::<Option<bool>>("", "friendship")?;
                    changed.push((user_id, friendship.unwrap_or(false)));
                }
            }
            snapshot
                .as_deref()
                .and_then(Cursor::of_snapshot)
                .ok_or_else(|| DbErr::Custom("pg_current_snapshot() gave no snapshot".into()))?
        }
        (backend, Some(Cursor::After(last))) => {
            let mut last = *last;
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    "SELECT id, user_id, friendship FROM me_changes WHERE id > ? ORDER BY id LIMIT ?",
                    [last.into(), (MANY as i64 + 1).into()],
                ))
                .await?;
            if rows.len() > MANY {
                // Too many to name: start over, from the newest change.
                return Ok((Changed::Everyone, newest(db).await?));
            }
            for row in rows {
                last = last.max(row.try_get::<i64>("", "id")?);
                changed.push((
                    row.try_get::<Uuid>("", "user_id")?,
                    row.try_get::<i64>("", "friendship")? != 0,
                ));
            }
            Cursor::After(last)
        }
        (_, _) => newest(db).await?,
    };
    // One line per user; a friendship change outweighs a change of their data.
    changed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    changed.dedup_by_key(|c| c.0);
    if changed.len() > MANY {
        return Ok((Changed::Everyone, next));
    }
    Ok((Changed::Users(changed), next))
}

/// SQLite: the cursor after the newest change.
async fn newest(db: &DatabaseConnection) -> Result<Cursor, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE(MAX(id), 0) AS INTEGER) AS id FROM me_changes",
        ))
        .await?;
    let last = match row {
        Some(row) => row.try_get::<i64>("", "id")?,
        None => 0,
    };
    Ok(Cursor::After(last))
}

/// Keeps `caches` in step with every writer: polls `me_changes` every [`POLL_INTERVAL`] and
/// has each cache forget each changed user; the caches are on only while polls succeed. Ends
/// when every cache is gone (the application stopped). On PostgreSQL give it the primary:
/// `me_changes` is unlogged, so a replica does not have it.
pub fn watch(feed: Weak<Feed>, caches: Vec<Weak<dyn UserCache>>, db: DatabaseConnection) {
    tokio::spawn(async move {
        let mut cursor: Option<Cursor> = None;
        loop {
            let result = poll(&db, cursor.as_ref()).await;
            let alive: Vec<_> = caches.iter().filter_map(Weak::upgrade).collect();
            let Some(feed) = feed.upgrade().filter(|_| !alive.is_empty()) else {
                return;
            };
            match result {
                Ok((changed, next)) => {
                    for cache in &alive {
                        match &changed {
                            _ if cursor.is_none() => cache.reset(true),
                            Changed::Everyone => cache.reset(true),
                            Changed::Users(users) => {
                                for &(user_id, friendship) in users {
                                    if friendship {
                                        cache.friendship_changed(user_id);
                                    } else {
                                        cache.forget_user(user_id);
                                    }
                                }
                            }
                        }
                    }
                    feed.0.fetch_add(1, Ordering::AcqRel);
                    cursor = Some(next);
                    drop((alive, feed));
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                Err(e) => {
                    if cursor.is_some() {
                        tracing::warn!(error = %e, "polling the change feed failed; cached reads go to the database until polls succeed");
                    }
                    for cache in &alive {
                        cache.reset(false);
                    }
                    cursor = None;
                    drop((alive, feed));
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
    });
}

/// Deletes the `me_changes` rows no poller can need any more.
pub async fn purge(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "DELETE FROM me_changes \
             WHERE changed_at < clock_timestamp() - interval '{KEEP_CHANGES_SECS} seconds'"
        ),
        _ => format!(
            "DELETE FROM me_changes \
             WHERE changed_at < CAST(strftime('%s', 'now') AS INTEGER) - {KEEP_CHANGES_SECS}"
        ),
    };
    Ok(db.execute_unprepared(&sql).await?.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn a_snapshot_names_what_it_could_not_see() {
        let unseen = |s: &str| match Cursor::of_snapshot(s) {
            Some(Cursor::Unseen { xmax, xip }) => Some((xmax, xip)),
            _ => None,
        };
        assert_eq!(
            unseen("740:748:740,742,745"),
            Some(("748".into(), "740,742,745".into()))
        );
        assert_eq!(unseen("748:748:"), Some(("748".into(), String::new())));
        assert!(unseen("748").is_none());
    }
}
