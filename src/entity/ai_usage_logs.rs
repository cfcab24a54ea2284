//! `ai_usage_logs`: one AI provider call with its tokens and cost.

use sea_orm::entity::prelude::*;

use super::numeric::Numeric;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "ai_usage_logs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    /// "doubt", "quiz" or "material".
    pub feature_type: String,
    pub model_name: String,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub total_tokens: i32,
    /// US dollars, exact.
    pub estimated_cost: Numeric,
    /// "reserved" (a call under way), "success", "error" or "rejected".
    pub request_status: String,
    pub created_at: DateTimeUtc,
    /// While "reserved": when the reservation expires if nothing settles or releases it.
    pub reserved_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
