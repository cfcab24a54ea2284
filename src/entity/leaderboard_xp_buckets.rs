//! `leaderboard_xp_buckets`: how many users have XP in one bucket of
//! `XP_BUCKET_WIDTH` values (`bucket` = xp / width) in a leaderboard period.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "leaderboard_xp_buckets")]
pub struct Model {
    /// "weekly" or "monthly".
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_type: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_start: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket: i64,
    pub users: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
