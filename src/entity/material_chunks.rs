//! `material_chunks`: an extracted chunk of a material, with its embedding.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "material_chunks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub material_id: Uuid,
    pub chunk_index: i32,
    #[sea_orm(column_type = "Text")]
    pub chunk_text: String,
    pub token_count: i32,
    #[sea_orm(column_type = "Blob")]
    pub embedding_vector: Option<Vec<u8>>,
    pub embedding_model: Option<String>,
    pub embedding_dim: Option<i32>,
    pub created_at: DateTimeUtc,
}

relations! {
    Materials: MaterialId -> materials,
}

impl ActiveModelBehavior for ActiveModel {}
