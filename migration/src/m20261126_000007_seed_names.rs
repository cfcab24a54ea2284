//! The seed's names, types and meanings (SPEC §2, docs/seed-schema.md), with every row kept.
//!
//! Earlier migrations had renamed, retyped, moved or left out 27 of the seed's columns. Reports
//! and admin tools written against the seed design read these tables by the seed's names, so
//! this migration puts each seed column back under its own name:
//!
//! - `users`: `auth_provider` ("email" or "google") is added; `email_verified` becomes
//!   `is_verified`; `full_name` moves to `user_profiles`, where the seed keeps it (a user
//!   without a profile row gets one first, so no name is lost).
//! - `user_profiles`: `full_name`, `primary_goal`, `study_preference`, `onboarding_completed`.
//! - `topics.difficulty_level` becomes an integer on a 1–5 scale (1 beginner, 3 intermediate,
//!   5 advanced; 2 and 4 lie between), converted from the words used before.
//! - `lessons.duration_minutes` → `estimated_duration_minutes`.
//! - `lesson_progress.status` → `completed` boolean; a row exists only once a lesson is started
//!   or completed, and `completed_at` says when.
//! - `study_sessions.xp_awarded`: the XP the session earned, filled from its `xp_logs` row.
//! - `user_streaks`: `user_id` is the primary key (one row per user; the surrogate id goes).
//! - `doubt_messages`: `session_id` → `doubt_session_id`, `content` → `message_text`.
//! - `ai_usage_logs`: `feature` → `feature_type` with the seed's values (tutor → doubt,
//!   quiz_generation → quiz, embedding → material), `model` → `model_name`,
//!   `estimated_cost_micros` → `estimated_cost` in US dollars, exact (NUMERIC(14,6) on
//!   PostgreSQL; on SQLite the canonical decimal text, since SQLite's numeric affinity would
//!   turn it into a binary float), `status` → `request_status`; an index on `created_at` beside
//!   the (user_id, created_at) one that already serves `user_id`.
//! - `quizzes.is_ai_generated` → `generated_by_ai`.
//! - `quiz_attempts.score` (integer) → `score_percentage` NUMERIC(5,2), so 2 of 3 is 66.67.
//! - `materials`: `storage_key` → `s3_url` (the object's location in whichever store),
//!   `file_type` → `content_type`, `created_at` → `uploaded_at`.
//! - `material_chunks.content` → `chunk_text`.
//! - `topic_progress`: `updated_at` → `last_updated`; `mastery_score` NUMERIC(5,2).
//! - `xp_logs.source_type` takes the seed's values: study_session → study, quiz_attempt and
//!   quiz_perfect → quiz (the attempt's XP references the attempt, the perfect-score bonus the
//!   quiz, so the unique (user, source, reference) key still tells them apart). `achievement`
//!   stays: an achievement's reward is none of quiz, lesson, doubt or study, and folding it
//!   into one of them would make that source's sum lie.
//! - `achievements`: `name` → `title`, `icon` → `badge_icon`. On PostgreSQL the unique
//!   constraints follow their columns' names (`achievements_title_key`, `materials_s3_url_key`);
//!   SQLite names no constraint objects.
//! - `leaderboard_cache`: the seed's shape, one row per `period_type` and period with the
//!   precomputed top 100 in `ranking_data`. The old per-user rows were a cache, rebuilt by the
//!   refresh, so they are not carried over.
//! - `user_recommendations`: `priority` → `priority_score`, `created_at` → `generated_at`.
//! - `subscriptions`: a user's subscription history, so `user_id` is no longer unique; a
//!   partial unique index keeps at most one current (active, trialing or past_due) per user.
//!
//! Renames are `ALTER TABLE … RENAME COLUMN` on both backends; type changes add the new
//! column, copy, drop the old one and rename. Two changes need a table rebuild on SQLite, which
//! can neither change a primary key nor drop a table constraint in place: `user_streaks` and
//! `subscriptions` (with `payments`, which references it). The migration runs in one
//! transaction on both backends, so it applies whole or not at all.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::common::{fk, index, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Plain renames: (table, before, seed name).
const RENAMES: &[(&str, &str, &str)] = &[
    ("users", "email_verified", "is_verified"),
    ("lessons", "duration_minutes", "estimated_duration_minutes"),
    ("doubt_messages", "session_id", "doubt_session_id"),
    ("doubt_messages", "content", "message_text"),
    ("ai_usage_logs", "feature", "feature_type"),
    ("ai_usage_logs", "model", "model_name"),
    ("ai_usage_logs", "status", "request_status"),
    ("quizzes", "is_ai_generated", "generated_by_ai"),
    ("materials", "storage_key", "s3_url"),
    ("materials", "file_type", "content_type"),
    ("materials", "created_at", "uploaded_at"),
    ("material_chunks", "content", "chunk_text"),
    ("topic_progress", "updated_at", "last_updated"),
    ("achievements", "name", "title"),
    ("achievements", "icon", "badge_icon"),
    ("user_recommendations", "priority", "priority_score"),
    ("user_recommendations", "created_at", "generated_at"),
];

