//! `subscriptions`: a user's subscription history; at most one is current.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub plan: String,
    pub status: String,
    pub provider: String,
    pub provider_customer_id: Option<String>,
    #[sea_orm(unique)]
    pub provider_subscription_id: Option<String>,
    pub current_period_start: Option<DateTimeUtc>,
    pub current_period_end: Option<DateTimeUtc>,
    /// Creation time of the provider event that last set this row (older ones are ignored).
    pub provider_event_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
