//! Request and response types of the billing routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ai::usage::Plan;
use crate::entity::{payments, subscriptions};

/// A plan, its price and its allowances.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub id: Plan,
    /// Price per month in the currency's smallest unit (cents); 0 for `free`.
    pub price_cents: u64,
    /// ISO 4217 code, lower case.
    pub currency: String,
    pub interval: &'static str,
    /// AI tutor replies per UTC day.
    pub doubt_per_day: u32,
    /// Generated quizzes per UTC day.
    pub quiz_per_day: u32,
    /// Material embedding calls per UTC day.
    pub material_per_day: u32,
    /// AI cost allowed per calendar month, in US dollars (an exact decimal).
    pub monthly_ai_cost_cap_usd: String,
    /// The most the user's uploaded files may add up to, in bytes.
    pub storage_bytes: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlansResponse {
    pub plans: Vec<PlanView>,
}

/// One subscription row.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: Uuid,
    pub plan: String,
    /// `active`, `trialing`, `past_due`, `canceled`, or another status of the provider.
    pub status: String,
    /// `stripe`, or `manual` for a plan granted by an admin.
    pub provider: String,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<subscriptions::Model> for SubscriptionView {
    fn from(m: subscriptions::Model) -> Self {
        Self {
            id: m.id,
            plan: m.plan,
            status: m.status,
            provider: m.provider,
            current_period_start: m.current_period_start,
            current_period_end: m.current_period_end,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The plan in force now and the subscription behind it (the latest one when none is current).
#[derive(Debug, Serialize, ToSchema)]
pub struct MySubscription {
    pub plan: Plan,
    pub subscription: Option<SubscriptionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub subscription_id: Option<Uuid>,
    /// In the currency's smallest unit (cents).
    pub amount: i64,
    pub currency: String,
    /// `paid` or `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<payments::Model> for PaymentView {
    fn from(m: payments::Model) -> Self {
        Self {
            id: m.id,
            subscription_id: m.subscription_id,
            amount: m.amount,
            currency: m.currency,
            status: m.status,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentsResponse {
    /// Newest first.
    pub payments: Vec<PaymentView>,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The paid plan to buy: `pro` (the free plan needs no checkout).
    #[garde(pattern("^pro$"))]
    pub plan: String,
}

/// A hosted checkout session: send the student to `url`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantPlanRequest {
    /// `pro` grants the plan (ending any current subscription); `free` ends the current one.
    #[garde(pattern("^(free|pro)$"))]
    pub plan: String,
    /// When a granted pro plan ends; open-ended when absent. Must be in the future.
    #[garde(skip)]
    pub current_period_end: Option<DateTime<Utc>>,
}

/// A provider event, as signed and sent (only the fields Studium reads are described).
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    /// Unix seconds.
    pub created: i64,
    pub data: WebhookEventData,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookEventData {
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// The webhook's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    /// False when this event id had been handled before (nothing was done again).
    pub processed: bool,
}
