//! PostgreSQL: every change to what `GET /me` shows is recorded by the database itself in
//! `me_changes`, so that each instance can keep what it read and drop it as soon as it changes
//! — whoever changed it (any instance, a job, a CLI command, an operator's SQL).
//!
//! After each statement on `users`, `user_profiles`, `user_streaks`, `xp_logs` and
//! `study_sessions`, a trigger appends one row per user whose rows it touched, with the
//! writing transaction's id. Each instance polls the table for rows of transactions that were
//! not yet finished at its previous poll (`xid` at or above that poll's snapshot `xmin`), so no
//! change is missed whatever order transactions commit in.
//!
//! Why not `NOTIFY`: PostgreSQL serialises the commits of all notifying transactions on one
//! lock held through the commit's WAL flush, which capped concurrent lesson completions at one
//! per flush (about 300 a second here). Appending to an unlogged table takes no shared lock and
//! writes no WAL. Rows are purged by the periodic maintenance once no poller can need them;
//! a deleted user's rows go with the user.
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

/// The recording function for tables whose user column is `column`; it reads the statement's
/// changed rows as the transition table `changed`. Users deleted by this transaction (a
/// cascade from `users`) are skipped: nobody can read their `GET /me` any more.
fn function_sql(column: &str) -> String {
    format!(
        "CREATE FUNCTION studium_me_changed_{column}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO me_changes (user_id)
    SELECT DISTINCT c.{column} FROM changed c JOIN users u ON u.id = c.{column};
    RETURN NULL;
END
$$"
    )
}

/// The events recorded on `table`, each with the transition table that holds its rows.
fn events(table: &str) -> &'static [(&'static str, &'static str)] {
    if table == "users" {
        &[("INSERT", "NEW"), ("UPDATE", "NEW")]
    } else {
        &[("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")]
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let conn = manager.get_connection();
        conn.execute_unprepared(
            "CREATE UNLOGGED TABLE me_changes (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                user_id UUID NOT NULL CONSTRAINT me_changes_user_id_fkey
                    REFERENCES users (id) ON DELETE CASCADE,
                xid XID8 NOT NULL DEFAULT pg_current_xact_id(),
                changed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
            )",
        )
        .await?;
        for index in [
            "CREATE INDEX me_changes_xid_idx ON me_changes (xid)",
            "CREATE INDEX me_changes_user_id_idx ON me_changes (user_id)",
            "CREATE INDEX me_changes_changed_at_idx ON me_changes (changed_at)",
        ] {
            conn.execute_unprepared(index).await?;
        }
        for column in ["id", "user_id"] {
            conn.execute_unprepared(&function_sql(column)).await?;
        }
        for (table, column) in TABLES {
            // One trigger per event: a transition table belongs to one kind of change. A
            // deleted user needs no record.
            for (event, rows) in events(table) {
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
            for (event, _) in events(table) {
                let name = format!("{table}_me_{}", event.to_lowercase());
                conn.execute_unprepared(&format!("DROP TRIGGER {name} ON {table}"))
                    .await?;
            }
        }
        for column in ["id", "user_id"] {
            conn.execute_unprepared(&format!("DROP FUNCTION studium_me_changed_{column}()"))
                .await?;
        }
        conn.execute_unprepared("DROP TABLE me_changes").await?;
        Ok(())
    }
}
