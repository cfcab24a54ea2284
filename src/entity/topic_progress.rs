//! `topic_progress`: a user's mastery of one topic.

use sea_orm::entity::prelude::*;

use super::numeric::Numeric;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "topic_progress")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub topic_id: Uuid,
    /// 0–100, two decimals.
    pub mastery_score: Numeric,
    pub lessons_completed: i32,
    pub quizzes_taken: i32,
    pub last_practiced_at: Option<DateTimeUtc>,
    pub last_updated: DateTimeUtc,
    /// Exponentially weighted average of the topic's quiz scores (0–100); NULL before any quiz.
    pub quiz_score_avg: Option<f64>,
}

relations! {
    Topics: TopicId -> topics,
}

impl ActiveModelBehavior for ActiveModel {}
