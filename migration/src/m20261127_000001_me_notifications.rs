//! PostgreSQL: every change to what `GET /me` shows is announced on the `studium_me` channel,
//! by the database itself, so that each instance can keep what it read and drop it the moment
//! it changes — whoever changed it (any instance, a job, a CLI command, an operator's SQL).
//!
//! After each statement on `users`, `user_profiles`, `user_streaks`, `xp_logs` and
//! `study_sessions`, a trigger sends `NOTIFY studium_me, '<user id>'` for each user whose rows
//! it touched, or one `'*'` (everyone) when it touched more than 100 users (a bulk load).
//! PostgreSQL delivers notifications at commit and folds repeats within a transaction.
//!
//! SQLite has no way to tell another connection; there `GET /me` is not cached.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows `GET /me` reads, and the column naming the user in each.
const TABLES: [(&str, &str); 5] = [
    ("users", "id"),
    ("user_profiles", "user_id"),
    ("user_streaks", "user_id"),
    ("xp_logs", "user_id"),
    ("study_sessions", "user_id"),
];

/// The notifying function for tables whose user column is `column`; it reads the statement's
/// changed rows as the transition table `changed`.
fn function_sql(column: &str) -> String {
    format!(
        "CREATE FUNCTION studium_me_changed_{column}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    SELECT array_agg(u) INTO ids FROM (SELECT DISTINCT {column} AS u FROM changed LIMIT 101) d;
    IF ids IS NULL THEN
        RETURN NULL;
    ELSIF cardinality(ids) > 100 THEN
        PERFORM pg_notify('studium_me', '*');
    ELSE
        PERFORM pg_notify('studium_me', u::text) FROM unnest(ids) AS u;
    END IF;
    RETURN NULL;
END
$$"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let conn = manager.get_connection();
        for column in ["id", "user_id"] {
            conn.execute_unprepared(&function_sql(column)).await?;
        }
        for (table, column) in TABLES {
            // One trigger per event: a transition table belongs to one kind of change.
            for (event, rows) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
                let name = format!("{table}_me_{}", event.to_lowercase());
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} \
                     REFERENCING {rows} TABLE AS changed \
                     FOR EACH STATEMENT EXECUTE FUNCTION studium_me_changed_{column}()"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let conn = manager.get_connection();
        for (table, _) in TABLES {
            for event in ["insert", "update", "delete"] {
                conn.execute_unprepared(&format!("DROP TRIGGER {table}_me_{event} ON {table}"))
                    .await?;
            }
        }
        for column in ["id", "user_id"] {
            conn.execute_unprepared(&format!("DROP FUNCTION studium_me_changed_{column}()"))
                .await?;
        }
        Ok(())
    }
}
