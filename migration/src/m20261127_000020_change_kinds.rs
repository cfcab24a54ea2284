//! The change feed tells a friendship's change from a change to a user's own data: rows that
//! the `friends` triggers append carry `friendship = true`. A cache of friends leaderboards can
//! then patch a member's new XP or name into the boards naming them, and recompute a board
//! only when who is on it may have changed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const EVENTS: [(&str, &str); 3] = [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")];

/// PostgreSQL: the function of migration 19's statement triggers on `friends`, recording
/// both sides of every changed pair, with (`true`) or without the new column.
fn pg_friends_function(kind: bool) -> String {
    let (columns, values) = if kind {
        ("user_id, friendship", "ids.id, true")
    } else {
        ("user_id", "ids.id")
    };
    format!(
        "CREATE OR REPLACE FUNCTION studium_me_changed_friends() RETURNS trigger \
         LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO me_changes ({columns})
    SELECT DISTINCT {values}
    FROM (SELECT requester_id AS id FROM changed UNION SELECT addressee_id FROM changed) ids
    JOIN users u ON u.id = ids.id;
    RETURN NULL;
END
$$"
    )
}

/// SQLite: migration 19's row triggers on `friends`, with (`true`) or without the new column.
async fn sqlite_friends_triggers(manager: &SchemaManager<'_>, kind: bool) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    let (columns, extra) = if kind {
        ("user_id, friendship", ", 1")
    } else {
        ("user_id", "")
    };
    for (event, row) in EVENTS {
        let name = format!("friends_me_{}", event.to_lowercase());
        let inserts: String = ["requester_id", "addressee_id"]
            .iter()
            .map(|c| {
                format!(
                    "INSERT INTO me_changes ({columns}) SELECT {row}.{c}{extra} \
                     WHERE EXISTS (SELECT 1 FROM users WHERE id = {row}.{c}); "
                )
            })
            .collect();
        conn.execute_unprepared(&format!("DROP TRIGGER {name}"))
            .await?;
        conn.execute_unprepared(&format!(
            "CREATE TRIGGER {name} AFTER {event} ON friends FOR EACH ROW BEGIN {inserts}END"
        ))
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            conn.execute_unprepared(
                "ALTER TABLE me_changes ADD COLUMN friendship BOOLEAN NOT NULL DEFAULT false",
            )
            .await?;
            conn.execute_unprepared(&pg_friends_function(true)).await?;
            return Ok(());
        }
        conn.execute_unprepared(
            "ALTER TABLE me_changes ADD COLUMN friendship INTEGER NOT NULL DEFAULT 0 \
             CHECK (friendship IN (0, 1))",
        )
        .await?;
        sqlite_friends_triggers(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            conn.execute_unprepared(&pg_friends_function(false)).await?;
        } else {
            sqlite_friends_triggers(manager, false).await?;
        }
        conn.execute_unprepared("ALTER TABLE me_changes DROP COLUMN friendship")
            .await?;
        Ok(())
    }
}
