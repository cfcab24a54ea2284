//! Request and response types of the quiz area. What a student reads before submitting never
//! carries `correct_answer` or `explanation` (SPEC §3 Quizzes); those appear only in an
//! attempt's results and in the admin's views.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::validate::{MAX_OPTION_CHARS, QuestionDraft};
use crate::entity::{quiz_attempts, quiz_questions, quizzes};

/// Most questions a hand-written quiz may have, and most answers an attempt may carry.
pub const MAX_QUESTIONS: usize = 100;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_DIFFICULTY_CHARS: usize = 50;

/// A quiz in a topic's list: no questions, but how many there are and my best score.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuizSummary {
    pub id: Uuid,
    pub topic_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub difficulty: Option<String>,
    /// `manual` for hand-written quizzes; the generator's source for generated ones.
    pub source: String,
    pub generated_by_ai: bool,
    /// Set on a quiz generated for one student (then only they see it); null on shared quizzes.
    pub owner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub question_count: i64,
    /// My best `score_percentage` on this quiz; null before my first attempt.
    pub best_score: Option<f64>,
    pub attempt_count: i64,
}

/// A question as a student reads it before submitting: no answer, no explanation.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionView {
    pub id: Uuid,
    pub question_text: String,
    pub question_type: String,
    pub options: Vec<String>,
    pub order_index: i32,
}

/// `GET /quizzes/{id}`: the quiz with its questions in order, answers hidden.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuizView {
    pub id: Uuid,
    pub topic_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub difficulty: Option<String>,
    pub source: String,
    pub generated_by_ai: bool,
    pub owner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub questions: Vec<QuestionView>,
}

/// The options column as a list; a row that is not a list of strings reads as no options.
pub fn options_of(q: &quiz_questions::Model) -> Vec<String> {
    serde_json::from_value(q.options.clone()).unwrap_or_default()
}

impl From<&quiz_questions::Model> for QuestionView {
    fn from(q: &quiz_questions::Model) -> Self {
        Self {
            id: q.id,
            question_text: q.question_text.clone(),
            question_type: q.question_type.clone(),
            options: options_of(q),
            order_index: q.order_index,
        }
    }
}

impl QuizView {
    pub fn new(quiz: quizzes::Model, questions: &[quiz_questions::Model]) -> Self {
        Self {
            id: quiz.id,
            topic_id: quiz.topic_id,
            title: quiz.title,
            description: quiz.description,
            difficulty: quiz.difficulty,
            source: quiz.source,
            generated_by_ai: quiz.generated_by_ai,
            owner_id: quiz.owner_id,
            created_at: quiz.created_at,
            questions: questions.iter().map(QuestionView::from).collect(),
        }
    }
}

/// A question as its author sees it: with the answer and the explanation.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminQuestionView {
    pub id: Uuid,
    pub question_text: String,
    pub question_type: String,
    pub options: Vec<String>,
    pub correct_answer: String,
    pub explanation: Option<String>,
    pub order_index: i32,
}

/// `POST /admin/quizzes`: the stored quiz, answers included.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminQuizView {
    pub id: Uuid,
    pub topic_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub difficulty: Option<String>,
    pub source: String,
    pub generated_by_ai: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub questions: Vec<AdminQuestionView>,
}

impl AdminQuizView {
    pub fn new(quiz: quizzes::Model, questions: &[quiz_questions::Model]) -> Self {
        Self {
            id: quiz.id,
            topic_id: quiz.topic_id,
            title: quiz.title,
            description: quiz.description,
            difficulty: quiz.difficulty,
            source: quiz.source,
            generated_by_ai: quiz.generated_by_ai,
            created_by: quiz.created_by,
            created_at: quiz.created_at,
            questions: questions
                .iter()
                .map(|q| AdminQuestionView {
                    id: q.id,
                    question_text: q.question_text.clone(),
                    question_type: q.question_type.clone(),
                    options: options_of(q),
                    correct_answer: q.correct_answer.clone(),
                    explanation: q.explanation.clone(),
                    order_index: q.order_index,
                })
                .collect(),
        }
    }
}

