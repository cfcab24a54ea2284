//! `doubt_messages`: one message of a tutor conversation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "doubt_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub doubt_session_id: Uuid,
    pub role: String,
    #[sea_orm(column_type = "Text")]
    pub message_text: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub citations: Option<Json>,
    pub tokens_used: Option<i32>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::doubt_sessions::Entity",
        from = "Column::DoubtSessionId",
        to = "super::doubt_sessions::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    DoubtSessions,
}

impl Related<super::doubt_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DoubtSessions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
