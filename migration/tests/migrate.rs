//! The migrations apply, roll back and apply again on SQLite and on PostgreSQL (the server at
//! `STUDIUM_TEST_PG_URL`, by default the local one; see `support`).
//! The backend-specific pieces (partial and expression unique indexes, CHECKs, cascades)
//! are exercised on each.

mod support;

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr};

const ALICE: &str = "'00000000-0000-7000-8000-00000000000a'";
const BOB: &str = "'00000000-0000-7000-8000-00000000000b'";
const T: &str = "'2026-01-01T00:00:00Z'";

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

/// Runs `sql`, which must fail, and returns the error text.
async fn violation(db: &DatabaseConnection, sql: &str) -> Result<String, DbErr> {
    match exec(db, sql).await {
        Ok(()) => Err(DbErr::Custom(format!("expected a violation from: {sql}"))),
        Err(e) => Ok(e.to_string()),
    }
}

async fn count(db: &DatabaseConnection, table: &str) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no row".into()))?;
    row.try_get("", "n")
}

async fn constraints_hold(db: &DatabaseConnection) -> Result<(), DbErr> {
    for (id, email) in [(ALICE, "alice@example.com"), (BOB, "bob@example.com")] {
        exec(db, &format!("INSERT INTO users (id, email, created_at, updated_at) VALUES ({id}, '{email}', {T}, {T})")).await?;
    }
    let e = violation(db, &format!("INSERT INTO users (id, email, created_at, updated_at) VALUES ('00000000-0000-7000-8000-00000000000c', 'Carol@example.com', {T}, {T})")).await?;
    assert!(e.contains("users_email_lower_check"), "{e}");
    let e = violation(db, &format!("INSERT INTO users (id, email, created_at, updated_at) VALUES ('00000000-0000-7000-8000-00000000000c', 'alice@example.com', {T}, {T})")).await?;
    assert!(
        e.contains("users_email_key") || e.contains("users.email"),
        "{e}"
    );

    // One friendship per unordered pair; nobody befriends themselves.
    exec(db, &format!("INSERT INTO friends (id, requester_id, addressee_id, status, created_at, updated_at) VALUES ('00000000-0000-7000-8000-000000000f01', {ALICE}, {BOB}, 'pending', {T}, {T})")).await?;
    let e = violation(db, &format!("INSERT INTO friends (id, requester_id, addressee_id, status, created_at, updated_at) VALUES ('00000000-0000-7000-8000-000000000f02', {BOB}, {ALICE}, 'pending', {T}, {T})")).await?;
    assert!(e.to_lowercase().contains("unique"), "{e}");
    let e = violation(db, &format!("INSERT INTO friends (id, requester_id, addressee_id, status, created_at, updated_at) VALUES ('00000000-0000-7000-8000-000000000f03', {ALICE}, {ALICE}, 'pending', {T}, {T})")).await?;
    assert!(e.contains("friends_not_self_check"), "{e}");

    // At most one open study session per user; closed ones are unconstrained.
    let session = |n: u32, ended: &str| {
        format!(
            "INSERT INTO study_sessions (id, user_id, started_at, ended_at, created_at) VALUES ('00000000-0000-7000-8000-0000000005{n:02}', {ALICE}, {T}, {ended}, {T})"
        )
    };
    exec(db, &session(1, T)).await?;
    exec(db, &session(2, T)).await?;
    exec(db, &session(3, "NULL")).await?;
    let e = violation(db, &session(4, "NULL")).await?;
    assert!(e.to_lowercase().contains("unique"), "{e}");

    // Deleting a user deletes what is theirs.
    exec(db, &format!("DELETE FROM users WHERE id = {ALICE}")).await?;
    assert_eq!(count(db, "friends").await?, 0);
    assert_eq!(count(db, "study_sessions").await?, 0);
    exec(db, "DELETE FROM users").await
}

async fn up_down_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    Migrator::down(db, None).await?;
    Migrator::up(db, None).await?;
    constraints_hold(db).await
}

#[tokio::test]
async fn migrations_apply_roll_back_and_reapply_on_sqlite() -> Result<(), DbErr> {
    let db = Database::connect("sqlite::memory:").await?;
    up_down_up(&db).await
}

#[tokio::test]
#[cfg_attr(
    studium_pg_off,
    ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
)]
async fn migrations_apply_roll_back_and_reapply_on_postgres() -> Result<(), DbErr> {
    support::on_postgres(|db| async move { up_down_up(&db).await }).await
}
