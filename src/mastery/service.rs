//! The mastery model (SPEC §3 Mastery): how `topic_progress.mastery_score` (0–100) moves.
//!
//! Two kinds of evidence feed it, and a forgetting curve ages it:
//!
//! - **Quiz performance** — the strongest evidence of what a student can retrieve. It is kept
//!   as an exponentially weighted moving average of the topic's quiz scores,
//!   `quiz_avg ← α·score + (1 − α)·quiz_avg` with α = [`QUIZ_EWMA_ALPHA`] (the first quiz sets
//!   it), in `topic_progress.quiz_score_avg`. Recent attempts count most, so a later bad quiz
//!   pulls mastery down and a run of good ones pushes it up, while a single fluke moves it only
//!   part of the way.
//! - **Lesson coverage** — `lessons_completed / lessons_in_topic`, counted afresh from
//!   `lesson_progress` on every event. Reading lessons is exposure, not proof of recall, so
//!   before any quiz the score is coverage alone capped at [`COVERAGE_ONLY_CAP`] (50): lessons
//!   alone never make a topic "proficient". Once a quiz exists the stored score is
//!   `100·(w_q·quiz_avg/100 + w_c·coverage)` with w_q = [`QUIZ_WEIGHT`] (0.7) and
//!   w_c = [`COVERAGE_WEIGHT`] (0.3). A topic without lessons is judged by its quizzes alone.
//! - **Forgetting** — memory of a topic fades with time since it was last practised (a lesson
//!   completed or a quiz taken there). Following the exponential forgetting curve
//!   (Ebbinghaus; the half-life form used by spaced-repetition models), the score shown at read
//!   time is `stored · 0.5^(days / half_life)` with a half-life of [`HALF_LIFE_DAYS`] (30), never
//!   below [`DECAY_FLOOR`] (50 %) of the stored score: what was once mastered is relearnt faster
//!   than it was first learnt (savings), so it never falls back to nothing. The stored score is
//!   left undecayed; [`current_score`] applies the decay. When new evidence arrives, the old quiz
//!   average is first aged by the same factor (old evidence says less about today), then the
//!   new score is blended in — so one lucky quiz after a long break does not restore full mastery.
//!
//! Each event runs inside the caller's transaction, after `db::lock_user`; the row for
//! (user, topic) is created with insert-or-ignore on its unique key, so racing first events
//! create it once.

use rust_decimal::Decimal;

use crate::entity::numeric::Numeric;
use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::model::{MasteryLevel, TopicMasteryView};
use crate::accounts::CurrentUser;
use crate::entity::{lesson_progress, lessons, topic_progress, topics};
use crate::http::Page;
use crate::http::error::AppResult;
use crate::http::extract::{PageParams, encode_cursor, next_page};
use crate::state::AppState;

/// Weight of the newest quiz in the moving average.
pub const QUIZ_EWMA_ALPHA: f64 = 0.4;
/// Share of the score that quiz performance carries once a quiz exists.
pub const QUIZ_WEIGHT: f64 = 0.7;
/// Share of the score that lesson coverage carries once a quiz exists.
pub const COVERAGE_WEIGHT: f64 = 0.3;
/// The most that lessons alone can earn, before any quiz.
pub const COVERAGE_ONLY_CAP: f64 = 50.0;
/// Days after which an unpractised topic's shown score has halved (before the floor).
pub const HALF_LIFE_DAYS: f64 = 30.0;
/// The fraction of the stored score that decay never goes below.
pub const DECAY_FLOOR: f64 = 0.5;

/// The factor by which a score fades after `days` without practice: `0.5^(days/half-life)`,
/// never below [`DECAY_FLOOR`].
pub fn decay_factor(days: f64) -> f64 {
    if !days.is_finite() || days <= 0.0 {
        return 1.0;
    }
    f64::max(0.5_f64.powf(days / HALF_LIFE_DAYS), DECAY_FLOOR)
}

fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 86_400_000.0
}

/// The moving average after a quiz scoring `score` (0–100); `previous` is the (already aged)
/// average, `None` before the first quiz.
pub fn next_quiz_average(previous: Option<f64>, score: f64) -> f64 {
    match previous {
        None => score,
        Some(avg) => QUIZ_EWMA_ALPHA * score + (1.0 - QUIZ_EWMA_ALPHA) * avg,
    }
}

