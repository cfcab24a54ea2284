//! Streaks (SPEC §3 Streaks): study days are calendar dates in the user's time zone.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::user_streaks;

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

/// Records that the user studied on their local date of `at` (SPEC §3 Streaks): the same
/// day changes nothing; the day after the last study day extends the streak; any later day
/// starts a new streak of 1. `longest_streak` keeps the maximum. An event dated before the
/// last study day (a session logged after the fact) leaves the streak as it is.
/// Call inside the event's transaction, after `db::lock_user`.
pub async fn record_study_day(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    tz: Tz,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<user_streaks::Model, DbErr> {
    use sea_orm::ActiveModelTrait;
    use sea_orm::ActiveValue::Set;

    let day = local_date(tz, at);
    let Some(existing) = find(conn, user_id).await? else {
        return user_streaks::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            current_streak: Set(1),
            longest_streak: Set(1),
            last_study_date: Set(Some(day)),
            updated_at: Set(now),
        }
        .insert(conn)
        .await;
    };
    let current = match existing.last_study_date {
        Some(last) if last >= day => return Ok(existing),
        Some(last) if last + Duration::days(1) == day => existing.current_streak + 1,
        _ => 1,
    };
    let longest = existing.longest_streak.max(current);
    let mut active: user_streaks::ActiveModel = existing.into();
    active.current_streak = Set(current);
    active.longest_streak = Set(longest);
    active.last_study_date = Set(Some(day));
    active.updated_at = Set(now);
    active.update(conn).await
}
