//! Migration 13 fills `leaderboard_scores` and `leaderboard_xp_counts` from the `xp_logs`
//! already there, on SQLite and on PostgreSQL: a database at migration 12 with awards across
//! weeks and months (on both sides of a Monday 00:00 UTC and of a 1st 00:00 UTC) answers, after
//! migration 13, each user's XP per period and the users per XP value that ranks are read from.
//! Ids and times are written as the application writes them (SQLite: 16-byte blobs and
//! RFC 3339 text with an offset).

mod support;

use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm_migration::sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};

/// Migrations before the one under test.
const BEFORE_LEADERBOARDS: u32 = 12;

const ALICE: u128 = 0x0000_0000_0000_7000_8000_0000_0000_000a;
const BOB: u128 = 0x0000_0000_0000_7000_8000_0000_0000_000b;
const CAROL: u128 = 0x0000_0000_0000_7000_8000_0000_0000_000c;
const DAVE: u128 = 0x0000_0000_0000_7000_8000_0000_0000_000d;
/// Registered, but never awarded anything.
const ERIN: u128 = 0x0000_0000_0000_7000_8000_0000_0000_000e;

/// A uuid literal as the backend stores it.
fn id(backend: DbBackend, n: u128) -> String {
    match backend {
        DbBackend::Sqlite => format!("X'{n:032x}'"),
        _ => format!("'{n:032x}'"),
    }
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

async fn number(db: &DatabaseConnection, sql: &str) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("no row from {sql}")))?;
    row.try_get_by_index(0)
}

/// (user, XP, when), 2026: 1 March is a Sunday, so the week of Monday 23 February spans two
/// months.
const AWARDS: &[(u128, i32, &str)] = &[
    (ALICE, 10, "2026-02-23T00:00:00+00:00"),
    (ALICE, 20, "2026-03-01T23:59:59.999999+00:00"),
    (ALICE, 5, "2026-03-02T00:00:00+00:00"),
    (BOB, 30, "2026-02-28T12:00:00.5+00:00"),
    (BOB, 25, "2026-03-04T08:00:00+00:00"),
    (CAROL, 15, "2026-02-24T23:59:59+00:00"),
    (DAVE, 7, "2026-01-31T23:59:59.123456789+00:00"),
];

/// (period, start, user, XP): every row `leaderboard_scores` must hold.
const SCORES: &[(&str, &str, u128, i64)] = &[
    ("weekly", "2026-01-26", DAVE, 7),
    ("weekly", "2026-02-23", ALICE, 30),
    ("weekly", "2026-02-23", BOB, 30),
    ("weekly", "2026-02-23", CAROL, 15),
    ("weekly", "2026-03-02", ALICE, 5),
    ("weekly", "2026-03-02", BOB, 25),
    ("monthly", "2026-01-01", DAVE, 7),
    ("monthly", "2026-02-01", ALICE, 10),
    ("monthly", "2026-02-01", BOB, 30),
    ("monthly", "2026-02-01", CAROL, 15),
    ("monthly", "2026-03-01", ALICE, 25),
    ("monthly", "2026-03-01", BOB, 25),
];

/// (period, start, XP, users): every row `leaderboard_xp_counts` must hold.
const COUNTS: &[(&str, &str, i64, i64)] = &[
    ("weekly", "2026-01-26", 7, 1),
    ("weekly", "2026-02-23", 30, 2),
    ("weekly", "2026-02-23", 15, 1),
    ("weekly", "2026-03-02", 5, 1),
    ("weekly", "2026-03-02", 25, 1),
    ("monthly", "2026-01-01", 7, 1),
    ("monthly", "2026-02-01", 10, 1),
    ("monthly", "2026-02-01", 30, 1),
    ("monthly", "2026-02-01", 15, 1),
    ("monthly", "2026-03-01", 25, 2),
];

/// (period, start, user, rank): 1 + the users with more XP, ties sharing a rank, as the
/// leaderboard reads it from `leaderboard_xp_counts`.
const RANKS: &[(&str, &str, u128, i64)] = &[
    ("weekly", "2026-02-23", ALICE, 1),
    ("weekly", "2026-02-23", BOB, 1),
    ("weekly", "2026-02-23", CAROL, 3),
    ("weekly", "2026-03-02", BOB, 1),
    ("weekly", "2026-03-02", ALICE, 2),
    ("monthly", "2026-02-01", BOB, 1),
    ("monthly", "2026-02-01", CAROL, 2),
    ("monthly", "2026-02-01", ALICE, 3),
    ("monthly", "2026-03-01", ALICE, 1),
];

