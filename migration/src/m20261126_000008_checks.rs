//! CHECK constraints that state what the data means (SPEC §2, docs/DATA_MODEL.md), so the
//! database itself refuses a row no rule could have written — a role that is neither student
//! nor admin, a negative XP award, a study session longer than its 4-hour cap — whichever
//! program writes it (an admin script, a future endpoint, a bug). The API validates every
//! input before it gets here and answers 4xx; these checks are the last line, not the first.
//!
//! Each check is named `<table>_<column>_check`, like PostgreSQL's own, and an error names it.
//!
//! - PostgreSQL: `ALTER TABLE … ADD CONSTRAINT <name> CHECK (…)`.
//! - SQLite cannot add a CHECK to an existing table; the alternative, rebuilding each table,
//!   would have to rebuild `users`, the parent of nearly every table, and the content tables
//!   (dropping a parent with its children's rows in place fires their ON DELETE cascades). So
//!   on SQLite each check is a pair of triggers, `<name>_insert` (BEFORE INSERT) and
//!   `<name>_update` (BEFORE UPDATE OF its columns), which abort with SQLite's own wording,
//!   `CHECK constraint failed: <name>`. Like a CHECK, they let a NULL through. SQLite compares
//!   any text above every number, so numeric checks read the value as a number there
//!   (`CAST(… AS NUMERIC)`); `ai_usage_logs.estimated_cost` is decimal text on SQLite. A later
//!   migration that rebuilds one of these tables on SQLite must create its triggers again.
//!
//! Rows already breaking a check are not changed behind anyone's back: the migration stops
//! before adding anything, naming each check, its table and how many rows break it, so they
//! can be corrected and the migration run again. It runs in one transaction.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One CHECK: `condition` refers to each of `columns` as `{column}`.
struct Check {
    table: &'static str,
    name: &'static str,
    columns: &'static [&'static str],
    condition: &'static str,
    /// The columns hold numbers (read as numbers on SQLite).
    numeric: bool,
}

const fn check(
    table: &'static str,
    name: &'static str,
    columns: &'static [&'static str],
    condition: &'static str,
    numeric: bool,
) -> Check {
    Check {
        table,
        name,
        columns,
        condition,
        numeric,
    }
}

/// Every check this migration adds.
const CHECKS: &[Check] = &[
    check(
        "users",
        "users_role_check",
        &["role"],
        "{role} IN ('student', 'admin')",
        false,
    ),
    check(
        "users",
        "users_auth_provider_check",
        &["auth_provider"],
        "{auth_provider} IN ('email', 'google')",
        false,
    ),
    check(
        "lessons",
        "lessons_content_type_check",
        &["content_type"],
        "{content_type} IN ('text', 'video', 'pdf')",
        false,
    ),
    // NULL (not rated) passes, as in every CHECK.
    check(
        "topics",
        "topics_difficulty_level_check",
        &["difficulty_level"],
        "{difficulty_level} BETWEEN 1 AND 5",
        true,
    ),
    check(
        "friends",
        "friends_status_check",
        &["status"],
        "{status} IN ('pending', 'accepted')",
        false,
    ),
    check(
        "materials",
        "materials_processing_status_check",
        &["processing_status"],
        "{processing_status} IN ('pending', 'processing', 'ready', 'failed')",
        false,
    ),
    check(
        "quiz_attempts",
        "quiz_attempts_score_percentage_check",
        &["score_percentage"],
        "{score_percentage} BETWEEN 0 AND 100",
        true,
    ),
    check(
        "topic_progress",
        "topic_progress_mastery_score_check",
        &["mastery_score"],
        "{mastery_score} BETWEEN 0 AND 100",
        true,
    ),
    check(
        "xp_logs",
        "xp_logs_xp_amount_check",
        &["xp_amount"],
        "{xp_amount} > 0",
        true,
    ),
    check(
        "ai_usage_logs",
        "ai_usage_logs_feature_type_check",
        &["feature_type"],
        "{feature_type} IN ('doubt', 'quiz', 'material')",
        false,
    ),
    check(
        "ai_usage_logs",
        "ai_usage_logs_request_status_check",
        &["request_status"],
        "{request_status} IN ('success', 'error', 'rejected')",
        false,
    ),
    check(
        "ai_usage_logs",
        "ai_usage_logs_prompt_tokens_check",
        &["prompt_tokens"],
        "{prompt_tokens} >= 0",
        true,
    ),
    check(
        "ai_usage_logs",
        "ai_usage_logs_completion_tokens_check",
        &["completion_tokens"],
        "{completion_tokens} >= 0",
        true,
    ),
    check(
        "ai_usage_logs",
        "ai_usage_logs_total_tokens_check",
        &["total_tokens"],
        "{total_tokens} >= 0",
        true,
    ),
    check(
        "ai_usage_logs",
        "ai_usage_logs_estimated_cost_check",
        &["estimated_cost"],
        "{estimated_cost} >= 0",
        true,
    ),
    check(
        "payments",
        "payments_amount_check",
        &["amount"],
        "{amount} >= 0",
        true,
    ),
    check(
        "subscriptions",
        "subscriptions_plan_check",
        &["plan"],
        "{plan} IN ('free', 'pro')",
        false,
    ),
    check(
        "subscriptions",
        "subscriptions_status_check",
        &["status"],
        "{status} IN ('active', 'trialing', 'past_due', 'canceled')",
        false,
    ),
    check(
        "doubt_messages",
        "doubt_messages_role_check",
        &["role"],
        "{role} IN ('user', 'assistant')",
        false,
    ),
    check(
        "email_tokens",
        "email_tokens_purpose_check",
        &["purpose"],
        "{purpose} IN ('verify_email', 'password_reset')",
        false,
    ),
    check(
        "jobs",
        "jobs_status_check",
        &["status"],
        "{status} IN ('queued', 'running', 'done', 'failed')",
        false,
    ),
    // NULL while the session runs; at most the 4-hour cap.
    check(
        "study_sessions",
        "study_sessions_duration_seconds_check",
        &["duration_seconds"],
        "{duration_seconds} BETWEEN 0 AND 14400",
        true,
    ),
    check(
        "study_sessions",
        "study_sessions_xp_awarded_check",
        &["xp_awarded"],
        "{xp_awarded} >= 0",
        true,
    ),
    check(
        "achievements",
        "achievements_criteria_value_check",
        &["criteria_value"],
        "{criteria_value} >= 1",
        true,
    ),
    check(
        "achievements",
        "achievements_xp_reward_check",
        &["xp_reward"],
        "{xp_reward} BETWEEN 0 AND 1000",
        true,
    ),
    check(
        "user_streaks",
        "user_streaks_current_streak_check",
        &["current_streak"],
        "{current_streak} >= 0",
        true,
    ),
    check(
        "user_streaks",
        "user_streaks_longest_streak_check",
        &["longest_streak"],
        "{longest_streak} >= 0",
        true,
    ),
];