/// The stored mastery (0–100) from the quiz average and lesson coverage (see the module doc).
pub fn blended_score(quiz_avg: Option<f64>, lessons_completed: i64, lessons_total: i64) -> f64 {
    let coverage = if lessons_total > 0 {
        (lessons_completed as f64 / lessons_total as f64).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let score = match (quiz_avg, lessons_total > 0) {
        (None, _) => COVERAGE_ONLY_CAP * coverage,
        (Some(q), true) => 100.0 * (QUIZ_WEIGHT * q / 100.0 + COVERAGE_WEIGHT * coverage),
        // Nothing to cover: the quizzes are the only evidence.
        (Some(q), false) => q,
    };
    score.clamp(0.0, 100.0)
}

/// The mastery shown for a `topic_progress` row at `now`: the stored score aged by the time
/// since the topic was last practised (SPEC §3 Mastery, "decays slowly with time").
pub fn current_score(row: &topic_progress::Model, now: DateTime<Utc>) -> f64 {
    let factor = row
        .last_practiced_at
        .map(|at| decay_factor(days_between(at, now)))
        .unwrap_or(1.0);
    (score_f64(row.mastery_score) * factor).clamp(0.0, 100.0)
}

/// A score as stored: `topic_progress.mastery_score` is NUMERIC(5,2).
fn stored_score(score: f64) -> Numeric {
    Numeric(
        Decimal::from_f64_retain(score.clamp(0.0, 100.0))
            .unwrap_or_default()
            .round_dp(2),
    )
}

fn score_f64(score: Numeric) -> f64 {
    score.0.to_f64().unwrap_or(0.0)
}

/// The (user, topic) row, created empty if it does not exist yet. Insert-or-ignore on the
/// unique (user_id, topic_id) key, so two first events cannot create two rows.
async fn ensure_row(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    topic_id: Uuid,
    now: DateTime<Utc>,
) -> Result<topic_progress::Model, DbErr> {
    topic_progress::Entity::insert(topic_progress::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        topic_id: Set(topic_id),
        mastery_score: Set(Numeric::default()),
        lessons_completed: Set(0),
        quizzes_taken: Set(0),
        last_practiced_at: Set(None),
        last_updated: Set(now),
        quiz_score_avg: Set(None),
    })
    .on_conflict_do_nothing_on([
        topic_progress::Column::UserId,
        topic_progress::Column::TopicId,
    ])
    .exec_without_returning(conn)
    .await?;
    topic_progress::Entity::find()
        .filter(topic_progress::Column::UserId.eq(user_id))
        .filter(topic_progress::Column::TopicId.eq(topic_id))
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("topic_progress after insert".into()))
}