/// `POST /admin/quizzes`: a hand-written quiz. Every question goes through the same validator
/// as generated ones.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuizRequest {
    #[garde(skip)]
    pub topic_id: Uuid,
    #[garde(length(chars, min = 1, max = MAX_TITLE_CHARS))]
    pub title: String,
    #[garde(inner(length(chars, max = MAX_DESCRIPTION_CHARS)))]
    pub description: Option<String>,
    /// Free text such as `beginner`, `intermediate`, `advanced`.
    #[garde(inner(length(chars, max = MAX_DIFFICULTY_CHARS)))]
    pub difficulty: Option<String>,
    /// 1 to 100 questions.
    #[garde(length(min = 1, max = MAX_QUESTIONS), dive)]
    pub questions: Vec<QuestionDraft>,
}

/// One answer of an attempt.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// A question of this quiz, at most once per attempt.
    #[garde(skip)]
    pub question_id: Uuid,
    /// One of the question's options (matched ignoring case and surrounding spaces).
    #[garde(length(chars, max = MAX_OPTION_CHARS))]
    pub answer: String,
}

/// `POST /quizzes/{id}/attempts`: the answers; questions left out count as wrong.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitAttemptRequest {
    /// 1 to 100 answers.
    #[garde(length(min = 1, max = MAX_QUESTIONS), dive)]
    pub answers: Vec<AnswerInput>,
    /// When the student opened the quiz (RFC 3339), if the client kept it; not after now.
    #[garde(skip)]
    pub started_at: Option<DateTime<Utc>>,
}

/// A submitted attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub id: Uuid,
    pub quiz_id: Uuid,
    /// 0–100 with two decimals: 2 correct of 3 is 66.67.
    pub score_percentage: f64,
    pub correct_count: i32,
    pub total_questions: i32,
    /// XP this attempt earned (the correct answers beyond my best earlier attempt, and the
    /// first-100 % bonus).
    pub xp_awarded: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: DateTime<Utc>,
}

impl From<&quiz_attempts::Model> for AttemptView {
    fn from(a: &quiz_attempts::Model) -> Self {
        Self {
            id: a.id,
            quiz_id: a.quiz_id,
            score_percentage: a.score_percentage.0.to_f64().unwrap_or(0.0),
            correct_count: a.correct_count,
            total_questions: a.total_questions,
            xp_awarded: a.xp_awarded,
            started_at: a.started_at,
            completed_at: a.completed_at,
        }
    }
}

/// The verdict on one question of the quiz, shown after submitting.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionResult {
    pub question_id: Uuid,
    /// My answer (as the option is written); null when I left the question out.
    pub answer: Option<String>,
    pub correct: bool,
    pub correct_answer: String,
    pub explanation: Option<String>,
}

/// `POST /quizzes/{id}/attempts` → 201.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    pub attempt: AttemptView,
    /// Every question of the quiz in order, answered or not.
    pub results: Vec<QuestionResult>,
    /// XP this submission awarded (same as `attempt.xp_awarded`).
    pub xp_awarded: i32,
    /// Achievements this submission unlocked.
    pub achievements_unlocked: Vec<Uuid>,
}

/// `GET /quiz-attempts/{id}`: one of my attempts with its per-question results.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptDetail {
    pub attempt: AttemptView,
    pub results: Vec<QuestionResult>,
}

/// `GET /me/quiz-attempts`: my attempts, newest first.
#[derive(Debug, Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttemptListQuery {
    /// Only attempts on this quiz.
    #[garde(skip)]
    pub quiz_id: Option<Uuid>,
    /// How many items, 1 to 100 (default 20).
    #[garde(range(min = 1, max = 100))]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[garde(skip)]
    pub cursor: Option<String>,
}

/// One question's item statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemStats {
    pub question_id: Uuid,
    pub order_index: i32,
    pub question_text: String,
    /// Share of counted attempts that answered correctly (left out = wrong); null with no
    /// attempts.
    pub facility: Option<f64>,
    /// Corrected point-biserial correlation between this item (0/1) and the rest of the test
    /// (correct answers on the other questions); null when either does not vary.
    pub discrimination: Option<f64>,
    /// Why the item looks dubious: `too_easy` (facility > 0.9), `too_hard` (facility < 0.2),
    /// `low_discrimination` (discrimination < 0.2). Empty until `min_attempts_for_flags`
    /// attempts are counted.
    pub flags: Vec<String>,
    pub flagged: bool,
}

/// `GET /admin/quizzes/{id}/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuizStats {
    pub quiz_id: Uuid,
    /// Every attempt ever submitted on the quiz.
    pub attempt_count: i64,
    /// Attempts the statistics use: each student's first attempt only.
    pub counted_attempts: i64,
    /// Items are flagged only once this many attempts are counted.
    pub min_attempts_for_flags: i64,
    pub questions: Vec<ItemStats>,
}