impl Check {
    /// The condition with each column written as `prefix` + column (`NEW.` in a trigger),
    /// read as a number on SQLite when the check is numeric.
    fn render(&self, backend: DbBackend, prefix: &str) -> String {
        let mut sql = self.condition.to_string();
        for column in self.columns {
            let reference = match backend {
                DbBackend::Sqlite if self.numeric => format!("CAST({prefix}{column} AS NUMERIC)"),
                _ => format!("{prefix}{column}"),
            };
            sql = sql.replace(&format!("{{{column}}}"), &reference);
        }
        sql
    }

    /// The statements that add the check.
    fn add(&self, backend: DbBackend) -> Vec<String> {
        match backend {
            DbBackend::Sqlite => {
                let condition = self.render(backend, "NEW.");
                let abort = format!(
                    "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {}'); END",
                    self.name
                );
                vec![
                    format!(
                        "CREATE TRIGGER {name}_insert BEFORE INSERT ON {table} FOR EACH ROW \
                         WHEN NOT ({condition}) {abort}",
                        name = self.name,
                        table = self.table,
                    ),
                    format!(
                        "CREATE TRIGGER {name}_update BEFORE UPDATE OF {columns} ON {table} \
                         FOR EACH ROW WHEN NOT ({condition}) {abort}",
                        name = self.name,
                        table = self.table,
                        columns = self.columns.join(", "),
                    ),
                ]
            }
            _ => vec![format!(
                "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({})",
                self.table,
                self.name,
                self.render(backend, "")
            )],
        }
    }

    /// The statements that remove it.
    fn drop(&self, backend: DbBackend) -> Vec<String> {
        match backend {
            DbBackend::Sqlite => vec![
                format!("DROP TRIGGER IF EXISTS {}_insert", self.name),
                format!("DROP TRIGGER IF EXISTS {}_update", self.name),
            ],
            _ => vec![format!(
                "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}",
                self.table, self.name
            )],
        }
    }
}

async fn exec(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}

/// How many rows of its table break `check` now.
async fn breaking_rows(manager: &SchemaManager<'_>, check: &Check) -> Result<i64, DbErr> {
    let conn = manager.get_connection();
    let backend = manager.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE NOT ({})",
        check.table,
        check.render(backend, "")
    );
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("counting rows of {}", check.table)))?;
    row.try_get("", "n")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut broken = Vec::new();
        for check in CHECKS {
            let n = breaking_rows(manager, check).await?;
            if n > 0 {
                broken.push(format!(
                    "{}: {n} row(s) break {} ({})",
                    check.table,
                    check.name,
                    check.render(backend, "")
                ));
            }
        }
        if !broken.is_empty() {
            return Err(DbErr::Migration(format!(
                "m20261126_000008_checks: existing rows break the new CHECK constraints; correct \
                 or delete them, then migrate again:\n  - {}",
                broken.join("\n  - ")
            )));
        }
        for check in CHECKS {
            for sql in check.add(backend) {
                exec(manager, &sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for check in CHECKS.iter().rev() {
            for sql in check.drop(backend) {
                exec(manager, &sql).await?;
            }
        }
        Ok(())
    }
}
