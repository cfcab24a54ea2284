//! Request and response types of the content area. Requests reject unknown fields and are
//! validated field by field before any rule runs; rules that involve several fields (a video
//! lesson needs a URL) are checked in the service, on the merged result.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entity::{lesson_progress, lessons, subjects, topics};
use crate::http::validate::{http_url, not_blank, present};

/// Longest Markdown body of a lesson, in bytes.
pub const MAX_LESSON_CONTENT: usize = 200_000;

/// Lesson kinds (SPEC §2 lessons.content_type).
pub const CONTENT_TYPES: [&str; 3] = ["text", "video", "pdf"];

/// `topics.difficulty_level` runs from 1 (beginner) through 3 (intermediate) to 5 (advanced).
pub const DIFFICULTY_MIN: i32 = 1;
pub const DIFFICULTY_MAX: i32 = 5;

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubjectRequest {
    /// Unique among subjects.
    #[garde(length(min = 1, max = 100), custom(not_blank))]
    pub name: String,
    #[garde(inner(length(max = 2000)))]
    pub description: Option<String>,
    /// A short icon name, e.g. `calculator`.
    #[garde(inner(length(min = 1, max = 50)))]
    pub icon: Option<String>,
    /// A CSS hex colour, `#RGB` or `#RRGGBB`.
    #[garde(inner(pattern("^#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$")))]
    pub color: Option<String>,
    /// Position among subjects (0 or more); defaults to after the last one.
    #[garde(inner(range(min = 0, max = 1_000_000)))]
    pub order_index: Option<i32>,
}

/// Fields left out stay as they are; `null` clears an optional one.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubjectRequest {
    #[garde(inner(length(min = 1, max = 100), custom(not_blank)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 2000))))]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(min = 1, max = 50))))]
    pub icon: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(pattern("^#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$"))))]
    pub color: Option<Option<String>>,
    #[garde(inner(range(min = 0, max = 1_000_000)))]
    pub order_index: Option<i32>,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopicRequest {
    /// Unique within the subject.
    #[garde(length(min = 1, max = 150), custom(not_blank))]
    pub name: String,
    #[garde(inner(length(max = 2000)))]
    pub description: Option<String>,
    /// 1 (beginner) to 5 (advanced); 3 is intermediate.
    #[garde(inner(range(min = DIFFICULTY_MIN, max = DIFFICULTY_MAX)))]
    pub difficulty_level: Option<i32>,
    /// Position within the subject (0 or more); defaults to after the last topic.
    #[garde(inner(range(min = 0, max = 1_000_000)))]
    pub order_index: Option<i32>,
}

/// Fields left out stay as they are; `null` clears an optional one.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTopicRequest {
    /// Move the topic to another subject.
    #[garde(skip)]
    pub subject_id: Option<Uuid>,
    #[garde(inner(length(min = 1, max = 150), custom(not_blank)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 2000))))]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, nullable)]
    #[garde(inner(inner(range(min = DIFFICULTY_MIN, max = DIFFICULTY_MAX))))]
    pub difficulty_level: Option<Option<i32>>,
    #[garde(inner(range(min = 0, max = 1_000_000)))]
    pub order_index: Option<i32>,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLessonRequest {
    #[garde(length(min = 1, max = 200), custom(not_blank))]
    pub title: String,
    /// The lesson in Markdown; required (not blank) for `text` lessons.
    #[garde(length(max = MAX_LESSON_CONTENT))]
    #[serde(default)]
    pub content: String,
    /// `text` (default), `video` or `pdf`.
    #[garde(inner(pattern("^(text|video|pdf)$")))]
    pub content_type: Option<String>,
    /// An http(s) URL; required for `video` and `pdf` lessons.
    #[garde(inner(length(max = 2048), custom(http_url)))]
    pub content_url: Option<String>,
    /// Position within the topic (0 or more); defaults to after the last lesson.
    #[garde(inner(range(min = 0, max = 1_000_000)))]
    pub order_index: Option<i32>,
    /// Expected minutes, 1 to 600.
    #[garde(inner(range(min = 1, max = 600)))]
    pub estimated_duration_minutes: Option<i32>,
}

