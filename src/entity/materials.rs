//! `materials`: a file a user uploaded.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "materials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub topic_id: Option<Uuid>,
    pub title: String,
    pub file_name: String,
    pub content_type: String,
    pub file_size: i64,
    /// The object's location in the store (a generated key; `s3://…` or a local path).
    #[sea_orm(unique)]
    pub s3_url: String,
    pub processing_status: String,
    #[sea_orm(column_type = "Text")]
    pub processing_error: Option<String>,
    pub uploaded_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
