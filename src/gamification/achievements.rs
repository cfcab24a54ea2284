//! Achievements (SPEC §3 Achievements): what each criteria type measures, and unlocking.
//!
//! A definition says "unlock when my `criteria_type` value reaches `criteria_value`". The
//! values are read from the tables that record what the user did, so an evaluation is always
//! exact, whatever event triggered it:
//!
//! | criteria_type | the user's value |
//! |---|---|
//! | `total_xp` | sum of `xp_logs` |
//! | `streak_days` | `user_streaks.longest_streak` (a streak once reached stays earned) |
//! | `lessons_completed` | `lesson_progress` rows with status `completed` |
//! | `quizzes_completed` | distinct quizzes with a submitted attempt — retaking one quiz ten times is not ten quizzes |
//! | `perfect_quizzes` | distinct quizzes with an attempt scoring 100 |
//! | `study_minutes` | sum of `duration_seconds` of ended study sessions, in whole minutes |
//! | `doubts_asked` | the user's own messages (role `user`) in their doubt sessions |
//! | `friends` | accepted friendships, whoever asked |
//!
//! Unlocking is exactly-once by constraint: insert into `user_achievements` with
//! ON CONFLICT (user_id, achievement_id) DO NOTHING, and only the insert that happened awards
//! the reward XP (itself idempotent per achievement in `xp_logs`). An achievement created (or
//! made easier) by an admin is unlocked for a user who already qualifies the next time
//! `evaluate` runs for them, that is at their next event that can move an achievement.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    TryInsertResult,
};
use uuid::Uuid;

use super::xp::{self, XpSource};
use crate::entity::{
    achievements, doubt_messages, doubt_sessions, friends, lesson_progress, quiz_attempts,
    study_sessions, user_achievements,
};

/// A kind of achievement criterion (`achievements.criteria_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Criteria {
    TotalXp,
    StreakDays,
    LessonsCompleted,
    QuizzesCompleted,
    PerfectQuizzes,
    StudyMinutes,
    DoubtsAsked,
    Friends,
}

impl Criteria {
    pub const ALL: [Criteria; 8] = [
        Criteria::TotalXp,
        Criteria::StreakDays,
        Criteria::LessonsCompleted,
        Criteria::QuizzesCompleted,
        Criteria::PerfectQuizzes,
        Criteria::StudyMinutes,
        Criteria::DoubtsAsked,
        Criteria::Friends,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Criteria::TotalXp => "total_xp",
            Criteria::StreakDays => "streak_days",
            Criteria::LessonsCompleted => "lessons_completed",
            Criteria::QuizzesCompleted => "quizzes_completed",
            Criteria::PerfectQuizzes => "perfect_quizzes",
            Criteria::StudyMinutes => "study_minutes",
            Criteria::DoubtsAsked => "doubts_asked",
            Criteria::Friends => "friends",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

/// `doubt_messages.role` of the student's own messages.
const ROLE_USER: &str = "user";
/// `friends.status` of a friendship (as opposed to a pending request).
const FRIENDSHIP_ACCEPTED: &str = "accepted";
/// A perfect quiz score.
const PERFECT_SCORE: i32 = 100;
/// Each round can only be needed because the previous one awarded XP; the achievements table
/// is small, so a handful of rounds covers any real chain while bounding a pathological one.
const MAX_ROUNDS: usize = 16;

fn count_to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Runs a single-value `SELECT` and reads it as an integer (0 when there is no row).
async fn scalar(conn: &impl ConnectionTrait, stmt: &SelectStatement) -> Result<i64, DbErr> {
    match conn.query_one(stmt).await? {
        Some(row) => row.try_get_by_index::<i64>(0),
        None => Ok(0),
    }
}

/// Distinct quizzes the user has an attempt on, optionally only attempts scoring at least `min_score`.
async fn distinct_quizzes(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    min_score: Option<i32>,
) -> Result<i64, DbErr> {
    let mut stmt = Query::select();
    stmt.expr(Expr::col(quiz_attempts::Column::QuizId).count_distinct())
        .from(quiz_attempts::Entity)
        .and_where(quiz_attempts::Column::UserId.eq(user_id));
    if let Some(min) = min_score {
        stmt.and_where(
            quiz_attempts::Column::ScorePercentage.gte(rust_decimal::Decimal::from(min)),
        );
    }
    scalar(conn, &stmt).await
}

/// The user's current value for `criteria` (see the module doc for what each one counts).
pub async fn metric(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    criteria: Criteria,
) -> Result<i64, DbErr> {
    match criteria {
        Criteria::TotalXp => xp::total_xp(conn, user_id).await,
        Criteria::StreakDays => Ok(crate::study::streaks::find(conn, user_id)
            .await?
            .map(|s| i64::from(s.longest_streak))
            .unwrap_or(0)),
        Criteria::LessonsCompleted => lesson_progress::Entity::find()
            .filter(lesson_progress::Column::UserId.eq(user_id))
            .filter(lesson_progress::Column::Completed.eq(true))
            .count(conn)
            .await
            .map(count_to_i64),
        Criteria::QuizzesCompleted => distinct_quizzes(conn, user_id, None).await,
        Criteria::PerfectQuizzes => distinct_quizzes(conn, user_id, Some(PERFECT_SCORE)).await,
        Criteria::StudyMinutes => {
            let stmt = Query::select()
                // The cast keeps the type BIGINT on PostgreSQL, where SUM(int) is BIGINT but
                // would be NUMERIC for wider columns.
                .expr(Expr::cust(
                    "CAST(COALESCE(SUM(duration_seconds), 0) AS BIGINT)",
                ))
                .from(study_sessions::Entity)
                .and_where(study_sessions::Column::UserId.eq(user_id))
                .and_where(study_sessions::Column::EndedAt.is_not_null())
                .to_owned();
            Ok(scalar(conn, &stmt).await? / 60)
        }
        Criteria::DoubtsAsked => doubt_messages::Entity::find()
            .inner_join(doubt_sessions::Entity)
            .filter(doubt_sessions::Column::UserId.eq(user_id))
            .filter(doubt_messages::Column::Role.eq(ROLE_USER))
            .count(conn)
            .await
            .map(count_to_i64),
        Criteria::Friends => friends::Entity::find()
            .filter(friends::Column::Status.eq(FRIENDSHIP_ACCEPTED))
            .filter(
                Condition::any()
                    .add(friends::Column::RequesterId.eq(user_id))
                    .add(friends::Column::AddresseeId.eq(user_id)),
            )
            .count(conn)
            .await
            .map(count_to_i64),
    }
}

/// Metric values, each read at most once per evaluation or listing.
#[derive(Debug, Default)]
pub struct Metrics(HashMap<Criteria, i64>);

impl Metrics {
    pub async fn get(
        &mut self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
        criteria: Criteria,
    ) -> Result<i64, DbErr> {
        if let Some(v) = self.0.get(&criteria) {
            return Ok(*v);
        }
        let v = metric(conn, user_id, criteria).await?;
        self.0.insert(criteria, v);
        Ok(v)
    }

    /// Keeps a read `total_xp` in step with XP this evaluation awarded itself.
    fn add_xp(&mut self, amount: i32) {
        if let Some(v) = self.0.get_mut(&Criteria::TotalXp) {
            *v += i64::from(amount);
        }
    }
}

/// The achievements of the `moved` criteria types the user has not unlocked yet.
async fn locked(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    moved: &[Criteria],
) -> Result<Vec<achievements::Model>, DbErr> {
    achievements::Entity::find()
        .filter(achievements::Column::CriteriaType.is_in(moved.iter().map(|c| c.as_str())))
        .filter(
            achievements::Column::Id.not_in_subquery(
                Query::select()
                    .column(user_achievements::Column::AchievementId)
                    .from(user_achievements::Entity)
                    .and_where(user_achievements::Column::UserId.eq(user_id))
                    .to_owned(),
            ),
        )
        .all(conn)
        .await
}

/// Unlocks `achievement` for the user unless it already is; returns the XP awarded, or `None`
/// when another evaluation had unlocked it first.
async fn unlock(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    achievement: &achievements::Model,
    now: DateTime<Utc>,
) -> Result<Option<i32>, DbErr> {
    let inserted = user_achievements::Entity::insert(user_achievements::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        achievement_id: Set(achievement.id),
        unlocked_at: Set(now),
    })
    .on_conflict_do_nothing_on([
        user_achievements::Column::UserId,
        user_achievements::Column::AchievementId,
    ])
    .exec_without_returning(conn)
    .await?;
    if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        return Ok(None);
    }
    let awarded = xp::award(
        conn,
        user_id,
        XpSource::Achievement,
        achievement.id,
        achievement.xp_reward,
        &format!("Achievement unlocked: {}", achievement.title),
        now,
    )
    .await?;
    Ok(Some(awarded))
}

