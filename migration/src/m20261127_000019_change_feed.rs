//! The change feed every instance's caches follow (`src/changes.rs`), completed:
//! - PostgreSQL: friendships now append both friends' ids to `me_changes` too, because a
//!   friends leaderboard names its members;
//! - SQLite gets the feed as well: a `me_changes` table with an increasing id, appended to by
//!   row triggers on the same tables. SQLite lets one writer at a time hold the database from
//!   its first write to its commit, so ids become visible in order and a poller that remembers
//!   the last id it saw misses nothing — also writes by another process (a CLI command, an
//!   operator's SQL). As on PostgreSQL, a deleted user's rows go with the user, and changes
//!   to users deleted by the same statement are not recorded; the periodic maintenance
//!   purges old rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose changes are recorded on SQLite, and the columns naming users in each (on
/// PostgreSQL migration 17 records the first five).
const TABLES: [(&str, &[&str]); 6] = [
    ("users", &["id"]),
    ("user_profiles", &["user_id"]),
    ("user_streaks", &["user_id"]),
    ("xp_logs", &["user_id"]),
    ("study_sessions", &["user_id"]),
    ("friends", &["requester_id", "addressee_id"]),
];

const EVENTS: [(&str, &str); 3] = [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")];

/// The events recorded on `table`: a deleted user needs no record.
fn events(table: &str) -> &'static [(&'static str, &'static str)] {
    if table == "users" {
        &EVENTS[..2]
    } else {
        &EVENTS
    }
}

/// PostgreSQL: one statement trigger per event on `friends`, recording both sides of every
/// changed pair (skipping users deleted by this transaction, as migration 17 does).
const PG_FRIENDS_FUNCTION: &str = "CREATE FUNCTION studium_me_changed_friends() RETURNS trigger \
     LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO me_changes (user_id)
    SELECT DISTINCT ids.id
    FROM (SELECT requester_id AS id FROM changed UNION SELECT addressee_id FROM changed) ids
    JOIN users u ON u.id = ids.id;
    RETURN NULL;
END
$$";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            conn.execute_unprepared(PG_FRIENDS_FUNCTION).await?;
            for (event, rows) in EVENTS {
                let name = format!("friends_me_{}", event.to_lowercase());
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER {name} AFTER {event} ON friends \
                     REFERENCING {rows} TABLE AS changed \
                     FOR EACH STATEMENT EXECUTE FUNCTION studium_me_changed_friends()"
                ))
                .await?;
            }
            return Ok(());
        }
        conn.execute_unprepared(
            "CREATE TABLE me_changes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id BLOB NOT NULL CONSTRAINT me_changes_user_id_fkey
                    REFERENCES users (id) ON DELETE CASCADE,
                changed_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
            )",
        )
        .await?;
        for index in [
            "CREATE INDEX me_changes_user_id_idx ON me_changes (user_id)",
            "CREATE INDEX me_changes_changed_at_idx ON me_changes (changed_at)",
        ] {
            conn.execute_unprepared(index).await?;
        }
        for (table, columns) in TABLES {
            for (event, row) in events(table) {
                // A user whose deletion cascades here is gone already: skipped.
                let inserts: String = columns
                    .iter()
                    .map(|c| {
                        format!(
                            "INSERT INTO me_changes (user_id) SELECT {row}.{c} \
                             WHERE EXISTS (SELECT 1 FROM users WHERE id = {row}.{c}); "
                        )
                    })
                    .collect();
                let name = format!("{table}_me_{}", event.to_lowercase());
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW \
                     BEGIN {inserts}END"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for (event, _) in EVENTS {
                let name = format!("friends_me_{}", event.to_lowercase());
                conn.execute_unprepared(&format!("DROP TRIGGER {name} ON friends"))
                    .await?;
            }
            conn.execute_unprepared("DROP FUNCTION studium_me_changed_friends()")
                .await?;
            return Ok(());
        }
        for (table, _) in TABLES {
            for (event, _) in events(table) {
                let name = format!("{table}_me_{}", event.to_lowercase());
                conn.execute_unprepared(&format!("DROP TRIGGER {name}"))
                    .await?;
            }
        }
        conn.execute_unprepared("DROP TABLE me_changes").await?;
        Ok(())
    }
}
