//! Daily study statistics (SPEC §4 `GET /me/stats`): minutes studied and XP earned per calendar
//! day in the user's time zone.
//!
//! Days are the user's local dates, so a day is not always 24 hours: across a DST change it has
//! 23 or 25. The window's bounds are the local midnights computed with chrono-tz, and each row
//! is bucketed by converting its own instant to the local date — never by adding 24 h.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::model::*;
use super::service;
use super::streaks::local_date;
use crate::accounts::CurrentUser;
use crate::accounts::service::user_timezone;
use crate::entity::{study_sessions, xp_logs};
use crate::http::error::AppResult;
use crate::state::AppState;

/// The first instant of local date `date` in `tz`. Where a DST change repeats midnight, the
/// earlier one; where it skips midnight (e.g. America/Santiago, Asia/Beirut), the first local
/// time after the gap — gaps end on a quarter hour in every zone, so stepping by 15 minutes
/// finds it exactly.
pub fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    for quarter in 0..=16 {
        let local = midnight + Duration::minutes(15 * quarter);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // No zone skips more than a few hours; read midnight as UTC rather than fail.
    Utc.from_utc_datetime(&midnight)
}

/// `GET /me/stats?days=N`: the last N local days including today, oldest first, with the
/// minutes of sessions that ended that day (seconds summed per day, then rounded down) and
/// the XP awarded that day; days without activity are zero. A session past its 4-hour cap
/// counts as closed at the cap, with its minutes and XP on that day, before anything has
/// closed it in the database (closing it dates its XP award at the cap too).
pub async fn stats(
    state: &AppState,
    user: &CurrentUser,
    query: StatsQuery,
) -> AppResult<StatsResponse> {
    let now = state.clock.now();
    let days = query.days.unwrap_or(DEFAULT_STATS_DAYS);
    let db = state.db.read();
    let tz = user_timezone(db, user.id).await?;
    let today = local_date(tz, now);
    let oldest = today - Duration::days(i64::from(days) - 1);
    let from = start_of_day(tz, oldest);
    let to = start_of_day(tz, today + Duration::days(1));

    let (mut sessions, mut awards, capped) = tokio::try_join!(
        finished_sessions(db, user.id, from, to),
        xp_awards(db, user.id, from, to),
        service::over_cap_open_session(db, user.id, now),
    )?;
    if let Some(capped) = capped
        && let (Some(ended_at), Some(duration)) = (capped.ended_at, capped.duration_seconds)
        && from <= ended_at
        && ended_at < to
    {
        sessions.push((ended_at, duration));
        awards.push((ended_at, capped.xp_awarded));
    }

    let mut seconds: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for (ended_at, duration) in sessions {
        *seconds.entry(local_date(tz, ended_at)).or_default() += i64::from(duration);
    }
    let mut xp: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for (created_at, amount) in awards {
        *xp.entry(local_date(tz, created_at)).or_default() += i64::from(amount);
    }

    let entries: Vec<DayStats> = oldest
        .iter_days()
        .take_while(|d| *d <= today)
        .map(|date| DayStats {
            date,
            study_minutes: seconds.get(&date).copied().unwrap_or(0) / 60,
            xp: xp.get(&date).copied().unwrap_or(0),
        })
        .collect();
    let totals = StatsTotals {
        study_minutes: entries.iter().map(|d| d.study_minutes).sum(),
        xp: entries.iter().map(|d| d.xp).sum(),
    };
    Ok(StatsResponse {
        timezone: tz.name().to_string(),
        days: entries,
        totals,
    })
}

/// `(ended_at, duration_seconds)` of the user's sessions that ended in `[from, to)`.
async fn finished_sessions(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i32)>, DbErr> {
    study_sessions::Entity::find()
        .select_only()
        .column(study_sessions::Column::EndedAt)
        .column(study_sessions::Column::DurationSeconds)
        .filter(study_sessions::Column::UserId.eq(user_id))
        .filter(study_sessions::Column::EndedAt.gte(from))
        .filter(study_sessions::Column::EndedAt.lt(to))
        .filter(study_sessions::Column::DurationSeconds.is_not_null())
        .into_tuple::<(DateTime<Utc>, i32)>()
        .all(conn)
        .await
}

/// `(created_at, xp_amount)` of the user's XP awards made in `[from, to)`. Read straight from
/// `xp_logs` because the per-day split is this report's concern, not the XP ledger's.
async fn xp_awards(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i32)>, DbErr> {
    xp_logs::Entity::find()
        .select_only()
        .column(xp_logs::Column::CreatedAt)
        .column(xp_logs::Column::XpAmount)
        .filter(xp_logs::Column::UserId.eq(user_id))
        .filter(xp_logs::Column::CreatedAt.gte(from))
        .filter(xp_logs::Column::CreatedAt.lt(to))
        .into_tuple::<(DateTime<Utc>, i32)>()
        .all(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn days_start_at_local_midnight_across_dst_changes() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        // PST (−8) before the spring change, PDT (−7) after: 8 March 2026 has 23 hours.
        assert_eq!(start_of_day(la, d(3, 8)), utc(2026, 3, 8, 8, 0));
        assert_eq!(start_of_day(la, d(3, 9)), utc(2026, 3, 9, 7, 0));
        // 1 November 2026 has 25 hours.
        assert_eq!(start_of_day(la, d(11, 1)), utc(2026, 11, 1, 7, 0));
        assert_eq!(start_of_day(la, d(11, 2)), utc(2026, 11, 2, 8, 0));
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(start_of_day(kolkata, d(3, 2)), utc(2026, 3, 1, 18, 30));
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_after_the_gap() {
        // Chile moves its clocks from 00:00 to 01:00 on the first Sunday of September.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        let start = start_of_day(santiago, day);
        assert_eq!(local_date(santiago, start), day);
        assert_eq!(
            local_date(santiago, start - Duration::seconds(1)),
            day.pred_opt().unwrap()
        );
    }
}
