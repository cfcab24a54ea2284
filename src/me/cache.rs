//! What `GET /me` read of each user, kept per instance on PostgreSQL so that the most frequent
//! authenticated read spends no database round trip at all.
//!
//! An entry is the row `GET /me` reads (user, profile, streak columns, XP total, running
//! session); what depends on the time of day — the streak as it stands today, a session past
//! its cap — is still worked out from it on every request. Entries go away:
//! - when the database says the data changed: triggers on `users`, `user_profiles`,
//!   `user_streaks`, `xp_logs` and `study_sessions` append the user's id to `me_changes` in the
//!   writing transaction, whoever wrote — any instance, a job, a CLI command, an operator's
//!   SQL — and every instance polls that table every [`POLL_INTERVAL`] ([`watch`]) for the
//!   rows of transactions its previous poll could not yet see, so nothing is missed whatever
//!   order transactions commit in;
//! - on this instance, right after a signed-in user's writing request (any method but GET,
//!   HEAD and OPTIONS) is answered ([`forget_after_writes`]), and after the account changes
//!   that end sessions, so that a user always reads their own writes at once;
//! - all at once while polling fails (the cache is then off), and after [`TTL_SECS`] at the
//!   latest.
//!
//! On SQLite no other connection can announce a change, so the cache stays off and `GET /me`
//! is its one statement.
//!
//! Limit: a change one user causes to another's data (a friend's achievement XP, an admin's
//! edit, a job) reaches the other's `GET /me` with the next poll, on every instance — this one
//! included — a few milliseconds after the commit, not at its instant.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

use super::service::MeRow;
use crate::accounts::session::WritingUser;
use crate::notified_cache::NotifiedCache;
use crate::state::AppState;

/// How often each instance asks the database what changed.
pub const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);
/// The longest an entry is trusted without a poll saying otherwise.
pub const TTL_SECS: i64 = 60;
/// Wait before polling again after a failed poll (the cache is off meanwhile).
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);
/// `me_changes` rows older than this are purged: no poller can still need them.
const KEEP_CHANGES: &str = "10 minutes";

/// `GET /me`'s rows by user id, and how many polls have succeeded.
pub struct MeCache(NotifiedCache<Uuid, MeRow>, AtomicU64);

impl MeCache {
    /// Off until polling has begun.
    pub fn new() -> Arc<Self> {
        Arc::new(Self(
            NotifiedCache::new(false, Duration::seconds(TTL_SECS)),
            AtomicU64::new(0),
        ))
    }

    /// How many polls for changes have succeeded so far.
    pub fn polls(&self) -> u64 {
        self.1.load(Ordering::Acquire)
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

/// What a poll could not see yet: transactions at or above `xmax`, and those in `xip`, were
/// unfinished when its snapshot was taken (PostgreSQL's `pg_current_snapshot()`).
struct Unseen {
    xmax: String,
    xip: String,
}

impl Unseen {
    /// From a snapshot's text form, `xmin:xmax:xip,xip,…`.
    fn of_snapshot(snapshot: &str) -> Option<Self> {
        let mut parts = snapshot.split(':');
        let _xmin = parts.next()?;
        let xmax = parts.next()?.to_string();
        let xip = parts.next()?.to_string();
        Some(Self { xmax, xip })
    }
}

/// One poll: the changes committed by transactions that `unseen` lists (none on the first
/// poll), and what this poll's own snapshot could not see yet.
async fn poll(
    db: &DatabaseConnection,
    unseen: Option<&Unseen>,
) -> Result<(Vec<Uuid>, Unseen), DbErr> {
    let rows = match unseen {
        None => {
            db.query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_current_snapshot()::text AS snapshot, NULL::uuid AS user_id",
            ))
            .await?
        }
        Some(unseen) => {
            db.query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT h.s::text AS snapshot, c.user_id \
                 FROM (SELECT pg_current_snapshot() AS s) h \
                 LEFT JOIN me_changes c \
                   ON c.xid >= $1::text::xid8 OR c.xid = ANY(string_to_array($2, ',')::xid8[])",
                [unseen.xmax.clone().into(), unseen.xip.clone().into()],
            ))
            .await?
        }
    };
    let mut changed = Vec::new();
    let mut snapshot = None;
    for row in rows {
        snapshot = Some(row.try_get::<String>("", "snapshot")?);
        if let Some(user_id) = row.try_get::<Option<Uuid>>("", "user_id")? {
            changed.push(user_id);
        }
    }
    let next = snapshot
        .as_deref()
        .and_then(Unseen::of_snapshot)
        .ok_or_else(|| DbErr::Custom("pg_current_snapshot() gave no snapshot".into()))?;
    changed.sort_unstable();
    changed.dedup();
    Ok((changed, next))
}

/// Keeps `cache` in step with every instance's writes (PostgreSQL): polls `me_changes` every
/// [`POLL_INTERVAL`] and forgets each changed user; the cache is on only while polls succeed.
/// Ends when the cache is gone (the application stopped).
pub fn watch(cache: &Arc<MeCache>, db: DatabaseConnection) {
    let cache: Weak<MeCache> = Arc::downgrade(cache);
    tokio::spawn(async move {
        let mut unseen: Option<Unseen> = None;
        loop {
            let result = poll(&db, unseen.as_ref()).await;
            let Some(cache) = cache.upgrade() else {
                return;
            };
            match result {
                Ok((changed, next)) => {
                    if unseen.is_none() {
                        cache.0.reset(true);
                    }
                    for user_id in changed {
                        cache.forget(user_id);
                    }
                    cache.1.fetch_add(1, Ordering::AcqRel);
                    unseen = Some(next);
                    drop(cache);
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                Err(e) => {
                    if unseen.is_some() {
                        tracing::warn!(error = %e, "polling GET /me's changes failed; it is read from the database until polls succeed");
                    }
                    cache.0.reset(false);
                    unseen = None;
                    drop(cache);
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
    });
}

/// Deletes the `me_changes` rows no poller can need any more (PostgreSQL; nothing on SQLite).
pub async fn purge_changes(db: &DatabaseConnection) -> Result<u64, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(0);
    }
    let done = db
        .execute_unprepared(&format!(
            "DELETE FROM me_changes WHERE changed_at < clock_timestamp() - interval '{KEEP_CHANGES}'"
        ))
        .await?;
    Ok(done.rows_affected())
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

#[cfg(test)]
mod tests {
    use super::Unseen;

    #[test]
    fn a_snapshot_names_what_it_could_not_see() {
        let unseen = Unseen::of_snapshot("740:748:740,742,745").expect("snapshot");
        assert_eq!(unseen.xmax, "748");
        assert_eq!(unseen.xip, "740,742,745");
        let none = Unseen::of_snapshot("748:748:").expect("snapshot");
        assert_eq!((none.xmax.as_str(), none.xip.as_str()), ("748", ""));
        assert!(Unseen::of_snapshot("748").is_none());
    }
}
