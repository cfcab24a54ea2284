//! `lesson_passages`: a passage of a lesson's text, the unit the tutor retrieves and cites.
//! The full-text index beside it (a generated `search_vector` on PostgreSQL, the FTS5 table
//! `lesson_passages_fts` on SQLite) is read only by `tutor::retrieval::search`, so it is not
//! mapped here.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "lesson_passages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub lesson_id: Uuid,
    pub position: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub heading: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub passage_text: String,
    pub created_at: DateTimeUtc,
}

relations! {
    Lessons: LessonId -> lessons,
}

impl ActiveModelBehavior for ActiveModel {}
