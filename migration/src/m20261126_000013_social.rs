//! Leaderboards (SPEC §3 Leaderboards): `leaderboard_scores`, each user's XP per period.
//!
//! One row per (`period_type`, `period_start`, `user_id`) — `weekly` periods start on Monday
//! 00:00 UTC, `monthly` on the 1st 00:00 UTC — kept up to date by the XP award itself, in the
//! award's transaction. With the index on (`period_type`, `period_start`, `xp`) a period's top
//! entries are an index range read, a user's rank is one count over the entries above them,
//! and the friends scope is a primary-key lookup per friend — instead of summing `xp_logs` over
//! every user and ranking them with a window function on each read. Existing `xp_logs` are
//! summed into it once here.
//!
//! `leaderboard_xp_counts`: per period, how many users have exactly `xp` points. A rank is
//! then 1 + the sum of the counts above my XP: a read over the distinct XP values above me (a
//! few thousand at most), not over every user above me (up to all of them).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::common::{drop_tables, fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The backfill from `xp_logs`: the one place where the two dialects spell a period's start
/// differently.
fn backfill_sql(backend: DbBackend) -> Result<[&'static str; 2], DbErr> {
    match backend {
        DbBackend::Postgres => Ok([
            "INSERT INTO leaderboard_scores (period_type, period_start, user_id, xp) \
             SELECT 'weekly', CAST(date_trunc('week', created_at AT TIME ZONE 'UTC') AS DATE), user_id, SUM(xp_amount) \
             FROM xp_logs GROUP BY 2, 3",
            "INSERT INTO leaderboard_scores (period_type, period_start, user_id, xp) \
             SELECT 'monthly', CAST(date_trunc('month', created_at AT TIME ZONE 'UTC') AS DATE), user_id, SUM(xp_amount) \
             FROM xp_logs GROUP BY 2, 3",
        ]),
        DbBackend::Sqlite => Ok([
            "INSERT INTO leaderboard_scores (period_type, period_start, user_id, xp) \
             SELECT 'weekly', date(created_at, '-6 days', 'weekday 1'), user_id, SUM(xp_amount) \
             FROM xp_logs GROUP BY 2, 3",
            "INSERT INTO leaderboard_scores (period_type, period_start, user_id, xp) \
             SELECT 'monthly', date(created_at, 'start of month'), user_id, SUM(xp_amount) \
             FROM xp_logs GROUP BY 2, 3",
        ]),
        other => Err(DbErr::Migration(format!(
            "unsupported database backend {other:?}"
        ))),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("leaderboard_scores")
                    .col(string("period_type"))
                    .col(date("period_start"))
                    .col(uuid("user_id"))
                    .col(big_integer("xp"))
                    .primary_key(
                        Index::create()
                            .name("leaderboard_scores_pkey")
                            .col("period_type")
                            .col("period_start")
                            .col("user_id"),
                    )
                    .foreign_key(&mut fk(
                        "leaderboard_scores",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "leaderboard_scores_period_xp_idx",
            "leaderboard_scores",
            &["period_type", "period_start", "xp"],
        )
        .await?;
        index(
            manager,
            "leaderboard_scores_user_id_idx",
            "leaderboard_scores",
            &["user_id"],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("leaderboard_xp_counts")
                    .col(string("period_type"))
                    .col(date("period_start"))
                    .col(big_integer("xp"))
                    .col(big_integer("users"))
                    .primary_key(
                        Index::create()
                            .name("leaderboard_xp_counts_pkey")
                            .col("period_type")
                            .col("period_start")
                            .col("xp"),
                    )
                    .take(),
            )
            .await?;
        let conn = manager.get_connection();
        for sql in backfill_sql(manager.get_database_backend())? {
            conn.execute_unprepared(sql).await?;
        }
        conn.execute_unprepared(
            "INSERT INTO leaderboard_xp_counts (period_type, period_start, xp, users) \
             SELECT period_type, period_start, xp, COUNT(*) FROM leaderboard_scores \
             GROUP BY period_type, period_start, xp",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["leaderboard_xp_counts", "leaderboard_scores"]).await
    }
}
