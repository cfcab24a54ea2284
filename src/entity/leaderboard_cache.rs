//! `leaderboard_cache`: the precomputed global top 100 of one period.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "leaderboard_cache")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// "weekly" or "monthly".
    pub period_type: String,
    pub period_start: Date,
    /// The precomputed top 100: `[{rank, user_id, full_name, xp}]`.
    #[sea_orm(column_type = "JsonBinary")]
    pub ranking_data: Json,
    pub generated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