async fn backfill_from_xp_logs(db: &DatabaseConnection) -> Result<(), DbErr> {
    let b = db.get_database_backend();
    Migrator::up(db, Some(BEFORE_LEADERBOARDS)).await?;
    assert!(
        !SchemaManager::new(db)
            .has_table("leaderboard_scores")
            .await?,
        "migration {BEFORE_LEADERBOARDS} is before the leaderboard tables"
    );
    let t = "'2026-01-01T00:00:00+00:00'";
    for (n, user) in [ALICE, BOB, CAROL, DAVE, ERIN].into_iter().enumerate() {
        exec(
            db,
            &format!(
                "INSERT INTO users (id, email, created_at, updated_at) \
                 VALUES ({}, 'user{n}@example.com', {t}, {t})",
                id(b, user)
            ),
        )
        .await?;
    }
    for (n, (user, xp, at)) in AWARDS.iter().enumerate() {
        let log_id = 0x0000_0000_0000_7000_8000_0000_0000_1000 + n as u128;
        exec(
            db,
            &format!(
                "INSERT INTO xp_logs (id, user_id, xp_amount, source_type, created_at) \
                 VALUES ({}, {}, {xp}, 'lesson', '{at}')",
                id(b, log_id),
                id(b, *user)
            ),
        )
        .await?;
    }

    Migrator::up(db, Some(1)).await?;

    assert_eq!(
        number(db, "SELECT COUNT(*) FROM leaderboard_scores").await?,
        SCORES.len() as i64,
        "one score per user and period with an award in it, no more"
    );
    for (period, start, user, xp) in SCORES {
        let sql = format!(
            "SELECT xp FROM leaderboard_scores WHERE period_type = '{period}' \
             AND period_start = '{start}' AND user_id = {}",
            id(b, *user)
        );
        assert_eq!(number(db, &sql).await?, *xp, "{sql}");
    }
    assert_eq!(
        number(db, "SELECT COUNT(*) FROM leaderboard_xp_counts").await?,
        COUNTS.len() as i64,
        "one count per XP value held in a period, no more"
    );
    for (period, start, xp, users) in COUNTS {
        let sql = format!(
            "SELECT users FROM leaderboard_xp_counts WHERE period_type = '{period}' \
             AND period_start = '{start}' AND xp = {xp}"
        );
        assert_eq!(number(db, &sql).await?, *users, "{sql}");
    }
    for (period, start, user, rank) in RANKS {
        let sql = format!(
            "SELECT CAST(1 + COALESCE(SUM(c.users), 0) AS BIGINT) FROM leaderboard_xp_counts c \
             WHERE c.period_type = '{period}' AND c.period_start = '{start}' AND c.xp > \
             (SELECT s.xp FROM leaderboard_scores s WHERE s.period_type = '{period}' \
              AND s.period_start = '{start}' AND s.user_id = {})",
            id(b, *user)
        );
        assert_eq!(number(db, &sql).await?, *rank, "{sql}");
    }

    // Rolled back and applied again, it fills the same rows.
    Migrator::down(db, Some(1)).await?;
    Migrator::up(db, Some(1)).await?;
    assert_eq!(
        number(
            db,
            "SELECT CAST(COALESCE(SUM(xp), 0) AS BIGINT) FROM leaderboard_scores"
        )
        .await?,
        SCORES.iter().map(|s| s.3).sum::<i64>()
    );
    Ok(())
}

#[tokio::test]
async fn migration_13_fills_the_leaderboards_from_xp_logs_on_sqlite() -> Result<(), DbErr> {
    let db = Database::connect("sqlite::memory:").await?;
    backfill_from_xp_logs(&db).await
}

#[tokio::test]
#[cfg_attr(
    studium_pg_off,
    ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
)]
async fn migration_13_fills_the_leaderboards_from_xp_logs_on_postgres() -> Result<(), DbErr> {
    support::on_postgres(|db| async move { backfill_from_xp_logs(&db).await }).await
}
