//! Response types of the mastery area.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A word for a mastery score, for people rather than charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MasteryLevel {
    /// Below 20: barely started.
    New,
    /// 20 to under 60: lessons under way, or quizzes not yet convincing.
    Learning,
    /// 60 to under 85: needs good quizzes (lessons alone reach at most 50).
    Proficient,
    /// 85 and above.
    Mastered,
}

impl MasteryLevel {
    pub const LEARNING_FROM: f64 = 20.0;
    pub const PROFICIENT_FROM: f64 = 60.0;
    pub const MASTERED_FROM: f64 = 85.0;

    pub fn for_score(score: f64) -> Self {
        if score >= Self::MASTERED_FROM {
            Self::Mastered
        } else if score >= Self::PROFICIENT_FROM {
            Self::Proficient
        } else if score >= Self::LEARNING_FROM {
            Self::Learning
        } else {
            Self::New
        }
    }
}

/// The signed-in user's mastery of one topic.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicMasteryView {
    pub topic_id: Uuid,
    pub topic_name: String,
    pub subject_id: Uuid,
    /// Mastery now (0–100): the stored score faded by the time since the topic was last
    /// practised (half-life 30 days, never below half the stored score).
    pub mastery: f64,
    /// Mastery as of the last practice (0–100), before fading.
    pub stored_mastery: f64,
    /// `new`, `learning`, `proficient` or `mastered`, from `mastery`.
    pub level: MasteryLevel,
    pub lessons_completed: i32,
    /// Lessons the topic has now.
    pub lessons_total: i64,
    pub quizzes_taken: i32,
    /// The weighted average of the topic's quiz scores (0–100); null before the first quiz.
    pub quiz_average: Option<f64>,
    pub last_practiced_at: Option<DateTime<Utc>>,
}
