//! Connecting to SQLite or PostgreSQL, and the few places where the two differ.
//!
//! SQLite serialises writers. So that parallel requests wait their turn instead of failing with
//! "database is locked", every write transaction goes through `Db::write`, which on SQLite is a
//! pool of exactly one connection; reads use a pool of several. On PostgreSQL both are the same pool.
//! Under load that one connection is what every write waits for, and it is held for each
//! statement's hand-off to its thread and back (sqlx runs each SQLite connection on a thread of
//! its own). So on SQLite a write transaction sends only what must be inside it: the user locks
//! are not sent ([`lock_user`]; `BEGIN IMMEDIATE` already serialises) and what a transaction
//! only reads first goes through a reading connection ([`Db::begin_write_after`]).
//!
//! SQLite is built with the query planner stability guarantee (`SQLITE_ENABLE_QPSG`, set for
//! the bundled SQLite in `.cargo/config.toml`): a statement is planned once, whatever its bound
//! values. Without it SQLite plans for the bound value of every `LIMIT ?` (each sea-orm `.one()`)
//! and every value compared with a partial index's `WHERE`, so it prepares such a statement
//! again each time it is run, about a tenth of the tutor's CPU per reply on SQLite. A statement
//! meant to use a partial index writes the index's constant into the SQL (`ai::usage`).

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, RuntimeErr, SqlErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use crate::config::Config;

#[derive(Clone, Debug)]
pub struct Db {
    read: DatabaseConnection,
    write: DatabaseConnection,
}

impl Db {
    pub async fn connect(config: &Config) -> Result<Self, DbErr> {
        Self::connect_url(&config.database_url, config.db_max_connections).await
    }

    /// Pools keep the connections they open (at most `max_connections`; the first is opened
    /// here): no idle timeout, no maximum lifetime and no minimum count. Each of those starts one
    /// of sqlx's background tasks. The reaper (timeouts) in sqlx-core 0.9.0 can spin a Tokio
    /// worker at 100 % CPU for good once its idle count wraps below zero, a race between
    /// returning and taking a connection (sqlx issue #3645, fixed upstream after 0.9.0; seen
    /// here as a test whose server stopped answering). The minimum's task opens a connection
    /// beside the one opened here, and two connections opening a new SQLite file at once can
    /// fail with "database is locked".
    pub async fn connect_url(url: &str, max_connections: u32) -> Result<Self, DbErr> {
        if url.starts_with("sqlite:") {
            let read = Database::connect(sqlite_options(url, max_connections)).await?;
            let write = Database::connect(sqlite_options(url, 1)).await?;
            Ok(Self { read, write })
        } else {
            let mut opts = ConnectOptions::new(url);
            opts.max_connections(max_connections)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(10))
                // A ping before every checkout doubles the round trips; only test idle ones.
                .test_before_acquire(false)
                .test_before_acquire_if_idle_for(Duration::from_secs(60))
                .sqlx_logging(false);
            let conn = Database::connect(opts).await?;
            Ok(Self {
                read: conn.clone(),
                write: conn,
            })
        }
    }

    /// For queries that only read.
    pub fn read(&self) -> &DatabaseConnection {
        &self.read
    }

    /// For every statement or transaction that writes.
    pub fn write(&self) -> &DatabaseConnection {
        &self.write
    }

    /// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken
    /// at the start, so a second process writing the same file (a CLI command beside `serve`)
    /// makes this wait (busy timeout) instead of failing when a read turns into a write.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        match self.backend() {
            DatabaseBackend::Sqlite => {
                self.write
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..Default::default()
                    })
                    .await
            }
            _ => self.write.begin().await,
        }
    }

    /// Begins a write transaction whose checks need `row`: a statement over the user's row
    /// built on [`lock_user_select`] or [`share_lock_user_select`] that reads what the writes
    /// depend on (a time zone, a plan). On PostgreSQL it is the transaction's first statement,
    /// so the row is locked and read with it. On SQLite it is read through a reading connection
    /// just before `BEGIN IMMEDIATE`: there the lock clause means nothing (the write lock
    /// serialises writers), and the one writing connection is what every concurrent write waits
    /// for, each statement a hand-off to its thread, so it is held for the writes alone. The
    /// value can then be older than the transaction by a commit of another request; use it only
    /// where that is harmless, never for a check that must be atomic with the writes.
    pub async fn begin_write_after(
        &self,
        row: &sea_orm::sea_query::SelectStatement,
    ) -> Result<(DatabaseTransaction, Option<sea_orm::QueryResult>), DbErr> {
        if self.backend() == DatabaseBackend::Sqlite {
            let read = self.read.query_one(row).await?;
            Ok((self.begin_write().await?, read))
        } else {
            let txn = self.begin_write().await?;
            let read = txn.query_one(row).await?;
            Ok((txn, read))
        }
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.read.get_database_backend()
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

/// How many rows an SQLite connection's worker thread buffers for the reading task.
const SQLITE_ROW_BUFFER: usize = 256;

fn sqlite_options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(max_connections)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Reads through a memory map instead of a read() per page: a materials search
                // reads every vector of a student (100k chunks ≈ 250 MB of rows), and the map
                // shares the OS page cache between connections instead of copying into each.
                .pragma("mmap_size", "268435456")
                // Rows a query's worker thread may hand over before it waits for the reader to
                // take them (sqlx's default is 50): a friends leaderboard of 200 rows then
                // crosses threads without the worker parking and being woken four times.
                .row_buffer_size(SQLITE_ROW_BUFFER)
        });
    opts
}

