//! `leaderboard_xp_buckets`: per period, how many users have XP in each bucket of 64 values
//! (`bucket` = xp / 64, so bucket 0 holds 0–63, bucket 1 holds 64–127, …).
//!
//! A rank was 1 + the sum of `leaderboard_xp_counts` over every distinct XP value above mine:
//! ~1 800 rows for a user near the bottom of 100k, most of a global read's time on
//! PostgreSQL. With the buckets it is 1 + the buckets strictly above mine + the exact counts
//! inside my bucket above my XP: a hundred or so rows for the same user, and never more than
//! the period's buckets plus 63. Each XP award keeps both tables in its transaction; the rows
//! are backfilled here from `leaderboard_xp_counts`. The width is the application's
//! `XP_BUCKET_WIDTH`: changing it means a migration that rebuilds this table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::common::drop_tables;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("leaderboard_xp_buckets")
                    .col(string("period_type"))
                    .col(date("period_start"))
                    .col(big_integer("bucket"))
                    .col(big_integer("users"))
                    .primary_key(
                        Index::create()
                            .name("leaderboard_xp_buckets_pkey")
                            .col("period_type")
                            .col("period_start")
                            .col("bucket"),
                    )
                    .take(),
            )
            .await?;
        // Integer division on both databases (the columns are integers); the cast keeps the
        // sum an integer on PostgreSQL, where SUM(bigint) is NUMERIC.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO leaderboard_xp_buckets (period_type, period_start, bucket, users) \
                 SELECT period_type, period_start, xp / 64, CAST(SUM(users) AS BIGINT) \
                 FROM leaderboard_xp_counts GROUP BY period_type, period_start, xp / 64",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["leaderboard_xp_buckets"]).await
    }
}
