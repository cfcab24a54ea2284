//! The mastery model (SPEC §3 Mastery).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::entity::topic_progress;

/// The mastery shown for a `topic_progress` row at `now` (the stored score with the decay of
/// the time since the topic was last practised applied).
pub fn current_score(row: &topic_progress::Model, _now: DateTime<Utc>) -> f64 {
    row.mastery_score
}

/// Called inside the transaction that completes a lesson of `topic_id` for the first time.
pub async fn on_lesson_completed(
    _conn: &impl ConnectionTrait,
    _user_id: Uuid,
    _topic_id: Uuid,
    _now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Ok(())
}

/// Called inside the transaction that records a quiz attempt on `topic_id` scoring `score` (0–100).
pub async fn on_quiz_scored(
    _conn: &impl ConnectionTrait,
    _user_id: Uuid,
    _topic_id: Uuid,
    _score: f64,
    _now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Ok(())
}
