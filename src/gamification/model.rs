//! Request and response types of the gamification area.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::achievements::Criteria;
use crate::entity::{achievements, xp_logs};
use crate::http::validate::{not_blank, present};

/// How many of the latest awards `GET /me/xp` lists.
pub const RECENT_XP_AWARDS: u64 = 20;
/// The largest XP reward an achievement may carry.
pub const MAX_XP_REWARD: i32 = 1000;

/// One XP award.
#[derive(Debug, Serialize, ToSchema)]
pub struct XpAwardView {
    pub xp_amount: i32,
    /// `lesson`, `study_session`, `quiz_attempt`, `quiz_perfect`, `doubt` or `achievement`.
    pub source_type: String,
    /// The lesson, session, attempt, quiz, message or achievement the award was for.
    pub reference_id: Option<Uuid>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<xp_logs::Model> for XpAwardView {
    fn from(x: xp_logs::Model) -> Self {
        Self {
            xp_amount: x.xp_amount,
            source_type: x.source_type,
            reference_id: x.reference_id,
            description: x.description,
            created_at: x.created_at,
        }
    }
}

/// My XP, my level and how far the next one is (levels start at 50·n·(n−1) XP).
#[derive(Debug, Serialize, ToSchema)]
pub struct XpSummary {
    pub total_xp: i64,
    pub level: i32,
    /// XP at which my current level started.
    pub level_start_xp: i64,
    /// XP at which the next level starts.
    pub next_level_xp: i64,
    pub xp_to_next_level: i64,
    /// The latest 20 awards, newest first.
    pub recent: Vec<XpAwardView>,
}

/// An achievement with my state of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AchievementView {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub badge_icon: Option<String>,
    /// What is measured: `total_xp`, `streak_days`, `lessons_completed`, `quizzes_completed`,
    /// `perfect_quizzes`, `study_minutes`, `doubts_asked` or `friends`.
    pub criteria_type: String,
    /// The value at which it unlocks.
    pub criteria_value: i32,
    pub xp_reward: i32,
    /// When I unlocked it; null while locked.
    pub unlocked_at: Option<DateTime<Utc>>,
    /// My current value of `criteria_type` (it may exceed `criteria_value`).
    pub progress: Option<i64>,
}

impl AchievementView {
    pub fn new(
        a: achievements::Model,
        unlocked_at: Option<DateTime<Utc>>,
        progress: Option<i64>,
    ) -> Self {
        Self {
            id: a.id,
            title: a.title,
            description: a.description,
            badge_icon: a.badge_icon,
            criteria_type: a.criteria_type,
            criteria_value: a.criteria_value,
            xp_reward: a.xp_reward,
            unlocked_at,
            progress,
        }
    }
}

/// An achievement definition, as an admin manages it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AchievementDefinition {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub badge_icon: Option<String>,
    pub criteria_type: String,
    pub criteria_value: i32,
    pub xp_reward: i32,
    pub created_at: DateTime<Utc>,
}

impl From<achievements::Model> for AchievementDefinition {
    fn from(a: achievements::Model) -> Self {
        Self {
            id: a.id,
            title: a.title,
            description: a.description,
            badge_icon: a.badge_icon,
            criteria_type: a.criteria_type,
            criteria_value: a.criteria_value,
            xp_reward: a.xp_reward,
            created_at: a.created_at,
        }
    }
}

/// A new achievement. Users who already qualify unlock it at their next event that can move
/// an achievement (a lesson, session, quiz, question or friendship).
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAchievementRequest {
    /// Unique among achievements.
    #[garde(length(min = 1, max = 100), custom(not_blank))]
    pub title: String,
    #[garde(length(min = 1, max = 2000), custom(not_blank))]
    pub description: String,
    #[garde(inner(length(max = 255)))]
    pub badge_icon: Option<String>,
    /// `total_xp`, `streak_days`, `lessons_completed`, `quizzes_completed`, `perfect_quizzes`,
    /// `study_minutes`, `doubts_asked` or `friends`.
    #[garde(custom(known_criteria))]
    pub criteria_type: String,
    /// At least 1.
    #[garde(range(min = 1))]
    pub criteria_value: i32,
    /// XP awarded once on unlocking, 0 to 1000 (default 0).
    #[serde(default)]
    #[garde(range(min = 0, max = MAX_XP_REWARD))]
    pub xp_reward: i32,
}

/// Fields left out stay as they are; `"badge_icon": null` removes the badge.
#[derive(Debug, Default, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAchievementRequest {
    #[garde(inner(length(min = 1, max = 100), custom(not_blank)))]
    pub title: Option<String>,
    #[garde(inner(length(min = 1, max = 2000), custom(not_blank)))]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 255))))]
    pub badge_icon: Option<Option<String>>,
    #[garde(inner(custom(known_criteria)))]
    pub criteria_type: Option<String>,
    #[garde(inner(range(min = 1)))]
    pub criteria_value: Option<i32>,
    #[garde(inner(range(min = 0, max = MAX_XP_REWARD)))]
    pub xp_reward: Option<i32>,
}

fn known_criteria(value: &str, _: &()) -> garde::Result {
    match Criteria::parse(value) {
        Some(_) => Ok(()),
        None => Err(garde::Error::new(format!(
            "unknown criteria type; one of {}",
            Criteria::ALL.map(Criteria::as_str).join(", ")
        ))),
    }
}
