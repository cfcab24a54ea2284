//! `quiz_questions`: a question of a quiz.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "quiz_questions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub quiz_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub question_text: String,
    pub question_type: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub options: Json,
    #[sea_orm(column_type = "Text")]
    pub correct_answer: String,
    #[sea_orm(column_type = "Text")]
    pub explanation: Option<String>,
    pub order_index: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
