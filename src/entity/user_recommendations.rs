//! `user_recommendations`: a recommendation shown to a user.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "user_recommendations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub recommendation_type: String,
    pub reference_id: Option<Uuid>,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub priority_score: i32,
    pub expires_at: DateTimeUtc,
    pub dismissed_at: Option<DateTimeUtc>,
    pub generated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
