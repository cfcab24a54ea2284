//! Content: the catalogue students study, and how far each student has got (SPEC §2).
//!
//! `subjects` → `topics` → `lessons` are the seed's tables. Deleting a subject or topic that
//! still has children is refused (ON DELETE RESTRICT): the admin API cascades only when asked,
//! and explicitly. `lesson_progress` is one row per (user, lesson), so completing a lesson twice
//! cannot count twice.

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
                    .table("subjects")
                    .col(id())
                    .col(string("name"))
                    .col(text_null("description"))
                    .col(string_null("icon"))
                    .col(string_null("color"))
                    .col(integer("order_index").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .index(&mut unique("subjects_name_key", &["name"]))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("topics")
                    .col(id())
                    .col(uuid("subject_id"))
                    .col(string("name"))
                    .col(text_null("description"))
                    .col(integer("order_index").default(0))
                    .col(string_null("difficulty_level"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .index(&mut unique(
                        "topics_subject_name_key",
                        &["subject_id", "name"],
                    ))
                    .foreign_key(&mut fk(
                        "topics",
                        "subject_id",
                        "subjects",
                        ForeignKeyAction::Restrict,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "topics_subject_id_idx", "topics", &["subject_id"]).await?;

        manager
            .create_table(
                Table::create()
                    .table("lessons")
                    .col(id())
                    .col(uuid("topic_id"))
                    .col(string("title"))
                    .col(text("content"))
                    .col(string("content_type"))
                    .col(string_null("content_url"))
                    .col(integer("order_index").default(0))
                    .col(integer_null("duration_minutes"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "lessons",
                        "topic_id",
                        "topics",
                        ForeignKeyAction::Restrict,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "lessons_topic_id_idx", "lessons", &["topic_id"]).await?;

        manager
            .create_table(
                Table::create()
                    .table("lesson_progress")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(uuid("lesson_id"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone_null("completed_at"))
                    .col(integer("time_spent_seconds").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .index(&mut unique(
                        "lesson_progress_user_lesson_key",
                        &["user_id", "lesson_id"],
                    ))
                    .foreign_key(&mut fk(
                        "lesson_progress",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "lesson_progress",
                        "lesson_id",
                        "lessons",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "lesson_progress_lesson_id_idx",
            "lesson_progress",
            &["lesson_id"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["lesson_progress", "lessons", "topics", "subjects"],
        )
        .await
    }
}
