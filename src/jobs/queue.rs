//! The queue's store: claiming with a lease, renewing it, and finishing a job only while the
//! lease is still ours. One code path serves both backends: the claim runs in a write
//! transaction (`Db::begin_write`: `BEGIN IMMEDIATE` on SQLite, so claims from several
//! processes take turns) and picks its row with `FOR UPDATE SKIP LOCKED` (PostgreSQL; sea-query
//! leaves the clause out on SQLite, where the write lock already excludes other claimers), so
//! concurrent workers never take the same job.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, UpdateMany,
};
use uuid::Uuid;

use super::{STATUS_DEAD, STATUS_DONE, STATUS_QUEUED, STATUS_RUNNING};
use crate::db::Db;
use crate::entity::jobs;

/// The longest wait between two tries of a failing job.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// `last_error` keeps at most this many characters of an error.
const MAX_ERROR_CHARS: usize = 4000;

/// Jobs a worker may claim at `now`: due queued jobs, and running jobs whose lease has passed
/// (their worker died or hung).
fn claimable(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(jobs::Column::Status.eq(STATUS_QUEUED))
                .add(jobs::Column::RunAt.lte(now)),
        )
        .add(
            Condition::all()
                .add(jobs::Column::Status.eq(STATUS_RUNNING))
                .add(jobs::Column::LockedUntil.lt(now)),
        )
}

/// Whether any job is claimable at `now`: a read, so an idle worker's poll takes no write lock.
pub async fn has_claimable(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let id: Option<Uuid> = jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Id)
        .filter(claimable(now))
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(id.is_some())
}

/// Claims up to `limit` claimable jobs, those due first, leasing them to `lock` until
/// `now + lease` and counting the attempt. `lock` identifies this one claim (worker and a random
/// part), so a later owner's lease can never be mistaken for ours. Empty: nothing to do. One
/// transaction for the batch: on PostgreSQL each commit waits for the disk, and a worker with
/// free slots takes its jobs in one.
pub async fn claim(
    db: &Db,
    lock: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<jobs::Model>, DbErr> {
    if limit == 0 || !has_claimable(db.read(), now).await? {
        return Ok(Vec::new());
    }
    let txn = db.begin_write().await?;
    let ids: Vec<Uuid> = jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Id)
        .filter(claimable(now))
        .order_by_asc(jobs::Column::RunAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(&txn)
        .await?;
    if ids.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(STATUS_RUNNING))
        .col_expr(
            jobs::Column::Attempts,
            Expr::col(jobs::Column::Attempts).add(1),
        )
        .col_expr(jobs::Column::LockedBy, Expr::value(lock))
        .col_expr(
            jobs::Column::LockedUntil,
            Expr::value(lease_end(now, lease)),
        )
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .filter(jobs::Column::Id.is_in(ids.clone()))
        .exec(&txn)
        .await?;
    let claimed = jobs::Entity::find()
        .filter(jobs::Column::Id.is_in(ids))
        .order_by_asc(jobs::Column::RunAt)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(claimed)
}

fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

/// The job `id` while `lock` still holds it.
fn held(id: Uuid, lock: &str) -> Condition {
    Condition::all()
        .add(jobs::Column::Id.eq(id))
        .add(jobs::Column::Status.eq(STATUS_RUNNING))
        .add(jobs::Column::LockedBy.eq(lock))
}

