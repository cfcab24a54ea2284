//! The AI features: tutor chats, usage accounting, quizzes and uploaded materials (SPEC §2, §3).
//!
//! - `doubt_sessions`, `doubt_messages`: tutor conversations; `citations` is added so an answer
//!   can point at the lesson or material chunks it drew on.
//! - `ai_usage_logs`: every provider call with its tokens and cost in millionths of a USD
//!   (integer, never a float), for quotas and the admin's cost report.
//! - `quizzes`, `quiz_questions`, `quiz_attempts`: hand-written and generated quizzes;
//!   `owner_id` marks a generated quiz private to the student who asked for it.
//! - `materials`, `material_chunks`: uploads and their extracted chunks. `processing_error`
//!   says why a file failed; `chunk_index` is the chunk's position (unique per material);
//!   `embedding_vector` is little-endian f32s with its model and dimension recorded, portable
//!   to both backends (pgvector is not assumed).

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
                    .table("doubt_sessions")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(uuid_null("topic_id"))
                    .col(string("title"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "doubt_sessions",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "doubt_sessions",
                        "topic_id",
                        "topics",
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "doubt_sessions_user_created_idx",
            "doubt_sessions",
            &["user_id", "created_at"],
        )
        .await?;
        index(
            manager,
            "doubt_sessions_topic_id_idx",
            "doubt_sessions",
            &["topic_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("doubt_messages")
                    .col(id())
                    .col(uuid("session_id"))
                    .col(string("role"))
                    .col(text("content"))
                    .col(json_binary_null("citations"))
                    .col(integer_null("tokens_used"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "doubt_messages",
                        "session_id",
                        "doubt_sessions",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "doubt_messages_session_created_idx",
            "doubt_messages",
            &["session_id", "created_at"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("ai_usage_logs")
                    .col(id())
                    .col(uuid_null("user_id"))
                    .col(string("feature"))
                    .col(string("model"))
                    .col(integer("prompt_tokens"))
                    .col(integer("completion_tokens"))
                    .col(integer("total_tokens"))
                    .col(big_integer("estimated_cost_micros"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "ai_usage_logs",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ai_usage_logs_user_created_idx",
            "ai_usage_logs",
            &["user_id", "created_at"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("quizzes")
                    .col(id())
                    .col(uuid("topic_id"))
                    .col(uuid_null("created_by"))
                    .col(uuid_null("owner_id"))
                    .col(string("title"))
                    .col(text_null("description"))
                    .col(string_null("difficulty"))
                    .col(string("source"))
                    .col(boolean("is_ai_generated").default(false))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "quizzes",
                        "topic_id",
                        "topics",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "quizzes",
                        "created_by",
                        "users",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "quizzes",
                        "owner_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "quizzes_topic_id_idx", "quizzes", &["topic_id"]).await?;
        index(
            manager,
            "quizzes_created_by_idx",
            "quizzes",
            &["created_by"],
        )
        .await?;
        index(manager, "quizzes_owner_id_idx", "quizzes", &["owner_id"]).await?;

        manager
            .create_table(
                Table::create()
                    .table("quiz_questions")
                    .col(id())
                    .col(uuid("quiz_id"))
                    .col(text("question_text"))
                    .col(string("question_type"))
                    .col(json_binary("options"))
                    .col(text("correct_answer"))
                    .col(text_null("explanation"))
                    .col(integer("order_index"))
                    .foreign_key(&mut fk(
                        "quiz_questions",
                        "quiz_id",
                        "quizzes",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "quiz_questions_quiz_id_idx",
            "quiz_questions",
            &["quiz_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("quiz_attempts")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(uuid("quiz_id"))
                    .col(json_binary("answers"))
                    .col(integer("score"))
                    .col(integer("correct_count"))
                    .col(integer("total_questions"))
                    .col(integer("xp_awarded").default(0))
                    .col(timestamp_with_time_zone_null("started_at"))
                    .col(timestamp_with_time_zone("completed_at"))
                    .foreign_key(&mut fk(
                        "quiz_attempts",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "quiz_attempts",
                        "quiz_id",
                        "quizzes",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "quiz_attempts_user_quiz_idx",
            "quiz_attempts",
            &["user_id", "quiz_id"],
        )
        .await?;
        index(
            manager,
            "quiz_attempts_quiz_id_idx",
            "quiz_attempts",
            &["quiz_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("materials")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(uuid_null("topic_id"))
                    .col(string("title"))
                    .col(string("file_name"))
                    .col(string("file_type"))
                    .col(big_integer("file_size"))
                    .col(string("storage_key"))
                    .col(string("processing_status"))
                    .col(text_null("processing_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .index(&mut unique("materials_storage_key_key", &["storage_key"]))
                    .foreign_key(&mut fk(
                        "materials",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "materials",
                        "topic_id",
                        "topics",
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "materials_user_created_idx",
            "materials",
            &["user_id", "created_at"],
        )
        .await?;
        index(
            manager,
            "materials_topic_id_idx",
            "materials",
            &["topic_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("material_chunks")
                    .col(id())
                    .col(uuid("material_id"))
                    .col(integer("chunk_index"))
                    .col(text("content"))
                    .col(integer("token_count"))
                    .col(blob_null("embedding_vector"))
                    .col(string_null("embedding_model"))
                    .col(integer_null("embedding_dim"))
                    .col(timestamp_with_time_zone("created_at"))
                    .index(&mut unique(
                        "material_chunks_material_chunk_key",
                        &["material_id", "chunk_index"],
                    ))
                    .foreign_key(&mut fk(
                        "material_chunks",
                        "material_id",
                        "materials",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "material_chunks",
                "materials",
                "quiz_attempts",
                "quiz_questions",
                "quizzes",
                "ai_usage_logs",
                "doubt_messages",
                "doubt_sessions",
            ],
        )
        .await
    }
}
