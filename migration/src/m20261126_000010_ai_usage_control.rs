//! Exact AI usage control (SPEC §3 "AI usage control"): plan limits enforced by reserve, then
//! settle, so that N parallel requests against an allowance of k succeed exactly k times, on
//! one instance or several over one PostgreSQL.
//!
//! - `ai_usage_counters`: one row per user, feature and UTC day with the units `used` (settled
//!   calls plus live reservations). A reservation is one conditional upsert on its primary key
//!   (`… ON CONFLICT … DO UPDATE SET used = used + 1 WHERE used < limit`): the database checks
//!   and takes the unit in one statement, so there is no check-then-charge window to overdraw
//!   in. A counter is personal (ON DELETE CASCADE with its user); `used` never goes negative
//!   (`ai_usage_counters_used_check`), so a unit can never be given back twice unnoticed.
//! - `ai_usage_logs.reserved_until` and `request_status = 'reserved'`: a call under way is
//!   logged before it starts; it settles to 'success' or is released as 'error'. A reservation
//!   left by a crashed process is expired by the maintenance once `reserved_until` has passed.
//!   The partial index `ai_usage_logs_reserved_until_idx` finds those few rows without reading
//!   the whole log.
//!
//! `ai_usage_logs_request_status_check` (migration 8) is replaced to allow 'reserved': on
//! PostgreSQL dropped and added again; on SQLite its two triggers are dropped and created again
//! with the same names and wording. Rolling back refuses while a 'reserved' row exists (the old
//! check would not admit it); release or expire it first.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::common::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

const STATUS_CHECK: &str = "ai_usage_logs_request_status_check";

/// The request-status check's statements: with 'reserved' (`up`) or without it (`down`).
fn status_check(backend: DbBackend, with_reserved: bool) -> Vec<String> {
    let values = if with_reserved {
        "'success', 'error', 'rejected', 'reserved'"
    } else {
        "'success', 'error', 'rejected'"
    };
    match backend {
        DbBackend::Sqlite => {
            let abort = format!(
                "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {STATUS_CHECK}'); END"
            );
            vec![
                format!("DROP TRIGGER IF EXISTS {STATUS_CHECK}_insert"),
                format!("DROP TRIGGER IF EXISTS {STATUS_CHECK}_update"),
                format!(
                    "CREATE TRIGGER {STATUS_CHECK}_insert BEFORE INSERT ON ai_usage_logs \
                     FOR EACH ROW WHEN NOT (NEW.request_status IN ({values})) {abort}"
                ),
                format!(
                    "CREATE TRIGGER {STATUS_CHECK}_update BEFORE UPDATE OF request_status \
                     ON ai_usage_logs FOR EACH ROW WHEN NOT (NEW.request_status IN ({values})) \
                     {abort}"
                ),
            ]
        }
        _ => vec![
            format!("ALTER TABLE ai_usage_logs DROP CONSTRAINT IF EXISTS {STATUS_CHECK}"),
            format!(
                "ALTER TABLE ai_usage_logs ADD CONSTRAINT {STATUS_CHECK} \
                 CHECK (request_status IN ({values}))"
            ),
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
            .create_table(
                Table::create()
                    .table("ai_usage_counters")
                    .col(uuid("user_id"))
                    .col(string("feature_type"))
                    .col(date("usage_date"))
                    .col(integer("used").default(0))
                    .primary_key(
                        Index::create()
                            .name("ai_usage_counters_pkey")
                            .col("user_id")
                            .col("feature_type")
                            .col("usage_date"),
                    )
                    .check(("ai_usage_counters_used_check", Expr::col("used").gte(0)))
                    .check((
                        "ai_usage_counters_feature_type_check",
                        Expr::col("feature_type").is_in(["doubt", "quiz", "material"]),
                    ))
                    .foreign_key(&mut fk(
                        "ai_usage_counters",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("ai_usage_logs")
                    .add_column(timestamp_with_time_zone_null("reserved_until"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ai_usage_logs_reserved_until_idx")
                    .table("ai_usage_logs")
                    .col("reserved_until")
                    .and_where(Expr::col("request_status").eq("reserved"))
                    .take(),
            )
            .await?;
        for sql in status_check(backend, true) {
            exec(manager, &sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for sql in status_check(backend, false) {
            exec(manager, &sql).await?;
        }
        exec(manager, "DROP INDEX ai_usage_logs_reserved_until_idx").await?;
        manager
            .alter_table(
                Table::alter()
                    .table("ai_usage_logs")
                    .drop_column("reserved_until")
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("ai_usage_counters").take())
            .await
    }
}
