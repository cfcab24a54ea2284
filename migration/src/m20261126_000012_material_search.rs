//! Full-text search over the chunks of uploaded materials, for hybrid search (SPEC §3
//! "Materials"): the vector side reads `material_chunks.embedding_vector` directly (exact
//! similarity over one user's chunks, found through `materials(user_id, …)` and the
//! `(material_id, chunk_index)` key), the text side needs an index, and that is where the two
//! backends differ — as for lesson passages (migration 9):
//! - PostgreSQL: a generated `search_vector` column (`to_tsvector('english', chunk_text)`, always
//!   in step with the row) and a GIN index on it.
//! - SQLite: an FTS5 table `material_chunks_fts` (Porter stemming) holding each chunk's text
//!   with its id, kept in step by triggers on insert, update and delete (cascades included). A
//!   plain FTS5 table keyed by the chunk id rather than an external-content one keyed by rowid:
//!   `material_chunks` has a UUID key, and its implicit rowids may be renumbered by VACUUM,
//!   which would silently point an external-content index at the wrong rows. It also holds
//!   the owner (`owner`, one token `u<hex of user_id>`; a material never changes hands), so a
//!   search's `MATCH` intersects the owner's chunks inside the index and `ORDER BY rank LIMIT`
//!   ranks only those, with no join per match (3–4x faster at 100k chunks).
//!
//! A per-user, ready-only index for the chunk side: `materials_user_status_idx` on
//! `(user_id, processing_status, topic_id)`, so finding the materials a search may read is an
//! index range, whatever other users hold.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE material_chunks_fts USING fts5(\
        chunk_id UNINDEXED, owner, chunk_text, tokenize = 'porter unicode61')",
    "INSERT INTO material_chunks_fts (chunk_id, owner, chunk_text) \
        SELECT c.id, 'u' || lower(hex(m.user_id)), c.chunk_text \
        FROM material_chunks c JOIN materials m ON m.id = c.material_id",
    "CREATE TRIGGER material_chunks_fts_insert AFTER INSERT ON material_chunks BEGIN \
        INSERT INTO material_chunks_fts (chunk_id, owner, chunk_text) VALUES (NEW.id, \
        (SELECT 'u' || lower(hex(user_id)) FROM materials WHERE id = NEW.material_id), \
        NEW.chunk_text); END",
    "CREATE TRIGGER material_chunks_fts_delete AFTER DELETE ON material_chunks BEGIN \
        DELETE FROM material_chunks_fts WHERE chunk_id = OLD.id; END",
    "CREATE TRIGGER material_chunks_fts_update \
        AFTER UPDATE OF id, material_id, chunk_text ON material_chunks BEGIN \
        DELETE FROM material_chunks_fts WHERE chunk_id = OLD.id; \
        INSERT INTO material_chunks_fts (chunk_id, owner, chunk_text) VALUES (NEW.id, \
        (SELECT 'u' || lower(hex(user_id)) FROM materials WHERE id = NEW.material_id), \
        NEW.chunk_text); END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS material_chunks_fts_update",
    "DROP TRIGGER IF EXISTS material_chunks_fts_delete",
    "DROP TRIGGER IF EXISTS material_chunks_fts_insert",
    "DROP TABLE IF EXISTS material_chunks_fts",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE material_chunks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS \
        (to_tsvector('english', chunk_text)) STORED",
    "CREATE INDEX material_chunks_search_vector_idx ON material_chunks USING GIN (search_vector)",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS material_chunks_search_vector_idx",
    "ALTER TABLE material_chunks DROP COLUMN IF EXISTS search_vector",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = match manager.get_database_backend() {
            DbBackend::Sqlite => SQLITE_UP,
            _ => POSTGRES_UP,
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("materials_user_status_idx")
                    .table("materials")
                    .col("user_id")
                    .col("processing_status")
                    .col("topic_id")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("materials_user_status_idx")
                    .table("materials")
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let statements = match manager.get_database_backend() {
            DbBackend::Sqlite => SQLITE_DOWN,
            _ => POSTGRES_DOWN,
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
