//! The durable job queue: work that must happen after (or apart from) a request — outgoing
//! email, the periodic maintenance, and later the processing of uploaded materials.
//!
//! A job is a row of `jobs`, written by [`enqueue`] inside the caller's transaction, so an API
//! write and the job it needs commit together or not at all. Workers ([`worker::run`], in
//! `serve` and in `studium worker`) claim due jobs with a lease ([`queue::claim`]), renew the
//! lease while the handler runs, and finish the job only while they still hold it. A failing
//! job is retried with exponential backoff and jitter and is `dead` after its `max_attempts`,
//! with the last error kept. A worker that dies mid-job (SIGKILL, power loss) leaves a
//! `running` job whose lease passes; the next claim takes it again, so the job is re-run within
//! one lease plus one poll. Handlers must therefore be idempotent (at-least-once delivery,
//! done-once by each handler's own constraints); [`handlers::dispatch`] maps each kind to
//! its area's function.
//!
//! Admins see and retry jobs through `GET /admin/jobs`, `GET /admin/jobs/{id}` and
//! `POST /admin/jobs/{id}/retry` ([`routes`]).

pub mod admin;
pub mod handlers;
pub mod model;
pub mod periodic;
pub mod queue;
pub mod routes;
pub mod worker;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TryInsertResult};
use uuid::Uuid;

use crate::entity::jobs;

/// Waiting for `run_at` (a new job, or a failed one between retries).
pub const STATUS_QUEUED: &str = "queued";
/// Claimed by a worker whose lease runs to `locked_until`.
pub const STATUS_RUNNING: &str = "running";
pub const STATUS_DONE: &str = "done";
/// Failed `max_attempts` times; `last_error` says why. Only an admin's retry revives it.
pub const STATUS_DEAD: &str = "dead";

/// Every status, for validating filters.
pub const STATUSES: [&str; 4] = [STATUS_QUEUED, STATUS_RUNNING, STATUS_DONE, STATUS_DEAD];

/// A job to queue: `NewJob::new(kind, payload)`, then optionally `.unique(key)`, `.at(time)`,
/// `.max_attempts(n)`.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// While a job with this key is queued or running, queuing another is a no-op.
    pub unique_key: Option<String>,
    /// Not before this time (`None`: now).
    pub run_at: Option<DateTime<Utc>>,
    /// Tries before it is dead (`None`: `STUDIUM_JOB_MAX_ATTEMPTS`).
    pub max_attempts: Option<u32>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            unique_key: None,
            run_at: None,
            max_attempts: None,
        }
    }

    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    pub fn at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = Some(run_at);
        self
    }

    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job with this id.
    Queued(Uuid),
    /// A live job with the same unique key already exists; nothing was added.
    Duplicate,
}

/// Queues `job` on `conn` — pass the caller's transaction so the job commits with the write
/// that needs it. `default_max_attempts` is `STUDIUM_JOB_MAX_ATTEMPTS`. A duplicate unique key
/// is no error: `INSERT … ON CONFLICT DO NOTHING` against `jobs_unique_key_live_key` leaves
/// the transaction usable on both backends.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    job: NewJob,
    now: DateTime<Utc>,
    default_max_attempts: u32,
) -> Result<Enqueued, DbErr> {
    let id = Uuid::now_v7();
    let attempts = job.max_attempts.unwrap_or(default_max_attempts).max(1);
    let row = jobs::ActiveModel {
        id: Set(id),
        kind: Set(job.kind),
        payload: Set(job.payload),
        status: Set(STATUS_QUEUED.into()),
        attempts: Set(0),
        max_attempts: Set(i32::try_from(attempts).unwrap_or(i32::MAX)),
        run_at: Set(job.run_at.unwrap_or(now)),
        locked_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        unique_key: Set(job.unique_key),
    };
    let inserted = jobs::Entity::insert(row)
        .on_conflict(
            OnConflict::column(jobs::Column::UniqueKey)
                // The index's own predicate, spelled as literals so that PostgreSQL can match
                // it to `jobs_unique_key_live_key` when planning.
                .target_and_where(Expr::cust("status IN ('queued', 'running')"))
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec_without_returning(conn)
        .await?;
    Ok(match inserted {
        TryInsertResult::Inserted(n) if n > 0 => Enqueued::Queued(id),
        _ => Enqueued::Duplicate,
    })
}

/// Queues `job` unless a job with its unique key exists in any status, finished ones included:
/// for work that must happen once per key, such as the maintenance run of one interval. The
/// look-up and the insert share the caller's transaction; two callers racing past the look-up
/// still meet at `jobs_unique_key_live_key`, so at most one of them queues it while it is live.
pub async fn enqueue_once<C: ConnectionTrait>(
    conn: &C,
    job: NewJob,
    now: DateTime<Utc>,
    default_max_attempts: u32,
) -> Result<Enqueued, DbErr> {
    if let Some(key) = &job.unique_key {
        let existing = jobs::Entity::find()
            .filter(jobs::Column::UniqueKey.eq(key.as_str()))
            .one(conn)
            .await?;
        if existing.is_some() {
            return Ok(Enqueued::Duplicate);
        }
    }
    enqueue(conn, job, now, default_max_attempts).await
}
