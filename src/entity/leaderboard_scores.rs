//! `leaderboard_scores`: a user's XP within one leaderboard period (weekly or monthly).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "leaderboard_scores")]
pub struct Model {
    /// "weekly" or "monthly".
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_type: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_start: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub xp: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
