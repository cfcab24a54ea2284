//! `study_sessions`: a timed study session.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "study_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub subject_id: Option<Uuid>,
    pub topic_id: Option<Uuid>,
    pub started_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
    pub duration_seconds: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub notes: Option<String>,
    /// The XP this session earned (0 while it runs).
    pub xp_awarded: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
