//! The statistics document.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// "Today" is the current UTC day; "this week" the last 7 days; "this month" the calendar
/// month (UTC).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminStats {
    pub generated_at: DateTime<Utc>,
    pub users: UserStats,
    pub study: StudyStats,
    pub ai: AiStats,
    pub materials: MaterialStats,
    pub jobs: JobStats,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserStats {
    pub total: u64,
    /// Registered in the last 7 days.
    pub new_this_week: u64,
    /// Users who used the API (a session) today / in the last 7 days.
    pub active_today: u64,
    pub active_this_week: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StudyStats {
    /// Minutes of study sessions started today / in the last 7 days.
    pub minutes_today: i64,
    pub minutes_this_week: i64,
    /// Lessons completed today / in the last 7 days.
    pub lessons_completed_today: u64,
    pub lessons_completed_this_week: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AiStats {
    pub requests_today: i64,
    /// US dollars, an exact decimal string.
    pub cost_today_usd: String,
    pub requests_this_month: i64,
    pub cost_this_month_usd: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaterialStats {
    pub count: u64,
    pub bytes_stored: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobStats {
    /// Queued or running.
    pub waiting: u64,
    /// Given up (`dead`).
    pub failed: u64,
}
