//! Request and response types of the study area. Requests reject unknown fields and are
//! validated field by field before any rule runs.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::entity::study_sessions;

/// Longest note kept with a session.
pub const MAX_NOTES_CHARS: usize = 2000;

/// `POST /study-sessions/start`: starts the timer.
#[derive(Debug, Default, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSessionRequest {
    /// The subject studied; taken from the topic when only `topic_id` is given.
    #[garde(skip)]
    pub subject_id: Option<Uuid>,
    #[garde(skip)]
    pub topic_id: Option<Uuid>,
    #[garde(inner(length(max = MAX_NOTES_CHARS)))]
    pub notes: Option<String>,
}

/// `POST /study-sessions`: a session logged after the fact.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSessionRequest {
    /// RFC 3339 timestamp.
    #[garde(skip)]
    pub started_at: DateTime<Utc>,
    /// RFC 3339 timestamp: after `started_at`, not in the future, at most 4 hours later.
    #[garde(skip)]
    pub ended_at: DateTime<Utc>,
    #[garde(skip)]
    pub subject_id: Option<Uuid>,
    #[garde(skip)]
    pub topic_id: Option<Uuid>,
    #[garde(inner(length(max = MAX_NOTES_CHARS)))]
    pub notes: Option<String>,
}

/// `GET /study-sessions`: the caller's sessions whose `started_at` is in `[from, to)`.
#[derive(Debug, Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionListQuery {
    /// RFC 3339 timestamp (inclusive); encode `+` in an offset as `%2B`, or use `Z`.
    #[garde(skip)]
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339 timestamp (exclusive).
    #[garde(skip)]
    pub to: Option<DateTime<Utc>>,
    /// How many items, 1 to 100 (default 20).
    #[garde(range(min = 1, max = 100))]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[garde(skip)]
    pub cursor: Option<String>,
}

/// Bounds of `GET /me/stats?days=`.
pub const MIN_STATS_DAYS: u32 = 1;
pub const MAX_STATS_DAYS: u32 = 365;
pub const DEFAULT_STATS_DAYS: u32 = 7;

/// `GET /me/stats?days=N`.
#[derive(Debug, Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// How many local calendar days, today included: 1 to 365 (default 7).
    #[garde(inner(range(min = MIN_STATS_DAYS, max = MAX_STATS_DAYS)))]
    pub days: Option<u32>,
}

/// A study session as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StudySessionView {
    pub id: Uuid,
    pub subject_id: Option<Uuid>,
    pub topic_id: Option<Uuid>,
    pub started_at: DateTime<Utc>,
    /// `null` while the timer runs.
    pub ended_at: Option<DateTime<Utc>>,
    /// Set when the session ends; at most 14400 (4 hours).
    pub duration_seconds: Option<i32>,
    pub notes: Option<String>,
    /// The XP this session earned: 1 per full minute, at most 120; 0 while it runs.
    pub xp_awarded: i32,
    pub created_at: DateTime<Utc>,
}

impl From<study_sessions::Model> for StudySessionView {
    fn from(s: study_sessions::Model) -> Self {
        Self {
            id: s.id,
            subject_id: s.subject_id,
            topic_id: s.topic_id,
            started_at: s.started_at,
            ended_at: s.ended_at,
            duration_seconds: s.duration_seconds,
            notes: s.notes,
            xp_awarded: s.xp_awarded,
            created_at: s.created_at,
        }
    }
}

/// A finished session (stopped or logged) and what it earned.
#[derive(Debug, Serialize, ToSchema)]
pub struct FinishedSessionResponse {
    pub session: StudySessionView,
    /// 1 per full minute, at most 120; 0 under a minute.
    pub xp_awarded: i32,
    /// The streak as it stands after this session.
    pub current_streak: i32,
}

/// `GET /me/streak`, in the user's time zone at the time of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreakView {
    /// 0 when the last study day is before yesterday.
    pub current_streak: i32,
    pub longest_streak: i32,
    /// The user's local date of their last study day.
    pub last_study_date: Option<NaiveDate>,
    pub studied_today: bool,
    /// A streak is running but today is not a study day yet: it breaks at local midnight.
    pub at_risk: bool,
}

/// One local calendar day of `GET /me/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayStats {
    pub date: NaiveDate,
    /// Minutes of sessions that ended this day (seconds summed, then rounded down).
    pub study_minutes: i64,
    /// XP awarded this day.
    pub xp: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsTotals {
    pub study_minutes: i64,
    pub xp: i64,
}

/// `GET /me/stats`: one entry per local day, oldest first, days without activity zero.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsResponse {
    /// The IANA time zone the days are counted in (the profile's).
    pub timezone: String,
    pub days: Vec<DayStats>,
    pub totals: StatsTotals,
}
