//! Request and response types of the usage endpoints (`GET /me/ai-usage`, `GET /admin/ai-usage`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::usage::Plan;

/// `GET /me/ai-usage`: your plan, its allowances and what you have used of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyAiUsage {
    pub plan: Plan,
    pub limits: PlanLimits,
    /// Units used today (UTC): completed calls plus calls under way.
    pub used_today: UsedToday,
    pub used_this_month: UsedThisMonth,
    /// When the daily allowances reset: the next midnight UTC.
    pub resets_at: DateTime<Utc>,
    /// When the monthly cost cap resets: the first of next month, 00:00 UTC.
    pub cost_cap_resets_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanLimits {
    /// Tutor replies per UTC day.
    pub doubt_per_day: u32,
    /// Quiz generations per UTC day.
    pub quiz_per_day: u32,
    /// Material embedding calls per UTC day.
    pub material_per_day: u32,
    /// US dollars per calendar month (UTC), an exact decimal string.
    #[schema(example = "1.00")]
    pub monthly_cost_cap_usd: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsedToday {
    pub doubt: u32,
    pub quiz: u32,
    pub material: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsedThisMonth {
    /// Completed calls plus calls under way (failed and refused ones are not counted).
    pub requests: u64,
    pub tokens: u64,
    /// US dollars, an exact decimal string.
    #[schema(example = "0.012345")]
    pub cost_usd: String,
}

/// How `GET /admin/ai-usage` groups the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By user id (`none` for calls made for no user).
    User,
    /// By model name.
    Model,
    /// By feature (`doubt`, `quiz`, `material`).
    Feature,
    /// By UTC day (`YYYY-MM-DD`).
    #[default]
    Day,
}

/// `GET /admin/ai-usage`: the calls created in `[from, to)`.
#[derive(Debug, Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminUsageQuery {
    /// Start (inclusive): an RFC 3339 timestamp or a date `YYYY-MM-DD` (its midnight UTC).
    /// Default: 30 days before `to`.
    #[garde(skip)]
    pub from: Option<String>,
    /// End: an RFC 3339 timestamp (exclusive) or a date `YYYY-MM-DD` (that whole day
    /// included). Default: now.
    #[garde(skip)]
    pub to: Option<String>,
    /// `user`, `model`, `feature` or `day` (default).
    #[garde(skip)]
    #[param(inline)]
    pub group_by: Option<GroupBy>,
}

/// The calls of a period, grouped.
#[derive(Debug, Serialize, ToSchema)]
pub struct AiUsageReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: GroupBy,
    /// One row per group, ordered by key.
    pub rows: Vec<AiUsageRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AiUsageRow {
    /// The user id, model name, feature or day.
    pub key: String,
    /// Every call logged, whatever its outcome.
    pub requests: i64,
    pub success: i64,
    pub error: i64,
    pub rejected: i64,
    /// Calls under way.
    pub reserved: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    /// US dollars, an exact decimal string.
    #[schema(example = "0.012345")]
    pub cost_usd: String,
}
