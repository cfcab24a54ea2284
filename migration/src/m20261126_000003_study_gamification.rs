//! Study time and what it earns (SPEC §2, §3 Streaks, XP, Achievements, Mastery).
//!
//! - `study_sessions`: a user has at most one open session (`ended_at IS NULL`), enforced by a
//!   partial unique index so two parallel "start" requests cannot both succeed.
//! - `user_streaks`: one row per user.
//! - `xp_logs`: every XP award once: unique (user, source_type, reference_id) makes a repeated
//!   award a no-op (rows without a reference are not constrained, NULLs being distinct).
//! - `achievements`, `user_achievements`: definitions, and each unlocked once per user.
//! - `topic_progress`: the mastery model's state, one row per (user, topic).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{drop_tables, fk, id, index, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("study_sessions")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(uuid_null("subject_id"))
                    .col(uuid_null("topic_id"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .col(integer_null("duration_seconds"))
                    .col(text_null("notes"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "study_sessions",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "study_sessions",
                        "subject_id",
                        "subjects",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "study_sessions",
                        "topic_id",
                        "topics",
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "study_sessions_user_started_idx",
            "study_sessions",
            &["user_id", "started_at"],
        )
        .await?;
        index(
            manager,
            "study_sessions_subject_id_idx",
            "study_sessions",
            &["subject_id"],
        )
        .await?;
        index(
            manager,
            "study_sessions_topic_id_idx",
            "study_sessions",
            &["topic_id"],
        )
        .await?;
        // Same syntax on both backends, so the builder serves; no per-backend SQL needed.
        manager
            .create_index(
                Index::create()
                    .name("study_sessions_one_open_key")
                    .table("study_sessions")
                    .col("user_id")
                    .unique()
                    .and_where(Expr::col("ended_at").is_null())
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("user_streaks")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(integer("current_streak").default(0))
                    .col(integer("longest_streak").default(0))
                    .col(date_null("last_study_date"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .index(&mut unique("user_streaks_user_id_key", &["user_id"]))
                    .foreign_key(&mut fk(
                        "user_streaks",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("xp_logs")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(integer("xp_amount"))
                    .col(string("source_type"))
                    .col(uuid_null("reference_id"))
                    .col(text_null("description"))
                    .col(timestamp_with_time_zone("created_at"))
                    .index(&mut unique(
                        "xp_logs_user_source_ref_key",
                        &["user_id", "source_type", "reference_id"],
                    ))
                    .foreign_key(&mut fk(
                        "xp_logs",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "xp_logs_user_created_idx",
            "xp_logs",
            &["user_id", "created_at"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("achievements")
                    .col(id())
                    .col(string("name"))
                    .col(text("description"))
                    .col(string_null("icon"))
                    .col(string("criteria_type"))
                    .col(integer("criteria_value"))
                    .col(integer("xp_reward").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .index(&mut unique("achievements_name_key", &["name"]))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("user_achievements")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(uuid("achievement_id"))
                    .col(timestamp_with_time_zone("unlocked_at"))
                    .index(&mut unique(
                        "user_achievements_user_achievement_key",
                        &["user_id", "achievement_id"],
                    ))
                    .foreign_key(&mut fk(
                        "user_achievements",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "user_achievements",
                        "achievement_id",
                        "achievements",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "user_achievements_achievement_id_idx",
            "user_achievements",
            &["achievement_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("topic_progress")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(uuid("topic_id"))
                    .col(double("mastery_score"))
                    .col(integer("lessons_completed").default(0))
                    .col(integer("quizzes_taken").default(0))
                    .col(timestamp_with_time_zone_null("last_practiced_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .index(&mut unique(
                        "topic_progress_user_topic_key",
                        &["user_id", "topic_id"],
                    ))
                    .foreign_key(&mut fk(
                        "topic_progress",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "topic_progress",
                        "topic_id",
                        "topics",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "topic_progress_topic_id_idx",
            "topic_progress",
            &["topic_id"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "topic_progress",
                "user_achievements",
                "achievements",
                "xp_logs",
                "user_streaks",
                "study_sessions",
            ],
        )
        .await
    }
}