/// Value renames: (table, column, before, seed value).
const VALUES: &[(&str, &str, &str, &str)] = &[
    ("ai_usage_logs", "feature_type", "tutor", "doubt"),
    ("ai_usage_logs", "feature_type", "quiz_generation", "quiz"),
    ("ai_usage_logs", "feature_type", "embedding", "material"),
    ("xp_logs", "source_type", "study_session", "study"),
    ("xp_logs", "source_type", "quiz_attempt", "quiz"),
];

/// The words `topics.difficulty_level` held before, and their place on the 1–5 scale.
const DIFFICULTY: &[(&str, i32)] = &[("beginner", 1), ("intermediate", 3), ("advanced", 5)];

async fn exec(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}

async fn rename(
    manager: &SchemaManager<'_>,
    table: &str,
    from: &str,
    to: &str,
) -> Result<(), DbErr> {
    exec(
        manager,
        &format!("ALTER TABLE {table} RENAME COLUMN {from} TO {to}"),
    )
    .await
}

async fn add(
    manager: &SchemaManager<'_>,
    table: &'static str,
    column: &mut ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).take())
        .await
}

async fn drop_column(manager: &SchemaManager<'_>, table: &str, column: &str) -> Result<(), DbErr> {
    exec(
        manager,
        &format!("ALTER TABLE {table} DROP COLUMN {column}"),
    )
    .await
}

/// Replaces `table.column` by `new` (declared under the temporary name `column_next`), filled
/// from the old column by the SQL expression `copy`, which reads the old column by its name.
async fn retype(
    manager: &SchemaManager<'_>,
    table: &'static str,
    column: &str,
    new: &mut ColumnDef,
    copy: &str,
) -> Result<(), DbErr> {
    let next = format!("{column}_next");
    add(manager, table, new).await?;
    exec(manager, &format!("UPDATE {table} SET {next} = {copy}")).await?;
    drop_column(manager, table, column).await?;
    rename(manager, table, &next, column).await
}