/// Writes `update` (and `updated_at = now`) to the job `id` if `lock` still holds it; false
/// otherwise, and nothing is written: a worker whose lease was taken cannot overwrite the new
/// owner's state.
async fn update_held(
    conn: &impl ConnectionTrait,
    id: Uuid,
    lock: &str,
    now: DateTime<Utc>,
    update: UpdateMany<jobs::Entity>,
) -> Result<bool, DbErr> {
    let res = update
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .filter(held(id, lock))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// An update that ends the job's lease.
fn lease_ended() -> UpdateMany<jobs::Entity> {
    jobs::Entity::update_many().col_expr(
        jobs::Column::LockedUntil,
        Expr::value(Option::<DateTime<Utc>>::None),
    )
}

/// Extends the lease of a running job to `now + lease`; false when the lease is no longer ours
/// (it passed and another worker claimed the job, or an admin changed it).
pub async fn heartbeat(
    conn: &impl ConnectionTrait,
    id: Uuid,
    lock: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<bool, DbErr> {
    let extend = jobs::Entity::update_many().col_expr(
        jobs::Column::LockedUntil,
        Expr::value(lease_end(now, lease)),
    );
    update_held(conn, id, lock, now, extend).await
}

/// Marks the job done, if `lock` still holds it (false otherwise).
pub async fn complete(
    conn: &impl ConnectionTrait,
    id: Uuid,
    lock: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = lease_ended().col_expr(jobs::Column::Status, Expr::value(STATUS_DONE));
    update_held(conn, id, lock, now, done).await
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Queued again for this time.
    Retry(DateTime<Utc>),
    /// Out of attempts.
    Dead,
    /// The lease was no longer ours; nothing was written.
    LeaseLost,
}

/// Records a failed attempt of `job` (as claimed by `lock`): queued again after the backoff, or
/// `dead` once `attempts` reaches `max_attempts`; `error` is kept in `last_error` either way.
pub async fn fail(
    conn: &impl ConnectionTrait,
    job: &jobs::Model,
    lock: &str,
    now: DateTime<Utc>,
    error: &str,
    retry_base: Duration,
) -> Result<Failure, DbErr> {
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let outcome = if job.attempts >= job.max_attempts {
        Failure::Dead
    } else {
        let delay = backoff(retry_base, u32::try_from(job.attempts).unwrap_or(1));
        Failure::Retry(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX))
    };
    let update = lease_ended().col_expr(jobs::Column::LastError, Expr::value(error));
    let update = match outcome {
        Failure::Retry(at) => update
            .col_expr(jobs::Column::Status, Expr::value(STATUS_QUEUED))
            .col_expr(jobs::Column::RunAt, Expr::value(at)),
        _ => update.col_expr(jobs::Column::Status, Expr::value(STATUS_DEAD)),
    };
    Ok(if update_held(conn, job.id, lock, now, update).await? {
        outcome
    } else {
        Failure::LeaseLost
    })
}

/// Gives a claimed job back untried (a worker stopping before it finished): queued for `now`,
/// the attempt not counted.
pub async fn release(
    conn: &impl ConnectionTrait,
    id: Uuid,
    lock: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let requeue = lease_ended()
        .col_expr(jobs::Column::Status, Expr::value(STATUS_QUEUED))
        .col_expr(
            jobs::Column::Attempts,
            Expr::col(jobs::Column::Attempts).sub(1),
        )
        .col_expr(jobs::Column::RunAt, Expr::value(now))
        .col_expr(jobs::Column::LockedBy, Expr::value(Option::<String>::None));
    update_held(conn, id, lock, now, requeue).await
}

/// The wait before retry number `attempt` (1 after the first failure): `base · 2^(attempt-1)`,
/// at most an hour, drawn uniformly from its upper half so that jobs failing together (a mail
/// server down) do not all come back at the same instant.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(MAX_RETRY_DELAY);
    let half = full / 2;
    let jitter_ms = rand::random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(10);
        for attempt in 1..6u32 {
            let full = base * 2u32.pow(attempt - 1);
            let d = backoff(base, attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(base, 40) <= MAX_RETRY_DELAY);
    }

    /// SQLite is built to plan each statement once, whatever its bound values
    /// (`SQLITE_ENABLE_QPSG`), so a bound status never selects a partial index. The check every
    /// idle worker polls must still search the jobs by status, not read every job ever run.
    #[tokio::test]
    async fn sqlite_plans_once_and_the_claim_check_searches_by_status() {
        use migration::MigratorTrait;
        use sea_orm::{DbBackend, QueryTrait, Statement};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let db = Db::connect_url(&url, 2).await.unwrap();
        migration::Migrator::up(db.write(), None).await.unwrap();
        let conn = db.read();
        let qpsg = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT sqlite_compileoption_used('ENABLE_QPSG') AS used",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(qpsg.try_get::<i64>("", "used").unwrap(), 1);

        let check = jobs::Entity::find()
            .select_only()
            .column(jobs::Column::Id)
            .filter(claimable(Utc::now()))
            .limit(1)
            .build(DbBackend::Sqlite);
        let plan = conn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {}", check.sql),
                check.values.map(|v| v.0).unwrap_or_default(),
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(plan.contains("SEARCH jobs USING INDEX"), "{plan}");
        assert!(!plan.contains("SCAN jobs"), "{plan}");
        db.close().await;
    }
}