/// The unique constraints the application answers for, each with the columns SQLite names in
/// its place: PostgreSQL reports a violated constraint by name, SQLite only as
/// `UNIQUE constraint failed: table.col, …`. One table, so call sites know names only.
const UNIQUE_CONSTRAINTS: &[(&str, &str)] = &[
    ("users_email_key", "users.email"),
    ("users_google_id_key", "users.google_id"),
    ("subjects_name_key", "subjects.name"),
    ("topics_subject_name_key", "topics.subject_id, topics.name"),
    ("achievements_title_key", "achievements.title"),
    ("study_sessions_one_open_key", "study_sessions.user_id"),
    ("jobs_unique_key_live_key", "jobs.unique_key"),
];

const SQLITE_UNIQUE_PREFIX: &str = "UNIQUE constraint failed: ";

/// The name of the unique constraint `err` violates, on either backend: `None` when `err` is
/// no unique violation or violates one that [`UNIQUE_CONSTRAINTS`] does not list.
pub fn violated_unique_constraint(err: &DbErr) -> Option<&'static str> {
    let Some(SqlErr::UniqueConstraintViolation(msg)) = err.sql_err() else {
        return None;
    };
    let reported = database_error(err).and_then(|e| e.constraint().map(str::to_owned));
    let columns = msg.strip_prefix(SQLITE_UNIQUE_PREFIX).map(str::trim);
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|(name, sqlite_columns)| match (&reported, columns) {
            (Some(reported), _) => reported == name,
            (None, Some(columns)) => columns == *sqlite_columns,
            (None, None) => false,
        })
        .map(|(name, _)| *name)
}

/// The database's own error behind `err`, when the statement reached the database.
fn database_error(err: &DbErr) -> Option<&(dyn sea_orm::sqlx::error::DatabaseError + 'static)> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match std::ops::Deref::deref(e) {
                sea_orm::sqlx::Error::Database(db) => Some(&**db),
                _ => None,
            }
        }
        _ => None,
    }
}

/// True when the database could not be reached at all (as opposed to a failed statement).
pub fn is_unavailable(err: &DbErr) -> bool {
    matches!(
        err,
        DbErr::ConnectionAcquire(_) | DbErr::Conn(RuntimeErr::SqlxError(_))
    )
}

/// Serialises a user's concurrent write transactions: every use case that changes a user's
/// aggregates (streak, XP-driven unlocks, mastery) takes this lock first, inside its
/// transaction. PostgreSQL locks the user's row (`FOR UPDATE`); on SQLite the single writer
/// connection already serialises writers (`BEGIN IMMEDIATE`), so nothing is sent: the statement
/// would only be one more hand-off to the thread of the connection every writer waits for.
pub async fn lock_user(conn: &impl ConnectionTrait, user_id: uuid::Uuid) -> Result<(), DbErr> {
    if conn.get_database_backend() != DatabaseBackend::Sqlite {
        conn.query_one(&lock_user_select(user_id)).await?;
    }
    Ok(())
}

/// [`lock_user`] as a statement that a use case may widen with columns of its own (each a
/// subquery over `users.id` from its area), so the lock and what it reads first are one
/// round trip: `SELECT users.id … FROM users WHERE users.id = ? FOR UPDATE`.
pub fn lock_user_select(user_id: uuid::Uuid) -> sea_orm::sea_query::SelectStatement {
    user_row_select(user_id, sea_orm::sea_query::LockType::Update)
}

/// [`share_lock_user`] as a statement to widen, as [`lock_user_select`] is.
pub fn share_lock_user_select(user_id: uuid::Uuid) -> sea_orm::sea_query::SelectStatement {
    user_row_select(user_id, sea_orm::sea_query::LockType::KeyShare)
}

fn user_row_select(
    user_id: uuid::Uuid,
    lock: sea_orm::sea_query::LockType,
) -> sea_orm::sea_query::SelectStatement {
    use crate::entity::users::{Column, Entity};
    use sea_orm::sea_query::{ExprTrait, Query};
    Query::select()
        .column((Entity, Column::Id))
        .from(Entity)
        .and_where(sea_orm::sea_query::Expr::col((Entity, Column::Id)).eq(user_id))
        .lock(lock)
        .to_owned()
}

/// Takes the share lock a foreign key to the user's row takes anyway (PostgreSQL `FOR KEY
/// SHARE`; SQLite's single writer already serialises), but first: a transaction that then writes
/// several rows of the user's (usage counters and logs) orders its locks as deleting the account
/// does (the user's row, then its rows) and so waits for, or holds off, the deletion instead of
/// deadlocking with it. As with [`lock_user`], nothing is sent on SQLite.
pub async fn share_lock_user(
    conn: &impl ConnectionTrait,
    user_id: uuid::Uuid,
) -> Result<(), DbErr> {
    if conn.get_database_backend() != DatabaseBackend::Sqlite {
        conn.query_one(&share_lock_user_select(user_id)).await?;
    }
    Ok(())
}

/// Sets `field` to `value` when there is one: a PATCH changes only the fields it names.
pub fn set_if_some<V: Into<sea_orm::Value>>(field: &mut sea_orm::ActiveValue<V>, value: Option<V>) {
    if let Some(v) = value {
        *field = sea_orm::ActiveValue::Set(v);
    }
}
