//! The durable job queue (`src/jobs/`): what the queue needs beyond the `jobs` table of
//! migration 5.
//!
//! - `jobs.unique_key` (nullable) and the partial unique index `jobs_unique_key_live_key` on it
//!   over live jobs only (`status IN ('queued', 'running')`): the same work (say, the
//!   maintenance run of one interval) is queued once however many instances ask, by
//!   `INSERT … ON CONFLICT DO NOTHING`, while finished jobs keep their key for the record and
//!   do not block the next run. Both backends support partial indexes with the same SQL.
//! - `jobs_status_check` (migration 8) is replaced: a job is `queued` (waiting for `run_at`,
//!   also between retries), `running` (claimed; its lease runs to `locked_until`), `done`, or
//!   `dead` (failed `max_attempts` times, `last_error` kept; only an admin's retry revives
//!   it). `dead` takes the place of `failed`, which said less: a failed attempt with tries left
//!   is `queued` again. Rows still `failed` become `dead`. On PostgreSQL the constraint is
//!   dropped and added again; on SQLite its trigger pair (`jobs_status_check_insert` /
//!   `_update`) is created again with the same names and wording. Rolling back turns `dead`
//!   into `failed`.
//! - `jobs_queued_run_at_idx` (partial, `status = 'queued'`, on `run_at`) and
//!   `jobs_running_locked_until_idx` (partial, `status = 'running'`, on `locked_until`): the two
//!   halves of a claim — due jobs, and running jobs whose lease has passed — each read from a
//!   small index of live rows, however long the history of done jobs grows.
//! - `jobs_kind_idx` on (`kind`, `id`): the admin list filtered by kind, in id order.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const STATUS_CHECK: &str = "jobs_status_check";
const STATUSES: &str = "'queued', 'running', 'done', 'dead'";
const OLD_STATUSES: &str = "'queued', 'running', 'done', 'failed'";

/// The status check's statements for `values`, replacing the one in place; `rename` moves
/// rows from one terminal status to the other in between.
fn status_check(backend: DbBackend, values: &str, rename: (&str, &str)) -> Vec<String> {
    let (from, to) = rename;
    let update = format!("UPDATE jobs SET status = '{to}' WHERE status = '{from}'");
    match backend {
        DbBackend::Sqlite => {
            let abort = format!(
                "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {STATUS_CHECK}'); END"
            );
            vec![
                format!("DROP TRIGGER IF EXISTS {STATUS_CHECK}_insert"),
                format!("DROP TRIGGER IF EXISTS {STATUS_CHECK}_update"),
                update,
                format!(
                    "CREATE TRIGGER {STATUS_CHECK}_insert BEFORE INSERT ON jobs \
                     FOR EACH ROW WHEN NOT (NEW.status IN ({values})) {abort}"
                ),
                format!(
                    "CREATE TRIGGER {STATUS_CHECK}_update BEFORE UPDATE OF status ON jobs \
                     FOR EACH ROW WHEN NOT (NEW.status IN ({values})) {abort}"
                ),
            ]
        }
        _ => vec![
            format!("ALTER TABLE jobs DROP CONSTRAINT IF EXISTS {STATUS_CHECK}"),
            update,
            format!("ALTER TABLE jobs ADD CONSTRAINT {STATUS_CHECK} CHECK (status IN ({values}))"),
        ],
    }
}

async fn exec(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .add_column(string_null("unique_key"))
                    .take(),
            )
            .await?;
        let live = Expr::col("status").is_in(["queued", "running"]);
        manager
            .create_index(
                Index::create()
                    .name("jobs_unique_key_live_key")
                    .table("jobs")
                    .col("unique_key")
                    .unique()
                    .and_where(live)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("jobs_queued_run_at_idx")
                    .table("jobs")
                    .col("run_at")
                    .and_where(Expr::col("status").eq("queued"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("jobs_running_locked_until_idx")
                    .table("jobs")
                    .col("locked_until")
                    .and_where(Expr::col("status").eq("running"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("jobs_kind_idx")
                    .table("jobs")
                    .col("kind")
                    .col("id")
                    .take(),
            )
            .await?;
        for sql in status_check(backend, STATUSES, ("failed", "dead")) {
            exec(manager, &sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for sql in status_check(backend, OLD_STATUSES, ("dead", "failed")) {
            exec(manager, &sql).await?;
        }
        for index in [
            "jobs_kind_idx",
            "jobs_running_locked_until_idx",
            "jobs_queued_run_at_idx",
            "jobs_unique_key_live_key",
        ] {
            exec(manager, &format!("DROP INDEX {index}")).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .drop_column("unique_key")
                    .take(),
            )
            .await
    }
}
