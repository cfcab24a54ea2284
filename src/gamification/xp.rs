//! XP awards, totals and the level curve (SPEC §3 XP). Every award is one `xp_logs` row;
//! the unique (user_id, source_type, reference_id) constraint makes each award happen once
//! however often a request is retried or raced.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, TryInsertResult};
use uuid::Uuid;

use crate::entity::xp_logs::{self, Column, Entity};

/// What an award is for; stored as `xp_logs.source_type` with the seed's values (quiz, lesson,
/// doubt, study) and `achievement` for an achievement's reward, which is none of those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XpSource {
    Lesson,
    StudySession,
    QuizAttempt,
    QuizPerfect,
    Doubt,
    Achievement,
}

impl XpSource {
    pub fn as_str(self) -> &'static str {
        match self {
            XpSource::Lesson => "lesson",
            XpSource::StudySession => "study",
            // Both quiz awards are "quiz"; the attempt's references the attempt, the
            // perfect-score bonus references the quiz, so the unique key tells them apart.
            XpSource::QuizAttempt | XpSource::QuizPerfect => "quiz",
            XpSource::Doubt => "doubt",
            XpSource::Achievement => "achievement",
        }
    }
}

/// XP for completing a lesson (once per lesson).
pub const LESSON_XP: i32 = 10;

/// Awards `amount` XP for `(source, reference_id)` unless that award was already made.
/// Returns the XP actually awarded: `amount`, or 0 when it had been awarded before (or
/// `amount` ≤ 0, which writes nothing). Call it inside the transaction of the event.
pub async fn award(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    source: XpSource,
    reference_id: Uuid,
    amount: i32,
    description: &str,
    now: DateTime<Utc>,
) -> Result<i32, DbErr> {
    if amount <= 0 {
        return Ok(0);
    }
    let inserted = Entity::insert(xp_logs::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        xp_amount: Set(amount),
        source_type: Set(source.as_str().into()),
        reference_id: Set(Some(reference_id)),
        description: Set(Some(description.to_string())),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([Column::UserId, Column::SourceType, Column::ReferenceId])
    .exec_without_returning(conn)
    .await?;
    Ok(match inserted {
        TryInsertResult::Inserted(n) if n > 0 => {
            // The award counts on the leaderboards of its week and month.
            crate::social::leaderboard::record_xp(conn, user_id, amount, now).await?;
            amount
        }
        _ => 0,
    })
}

/// [`award`] under a cap: awards `amount` for `(source, reference_id)` only while the user's
/// XP from `source` since `since`, this award included, stays within `cap`. Returns the XP
/// awarded: `amount`, or 0 (over the cap, or awarded before). The check and the insert are one
/// statement (`INSERT … SELECT … WHERE (SELECT SUM …) + amount <= cap ON CONFLICT DO
/// NOTHING`); call it inside the event's transaction after `db::lock_user`, so that two events
/// of the user cannot both pass the check.
#[allow(clippy::too_many_arguments)]
pub async fn award_within_cap(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    source: XpSource,
    reference_id: Uuid,
    amount: i32,
    description: &str,
    since: DateTime<Utc>,
    cap: i64,
    now: DateTime<Utc>,
) -> Result<i32, DbErr> {
    // Scoped: its `max` would shadow `Ord::max` below.
    use sea_orm::sea_query::ExprTrait;
    if amount <= 0 {
        return Ok(0);
    }
    let earned = Query::select()
        .expr(Expr::cust("COALESCE(SUM(xp_amount), 0)"))
        .from(Entity)
        .and_where(Column::UserId.eq(user_id))
        .and_where(Column::SourceType.eq(source.as_str()))
        .and_where(Column::CreatedAt.gte(since))
        .to_owned();
    let row = Query::select()
        .exprs([
            Expr::val(Uuid::now_v7()),
            Expr::val(user_id),
            Expr::val(amount),
            Expr::val(source.as_str()),
            Expr::val(reference_id),
            Expr::val(description),
            Expr::val(now),
        ])
        .and_where(
            Expr::SubQuery(None, Box::new(earned.into()))
                .add(i64::from(amount))
                .lte(cap),
        )
        .to_owned();
    let stmt = Query::insert()
        .into_table(Entity)
        .columns([
            Column::Id,
            Column::UserId,
            Column::XpAmount,
            Column::SourceType,
            Column::ReferenceId,
            Column::Description,
            Column::CreatedAt,
        ])
        .select_from(row)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::columns([Column::UserId, Column::SourceType, Column::ReferenceId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    if conn.execute(&stmt).await?.rows_affected() == 0 {
        return Ok(0);
    }
    crate::social::leaderboard::record_xp(conn, user_id, amount, now).await?;
    Ok(amount)
}

/// A user's XP: the sum of their `xp_logs`.
pub async fn total_xp(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<i64, DbErr> {
    match conn.query_one(&total_xp_select(user_id)).await? {
        Some(row) => row.try_get_by_index::<i64>(0),
        None => Ok(0),
    }
}

/// The statement of [`total_xp`]: one BIGINT.
pub fn total_xp_select(user_id: Uuid) -> SelectStatement {
    Query::select()
        // The cast keeps the type BIGINT on PostgreSQL, where SUM may widen to NUMERIC.
        .expr(Expr::cust("CAST(COALESCE(SUM(xp_amount), 0) AS BIGINT)"))
        .from(Entity)
        .and_where(Column::UserId.eq(user_id))
        .to_owned()
}

/// `total_xp` as a correlated subquery over `users.id`, for reads that fetch a user's XP in
/// the same statement as the user.
pub fn total_xp_of_users_row() -> Expr {
    Expr::cust(
        "(SELECT CAST(COALESCE(SUM(x.xp_amount), 0) AS BIGINT) FROM xp_logs x WHERE x.user_id = users.id)",
    )
}

/// XP at which level `n` starts: 50·n·(n−1).
pub fn level_start(level: i32) -> i64 {
    let n = i64::from(level.max(1));
    50 * n * (n - 1)
}

/// The level reached with `xp` points: the largest n with 50·n·(n−1) ≤ xp.
pub fn level_for(xp: i64) -> i32 {
    let xp = xp.max(0);
    // Solve 50n² − 50n − xp = 0, then correct for floating-point rounding.
    let root = (1.0_f64 + 4.0 * xp as f64 / 50.0).sqrt();
    let mut n = ((1.0 + root) / 2.0).floor() as i32;
    while level_start(n + 1) <= xp {
        n += 1;
    }
    while n > 1 && level_start(n) > xp {
        n -= 1;
    }
    n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_spec_curve() {
        assert_eq!(level_for(0), 1);
        assert_eq!(level_for(99), 1);
        assert_eq!(level_for(100), 2);
        assert_eq!(level_for(299), 2);
        assert_eq!(level_for(300), 3);
        assert_eq!(level_for(600), 4);
        assert_eq!(level_for(599), 3);
        assert_eq!(level_start(10), 4500);
        assert_eq!(level_for(4500), 10);
        assert_eq!(level_for(4499), 9);
    }
}
