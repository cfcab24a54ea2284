//! Store functions over the quiz tables that other areas call inside their own transactions.
//! Topics are given as a subquery of their ids, so one statement serves one topic or a whole
//! subject's.

use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

use crate::entity::{quiz_attempts, quiz_questions, quizzes};

/// How many quizzes the topics have, and how many attempts students submitted on them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QuizCounts {
    pub quizzes: u64,
    pub attempts: u64,
}

/// `SELECT id FROM quizzes WHERE topic_id IN (topic_ids)`.
fn quiz_ids(topic_ids: SelectStatement) -> SelectStatement {
    Query::select()
        .column(quizzes::Column::Id)
        .from(quizzes::Entity)
        .and_where(quizzes::Column::TopicId.in_subquery(topic_ids))
        .to_owned()
}

/// The quizzes on `topic_ids` and the attempts on those quizzes.
pub async fn counts_on_topics(
    conn: &impl ConnectionTrait,
    topic_ids: SelectStatement,
) -> Result<QuizCounts, DbErr> {
    let quizzes = quizzes::Entity::find()
        .filter(quizzes::Column::TopicId.in_subquery(topic_ids.clone()))
        .count(conn)
        .await?;
    let attempts = if quizzes == 0 {
        0
    } else {
        quiz_attempts::Entity::find()
            .filter(quiz_attempts::Column::QuizId.in_subquery(quiz_ids(topic_ids)))
            .count(conn)
            .await?
    };
    Ok(QuizCounts { quizzes, attempts })
}

/// Deletes the quizzes on `topic_ids` with their questions and every attempt on them, in the
/// caller's transaction; children first, so nothing depends on the schema's cascades. XP the
/// attempts earned stays earned, as with deleted lessons.
pub async fn delete_on_topics(
    conn: &impl ConnectionTrait,
    topic_ids: SelectStatement,
) -> Result<QuizCounts, DbErr> {
    let attempts = quiz_attempts::Entity::delete_many()
        .filter(quiz_attempts::Column::QuizId.in_subquery(quiz_ids(topic_ids.clone())))
        .exec(conn)
        .await?
        .rows_affected;
    quiz_questions::Entity::delete_many()
        .filter(quiz_questions::Column::QuizId.in_subquery(quiz_ids(topic_ids.clone())))
        .exec(conn)
        .await?;
    let quizzes = quizzes::Entity::delete_many()
        .filter(quizzes::Column::TopicId.in_subquery(topic_ids))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(QuizCounts { quizzes, attempts })
}
