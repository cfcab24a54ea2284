//! Lesson passages and their full-text index: the tutor answers from the student's own lessons
//! (SPEC §3 "AI tutor"), citing the passage it used, so each lesson is split into passages of a
//! paragraph or few (the application writes them; see `src/tutor/retrieval.rs`) and the
//! passages are indexed for ranked full-text search. A passage belongs to its lesson and goes
//! with it (ON DELETE CASCADE), so no path that deletes lessons can leave one behind.
//!
//! The index is where the two backends genuinely differ:
//! - PostgreSQL: a generated `search_vector` column (`to_tsvector('english', heading || text)`,
//!   always in step with the row) and a GIN index on it.
//! - SQLite: an FTS5 table `lesson_passages_fts` (Porter stemming) holding a copy of each
//!   passage's heading and text with its id. Triggers keep it in step on insert, update and
//!   delete, cascades included. It is a plain FTS5 table keyed by the passage id rather than an
//!   external-content one keyed by rowid, because `lesson_passages` has a UUID key and its
//!   implicit rowids may be renumbered by VACUUM.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::common::{fk, id, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE lesson_passages_fts USING fts5(\
        passage_id UNINDEXED, heading, passage_text, tokenize = 'porter unicode61')",
    "CREATE TRIGGER lesson_passages_fts_insert AFTER INSERT ON lesson_passages BEGIN \
        INSERT INTO lesson_passages_fts (passage_id, heading, passage_text) \
        VALUES (NEW.id, NEW.heading, NEW.passage_text); END",
    "CREATE TRIGGER lesson_passages_fts_delete AFTER DELETE ON lesson_passages BEGIN \
        DELETE FROM lesson_passages_fts WHERE passage_id = OLD.id; END",
    "CREATE TRIGGER lesson_passages_fts_update AFTER UPDATE ON lesson_passages BEGIN \
        DELETE FROM lesson_passages_fts WHERE passage_id = OLD.id; \
        INSERT INTO lesson_passages_fts (passage_id, heading, passage_text) \
        VALUES (NEW.id, NEW.heading, NEW.passage_text); END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS lesson_passages_fts_update",
    "DROP TRIGGER IF EXISTS lesson_passages_fts_delete",
    "DROP TRIGGER IF EXISTS lesson_passages_fts_insert",
    "DROP TABLE IF EXISTS lesson_passages_fts",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE lesson_passages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS \
        (to_tsvector('english', coalesce(heading, '') || ' ' || passage_text)) STORED",
    "CREATE INDEX lesson_passages_search_vector_idx ON lesson_passages USING GIN (search_vector)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("lesson_passages")
                    .col(id())
                    .col(uuid("lesson_id"))
                    .col(integer("position"))
                    .col(text_null("heading"))
                    .col(text("passage_text"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "lesson_passages",
                        "lesson_id",
                        "lessons",
                        ForeignKeyAction::Cascade,
                    ))
                    .index(&mut unique(
                        "lesson_passages_lesson_id_position_key",
                        &["lesson_id", "position"],
                    ))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        let statements = match manager.get_database_backend() {
            DbBackend::Sqlite => SQLITE_UP,
            _ => POSTGRES_UP,
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            let db = manager.get_connection();
            for sql in SQLITE_DOWN {
                db.execute_unprepared(sql).await?;
            }
        }
        // The generated column and its GIN index go with the table on PostgreSQL.
        manager
            .drop_table(Table::drop().table("lesson_passages").take())
            .await
    }
}
