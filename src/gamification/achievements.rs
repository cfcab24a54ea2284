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
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TryInsertResult,
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

/// Runs a single-value `SELECT` and reads it as an integer (0 when there is no row).
async fn scalar(conn: &impl ConnectionTrait, stmt: &SelectStatement) -> Result<i64, DbErr> {
    match conn.query_one(stmt).await? {
        Some(row) => row.try_get_by_index::<i64>(0),
        None => Ok(0),
    }
}

/// Distinct quizzes the user has an attempt on, optionally only attempts scoring at least `min_score`.
fn distinct_quizzes(user_id: Uuid, min_score: Option<i32>) -> SelectStatement {
    let mut stmt = Query::select();
    stmt.expr(Expr::col(quiz_attempts::Column::QuizId).count_distinct())
        .from(quiz_attempts::Entity)
        .and_where(quiz_attempts::Column::UserId.eq(user_id));
    if let Some(min) = min_score {
        stmt.and_where(
            quiz_attempts::Column::ScorePercentage.gte(rust_decimal::Decimal::from(min)),
        );
    }
    stmt
}

/// The user's current value for `criteria` (see the module doc for what each one counts).
pub async fn metric(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    criteria: Criteria,
) -> Result<i64, DbErr> {
    scalar(conn, &metric_select(user_id, criteria)).await
}

/// [`metric`] as a one-value `SELECT` (a BIGINT on PostgreSQL), so that an evaluation can
/// compare every threshold with it inside one statement.
fn metric_select(user_id: Uuid, criteria: Criteria) -> SelectStatement {
    match criteria {
        Criteria::TotalXp => xp::total_xp_select(user_id),
        Criteria::StreakDays => crate::study::streaks::longest_streak_select(user_id),
        Criteria::LessonsCompleted => Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(lesson_progress::Entity)
            .and_where(lesson_progress::Column::UserId.eq(user_id))
            .and_where(lesson_progress::Column::Completed.eq(true))
            .to_owned(),
        Criteria::QuizzesCompleted => distinct_quizzes(user_id, None),
        Criteria::PerfectQuizzes => distinct_quizzes(user_id, Some(PERFECT_SCORE)),
        Criteria::StudyMinutes => Query::select()
            // The cast keeps the type BIGINT on PostgreSQL, where SUM(int) is BIGINT but
            // would be NUMERIC for wider columns; whole minutes by integer division.
            .expr(Expr::cust(
                "CAST(COALESCE(SUM(duration_seconds), 0) AS BIGINT) / 60",
            ))
            .from(study_sessions::Entity)
            .and_where(study_sessions::Column::UserId.eq(user_id))
            .and_where(study_sessions::Column::EndedAt.is_not_null())
            .to_owned(),
        Criteria::DoubtsAsked => Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(doubt_messages::Entity)
            .inner_join(
                doubt_sessions::Entity,
                Expr::col((doubt_sessions::Entity, doubt_sessions::Column::Id)).equals((
                    doubt_messages::Entity,
                    doubt_messages::Column::DoubtSessionId,
                )),
            )
            .and_where(doubt_sessions::Column::UserId.eq(user_id))
            .and_where(doubt_messages::Column::Role.eq(ROLE_USER))
            .to_owned(),
        Criteria::Friends => Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(friends::Entity)
            .and_where(friends::Column::Status.eq(FRIENDSHIP_ACCEPTED))
            .cond_where(
                Condition::any()
                    .add(friends::Column::RequesterId.eq(user_id))
                    .add(friends::Column::AddresseeId.eq(user_id)),
            )
            .to_owned(),
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
}

/// The achievements of the `moved` criteria types the user has not unlocked yet and now
/// qualifies for, in one statement: each criteria type's threshold is compared with its metric
/// ([`metric_select`]) as a subquery, which the database computes once. A `CASE` orders the
/// tests, so a metric is computed only for a criteria type with a still-locked achievement
/// (counting every question of a user whose question achievements are all unlocked would
/// cost more than the statement it saves).
async fn reached(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    moved: &[Criteria],
) -> Result<Vec<achievements::Model>, DbErr> {
    let unlocked = Query::select()
        .column(user_achievements::Column::AchievementId)
        .from(user_achievements::Entity)
        .and_where(user_achievements::Column::UserId.eq(user_id))
        .to_owned();
    let mut qualifies = Expr::case(
        Expr::col((achievements::Entity, achievements::Column::Id)).in_subquery(unlocked),
        false,
    );
    for criteria in moved {
        let value = Expr::SubQuery(None, Box::new(metric_select(user_id, *criteria).into()));
        qualifies = qualifies.case(
            achievements::Column::CriteriaType.eq(criteria.as_str()),
            Expr::col((achievements::Entity, achievements::Column::CriteriaValue)).lte(value),
        );
    }
    let qualifies: Expr = qualifies.finally(false).into();
    achievements::Entity::find()
        .filter(achievements::Column::CriteriaType.is_in(moved.iter().map(|c| c.as_str())))
        .filter(qualifies)
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
/// `streak_days` and `total_xp`, never `friends` — and a round is one statement that returns
/// only the locked achievements whose threshold is reached ([`reached`]): when nothing unlocks,
/// which is nearly always, the whole evaluation is that one statement. An achievement someone
/// already qualifies for when it is created unlocks at their next event of its kind. Reward XP
/// can itself reach a `total_xp` threshold, so another round runs while rewards were awarded,
/// up to a bound. Unknown criteria types never unlock.
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
    let mut unlocked = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let mut candidates: Vec<(Criteria, achievements::Model)> = reached(conn, user_id, &moved)
            .await?
            .into_iter()
            .filter_map(|a| Criteria::parse(&a.criteria_type).map(|c| (c, a)))
            .collect();
        // XP thresholds last and lowest first: the order the ids are reported in.
        candidates.sort_by_key(|(c, a)| (*c == Criteria::TotalXp, a.criteria_value, a.id));
        let mut awarded_any = false;
        for (_, achievement) in &candidates {
            if let Some(xp) = unlock(conn, user_id, achievement, now).await? {
                unlocked.push(achievement.id);
                awarded_any |= xp > 0;
            }
        }
        // Only a reward can have moved a metric since this round's statement.
        if !awarded_any {
            break;
        }
    }
    Ok(unlocked)
}
