//! `lessons`: a lesson of a topic.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "lessons")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub topic_id: Uuid,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub content_type: String,
    pub content_url: Option<String>,
    pub order_index: i32,
    pub estimated_duration_minutes: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl Related<super::lesson_progress::Entity> for Entity {
    fn to() -> RelationDef {
        super::lesson_progress::Relation::Lessons.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
