//! `achievements`: an achievement definition.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "achievements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub badge_icon: Option<String>,
    pub criteria_type: String,
    pub criteria_value: i32,
    pub xp_reward: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
