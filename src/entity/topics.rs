//! `topics`: a topic of a subject.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "topics")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub subject_id: Uuid,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub order_index: i32,
    /// 1 (beginner) to 5 (advanced).
    pub difficulty_level: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::subjects::Entity",
        from = "Column::SubjectId",
        to = "super::subjects::Column::Id",
        on_update = "NoAction",
        on_delete = "Restrict"
    )]
    Subjects,
    #[sea_orm(has_many = "super::lessons::Entity")]
    Lessons,
    #[sea_orm(has_many = "super::study_sessions::Entity")]
    StudySessions,
    #[sea_orm(has_many = "super::topic_progress::Entity")]
    TopicProgress,
    #[sea_orm(has_many = "super::doubt_sessions::Entity")]
    DoubtSessions,
    #[sea_orm(has_many = "super::quizzes::Entity")]
    Quizzes,
    #[sea_orm(has_many = "super::materials::Entity")]
    Materials,
}

impl Related<super::subjects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Subjects.def()
    }
}

impl Related<super::lessons::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Lessons.def()
    }
}

impl Related<super::study_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudySessions.def()
    }
}

impl Related<super::topic_progress::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TopicProgress.def()
    }
}

impl Related<super::doubt_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DoubtSessions.def()
    }
}

impl Related<super::quizzes::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Quizzes.def()
    }
}

impl Related<super::materials::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Materials.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
