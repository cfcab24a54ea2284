//! Streaks (SPEC §3 Streaks): study days are calendar dates in the user's time zone.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::user_streaks;

/// The user's longest streak as a one-value `SELECT` (a BIGINT; 0 without a streak row), for
/// statements that compare it with something in SQL.
pub fn longest_streak_select(user_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .expr(sea_orm::sea_query::Expr::cust(
            "CAST(COALESCE(MAX(longest_streak), 0) AS BIGINT)",
        ))
        .from(user_streaks::Entity)
        .and_where(user_streaks::Column::UserId.eq(user_id))
        .to_owned()
}

pub async fn find(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<user_streaks::Model>, DbErr> {
    user_streaks::Entity::find()
        .filter(user_streaks::Column::UserId.eq(user_id))
        .one(conn)
        .await
}

/// The user's calendar date at `now`.
pub fn local_date(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The streak as shown: a streak whose last study day is before yesterday is broken, so 0.
pub fn displayed_current(streak: Option<&user_streaks::Model>, tz: Tz, now: DateTime<Utc>) -> i32 {
    let Some(streak) = streak else { return 0 };
    let today = local_date(tz, now);
    match streak.last_study_date {
        Some(last) if last >= today - Duration::days(1) => streak.current_streak,
        _ => 0,
    }
}

/// The streak after a study day on `day` (SPEC §3 Streaks), as `(current, longest)`, or `None`
/// when that day changes nothing: the same day changes nothing; the day after the last study
/// day extends the streak; any later day starts a new streak of 1; `longest_streak` keeps the
/// maximum. A day before the last study day (a session logged after the fact) changes nothing
/// either: only the last study day is stored, so a gap cannot be filled in retroactively.
pub fn after_study_day(
    existing: Option<&user_streaks::Model>,
    day: NaiveDate,
) -> Option<(i32, i32)> {
    let Some(existing) = existing else {
        return Some((1, 1));
    };
    let current = match existing.last_study_date {
        Some(last) if last >= day => return None,
        Some(last) if last + Duration::days(1) == day => existing.current_streak + 1,
        _ => 1,
    };
    Some((current, std::cmp::max(existing.longest_streak, current)))
}

/// `existing` as it would stand after a study day on the local date of `at` — the row
/// [`record_study_day`] would leave, computed without writing (for reads that must show a
/// study day the database does not hold yet).
pub fn with_study_day(
    existing: Option<user_streaks::Model>,
    user_id: Uuid,
    tz: Tz,
    at: DateTime<Utc>,
) -> Option<user_streaks::Model> {
    let day = local_date(tz, at);
    match after_study_day(existing.as_ref(), day) {
        None => existing,
        Some((current_streak, longest_streak)) => Some(user_streaks::Model {
            user_id,
            current_streak,
            longest_streak,
            last_study_date: Some(day),
            updated_at: at,
        }),
    }
}

/// Records that the user studied on their local date of `at` (SPEC §3 Streaks), by the rule of
/// [`after_study_day`].
///
/// Call inside the event's transaction, after `db::lock_user`: the read-modify-write below is
/// only safe while the user's writers are serialised. The first row is inserted with
/// `ON CONFLICT DO NOTHING` on the `user_id` primary key, so even a caller that forgot the lock
/// cannot fail on a duplicate; it then applies the day to the row that won.
pub async fn record_study_day(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    tz: Tz,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<user_streaks::Model, DbErr> {
    use sea_orm::ActiveModelTrait;
    use sea_orm::ActiveValue::Set;
    use sea_orm::TryInsertResult;

    let day = local_date(tz, at);
    let existing = match find(conn, user_id).await? {
        Some(existing) => existing,
        None => {
            let first = user_streaks::Model {
                user_id,
                current_streak: 1,
                longest_streak: 1,
                last_study_date: Some(day),
                updated_at: now,
            };
            let inserted = user_streaks::Entity::insert(user_streaks::ActiveModel {
                user_id: Set(user_id),
                current_streak: Set(first.current_streak),
                longest_streak: Set(first.longest_streak),
                last_study_date: Set(first.last_study_date),
                updated_at: Set(now),
            })
            .on_conflict_do_nothing_on([user_streaks::Column::UserId])
            .exec_without_returning(conn)
            .await?;
            if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
                return Ok(first);
            }
            find(conn, user_id).await?.ok_or_else(|| {
                DbErr::RecordNotFound("user_streaks row vanished after a conflict".into())
            })?
        }
    };
    let Some((current, longest)) = after_study_day(Some(&existing), day) else {
        return Ok(existing);
    };
    let mut active: user_streaks::ActiveModel = existing.into();
    active.current_streak = Set(current);
    active.longest_streak = Set(longest);
    active.last_study_date = Set(Some(day));
    active.updated_at = Set(now);
    active.update(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_streak_last_studied_before_yesterday_shows_zero() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        // 20:00Z on 2 March is 01:30 on 3 March in Kolkata.
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 20, 0, 0).unwrap();
        let row = |last: NaiveDate| user_streaks::Model {
            user_id: Uuid::now_v7(),
            current_streak: 4,
            longest_streak: 6,
            last_study_date: Some(last),
            updated_at: now,
        };
        let d = |day| NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
        assert_eq!(local_date(tz, now), d(3));
        assert_eq!(displayed_current(Some(&row(d(3))), tz, now), 4);
        assert_eq!(displayed_current(Some(&row(d(2))), tz, now), 4);
        assert_eq!(displayed_current(Some(&row(d(1))), tz, now), 0);
        assert_eq!(displayed_current(None, tz, now), 0);
    }
}
