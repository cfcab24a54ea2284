//! `lesson_progress`: a user's progress on one lesson.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "lesson_progress")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub lesson_id: Uuid,
    pub completed: bool,
    pub completed_at: Option<DateTimeUtc>,
    pub time_spent_seconds: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Lessons: LessonId -> lessons,
}

impl ActiveModelBehavior for ActiveModel {}