/// How many lessons of the topic the user has completed.
async fn completed_lessons(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    topic_id: Uuid,
) -> Result<i64, DbErr> {
    let n = lesson_progress::Entity::find()
        .inner_join(lessons::Entity)
        .filter(lesson_progress::Column::UserId.eq(user_id))
        .filter(lesson_progress::Column::Completed.eq(true))
        .filter(lessons::Column::TopicId.eq(topic_id))
        .count(conn)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

async fn lessons_in_topic(conn: &impl ConnectionTrait, topic_id: Uuid) -> Result<i64, DbErr> {
    let n = lessons::Entity::find()
        .filter(lessons::Column::TopicId.eq(topic_id))
        .count(conn)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Recounts coverage, blends it with `quiz_avg`, and stores the result as practised at `now`.
async fn store(
    conn: &impl ConnectionTrait,
    row: topic_progress::Model,
    quiz_avg: Option<f64>,
    quizzes_taken: i32,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let completed = completed_lessons(conn, row.user_id, row.topic_id).await?;
    let total = lessons_in_topic(conn, row.topic_id).await?;
    let mut active: topic_progress::ActiveModel = row.into();
    active.mastery_score = Set(stored_score(blended_score(quiz_avg, completed, total)));
    active.lessons_completed = Set(i32::try_from(completed).unwrap_or(i32::MAX));
    active.quizzes_taken = Set(quizzes_taken);
    active.quiz_score_avg = Set(quiz_avg);
    active.last_practiced_at = Set(Some(now));
    active.last_updated = Set(now);
    active.update(conn).await?;
    Ok(())
}

/// The quiz average aged by the time since the last practice (see the module doc).
fn aged_quiz_average(row: &topic_progress::Model, now: DateTime<Utc>) -> Option<f64> {
    let factor = row
        .last_practiced_at
        .map(|at| decay_factor(days_between(at, now)))
        .unwrap_or(1.0);
    row.quiz_score_avg.map(|avg| avg * factor)
}

/// SPEC §3 Mastery: a lesson of `topic_id` was completed. Recounts the topic's completed
/// lessons, marks the topic practised now and recomputes the stored score. Call inside the
/// transaction that completes the lesson, after `db::lock_user`.
pub async fn on_lesson_completed(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    topic_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = ensure_row(conn, user_id, topic_id, now).await?;
    let quiz_avg = aged_quiz_average(&row, now);
    let quizzes_taken = row.quizzes_taken;
    store(conn, row, quiz_avg, quizzes_taken, now).await
}

/// SPEC §3 Mastery: a quiz attempt on `topic_id` scored `score` (0–100; values outside are
/// clamped). Counts the quiz, moves the weighted quiz average and recomputes the stored score.
/// Call inside the transaction that records the attempt, after `db::lock_user`.
pub async fn on_quiz_scored(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    topic_id: Uuid,
    score: f64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if !score.is_finite() {
        return Err(DbErr::Custom(format!(
            "a quiz score must be a number from 0 to 100, not {score}"
        )));
    }
    let score = score.clamp(0.0, 100.0);
    let row = ensure_row(conn, user_id, topic_id, now).await?;
    let quiz_avg = next_quiz_average(aged_quiz_average(&row, now), score);
    let quizzes_taken = row.quizzes_taken.saturating_add(1);
    store(conn, row, Some(quiz_avg), quizzes_taken, now).await
}

/// `GET /me/mastery`: the user's topics with progress, oldest first, each with the decayed
/// score now (SPEC §3 Mastery). Other users' rows are never read.
pub async fn my_mastery(
    state: &AppState,
    user: &CurrentUser,
    page: PageParams,
) -> AppResult<Page<TopicMasteryView>> {
    let now = state.clock.now();
    let conn = state.db.read();
    let limit = page.limit();
    let mut select = topic_progress::Entity::find()
        .filter(topic_progress::Column::UserId.eq(user.id))
        .order_by_asc(topic_progress::Column::Id);
    if let Some(after) = page.after_id()? {
        select = select.filter(topic_progress::Column::Id.gt(after));
    }
    let mut rows = select
        .find_also_related(topics::Entity)
        .limit(limit + 1)
        .all(conn)
        .await?;
    let next_cursor = next_page(&mut rows, limit, |(row, _)| encode_cursor(row.id));

    let topic_ids: Vec<Uuid> = rows.iter().map(|(row, _)| row.topic_id).collect();
    let totals: Vec<(Uuid, i64)> = if topic_ids.is_empty() {
        Vec::new()
    } else {
        lessons::Entity::find()
            .select_only()
            .column(lessons::Column::TopicId)
            .column_as(Expr::col(lessons::Column::Id).count(), "lessons")
            .filter(lessons::Column::TopicId.is_in(topic_ids))
            .group_by(lessons::Column::TopicId)
            .into_tuple()
            .all(conn)
            .await?
    };

    let items = rows
        .into_iter()
        // A topic deleted between the two reads has no name to show; its row goes with it.
        .filter_map(|(row, topic)| topic.map(|t| (row, t)))
        .map(|(row, topic)| {
            let mastery = current_score(&row, now);
            let lessons_total = totals
                .iter()
                .find(|(id, _)| *id == row.topic_id)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            TopicMasteryView {
                topic_id: row.topic_id,
                topic_name: topic.name,
                subject_id: topic.subject_id,
                mastery,
                stored_mastery: score_f64(row.mastery_score),
                level: MasteryLevel::for_score(mastery),
                lessons_completed: row.lessons_completed,
                lessons_total,
                quizzes_taken: row.quizzes_taken,
                quiz_average: row.quiz_score_avg,
                last_practiced_at: row.last_practiced_at,
            }
        })
        .collect();
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lessons_alone_never_pass_the_cap() {
        assert_eq!(blended_score(None, 0, 4), 0.0);
        assert_eq!(blended_score(None, 2, 4), COVERAGE_ONLY_CAP / 2.0);
        assert_eq!(blended_score(None, 4, 4), COVERAGE_ONLY_CAP);
        assert_eq!(blended_score(None, 0, 0), 0.0);
    }

    #[test]
    fn quizzes_and_coverage_blend() {
        assert!((blended_score(Some(100.0), 4, 4) - 100.0).abs() < 1e-9);
        assert!((blended_score(Some(100.0), 0, 4) - 100.0 * QUIZ_WEIGHT).abs() < 1e-9);
        assert!((blended_score(Some(60.0), 0, 0) - 60.0).abs() < 1e-9);
    }

    #[test]
    fn the_moving_average_follows_recent_quizzes() {
        let first = next_quiz_average(None, 90.0);
        assert_eq!(first, 90.0);
        let after_bad = next_quiz_average(Some(first), 10.0);
        assert!(after_bad < first && after_bad > 10.0);
        let after_good = next_quiz_average(Some(after_bad), 100.0);
        assert!(after_good > after_bad);
    }

    #[test]
    fn decay_halves_per_half_life_and_stops_at_the_floor() {
        assert_eq!(decay_factor(0.0), 1.0);
        assert_eq!(decay_factor(-3.0), 1.0);
        assert!((decay_factor(HALF_LIFE_DAYS / 2.0) - 0.5_f64.sqrt()).abs() < 1e-9);
        assert!((decay_factor(HALF_LIFE_DAYS) - 0.5).abs() < 1e-9);
        assert_eq!(decay_factor(10.0 * HALF_LIFE_DAYS), DECAY_FLOOR);
    }
}