/// An exact decimal column: NUMERIC(p, s) on PostgreSQL. On SQLite `NUMERIC` for percentages
/// (values within a double's exact range), or `TEXT` where `as_text` asks for the decimal
/// string to be kept as written (money).
fn exact(backend: DbBackend, name: String, precision: u32, scale: u32, as_text: bool) -> ColumnDef {
    let mut column = ColumnDef::new(Alias::new(name));
    match backend {
        DbBackend::Sqlite if as_text => column.custom(Alias::new("TEXT")),
        DbBackend::Sqlite => column.custom(Alias::new("NUMERIC")),
        _ => column.decimal_len(precision, scale),
    };
    column.not_null().default(0).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for (table, from, to) in RENAMES {
            rename(manager, table, from, to).await?;
        }
        for (table, column, from, to) in VALUES {
            exec(
                manager,
                &format!("UPDATE {table} SET {column} = '{to}' WHERE {column} = '{from}'"),
            )
            .await?;
        }
        exec(
            manager,
            "UPDATE xp_logs SET source_type = 'quiz' WHERE source_type = 'quiz_perfect'",
        )
        .await?;

        // users and user_profiles.
        add(manager, "users", string("auth_provider").default("email")).await?;
        exec(manager, "UPDATE users SET auth_provider = 'google' WHERE google_id IS NOT NULL AND password_hash IS NULL").await?;
        add(manager, "user_profiles", string("full_name").default("")).await?;
        add(manager, "user_profiles", &mut string_null("primary_goal")).await?;
        add(
            manager,
            "user_profiles",
            &mut string_null("study_preference"),
        )
        .await?;
        add(
            manager,
            "user_profiles",
            boolean("onboarding_completed").default(false),
        )
        .await?;
        // Every user gets a profile to hold the name (sign-up always made one; be sure).
        let new_id = match backend {
            DbBackend::Sqlite => "randomblob(16)",
            _ => "gen_random_uuid()",
        };
        exec(
            manager,
            &format!(
                "INSERT INTO user_profiles (id, user_id, created_at, updated_at) \
                 SELECT {new_id}, u.id, u.created_at, u.created_at FROM users u \
                 WHERE NOT EXISTS (SELECT 1 FROM user_profiles p WHERE p.user_id = u.id)"
            ),
        )
        .await?;
        exec(manager, "UPDATE user_profiles SET full_name = (SELECT u.full_name FROM users u WHERE u.id = user_profiles.user_id)").await?;
        drop_column(manager, "users", "full_name").await?;

        // topics.difficulty_level: words → 1–5.
        let cases: String = DIFFICULTY
            .iter()
            .map(|(word, level)| format!(" WHEN '{word}' THEN {level}"))
            .collect();
        retype(
            manager,
            "topics",
            "difficulty_level",
            &mut integer_null("difficulty_level_next"),
            &format!("CASE lower(difficulty_level){cases} ELSE NULL END"),
        )
        .await?;

        // lesson_progress.status → completed.
        retype(
            manager,
            "lesson_progress",
            "status",
            boolean("status_next").default(false),
            "status = 'completed'",
        )
        .await?;
        rename(manager, "lesson_progress", "status", "completed").await?;

        // study_sessions.xp_awarded, from the session's award.
        add(manager, "study_sessions", integer("xp_awarded").default(0)).await?;
        exec(manager, "UPDATE study_sessions SET xp_awarded = COALESCE((SELECT SUM(x.xp_amount) FROM xp_logs x WHERE x.user_id = study_sessions.user_id AND x.source_type = 'study' AND x.reference_id = study_sessions.id), 0)").await?;

        // ai_usage_logs.estimated_cost in dollars, exact.
        let micros_to_dollars = match backend {
            DbBackend::Sqlite => {
                "printf('%d.%06d', estimated_cost_micros / 1000000, estimated_cost_micros % 1000000)"
            }
            _ => "estimated_cost_micros::numeric / 1000000",
        };
        add(
            manager,
            "ai_usage_logs",
            &mut exact(backend, "estimated_cost".into(), 14, 6, true),
        )
        .await?;
        exec(
            manager,
            &format!("UPDATE ai_usage_logs SET estimated_cost = {micros_to_dollars}"),
        )
        .await?;
        drop_column(manager, "ai_usage_logs", "estimated_cost_micros").await?;
        index(
            manager,
            "ai_usage_logs_created_at_idx",
            "ai_usage_logs",
            &["created_at"],
        )
        .await?;

        // Percentages as exact decimals.
        retype(
            manager,
            "quiz_attempts",
            "score",
            &mut exact(backend, "score_next".into(), 5, 2, false),
            "score",
        )
        .await?;
        rename(manager, "quiz_attempts", "score", "score_percentage").await?;
        retype(
            manager,
            "topic_progress",
            "mastery_score",
            &mut exact(backend, "mastery_score_next".into(), 5, 2, false),
            "ROUND(CAST(mastery_score AS NUMERIC), 2)",
        )
        .await?;

        // leaderboard_cache in the seed's shape (its rows are a cache; the refresh rebuilds them).
        exec(manager, "DROP TABLE leaderboard_cache").await?;
        manager
            .create_table(
                Table::create()
                    .table("leaderboard_cache")
                    .col(pk_uuid("id"))
                    .col(string("period_type"))
                    .col(date("period_start"))
                    .col(json_binary("ranking_data"))
                    .col(timestamp_with_time_zone("generated_at"))
                    .index(&mut unique(
                        "leaderboard_cache_period_key",
                        &["period_type", "period_start"],
                    ))
                    .take(),
            )
            .await?;

        match backend {
            DbBackend::Sqlite => {
                rebuild_user_streaks_sqlite(manager, true).await?;
                rebuild_subscriptions_sqlite(manager, false).await?;
            }
            _ => {
                for sql in [
                    "ALTER TABLE user_streaks DROP CONSTRAINT user_streaks_pkey",
                    "ALTER TABLE user_streaks DROP CONSTRAINT user_streaks_user_id_key",
                    "ALTER TABLE user_streaks DROP COLUMN id",
                    "ALTER TABLE user_streaks ADD CONSTRAINT user_streaks_pkey PRIMARY KEY (user_id)",
                    "ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_user_id_key",
                    "ALTER TABLE achievements RENAME CONSTRAINT achievements_name_key TO achievements_title_key",
                    "ALTER TABLE materials RENAME CONSTRAINT materials_storage_key_key TO materials_s3_url_key",
                ] {
                    exec(manager, sql).await?;
                }
            }
        }
        index(
            manager,
            "subscriptions_user_id_idx",
            "subscriptions",
            &["user_id"],
        )
        .await?;
        one_current_subscription(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        exec(manager, "DROP INDEX subscriptions_one_current_key").await?;
        exec(manager, "DROP INDEX subscriptions_user_id_idx").await?;
        match backend {
            DbBackend::Sqlite => {
                rebuild_subscriptions_sqlite(manager, true).await?;
                rebuild_user_streaks_sqlite(manager, false).await?;
            }
            _ => {
                for sql in [
                    "ALTER TABLE achievements RENAME CONSTRAINT achievements_title_key TO achievements_name_key",
                    "ALTER TABLE materials RENAME CONSTRAINT materials_s3_url_key TO materials_storage_key_key",
                    "ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_user_id_key UNIQUE (user_id)",
                    "ALTER TABLE user_streaks DROP CONSTRAINT user_streaks_pkey",
                    "ALTER TABLE user_streaks ADD COLUMN id uuid",
                    "UPDATE user_streaks SET id = gen_random_uuid()",
                    "ALTER TABLE user_streaks ALTER COLUMN id SET NOT NULL",
                    "ALTER TABLE user_streaks ADD CONSTRAINT user_streaks_pkey PRIMARY KEY (id)",
                    "ALTER TABLE user_streaks ADD CONSTRAINT user_streaks_user_id_key UNIQUE (user_id)",
                ] {
                    exec(manager, sql).await?;
                }
            }
        }

        exec(manager, "DROP TABLE leaderboard_cache").await?;
        manager
            .create_table(
                Table::create()
                    .table("leaderboard_cache")
                    .col(pk_uuid("id"))
                    .col(uuid("user_id"))
                    .col(string("period_type"))
                    .col(date("period_start"))
                    .col(big_integer("xp"))
                    .col(integer("rank"))
                    .col(timestamp_with_time_zone("generated_at"))
                    .index(&mut unique(
                        "leaderboard_cache_period_user_key",
                        &["period_type", "period_start", "user_id"],
                    ))
                    .foreign_key(&mut fk(
                        "leaderboard_cache",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "leaderboard_cache_user_id_idx",
            "leaderboard_cache",
            &["user_id"],
        )
        .await?;

        retype(
            manager,
            "topic_progress",
            "mastery_score",
            double("mastery_score_next").default(0.0),
            "mastery_score",
        )
        .await?;
        rename(manager, "quiz_attempts", "score_percentage", "score").await?;
        retype(
            manager,
            "quiz_attempts",
            "score",
            integer("score_next").default(0),
            "CAST(ROUND(score) AS INTEGER)",
        )
        .await?;

        exec(manager, "DROP INDEX ai_usage_logs_created_at_idx").await?;
        let dollars_to_micros = match backend {
            DbBackend::Sqlite => "CAST(ROUND(CAST(estimated_cost AS REAL) * 1000000) AS INTEGER)",
            _ => "CAST(estimated_cost * 1000000 AS BIGINT)",
        };
        add(
            manager,
            "ai_usage_logs",
            big_integer("estimated_cost_micros").default(0),
        )
        .await?;
        exec(
            manager,
            &format!("UPDATE ai_usage_logs SET estimated_cost_micros = {dollars_to_micros}"),
        )
        .await?;
        drop_column(manager, "ai_usage_logs", "estimated_cost").await?;

        drop_column(manager, "study_sessions", "xp_awarded").await?;

        rename(manager, "lesson_progress", "completed", "status").await?;
        retype(
            manager,
            "lesson_progress",
            "status",
            string("status_next").default("in_progress"),
            "CASE WHEN status THEN 'completed' ELSE 'in_progress' END",
        )
        .await?;

        let cases: String = DIFFICULTY
            .iter()
            .map(|(word, level)| format!(" WHEN {level} THEN '{word}'"))
            .collect();
        retype(
            manager,
            "topics",
            "difficulty_level",
            &mut string_null("difficulty_level_next"),
            &format!("CASE difficulty_level{cases} ELSE NULL END"),
        )
        .await?;

        add(manager, "users", string("full_name").default("")).await?;
        exec(manager, "UPDATE users SET full_name = COALESCE((SELECT p.full_name FROM user_profiles p WHERE p.user_id = users.id), '')").await?;
        for column in [
            "onboarding_completed",
            "study_preference",
            "primary_goal",
            "full_name",
        ] {
            drop_column(manager, "user_profiles", column).await?;
        }
        drop_column(manager, "users", "auth_provider").await?;

        exec(
            manager,
            "UPDATE xp_logs SET source_type = 'quiz_attempt' WHERE source_type = 'quiz'",
        )
        .await?;
        for (table, column, from, to) in VALUES {
            if *table != "xp_logs" || *from != "quiz_attempt" {
                exec(
                    manager,
                    &format!("UPDATE {table} SET {column} = '{from}' WHERE {column} = '{to}'"),
                )
                .await?;
            }
        }
        for (table, from, to) in RENAMES.iter().rev() {
            rename(manager, table, to, from).await?;
        }
        Ok(())
    }
}

/// At most one current subscription per user; ended ones are its history.
async fn one_current_subscription(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .name("subscriptions_one_current_key")
                .table("subscriptions")
                .col("user_id")
                .unique()
                .and_where(Expr::col("status").is_in(["active", "trialing", "past_due"]))
                .take(),
        )
        .await
}

/// SQLite: rebuilds `user_streaks` keyed by `user_id` (`by_user`), or back with a surrogate id.
async fn rebuild_user_streaks_sqlite(
    manager: &SchemaManager<'_>,
    by_user: bool,
) -> Result<(), DbErr> {
    let mut table = Table::create();
    table.table("user_streaks_next");
    if by_user {
        table.col(uuid("user_id").primary_key());
    } else {
        table
            .col(pk_uuid("id"))
            .col(uuid("user_id"))
            .index(&mut unique("user_streaks_user_id_key", &["user_id"]));
    }
    table
        .col(integer("current_streak").default(0))
        .col(integer("longest_streak").default(0))
        .col(date_null("last_study_date"))
        .col(timestamp_with_time_zone("updated_at"))
        .foreign_key(&mut fk(
            "user_streaks_next",
            "user_id",
            "users",
            ForeignKeyAction::Cascade,
        ));
    manager.create_table(table.take()).await?;
    let columns = "user_id, current_streak, longest_streak, last_study_date, updated_at";
    if by_user {
        exec(
            manager,
            &format!(
                "INSERT INTO user_streaks_next ({columns}) SELECT {columns} FROM user_streaks"
            ),
        )
        .await?;
    } else {
        // A fresh surrogate id per row (SeaORM keeps UUIDs as 16-byte blobs on SQLite).
        exec(manager, &format!("INSERT INTO user_streaks_next (id, {columns}) SELECT randomblob(16), {columns} FROM user_streaks")).await?;
    }
    exec(manager, "DROP TABLE user_streaks").await?;
    exec(
        manager,
        "ALTER TABLE user_streaks_next RENAME TO user_streaks",
    )
    .await
}

/// SQLite: rebuilds `subscriptions` with or without the unique `user_id`, and `payments`, whose
/// foreign key must follow it. The children go first, so no cascade fires on the old rows.
async fn rebuild_subscriptions_sqlite(
    manager: &SchemaManager<'_>,
    unique_user: bool,
) -> Result<(), DbErr> {
    let mut subscriptions = Table::create();
    subscriptions
        .table("subscriptions_next")
        .col(pk_uuid("id"))
        .col(uuid("user_id"))
        .col(string("plan"))
        .col(string("status"))
        .col(string("provider"))
        .col(string_null("provider_customer_id"))
        .col(string_null("provider_subscription_id"))
        .col(timestamp_with_time_zone_null("current_period_start"))
        .col(timestamp_with_time_zone_null("current_period_end"))
        .col(timestamp_with_time_zone("created_at"))
        .col(timestamp_with_time_zone("updated_at"))
        .index(&mut unique(
            "subscriptions_provider_subscription_id_key",
            &["provider_subscription_id"],
        ))
        .foreign_key(&mut fk(
            "subscriptions_next",
            "user_id",
            "users",
            ForeignKeyAction::Cascade,
        ));
    if unique_user {
        subscriptions.index(&mut unique("subscriptions_user_id_key", &["user_id"]));
    }
    manager.create_table(subscriptions.take()).await?;
    manager
        .create_table(
            Table::create()
                .table("payments_next")
                .col(pk_uuid("id"))
                .col(uuid("user_id"))
                .col(uuid_null("subscription_id"))
                .col(big_integer("amount"))
                .col(string("currency"))
                .col(string("status"))
                .col(string("provider_payment_id"))
                .col(timestamp_with_time_zone("created_at"))
                .index(&mut unique(
                    "payments_provider_payment_id_key",
                    &["provider_payment_id"],
                ))
                .foreign_key(&mut fk(
                    "payments_next",
                    "user_id",
                    "users",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "payments_next",
                    "subscription_id",
                    "subscriptions_next",
                    ForeignKeyAction::SetNull,
                ))
                .take(),
        )
        .await?;
    exec(manager, "INSERT INTO subscriptions_next SELECT id, user_id, plan, status, provider, provider_customer_id, provider_subscription_id, current_period_start, current_period_end, created_at, updated_at FROM subscriptions").await?;
    exec(manager, "INSERT INTO payments_next SELECT id, user_id, subscription_id, amount, currency, status, provider_payment_id, created_at FROM payments").await?;
    exec(manager, "DROP TABLE payments").await?;
    exec(manager, "DROP TABLE subscriptions").await?;
    // Renaming a table rewrites the foreign keys that name it (SQLite ≥ 3.26).
    exec(
        manager,
        "ALTER TABLE subscriptions_next RENAME TO subscriptions",
    )
    .await?;
    exec(manager, "ALTER TABLE payments_next RENAME TO payments").await?;
    index(manager, "payments_user_id_idx", "payments", &["user_id"]).await?;
    index(
        manager,
        "payments_subscription_id_idx",
        "payments",
        &["subscription_id"],
    )
    .await
}
