//! `quiz_attempts`: a user's submitted attempt at a quiz.

use sea_orm::entity::prelude::*;

use super::numeric::Numeric;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "quiz_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub quiz_id: Uuid,
    #[sea_orm(column_type = "JsonBinary")]
    pub answers: Json,
    /// 0–100, fractions kept.
    pub score_percentage: Numeric,
    pub correct_count: i32,
    pub total_questions: i32,
    pub xp_awarded: i32,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