/// Evaluates the user's achievements of the criteria types an event `moved` (SPEC §3
/// Achievements); unlocks each at most once and awards its XP reward once. Returns the ids
/// unlocked now. Call inside the event's transaction, after `db::lock_user`.
///
/// Only what the event can change is looked at — a completed lesson moves `lessons_completed`,
/// `streak_days` and `total_xp`, never `friends` — and each needed metric is read once (only
/// for criteria types of still-locked achievements). An achievement someone already qualifies
/// for when it is created unlocks at their next event of its kind. Reward XP can itself reach
/// a `total_xp` threshold, so the evaluation repeats while rewards were awarded, up to a
/// bound. Unknown criteria types never unlock.
pub async fn evaluate(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    moved: &[Criteria],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbErr> {
    let mut moved = moved.to_vec();
    // A reward is XP: whatever unlocks may move `total_xp`.
    if !moved.contains(&Criteria::TotalXp) {
        moved.push(Criteria::TotalXp);
    }
    let mut metrics = Metrics::default();
    let mut unlocked = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let mut candidates: Vec<(Criteria, achievements::Model)> = locked(conn, user_id, &moved)
            .await?
            .into_iter()
            .filter_map(|a| Criteria::parse(&a.criteria_type).map(|c| (c, a)))
            .collect();
        // XP thresholds last and lowest first, so rewards earned earlier in the round count.
        candidates.sort_by_key(|(c, a)| (*c == Criteria::TotalXp, a.criteria_value, a.id));
        let mut awarded_any = false;
        for (criteria, achievement) in &candidates {
            let value = metrics.get(conn, user_id, *criteria).await?;
            if value < i64::from(achievement.criteria_value) {
                continue;
            }
            if let Some(xp) = unlock(conn, user_id, achievement, now).await? {
                unlocked.push(achievement.id);
                if xp > 0 {
                    metrics.add_xp(xp);
                    awarded_any = true;
                }
            }
        }
        let xp_threshold_left = candidates
            .iter()
            .any(|(c, a)| *c == Criteria::TotalXp && !unlocked.contains(&a.id));
        if !awarded_any || !xp_threshold_left {
            break;
        }
    }
    Ok(unlocked)
}
