//! `ai_usage_counters`: the AI allowance a user has used per feature and UTC day (settled calls
//! plus live reservations); `ai::usage` takes and gives back units.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "ai_usage_counters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// "doubt", "quiz" or "material".
    #[sea_orm(primary_key, auto_increment = false)]
    pub feature_type: String,
    /// The UTC day.
    #[sea_orm(primary_key, auto_increment = false)]
    pub usage_date: Date,
    pub used: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