/// Fields left out stay as they are; `null` clears an optional one.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLessonRequest {
    /// Move the lesson to another topic.
    #[garde(skip)]
    pub topic_id: Option<Uuid>,
    #[garde(inner(length(min = 1, max = 200), custom(not_blank)))]
    pub title: Option<String>,
    #[garde(inner(length(max = MAX_LESSON_CONTENT)))]
    pub content: Option<String>,
    #[garde(inner(pattern("^(text|video|pdf)$")))]
    pub content_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 2048), custom(http_url))))]
    pub content_url: Option<Option<String>>,
    #[garde(inner(range(min = 0, max = 1_000_000)))]
    pub order_index: Option<i32>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, nullable)]
    #[garde(inner(inner(range(min = 1, max = 600))))]
    pub estimated_duration_minutes: Option<Option<i32>>,
}

/// `?cascade=` of the deletes of subjects and topics.
#[derive(Debug, Deserialize, garde::Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Also delete the topics and lessons (with everyone's progress on them) below it, and
    /// the quizzes on those topics with their questions and every attempt on them. Without
    /// it, deleting something that still has quizzes, lessons or topics is a 409.
    #[garde(skip)]
    pub cascade: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub icon: Option<String>,
    pub color: Option<String>,
    pub order_index: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<subjects::Model> for SubjectView {
    fn from(s: subjects::Model) -> Self {
        Self {
            id: s.id,
            name: s.name,
            description: s.description,
            icon: s.icon,
            color: s.color,
            order_index: s.order_index,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicView {
    pub id: Uuid,
    pub subject_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// 1 (beginner) to 5 (advanced).
    pub difficulty_level: Option<i32>,
    pub order_index: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<topics::Model> for TopicView {
    fn from(t: topics::Model) -> Self {
        Self {
            id: t.id,
            subject_id: t.subject_id,
            name: t.name,
            description: t.description,
            difficulty_level: t.difficulty_level,
            order_index: t.order_index,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A lesson in a list: everything but the Markdown body, plus whether the caller completed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LessonSummary {
    pub id: Uuid,
    pub topic_id: Uuid,
    pub title: String,
    /// `text`, `video` or `pdf`.
    pub content_type: String,
    pub content_url: Option<String>,
    pub order_index: i32,
    pub estimated_duration_minutes: Option<i32>,
    /// Whether the signed-in user has completed this lesson.
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl LessonSummary {
    pub fn new(l: lessons::Model, progress: Option<&lesson_progress::Model>) -> Self {
        let completed_at = progress.and_then(completed_at);
        Self {
            id: l.id,
            topic_id: l.topic_id,
            title: l.title,
            content_type: l.content_type,
            content_url: l.content_url,
            order_index: l.order_index,
            estimated_duration_minutes: l.estimated_duration_minutes,
            completed: completed_at.is_some(),
            completed_at,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// A lesson with its Markdown body and whether the caller completed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LessonView {
    #[serde(flatten)]
    pub lesson: LessonSummary,
    /// The lesson in Markdown.
    pub content: String,
}

impl LessonView {
    pub fn new(mut l: lessons::Model, progress: Option<&lesson_progress::Model>) -> Self {
        let content = std::mem::take(&mut l.content);
        Self {
            lesson: LessonSummary::new(l, progress),
            content,
        }
    }
}

/// When a progress row says the lesson was completed, if it does.
fn completed_at(p: &lesson_progress::Model) -> Option<DateTime<Utc>> {
    p.completed.then_some(p.completed_at).flatten()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LessonProgressView {
    pub id: Uuid,
    pub lesson_id: Uuid,
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub time_spent_seconds: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<lesson_progress::Model> for LessonProgressView {
    fn from(p: lesson_progress::Model) -> Self {
        Self {
            id: p.id,
            lesson_id: p.lesson_id,
            completed: p.completed,
            completed_at: p.completed_at,
            time_spent_seconds: p.time_spent_seconds,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompleteLessonResponse {
    pub lesson_progress: LessonProgressView,
    /// XP this request awarded: 10 the first time, 0 when the lesson was already completed.
    pub xp_awarded: i32,
    /// Achievements this completion unlocked.
    pub achievements_unlocked: Vec<Uuid>,
}

/// How far the signed-in user has got, per subject and per topic.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressResponse {
    pub subjects: Vec<SubjectProgress>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectProgress {
    pub subject_id: Uuid,
    pub name: String,
    pub lessons_total: i64,
    pub lessons_completed: i64,
    /// Mean mastery (0–100) over the subject's topics; an unpractised topic counts as 0.
    pub mastery: f64,
    pub topics: Vec<TopicProgress>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicProgress {
    pub topic_id: Uuid,
    pub name: String,
    pub lessons_total: i64,
    pub lessons_completed: i64,
    /// Mastery 0–100 as of now (SPEC §3 Mastery); 0 when the topic has not been practised.
    pub mastery: f64,
}
