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
