//! Migration 15 fills `leaderboard_xp_buckets` from the `leaderboard_xp_counts` already there,
//! on SQLite and on PostgreSQL: each period's users per bucket of 64 XP values (0–63, 64–127,
//! …), buckets never mixing periods, and the ranks read from the buckets plus the exact counts
//! inside my bucket equal those read from the exact counts alone.

mod support;

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

/// Migrations before the one under test.
const BEFORE_BUCKETS: u32 = 14;

/// (period, start, XP, users): the counts before the migration.
const COUNTS: &[(&str, &str, i64, i64)] = &[
    ("weekly", "2026-11-23", 1, 4),
    ("weekly", "2026-11-23", 63, 2),
    ("weekly", "2026-11-23", 64, 1),
    ("weekly", "2026-11-23", 127, 3),
    ("weekly", "2026-11-23", 128, 1),
    ("weekly", "2026-11-23", 5000, 1),
    ("weekly", "2026-11-30", 70, 2),
    ("monthly", "2026-11-01", 63, 5),
    ("monthly", "2026-11-01", 200, 0),
];

/// (period, start, bucket, users): every row the migration must write.
const BUCKETS: &[(&str, &str, i64, i64)] = &[
    ("weekly", "2026-11-23", 0, 6),
    ("weekly", "2026-11-23", 1, 4),
    ("weekly", "2026-11-23", 2, 1),
    ("weekly", "2026-11-23", 78, 1),
    ("weekly", "2026-11-30", 1, 2),
    ("monthly", "2026-11-01", 0, 5),
    ("monthly", "2026-11-01", 3, 0),
];

async fn number(db: &DatabaseConnection, sql: &str) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("no row from {sql}")))?;
    row.try_get_by_index(0)
}

async fn backfill_from_counts(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, Some(BEFORE_BUCKETS)).await?;
    for (period, start, xp, users) in COUNTS {
        db.execute_unprepared(&format!(
            "INSERT INTO leaderboard_xp_counts (period_type, period_start, xp, users) \
             VALUES ('{period}', '{start}', {xp}, {users})"
        ))
        .await?;
    }

    Migrator::up(db, Some(1)).await?;

    assert_eq!(
        number(db, "SELECT COUNT(*) FROM leaderboard_xp_buckets").await?,
        BUCKETS.len() as i64,
        "one bucket per run of 64 XP values held in a period, no more"
    );
    for (period, start, bucket, users) in BUCKETS {
        let sql = format!(
            "SELECT users FROM leaderboard_xp_buckets WHERE period_type = '{period}' \
             AND period_start = '{start}' AND bucket = {bucket}"
        );
        assert_eq!(number(db, &sql).await?, *users, "{sql}");
    }
    for (period, start, mine, _) in COUNTS {
        let exact = format!(
            "SELECT CAST(COALESCE(SUM(users), 0) AS BIGINT) FROM leaderboard_xp_counts \
             WHERE period_type = '{period}' AND period_start = '{start}' AND xp > {mine}"
        );
        let bucketed = format!(
            "SELECT (SELECT CAST(COALESCE(SUM(users), 0) AS BIGINT) FROM leaderboard_xp_buckets \
                      WHERE period_type = '{period}' AND period_start = '{start}' \
                        AND bucket > {mine} / 64) \
                  + (SELECT CAST(COALESCE(SUM(users), 0) AS BIGINT) FROM leaderboard_xp_counts \
                      WHERE period_type = '{period}' AND period_start = '{start}' \
                        AND xp > {mine} AND xp < ({mine} / 64 + 1) * 64)"
        );
        assert_eq!(
            number(db, &bucketed).await?,
            number(db, &exact).await?,
            "{period} {start}, {mine} XP"
        );
    }

    // Rolled back and applied again, it fills the same rows.
    Migrator::down(db, Some(1)).await?;
    Migrator::up(db, Some(1)).await?;
    assert_eq!(
        number(
            db,
            "SELECT CAST(COALESCE(SUM(users), 0) AS BIGINT) FROM leaderboard_xp_buckets"
        )
        .await?,
        BUCKETS.iter().map(|b| b.3).sum::<i64>()
    );
    Ok(())
}

#[tokio::test]
async fn migration_15_fills_the_xp_buckets_from_the_counts_on_sqlite() -> Result<(), DbErr> {
    let db = Database::connect("sqlite::memory:").await?;
    backfill_from_counts(&db).await
}

#[tokio::test]
#[cfg_attr(
    studium_pg_off,
    ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
)]
async fn migration_15_fills_the_xp_buckets_from_the_counts_on_postgres() -> Result<(), DbErr> {
    support::on_postgres(|db| async move { backfill_from_counts(&db).await }).await
}
