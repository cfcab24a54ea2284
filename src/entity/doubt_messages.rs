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

relations! {
    DoubtSessions: DoubtSessionId -> doubt_sessions,
}

impl ActiveModelBehavior for ActiveModel {}
