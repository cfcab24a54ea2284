//! `quizzes`: a quiz on a topic, hand-written or generated.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "quizzes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub topic_id: Uuid,
    pub created_by: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub difficulty: Option<String>,
    pub source: String,
    pub generated_by_ai: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
